// The host daemon as systemd runs it. The unit passes `systemd-analyze verify` and grants what the
// agent needs and nothing more; `make install DESTDIR=` stages the right tree with the right
// modes and keeps an operator's edits; and the real agent speaks sd_notify to a datagram socket
// standing in for systemd on NOTIFY_SOCKET: READY=1 only once its programs are attached,
// WATCHDOG=1 at half of WATCHDOG_USEC while its pipeline turns and not while it is stuck,
// STOPPING=1 on the way out.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "harness.h"
#include "scoped_env.h"

namespace clawfence::testing {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

struct Shell {
  int status = -1;
  std::string out;  // stdout and stderr
};

// Runs a shell command (time-limited by timeout(1)) and returns its status and output.
Shell shell(const std::string& cmd, int timeout_s = 120) {
  Shell r;
  const std::string full = "timeout " + std::to_string(timeout_s) + " sh -c '" + cmd + "' 2>&1";
  if (FILE* p = popen(full.c_str(), "r")) {
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), p)) > 0) r.out.append(buf, n);
    const int st = pclose(p);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  }
  return r;
}

bool have_tool(const std::string& name) { return shell("command -v " + name + " >/dev/null").status == 0; }

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) s.replace(at, from.size(), to);
  return s;
}

mode_t mode_of(const std::string& path) {
  struct stat st {};
  return lstat(path.c_str(), &st) == 0 ? st.st_mode : 0;
}

const std::string kUnit = "deploy/systemd/clawfence.service";

// [Section]Key -> the values it is given, in order.
std::map<std::string, std::vector<std::string>> parse_unit(const std::string& text) {
  std::map<std::string, std::vector<std::string>> out;
  std::istringstream in(text);
  std::string section;
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line[0] == '[') {
      section = line;
      continue;
    }
    const size_t eq = line.find('=');
    if (eq != std::string::npos) out[section + line.substr(0, eq)].push_back(line.substr(eq + 1));
  }
  return out;
}

std::set<std::string> words(const std::string& s) {
  std::istringstream in(s);
  std::set<std::string> out;
  for (std::string w; in >> w;) out.insert(w);
  return out;
}

TEST(SystemdUnit, PassesSystemdAnalyzeVerify) {
  if (!have_tool("systemd-analyze")) GTEST_SKIP() << "systemd-analyze not installed (Debian: systemd): skipped";
  const std::string bin = build_dir() + "/clawfence";
  ASSERT_EQ(access(bin.c_str(), X_OK), 0) << bin << " not built";
  const std::string text = read_file(repo_root() + "/" + kUnit);
  ASSERT_NE(text.find("\nExecStart=/usr/local/bin/clawfence agent "), std::string::npos) << text;
  const std::string dir = make_temp_dir("unit");
  ASSERT_FALSE(dir.empty());
  // verify wants ExecStart's binary to exist: a copy that points at the one just built
  fs::create_directories(dir + "/ok");
  write_file(dir + "/ok/clawfence.service", replace_all(text, "/usr/local/bin/clawfence", bin));
  const Shell ok = shell("systemd-analyze verify " + dir + "/ok/clawfence.service");
  EXPECT_EQ(ok.status, 0) << ok.out;
  // verify exits 0 on unknown keys and bad values too, and only says so: the output must be empty
  EXPECT_EQ(ok.out, "");
  // ... which is what catches a broken unit (the check is not blind)
  fs::create_directories(dir + "/broken");
  write_file(dir + "/broken/clawfence.service",
             replace_all(replace_all(text, "/usr/local/bin/clawfence", bin), "WatchdogSec=30", "WatchdogSec=soon"));
  const Shell broken = shell("systemd-analyze verify " + dir + "/broken/clawfence.service");
  EXPECT_NE(broken.out.find("Failed to parse sec value, ignoring: soon"), std::string::npos) << broken.out;
  remove_tree(dir);
}

TEST(SystemdUnit, GrantsWhatTheAgentNeedsAndNoMore) {
  auto u = parse_unit(read_file(repo_root() + "/" + kUnit));
  auto one = [&](const std::string& key) {
    const auto& v = u[key];
    EXPECT_EQ(v.size(), 1u) << key << " set " << v.size() << " times";
    return v.empty() ? std::string() : v.back();
  };
  EXPECT_EQ(one("[Service]Type"), "notify");
  EXPECT_EQ(one("[Service]NotifyAccess"), "main");
  EXPECT_EQ(one("[Service]ExecStart").rfind("/usr/local/bin/clawfence agent ", 0), 0u);
  EXPECT_EQ(one("[Service]ExecReload"), "/bin/kill -HUP $MAINPID");
  EXPECT_EQ(one("[Service]KillSignal"), "SIGTERM");
  EXPECT_EQ(one("[Service]WatchdogSec"), "30");
  EXPECT_EQ(one("[Service]Restart"), "on-failure");
  EXPECT_EQ(one("[Service]RestartSec"), "2");
  EXPECT_EQ(one("[Service]StandardOutput"), "journal");
  EXPECT_EQ(one("[Service]StandardError"), "journal");
  EXPECT_EQ(one("[Service]EnvironmentFile"), "-/etc/default/clawfence");

  const std::set<std::string> caps = {"CAP_BPF",     "CAP_PERFMON",         "CAP_NET_ADMIN", "CAP_SYS_ADMIN",
                                      "CAP_SYS_PTRACE", "CAP_DAC_READ_SEARCH", "CAP_KILL",      "CAP_CHOWN"};
  EXPECT_EQ(words(one("[Service]CapabilityBoundingSet")), caps);
  EXPECT_EQ(words(one("[Service]AmbientCapabilities")), caps);
  EXPECT_EQ(one("[Service]NoNewPrivileges"), "yes");
  EXPECT_EQ(one("[Service]LimitMEMLOCK"), "infinity");

  EXPECT_EQ(one("[Service]ProtectSystem"), "strict");
  EXPECT_EQ(one("[Service]ProtectHome"), "read-only");
  EXPECT_EQ(one("[Service]PrivateTmp"), "yes");
  // the pins live in bpffs under /sys, and the agent must see every process
  EXPECT_TRUE(u["[Service]ProtectKernelTunables"].empty());
  EXPECT_TRUE(u["[Service]ProtectProc"].empty());
  EXPECT_TRUE(u["[Service]PrivateDevices"].empty());
  EXPECT_TRUE(u["[Service]PrivatePIDs"].empty());
  // everything it writes is one of its own directories
  EXPECT_TRUE(u["[Service]ReadWritePaths"].empty());
  EXPECT_EQ(one("[Service]LogsDirectory"), "clawfence");
  EXPECT_EQ(one("[Service]LogsDirectoryMode"), "0700");
  EXPECT_EQ(one("[Service]StateDirectory"), "clawfence");
  EXPECT_EQ(one("[Service]StateDirectoryMode"), "0700");
  EXPECT_EQ(one("[Service]RuntimeDirectory"), "clawfence");
  EXPECT_EQ(one("[Service]RuntimeDirectoryMode"), "0755");
  EXPECT_EQ(one("[Install]WantedBy"), "multi-user.target");
}

// make, without the job server of a make that may be running these tests
std::string make_cmd() { return "env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make --no-print-directory -C " + repo_root(); }

TEST(SystemdInstall, StagesTheTreeUnderDestdirAndKeepsEditedFiles) {
  if (!have_tool("make")) GTEST_SKIP() << "make not installed: skipped";
  const std::string build = build_dir();
  const std::string bin = build + "/clawfence";
  ASSERT_EQ(access(bin.c_str(), X_OK), 0) << bin << " not built";
  // install depends on the binary: it must not start a build from inside a test
  if (shell(make_cmd() + " -q BUILD=" + build + " " + bin).status != 0)
    GTEST_SKIP() << bin << " is older than its sources; build it first (make BUILD=" << build << "): skipped";
  const std::string dest = make_temp_dir("destdir");
  ASSERT_FALSE(dest.empty());
  const std::string make_args = " BUILD=" + build + " DESTDIR=" + dest + " PREFIX=/opt/clawfence";
  const Shell first = shell(make_cmd() + make_args + " install");
  ASSERT_EQ(first.status, 0) << first.out;

  // what is there, and its mode
  std::map<std::string, mode_t> tree;
  for (const auto& e : fs::recursive_directory_iterator(dest))
    tree[e.path().string().substr(dest.size())] = mode_of(e.path().string()) & 07777;
  std::map<std::string, mode_t> want = {
      {"/opt", 0755},
      {"/opt/clawfence", 0755},
      {"/opt/clawfence/bin", 0755},
      {"/opt/clawfence/bin/clawfence", 0755},
      {"/etc", 0755},
      {"/etc/clawfence", 0755},
      {"/etc/clawfence/rules.d", 0755},
      {"/lib", 0755},
      {"/lib/systemd", 0755},
      {"/lib/systemd/system", 0755},
      {"/lib/systemd/system/clawfence.service", 0644},
  };
  std::vector<std::string> rules;
  for (const auto& e : fs::directory_iterator(repo_root() + "/rules"))
    if (e.path().extension() == ".yaml") rules.push_back(e.path().filename().string());
  ASSERT_FALSE(rules.empty());
  for (const auto& r : rules) want["/etc/clawfence/rules.d/" + r] = 0644;
  const bool config = fs::exists(repo_root() + "/deploy/clawfence.yaml");
  if (config) want["/etc/clawfence/clawfence.yaml"] = 0644;
  EXPECT_EQ(tree, want) << first.out;

  // the contents: the binary as built (the eBPF object is inside it), the rules and config as
  // shipped, the unit with ExecStart under PREFIX
  EXPECT_TRUE(read_file(dest + "/opt/clawfence/bin/clawfence") == read_file(bin)) << "the installed binary differs";
  for (const auto& r : rules) {
    EXPECT_EQ(read_file(dest + "/etc/clawfence/rules.d/" + r), read_file(repo_root() + "/rules/" + r)) << r;
  }
  if (config) {
    EXPECT_EQ(read_file(dest + "/etc/clawfence/clawfence.yaml"), read_file(repo_root() + "/deploy/clawfence.yaml"));
  }
  const std::string unit = read_file(dest + "/lib/systemd/system/clawfence.service");
  EXPECT_EQ(unit, replace_all(read_file(repo_root() + "/" + kUnit), "/usr/local/bin/clawfence", "/opt/clawfence/bin/clawfence"));
  EXPECT_NE(unit.find("\nExecStart=/opt/clawfence/bin/clawfence agent "), std::string::npos) << unit;

  // an upgrade over a rule file the operator edited keeps the edit; the new one goes beside it
  const std::string edited = dest + "/etc/clawfence/rules.d/" + rules[0];
  const std::string mine = read_file(edited) + "# local change\n";
  write_file(edited, mine);
  const Shell again = shell(make_cmd() + make_args + " install");
  ASSERT_EQ(again.status, 0) << again.out;
  EXPECT_EQ(read_file(edited), mine);
  EXPECT_EQ(read_file(edited + ".new"), read_file(repo_root() + "/rules/" + rules[0]));
  EXPECT_EQ(mode_of(edited + ".new") & 07777, 0644u);
  EXPECT_NE(again.out.find("kept " + edited), std::string::npos) << again.out;

  // uninstall: the binary and the unit go; the operator's configuration stays
  const Shell gone = shell(make_cmd() + make_args + " uninstall");
  ASSERT_EQ(gone.status, 0) << gone.out;
  EXPECT_FALSE(fs::exists(dest + "/opt/clawfence/bin/clawfence"));
  EXPECT_FALSE(fs::exists(dest + "/lib/systemd/system/clawfence.service"));
  EXPECT_EQ(read_file(edited), mine);
  remove_tree(dest);
}


// systemd's end of NOTIFY_SOCKET: a datagram socket; each message with when it arrived.
class NotifyListener {
 public:
  explicit NotifyListener(const std::string& path) : path_(path) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    path.copy(addr.sun_path, sizeof(addr.sun_path) - 1);
    ok_ = fd_ >= 0 && bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  ~NotifyListener() {
    if (fd_ >= 0) close(fd_);
  }
  bool ok() const { return ok_; }
  const std::string& path() const { return path_; }

  struct Message {
    Clock::time_point at;
    std::string text;
  };
  // The next message, waiting at most `timeout`.
  std::optional<Message> next(milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(std::max<int64_t>(left, 0))) != 1) return std::nullopt;
      char buf[4096];
      const ssize_t n = recv(fd_, buf, sizeof(buf), 0);
      if (n >= 0) return Message{Clock::now(), std::string(buf, static_cast<size_t>(n))};
      if (left <= 0) return std::nullopt;
    }
  }
  // Every message within `window`.
  std::vector<Message> collect(milliseconds window) {
    std::vector<Message> out;
    const auto until = Clock::now() + window;
    while (auto m = next(std::chrono::duration_cast<milliseconds>(until - Clock::now()))) out.push_back(*m);
    return out;
  }
  // Messages until one contains `what` (that one included), waiting at most `timeout`.
  std::vector<Message> until(const std::string& what, milliseconds timeout) {
    std::vector<Message> out;
    const auto deadline = Clock::now() + timeout;
    while (auto m = next(std::chrono::duration_cast<milliseconds>(deadline - Clock::now()))) {
      out.push_back(*m);
      if (m->text.find(what) != std::string::npos) break;
    }
    return out;
  }

 private:
  std::string path_;
  int fd_ = -1;
  bool ok_ = false;
};

size_t count_with(const std::vector<NotifyListener::Message>& ms, const std::string& what) {
  size_t n = 0;
  for (const auto& m : ms) n += m.text.find(what) != std::string::npos;
  return n;
}

std::string dump(const std::vector<NotifyListener::Message>& ms) {
  std::string s;
  for (const auto& m : ms) s += "  [" + replace_all(m.text, "\n", "\\n") + "]\n";
  return s;
}

class SystemdNotify : public ::testing::Test {
 protected:
  void SetUp() override {
    CF_REQUIRE_ROOT();
    bin_ = build_dir() + "/clawfence";
    dir_ = make_temp_dir("notify");
    ASSERT_FALSE(dir_.empty());
    log_ = dir_ + "/agent.log";
  }
  void TearDown() override {
    if (!dir_.empty()) remove_tree(dir_);
  }

  // The agent on the test's cgroup with private outputs and no pins, its environment holding
  // NOTIFY_SOCKET (when `notify` is not empty) and WATCHDOG_USEC as systemd would set them.
  std::unique_ptr<Child> start_agent(const std::string& cgroup, const std::string& notify, const std::string& output) {
    std::vector<std::string> argv = {bin_,    "agent", "--rules", repo_root() + "/rules/openclaw.yaml",
                                     "--cgroup", cgroup, "--pin", "never", "-o", output};
    for (auto& f : private_outputs(dir_)) argv.push_back(f);
    ScopedEnv socket("NOTIFY_SOCKET", notify.empty() ? nullptr : notify.c_str());
    ScopedEnv watchdog("WATCHDOG_USEC", "2000000");
    ScopedEnv watchdog_pid("WATCHDOG_PID", nullptr);
    return std::make_unique<Child>(argv, "", log_);
  }

  std::string bin_, dir_, log_;
};

TEST_F(SystemdNotify, ReadyOnlyOnceAttachedThenWatchdogThenStopping) {
  TestCgroup cg("notify");
  NotifyListener systemd(dir_ + "/notify.sock");
  ASSERT_TRUE(systemd.ok()) << std::strerror(errno);
  auto agent = start_agent(cg.path(), systemd.path(), dir_ + "/events.jsonl");

  // The first thing systemd hears is READY=1. Freeze the agent the moment it arrives: what is in
  // place now was in place when it was sent (give or take the microseconds of a datagram).
  auto ready = systemd.next(seconds(30));
  ASSERT_TRUE(ready) << "no notification within 30 s\n" << read_file(log_);
  agent->signal(SIGSTOP);
  EXPECT_EQ(ready->text.rfind("READY=1\nSTATUS=watching ", 0), 0u) << ready->text;
  EXPECT_NE(ready->text.find(" programs attached"), std::string::npos) << ready->text;
  const std::string log = read_file(log_);
  EXPECT_NE(log.find("attached "), std::string::npos) << log;
  EXPECT_NE(log.find("watching:"), std::string::npos) << log;
  const Shell attached = shell("bpftool cgroup show " + cg.path());
  EXPECT_NE(attached.out.find("connect4"), std::string::npos) << attached.out;
  EXPECT_NE(attached.out.find("egress"), std::string::npos) << attached.out;
  // what it sent before it froze (the first pet follows READY=1 at once) is not timed below
  const auto queued = systemd.collect(milliseconds(0));
  agent->signal(SIGCONT);

  // WATCHDOG_USEC=2 s: a pet every second (half of it), from the main loop, and nothing else
  const auto pets = systemd.collect(milliseconds(3200));
  EXPECT_EQ(count_with(pets, "WATCHDOG=1"), pets.size()) << dump(pets);
  EXPECT_GE(pets.size(), 2u) << dump(queued) << dump(pets);
  for (size_t i = 1; i < pets.size(); ++i) {
    EXPECT_GE(pets[i].at - pets[i - 1].at, milliseconds(700)) << "petted too often:\n" << dump(pets);
    EXPECT_LE(pets[i].at - pets[i - 1].at, milliseconds(1500)) << "petted too seldom:\n" << dump(pets);
  }

  agent->signal(SIGINT);
  const auto last = systemd.until("STOPPING=1", seconds(20));
  ASSERT_FALSE(last.empty()) << read_file(log_);
  EXPECT_EQ(last.back().text, "STOPPING=1\nSTATUS=stopping") << dump(last);
  EXPECT_EQ(agent->wait(seconds(20)), 0) << read_file(log_);
  const auto after = systemd.collect(milliseconds(200));
  EXPECT_TRUE(after.empty()) << "sent after STOPPING=1:\n" << dump(after);
}

// The JSON lines go to a FIFO the test stops reading: the pipeline's worker blocks on the write,
// as it would behind a wedged output. Past 5 s without a turn (the /healthz test) the watchdog is
// no longer fed and the status says why; once the FIFO is read again, the pets resume.
TEST_F(SystemdNotify, AStuckPipelineStarvesTheWatchdog) {
  TestCgroup cg("notify-stuck");
  NotifyListener systemd(dir_ + "/notify.sock");
  ASSERT_TRUE(systemd.ok()) << std::strerror(errno);
  const std::string fifo = dir_ + "/events.fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0) << std::strerror(errno);
  const int reader = open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  ASSERT_GE(reader, 0) << std::strerror(errno);
  auto agent = start_agent(cg.path(), systemd.path(), fifo);
  auto ready = systemd.until("READY=1", seconds(30));
  ASSERT_EQ(count_with(ready, "READY=1"), 1u) << read_file(log_);

  // a watched process ("openclaw") whose children give the pipeline plenty to write
  const std::string openclaw = dir_ + "/openclaw";
  fs::copy_file("/bin/sh", openclaw);
  chmod(openclaw.c_str(), 0755);
  Child workload({openclaw, "-c", "i=0; while [ $i -lt 4000 ]; do cat /etc/hostname >/dev/null; i=$((i+1)); done"},
                 "/dev/null", "/dev/null", cg.path());

  const auto stuck = systemd.until("has not turned", seconds(30));
  ASSERT_EQ(count_with(stuck, "has not turned"), 1u) << "the pipeline never stalled?\n" << dump(stuck) << read_file(log_);
  EXPECT_NE(stuck.back().text.find("(watchdog not signalled)"), std::string::npos) << stuck.back().text;
  // while stuck: status updates, no pet (systemd would kill the agent after WatchdogSec)
  const auto starving = systemd.collect(milliseconds(3000));
  EXPECT_EQ(count_with(starving, "WATCHDOG=1"), 0u) << dump(starving);
  EXPECT_GE(count_with(starving, "has not turned"), 2u) << dump(starving);

  // read the FIFO again: the pipeline moves, the pets resume with the healthy status back
  std::atomic<bool> stop{false};
  std::thread drain([&] {
    char buf[65536];
    while (!stop.load()) {
      pollfd p{reader, POLLIN, 0};
      if (poll(&p, 1, 50) == 1 && read(reader, buf, sizeof(buf)) == 0) break;  // the agent closed it
    }
  });
  const auto back = systemd.until("WATCHDOG=1", seconds(30));
  ASSERT_FALSE(back.empty()) << read_file(log_);
  EXPECT_EQ(back.back().text.rfind("WATCHDOG=1\nSTATUS=watching ", 0), 0u) << dump(back);
  workload.signal(SIGKILL);
  workload.wait(seconds(5));
  agent->signal(SIGINT);
  EXPECT_EQ(agent->wait(seconds(30)), 0) << read_file(log_);
  stop.store(true);
  drain.join();
  close(reader);
}

TEST_F(SystemdNotify, WithoutNotifySocketTheAgentRunsAsBefore) {
  TestCgroup cg("notify-none");
  NotifyListener systemd(dir_ + "/notify.sock");
  ASSERT_TRUE(systemd.ok()) << std::strerror(errno);
  // WATCHDOG_USEC without NOTIFY_SOCKET (a stray variable): nowhere to send, nothing to pet
  auto agent = start_agent(cg.path(), "", dir_ + "/events.jsonl");
  ASSERT_TRUE(eventually([&] { return read_file(log_).find("watching:") != std::string::npos; }, seconds(30)))
      << read_file(log_);
  const auto heard = systemd.collect(milliseconds(1500));
  EXPECT_TRUE(heard.empty()) << dump(heard);
  EXPECT_EQ(read_file(log_).find("service manager"), std::string::npos) << read_file(log_);
  agent->signal(SIGINT);
  EXPECT_EQ(agent->wait(seconds(20)), 0) << read_file(log_);
  // the agent ran as before: its start and stop are in its events
  const auto evs = read_events(dir_ + "/events.jsonl");
  ASSERT_EQ(of_kind(evs, v1::Event::AGENT).size(), 2u) << describe(evs);
}

}  // namespace
}  // namespace clawfence::testing
