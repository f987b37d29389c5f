// The live-tail server: the agent serves its event stream on a Unix socket to `clawfence tail`
// clients. Each message on the socket is length-delimited (protobuf's varint length, then the
// message): the client sends one TailRequest, the server answers a TailHello, the events it
// still holds from the request's `since` on, then live events, each as a TailMessage.
//
// A client never slows the agent: write() only appends to a bounded queue per client under a
// short lock; one server thread moves the bytes with non-blocking sends. A full queue drops the
// event for that client and counts it; the client is told how many it missed (a `dropped`
// message before its next event) and the agent reports the loss as a GAP event.
#pragma once

#include <google/protobuf/message_lite.h>
#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "output/output.h"
#include "proto/clawfence.pb.h"

namespace clawfence::output {

struct TailOptions {
  std::string socket_path = "/run/clawfence/clawfence.sock";
  std::string group;                     // "": mode 0600 (root only); else 0660 and this group
  size_t recent = 10000;                 // events kept for `--since`
  size_t client_queue_bytes = 4u << 20;  // per client: bytes accepted but not yet sent
  size_t max_clients = 64;
  std::string version;                   // told to clients in TailHello
  std::string host;
  uint32_t request_timeout_ms = 2000;    // a client that sends no request gets the default filter
  uint32_t slow_client_timeout_ms = 30000;  // a client whose queue stays full this long is cut off
};

// Whether `ev` passes the client's filter. Every filter given must hold; the values of one
// filter are alternatives. A severity filter means "alerts at or above it": it excludes every
// event that is not an alert.
bool tail_matches(const v1::TailRequest& req, const v1::Event& ev);

// One message as it goes on the socket: varint length, then the message.
std::string serialize_delimited(const google::protobuf::MessageLite& msg);

// Splits a byte stream into length-delimited messages, however the reads cut it.
class DelimitedReader {
 public:
  enum class Status { kMessage, kNeedMore, kBad };

  explicit DelimitedReader(size_t max_message = 64u << 20) : max_message_(max_message) {}
  void append(const char* data, size_t n);
  // kMessage: `msg` holds the next message. kBad: a length over the limit or bytes that do not
  // parse; the stream cannot be resynchronised.
  Status next(google::protobuf::MessageLite& msg);
  size_t buffered() const { return buf_.size() - pos_; }

 private:
  size_t max_message_;
  std::string buf_;
  size_t pos_ = 0;
};

class TailServer : public EventOutput {
 public:
  // Creates the socket and starts the server thread. Fails (nullptr, *err says why) when the
  // socket's directory cannot be made, another agent already serves on the path, the group is
  // unknown, or the socket cannot be created.
  static std::unique_ptr<TailServer> open(const TailOptions& opts, Report report, std::string* err);
  // Closes every client and removes the socket (when it is still ours).
  ~TailServer() override;
  TailServer(const TailServer&) = delete;
  TailServer& operator=(const TailServer&) = delete;

  // On the pipeline's worker thread; never waits on a client.
  void write(const v1::Event& ev) override;

  // Clients receiving events (their request read, or its wait over).
  size_t clients() const { return live_count_.load(std::memory_order_relaxed); }
  // Events not delivered to a client because its queue was full, over all clients.
  uint64_t dropped_total() const { return dropped_total_.load(std::memory_order_relaxed); }
  // Events handed completely to a client's socket (replayed ones included).
  uint64_t sent_total() const { return sent_total_.load(std::memory_order_relaxed); }

 private:
  struct Chunk {
    std::shared_ptr<const std::string> bytes;
    bool counted = false;  // part of the client's queue bound (replay and hello are not)
    bool event = false;
  };
  struct Client;

  TailServer(const TailOptions& opts, Report report);
  bool listen_on(std::string* err);
  void serve();
  void accept_clients();
  void read_from(Client& c);
  void start(Client& c, const v1::TailRequest& req);
  void pump(Client& c);
  void check_timers(Client& c, int64_t now_ms);
  void close_client(Client& c, const std::string& why);
  void report_gap(Client& c, bool final);
  void wake();

  TailOptions opts_;
  Report report_;
  int listen_fd_ = -1;
  int wake_fd_ = -1;
  dev_t socket_dev_ = 0;  // the socket file we made, to remove only ours at the end
  ino_t socket_ino_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<bool> wake_pending_{false};
  std::thread thread_;

  // Server thread only.
  std::vector<std::unique_ptr<Client>> conns_;

  // Shared with write(), under mu_.
  mutable std::mutex mu_;
  // The recent events as they go on the socket (each a delimited TailMessage), oldest at
  // ring_head_: serialized once, whether or not anyone tails, so a client's arrival changes
  // nothing of write()'s cost.
  std::vector<std::shared_ptr<const std::string>> ring_;
  size_t ring_head_ = 0;
  std::vector<Client*> live_;

  std::atomic<size_t> live_count_{0};
  std::atomic<uint64_t> dropped_total_{0};
  std::atomic<uint64_t> sent_total_{0};
};

}  // namespace clawfence::output
