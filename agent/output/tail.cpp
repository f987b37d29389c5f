#include "output/tail.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/util/delimited_message_util.h>
#include <grp.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <fstream>

#include "common/thread_name.h"
#include "proto/timestamp.h"

namespace clawfence::output {

namespace {

constexpr size_t kMaxRequestBytes = 64 << 10;
constexpr int64_t kGapReportIntervalMs = 1000;
constexpr int kTickMs = 200;          // timers (request wait, gap reports, slow clients) run this often
constexpr size_t kMaxIov = 256;
constexpr int kMaxReadsPerWake = 16;  // a client that floods us with bytes cannot starve the others

int64_t mono_ms() {
  timespec t{};
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000ll + t.tv_nsec / 1'000'000;
}

std::string errno_text(int e) { return std::strerror(e); }

bool make_unix_address(const std::string& path, sockaddr_un* addr, std::string* err) {
  std::memset(addr, 0, sizeof(*addr));
  addr->sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr->sun_path)) {
    *err = "socket path '" + path + "' is empty or longer than " + std::to_string(sizeof(addr->sun_path) - 1) +
           " bytes";
    return false;
  }
  std::memcpy(addr->sun_path, path.c_str(), path.size() + 1);
  return true;
}

std::string parent_dir(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

bool lookup_group(const std::string& name, gid_t* gid, std::string* err) {
  long hint = sysconf(_SC_GETGR_R_SIZE_MAX);
  std::vector<char> buf(hint > 0 ? static_cast<size_t>(hint) : 4096);
  for (int tries = 0; tries < 8; ++tries) {
    group g{};
    group* found = nullptr;
    const int rc = getgrnam_r(name.c_str(), &g, buf.data(), buf.size(), &found);
    if (rc == ERANGE) {
      buf.resize(buf.size() * 4);
      continue;
    }
    if (rc != 0) {
      *err = "cannot look up group '" + name + "': " + errno_text(rc);
      return false;
    }
    if (!found) {
      *err = "unknown group '" + name + "' for the tail socket";
      return false;
    }
    *gid = found->gr_gid;
    return true;
  }
  *err = "cannot look up group '" + name + "': its entry is too large";
  return false;
}

// Whether something accepts connections on `path` (a live agent), or it is a leftover.
bool socket_is_live(const sockaddr_un& addr) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const bool live = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return live;
}

std::string peer_name(int fd) {
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || cred.pid <= 0) return "tail client";
  std::string comm;
  std::ifstream in("/proc/" + std::to_string(cred.pid) + "/comm");
  std::getline(in, comm);
  std::string name = "tail client pid " + std::to_string(cred.pid);
  if (!comm.empty()) name += " (" + comm + ")";
  return name + " uid " + std::to_string(cred.uid);
}

template <typename Values, typename Value>
bool has(const Values& values, const Value& v) {
  return std::find(values.begin(), values.end(), v) != values.end();
}

// The kernel keeps 15 characters of a process name: `--process openclaw-gateway` means the
// process whose comm reads openclaw-gatewa.
bool comm_matches(const std::string& wanted, const std::string& comm) {
  return comm == wanted || (wanted.size() > 15 && comm == wanted.substr(0, 15));
}

}  // namespace

bool tail_matches(const v1::TailRequest& req, const v1::Event& ev) {
  if (req.kinds_size() > 0 && !has(req.kinds(), static_cast<int>(ev.kind()))) return false;
  if (!req.min_severity().empty()) {
    if (ev.kind() != v1::Event::ALERT) return false;
    if (severity_rank(ev.alert().severity()) < severity_rank(req.min_severity())) return false;
  }
  if (req.rule_ids_size() > 0) {
    const bool alert_rule = ev.has_alert() && has(req.rule_ids(), ev.alert().rule_id());
    const bool guard_rule = ev.has_enforcement() && !ev.enforcement().rule_id().empty() &&
                            has(req.rule_ids(), ev.enforcement().rule_id());
    if (!alert_rule && !guard_rule) return false;
  }
  if (req.pids_size() > 0) {
    // A pid stands for the process and everything it started.
    const v1::Process& p = ev.process();
    bool hit = p.pid() != 0 && has(req.pids(), p.pid());
    for (int i = 0; !hit && i < p.lineage_size(); ++i) hit = has(req.pids(), p.lineage(i).pid());
    if (!hit) return false;
  }
  if (req.comms_size() > 0) {
    const std::string& comm = ev.process().comm();
    if (comm.empty()) return false;
    bool hit = false;
    for (const auto& c : req.comms()) hit = hit || comm_matches(c, comm);
    if (!hit) return false;
  }
  if (req.roles_size() > 0) {
    const bool alert_role = ev.has_alert() && !ev.alert().role().empty() && has(req.roles(), ev.alert().role());
    const bool env_role = ev.has_env() && !ev.env().role().empty() && has(req.roles(), ev.env().role());
    if (!alert_role && !env_role) return false;
  }
  return true;
}

// Sized once and written in place: a growing output stream reallocates several times per event,
// and every event passes through here.
std::string serialize_delimited(const google::protobuf::MessageLite& msg) {
  using google::protobuf::io::CodedOutputStream;
  const size_t size = msg.ByteSizeLong();
  std::string out(CodedOutputStream::VarintSize32(static_cast<uint32_t>(size)) + size, '\0');
  auto* p = reinterpret_cast<uint8_t*>(&out[0]);
  p = CodedOutputStream::WriteVarint32ToArray(static_cast<uint32_t>(size), p);
  msg.SerializeWithCachedSizesToArray(p);
  return out;
}

void DelimitedReader::append(const char* data, size_t n) {
  // Drop what was consumed once it is most of the buffer, so the buffer stays the size of
  // what is still unread.
  if (pos_ > 0 && pos_ * 2 >= buf_.size()) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  buf_.append(data, n);
}

DelimitedReader::Status DelimitedReader::next(google::protobuf::MessageLite& msg) {
  const size_t avail = buf_.size() - pos_;
  if (avail == 0) return Status::kNeedMore;
  const auto* data = reinterpret_cast<const uint8_t*>(buf_.data() + pos_);
  google::protobuf::io::CodedInputStream in(data, static_cast<int>(std::min<size_t>(avail, 16)));
  uint32_t len = 0;
  if (!in.ReadVarint32(&len)) {
    // A varint is at most 10 bytes: fewer than that may just be a length cut by the read.
    return avail < 10 ? Status::kNeedMore : Status::kBad;
  }
  const size_t header = static_cast<size_t>(in.CurrentPosition());
  if (len > max_message_) return Status::kBad;
  if (avail - header < len) return Status::kNeedMore;
  if (!msg.ParseFromArray(data + header, static_cast<int>(len))) return Status::kBad;
  pos_ += header + len;
  return Status::kMessage;
}

// ---- server ----------------------------------------------------------------------------------

struct TailServer::Client {
  enum class State { kAwaitingRequest, kLive, kClosed };

  int fd = -1;
  std::string name;  // who, for log lines and reports
  State state = State::kAwaitingRequest;
  int64_t accepted_ms = 0;
  DelimitedReader reader{kMaxRequestBytes};
  bool read_closed = false;     // the client shut its side: nothing more to read
  v1::TailRequest request;      // fixed before the client joins live_

  // Server thread only: what is being handed to the socket, front first.
  std::deque<Chunk> sending;
  size_t front_offset = 0;      // bytes of sending.front() already sent
  uint64_t reported_dropped = 0;
  int64_t last_report_ms = 0;

  // Under mu_ (write() adds, the server thread takes).
  std::deque<Chunk> queue;
  size_t queued_bytes = 0;      // counted chunks in `queue` and `sending`: the bound
  uint64_t dropped = 0;         // since it connected
  uint64_t dropped_unnoticed = 0;  // since the client was last told
  int64_t full_since_ms = 0;    // first drop since the socket last took bytes; 0 when not full
};

TailServer::TailServer(const TailOptions& opts, Report report) : opts_(opts), report_(std::move(report)) {}

std::unique_ptr<TailServer> TailServer::open(const TailOptions& opts, Report report, std::string* err) {
  std::unique_ptr<TailServer> server(new TailServer(opts, std::move(report)));
  server->wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (server->wake_fd_ < 0) {
    *err = "eventfd: " + errno_text(errno);
    return nullptr;
  }
  if (!server->listen_on(err)) return nullptr;
  server->thread_ = std::thread([s = server.get()] { s->serve(); });
  return server;
}

// The socket is created in a fresh 0700 directory beside its final path, given its mode and
// group there, made to listen, and only then renamed into place. Nobody can reach it before
// its mode is right (the directory keeps them out), the process-wide umask is never touched
// (other threads may be creating files meanwhile), and rename() replaces a stale socket
// atomically, so clients never see the path missing or refusing.
bool TailServer::listen_on(std::string* err) {
  const std::string& path = opts_.socket_path;
  sockaddr_un final_addr{};
  if (!make_unix_address(path, &final_addr, err)) return false;

  const std::string dir = parent_dir(path);
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    if (errno != ENOENT || ::mkdir(dir.c_str(), 0755) != 0) {
      *err = "cannot create the tail socket's directory " + dir + ": " + errno_text(errno);
      return false;
    }
    ::chmod(dir.c_str(), 0755);  // mkdir honours the umask; clients in the group must get through
  } else if (!S_ISDIR(st.st_mode)) {
    *err = dir + " is not a directory";
    return false;
  }

  gid_t gid = 0;
  if (!opts_.group.empty() && !lookup_group(opts_.group, &gid, err)) return false;

  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      *err = path + " exists and is not a socket; not replacing it";
      return false;
    }
    if (socket_is_live(final_addr)) {
      *err = "another agent serves the live tail on " + path;
      return false;
    }
    // Stale: left by an agent that did not stop cleanly. The rename below replaces it.
  }

  std::string tmp_dir = dir + "/.clawfence-tail-XXXXXX";
  if (::mkdtemp(tmp_dir.data()) == nullptr) {
    *err = "cannot create a directory in " + dir + ": " + errno_text(errno);
    return false;
  }
  const std::string tmp_path = tmp_dir + "/sock";
  auto fail = [&](const std::string& what) {
    *err = what;
    if (listen_fd_ >= 0) ::close(listen_fd_);
    listen_fd_ = -1;
    ::unlink(tmp_path.c_str());
    ::rmdir(tmp_dir.c_str());
    return false;
  };
  sockaddr_un tmp_addr{};
  if (!make_unix_address(tmp_path, &tmp_addr, err)) return fail(*err);
  listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) return fail("socket: " + errno_text(errno));
  if (::bind(listen_fd_, reinterpret_cast<const sockaddr*>(&tmp_addr), sizeof(tmp_addr)) != 0)
    return fail("cannot bind the tail socket in " + tmp_dir + ": " + errno_text(errno));
  const mode_t mode = opts_.group.empty() ? 0600 : 0660;
  if (::chmod(tmp_path.c_str(), mode) != 0) return fail("chmod of the tail socket: " + errno_text(errno));
  if (!opts_.group.empty() && ::chown(tmp_path.c_str(), static_cast<uid_t>(-1), gid) != 0)
    return fail("cannot give the tail socket to group '" + opts_.group + "': " + errno_text(errno));
  if (::listen(listen_fd_, 64) != 0) return fail("listen on the tail socket: " + errno_text(errno));
  if (::rename(tmp_path.c_str(), path.c_str()) != 0)
    return fail("cannot move the tail socket to " + path + ": " + errno_text(errno));
  ::rmdir(tmp_dir.c_str());
  if (::lstat(path.c_str(), &st) == 0) {
    socket_dev_ = st.st_dev;
    socket_ino_ = st.st_ino;
  }
  return true;
}

TailServer::~TailServer() {
  stop_.store(true);
  if (thread_.joinable()) {
    wake();
    thread_.join();
  }
  for (auto& c : conns_)
    if (c->fd >= 0) ::close(c->fd);
  conns_.clear();
  live_.clear();
  if (listen_fd_ >= 0) ::close(listen_fd_);
  if (wake_fd_ >= 0) ::close(wake_fd_);
  // Remove the socket only if it is still the one we made: a newer agent may have replaced it.
  struct stat st {};
  if (socket_ino_ != 0 && ::lstat(opts_.socket_path.c_str(), &st) == 0 && st.st_dev == socket_dev_ &&
      st.st_ino == socket_ino_)
    ::unlink(opts_.socket_path.c_str());
}

void TailServer::wake() {
  // One pending wake-up is enough: the server thread looks at every client when it wakes.
  if (wake_pending_.exchange(true)) return;
  const uint64_t one = 1;
  if (::write(wake_fd_, &one, sizeof(one)) < 0) {
    // EAGAIN only: the counter is already non-zero, so the thread wakes anyway.
  }
}

void TailServer::write(const v1::Event& ev) {
  if (opts_.recent == 0 && live_count_.load(std::memory_order_relaxed) == 0) return;
  // The event is lent to the message for serializing, not copied into it.
  v1::TailMessage msg;
  msg.unsafe_arena_set_allocated_event(const_cast<v1::Event*>(&ev));
  auto bytes = std::make_shared<const std::string>(serialize_delimited(msg));
  msg.unsafe_arena_release_event();
  std::shared_ptr<const std::string> evicted;  // released after the lock
  bool wake_server = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (opts_.recent > 0) {
      if (ring_.size() < opts_.recent) {
        ring_.push_back(bytes);
      } else {
        evicted = std::move(ring_[ring_head_]);
        ring_[ring_head_] = bytes;
        ring_head_ = (ring_head_ + 1) % opts_.recent;
      }
    }
    if (live_.empty()) return;
    int64_t now_ms = 0;
    for (Client* c : live_) {
      if (!tail_matches(c->request, ev)) continue;
      if (c->queued_bytes + bytes->size() > opts_.client_queue_bytes) {
        ++c->dropped;
        ++c->dropped_unnoticed;
        dropped_total_.fetch_add(1, std::memory_order_relaxed);
        if (c->full_since_ms == 0) c->full_since_ms = now_ms ? now_ms : (now_ms = mono_ms());
        continue;
      }
      if (c->queue.empty()) wake_server = true;
      if (c->dropped_unnoticed > 0) {
        // The client learns of the gap where it is, before the next event it gets.
        v1::TailMessage note;
        note.set_dropped(c->dropped_unnoticed);
        auto note_bytes = std::make_shared<const std::string>(serialize_delimited(note));
        c->queued_bytes += note_bytes->size();
        c->queue.push_back({std::move(note_bytes), true, false});
        c->dropped_unnoticed = 0;
      }
      c->queued_bytes += bytes->size();
      c->queue.push_back({bytes, true, true});
    }
  }
  if (wake_server) wake();
}

void TailServer::serve() {
  common::name_this_thread("cf-tail");
  std::vector<pollfd> fds;
  while (!stop_.load()) {
    fds.clear();
    fds.push_back({listen_fd_, POLLIN, 0});
    fds.push_back({wake_fd_, POLLIN, 0});
    for (auto& c : conns_) {
      short events = c->read_closed ? 0 : POLLIN;
      if (!c->sending.empty()) events |= POLLOUT;
      fds.push_back({c->fd, events, 0});
    }
    // The timers only concern clients: an agent nobody tails sleeps until one connects.
    const int n = ::poll(fds.data(), fds.size(), conns_.empty() ? -1 : kTickMs);
    if (n < 0 && errno != EINTR) {
      spdlog::error("live tail: poll failed: {}; the tail socket stops serving", errno_text(errno));
      return;
    }
    if (stop_.load()) break;
    if (fds[1].revents & POLLIN) {
      uint64_t count = 0;
      if (::read(wake_fd_, &count, sizeof(count)) < 0) {
        // EAGAIN: another wake-up was already read.
      }
      wake_pending_.store(false);
    }
    // Clients first, then accept: fds[2..] line up with conns_ as it was when polled.
    for (size_t i = 0; i + 2 < fds.size() && i < conns_.size(); ++i) {
      Client& c = *conns_[i];
      const short rev = fds[i + 2].revents;
      if (rev & (POLLIN | POLLHUP | POLLERR)) read_from(c);
      if (c.state != Client::State::kClosed && (rev & (POLLHUP | POLLERR)))
        close_client(c, (rev & POLLERR) ? "connection error" : "hung up");
    }
    const int64_t now = mono_ms();
    for (auto& c : conns_) {
      if (c->state == Client::State::kClosed) continue;
      pump(*c);
      if (c->state != Client::State::kClosed) check_timers(*c, now);
    }
    conns_.erase(std::remove_if(conns_.begin(), conns_.end(),
                                [](const auto& c) { return c->state == Client::State::kClosed; }),
                 conns_.end());
    if (fds[0].revents & POLLIN) accept_clients();
  }
  for (auto& c : conns_)
    if (c->state != Client::State::kClosed) close_client(*c, "the agent is stopping");
}

void TailServer::accept_clients() {
  for (int i = 0; i < 64; ++i) {
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
        spdlog::warn("live tail: accept failed: {}", errno_text(errno));
      return;
    }
    if (conns_.size() >= opts_.max_clients) {
      spdlog::warn("live tail: {} refused: already {} clients (the most allowed)", peer_name(fd), conns_.size());
      ::close(fd);
      continue;
    }
    auto c = std::make_unique<Client>();
    c->fd = fd;
    c->name = peer_name(fd);
    c->accepted_ms = mono_ms();
    spdlog::debug("live tail: {} connected", c->name);
    conns_.push_back(std::move(c));
  }
}

void TailServer::read_from(Client& c) {
  char buf[4096];
  for (int i = 0; i < kMaxReadsPerWake && !c.read_closed; ++i) {
    const ssize_t n = ::read(c.fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) close_client(c, "read failed: " + errno_text(errno));
      return;
    }
    if (n == 0) {
      // It may have shut only its sending side after the request; it can still read.
      c.read_closed = true;
      if (c.state == Client::State::kAwaitingRequest) close_client(c, "closed before sending its request");
      return;
    }
    if (c.state != Client::State::kAwaitingRequest) continue;  // nothing more is expected: ignored
    c.reader.append(buf, static_cast<size_t>(n));
    v1::TailRequest req;
    switch (c.reader.next(req)) {
      case DelimitedReader::Status::kMessage:
        start(c, req);
        break;
      case DelimitedReader::Status::kBad:
        close_client(c, "sent a malformed request");
        return;
      case DelimitedReader::Status::kNeedMore:
        if (c.reader.buffered() > kMaxRequestBytes) {
          close_client(c, "sent a request over " + std::to_string(kMaxRequestBytes) + " bytes");
          return;
        }
        break;
    }
  }
}

void TailServer::start(Client& c, const v1::TailRequest& req) {
  c.request = req;
  // Joining live_ and copying the ring happen under one lock: every event is either in the
  // copy (replayed) or comes after (queued live), never both, never neither.
  std::vector<std::shared_ptr<const std::string>> held;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (req.has_since()) {
      held.reserve(ring_.size());
      for (size_t i = 0; i < ring_.size(); ++i) held.push_back(ring_[(ring_head_ + i) % ring_.size()]);
    } else if (!ring_.empty()) {
      held.push_back(ring_[ring_head_]);  // the oldest, for buffer_since
    }
    live_.push_back(&c);
  }
  live_count_.fetch_add(1, std::memory_order_relaxed);
  c.state = Client::State::kLive;

  // Serialized here, on the server thread, not under the lock the pipeline waits on.
  // Parsed back here, on the server thread, to be filtered: replays are rare, writes are not.
  auto parse = [](const std::string& bytes, v1::TailMessage* m) {
    DelimitedReader r;
    r.append(bytes.data(), bytes.size());
    return r.next(*m) == DelimitedReader::Status::kMessage;
  };
  std::vector<Chunk> replay;
  if (req.has_since()) {
    const int64_t since_ns = v1::timestamp_ns(req.since());
    v1::TailMessage m;
    for (const auto& bytes : held) {
      if (!parse(*bytes, &m) || v1::timestamp_ns(m.event().time()) < since_ns || !tail_matches(req, m.event())) continue;
      replay.push_back({bytes, false, true});
    }
  }
  v1::TailMessage hello;
  auto* h = hello.mutable_hello();
  h->set_version(opts_.version);
  h->set_host(opts_.host);
  h->set_agent_pid(static_cast<uint32_t>(::getpid()));
  h->set_replayed(replay.size());
  v1::TailMessage oldest;
  if (!held.empty() && parse(*held.front(), &oldest)) *h->mutable_buffer_since() = oldest.event().time();
  c.sending.push_back({std::make_shared<const std::string>(serialize_delimited(hello)), false, false});
  for (auto& r : replay) c.sending.push_back(std::move(r));
  spdlog::debug("live tail: {} follows events ({} replayed)", c.name, replay.size());
}

void TailServer::pump(Client& c) {
  if (c.state != Client::State::kLive) return;
  size_t released = 0;  // counted bytes now in the socket: they leave the client's bound
  uint64_t events = 0;
  bool progress = false;
  iovec iov[kMaxIov];
  for (;;) {
    if (c.sending.empty()) {
      std::lock_guard<std::mutex> lock(mu_);
      c.queued_bytes -= released;
      released = 0;
      if (progress) c.full_since_ms = 0;
      c.sending.swap(c.queue);
      if (c.dropped_unnoticed > 0) {
        // Drops with no event queued after them: tell the client once what it has is sent.
        v1::TailMessage note;
        note.set_dropped(c.dropped_unnoticed);
        auto bytes = std::make_shared<const std::string>(serialize_delimited(note));
        c.queued_bytes += bytes->size();
        c.sending.push_back({std::move(bytes), true, false});
        c.dropped_unnoticed = 0;
      }
      if (c.sending.empty()) break;
    }
    size_t n_iov = 0;
    for (size_t i = 0; i < c.sending.size() && n_iov < kMaxIov; ++i, ++n_iov) {
      const std::string& b = *c.sending[i].bytes;
      const size_t skip = i == 0 ? c.front_offset : 0;
      iov[n_iov].iov_base = const_cast<char*>(b.data() + skip);
      iov[n_iov].iov_len = b.size() - skip;
    }
    msghdr mh{};
    mh.msg_iov = iov;
    mh.msg_iovlen = n_iov;
    const ssize_t sent = ::sendmsg(c.fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (sent < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      close_client(c, "send failed: " + errno_text(errno));
      break;
    }
    progress = progress || sent > 0;
    size_t left = static_cast<size_t>(sent);
    while (left > 0) {
      Chunk& front = c.sending.front();
      const size_t rest = front.bytes->size() - c.front_offset;
      if (left < rest) {
        c.front_offset += left;
        break;
      }
      left -= rest;
      if (front.counted) released += front.bytes->size();
      if (front.event) ++events;
      c.sending.pop_front();
      c.front_offset = 0;
    }
  }
  if (released > 0 || progress) {
    std::lock_guard<std::mutex> lock(mu_);
    c.queued_bytes -= released;
    if (progress) c.full_since_ms = 0;
  }
  if (events > 0) sent_total_.fetch_add(events, std::memory_order_relaxed);
}

void TailServer::check_timers(Client& c, int64_t now_ms) {
  if (c.state == Client::State::kAwaitingRequest) {
    if (now_ms - c.accepted_ms >= opts_.request_timeout_ms) start(c, v1::TailRequest());
    return;
  }
  uint64_t dropped = 0;
  int64_t full_since = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    dropped = c.dropped;
    full_since = c.full_since_ms;
  }
  if (full_since != 0 && now_ms - full_since > opts_.slow_client_timeout_ms) {
    const uint32_t ms = opts_.slow_client_timeout_ms;
    const std::string why = "stopped reading: its queue stayed full for " +
                            (ms % 1000 == 0 ? std::to_string(ms / 1000) + " s" : std::to_string(ms) + " ms");
    spdlog::warn("live tail: disconnecting {}: {}", c.name, why);
    close_client(c, why);  // reports what it missed since the last report
    if (report_) {
      v1::Event ev = agent_note("tail_client_disconnected",
                                c.name + " " + why + "; " + std::to_string(dropped) + " events dropped for it");
      ev.mutable_agent()->set_version(opts_.version);
      ev.mutable_agent()->set_count(dropped);
      report_(std::move(ev));
    }
    return;
  }
  if (dropped > c.reported_dropped && now_ms - c.last_report_ms >= kGapReportIntervalMs) {
    report_gap(c, false);
    c.last_report_ms = now_ms;
  }
}

void TailServer::report_gap(Client& c, bool final) {
  uint64_t dropped = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    dropped = c.dropped;
  }
  if (dropped <= c.reported_dropped) return;
  const uint64_t lost = dropped - c.reported_dropped;
  c.reported_dropped = dropped;
  spdlog::debug("live tail: {} missed {} events{}", c.name, lost, final ? " before it left" : "");
  // While the agent stops, the pipeline behind report_ may already be gone.
  if (!report_ || stop_.load()) return;
  report_(gap_event("tail_client", lost, dropped_total_.load(std::memory_order_relaxed)));
}

void TailServer::close_client(Client& c, const std::string& why) {
  if (c.state == Client::State::kClosed) return;
  if (c.state == Client::State::kLive) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      live_.erase(std::remove(live_.begin(), live_.end(), &c), live_.end());
    }
    live_count_.fetch_sub(1, std::memory_order_relaxed);
    report_gap(c, true);  // what it missed since the last report is never left out
  }
  spdlog::debug("live tail: {} closed: {}", c.name, why);
  c.state = Client::State::kClosed;
  ::close(c.fd);
  c.fd = -1;
  c.sending.clear();
}

}  // namespace clawfence::output
