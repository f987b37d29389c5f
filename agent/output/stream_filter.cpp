#include "output/stream_filter.h"

#include <array>

namespace clawfence::output {

bool parse_detail(const std::string& text, Detail* out) {
  if (text == "alerts") *out = Detail::kAlerts;
  else if (text == "activity") *out = Detail::kActivity;
  else if (text == "all") *out = Detail::kAll;
  else return false;
  return true;
}

const char* to_string(Detail d) {
  switch (d) {
    case Detail::kAlerts: return "alerts";
    case Detail::kActivity: return "activity";
    case Detail::kAll: return "all";
  }
  return "?";
}

namespace {

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

}  // namespace

bool is_routine_read(const std::string& path, uint32_t pid) {
  // The loader, libraries, locale and timezone data, name-service and TLS configuration.
  static constexpr std::array kPrefixes = {
      "/usr/", "/lib/", "/lib64/", "/bin/", "/sbin/", "/etc/ld.so.", "/etc/locale", "/etc/ssl/",
      "/etc/ca-certificates/", "/sys/", "/proc/self/", "/proc/thread-self/", "/dev/pts/", "/tmp/node-compile-cache/"};
  static constexpr std::array kPaths = {
      "/etc/localtime", "/etc/nsswitch.conf", "/etc/passwd", "/etc/group", "/etc/host.conf", "/etc/hosts",
      "/etc/resolv.conf", "/etc/gai.conf", "/etc/inputrc", "/etc/mime.types", "/proc/filesystems", "/proc/meminfo",
      "/proc/cpuinfo", "/proc/stat", "/proc/version_signature", "/dev/null", "/dev/urandom", "/dev/random", "/dev/tty"};
  for (const char* p : kPrefixes)
    if (starts_with(path, p)) return true;
  for (const char* p : kPaths)
    if (path == p) return true;
  const std::string own = "/proc/" + std::to_string(pid) + "/";
  return starts_with(path, own.c_str());
}

bool StreamFilter::keep(const v1::Event& ev, bool judged, const StreamSubject& subject) {
  bool keep = true;
  switch (detail_) {
    case Detail::kAll: break;
    case Detail::kAlerts:
      keep = ev.kind() == v1::Event::ALERT || ev.kind() == v1::Event::GAP || ev.kind() == v1::Event::AGENT;
      break;
    case Detail::kActivity: keep = keep_activity(ev, judged, subject); break;
  }
  if (!keep) ++left_out_;
  return keep;
}

bool StreamFilter::keep_activity(const v1::Event& ev, bool judged, const StreamSubject& subject) {
  // what a rule or a kernel guard judged is shown whatever it is
  if (judged) return true;
  if (ev.has_enforcement() && !ev.enforcement().verdict().empty() && ev.enforcement().verdict() != "matched")
    return true;
  switch (ev.kind()) {
    case v1::Event::ALERT:
    case v1::Event::GAP:
    case v1::Event::AGENT:
    case v1::Event::EXEC:
    case v1::Event::COMM:
    case v1::Event::NET:
    case v1::Event::DNS:
      return true;
    case v1::Event::FORK: return false;  // the exec that follows names its parent
    case v1::Event::EXIT: return !ev.exit().signal().empty() || ev.exit().code() != 0;
    case v1::Event::GUARD: return ev.guard().what() != "io_uring_setup";  // Node 26 sets up rings everywhere
    case v1::Event::ENV: {
      const v1::EnvRead& e = ev.env();
      if (e.op() == "ptrace") return true;
      if (subject.own) return false;  // the gateway reads its own keys at start
      return first_time(subject, "env/" + e.op() + "/" + e.name());
    }
    case v1::Event::FILE: {
      if (subject.own) return false;
      const v1::FileOp& f = ev.file();
      if (f.has_result() && f.result() < 0) return false;  // a failed probe
      const bool read = f.op() == v1::FileOp::OPEN && f.access() == "read";
      if (read && is_routine_read(f.path(), ev.process().pid())) return false;
      return first_time(subject, std::to_string(f.op()) + "/" + f.access() + "/" + f.path() + "/" + f.new_path());
    }
    default:
      return true;
  }
}

bool StreamFilter::first_time(const StreamSubject& subject, const std::string& what) {
  if (shown_.size() > 65536) shown_.clear();  // bounded; at worst a repeat is shown again
  return shown_.insert(std::to_string(subject.run) + "/" + what).second;
}

}  // namespace clawfence::output
