// The adversarial suite, network half: an attacker's ways around the egress rules, each run as a
// watched tool (`clawfence run -r` or a `clawfence agent` on a cgroup the test owns), in enforce
// mode (the connect refused with EPERM while an approved endpoint still works) and in monitor
// mode (the record and the alert). Listeners only on 127.0.0.30-39 and ::1, ports from the
// kernel; the test's DNS server (dnsmasq) on 127.0.0.87:53.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <memory>
#include <regex>
#include <sstream>

#include "harness.h"

namespace clawfence::testing {
namespace {

using std::chrono::seconds;

constexpr const char* kResolver = "127.0.0.87";
constexpr const char* kApproved = "127.0.0.30";  // approved by a CIDR rule: the endpoint that must keep working

// A socket bound to a loopback address on a port the kernel picks (TCP: listening); closed at scope exit.
class Endpoint {
 public:
  Endpoint(const std::string& addr, int type) {
    const bool v6 = addr.find(':') != std::string::npos;
    fd_ = socket(v6 ? AF_INET6 : AF_INET, type | SOCK_NONBLOCK, 0);
    sockaddr_storage ss{};
    socklen_t len;
    if (v6) {
      auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
      a->sin6_family = AF_INET6;
      inet_pton(AF_INET6, addr.c_str(), &a->sin6_addr);
      len = sizeof(*a);
    } else {
      auto* a = reinterpret_cast<sockaddr_in*>(&ss);
      a->sin_family = AF_INET;
      inet_pton(AF_INET, addr.c_str(), &a->sin_addr);
      len = sizeof(*a);
    }
    ok_ = fd_ >= 0 && bind(fd_, reinterpret_cast<sockaddr*>(&ss), len) == 0 &&
          (type != SOCK_STREAM || listen(fd_, 256) == 0) &&
          getsockname(fd_, reinterpret_cast<sockaddr*>(&ss), &len) == 0;
    if (ok_) port_ = ntohs(v6 ? reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port : reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  }
  ~Endpoint() {
    if (fd_ >= 0) close(fd_);
  }
  bool ok() const { return ok_; }
  std::string port() const { return std::to_string(port_); }
  // Datagrams waiting on a UDP endpoint (read and counted).
  int datagrams() const {
    int n = 0;
    char b[64];
    while (n < 1000 && recv(fd_, b, sizeof(b), 0) >= 0) ++n;
    return n;
  }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
  bool ok_ = false;
};

struct Rules {
  std::string mode = "enforce";
  bool fail_closed = false;
  std::string dns_min_ttl;           // "" = the default (60s)
  std::string io_uring_action = "alert";
  std::string extra;                 // more top-level YAML
};

Rules monitor() {
  Rules r;
  r.mode = "monitor";
  return r;
}

// What one attack left: the attacker's output lines, its status, the events, the agent's log.
struct Outcome {
  int status = -1;
  std::vector<std::string> lines;
  std::vector<v1::Event> events;
  std::string log;
};

class AdvNet : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (loads eBPF programs): skipped";
    bin_ = build_dir() + "/clawfence";
    workloads_ = build_dir() + "/workloads";
    steps_ = repo_root() + "/tests/workloads/netsteps.py";
    dir_ = make_temp_dir("advnet");
    ASSERT_FALSE(dir_.empty());
    pin_dir_ = "/sys/fs/bpf/clawfence-test-advnet-" + std::to_string(getpid());
  }
  void TearDown() override {
    // whatever happened, nothing of this test stays attached
    if (!pin_dir_.empty() && access(pin_dir_.c_str(), F_OK) == 0)
      run({bin_, "unload", "--pin-dir", pin_dir_}, seconds(20));
    if (!dir_.empty()) remove_tree(dir_);
  }

  bool have_dnsmasq() const { return access("/usr/sbin/dnsmasq", X_OK) == 0; }

  // A rule file: the attacker (comm cf-adv-net, or whatever `clawfence run` starts) may reach
  // 127.0.0.30, the name approved.test (as the resolver at 127.0.0.87 answers it) and that resolver.
  std::string write_rules(const Rules& r) {
    const std::string path = dir_ + "/rules-" + std::to_string(++n_) + ".yaml";
    write_file(path, "version: 1\nmode: " + r.mode + "\nfail_closed: " + (r.fail_closed ? "true" : "false") +
                         "\ntargets:\n  - name: attacker\n    match:\n      - comm: [cf-adv-net]\n"
                         "egress:\n  default: deny\n"
                         "  unapproved: { id: egress-unapproved, severity: error, action: block }\n"
                         "  dns_resolvers: [" + kResolver + "]\n" +
                         (r.dns_min_ttl.empty() ? "" : "  dns_min_ttl: " + r.dns_min_ttl + "\n") +
                         "  allow:\n"
                         "    - { id: approved-endpoint, cidr: [" + kApproved + "] }\n"
                         "    - { id: approved-name, host: [approved.test] }\n"
                         "    - { id: resolver, cidr: [" + kResolver + "], ports: [53] }\n"
                         "evasion:\n  - { id: io-uring, what: io_uring, action: " + r.io_uring_action + " }\n" + r.extra);
    return path;
  }

  // `clawfence run -r RULES [flags] -- cmd`, the attack, to completion; `during` runs while it does.
  Outcome attack(const Rules& r, const std::vector<std::string>& cmd, const std::vector<std::string>& flags = {},
                 const std::function<void()>& during = nullptr) {
    const std::string tag = std::to_string(n_ + 1);
    const std::string rules = write_rules(r);
    const std::string events = dir_ + "/events-" + tag + ".jsonl", out = dir_ + "/attack-" + tag + ".out",
                      log = dir_ + "/run-" + tag + ".log";
    std::vector<std::string> argv = {bin_, "run", "-r", rules, "-o", events};
    argv.insert(argv.end(), flags.begin(), flags.end());
    argv.push_back("--");
    argv.insert(argv.end(), cmd.begin(), cmd.end());
    Outcome o;
    {
      Child c(argv, out, log);
      if (during) during();
      o.status = c.wait(seconds(60));
    }
    std::istringstream in(read_file(out));
    for (std::string line; std::getline(in, line);) o.lines.push_back(line);
    o.events = read_events(events);
    o.log = read_file(log);
    return o;
  }
  Outcome steps(const Rules& r, const std::vector<std::string>& s, const std::vector<std::string>& flags = {},
                const std::function<void()>& during = nullptr) {
    return attack(r, steps_cmd(s), flags, during);
  }
  std::vector<std::string> steps_cmd(const std::vector<std::string>& s) const {
    std::vector<std::string> cmd = {"python3", steps_};
    cmd.insert(cmd.end(), s.begin(), s.end());
    return cmd;
  }

  // The test's DNS server on 127.0.0.87:53 answering from `records` (dnsmasq options), once it
  // answers `name` with `addr`; null when it does not within 5 s.
  std::unique_ptr<Child> dns_server(const std::vector<std::string>& records, const std::string& name,
                                    const std::string& addr) {
    auto dns = std::make_unique<Child>(dnsmasq_argv(kResolver, records), dir_ + "/dnsmasq.out", dir_ + "/dnsmasq.err");
    const std::string out = dir_ + "/resolve.out";
    const std::string want = "resolve," + std::string(kResolver) + "," + name + " " + addr + "\n";
    auto answers = [&] {
      return run({"sh", "-c", "python3 " + steps_ + " resolve," + kResolver + "," + name + " > " + out + " 2>&1"},
                 seconds(5)) == 0 &&
             read_file(out) == want;
    };
    if (!eventually(answers, seconds(5)))
      return nullptr;
    return dns;
  }

  std::string bin_, workloads_, steps_, dir_, pin_dir_;
  int n_ = 0;
};

// Filters over an attack's events.
std::vector<v1::Event> nets_to(const std::vector<v1::Event>& evs, const std::string& addr) {
  std::vector<v1::Event> out;
  for (const auto& e : of_kind(evs, v1::Event::NET))
    if (e.net().address() == addr) out.push_back(e);
  return out;
}
std::vector<v1::Event> alerts_of(const std::vector<v1::Event>& evs, const std::string& rule) {
  std::vector<v1::Event> out;
  for (const auto& e : of_kind(evs, v1::Event::ALERT))
    if (e.alert().rule_id() == rule) out.push_back(e);
  return out;
}
// The unapproved-egress alerts whose evidence is this address (folded summaries too).
std::vector<v1::Event> unapproved_to(const std::vector<v1::Event>& evs, const std::string& addr) {
  std::vector<v1::Event> out;
  for (const auto& a : alerts_of(evs, "egress-unapproved"))
    if (a.alert().evidence().address() == addr) out.push_back(a);
  return out;
}
bool blocked(const v1::Event& e) {
  return e.has_enforcement() && e.enforcement().verdict() == "blocked" && e.enforcement().rule_id() == "egress-unapproved";
}
std::string all_alerts(const std::vector<v1::Event>& evs) {
  std::string s;
  for (const auto& a : of_kind(evs, v1::Event::ALERT))
    s += a.alert().rule_id() + "(" + a.alert().outcome() + ")@" + a.alert().evidence().address() + " ";
  return s;
}

// ---- 1. io_uring ------------------------------------------------------------------------------

// IORING_OP_CONNECT runs in the kernel without the connect syscall; the cgroup connect hook
// judges it anyway: EPERM in the completion for the unapproved address, the approved one
// connects; the record has no syscall and no result. In monitor mode it is recorded and alerted.
TEST_F(AdvNet, IoUringConnectIsJudgedLikeAConnect) {
  Endpoint approved(kApproved, SOCK_STREAM), evil("127.0.0.31", SOCK_STREAM);
  ASSERT_TRUE(approved.ok() && evil.ok());
  const std::string uring = workloads_ + "/uring_connect";
  const std::vector<std::string> cmd = {"sh", "-c",
                                        uring + " 127.0.0.31 " + evil.port() + "; " + uring + " " + kApproved + " " + approved.port()};

  Outcome enf = attack(Rules{}, cmd);
  if (enf.status == 3) GTEST_SKIP() << "io_uring is not available here: skipped";
  ASSERT_EQ(enf.status, 0) << enf.log;
  ASSERT_EQ(enf.lines.size(), 2u) << enf.log;
  EXPECT_TRUE(std::regex_match(enf.lines[0], std::regex("setup=[0-9]+ connect=-1"))) << enf.lines[0];  // -EPERM
  EXPECT_TRUE(std::regex_match(enf.lines[1], std::regex("setup=[0-9]+ connect=0"))) << enf.lines[1];
  auto rec = nets_to(enf.events, "127.0.0.31");
  ASSERT_EQ(rec.size(), 1u) << describe(enf.events);
  EXPECT_EQ(rec[0].net().op(), v1::NetOp::CONNECT);
  EXPECT_EQ(rec[0].net().port(), std::stoul(evil.port()));
  EXPECT_EQ(rec[0].net().syscall(), "");
  EXPECT_FALSE(rec[0].net().has_result());
  EXPECT_TRUE(blocked(rec[0])) << rec[0].DebugString();
  auto alerted = unapproved_to(enf.events, "127.0.0.31");
  ASSERT_FALSE(alerted.empty()) << all_alerts(enf.events);
  EXPECT_EQ(alerted[0].alert().outcome(), "blocked");
  EXPECT_TRUE(unapproved_to(enf.events, kApproved).empty()) << all_alerts(enf.events);

  Outcome mon = attack(monitor(), cmd);
  ASSERT_EQ(mon.status, 0) << mon.log;
  ASSERT_EQ(mon.lines.size(), 2u) << mon.log;
  EXPECT_TRUE(std::regex_match(mon.lines[0], std::regex("setup=[0-9]+ connect=0"))) << mon.lines[0];
  ASSERT_EQ(nets_to(mon.events, "127.0.0.31").size(), 1u) << describe(mon.events);
  alerted = unapproved_to(mon.events, "127.0.0.31");
  ASSERT_FALSE(alerted.empty()) << all_alerts(mon.events);
  EXPECT_EQ(alerted[0].alert().outcome(), "alerted");
  EXPECT_EQ(alerted[0].alert().evidence().port(), std::stoul(evil.port()));
}

// A ring is no sign of anything (Node 26's libuv sets one up in every process): io_uring_setup is
// an event no rule judges, and a connect through the ring still meets the connect hook. A file
// opened through a ring passes no syscall sensor: under a kill rule the tool is killed as the
// open is submitted, before it reads the completion; in monitor mode it is an alert.
TEST_F(AdvNet, IoUringFileOpsAreKilledUnderAKillRuleAndARingIsNot) {
  Endpoint approved(kApproved, SOCK_STREAM);
  ASSERT_TRUE(approved.ok());
  const std::string secret = dir_ + "/uring-secret";
  write_file(secret, "not to be read\n");
  Rules kill;
  kill.io_uring_action = "kill";
  Outcome ring = attack(kill, {workloads_ + "/uring_connect", kApproved, approved.port()});
  if (ring.status == 3) GTEST_SKIP() << "io_uring is not available here: skipped";
  ASSERT_EQ(ring.status, 0) << ring.log;
  ASSERT_EQ(ring.lines.size(), 1u);
  EXPECT_TRUE(std::regex_match(ring.lines[0], std::regex("setup=[0-9]+ connect=0"))) << ring.lines[0];
  auto guards = of_kind(ring.events, v1::Event::GUARD);
  ASSERT_EQ(guards.size(), 1u) << describe(ring.events);
  EXPECT_EQ(guards[0].guard().what(), "io_uring_setup");
  EXPECT_FALSE(guards[0].has_enforcement());
  EXPECT_TRUE(alerts_of(ring.events, "io-uring").empty()) << all_alerts(ring.events);

  const std::vector<std::string> open = {workloads_ + "/uring_open", secret};
  Outcome enf = attack(kill, open);
  EXPECT_EQ(enf.status, 128 + SIGKILL) << enf.log;
  EXPECT_TRUE(enf.lines.empty()) << "it read the completion: " << enf.lines[0];
  const auto enf_guards = of_kind(enf.events, v1::Event::GUARD);
  const v1::Event* op = nullptr;
  for (const auto& g : enf_guards)
    if (g.guard().what() == "io_uring_op") op = &g;
  ASSERT_NE(op, nullptr) << describe(enf.events);
  EXPECT_EQ(op->guard().operation(), "openat");
  EXPECT_EQ(op->enforcement().verdict(), "killed");
  auto a = alerts_of(enf.events, "io-uring");
  ASSERT_FALSE(a.empty()) << all_alerts(enf.events);
  EXPECT_EQ(a[0].alert().outcome(), "killed");

  kill.mode = "monitor";
  Outcome mon = attack(kill, open);
  ASSERT_EQ(mon.status, 0) << mon.log;
  ASSERT_EQ(mon.lines.size(), 1u);
  EXPECT_TRUE(std::regex_match(mon.lines[0], std::regex("setup=[0-9]+ open=[0-9]+ read=15"))) << mon.lines[0];
  a = alerts_of(mon.events, "io-uring");
  ASSERT_FALSE(a.empty()) << all_alerts(mon.events);
  EXPECT_EQ(a[0].alert().outcome(), "alerted");
  EXPECT_EQ(a[0].alert().action(), "kill");
}

// ---- 2-4, 7: address families, sends without connect, hard-coded addresses -----------------

// IPv6 loopback, TCP and UDP: judged by connect6/sendmsg6.
TEST_F(AdvNet, Ipv6ConnectAndSendAreJudged) {
  Endpoint approved(kApproved, SOCK_STREAM), tcp6("::1", SOCK_STREAM), udp6("::1", SOCK_DGRAM);
  ASSERT_TRUE(approved.ok() && tcp6.ok() && udp6.ok());
  const std::vector<std::string> s = {"tcp,::1," + tcp6.port(), "sendto,::1," + udp6.port(),
                                      std::string("tcp,") + kApproved + "," + approved.port()};
  Outcome enf = steps(Rules{}, s);
  ASSERT_EQ(enf.status, 0) << enf.log;
  EXPECT_EQ(enf.lines, (std::vector<std::string>{s[0] + " 1", s[1] + " 1", s[2] + " 0"}));
  EXPECT_EQ(udp6.datagrams(), 0) << "a refused datagram arrived";
  auto rec = nets_to(enf.events, "::1");
  ASSERT_EQ(rec.size(), 2u) << describe(enf.events);
  for (const auto& e : rec) {
    EXPECT_EQ(e.net().family(), "ipv6");
    EXPECT_EQ(e.net().result(), -EPERM);
    EXPECT_TRUE(blocked(e)) << e.DebugString();
  }
  EXPECT_EQ(rec[0].net().protocol(), "tcp");
  EXPECT_EQ(rec[1].net().op(), v1::NetOp::SENDTO);
  EXPECT_FALSE(unapproved_to(enf.events, "::1").empty()) << all_alerts(enf.events);

  Outcome mon = steps(monitor(), s);
  ASSERT_EQ(mon.status, 0) << mon.log;
  EXPECT_EQ(mon.lines, (std::vector<std::string>{s[0] + " 0", s[1] + " 0", s[2] + " 0"}));
  EXPECT_EQ(udp6.datagrams(), 1);
  EXPECT_EQ(nets_to(mon.events, "::1").size(), 2u) << describe(mon.events);
  auto a = unapproved_to(mon.events, "::1");
  ASSERT_FALSE(a.empty()) << all_alerts(mon.events);
  EXPECT_EQ(a[0].alert().outcome(), "alerted");
  EXPECT_EQ(a[0].alert().evidence().port(), std::stoul(tcp6.port()));
}

// ::ffff:127.0.0.31 on an AF_INET6 socket is 127.0.0.31: refused like it, and ::ffff:127.0.0.30
// is allowed by the IPv4 rule. The record shows the IPv4 address with ipv4_mapped.
TEST_F(AdvNet, Ipv4MappedIpv6IsJudgedAsTheIpv4Address) {
  Endpoint approved(kApproved, SOCK_STREAM), evil("127.0.0.31", SOCK_STREAM);
  ASSERT_TRUE(approved.ok() && evil.ok());
  const std::vector<std::string> s = {"tcp,::ffff:127.0.0.31," + evil.port(),
                                      std::string("tcp,::ffff:") + kApproved + "," + approved.port()};
  Outcome enf = steps(Rules{}, s);
  ASSERT_EQ(enf.status, 0) << enf.log;
  EXPECT_EQ(enf.lines, (std::vector<std::string>{s[0] + " 1", s[1] + " 0"}));
  auto rec = nets_to(enf.events, "127.0.0.31");
  ASSERT_EQ(rec.size(), 1u) << describe(enf.events);
  EXPECT_EQ(rec[0].net().family(), "ipv4");
  EXPECT_TRUE(rec[0].net().ipv4_mapped());
  EXPECT_TRUE(blocked(rec[0])) << rec[0].DebugString();
  EXPECT_FALSE(unapproved_to(enf.events, "127.0.0.31").empty()) << all_alerts(enf.events);

  Outcome mon = steps(monitor(), s);
  ASSERT_EQ(mon.status, 0) << mon.log;
  EXPECT_EQ(mon.lines, (std::vector<std::string>{s[0] + " 0", s[1] + " 0"}));
  auto a = unapproved_to(mon.events, "127.0.0.31");
  ASSERT_EQ(a.size(), 1u) << all_alerts(mon.events);
  EXPECT_EQ(a[0].alert().outcome(), "alerted");
  EXPECT_TRUE(unapproved_to(mon.events, kApproved).empty()) << all_alerts(mon.events);
}

// UDP with no connect: every datagram is judged by sendmsg4, whether sent with sendto or sendmsg.
TEST_F(AdvNet, UdpWithoutConnectIsJudgedPerDatagram) {
  Endpoint approved(kApproved, SOCK_DGRAM), evil("127.0.0.31", SOCK_DGRAM);
  ASSERT_TRUE(approved.ok() && evil.ok());
  const std::string e = "127.0.0.31," + evil.port(), ok = std::string(kApproved) + "," + approved.port();
  const std::vector<std::string> s = {"sendto," + e, "sendmsg," + e, "sendto," + ok, "sendmsg," + ok};
  Outcome enf = steps(Rules{}, s);
  ASSERT_EQ(enf.status, 0) << enf.log;
  EXPECT_EQ(enf.lines, (std::vector<std::string>{s[0] + " 1", s[1] + " 1", s[2] + " 0", s[3] + " 0"}));
  EXPECT_EQ(evil.datagrams(), 0) << "a refused datagram arrived";
  EXPECT_EQ(approved.datagrams(), 2);
  auto rec = nets_to(enf.events, "127.0.0.31");
  ASSERT_EQ(rec.size(), 2u) << describe(enf.events);
  EXPECT_EQ(rec[0].net().syscall(), "sendto");
  EXPECT_EQ(rec[1].net().syscall(), "sendmsg");
  for (const auto& r : rec) {
    EXPECT_EQ(r.net().op(), v1::NetOp::SENDTO);
    EXPECT_EQ(r.net().protocol(), "udp");
    EXPECT_TRUE(blocked(r)) << r.DebugString();
  }

  Outcome mon = steps(monitor(), s);
  ASSERT_EQ(mon.status, 0) << mon.log;
  EXPECT_EQ(mon.lines, (std::vector<std::string>{s[0] + " 0", s[1] + " 0", s[2] + " 0", s[3] + " 0"}));
  EXPECT_EQ(evil.datagrams(), 2);
  EXPECT_EQ(nets_to(mon.events, "127.0.0.31").size(), 2u) << describe(mon.events);
  // the first send alerts at once, the second is folded into a summary: together they count both
  uint32_t count = 0;
  for (const auto& a : unapproved_to(mon.events, "127.0.0.31")) {
    EXPECT_EQ(a.alert().outcome(), "alerted");
    EXPECT_EQ(a.alert().evidence().protocol(), "udp");
    count += a.alert().count();
  }
  EXPECT_EQ(count, 2u) << all_alerts(mon.events);
}

// ---- 5-8: what DNS answers approve --------------------------------------------------------

// approved.test is a CNAME for edge.test, whose A record is 127.0.0.32: the answer to the approved
// question approves the address at the end of the chain. Before the lookup the same address is
// a hard-coded one.
TEST_F(AdvNet, CnameChainFromAnApprovedNameApprovesTheAddressItEndsAt) {
  if (!have_dnsmasq()) GTEST_SKIP() << "dnsmasq is not installed: skipped";
  Endpoint edge("127.0.0.32", SOCK_STREAM);
  ASSERT_TRUE(edge.ok());
  auto dns = dns_server({"--cname=approved.test,edge.test", "--host-record=edge.test,127.0.0.32", "--local-ttl=300"},
                        "approved.test", "127.0.0.32");
  ASSERT_TRUE(dns) << read_file(dir_ + "/dnsmasq.err");
  const std::string to = "tcp,127.0.0.32," + edge.port(), lookup = std::string("resolve,") + kResolver + ",approved.test";
  const std::vector<std::string> s = {to, lookup, to};
  for (const Rules& r : {Rules{}, monitor()}) {
    SCOPED_TRACE(r.mode);
    Outcome o = steps(r, s);
    ASSERT_EQ(o.status, 0) << o.log;
    EXPECT_EQ(o.lines, (std::vector<std::string>{to + (r.mode == "enforce" ? " 1" : " 0"), lookup + " 127.0.0.32", to + " 0"}));
    auto answers = of_kind(o.events, v1::Event::DNS);
    ASSERT_EQ(answers.size(), 1u) << describe(o.events);
    const v1::Dns& d = answers[0].dns();
    EXPECT_EQ(d.query(), "approved.test");
    ASSERT_EQ(d.answers_size(), 2);
    EXPECT_EQ(d.answers(0).type(), "CNAME");
    EXPECT_EQ(d.answers(0).value(), "edge.test");
    EXPECT_EQ(d.answers(1).type(), "A");
    ASSERT_EQ(d.addresses_size(), 1);
    EXPECT_EQ(d.addresses(0), "127.0.0.32");
    auto rec = nets_to(o.events, "127.0.0.32");
    ASSERT_EQ(rec.size(), 2u) << describe(o.events);
    EXPECT_EQ(rec[0].net().hostname(), "");
    EXPECT_EQ(rec[1].net().hostname(), "approved.test");
    ASSERT_EQ(rec[1].net().cnames_size(), 1);
    EXPECT_EQ(rec[1].net().cnames(0), "edge.test");
    EXPECT_FALSE(rec[1].has_enforcement() && rec[1].enforcement().verdict() == "blocked") << rec[1].DebugString();
    // one alert: the connect before the lookup
    auto a = unapproved_to(o.events, "127.0.0.32");
    ASSERT_EQ(a.size(), 1u) << all_alerts(o.events);
    EXPECT_EQ(a[0].alert().evidence().hostname(), "");
    EXPECT_EQ(a[0].alert().outcome(), r.mode == "enforce" ? "blocked" : "alerted");
  }
}

// approved.test answers 127.0.0.33 (TTL 1 s), then, from a restarted resolver, 127.0.0.34. The
// process's second lookup approves the new address; the old one stays approved for dns_min_ttl
// (60 s by default) after the answer that named it: both connect, both are named approved.test.
TEST_F(AdvNet, ANameThatMovesApprovesTheNewAddressAndKeepsTheOldForItsTtl) {
  if (!have_dnsmasq()) GTEST_SKIP() << "dnsmasq is not installed: skipped";
  Endpoint before("127.0.0.33", SOCK_STREAM), after("127.0.0.34", SOCK_STREAM);
  ASSERT_TRUE(before.ok() && after.ok());
  const std::string lookup = std::string("resolve,") + kResolver + ",approved.test";
  const std::string to_before = "tcp,127.0.0.33," + before.port(), to_after = "tcp,127.0.0.34," + after.port();
  for (const Rules& r : {Rules{}, monitor()}) {
    SCOPED_TRACE(r.mode);
    auto dns = dns_server({"--host-record=approved.test,127.0.0.33", "--local-ttl=1"}, "approved.test", "127.0.0.33");
    ASSERT_TRUE(dns) << read_file(dir_ + "/dnsmasq.err");
    const std::string moved = dir_ + "/moved-" + r.mode, swapped = dir_ + "/swapped-" + r.mode;
    const std::vector<std::string> s = {lookup, to_before, "touch," + moved, "wait," + swapped, lookup, to_after, to_before};
    bool restarted = false;
    Outcome o = steps(r, s, {}, [&] {
      if (!eventually([&] { return access(moved.c_str(), F_OK) == 0; }, seconds(15))) return;
      dns.reset();  // the name moves
      dns = dns_server({"--host-record=approved.test,127.0.0.34", "--local-ttl=1"}, "approved.test", "127.0.0.34");
      restarted = dns != nullptr;
      write_file(swapped, "");
    });
    ASSERT_TRUE(restarted) << read_file(dir_ + "/dnsmasq.err");
    ASSERT_EQ(o.status, 0) << o.log;
    EXPECT_EQ(o.lines, (std::vector<std::string>{lookup + " 127.0.0.33", to_before + " 0", s[2] + " ok", s[3] + " ok",
                                                 lookup + " 127.0.0.34", to_after + " 0", to_before + " 0"}));
    EXPECT_EQ(of_kind(o.events, v1::Event::DNS).size(), 2u) << describe(o.events);
    auto old_rec = nets_to(o.events, "127.0.0.33"), new_rec = nets_to(o.events, "127.0.0.34");
    ASSERT_EQ(old_rec.size(), 2u) << describe(o.events);
    ASSERT_EQ(new_rec.size(), 1u) << describe(o.events);
    for (const auto* e : {&old_rec[0], &old_rec[1], &new_rec[0]}) {
      EXPECT_EQ(e->net().hostname(), "approved.test") << e->DebugString();
      EXPECT_FALSE(blocked(*e)) << e->DebugString();
    }
    EXPECT_TRUE(alerts_of(o.events, "egress-unapproved").empty()) << all_alerts(o.events);
  }
}

// With `dns_min_ttl: 3s` an address the process no longer uses expires with its answer: after
// the name moved and 3.5 s passed, the old address (never connected to) is refused, while the
// new one, in use, is held ("kept while a connection still sends to them"). The hold is counted
// on sockets whose owner the kernel records, which it does only for DNS sockets and for roles a
// volume budget counts: hence the budget here (without one, the new address expires too).
TEST_F(AdvNet, AnAddressOfAMovedNameExpiresWithItsTtlUnlessInUse) {
  if (!have_dnsmasq()) GTEST_SKIP() << "dnsmasq is not installed: skipped";
  Endpoint before("127.0.0.33", SOCK_STREAM), after("127.0.0.34", SOCK_STREAM);
  ASSERT_TRUE(before.ok() && after.ok());
  auto dns = dns_server({"--host-record=approved.test,127.0.0.33", "--local-ttl=1"}, "approved.test", "127.0.0.33");
  ASSERT_TRUE(dns) << read_file(dir_ + "/dnsmasq.err");
  const std::string lookup = std::string("resolve,") + kResolver + ",approved.test";
  const std::string to_before = "tcp,127.0.0.33," + before.port(), to_after = "tcp,127.0.0.34," + after.port();
  const std::string moved = dir_ + "/moved", swapped = dir_ + "/swapped";
  const std::vector<std::string> s = {lookup,   "touch," + moved, "wait," + swapped, lookup,
                                      to_after, "sleep,3.5",      to_before,         to_after};
  Rules r;
  r.dns_min_ttl = "3s";
  r.extra = "volume:\n  - { id: budget, window: 60s, max_bytes: 1GiB }\n";
  Outcome o = steps(r, s, {}, [&] {
    if (!eventually([&] { return access(moved.c_str(), F_OK) == 0; }, seconds(15))) return;
    dns.reset();
    dns = dns_server({"--host-record=approved.test,127.0.0.34", "--local-ttl=1"}, "approved.test", "127.0.0.34");
    write_file(swapped, "");
  });
  ASSERT_EQ(o.status, 0) << o.log;
  EXPECT_EQ(o.lines, (std::vector<std::string>{lookup + " 127.0.0.33", s[1] + " ok", s[2] + " ok", lookup + " 127.0.0.34",
                                               to_after + " 0", "sleep,3.5 ok", to_before + " 1", to_after + " 0"}));
  auto old_rec = nets_to(o.events, "127.0.0.33");
  ASSERT_EQ(old_rec.size(), 1u) << describe(o.events);
  EXPECT_TRUE(blocked(old_rec[0])) << old_rec[0].DebugString();
  auto a = unapproved_to(o.events, "127.0.0.33");
  ASSERT_EQ(a.size(), 1u) << all_alerts(o.events);
  EXPECT_EQ(a[0].alert().outcome(), "blocked");
  EXPECT_TRUE(unapproved_to(o.events, "127.0.0.34").empty()) << all_alerts(o.events);
}

// A hard-coded address the process never resolved matches no host rule, even though it is what
// the approved name resolves to: refused (enforce) or alerted (monitor), with no hostname. The
// same address after the process resolved the name is approved.
//
// Known gap, asserted as it is: the kernel keeps learned addresses for the whole watched set, not
// per process, so once one watched process resolved the name, another one hard-coding the address
// gets through in enforce mode. The agent, which names addresses per process, still raises the
// alert (outcome `alerted`, not `blocked`).
TEST_F(AdvNet, AHardCodedAddressIsNotApprovedByTheNameItBelongsTo) {
  if (!have_dnsmasq()) GTEST_SKIP() << "dnsmasq is not installed: skipped";
  Endpoint target("127.0.0.35", SOCK_STREAM);
  ASSERT_TRUE(target.ok());
  auto dns = dns_server({"--host-record=approved.test,127.0.0.35", "--local-ttl=300"}, "approved.test", "127.0.0.35");
  ASSERT_TRUE(dns) << read_file(dir_ + "/dnsmasq.err");
  const std::string to = "tcp,127.0.0.35," + target.port(), lookup = std::string("resolve,") + kResolver + ",approved.test";
  // a first process only hard-codes; a second one resolves, then connects; a third hard-codes after that
  const std::string py = "python3 " + steps_ + " ";
  const std::vector<std::string> cmd = {"sh", "-c", py + to + "; " + py + lookup + " " + to + "; " + py + to};
  for (const Rules& r : {Rules{}, monitor()}) {
    SCOPED_TRACE(r.mode);
    const bool enforce = r.mode == "enforce";
    Outcome o = attack(r, cmd);
    ASSERT_EQ(o.status, 0) << o.log;
    auto rec = nets_to(o.events, "127.0.0.35");
    ASSERT_EQ(rec.size(), 3u) << describe(o.events);
    EXPECT_EQ(o.lines, (std::vector<std::string>{to + (enforce ? " 1" : " 0"), lookup + " 127.0.0.35", to + " 0", to + " 0"}));
    EXPECT_EQ(rec[0].net().hostname(), "");
    EXPECT_EQ(rec[1].net().hostname(), "approved.test");
    EXPECT_EQ(rec[2].net().hostname(), "");
    EXPECT_EQ(blocked(rec[0]), enforce);
    EXPECT_FALSE(blocked(rec[1]));
    EXPECT_FALSE(blocked(rec[2])) << "the gap is closed: make this test expect the block";
    auto a = unapproved_to(o.events, "127.0.0.35");
    ASSERT_EQ(a.size(), 2u) << all_alerts(o.events);
    EXPECT_EQ(a[0].alert().outcome(), enforce ? "blocked" : "alerted");
    EXPECT_EQ(a[1].alert().outcome(), "alerted");
    for (const auto& e : a) EXPECT_EQ(e.alert().evidence().hostname(), "");
    EXPECT_NE(a[0].process().pid(), a[1].process().pid());
  }
}

// The answer comes over TCP (a 2-byte length, then the message, in one segment): learned the
// same way as over UDP.
TEST_F(AdvNet, DnsOverTcpAnswersApproveLikeUdpOnes) {
  if (!have_dnsmasq()) GTEST_SKIP() << "dnsmasq is not installed: skipped";
  Endpoint target("127.0.0.36", SOCK_STREAM);
  ASSERT_TRUE(target.ok());
  auto dns = dns_server({"--host-record=approved.test,127.0.0.36", "--local-ttl=300"}, "approved.test", "127.0.0.36");
  ASSERT_TRUE(dns) << read_file(dir_ + "/dnsmasq.err");
  const std::string to = "tcp,127.0.0.36," + target.port(), lookup = std::string("resolve-tcp,") + kResolver + ",approved.test";
  const std::vector<std::string> s = {to, lookup, to};
  for (const Rules& r : {Rules{}, monitor()}) {
    SCOPED_TRACE(r.mode);
    Outcome o = steps(r, s);
    ASSERT_EQ(o.status, 0) << o.log;
    EXPECT_EQ(o.lines, (std::vector<std::string>{to + (r.mode == "enforce" ? " 1" : " 0"), lookup + " 127.0.0.36", to + " 0"}));
    auto answers = of_kind(o.events, v1::Event::DNS);
    ASSERT_EQ(answers.size(), 1u) << describe(o.events);
    EXPECT_EQ(answers[0].dns().query(), "approved.test");
    EXPECT_EQ(answers[0].dns().server(), kResolver);
    EXPECT_FALSE(answers[0].dns().truncated());
    // the resolver connect itself is TCP to port 53, approved
    bool to_resolver = false;
    for (const auto& e : nets_to(o.events, kResolver)) to_resolver |= e.net().protocol() == "tcp" && e.net().port() == 53;
    EXPECT_TRUE(to_resolver) << describe(o.events);
    auto rec = nets_to(o.events, "127.0.0.36");
    ASSERT_EQ(rec.size(), 2u) << describe(o.events);
    EXPECT_EQ(rec[1].net().hostname(), "approved.test");
    EXPECT_FALSE(blocked(rec[1]));
    EXPECT_EQ(unapproved_to(o.events, "127.0.0.36").size(), 1u) << all_alerts(o.events);
    EXPECT_TRUE(unapproved_to(o.events, kResolver).empty()) << all_alerts(o.events);
  }
}

// ---- 9. loss --------------------------------------------------------------------------------

// A burst of 100k opens from a child of the attacker overflows a 1 MiB ring read once a second.
// Loss is counted and recorded as GAP events with running totals that match the agent's own
// count. With fail_closed, while records are being lost, the attacker's connects, made during the
// burst, are refused with EPERM (even to the approved endpoint, whose connect goes through again
// once records flow); the refusals are one `fail-closed` alert with their count.
TEST_F(AdvNet, BurstLossIsAGapAndFailClosedRefusesTheAttackDuringIt) {
  Endpoint approved(kApproved, SOCK_STREAM), evil("127.0.0.31", SOCK_STREAM);
  ASSERT_TRUE(approved.ok() && evil.ok());
  const std::string done = dir_ + "/burst-done";
  const std::string ok = std::string(kApproved) + "," + approved.port();
  const std::vector<std::string> s = {"burst,100000," + done, "until-refused," + ok + "," + done,
                                      "tcp,127.0.0.31," + evil.port(), "wait-burst", "sleep,2.5", "tcp," + ok};
  const std::vector<std::string> slow_ring = {"--ringbuf-mib", "1", "--wakeup-kib", "4096", "--poll-ms", "1000"};
  Rules r;
  r.fail_closed = true;
  Outcome o = steps(r, s, slow_ring);
  ASSERT_EQ(o.status, 0) << o.log;
  EXPECT_EQ(o.lines, (std::vector<std::string>{s[0] + " started", s[1] + " refused", s[2] + " 1", "wait-burst 0",
                                               "sleep,2.5 ok", s[5] + " 0"}));
  uint64_t lost = 0;
  for (const auto& g : of_kind(o.events, v1::Event::GAP)) {
    EXPECT_EQ(g.gap().where(), "kernel_ringbuf");
    lost += g.gap().lost();
    EXPECT_EQ(g.gap().lost_total(), lost);
  }
  ASSERT_GT(lost, 0u) << "no loss: the burst did not overflow the ring";
  size_t opens = 0;
  for (const auto& e : of_kind(o.events, v1::Event::FILE)) opens += e.file().path() == "/etc/hostname";
  EXPECT_GE(opens + lost, 100000u);  // every open is an event or counted lost
  std::smatch m;
  ASSERT_TRUE(std::regex_search(o.log, m, std::regex("lost: ([0-9]+) in the kernel"))) << o.log;
  EXPECT_EQ(std::stoull(m[1]), lost);
  uint32_t refused = 0;
  for (const auto& a : alerts_of(o.events, "fail-closed")) {
    EXPECT_EQ(a.alert().outcome(), "blocked");
    refused += a.alert().count();
  }
  EXPECT_GE(refused, 1u) << all_alerts(o.events);
  // the last connect, after the burst, went through and is recorded as approved
  auto last = nets_to(o.events, kApproved);
  ASSERT_FALSE(last.empty());
  EXPECT_FALSE(last.back().has_enforcement()) << last.back().DebugString();
  EXPECT_TRUE(last.back().net().result() == 0 || last.back().net().result() == -EINPROGRESS) << last.back().DebugString();

  // in monitor mode the same burst is the same kind of gap, and nothing is refused
  Outcome mon = steps(monitor(), s, slow_ring);
  ASSERT_EQ(mon.status, 0) << mon.log;
  EXPECT_EQ(mon.lines, (std::vector<std::string>{s[0] + " started", s[1] + " never", s[2] + " 0", "wait-burst 0",
                                                 "sleep,2.5 ok", s[5] + " 0"}));
  lost = 0;
  for (const auto& g : of_kind(mon.events, v1::Event::GAP)) lost += g.gap().lost();
  EXPECT_GT(lost, 0u);
}

// ---- 10. the agent killed mid-attack ------------------------------------------------------------

// An enforcing agent watches the attacker (comm cf-adv-net) in a cgroup of the test's. The agent
// is killed with SIGKILL mid-attack: the pinned programs go on refusing the unapproved address
// (the approved one still connects) and track the child the attacker forks meanwhile. A new agent
// adopts the pins and the tracked tree: the child's and the parent's next unapproved connects are
// blocked and alerted by it, and the records made while no agent ran reach its output.
TEST_F(AdvNet, AgentKilledMidAttackKeepsBlockingAndPicksTheTreeUpAgain) {
  TestCgroup cg("advnet-restart");
  Endpoint approved(kApproved, SOCK_STREAM), e1("127.0.0.31", SOCK_STREAM), e2("127.0.0.32", SOCK_STREAM),
      e3("127.0.0.33", SOCK_STREAM);
  ASSERT_TRUE(approved.ok() && e1.ok() && e2.ok() && e3.ok());
  const std::string rules = write_rules(Rules{});
  const std::string py = dir_ + "/cf-adv-net";  // the attacker runs under a name the rules target
  ASSERT_EQ(symlink("/usr/bin/python3", py.c_str()), 0);
  auto agent_argv = [&](const std::string& out) {
    std::vector<std::string> a = {bin_, "agent", "--rules", rules, "--cgroup", cg.path(), "--pin-dir", pin_dir_, "-o", out};
    for (auto& f : private_outputs(dir_)) a.push_back(f);
    return a;
  };
  auto ready = [&](const std::string& log) {
    return eventually([&] { return read_file(log).find("watching:") != std::string::npos; }, seconds(20));
  };
  const std::string out1 = dir_ + "/agent1.jsonl", out2 = dir_ + "/agent2.jsonl", log1 = dir_ + "/agent1.log",
                    log2 = dir_ + "/agent2.log";
  const std::string up1 = dir_ + "/up1", down = dir_ + "/down", forked = dir_ + "/forked", up2 = dir_ + "/up2";
  const std::string t1 = "tcp,127.0.0.31," + e1.port(), t2 = "tcp,127.0.0.32," + e2.port(),
                    t3 = "tcp,127.0.0.33," + e3.port(), ok = std::string("tcp,") + kApproved + "," + approved.port();
  const std::vector<std::string> s = {"pid", t1, "touch," + up1, "wait," + down, t1, ok,
                                      "fork", "touch," + forked, "wait," + up2, t2, "exit", t3};
  auto agent1 = std::make_unique<Child>(agent_argv(out1), "", log1);
  ASSERT_TRUE(ready(log1)) << read_file(log1);
  std::vector<std::string> cmd = {py, steps_};
  cmd.insert(cmd.end(), s.begin() + 0, s.end());
  const std::string attack_out = dir_ + "/attack.out";
  Child attacker(cmd, attack_out, dir_ + "/attack.err", cg.path());
  ASSERT_TRUE(eventually([&] { return access(up1.c_str(), F_OK) == 0; }, seconds(15))) << read_file(dir_ + "/attack.err");
  // the first agent blocked and reported the first attempt
  ASSERT_TRUE(eventually([&] { return !unapproved_to(read_events(out1), "127.0.0.31").empty(); }, seconds(10)))
      << describe(read_events(out1));
  agent1->signal(SIGKILL);
  agent1->wait(seconds(10));
  agent1.reset();
  write_file(down, "");
  // no agent: the attacker goes on, forks
  ASSERT_TRUE(eventually([&] { return access(forked.c_str(), F_OK) == 0; }, seconds(15))) << read_file(dir_ + "/attack.err");
  const std::string status = [&] {
    const std::string f = dir_ + "/status.out";
    run({"sh", "-c", bin_ + " status --pin-dir " + pin_dir_ + " > " + f + " 2>&1"}, seconds(20));
    return read_file(f);
  }();
  EXPECT_NE(status.find("not running"), std::string::npos) << status;
  Child agent2(agent_argv(out2), "", log2);
  ASSERT_TRUE(ready(log2)) << read_file(log2);
  EXPECT_NE(read_file(log2).find("adopted"), std::string::npos) << read_file(log2);
  write_file(up2, "");
  ASSERT_EQ(attacker.wait(seconds(30)), 0) << read_file(dir_ + "/attack.err");
  std::vector<std::string> lines;
  {
    std::istringstream in(read_file(attack_out));
    for (std::string l; std::getline(in, l);) lines.push_back(l);
  }
  ASSERT_EQ(lines.size(), 12u) << read_file(attack_out);
  const uint32_t parent = std::stoul(lines[0].substr(4));
  ASSERT_EQ(lines[6].rfind("child ", 0), 0u) << lines[6];
  const uint32_t child = std::stoul(lines[6].substr(6));
  EXPECT_EQ(std::vector<std::string>(lines.begin() + 1, lines.end()),
            (std::vector<std::string>{t1 + " 1", "touch," + up1 + " ok", "wait," + down + " ok", t1 + " 1", ok + " 0",
                                      lines[6], "touch," + forked + " ok", "wait," + up2 + " ok", t2 + " 1", "fork 0",
                                      t3 + " 1"}));
  // the new agent judged the child's and the parent's connects after it came up
  auto judged = [&](const std::string& addr, uint32_t pid) {
    for (const auto& e : nets_to(read_events(out2), addr))
      if (e.process().pid() == pid && blocked(e)) return true;
    return false;
  };
  EXPECT_TRUE(eventually([&] { return judged("127.0.0.32", child) && judged("127.0.0.33", parent); }, seconds(10)))
      << describe(read_events(out2));
  agent2.signal(SIGINT);
  ASSERT_EQ(agent2.wait(seconds(20)), 0) << read_file(log2);
  auto evs1 = read_events(out1), evs2 = read_events(out2);
  for (const auto& a : unapproved_to(evs1, "127.0.0.31")) EXPECT_EQ(a.process().pid(), parent);
  // and alerted them: the child's first, the parent's (its second for the new agent, after the
  // connect made while no agent ran) folded into the summary written at stop
  auto a = unapproved_to(evs2, "127.0.0.32");
  ASSERT_EQ(a.size(), 1u) << all_alerts(evs2);
  EXPECT_EQ(a[0].process().pid(), child);
  EXPECT_EQ(a[0].alert().outcome(), "blocked");
  uint32_t parent_count = 0;
  for (const auto& al : alerts_of(evs2, "egress-unapproved"))
    if (al.process().pid() == parent) {
      EXPECT_EQ(al.alert().outcome(), "blocked");
      parent_count += al.alert().count();
    }
  EXPECT_EQ(parent_count, 2u) << all_alerts(evs2);
  // the child is known to the new agent as part of the attacker's tree
  bool child_known = false;
  for (const auto& e : of_pid(evs2, child))
    if (e.kind() == v1::Event::NET && e.net().address() == "127.0.0.32") {
      child_known = true;
      EXPECT_EQ(e.process().root_pid(), parent) << e.DebugString();
      EXPECT_EQ(e.process().target(), "attacker") << e.DebugString();
    }
  EXPECT_TRUE(child_known) << describe(evs2);
  // what happened while no agent ran waited in the pinned ring buffer
  size_t while_down = 0;
  for (const auto& e : of_pid(evs2, parent))
    if (e.kind() == v1::Event::NET && e.net().address() == "127.0.0.31" && blocked(e)) ++while_down;
  EXPECT_EQ(while_down, 1u) << describe(evs2);
  bool fork_seen = false;
  for (const auto& e : of_kind(evs2, v1::Event::FORK)) fork_seen |= e.fork().child_pid() == child;
  EXPECT_TRUE(fork_seen) << describe(evs2);
}

}  // namespace
}  // namespace clawfence::testing
