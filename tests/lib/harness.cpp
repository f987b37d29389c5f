#include "harness.h"

#include <fcntl.h>
#include <sys/prctl.h>
#include <google/protobuf/util/json_util.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <climits>
#include <filesystem>
#include <algorithm>
#include <fstream>
#include <sstream>
#include <thread>

#include "sensor/kernel.h"

namespace clawfence::testing {
namespace fs = std::filesystem;

std::string repo_root() {
  if (const char* r = getenv("CLAWFENCE_ROOT")) return r;
  // tests/lib/harness.cpp -> repo root; __FILE__ is relative to where make ran (the root)
  fs::path here = fs::path(__FILE__);
  if (here.is_relative()) return fs::current_path().string();
  return here.parent_path().parent_path().parent_path().string();
}

std::string build_dir() {
  if (const char* b = getenv("CLAWFENCE_BUILD")) return b;
  return repo_root() + "/build";
}

std::string cgroup2_mount() { return sensor::find_cgroup2_mount(read_file("/proc/self/mountinfo")); }

std::string make_temp_dir(const std::string& tag) {
  std::string tmpl = "/tmp/clawfence-" + tag + ".XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (!mkdtemp(buf.data())) return "";
  char real[PATH_MAX];
  return realpath(buf.data(), real) ? std::string(real) : std::string(buf.data());
}

void remove_tree(const std::string& path) {
  std::error_code ec;
  fs::remove_all(path, ec);
}

void write_file(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TestCgroup::TestCgroup(const std::string& tag) {
  std::string root = cgroup2_mount();
  path_ = root + "/clawfence-test-" + tag + "." + std::to_string(getpid());
  mkdir(path_.c_str(), 0755);
  struct stat st {};
  if (stat(path_.c_str(), &st) == 0) id_ = st.st_ino;
}

TestCgroup::~TestCgroup() {
  std::string self_cg;
  {
    std::ifstream f("/proc/self/cgroup");
    for (std::string line; std::getline(f, line);)
      if (line.rfind("0::", 0) == 0) self_cg = cgroup2_mount() + line.substr(3);
  }
  // Cgroups a test made below its own (a kubelet-like tree, unit cgroups) go too, deepest
  // first, their processes moved out: also when the test stopped half-way.
  std::vector<std::string> dirs;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(path_, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec))
    if (it->is_directory(ec)) dirs.push_back(it->path().string());
  std::sort(dirs.begin(), dirs.end(), [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  dirs.push_back(path_);
  for (const std::string& dir : dirs) {
    for (int i = 0; i < 100; ++i) {
      if (rmdir(dir.c_str()) == 0 || errno == ENOENT) break;
      std::ifstream procs(dir + "/cgroup.procs");
      std::ofstream dest(self_cg + "/cgroup.procs");
      for (std::string pid; std::getline(procs, pid);) dest << pid << std::endl;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
}

void TestCgroup::add(pid_t pid) const {
  std::ofstream procs(path_ + "/cgroup.procs");
  procs << pid << std::endl;
}

Child::Child(const std::vector<std::string>& argv, const std::string& out_file, const std::string& err_file,
             const std::string& cgroup, const std::vector<std::string>& env) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  // the environment, built before fork (the child may only make async-signal-safe calls)
  std::vector<std::string> vars;
  for (char** e = environ; *e; ++e) {
    const std::string var = *e;
    const std::string name = var.substr(0, var.find('='));
    if (std::none_of(env.begin(), env.end(), [&](const std::string& o) { return o.substr(0, o.find('=')) == name; }))
      vars.push_back(var);
  }
  vars.insert(vars.end(), env.begin(), env.end());
  std::vector<char*> envp;
  for (auto& v : vars) envp.push_back(v.data());
  envp.push_back(nullptr);
  std::string procs = cgroup.empty() ? "" : cgroup + "/cgroup.procs";
  const pid_t parent = getpid();
  pid_ = fork();
  if (pid_ == 0) {
    // if the test binary dies without its destructors (killed, SIGPIPE), its children go too
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    if (!procs.empty()) {
      int fd = open(procs.c_str(), O_WRONLY);
      if (fd >= 0) {
        (void)!write(fd, "0", 1);
        close(fd);
      }
    }
    if (!out_file.empty()) {
      int fd = open(out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      dup2(fd, 1);
    }
    if (!err_file.empty()) {
      int fd = open(err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      dup2(fd, 2);
    }
    execvpe(args[0], args.data(), envp.data());
    _exit(127);
  }
}

Child::~Child() {
  if (pid_ > 0 && !reaped_) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

int Child::wait(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    int st = 0;
    pid_t r = waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
      reaped_ = true;
      if (WIFEXITED(st)) return WEXITSTATUS(st);
      if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
      return -1;
    }
    if (std::chrono::steady_clock::now() >= deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

void Child::signal(int sig) const {
  if (pid_ > 0 && !reaped_) kill(pid_, sig);
}

int run(const std::vector<std::string>& argv, std::chrono::milliseconds timeout, const std::string& cgroup) {
  Child c(argv, "", "", cgroup);
  return c.wait(timeout);
}

bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return pred();
}

std::vector<std::string> dnsmasq_argv(const std::string& listen, const std::vector<std::string>& extra) {
  std::vector<std::string> argv = {"/usr/sbin/dnsmasq", "--keep-in-foreground", "--no-daemon", "--conf-file=/dev/null",
                                   "--listen-address=" + listen, "--bind-interfaces", "--port=53", "--no-resolv",
                                   "--no-hosts", "--pid-file="};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return argv;
}

std::vector<std::string> private_outputs(const std::string& dir, const std::string& detail) {
  // --config /dev/null: a configuration installed on this host (/etc/clawfence) does not apply
  return {"--config",         "/dev/null",      "--audit-dir", dir + "/audit", "--tail-socket",
          dir + "/tail.sock", "--metrics-addr", "127.0.0.1:0", "--detail",    detail};
}

Agent::Agent(const std::string& bin, const std::string& rules, const std::string& cgroup, const std::string& out,
             const std::string& log, const std::vector<std::string>& extra)
    : log_(log), child_(argv(bin, rules, cgroup, out, extra), "", log) {}

std::vector<std::string> Agent::argv(const std::string& bin, const std::string& rules, const std::string& cgroup,
                                     const std::string& out, const std::vector<std::string>& extra) {
  std::vector<std::string> a = {bin, "agent", "--rules", rules, "--cgroup", cgroup, "--pin", "never", "-o", out};
  // `--detail X` among the extras says what the stream carries; else all of it
  std::string detail = "all";
  for (size_t i = 0; i + 1 < extra.size(); ++i)
    if (extra[i] == "--detail") detail = extra[i + 1];
  for (auto& f : private_outputs(out.substr(0, out.rfind('/')), detail)) a.push_back(f);
  for (size_t i = 0; i < extra.size(); ++i) {
    if (extra[i] == "--detail") {
      ++i;
      continue;
    }
    a.push_back(extra[i]);
  }
  return a;
}

bool Agent::ready(std::chrono::seconds timeout) {
  return eventually([&] { return read_file(log_).find("watching:") != std::string::npos; }, timeout);
}

int Agent::stop() {
  child_.signal(SIGINT);
  return child_.wait(std::chrono::seconds(20));
}

std::vector<v1::Event> read_events(const std::string& path) {
  std::vector<v1::Event> out;
  std::ifstream in(path);
  size_t n = 0;
  for (std::string line; std::getline(in, line);) {
    // a last line with no newline yet is being written by a running agent: not read yet
    if (in.eof()) break;
    ++n;
    v1::Event ev;
    auto st = google::protobuf::util::JsonStringToMessage(line, &ev);
    EXPECT_TRUE(st.ok()) << path << ":" << n << ": not an event (" << st.ToString() << "): " << line.substr(0, 200);
    if (st.ok()) out.push_back(std::move(ev));
  }
  return out;
}

std::vector<v1::Event> of_kind(const std::vector<v1::Event>& evs, v1::Event::Kind kind) {
  std::vector<v1::Event> out;
  for (const auto& e : evs)
    if (e.kind() == kind) out.push_back(e);
  return out;
}

std::vector<v1::Event> of_pid(const std::vector<v1::Event>& evs, uint32_t pid) {
  std::vector<v1::Event> out;
  for (const auto& e : evs)
    if (e.process().pid() == pid) out.push_back(e);
  return out;
}

const v1::Event* find_open(const std::vector<v1::Event>& evs, const std::string& path) {
  for (const auto& e : evs)
    if (e.kind() == v1::Event::FILE && e.file().op() == v1::FileOp::OPEN && e.file().path() == path) return &e;
  return nullptr;
}

std::string describe(const std::vector<v1::Event>& evs, size_t max) {
  std::ostringstream out;
  size_t n = 0;
  for (const auto& e : evs) {
    if (n++ >= max) {
      out << "... (" << evs.size() << " events)\n";
      break;
    }
    out << e.process().pid() << " " << e.process().comm() << " " << v1::Event::Kind_Name(e.kind()) << " ";
    if (e.has_file()) out << v1::FileOp::Op_Name(e.file().op()) << " " << e.file().path() << " " << e.file().new_path();
    if (e.has_net()) out << e.net().protocol() << " " << e.net().address() << ":" << e.net().port();
    if (e.has_exec()) out << e.exec().filename();
    if (e.has_comm()) out << e.comm().new_comm();
    out << "\n";
  }
  return out.str();
}

}  // namespace clawfence::testing
