// PagerDuty forwarder: alerts at or above a severity become PagerDuty Events API v2 events
// (POST /v2/enqueue), through a durable spool (output/spool.h).
//
// write() builds the event and puts it in the spool, synced, before it returns; a sender thread
// delivers the spool in order, one event at a time, and deletes an entry only once PagerDuty has
// accepted it (2xx) or refused it for good (4xx other than 401, 403, 404, 408 and 429, which
// concern the endpoint rather than the event: logged with PagerDuty's message,
// counted and reported as an AGENT event "pagerduty_rejected", whose count is the rejections so
// far). Those five, 5xx, timeouts and network errors keep the entry at the head of the queue and retry
// it after an exponential backoff with jitter. At most rate_per_minute requests go out in any
// rate_window. After a crash or a restart, open() picks the spool up again. The spool is
// bounded: when full, the oldest entry not being sent is dropped, counted, logged and reported
// as a GAP event (where "pagerduty_spool"), one per flush() that follows drops.
//
// With resolve_after set, an incident whose rule has been quiet that long for its subject gets a
// "resolve" event (same dedup_key, through the spool). Only incidents triggered since this
// process started are remembered for that.
//
// dedup_key: "clawfence/<rule_id>/<host>/<h>", where <h> is the first 16 hex digits of the
// SHA-256 of the alert's subject and the process's target name (see dedup_key() below). Repeats
// of a rule on one host against the same subject update one incident; another subject, rule or
// host opens another. rule_id and host are cut to 100 bytes each, so the key is at most 228
// bytes (PagerDuty allows 255).
//
// The routing key comes from a 0600 file or an environment variable, never from the rules. It
// is added to an event only in memory, just before sending: it is never in the spool, a log line,
// an error message or a reported event.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>

#include "output/output.h"
#include "output/spool.h"
#include "proto/clawfence.pb.h"

namespace clawfence::output {

struct PagerDutyOptions {
  std::string url = "https://events.pagerduty.com/v2/enqueue";  // EU: events.eu.pagerduty.com
  std::string key_file;                              // wins over key_env when given
  std::string key_env = "CLAWFENCE_PAGERDUTY_KEY";
  std::string min_severity = "error";                // info < warning < error < critical
  std::string spool_dir = "/var/lib/clawfence/pagerduty";
  size_t spool_max = 10000;                          // entries; beyond it the oldest is dropped
  // > 0: resolve an incident once its rule has been quiet this long for that subject. In
  // milliseconds so tests can use short periods; assigning std::chrono::seconds works.
  std::chrono::milliseconds resolve_after{0};
  std::string host;                                  // "" = gethostname()
  std::string proxy;                                 // "" = libcurl's https_proxy/no_proxy environment
  std::chrono::milliseconds backoff_initial{1000};
  std::chrono::milliseconds backoff_max{300000};
  std::chrono::milliseconds timeout{10000};          // one request, connection included
  unsigned rate_per_minute = 120;                    // PagerDuty's limit per routing key
  std::chrono::milliseconds rate_window{60000};      // the "minute" (shorter only in tests)
};

// Reads the routing key: from key_file when given (a regular file, no group or other
// permission bits), else from the environment variable key_env; surrounding whitespace is
// trimmed. Returns "" on success, else an operator-facing error (which never contains the key).
std::string load_routing_key(const PagerDutyOptions& opts, std::string* key);

// Checks the endpoint: https, or plain http only to a loopback host (127.0.0.0/8, ::1,
// localhost: a local relay or a test server). Returns "" or an error.
std::string check_endpoint(const std::string& url, bool* loopback = nullptr);

// The dedup_key of an alert event on `host` (see the top of this file). The subject is what the
// evidence is about: the hostname (else the address) for network alerts, the path for files,
// the exe for exec, the variable name(s) for env reads, the traced pid for ptrace; none for
// guard alerts that carry no evidence (then rule, host and target alone decide).
std::string dedup_key(const v1::Event& alert_event, const std::string& host);

// The PagerDuty trigger for an alert event on `host`, routing_key left empty.
v1::PagerDutyEvent build_trigger(const v1::Event& alert_event, const std::string& host);

// PagerDuty's answer to one POST.
struct EnqueueAnswer {
  long http_status = 0;           // 0: no HTTP answer (see error)
  std::string error;              // network error or timeout, when http_status is 0
  v1::PagerDutyResponse response; // the body, when it was PagerDuty's JSON
  std::string body;               // the body as received (bounded), the routing key masked
};

// Sends one event now, without the spool (for `clawfence alert test`). `event` has no routing
// key; it is added to the request only.
EnqueueAnswer send_event(const PagerDutyOptions& opts, const std::string& routing_key,
                         const v1::PagerDutyEvent& event);

class EventsClient;

class PagerDutyForwarder : public EventOutput {
 public:
  struct Stats {
    uint64_t sent = 0;             // accepted by PagerDuty (2xx)
    uint64_t rejected = 0;         // refused for good (4xx other than 429), not retried
    uint64_t retries = 0;          // requests that repeated an earlier failed one
    uint64_t failed_attempts = 0;  // 429, 5xx, timeouts, network errors
    uint64_t spooled = 0;          // waiting in the spool now
    uint64_t dropped = 0;          // lost: spool full (oldest dropped) or could not be spooled
    uint64_t resolves = 0;         // resolve events queued after a quiet period
    uint64_t unreadable = 0;       // spool files set aside as .bad
  };

  // Checks the options and the endpoint, reads the routing key, opens the spool (delivering
  // what an earlier run left there) and starts the sender thread. nullptr and *err on failure.
  static std::unique_ptr<PagerDutyForwarder> open(const PagerDutyOptions& opts, Report report, std::string* err);
  // Stops the sender within about a second; a request in flight is abandoned and stays spooled.
  ~PagerDutyForwarder() override;
  PagerDutyForwarder(const PagerDutyForwarder&) = delete;
  PagerDutyForwarder& operator=(const PagerDutyForwarder&) = delete;

  // Spools ALERT events at or above min_severity; never waits on the network.
  void write(const v1::Event& ev) override;
  // Reports spool drops since the previous flush as one GAP event.
  void flush() override;
  Stats stats() const;

 private:
  using Clock = std::chrono::steady_clock;
  PagerDutyForwarder(const PagerDutyOptions& opts, Report report);

  bool spool_locked(v1::SpoolEntry& entry);
  void queue_resolves(Clock::time_point now);
  Clock::time_point next_resolve() const;
  Clock::time_point rate_slot(Clock::time_point now);
  Clock::duration backoff(uint32_t attempts);
  void run();
  // Handles PagerDuty's answer to `entry`; returns an event to report, if any (kind 0: none).
  v1::Event settle(v1::SpoolEntry& entry, const EnqueueAnswer& answer);

  const PagerDutyOptions opts_;
  const Report report_;
  std::string key_;
  int min_rank_ = 2;
  std::unique_ptr<EventsClient> client_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::atomic<bool> cancel_{false};  // read by libcurl's progress callback: abandon the request
  std::unique_ptr<Spool> spool_;
  uint64_t in_flight_ = 0;           // spool id being sent: never dropped from under the sender
  Clock::time_point retry_at_{};
  std::deque<Clock::time_point> sends_;  // request times inside the rate window
  std::unordered_map<std::string, Clock::time_point> last_trigger_;  // dedup_key -> last alert
  uint64_t unreported_drops_ = 0;
  Stats stats_;
  std::mt19937_64 rng_;
  std::thread sender_;
};

}  // namespace clawfence::output
