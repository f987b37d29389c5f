#include "app/tail_cmd.h"

#include <google/protobuf/util/delimited_message_util.h>
#include <google/protobuf/util/time_util.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "output/json_lines.h"
#include "output/tail.h"
#include "proto/timestamp.h"

namespace clawfence::app {

namespace {

using Clock = std::chrono::steady_clock;

std::string lower(std::string s) {
  for (auto& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

std::string upper(std::string s) {
  for (auto& ch : s) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return s;
}

// Items of a repeatable option, each of which may itself be a comma-separated list.
std::vector<std::string> split_items(const std::vector<std::string>& values) {
  std::vector<std::string> out;
  for (const auto& v : values) {
    size_t start = 0;
    while (start <= v.size()) {
      size_t comma = v.find(',', start);
      if (comma == std::string::npos) comma = v.size();
      std::string item = v.substr(start, comma - start);
      item.erase(0, item.find_first_not_of(" \t"));
      item.erase(item.find_last_not_of(" \t") + 1);
      if (!item.empty()) out.push_back(item);
      start = comma + 1;
    }
  }
  return out;
}

// What a watched process chose (its name, paths, argv) is printed with every control character
// escaped, C1 controls too (U+0080..U+009F, which some terminals obey): it cannot move the
// cursor, retitle the window or hide a line.
std::string clean(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  char hex[8];
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) {
      std::snprintf(hex, sizeof(hex), "\\x%02x", c);
      out += hex;
    } else if (c == 0xc2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) >= 0x80 &&
               static_cast<unsigned char>(s[i + 1]) <= 0x9f) {
      std::snprintf(hex, sizeof(hex), "\\u%04x", static_cast<unsigned char>(s[i + 1]));
      out += hex;
      ++i;
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

template <typename Strings>
std::string join(const Strings& items, const char* sep) {
  std::string out;
  for (const auto& s : items) {
    if (!out.empty()) out += sep;
    out += clean(s);
  }
  return out;
}

std::string host_port(const std::string& hostname, const std::string& address, uint32_t port) {
  std::string out;
  if (!hostname.empty()) out = clean(hostname);
  if (!address.empty()) {
    if (!out.empty()) out += "/";
    out += address.find(':') != std::string::npos ? "[" + address + "]" : address;
  }
  if (port != 0) out += ":" + std::to_string(port);
  return out;
}

// The thing an alert is about, from its evidence.
std::string evidence_subject(const v1::Evidence& e) {
  if (!e.path().empty()) return clean(e.path()) + (e.new_path().empty() ? "" : " -> " + clean(e.new_path()));
  if (!e.address().empty() || !e.hostname().empty()) {
    std::string s = host_port(e.hostname(), e.address(), e.port());
    if (!e.protocol().empty()) s = e.protocol() + " " + s;
    if (e.bytes() != 0) s += " (" + std::to_string(e.bytes()) + " bytes)";
    return s;
  }
  if (!e.env_name().empty()) return "$" + clean(e.env_name());
  if (e.env_names_size() > 0) return "$" + join(e.env_names(), " $");
  if (!e.exe().empty() || e.argv_size() > 0) {
    std::string s = clean(e.exe());
    if (e.argv_size() > 0) s += (s.empty() ? "" : " ") + join(e.argv(), " ");
    return s;
  }
  if (e.target_pid() != 0) return "pid " + std::to_string(e.target_pid());
  return "";
}

std::string what_of(const v1::Event& ev) {
  switch (ev.kind()) {
    case v1::Event::EXEC: {
      const auto& x = ev.exec();
      std::string s = clean(x.filename());
      if (x.argv_size() > 0) s += " " + join(x.argv(), " ");
      if (x.argv_truncated()) s += " ...";
      return s;
    }
    case v1::Event::FORK:
      return "fork child " + std::to_string(ev.fork().child_pid());
    case v1::Event::EXIT: {
      const auto& x = ev.exit();
      std::string s = "exit";
      if (x.has_code()) s += " " + std::to_string(x.code());
      if (!x.signal().empty()) s += " " + x.signal();
      if (x.core_dumped()) s += " (core dumped)";
      return s;
    }
    case v1::Event::COMM:
      return "comm " + clean(ev.comm().old_comm()) + " -> " + clean(ev.comm().new_comm());
    case v1::Event::FILE: {
      const auto& f = ev.file();
      std::string s = f.op() == v1::FileOp::OP_UNSPECIFIED ? "file" : lower(v1::FileOp::Op_Name(f.op()));
      s += " " + clean(f.path());
      if (!f.new_path().empty()) s += " -> " + clean(f.new_path());
      if (!f.access().empty()) s += " (" + f.access() + ")";
      if (!f.error().empty()) s += " " + f.error();
      return s;
    }
    case v1::Event::NET: {
      const auto& n = ev.net();
      std::string s = n.op() == v1::NetOp::OP_UNSPECIFIED ? "net" : lower(v1::NetOp::Op_Name(n.op()));
      if (!n.protocol().empty()) s += " " + n.protocol();
      s += " " + host_port(n.hostname(), n.address(), n.port());
      if (!n.error().empty()) s += " " + n.error();
      return s;
    }
    case v1::Event::DNS: {
      const auto& d = ev.dns();
      std::string s = clean(d.query());
      if (!d.query_type().empty()) s += " " + d.query_type();
      if (d.addresses_size() > 0) return s + " -> " + join(d.addresses(), ", ");
      return s + " -> " + (d.rcode().empty() || d.rcode() == "NOERROR" ? "no address" : d.rcode());
    }
    case v1::Event::GAP:
      return std::to_string(ev.gap().lost()) + " records lost at " + ev.gap().where();
    case v1::Event::ALERT: {
      const auto& a = ev.alert();
      std::string s = clean(a.rule_id()) + ":";
      if (!a.description().empty()) s += " " + clean(a.description());
      const std::string subject = evidence_subject(a.evidence());
      if (!subject.empty()) s += (a.description().empty() ? " " : ", ") + subject;
      if (a.count() > 1) s += " (x" + std::to_string(a.count()) + ")";
      return s;
    }
    case v1::Event::GUARD: {
      const auto& g = ev.guard();
      std::string s = g.what();
      if (!g.socket().empty()) s += " " + g.socket();
      if (g.bytes() != 0) s += " " + std::to_string(g.bytes()) + " bytes in " + std::to_string(g.window_ms()) + " ms";
      if (!g.address().empty()) s += " to " + host_port("", g.address(), g.port());
      return s;
    }
    case v1::Event::ENV: {
      const auto& e = ev.env();
      std::string s = e.op();
      if (!e.name().empty()) s += " " + clean(e.name());
      if (e.names_size() > 0) s += " " + join(e.names(), ",");
      if (e.target_pid() != 0) s += " pid " + std::to_string(e.target_pid());
      if (e.has_set() && !e.set()) s += " (unset)";
      if (e.folded() > 0) s += " (+" + std::to_string(e.folded()) + " repeats)";
      return s;
    }
    case v1::Event::AGENT: {
      const auto& a = ev.agent();
      return a.detail().empty() ? a.what() : a.what() + " " + clean(a.detail());
    }
    default:
      return lower(v1::Event::Kind_Name(ev.kind()));
  }
}

std::string verdict_of(const v1::Event& ev) {
  const auto& e = ev.enforcement();
  if (!e.verdict().empty()) {
    std::string s = e.verdict();
    // An alert already names its rule; other events say which rule the guard judged under.
    if (!e.rule_id().empty() && !(ev.has_alert() && ev.alert().rule_id() == e.rule_id()))
      s += " (" + clean(e.rule_id()) + ")";
    return s;
  }
  if (ev.has_alert()) return ev.alert().outcome();
  return "";
}

const char* severity_color(const std::string& severity) {
  if (severity == "critical") return "\033[1;31m";
  if (severity == "error") return "\033[31m";
  if (severity == "warning") return "\033[33m";
  if (severity == "info") return "\033[36m";
  return "";
}

constexpr const char* kDim = "\033[2m";
constexpr const char* kReset = "\033[0m";

std::string clock_text(const google::protobuf::Timestamp& t, bool utc) {
  const time_t secs = static_cast<time_t>(t.seconds());
  tm parts{};
  if (utc) gmtime_r(&secs, &parts);
  else localtime_r(&secs, &parts);
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%02d:%02d:%02d.%03d", parts.tm_hour, parts.tm_min, parts.tm_sec,
                t.nanos() / 1'000'000);
  return buf;
}

std::string time_text(int64_t unix_ns) {
  google::protobuf::Timestamp ts;
  v1::set_timestamp(unix_ns, &ts);
  return google::protobuf::util::TimeUtil::ToString(ts);
}

int64_t remaining_ms(const Clock::time_point& deadline, bool bounded) {
  if (!bounded) return -1;
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left > 0 ? left : 0;
}

int connect_socket(const std::string& path, int* error) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) {
    *error = ENAMETOOLONG;
    return -1;
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *error = errno;
    return -1;
  }
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    *error = errno;
    ::close(fd);
    return -1;
  }
  return fd;
}

// Where a reconnect resumes: from the newest event time printed, skipping the replayed events
// of exactly that time already printed. (Resuming one nanosecond later would lose an alert,
// which carries the time of the event that triggered it, when the connection broke between
// the two.)
struct Resume {
  int64_t since_ns = -1;                // -1: nothing to resume from
  std::vector<std::string> printed_at;  // serialized events printed with time == since_ns

  void seen(int64_t t, std::string bytes) {
    if (t > since_ns) {
      since_ns = t;
      printed_at.clear();
    }
    if (t == since_ns && printed_at.size() < 1024) printed_at.push_back(std::move(bytes));
  }
  bool already_printed(int64_t t, const std::string& bytes) const {
    return t == since_ns && std::find(printed_at.begin(), printed_at.end(), bytes) != printed_at.end();
  }
};

enum class Session { kDone, kLost, kFailed, kTimedOut };

class Tail {
 public:
  Tail(const TailCommandOptions& opts, v1::TailRequest req, FILE* out, FILE* err)
      : opts_(opts), req_(std::move(req)), out_(out), err_(err) {
    style_.color = opts.color == "always" || (opts.color == "auto" && isatty(fileno(out)));
    json_ = opts.output == "json";
    bounded_ = opts.timeout_ms > 0;
    deadline_ = Clock::now() + std::chrono::milliseconds(opts.timeout_ms);
    if (req_.has_since()) resume_.since_ns = v1::timestamp_ns(req_.since());
  }

  int run() {
    bool unreachable_told = false;
    for (;;) {
      int error = 0;
      const int fd = connect_socket(opts_.socket, &error);
      if (fd < 0) {
        if (error == EACCES || error == EPERM) {
          std::fprintf(err_, "tail: cannot connect to %s: permission denied: must run as root or in the socket's group\n",
                       opts_.socket.c_str());
          return 1;
        }
        const bool transient = error == ENOENT || error == ECONNREFUSED;
        if (!transient || !opts_.reconnect) {
          std::fprintf(err_, "tail: agent not reachable at %s: %s\n", opts_.socket.c_str(), std::strerror(error));
          return 1;
        }
        if (!unreachable_told) {
          std::fprintf(err_, "tail: agent not reachable at %s (%s), retrying\n", opts_.socket.c_str(),
                       std::strerror(error));
          std::fflush(err_);
          unreachable_told = true;
        }
        if (!sleep_retry()) return timed_out();
        continue;
      }
      unreachable_told = false;
      const Session s = follow(fd);
      ::close(fd);
      switch (s) {
        case Session::kDone: return 0;
        case Session::kFailed: return 1;
        case Session::kTimedOut: return timed_out();
        case Session::kLost: break;
      }
      if (!opts_.reconnect) {
        std::fprintf(err_, "tail: the agent closed the connection\n");
        return 1;
      }
      std::fprintf(err_, "tail: agent not reachable at %s (the connection closed), retrying\n", opts_.socket.c_str());
      std::fflush(err_);
      unreachable_told = true;
      if (!sleep_retry()) return timed_out();
    }
  }

 private:
  Session follow(int fd) {
    if (resume_.since_ns >= 0) v1::set_timestamp(resume_.since_ns, req_.mutable_since());
    else req_.clear_since();
    if (!google::protobuf::util::SerializeDelimitedToFileDescriptor(req_, fd)) return Session::kLost;
    // Without --since the first connection replays nothing; a reconnect then resumes from here.
    if (resume_.since_ns < 0) resume_.since_ns = v1::unix_now_ns();

    output::DelimitedReader reader;
    uint64_t replay_left = 0;
    char buf[65536];
    for (;;) {
      pollfd p{fd, POLLIN, 0};
      const int64_t wait = remaining_ms(deadline_, bounded_);
      if (bounded_ && wait == 0) return Session::kTimedOut;
      const int n = ::poll(&p, 1, static_cast<int>(wait));
      if (n < 0) {
        if (errno == EINTR) continue;
        std::fprintf(err_, "tail: poll: %s\n", std::strerror(errno));
        return Session::kFailed;
      }
      if (n == 0) continue;  // the deadline is checked above
      const ssize_t got = ::read(fd, buf, sizeof(buf));
      if (got < 0) {
        if (errno == EINTR || errno == EAGAIN) continue;
        return Session::kLost;  // ECONNRESET: the agent went away
      }
      if (got == 0) return Session::kLost;
      reader.append(buf, static_cast<size_t>(got));
      v1::TailMessage msg;
      for (;;) {
        const auto status = reader.next(msg);
        if (status == output::DelimitedReader::Status::kNeedMore) break;
        if (status == output::DelimitedReader::Status::kBad) {
          std::fprintf(err_, "tail: the agent sent a message that does not parse\n");
          return Session::kFailed;
        }
        switch (msg.body_case()) {
          case v1::TailMessage::kHello:
            replay_left = msg.hello().replayed();
            on_hello(msg.hello());
            break;
          case v1::TailMessage::kDropped:
            std::fprintf(err_, "tail: %llu events dropped: this client read too slowly\n",
                         static_cast<unsigned long long>(msg.dropped()));
            std::fflush(err_);
            break;
          case v1::TailMessage::kEvent: {
            const bool replayed = replay_left > 0;
            if (replayed) --replay_left;
            const Session s = on_event(msg.event(), replayed);
            if (s != Session::kLost) return s;
            break;
          }
          default:
            break;  // a message from a newer agent: nothing to show
        }
      }
    }
  }

  void on_hello(const v1::TailHello& h) {
    if (connected_before_)
      std::fprintf(err_, "tail: reconnected to the agent (pid %u on %s)\n", h.agent_pid(), h.host().c_str());
    connected_before_ = true;
    if (req_.has_since() && h.has_buffer_since() &&
        v1::timestamp_ns(h.buffer_since()) > v1::timestamp_ns(req_.since()))
      std::fprintf(err_, "tail: the agent's buffer starts at %s: events before it, if any, are not replayed\n",
                   time_text(v1::timestamp_ns(h.buffer_since())).c_str());
    std::fflush(err_);
  }

  // kLost here means "go on reading".
  Session on_event(const v1::Event& ev, bool replayed) {
    const int64_t t = v1::timestamp_ns(ev.time());
    std::string bytes = ev.SerializeAsString();
    if (replayed && resume_.already_printed(t, bytes)) return Session::kLost;
    std::string line = json_ ? output::to_json(ev) : format_event_line(ev, style_);
    line.push_back('\n');
    if (std::fwrite(line.data(), 1, line.size(), out_) != line.size() || std::fflush(out_) != 0) {
      if (errno == EPIPE) return Session::kDone;  // the reader of our output is gone: done
      std::fprintf(err_, "tail: cannot write the output: %s\n", std::strerror(errno));
      return Session::kFailed;
    }
    resume_.seen(t, std::move(bytes));
    ++printed_;
    if (opts_.count > 0 && printed_ >= opts_.count) return Session::kDone;
    return Session::kLost;
  }

  bool sleep_retry() {
    int64_t wait = opts_.retry_ms;
    if (bounded_) wait = std::min<int64_t>(wait, remaining_ms(deadline_, true));
    if (bounded_ && wait <= 0) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(wait));
    return !bounded_ || remaining_ms(deadline_, true) > 0;
  }

  int timed_out() {
    std::fprintf(err_, "tail: gave up after %u ms\n", opts_.timeout_ms);
    return 1;
  }

  const TailCommandOptions& opts_;
  v1::TailRequest req_;
  FILE* out_;
  FILE* err_;
  LineStyle style_;
  bool json_ = false;
  bool bounded_ = false;
  Clock::time_point deadline_;
  Resume resume_;
  bool connected_before_ = false;
  uint64_t printed_ = 0;
};

}  // namespace

bool parse_since(const std::string& text, int64_t now_ns, int64_t* since_ns, std::string* err) {
  // A duration back from now: digits and one unit.
  size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  if (digits > 0 && digits <= 9) {
    const std::string unit = text.substr(digits);
    int64_t unit_ns = 0;
    if (unit == "ms") unit_ns = 1'000'000;
    else if (unit == "s") unit_ns = 1'000'000'000;
    else if (unit == "m") unit_ns = 60ll * 1'000'000'000;
    else if (unit == "h") unit_ns = 3600ll * 1'000'000'000;
    else if (unit == "d") unit_ns = 86400ll * 1'000'000'000;
    if (unit_ns != 0) {
      const int64_t n = std::stoll(text.substr(0, digits));
      *since_ns = n > now_ns / unit_ns ? 0 : now_ns - n * unit_ns;  // before the epoch: everything held
      return true;
    }
  }
  google::protobuf::Timestamp ts;
  if (digits >= 4 && google::protobuf::util::TimeUtil::FromString(text, &ts)) {
    *since_ns = v1::timestamp_ns(ts);
    return true;
  }
  *err = "--since '" + text +
         "' is neither a duration (30s, 5m, 2h, 1d) nor an RFC 3339 time (2026-01-02T15:04:05Z)";
  return false;
}

bool build_tail_request(const TailCommandOptions& opts, int64_t now_ns, v1::TailRequest* req, std::string* err) {
  req->Clear();
  for (const auto& k : split_items(opts.kinds)) {
    v1::Event::Kind kind = v1::Event::KIND_UNSPECIFIED;
    if (!v1::Event::Kind_Parse(upper(k), &kind) || kind == v1::Event::KIND_UNSPECIFIED) {
      *err = "unknown kind '" + k + "' (exec, fork, exit, comm, file, net, gap, alert, dns, guard, env, agent)";
      return false;
    }
    req->add_kinds(kind);
  }
  if (!opts.min_severity.empty()) {
    const std::string s = lower(opts.min_severity);
    if (output::severity_rank(s) == 0) {
      *err = "unknown severity '" + opts.min_severity + "' (info, warning, error, critical)";
      return false;
    }
    req->set_min_severity(s);
  }
  for (const auto& r : split_items(opts.rule_ids)) req->add_rule_ids(r);
  for (uint32_t pid : opts.pids) req->add_pids(pid);
  for (const auto& c : split_items(opts.comms)) req->add_comms(c);
  for (const auto& r : split_items(opts.roles)) req->add_roles(r);
  if (!opts.since.empty()) {
    int64_t since = 0;
    if (!parse_since(opts.since, now_ns, &since, err)) return false;
    v1::set_timestamp(since, req->mutable_since());
  }
  return true;
}

std::string format_event_line(const v1::Event& ev, const LineStyle& style) {
  std::string line = clock_text(ev.time(), style.utc);

  std::string column = ev.has_alert() ? ev.alert().severity() : lower(v1::Event::Kind_Name(ev.kind()));
  if (column.empty()) column = "alert";
  column = clean(column);
  if (column.size() < 8) column.resize(8, ' ');  // as wide as "critical"
  const char* color = ev.has_alert() ? severity_color(ev.alert().severity()) : kDim;
  line += " ";
  line += style.color && *color ? color + column + kReset : column;

  std::string role = ev.has_alert() ? ev.alert().role() : ev.has_env() ? ev.env().role() : "";
  line += " " + (role.empty() ? std::string("-") : clean(role));

  const auto& p = ev.process();
  line += " ";
  line += p.pid() == 0 ? std::string("-") : (p.comm().empty() ? "?" : clean(p.comm())) + "[" + std::to_string(p.pid()) + "]";

  line += " " + what_of(ev);
  const std::string verdict = verdict_of(ev);
  if (!verdict.empty()) line += " " + verdict;
  return line;
}

int run_tail(const TailCommandOptions& opts, FILE* out, FILE* err) {
  if (opts.output != "text" && opts.output != "json") {
    std::fprintf(err, "tail: unknown output '%s' (text, json)\n", opts.output.c_str());
    return 2;
  }
  if (opts.color != "auto" && opts.color != "always" && opts.color != "never") {
    std::fprintf(err, "tail: unknown colour mode '%s' (auto, always, never)\n", opts.color.c_str());
    return 2;
  }
  v1::TailRequest req;
  std::string why;
  if (!build_tail_request(opts, v1::unix_now_ns(), &req, &why)) {
    std::fprintf(err, "tail: %s\n", why.c_str());
    return 2;
  }
  // A closed stdout (`clawfence tail | head`) shows up as EPIPE from the write, handled there.
  signal(SIGPIPE, SIG_IGN);
  return Tail(opts, std::move(req), out, err).run();
}

}  // namespace clawfence::app
