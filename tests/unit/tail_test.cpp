// Live tail: the filter, `--since`, the text lines, and the server with real clients on a Unix
// socket in a temporary directory (no root needed).
#include "output/tail.h"

#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "app/tail_cmd.h"
#include "output/json_lines.h"
#include "proto/timestamp.h"
#include "temp_dir.h"

namespace clawfence::output {
namespace {

using clawfence::testing::TempDir;
using Clock = std::chrono::steady_clock;

constexpr int64_t kT0 = 1700000000LL * 1'000'000'000 + 113'000'000;  // 2023-11-14T22:13:20.113Z

v1::Event base_event(v1::Event::Kind kind, uint32_t pid, const std::string& comm, int64_t t = kT0) {
  v1::Event ev;
  v1::set_timestamp(t, ev.mutable_time());
  ev.set_kind(kind);
  if (pid != 0) {
    ev.mutable_process()->set_pid(pid);
    ev.mutable_process()->set_comm(comm);
  }
  return ev;
}

v1::Event exec_event(uint32_t pid, int64_t t = kT0) {
  v1::Event ev = base_event(v1::Event::EXEC, pid, "bash", t);
  ev.mutable_exec()->set_filename("/usr/bin/curl");
  for (const char* a : {"curl", "-s", "http://x"}) ev.mutable_exec()->add_argv(a);
  return ev;
}

v1::Event file_event(uint32_t pid, const std::string& path, int64_t t = kT0) {
  v1::Event ev = base_event(v1::Event::FILE, pid, "node", t);
  ev.mutable_file()->set_op(v1::FileOp::OPEN);
  ev.mutable_file()->set_path(path);
  ev.mutable_file()->set_access("read");
  return ev;
}

v1::Event alert_event(uint32_t pid, const std::string& rule, const std::string& severity, const std::string& role,
                      int64_t t = kT0) {
  v1::Event ev = base_event(v1::Event::ALERT, pid, "node", t);
  auto* a = ev.mutable_alert();
  a->set_rule_id(rule);
  a->set_severity(severity);
  a->set_role(role);
  a->set_outcome("alerted");
  return ev;
}

v1::TailRequest request(std::function<void(v1::TailRequest&)> fill) {
  v1::TailRequest r;
  fill(r);
  return r;
}

// ---- filter ----------------------------------------------------------------------------------

TEST(TailFilter, Table) {
  v1::Event exec = exec_event(100);
  exec.mutable_process()->add_lineage()->set_pid(50);  // started by 50
  exec.mutable_process()->add_lineage()->set_pid(1);
  v1::Event crit = alert_event(200, "file-deny-ssh", "critical", "tool");
  v1::Event warn = alert_event(300, "exec-curl", "warning", "gateway");
  v1::Event guarded = file_event(400, "/root/.ssh/id_ed25519");
  guarded.mutable_enforcement()->set_verdict("killed");
  guarded.mutable_enforcement()->set_rule_id("file-deny-ssh");
  v1::Event env = base_event(v1::Event::ENV, 500, "node");
  env.mutable_env()->set_op("getenv");
  env.mutable_env()->set_role("tool");
  v1::Event gateway = base_event(v1::Event::NET, 600, "openclaw-gatewa");

  struct Case {
    const char* name;
    v1::TailRequest req;
    std::vector<bool> want;  // exec, crit, warn, guarded, env, gateway
  };
  const std::vector<Case> cases = {
      {"empty: everything", v1::TailRequest(), {true, true, true, true, true, true}},
      {"kind alert", request([](auto& r) { r.add_kinds(v1::Event::ALERT); }), {false, true, true, false, false, false}},
      {"kinds exec or file",
       request([](auto& r) {
         r.add_kinds(v1::Event::EXEC);
         r.add_kinds(v1::Event::FILE);
       }),
       {true, false, false, true, false, false}},
      {"severity warning: alerts at or above only",
       request([](auto& r) { r.set_min_severity("warning"); }),
       {false, true, true, false, false, false}},
      {"severity critical", request([](auto& r) { r.set_min_severity("critical"); }),
       {false, true, false, false, false, false}},
      {"rule: alert or enforcement", request([](auto& r) { r.add_rule_ids("file-deny-ssh"); }),
       {false, true, false, true, false, false}},
      {"pid: the process and its descendants", request([](auto& r) { r.add_pids(50); }),
       {true, false, false, false, false, false}},
      {"pids are alternatives",
       request([](auto& r) {
         r.add_pids(100);
         r.add_pids(300);
       }),
       {true, false, true, false, false, false}},
      {"comm", request([](auto& r) { r.add_comms("bash"); }), {true, false, false, false, false, false}},
      {"comm longer than the kernel keeps",
       request([](auto& r) { r.add_comms("openclaw-gateway"); }),
       {false, false, false, false, false, true}},
      {"role: alert or env", request([](auto& r) { r.add_roles("tool"); }), {false, true, false, false, true, false}},
      {"filters combine (AND)",
       request([](auto& r) {
         r.add_roles("tool");
         r.add_kinds(v1::Event::ENV);
       }),
       {false, false, false, false, true, false}},
      {"severity and rule",
       request([](auto& r) {
         r.set_min_severity("info");
         r.add_rule_ids("exec-curl");
       }),
       {false, false, true, false, false, false}},
  };
  const std::vector<const v1::Event*> events = {&exec, &crit, &warn, &guarded, &env, &gateway};
  for (const auto& c : cases)
    for (size_t i = 0; i < events.size(); ++i)
      EXPECT_EQ(tail_matches(c.req, *events[i]), c.want[i]) << c.name << ", event " << i;
}

// ---- the command's pieces --------------------------------------------------------------------

TEST(TailSince, DurationsAndTimes) {
  const int64_t now = kT0;
  int64_t since = 0;
  std::string err;
  struct Good {
    const char* text;
    int64_t want;
  };
  for (const Good& g : {Good{"30s", now - 30'000'000'000LL}, Good{"5m", now - 300'000'000'000LL},
                        Good{"2h", now - 7200'000'000'000LL}, Good{"1d", now - 86400'000'000'000LL},
                        Good{"250ms", now - 250'000'000LL}, Good{"0s", now},
                        Good{"2023-11-14T22:00:00Z", 1699999200LL * 1'000'000'000},
                        Good{"2023-11-14T23:00:00+01:00", 1699999200LL * 1'000'000'000},
                        Good{"2023-11-14T22:00:00.5Z", 1699999200LL * 1'000'000'000 + 500'000'000},
                        Good{"999999999d", 0}}) {
    ASSERT_TRUE(app::parse_since(g.text, now, &since, &err)) << g.text << ": " << err;
    EXPECT_EQ(since, g.want) << g.text;
  }
  for (const char* bad : {"", "5", "5x", "-5m", "1.5h", "yesterday", "2023-11-14", "m5", "30 s"}) {
    err.clear();
    EXPECT_FALSE(app::parse_since(bad, now, &since, &err)) << bad;
    EXPECT_NE(err.find("--since"), std::string::npos) << bad;
  }
}

TEST(TailSince, BadSinceExitsTwo) {
  app::TailCommandOptions opts;
  opts.socket = "/nonexistent/clawfence.sock";
  opts.since = "yesterday";
  FILE* out = tmpfile();
  FILE* err = tmpfile();
  ASSERT_TRUE(out && err);
  EXPECT_EQ(app::run_tail(opts, out, err), 2);
  fclose(out);
  fclose(err);
}

TEST(TailRequestBuild, KindsSeverityLists) {
  app::TailCommandOptions opts;
  opts.kinds = {"Exec,NET", "alert"};
  opts.min_severity = "Warning";
  opts.rule_ids = {"a,b"};
  opts.pids = {7, 8};
  opts.comms = {"node"};
  opts.roles = {"tool, gateway"};
  v1::TailRequest req;
  std::string err;
  ASSERT_TRUE(app::build_tail_request(opts, kT0, &req, &err)) << err;
  ASSERT_EQ(req.kinds_size(), 3);
  EXPECT_EQ(req.kinds(0), v1::Event::EXEC);
  EXPECT_EQ(req.kinds(1), v1::Event::NET);
  EXPECT_EQ(req.kinds(2), v1::Event::ALERT);
  EXPECT_EQ(req.min_severity(), "warning");
  ASSERT_EQ(req.rule_ids_size(), 2);
  EXPECT_EQ(req.rule_ids(1), "b");
  EXPECT_EQ(req.pids_size(), 2);
  ASSERT_EQ(req.roles_size(), 2);
  EXPECT_EQ(req.roles(1), "gateway");
  EXPECT_FALSE(req.has_since());

  opts.kinds = {"exec,bogus"};
  EXPECT_FALSE(app::build_tail_request(opts, kT0, &req, &err));
  EXPECT_NE(err.find("bogus"), std::string::npos);
  opts.kinds = {"kind_unspecified"};
  EXPECT_FALSE(app::build_tail_request(opts, kT0, &req, &err));
  opts.kinds.clear();
  opts.min_severity = "loud";
  EXPECT_FALSE(app::build_tail_request(opts, kT0, &req, &err));
  opts.min_severity.clear();
  opts.since = "5m";
  ASSERT_TRUE(app::build_tail_request(opts, kT0, &req, &err));
  EXPECT_EQ(v1::timestamp_ns(req.since()), kT0 - 300'000'000'000LL);
}

TEST(TailFormat, EachKind) {
  const app::LineStyle plain{false, true};
  auto line = [&](const v1::Event& ev) { return app::format_event_line(ev, plain); };

  EXPECT_EQ(line(exec_event(4243)), "22:13:20.113 exec     - bash[4243] /usr/bin/curl curl -s http://x");

  v1::Event fork = base_event(v1::Event::FORK, 4242, "node");
  fork.mutable_fork()->set_child_pid(4244);
  EXPECT_EQ(line(fork), "22:13:20.113 fork     - node[4242] fork child 4244");

  v1::Event exit_ok = base_event(v1::Event::EXIT, 4242, "node");
  exit_ok.mutable_exit()->set_code(0);
  EXPECT_EQ(line(exit_ok), "22:13:20.113 exit     - node[4242] exit 0");
  v1::Event killed = base_event(v1::Event::EXIT, 4242, "node");
  killed.mutable_exit()->set_signal("SIGKILL");
  EXPECT_EQ(line(killed), "22:13:20.113 exit     - node[4242] exit SIGKILL");

  v1::Event comm = base_event(v1::Event::COMM, 4242, "openclaw");
  comm.mutable_comm()->set_old_comm("node");
  comm.mutable_comm()->set_new_comm("openclaw");
  EXPECT_EQ(line(comm), "22:13:20.113 comm     - openclaw[4242] comm node -> openclaw");

  v1::Event file = file_event(4242, "/root/.ssh/id_ed25519");
  file.mutable_enforcement()->set_verdict("killed");
  file.mutable_enforcement()->set_rule_id("file-deny-ssh");
  EXPECT_EQ(line(file), "22:13:20.113 file     - node[4242] open /root/.ssh/id_ed25519 (read) killed (file-deny-ssh)");
  v1::Event rename = base_event(v1::Event::FILE, 4242, "node");
  rename.mutable_file()->set_op(v1::FileOp::RENAME);
  rename.mutable_file()->set_path("/tmp/a");
  rename.mutable_file()->set_new_path("/tmp/b");
  rename.mutable_file()->set_error("EXDEV");
  EXPECT_EQ(line(rename), "22:13:20.113 file     - node[4242] rename /tmp/a -> /tmp/b EXDEV");

  v1::Event net = base_event(v1::Event::NET, 4242, "node");
  net.mutable_net()->set_op(v1::NetOp::CONNECT);
  net.mutable_net()->set_protocol("tcp");
  net.mutable_net()->set_address("1.2.3.4");
  net.mutable_net()->set_port(443);
  net.mutable_net()->set_hostname("api.openai.com");
  net.mutable_net()->set_error("ECONNREFUSED");
  EXPECT_EQ(line(net), "22:13:20.113 net      - node[4242] connect tcp api.openai.com/1.2.3.4:443 ECONNREFUSED");
  v1::Event net6 = base_event(v1::Event::NET, 4242, "node");
  net6.mutable_net()->set_op(v1::NetOp::SENDTO);
  net6.mutable_net()->set_protocol("udp");
  net6.mutable_net()->set_address("::1");
  net6.mutable_net()->set_port(53);
  net6.mutable_enforcement()->set_verdict("blocked");
  net6.mutable_enforcement()->set_rule_id("egress-default");
  EXPECT_EQ(line(net6), "22:13:20.113 net      - node[4242] sendto udp [::1]:53 blocked (egress-default)");

  v1::Event dns = base_event(v1::Event::DNS, 4242, "node");
  dns.mutable_dns()->set_query("api.openai.com");
  dns.mutable_dns()->set_query_type("A");
  dns.mutable_dns()->add_addresses("1.2.3.4");
  dns.mutable_dns()->add_addresses("5.6.7.8");
  EXPECT_EQ(line(dns), "22:13:20.113 dns      - node[4242] api.openai.com A -> 1.2.3.4, 5.6.7.8");
  v1::Event nx = base_event(v1::Event::DNS, 4242, "node");
  nx.mutable_dns()->set_query("nope.test");
  nx.mutable_dns()->set_query_type("AAAA");
  nx.mutable_dns()->set_rcode("NXDOMAIN");
  EXPECT_EQ(line(nx), "22:13:20.113 dns      - node[4242] nope.test AAAA -> NXDOMAIN");

  v1::Event gap = base_event(v1::Event::GAP, 0, "");
  gap.mutable_gap()->set_where("kernel_ringbuf");
  gap.mutable_gap()->set_lost(12);
  EXPECT_EQ(line(gap), "22:13:20.113 gap      - - 12 records lost at kernel_ringbuf");

  v1::Event crit = alert_event(4242, "file-deny-ssh", "critical", "tool");
  crit.mutable_alert()->set_description("SSH keys");
  crit.mutable_alert()->set_outcome("killed");
  crit.mutable_alert()->mutable_evidence()->set_path("/root/.ssh/id_ed25519");
  crit.mutable_enforcement()->set_verdict("killed");
  crit.mutable_enforcement()->set_rule_id("file-deny-ssh");
  EXPECT_EQ(line(crit), "22:13:20.113 critical tool node[4242] file-deny-ssh: SSH keys, /root/.ssh/id_ed25519 killed");

  v1::Event warn = alert_event(4243, "exec-curl", "warning", "tool");
  warn.mutable_process()->set_comm("bash");
  warn.mutable_alert()->mutable_evidence()->set_exe("/usr/bin/curl");
  warn.mutable_alert()->mutable_evidence()->add_argv("curl");
  warn.mutable_alert()->set_count(3);
  EXPECT_EQ(line(warn), "22:13:20.113 warning  tool bash[4243] exec-curl: /usr/bin/curl curl (x3) alerted");

  v1::Event egress = alert_event(4242, "egress-unapproved", "error", "gateway");
  egress.mutable_alert()->set_description("unapproved egress");
  egress.mutable_alert()->mutable_evidence()->set_protocol("tcp");
  egress.mutable_alert()->mutable_evidence()->set_address("9.9.9.9");
  egress.mutable_alert()->mutable_evidence()->set_port(443);
  EXPECT_EQ(line(egress),
            "22:13:20.113 error    gateway node[4242] egress-unapproved: unapproved egress, tcp 9.9.9.9:443 alerted");

  v1::Event guard = base_event(v1::Event::GUARD, 4242, "node");
  guard.mutable_guard()->set_what("raw_socket");
  guard.mutable_guard()->set_socket("inet raw 255");
  guard.mutable_enforcement()->set_verdict("blocked");
  guard.mutable_enforcement()->set_rule_id("raw-sockets");
  EXPECT_EQ(line(guard), "22:13:20.113 guard    - node[4242] raw_socket inet raw 255 blocked (raw-sockets)");

  v1::Event env = base_event(v1::Event::ENV, 4242, "node");
  env.mutable_env()->set_op("getenv");
  env.mutable_env()->set_name("OPENAI_API_KEY");
  env.mutable_env()->set_role("gateway");
  env.mutable_env()->set_fingerprint("0123456789abcdef");
  EXPECT_EQ(line(env), "22:13:20.113 env      gateway node[4242] getenv OPENAI_API_KEY");

  v1::Event agent = base_event(v1::Event::AGENT, 0, "");
  agent.mutable_agent()->set_what("rules_reloaded");
  agent.mutable_agent()->set_detail("12 rules");
  EXPECT_EQ(line(agent), "22:13:20.113 agent    - - rules_reloaded 12 rules");
}

TEST(TailFormat, EscapesControlCharactersAndColours) {
  v1::Event ev = file_event(7, "/tmp/\x1b]0;owned\x07x");
  ev.mutable_process()->set_comm("a\nb\xc2\x9b" "c");
  const std::string plain = app::format_event_line(ev, {false, true});
  EXPECT_EQ(plain, "22:13:20.113 file     - a\\x0ab\\u009bc[7] open /tmp/\\x1b]0;owned\\x07x (read)");
  EXPECT_EQ(plain.find('\x1b'), std::string::npos);

  const std::string crit = app::format_event_line(alert_event(7, "r", "critical", "tool"), {true, true});
  EXPECT_NE(crit.find("\033[1;31mcritical\033[0m"), std::string::npos) << crit;
  const std::string warn = app::format_event_line(alert_event(7, "r", "warning", "tool"), {true, true});
  EXPECT_NE(warn.find("\033[33mwarning \033[0m"), std::string::npos) << warn;
  const std::string exec = app::format_event_line(exec_event(7), {true, true});
  EXPECT_NE(exec.find("\033[2mexec    \033[0m"), std::string::npos) << exec;
}

TEST(TailWire, DelimitedReaderAcrossCutReads) {
  std::string stream;
  for (int i = 0; i < 3; ++i) {
    v1::TailMessage m;
    *m.mutable_event() = exec_event(100 + i);
    stream += serialize_delimited(m);
  }
  DelimitedReader reader;
  std::vector<uint32_t> pids;
  for (char ch : stream) {  // one byte at a time: every cut position
    reader.append(&ch, 1);
    v1::TailMessage m;
    while (reader.next(m) == DelimitedReader::Status::kMessage) pids.push_back(m.event().process().pid());
  }
  EXPECT_EQ(pids, (std::vector<uint32_t>{100, 101, 102}));
  EXPECT_EQ(reader.buffered(), 0u);

  DelimitedReader small(16);
  v1::TailMessage big;
  *big.mutable_event() = exec_event(1);
  const std::string bytes = serialize_delimited(big);
  small.append(bytes.data(), bytes.size());
  EXPECT_EQ(small.next(big), DelimitedReader::Status::kBad);  // over the limit
}

// ---- server and clients ----------------------------------------------------------------------

bool wait_for(const std::function<bool()>& done, int timeout_ms = 5000) {
  const auto end = Clock::now() + std::chrono::milliseconds(timeout_ms);
  while (Clock::now() < end) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return done();
}

// A minimal client on the raw protocol.
class RawClient {
 public:
  explicit RawClient(const std::string& path) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path.c_str());
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  ~RawClient() { close(); }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  bool connected() const { return connected_; }
  void send(const v1::TailRequest& req) {
    const std::string bytes = serialize_delimited(req);
    ASSERT_EQ(::write(fd_, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  }
  // The next message, or false on timeout or end of stream.
  bool next(v1::TailMessage* msg, int timeout_ms = 5000) {
    const auto end = Clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
      if (reader_.next(*msg) == DelimitedReader::Status::kMessage) return true;
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now()).count();
      if (left <= 0) return false;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left)) <= 0) continue;
      char buf[65536];
      const ssize_t n = ::read(fd_, buf, sizeof(buf));
      if (n <= 0) {
        eof_ = n == 0;
        return false;
      }
      reader_.append(buf, static_cast<size_t>(n));
    }
  }
  // Reads `n` events (after the hello); the `dropped` messages are summed into *dropped.
  std::vector<v1::Event> events(size_t n, uint64_t* dropped = nullptr, int timeout_ms = 5000) {
    std::vector<v1::Event> out;
    v1::TailMessage m;
    while (out.size() < n && next(&m, timeout_ms)) {
      if (m.has_event()) out.push_back(m.event());
      if (m.has_dropped() && dropped) *dropped += m.dropped();
      if (m.has_hello()) hello_ = m.hello();
    }
    return out;
  }
  const v1::TailHello& hello() const { return hello_; }
  bool eof() const { return eof_; }

 private:
  int fd_ = -1;
  bool connected_ = false;
  bool eof_ = false;
  DelimitedReader reader_;
  v1::TailHello hello_;
};

class Reports {
 public:
  Report sink() {
    return [this](v1::Event ev) {
      std::lock_guard<std::mutex> lock(mu_);
      events_.push_back(std::move(ev));
    };
  }
  std::vector<v1::Event> events() const {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }
  bool has(const std::function<bool(const v1::Event&)>& pred) const {
    for (const auto& e : events())
      if (pred(e)) return true;
    return false;
  }

 private:
  mutable std::mutex mu_;
  std::vector<v1::Event> events_;
};

TailOptions options_in(const TempDir& dir) {
  TailOptions o;
  o.socket_path = dir / "run/clawfence.sock";
  o.version = "test";
  o.host = "testhost";
  return o;
}

std::unique_ptr<TailServer> open_server(const TailOptions& o, Report report = nullptr) {
  std::string err;
  auto s = TailServer::open(o, std::move(report), &err);
  EXPECT_NE(s, nullptr) << err;
  return s;
}

// A varied stream: events of three processes, alerts among them.
std::vector<v1::Event> mixed_stream(size_t n) {
  std::vector<v1::Event> out;
  for (size_t i = 0; i < n; ++i) {
    const int64_t t = kT0 + static_cast<int64_t>(i) * 1000;
    const uint32_t pid = 100 + static_cast<uint32_t>(i % 3);
    if (i % 5 == 0) out.push_back(alert_event(pid, "rule-" + std::to_string(i % 2), "warning", "tool", t));
    else if (i % 2 == 0) out.push_back(exec_event(pid, t));
    else out.push_back(file_event(pid, "/tmp/f" + std::to_string(i), t));
  }
  return out;
}

bool same(const v1::Event& a, const v1::Event& b) { return a.SerializeAsString() == b.SerializeAsString(); }

TEST(TailServer, TwoClientsWithDifferentFiltersGetTheirEventsInOrder) {
  TempDir dir;
  const TailOptions o = options_in(dir);
  auto server = open_server(o);
  ASSERT_TRUE(server);

  RawClient alerts(o.socket_path);
  RawClient pid101(o.socket_path);
  ASSERT_TRUE(alerts.connected() && pid101.connected());
  alerts.send(request([](auto& r) { r.add_kinds(v1::Event::ALERT); }));
  pid101.send(request([](auto& r) { r.add_pids(101); }));
  ASSERT_TRUE(wait_for([&] { return server->clients() == 2; }));

  const auto stream = mixed_stream(600);
  std::vector<v1::Event> want_alerts, want_pid;
  for (const auto& ev : stream) {
    server->write(ev);
    if (ev.kind() == v1::Event::ALERT) want_alerts.push_back(ev);
    if (ev.process().pid() == 101) want_pid.push_back(ev);
  }
  uint64_t dropped = 0;
  const auto got_alerts = alerts.events(want_alerts.size(), &dropped);
  const auto got_pid = pid101.events(want_pid.size(), &dropped);
  EXPECT_EQ(dropped, 0u);
  ASSERT_EQ(got_alerts.size(), want_alerts.size());
  ASSERT_EQ(got_pid.size(), want_pid.size());
  for (size_t i = 0; i < want_alerts.size(); ++i) EXPECT_TRUE(same(got_alerts[i], want_alerts[i])) << i;
  for (size_t i = 0; i < want_pid.size(); ++i) EXPECT_TRUE(same(got_pid[i], want_pid[i])) << i;
  EXPECT_EQ(alerts.hello().host(), "testhost");
  EXPECT_EQ(alerts.hello().agent_pid(), static_cast<uint32_t>(getpid()));
  EXPECT_EQ(alerts.hello().replayed(), 0u);

  // Nothing more: the next event of either kind goes to the right client only.
  server->write(alert_event(999, "late", "info", "tool", kT0 + 10'000'000));
  auto one = alerts.events(1);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].alert().rule_id(), "late");
  v1::TailMessage m;
  EXPECT_FALSE(pid101.next(&m, 200));
  EXPECT_EQ(server->sent_total(), want_alerts.size() + want_pid.size() + 1);
  EXPECT_EQ(server->dropped_total(), 0u);
}

TEST(TailServer, SinceReplaysTheBufferedEventsThenLiveOnes) {
  TempDir dir;
  TailOptions o = options_in(dir);
  o.recent = 8;
  auto server = open_server(o);
  ASSERT_TRUE(server);
  const auto stream = mixed_stream(20);  // the buffer keeps the last 8: 12..19
  for (const auto& ev : stream) server->write(ev);

  RawClient c(o.socket_path);
  ASSERT_TRUE(c.connected());
  const int64_t since = v1::timestamp_ns(stream[15].time());
  c.send(request([&](auto& r) {
    v1::set_timestamp(since, r.mutable_since());
    r.add_kinds(v1::Event::EXEC);
    r.add_kinds(v1::Event::FILE);
  }));
  // 15..19 minus the alert at 15: 16, 17, 18, 19.
  auto got = c.events(4);
  ASSERT_EQ(got.size(), 4u);
  for (size_t i = 0; i < got.size(); ++i) EXPECT_TRUE(same(got[i], stream[16 + i])) << i;
  EXPECT_EQ(c.hello().replayed(), 4u);
  EXPECT_EQ(v1::timestamp_ns(c.hello().buffer_since()), v1::timestamp_ns(stream[12].time()));

  // Then live, in order after the replay.
  const auto live = exec_event(555, kT0 + 1);  // an old time: live events are not filtered by time
  server->write(live);
  got = c.events(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(same(got[0], live));

  // Since before everything held: the whole buffer (that matches).
  RawClient all(o.socket_path);
  all.send(request([](auto& r) { v1::set_timestamp(0, r.mutable_since()); }));
  got = all.events(8);
  ASSERT_EQ(got.size(), 8u);
  EXPECT_TRUE(same(got[0], stream[13]));  // 12 was pushed out by the live event
  EXPECT_TRUE(same(got[7], live));
  EXPECT_EQ(all.hello().replayed(), 8u);
}

TEST(TailServer, StoppedClientNeverSlowsWritesAndLearnsWhatItMissed) {
  TempDir dir;
  const TailOptions o = options_in(dir);
  Reports reports;
  auto server = open_server(o, reports.sink());
  ASSERT_TRUE(server);
  constexpr size_t kEvents = 200000;
  v1::Event ev = exec_event(4242);
  for (int i = 0; i < 8; ++i) ev.mutable_process()->add_argv("--an-argument-that-makes-the-event-bigger");

  auto write_all = [&] {
    const auto start = Clock::now();
    for (size_t i = 0; i < kEvents; ++i) {
      v1::set_timestamp(kT0 + static_cast<int64_t>(i), ev.mutable_time());
      server->write(ev);
    }
    return std::chrono::duration<double>(Clock::now() - start).count();
  };
  const double alone = write_all();

  RawClient stuck(o.socket_path);
  stuck.send(v1::TailRequest());
  ASSERT_TRUE(wait_for([&] { return server->clients() == 1; }));
  const double with_stuck = write_all();  // the client reads nothing meanwhile
  std::printf("200k writes: %.3f s without a client, %.3f s with one that does not read\n", alone, with_stuck);
  EXPECT_LT(with_stuck, 5.0);
  const uint64_t dropped = server->dropped_total();
  EXPECT_GT(dropped, 0u);
  EXPECT_LT(dropped, kEvents);

  // Reported as a gap, within a second or so.
  EXPECT_TRUE(wait_for([&] {
    return reports.has([](const v1::Event& e) { return e.has_gap() && e.gap().where() == "tail_client" && e.gap().lost() > 0; });
  }));

  // Now it reads: everything it was sent, plus notices adding up to what it missed.
  uint64_t told = 0;
  const auto got = stuck.events(kEvents - dropped, &told, 10000);
  EXPECT_EQ(got.size(), kEvents - dropped);
  v1::TailMessage m;
  while (told < dropped && stuck.next(&m, 2000))
    if (m.has_dropped()) told += m.dropped();
  EXPECT_EQ(told, dropped);
  EXPECT_EQ(server->dropped_total(), dropped);
  // In order, with a hole where the drops were.
  for (size_t i = 1; i < got.size(); ++i)
    ASSERT_LT(v1::timestamp_ns(got[i - 1].time()), v1::timestamp_ns(got[i].time())) << i;
  uint64_t reported = 0;
  for (const auto& e : reports.events())
    if (e.has_gap()) reported += e.gap().lost();
  EXPECT_LE(reported, dropped);
}

TEST(TailServer, DroppedNoticeMarksTheHole) {
  TempDir dir;
  TailOptions o = options_in(dir);
  o.client_queue_bytes = 2048;
  auto server = open_server(o);
  ASSERT_TRUE(server);
  RawClient c(o.socket_path);
  c.send(v1::TailRequest());
  ASSERT_TRUE(wait_for([&] { return server->clients() == 1; }));
  // Event i carries time kT0 + i: where the notices fall can be checked exactly.
  constexpr int64_t kEvents = 20000;
  for (int64_t i = 1; i <= kEvents; ++i) server->write(exec_event(1, kT0 + i));
  const uint64_t dropped = server->dropped_total();
  ASSERT_GT(dropped, 0u);

  // Every notice stands exactly where its events are missing, whichever way the server's
  // sends and the writes interleaved.
  int64_t next = 1;
  uint64_t told = 0, notices = 0;
  v1::TailMessage m;
  while (next <= kEvents && c.next(&m, 3000)) {
    if (m.has_dropped()) {
      EXPECT_GT(m.dropped(), 0u);
      next += static_cast<int64_t>(m.dropped());
      told += m.dropped();
      ++notices;
    } else if (m.has_event()) {
      ASSERT_EQ(v1::timestamp_ns(m.event().time()) - kT0, next) << "after " << told << " told";
      ++next;
    }
  }
  EXPECT_EQ(next, kEvents + 1);
  EXPECT_EQ(told, dropped);
  EXPECT_GE(notices, 1u);

  // One more event: it arrives on its own; the drops were all told.
  server->write(exec_event(2, kT0 + kEvents + 1));
  ASSERT_TRUE(c.next(&m));
  ASSERT_TRUE(m.has_event());
  EXPECT_EQ(m.event().process().pid(), 2u);
}

TEST(TailServer, SlowClientIsCutOffAndSaysSo) {
  TempDir dir;
  TailOptions o = options_in(dir);
  o.client_queue_bytes = 4096;
  o.slow_client_timeout_ms = 300;
  Reports reports;
  auto server = open_server(o, reports.sink());
  ASSERT_TRUE(server);
  RawClient c(o.socket_path);
  c.send(v1::TailRequest());
  ASSERT_TRUE(wait_for([&] { return server->clients() == 1; }));
  int64_t t = kT0;
  // Keep the queue full until the server gives up on the client.
  EXPECT_TRUE(wait_for([&] {
    for (int i = 0; i < 2000; ++i) server->write(exec_event(1, ++t));
    return server->clients() == 0;
  }));
  EXPECT_TRUE(wait_for([&] {
    return reports.has([](const v1::Event& e) {
      return e.has_agent() && e.agent().what() == "tail_client_disconnected" && e.agent().count() > 0;
    });
  }));
  EXPECT_TRUE(reports.has([](const v1::Event& e) { return e.has_gap() && e.gap().where() == "tail_client"; }));
}

TEST(TailServer, DisconnectedClientIsRemoved) {
  TempDir dir;
  const TailOptions o = options_in(dir);
  auto server = open_server(o);
  ASSERT_TRUE(server);
  {
    RawClient c(o.socket_path);
    c.send(v1::TailRequest());
    ASSERT_TRUE(wait_for([&] { return server->clients() == 1; }));
  }
  EXPECT_TRUE(wait_for([&] { return server->clients() == 0; }));
  server->write(exec_event(1));  // nobody to send to
  EXPECT_EQ(server->sent_total(), 0u);
}

TEST(TailServer, ClientWithoutRequestGetsEverything) {
  TempDir dir;
  TailOptions o = options_in(dir);
  o.request_timeout_ms = 200;
  auto server = open_server(o);
  ASSERT_TRUE(server);
  RawClient c(o.socket_path);
  ASSERT_TRUE(wait_for([&] { return server->clients() == 1; }, 3000));
  server->write(exec_event(1));
  server->write(alert_event(2, "r", "info", "tool"));
  EXPECT_EQ(c.events(2).size(), 2u);
}

TEST(TailServer, MaxClients) {
  TempDir dir;
  TailOptions o = options_in(dir);
  o.max_clients = 1;
  auto server = open_server(o);
  ASSERT_TRUE(server);
  RawClient first(o.socket_path);
  first.send(v1::TailRequest());
  ASSERT_TRUE(wait_for([&] { return server->clients() == 1; }));
  RawClient second(o.socket_path);
  v1::TailMessage m;
  EXPECT_FALSE(second.next(&m, 2000));
  EXPECT_TRUE(second.eof());
  server->write(exec_event(1));
  EXPECT_EQ(first.events(1).size(), 1u);
}

TEST(TailServer, SocketIsPrivateAndRemovedAtTheEnd) {
  TempDir dir;
  const TailOptions o = options_in(dir);  // its directory does not exist yet
  {
    auto server = open_server(o);
    ASSERT_TRUE(server);
    struct stat st {};
    ASSERT_EQ(::lstat(o.socket_path.c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    EXPECT_EQ(st.st_mode & 07777, 0600u);
    ASSERT_EQ(::stat((dir / "run").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0755u);
    // Nothing left of the private directory it was made in.
    size_t entries = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir / "run")) {
      ++entries;
      EXPECT_EQ(e.path().filename(), "clawfence.sock");
    }
    EXPECT_EQ(entries, 1u);
  }
  struct stat st {};
  EXPECT_NE(::lstat(o.socket_path.c_str(), &st), 0);
}

TEST(TailServer, GroupSocket) {
  TempDir dir;
  TailOptions o = options_in(dir);
  group* g = getgrgid(getgid());
  ASSERT_NE(g, nullptr) << "the test's own group has no name";
  o.group = g->gr_name;
  {
    auto server = open_server(o);
    ASSERT_TRUE(server);
    struct stat st {};
    ASSERT_EQ(::lstat(o.socket_path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0660u);
    EXPECT_EQ(st.st_gid, getgid());
  }
  o.group = "no-such-group-clawfence";
  std::string err;
  EXPECT_EQ(TailServer::open(o, nullptr, &err), nullptr);
  EXPECT_NE(err.find("unknown group"), std::string::npos) << err;
}

TEST(TailServer, StaleSocketReplacedLiveOneRefused) {
  TempDir dir;
  const TailOptions o = options_in(dir);
  dir.mkdirs("run");
  {
    // A socket file nobody listens on: what a crashed agent leaves.
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", o.socket_path.c_str());
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    ::close(fd);
  }
  auto server = open_server(o);
  ASSERT_TRUE(server);
  RawClient c(o.socket_path);
  EXPECT_TRUE(c.connected());

  std::string err;
  EXPECT_EQ(TailServer::open(o, nullptr, &err), nullptr);
  EXPECT_NE(err.find("another agent"), std::string::npos) << err;
  // The refused second server did not take the first one's socket away.
  RawClient again(o.socket_path);
  EXPECT_TRUE(again.connected());

  TailOptions f = o;
  f.socket_path = dir.write("run/regular-file", "x");
  EXPECT_EQ(TailServer::open(f, nullptr, &err), nullptr);
  EXPECT_NE(err.find("not a socket"), std::string::npos) << err;
}

// ---- the `clawfence tail` command against a server -------------------------------------------

std::string read_all(FILE* f) {
  std::fflush(f);
  std::rewind(f);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) out.append(buf, n);
  return out;
}

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

struct TailRun {
  FILE* out = tmpfile();
  FILE* err = tmpfile();
  int rc = -1;
  std::thread thread;
  void start(const app::TailCommandOptions& opts) {
    thread = std::thread([this, opts] { rc = app::run_tail(opts, out, err); });
  }
  ~TailRun() {
    if (thread.joinable()) thread.join();
    if (out) fclose(out);
    if (err) fclose(err);
  }
};

TEST(TailCommand, PrintsTheMatchingEvents) {
  TempDir dir;
  const TailOptions o = options_in(dir);
  auto server = open_server(o);
  ASSERT_TRUE(server);
  const auto stream = mixed_stream(50);
  std::vector<std::string> want_text, want_json;
  for (const auto& ev : stream)
    if (ev.process().pid() == 102) {
      want_text.push_back(app::format_event_line(ev, {false, false}));
      want_json.push_back(to_json(ev));
    }

  app::TailCommandOptions opts;
  opts.socket = o.socket_path;
  opts.pids = {102};
  opts.count = want_text.size();
  opts.timeout_ms = 10000;
  opts.color = "always";
  opts.output = "json";
  TailRun json;
  json.start(opts);
  opts.color = "never";
  opts.output = "text";
  TailRun text;
  text.start(opts);
  ASSERT_TRUE(wait_for([&] { return server->clients() == 2; }));
  for (const auto& ev : stream) server->write(ev);
  json.thread.join();
  text.thread.join();
  EXPECT_EQ(text.rc, 0) << read_all(text.err);
  EXPECT_EQ(json.rc, 0) << read_all(json.err);
  EXPECT_EQ(lines_of(read_all(text.out)), want_text);
  EXPECT_EQ(lines_of(read_all(json.out)), want_json);
}

TEST(TailCommand, WaitsForTheAgentToStart) {
  TempDir dir;
  const TailOptions o = options_in(dir);
  app::TailCommandOptions opts;
  opts.socket = o.socket_path;
  opts.kinds = {"alert"};
  opts.count = 2;
  opts.timeout_ms = 10000;
  opts.retry_ms = 50;
  TailRun run;
  run.start(opts);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // several failed attempts
  auto server = open_server(o);
  ASSERT_TRUE(server);
  ASSERT_TRUE(wait_for([&] { return server->clients() == 1; }));
  server->write(exec_event(1));
  server->write(alert_event(1, "first", "info", "tool"));
  server->write(alert_event(1, "second", "critical", "tool"));
  run.thread.join();
  EXPECT_EQ(run.rc, 0);
  const auto lines = lines_of(read_all(run.out));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_NE(lines[0].find("first:"), std::string::npos) << lines[0];
  EXPECT_NE(lines[1].find("second:"), std::string::npos) << lines[1];
  const std::string err = read_all(run.err);
  const std::string notice = "tail: agent not reachable at " + o.socket_path;
  EXPECT_NE(err.find(notice), std::string::npos) << err;
  EXPECT_EQ(err.find(notice), err.rfind(notice)) << "said once, not at every attempt: " << err;
}

TEST(TailCommand, ResumesAfterAnAgentRestartWithoutRepeats) {
  TempDir dir;
  const TailOptions o = options_in(dir);
  // Times after the client connects, as the agent's are: a client without --since resumes
  // from the time it connected when it saw nothing.
  const int64_t t = v1::unix_now_ns() + 60'000'000'000LL;
  const v1::Event e1 = file_event(7, "/tmp/one", t + 1000);
  const v1::Event e2 = file_event(7, "/tmp/two", t + 2000);
  const v1::Event a2 = alert_event(7, "file-scope", "warning", "tool", t + 2000);  // the time of e2, its trigger
  const v1::Event e0 = file_event(7, "/tmp/zero", t);
  const v1::Event e3 = file_event(7, "/tmp/three", t + 3000);

  app::TailCommandOptions opts;
  opts.socket = o.socket_path;
  opts.count = 4;
  opts.timeout_ms = 10000;
  opts.retry_ms = 400;
  TailRun run;
  {
    auto first = open_server(o);
    ASSERT_TRUE(first);
    run.start(opts);
    ASSERT_TRUE(wait_for([&] { return first->clients() == 1; }));
    first->write(e1);
    first->write(e2);
    ASSERT_TRUE(wait_for([&] { return first->sent_total() == 2; }));
  }  // the agent stops; the client waits retry_ms before trying again
  auto second = open_server(o);
  ASSERT_TRUE(second);
  for (const auto* ev : {&e0, &e2, &a2, &e3}) second->write(*ev);  // held for --since replays
  run.thread.join();
  EXPECT_EQ(run.rc, 0) << read_all(run.err);
  std::vector<std::string> want;
  for (const auto* ev : {&e1, &e2, &a2, &e3}) want.push_back(app::format_event_line(*ev, {false, false}));
  EXPECT_EQ(lines_of(read_all(run.out)), want);
  const std::string err = read_all(run.err);
  EXPECT_NE(err.find("tail: reconnected to the agent"), std::string::npos) << err;
}

TEST(TailCommand, NoReconnectAndPermissionErrors) {
  TempDir dir;
  app::TailCommandOptions opts;
  opts.socket = dir / "absent.sock";
  opts.reconnect = false;
  TailRun run;
  EXPECT_EQ(app::run_tail(opts, run.out, run.err), 1);
  EXPECT_NE(read_all(run.err).find("agent not reachable at"), std::string::npos);

  const TailOptions o = options_in(dir);
  auto server = open_server(o);
  ASSERT_TRUE(server);
  opts.socket = o.socket_path;
  TailRun denied;
  if (geteuid() != 0) {
    ASSERT_EQ(::chmod(o.socket_path.c_str(), 0), 0);
    EXPECT_EQ(app::run_tail(opts, denied.out, denied.err), 1);
  } else {
    // Root connects to any socket: the client runs as nobody instead, in a child.
    std::fflush(nullptr);
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      if (setgid(65534) != 0 || setuid(65534) != 0) _exit(99);
      const int rc = app::run_tail(opts, denied.out, denied.err);
      std::fflush(nullptr);  // _exit does not
      _exit(rc);
    }
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 1);
  }
  const std::string err = read_all(denied.err);
  EXPECT_NE(err.find("must run as root or in the socket's group"), std::string::npos) << err;
}

}  // namespace
}  // namespace clawfence::output
