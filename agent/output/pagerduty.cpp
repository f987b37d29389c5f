#include "output/pagerduty.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <google/protobuf/util/json_util.h>
#include <openssl/crypto.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/digest.h"
#include "common/http.h"
#include "common/thread_name.h"
#include "output/json_printer.h"
#include "proto/timestamp.h"

namespace clawfence::output {
namespace {

constexpr size_t kMaxSummary = 1024;      // PagerDuty's limit, in characters; we cut in bytes
constexpr size_t kMaxKeyPart = 100;       // rule_id and host in the dedup_key
constexpr size_t kMaxBody = 64 * 1024;    // of PagerDuty's answer, kept for the log
constexpr size_t kMaxKeyFile = 4096;
constexpr size_t kMaxTracked = 10000;     // incidents remembered for resolve
constexpr const char* kClient = "clawfence";
constexpr const char* kMasked = "<routing key>";

// The longest prefix of `s` of at most `max` bytes that does not split a UTF-8 sequence.
std::string utf8_prefix(const std::string& s, size_t max) {
  if (s.size() <= max) return s;
  size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n);
}

std::string trim(const std::string& s) {
  const char* ws = " \t\r\n\v\f";
  const size_t b = s.find_first_not_of(ws);
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

// Replaces every occurrence of the routing key: an answer may quote what it was sent.
std::string mask_key(std::string text, const std::string& key) {
  if (key.empty()) return text;
  for (size_t at = text.find(key); at != std::string::npos; at = text.find(key, at + std::strlen(kMasked))) {
    text.replace(at, key.size(), kMasked);
  }
  return text;
}

// What an alert is about: the kind of its subject, the subject as the dedup_key sees it and as
// the summary shows it.
struct Subject {
  std::string kind;
  std::string key;
  std::string shown;
};

Subject subject_of(const v1::Alert& alert) {
  const v1::Evidence& e = alert.evidence();
  if (!e.hostname().empty() || !e.address().empty()) {
    std::string key = !e.hostname().empty() ? e.hostname() : e.address();
    std::string shown = key.find(':') != std::string::npos && e.port() ? "[" + key + "]" : key;
    if (e.port()) shown += ":" + std::to_string(e.port());
    return {"network", key, shown};
  }
  if (!e.path().empty()) return {"file", e.path(), e.path()};
  if (!e.exe().empty()) return {"exec", e.exe(), e.exe()};
  if (!e.env_name().empty()) return {"env", e.env_name(), e.env_name()};
  if (e.env_names_size() > 0) {
    std::string names;
    for (const auto& n : e.env_names()) names += (names.empty() ? "" : ",") + n;
    return {"env", names, names};
  }
  if (e.target_pid() != 0) {
    const std::string pid = "pid " + std::to_string(e.target_pid());
    return {"ptrace", pid, pid};
  }
  return {};
}

std::string summary_of(const v1::Event& ev, const std::string& host) {
  const v1::Alert& a = ev.alert();
  const Subject subject = subject_of(a);
  std::string s = "[" + host + "] " + a.rule_id() + ": " + (!a.description().empty() ? a.description() : a.action());
  if (!subject.shown.empty()) s += " \xE2\x80\x94 " + subject.shown;  // em dash
  if (!ev.process().comm().empty()) {
    s += " by " + ev.process().comm() + " (pid " + std::to_string(ev.process().pid()) + ")";
  }
  if (a.count() > 1) s += " (" + std::to_string(a.count()) + " times)";
  return utf8_prefix(s, kMaxSummary);
}

// Unknown severities page as errors rather than being refused by PagerDuty.
std::string pagerduty_severity(const std::string& severity) {
  return severity_rank(severity) > 0 ? severity : "error";
}

// What PagerDuty said, for a log line or a note: its message and errors, else the raw body.
std::string pagerduty_message(const EnqueueAnswer& a) {
  if (a.http_status == 0) return a.error;
  std::string text = a.response.message();
  for (const auto& e : a.response.errors()) text += (text.empty() ? "" : "; ") + e;
  if (text.empty()) {
    text = a.body.substr(0, 300);
    std::replace_if(text.begin(), text.end(), [](unsigned char c) { return c < 0x20; }, ' ');
  }
  return "HTTP " + std::to_string(a.http_status) + (text.empty() ? "" : ": " + text);
}

// The agent's note about PagerDuty, naming the host as PagerDuty sees it.
v1::Event pagerduty_note(const std::string& what, const std::string& detail, const std::string& host, uint64_t count) {
  v1::Event note = agent_note(what, detail);
  note.mutable_agent()->set_host(host);
  note.mutable_agent()->set_count(count);
  return note;
}

const std::string& rule_of(const v1::PagerDutyEvent& e) {
  return e.payload().custom_details().alert().rule_id();
}

}  // namespace

// ---- the HTTP client ---------------------------------------------------------------------------

// One libcurl easy handle, kept so that requests reuse the connection. TLS verification stays on;
// a proxy given in the options overrides libcurl's environment (https_proxy, no_proxy); a
// loopback endpoint is never reached through a proxy.
class EventsClient {
 public:
  EventsClient(const PagerDutyOptions& opts, bool loopback, const std::atomic<bool>* cancel)
      : opts_(opts), loopback_(loopback), cancel_(cancel) {
    common::init_curl_once();
    curl_ = curl_easy_init();
    headers_ = curl_slist_append(headers_, "Content-Type: application/json");
    headers_ = curl_slist_append(headers_, "Accept: application/json");
    headers_ = curl_slist_append(headers_, "Expect:");  // no 100-continue round trip
  }
  ~EventsClient() {
    if (curl_) curl_easy_cleanup(curl_);
    curl_slist_free_all(headers_);
  }
  EventsClient(const EventsClient&) = delete;
  EventsClient& operator=(const EventsClient&) = delete;

  EnqueueAnswer post(const v1::PagerDutyEvent& event, const std::string& key) {
    EnqueueAnswer answer;
    if (!curl_) {
      answer.error = "libcurl could not start";
      return answer;
    }
    // The key joins the event only here, in memory, and is wiped once the request is done.
    v1::PagerDutyEvent keyed = event;
    keyed.set_routing_key(key);
    std::string body;
    print_json(keyed, body);
    OPENSSL_cleanse(keyed.mutable_routing_key()->data(), keyed.routing_key().size());

    char errbuf[CURL_ERROR_SIZE] = {};
    std::string received;
    CURL* h = curl_;
    curl_easy_setopt(h, CURLOPT_URL, opts_.url.c_str());
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https,http");
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers_);
    curl_easy_setopt(h, CURLOPT_USERAGENT, kClient);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);  // the agent's threads own the signals
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(opts_.timeout.count()));
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(opts_.timeout.count()));
    if (loopback_) {
      curl_easy_setopt(h, CURLOPT_PROXY, "");  // "" switches the environment's proxy off
    } else if (!opts_.proxy.empty()) {
      curl_easy_setopt(h, CURLOPT_PROXY, opts_.proxy.c_str());
    }
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &EventsClient::on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &received);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, &EventsClient::on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, cancel_);

    const CURLcode rc = curl_easy_perform(h);
    OPENSSL_cleanse(body.data(), body.size());
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, nullptr);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, nullptr);
    if (rc != CURLE_OK) {
      answer.error = rc == CURLE_ABORTED_BY_CALLBACK ? "abandoned (stopping)"
                                                     : std::string(errbuf[0] ? errbuf : curl_easy_strerror(rc));
      return answer;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &answer.http_status);
    answer.body = mask_key(received, key);
    google::protobuf::util::JsonParseOptions parse;
    parse.ignore_unknown_fields = true;
    if (!google::protobuf::util::JsonStringToMessage(answer.body, &answer.response, parse).ok()) {
      answer.response.Clear();
    }
    return answer;
  }

 private:
  static size_t on_body(char* data, size_t size, size_t n, void* user) {
    auto* out = static_cast<std::string*>(user);
    const size_t len = size * n;
    if (out->size() < kMaxBody) out->append(data, std::min(len, kMaxBody - out->size()));
    return len;
  }
  // Called about once a second even while waiting: how a stopping agent abandons a request.
  static int on_progress(void* cancel, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
    return cancel && static_cast<const std::atomic<bool>*>(cancel)->load() ? 1 : 0;
  }

  const PagerDutyOptions opts_;
  const bool loopback_;
  const std::atomic<bool>* cancel_;
  CURL* curl_ = nullptr;
  curl_slist* headers_ = nullptr;
};

// ---- building events ---------------------------------------------------------------------------

std::string dedup_key(const v1::Event& ev, const std::string& host) {
  const Subject subject = subject_of(ev.alert());
  // NUL-separated so that no two different (kind, subject, target) triples hash the same text.
  std::string fields = subject.kind;
  fields.push_back('\0');
  fields += subject.key;
  fields.push_back('\0');
  fields += ev.process().target();
  return std::string("clawfence/") + utf8_prefix(ev.alert().rule_id(), kMaxKeyPart) + "/" +
         utf8_prefix(host, kMaxKeyPart) + "/" + common::sha256_hex(fields).substr(0, 16);
}

v1::PagerDutyEvent build_trigger(const v1::Event& ev, const std::string& host) {
  const v1::Alert& a = ev.alert();
  v1::PagerDutyEvent out;
  out.set_event_action("trigger");
  out.set_dedup_key(dedup_key(ev, host));
  out.set_client(kClient);
  v1::PagerDutyPayload* p = out.mutable_payload();
  p->set_summary(summary_of(ev, host));
  p->set_source(host);
  p->set_severity(pagerduty_severity(a.severity()));
  if (ev.has_time() && (ev.time().seconds() != 0 || ev.time().nanos() != 0)) {
    *p->mutable_timestamp() = ev.time();
  } else {
    v1::set_timestamp(v1::unix_now_ns(), p->mutable_timestamp());
  }
  p->set_component(!ev.process().comm().empty() ? ev.process().comm() : ev.process().target());
  p->set_group(!a.role().empty() ? a.role() : ev.process().target());
  const Subject subject = subject_of(a);
  p->set_class_(!subject.kind.empty() ? subject.kind : a.rule_id());
  v1::PagerDutyDetails* d = p->mutable_custom_details();
  *d->mutable_alert() = a;
  *d->mutable_process() = ev.process();
  d->set_host(host);
  if (ev.has_enforcement()) *d->mutable_enforcement() = ev.enforcement();
  return out;
}

// ---- configuration ---------------------------------------------------------------------------

std::string load_routing_key(const PagerDutyOptions& opts, std::string* key) {
  key->clear();
  std::string raw;
  std::string from;
  if (!opts.key_file.empty()) {
    from = "PagerDuty routing key file " + opts.key_file;
    int fd = ::open(opts.key_file.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) return "cannot open " + from + ": " + std::strerror(errno);
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd);
      return from + " is not a regular file";
    }
    if ((st.st_mode & 077) != 0) {
      ::close(fd);
      char mode[8];
      snprintf(mode, sizeof(mode), "%04o", static_cast<unsigned>(st.st_mode & 07777));
      return from + " has mode " + mode + ": other users may read it; make it 0600 (chmod 600 " +
             opts.key_file + ")";
    }
    char buf[kMaxKeyFile + 1];
    ssize_t n = 0;
    size_t got = 0;
    while (got < sizeof(buf) && (n = ::read(fd, buf + got, sizeof(buf) - got)) != 0) {
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) break;
      got += static_cast<size_t>(n);
    }
    ::close(fd);
    raw.assign(buf, got);
    OPENSSL_cleanse(buf, sizeof(buf));
    if (n < 0) return "cannot read " + from;
    if (got > kMaxKeyFile) return from + " is too large to be a routing key";
  } else {
    from = "environment variable " + opts.key_env;
    const char* v = opts.key_env.empty() ? nullptr : std::getenv(opts.key_env.c_str());
    if (!v) return "no PagerDuty routing key: set " + opts.key_env + " or give a key file";
    raw = v;
  }
  std::string trimmed = trim(raw);
  OPENSSL_cleanse(raw.data(), raw.size());
  if (trimmed.empty()) return "the " + from + " is empty: no PagerDuty routing key";
  for (unsigned char c : trimmed) {
    if (c <= 0x20 || c == 0x7f) {
      OPENSSL_cleanse(trimmed.data(), trimmed.size());
      return "the " + from + " holds more than one word: a routing key has no spaces or line breaks";
    }
  }
  *key = std::move(trimmed);
  return "";
}

std::string check_endpoint(const std::string& url, bool* loopback) {
  common::init_curl_once();
  CURLU* u = curl_url();
  char* scheme = nullptr;
  char* host = nullptr;
  std::string err;
  if (!u || curl_url_set(u, CURLUPART_URL, url.c_str(), 0) != CURLUE_OK ||
      curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
      curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
    err = "PagerDuty URL '" + url + "' is not a valid URL";
  } else {
    const bool local = common::is_loopback_host(host);
    if (loopback) *loopback = local;
    const std::string s = scheme;
    if (s == "http" && !local) {
      err = "PagerDuty URL '" + url + "': plain http is only allowed to a loopback host; use https";
    } else if (s != "https" && s != "http") {
      err = "PagerDuty URL '" + url + "': the scheme must be https";
    }
  }
  curl_free(scheme);
  curl_free(host);
  curl_url_cleanup(u);
  return err;
}

EnqueueAnswer send_event(const PagerDutyOptions& opts, const std::string& routing_key,
                         const v1::PagerDutyEvent& event) {
  bool loopback = false;
  EnqueueAnswer answer;
  answer.error = check_endpoint(opts.url, &loopback);
  if (!answer.error.empty()) return answer;
  EventsClient client(opts, loopback, nullptr);
  return client.post(event, routing_key);
}

// ---- the forwarder ---------------------------------------------------------------------------

PagerDutyForwarder::PagerDutyForwarder(const PagerDutyOptions& opts, Report report)
    : opts_(opts), report_(std::move(report)), rng_(std::random_device{}()) {}

std::unique_ptr<PagerDutyForwarder> PagerDutyForwarder::open(const PagerDutyOptions& given, Report report,
                                                             std::string* err) {
  PagerDutyOptions opts = given;
  if (opts.host.empty()) opts.host = host_name();
  if (severity_rank(opts.min_severity) == 0) {
    *err = "PagerDuty minimum severity '" + opts.min_severity + "' is not one of info, warning, error, critical";
    return nullptr;
  }
  if (opts.spool_max == 0 || opts.rate_per_minute == 0 || opts.rate_window.count() <= 0 ||
      opts.backoff_initial.count() <= 0 || opts.backoff_max < opts.backoff_initial || opts.timeout.count() <= 0 ||
      opts.resolve_after.count() < 0) {
    *err = "PagerDuty options out of range (spool size, rate, backoff, timeout and resolve period must be positive)";
    return nullptr;
  }
  bool loopback = false;
  if (std::string e = check_endpoint(opts.url, &loopback); !e.empty()) {
    *err = e;
    return nullptr;
  }
  std::string key;
  if (std::string e = load_routing_key(opts, &key); !e.empty()) {
    *err = e;
    return nullptr;
  }

  std::unique_ptr<PagerDutyForwarder> fw(new PagerDutyForwarder(opts, std::move(report)));
  fw->key_ = std::move(key);
  fw->min_rank_ = severity_rank(opts.min_severity);
  Spool::Loaded loaded;
  fw->spool_ = Spool::open(opts.spool_dir, &loaded, err);
  if (!fw->spool_) return nullptr;
  fw->client_ = std::make_unique<EventsClient>(fw->opts_, loopback, &fw->cancel_);
  fw->stats_.unreadable = loaded.unreadable.size();

  if (loaded.stale_tmp > 0) {
    spdlog::info("PagerDuty: removed {} half-written spool files of an interrupted run", loaded.stale_tmp);
  }
  if (!loaded.unreadable.empty()) {
    std::string names;
    for (const auto& n : loaded.unreadable) names += (names.empty() ? "" : ", ") + n;
    spdlog::error("PagerDuty: {} unreadable spool entries set aside: {}", loaded.unreadable.size(), names);
    if (fw->report_) {
      fw->report_(pagerduty_note("pagerduty_spool_unreadable",
                             "unreadable PagerDuty spool entries set aside, not sent: " + names, opts.host,
                             loaded.unreadable.size()));
    }
  }
  fw->sender_ = std::thread(&PagerDutyForwarder::run, fw.get());
  return fw;
}

PagerDutyForwarder::~PagerDutyForwarder() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  cancel_ = true;
  wake_.notify_all();
  if (sender_.joinable()) sender_.join();
  OPENSSL_cleanse(key_.data(), key_.size());
}

void PagerDutyForwarder::write(const v1::Event& ev) {
  if (ev.kind() != v1::Event::ALERT || !ev.has_alert()) return;
  if (severity_rank(pagerduty_severity(ev.alert().severity())) < min_rank_) return;
  v1::SpoolEntry entry;
  *entry.mutable_event() = build_trigger(ev, opts_.host);
  v1::set_timestamp(v1::unix_now_ns(), entry.mutable_queued());

  std::lock_guard<std::mutex> lock(mutex_);
  if (!spool_locked(entry)) return;
  if (opts_.resolve_after.count() > 0) {
    const std::string& key = entry.event().dedup_key();
    if (last_trigger_.size() < kMaxTracked || last_trigger_.count(key)) {
      last_trigger_[key] = Clock::now();
    } else {
      spdlog::warn("PagerDuty: {} open incidents tracked already; {} will not be resolved automatically",
                   kMaxTracked, key);
    }
  }
  wake_.notify_one();
}

bool PagerDutyForwarder::spool_locked(v1::SpoolEntry& entry) {
  while (spool_->size() >= opts_.spool_max) {
    const auto victim = spool_->oldest(in_flight_);
    if (!victim) break;
    spool_->remove(*victim);
    ++stats_.dropped;
    ++unreported_drops_;
  }
  std::string err;
  if (!spool_->push(entry, &err)) {
    // Not in the spool means lost: counted and reported like a drop.
    ++stats_.dropped;
    ++unreported_drops_;
    spdlog::error("PagerDuty: cannot spool {} ({}): {}", entry.event().dedup_key(), entry.event().event_action(), err);
    return false;
  }
  return true;
}

void PagerDutyForwarder::flush() {
  uint64_t lost = 0;
  uint64_t total = 0;
  size_t waiting = 0;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    lost = unreported_drops_;
    unreported_drops_ = 0;
    total = stats_.dropped;
    waiting = spool_->size();
  }
  if (lost == 0) return;
  spdlog::warn("PagerDuty: {} alerts dropped from the spool ({} in total; {} waiting, at most {})", lost, total,
               waiting, opts_.spool_max);
  if (!report_) return;
  report_(gap_event("pagerduty_spool", lost, total));
}

PagerDutyForwarder::Stats PagerDutyForwarder::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  Stats s = stats_;
  s.spooled = spool_->size();
  return s;
}

void PagerDutyForwarder::queue_resolves(Clock::time_point now) {
  if (opts_.resolve_after.count() <= 0) return;
  for (auto it = last_trigger_.begin(); it != last_trigger_.end();) {
    if (now - it->second < opts_.resolve_after) {
      ++it;
      continue;
    }
    v1::SpoolEntry entry;
    entry.mutable_event()->set_event_action("resolve");
    entry.mutable_event()->set_dedup_key(it->first);
    entry.mutable_event()->set_client(kClient);
    v1::set_timestamp(v1::unix_now_ns(), entry.mutable_queued());
    if (spool_locked(entry)) {
      ++stats_.resolves;
      spdlog::info("PagerDuty: {} quiet for {} ms, resolving", it->first, opts_.resolve_after.count());
    }
    it = last_trigger_.erase(it);
  }
}

PagerDutyForwarder::Clock::time_point PagerDutyForwarder::next_resolve() const {
  auto next = Clock::time_point::max();
  for (const auto& [key, last] : last_trigger_) next = std::min(next, last + opts_.resolve_after);
  return next;
}

PagerDutyForwarder::Clock::time_point PagerDutyForwarder::rate_slot(Clock::time_point now) {
  while (!sends_.empty() && sends_.front() + opts_.rate_window <= now) sends_.pop_front();
  if (sends_.size() < opts_.rate_per_minute) return now;
  return sends_.front() + opts_.rate_window;
}

// initial * 2^(attempts-1), at most backoff_max, then "full jitter" within its upper half so a
// fleet coming back after an outage does not retry in step.
PagerDutyForwarder::Clock::duration PagerDutyForwarder::backoff(uint32_t attempts) {
  using std::chrono::milliseconds;
  const int64_t max = opts_.backoff_max.count();
  int64_t ms = opts_.backoff_initial.count();
  for (uint32_t i = 1; i < attempts && ms < max; ++i) ms *= 2;
  ms = std::min(ms, max);
  std::uniform_int_distribution<int64_t> jitter(ms / 2, ms);
  return milliseconds(jitter(rng_));
}

void PagerDutyForwarder::run() {
  common::name_this_thread("cf-pagerduty");
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    const Clock::time_point now = Clock::now();
    queue_resolves(now);
    const Clock::time_point resolve_at = next_resolve();
    if (spool_->size() == 0) {
      if (resolve_at == Clock::time_point::max()) {
        wake_.wait(lock);
      } else {
        wake_.wait_until(lock, resolve_at);
      }
      continue;
    }
    if (now < retry_at_) {
      wake_.wait_until(lock, std::min(retry_at_, resolve_at));
      continue;
    }
    if (const Clock::time_point slot = rate_slot(now); slot > now) {
      wake_.wait_until(lock, std::min(slot, resolve_at));
      continue;
    }

    const uint64_t id = *spool_->oldest();
    v1::SpoolEntry entry;
    std::string err;
    if (!spool_->read(id, &entry, &err)) {
      ++stats_.unreadable;
      spdlog::error("PagerDuty: {}", err);
      if (report_) {
        lock.unlock();
        report_(pagerduty_note("pagerduty_spool_unreadable", err + ", not sent", opts_.host, 1));
        lock.lock();
      }
      continue;
    }
    in_flight_ = id;
    sends_.push_back(now);
    if (entry.attempts() > 0) ++stats_.retries;
    lock.unlock();
    const EnqueueAnswer answer = client_->post(entry.event(), key_);
    lock.lock();
    in_flight_ = 0;
    if (answer.http_status == 0 && cancel_) break;  // abandoned: stays in the spool as it was

    v1::Event note = settle(entry, answer);
    if (note.kind() != v1::Event::KIND_UNSPECIFIED && report_) {
      lock.unlock();
      report_(std::move(note));
      lock.lock();
    }
  }
}

v1::Event PagerDutyForwarder::settle(v1::SpoolEntry& entry, const EnqueueAnswer& answer) {
  const Clock::time_point now = Clock::now();
  const v1::PagerDutyEvent& event = entry.event();
  const long status = answer.http_status;
  if (status >= 200 && status < 300) {
    spool_->remove(entry.id());
    ++stats_.sent;
    retry_at_ = now;
    if (entry.attempts() > 0) {
      spdlog::info("PagerDuty: {} delivered after {} failed attempts", event.dedup_key(), entry.attempts());
    }
    return {};
  }
  // 401, 403, 404 and 408 say nothing of the event: a wrong URL, a proxy's refusal, a timeout.
  // They are retried like 429 and 5xx, so fixing the configuration delivers what waits.
  const bool about_the_event = status >= 400 && status < 500 && status != 401 && status != 403 && status != 404 &&
                               status != 408 && status != 429;
  if (about_the_event) {
    // PagerDuty judged the event itself: sending it again would get the same answer.
    spool_->remove(entry.id());
    ++stats_.rejected;
    retry_at_ = now;
    const std::string what = event.event_action() == "trigger" ? rule_of(event) : event.event_action();
    const std::string said = pagerduty_message(answer);
    spdlog::error("PagerDuty refused {} ({}): {}; not retried", what, event.dedup_key(), said);
    return pagerduty_note("pagerduty_rejected", what + " (" + event.dedup_key() + "): " + said, opts_.host,
                      stats_.rejected);
  }
  ++stats_.failed_attempts;
  entry.set_attempts(entry.attempts() + 1);
  std::string err;
  if (!spool_->rewrite(entry, &err)) spdlog::warn("PagerDuty: {}", err);
  const auto wait = backoff(entry.attempts());
  retry_at_ = now + wait;
  spdlog::warn("PagerDuty: {} not delivered ({}); retrying in {} ms, spool holds {}", event.dedup_key(),
               pagerduty_message(answer), std::chrono::duration_cast<std::chrono::milliseconds>(wait).count(),
               spool_->size());
  return {};
}

}  // namespace clawfence::output
