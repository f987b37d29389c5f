#include "process/proc_fs.h"

#include "sensor/decoder.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace clawfence::process {
namespace {

bool read_all(const std::string& path, std::string& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::stringstream ss;
  ss << in.rdbuf();
  out = ss.str();
  return true;
}

}  // namespace

ProcFs::ProcFs(std::string root) : root_(std::move(root)), clk_tck_(sysconf(_SC_CLK_TCK)) {
  if (clk_tck_ <= 0) clk_tck_ = 100;
}

std::vector<uint32_t> ProcFs::pids() const {
  std::vector<uint32_t> out;
  DIR* d = opendir(root_.c_str());
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    char* end = nullptr;
    unsigned long v = std::strtoul(e->d_name, &end, 10);
    if (end && *end == '\0' && v > 0 && v <= UINT32_MAX) out.push_back(static_cast<uint32_t>(v));
  }
  closedir(d);
  return out;
}

std::string ProcFs::cgroup_path(uint32_t pid) const {
  std::string text;
  if (!read_all(root_ + "/" + std::to_string(pid) + "/cgroup", text)) return "";
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);)
    if (line.rfind("0::", 0) == 0) return line.substr(3);
  return "";
}

std::string ProcFs::home(uint32_t pid) const {
  std::string home;
  for_each_env(pid, [&home](std::string_view name, std::string_view value) {
    if (name == "HOME") home = sensor::sanitize_utf8(std::string(value));
  });
  return home;
}

bool ProcFs::for_each_env(uint32_t pid, const std::function<void(std::string_view, std::string_view)>& fn) const {
  const int fd = ::open((root_ + "/" + std::to_string(pid) + "/environ").c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  // the values may be secrets: every copy is cleared before its memory is let go
  std::vector<char> buf(64 << 10);
  size_t len = 0;
  bool ok = true;
  for (;;) {
    if (len == buf.size()) {
      if (buf.size() >= (16u << 20)) break;  // a bound; the kernel's own limit is far below it
      std::vector<char> bigger(buf.size() * 2);
      std::memcpy(bigger.data(), buf.data(), len);
      explicit_bzero(buf.data(), buf.size());
      buf.swap(bigger);
    }
    const ssize_t n = ::read(fd, buf.data() + len, buf.size() - len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) ok = false;
    if (n <= 0) break;
    len += static_cast<size_t>(n);
  }
  ::close(fd);
  const std::string_view env(buf.data(), len);
  for (size_t start = 0; ok && start < env.size();) {
    size_t end = env.find('\0', start);
    if (end == std::string_view::npos) end = env.size();
    const std::string_view var = env.substr(start, end - start);
    const size_t eq = var.find('=');
    if (eq != std::string_view::npos && eq > 0) fn(var.substr(0, eq), var.substr(eq + 1));
    start = end + 1;
  }
  explicit_bzero(buf.data(), buf.size());
  return ok;
}

std::optional<ProcInfo> ProcFs::read(uint32_t pid) const {
  const std::string dir = root_ + "/" + std::to_string(pid);
  std::string stat;
  if (!read_all(dir + "/stat", stat)) return std::nullopt;
  ProcInfo p;
  p.pid = pid;
  // comm is in parentheses and may itself contain ") ": the fields follow the last ')'.
  size_t open = stat.find('('), close = stat.rfind(')');
  if (open == std::string::npos || close == std::string::npos || close < open || close + 2 > stat.size())
    return std::nullopt;
  p.comm = stat.substr(open + 1, close - open - 1);
  std::istringstream rest(stat.substr(close + 2));
  std::vector<std::string> f;
  for (std::string w; rest >> w;) f.push_back(w);
  // after ')': state(0) ppid(1) ... starttime is field 22 of stat, index 19 here
  if (f.size() < 20) return std::nullopt;
  p.ppid = static_cast<uint32_t>(std::strtoul(f[1].c_str(), nullptr, 10));
  unsigned long long ticks = std::strtoull(f[19].c_str(), nullptr, 10);
  p.start_ns = ticks * (1000000000ull / static_cast<unsigned long long>(clk_tck_));

  std::string status;
  if (read_all(dir + "/status", status)) {
    std::istringstream lines(status);
    for (std::string line; std::getline(lines, line);) {
      if (line.rfind("Uid:", 0) == 0) p.uid = std::strtoul(line.c_str() + 4, nullptr, 10);
      if (line.rfind("Gid:", 0) == 0) p.gid = std::strtoul(line.c_str() + 4, nullptr, 10);
    }
  }
  std::string cmdline;
  if (read_all(dir + "/cmdline", cmdline)) {
    // A process that rewrote its argv area (Node's process.title) leaves it padded with NULs.
    while (cmdline.size() > 1 && cmdline.back() == '\0' && cmdline[cmdline.size() - 2] == '\0') cmdline.pop_back();
    size_t start = 0;
    for (size_t i = 0; i < cmdline.size(); ++i) {
      if (cmdline[i] == '\0') {
        p.argv.push_back(cmdline.substr(start, i - start));
        start = i + 1;
      }
    }
    if (start < cmdline.size()) p.argv.push_back(cmdline.substr(start));
  }
  char buf[PATH_MAX];
  ssize_t n = readlink((dir + "/exe").c_str(), buf, sizeof(buf) - 1);
  if (n > 0) p.exe.assign(buf, static_cast<size_t>(n));
  p.cgroup = cgroup_path(pid);
  // file names, argv and comm are bytes; the schema's strings are UTF-8
  p.comm = sensor::sanitize_utf8(std::move(p.comm));
  p.exe = sensor::sanitize_utf8(std::move(p.exe));
  p.cgroup = sensor::sanitize_utf8(std::move(p.cgroup));
  for (auto& a : p.argv) a = sensor::sanitize_utf8(std::move(a));
  return p;
}

}  // namespace clawfence::process
