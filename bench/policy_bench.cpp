// Policy cost per event at two rule-set sizes: ten CIDRs, hostnames and path globs, and 10,000
// CIDRs, 1,000 hostnames and 1,000 path globs. Matching is compiled into tries, so the two should
// cost about the same per event. Prints a Markdown table.
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "policy/engine.h"
#include "policy/rules.h"

using namespace clawfence;

namespace {

policy::RuleSet make_rules(size_t cidrs, size_t hosts, size_t globs) {
  policy::RuleSet r;
  r.roles.push_back({"gateway", {"openclaw-gatewa"}, {}, {}, ""});
  r.roles.push_back({"tool", {}, {}, {}, "gateway"});
  r.egress.default_deny = true;
  r.egress.unapproved.id = "egress-unapproved";
  policy::EgressRule allow;
  allow.meta.id = "allow";
  for (size_t i = 0; i < cidrs; ++i)
    allow.cidrs.push_back("10." + std::to_string(i / 256 % 256) + "." + std::to_string(i % 256) + ".0/24");
  for (size_t i = 0; i < hosts; ++i)
    allow.hosts.push_back(i % 2 ? "*.svc" + std::to_string(i) + ".example.com" : "api" + std::to_string(i) + ".example.com");
  r.egress.allow.push_back(allow);
  policy::FileRule deny;
  deny.meta.id = "deny";
  for (size_t i = 0; i < globs; ++i) {
    switch (i % 4) {
      case 0: deny.paths.push_back("/home/*/.secret" + std::to_string(i) + "/**"); break;
      case 1: deny.paths.push_back("**/*.key" + std::to_string(i)); break;
      case 2: deny.paths.push_back("/etc/conf" + std::to_string(i) + "/*.conf"); break;
      default: deny.paths.push_back("**/.env" + std::to_string(i)); break;
    }
  }
  deny.paths.push_back("~/.ssh/**");
  r.file_deny.push_back(deny);
  return r;
}

std::vector<v1::Event> make_events() {
  std::vector<v1::Event> evs;
  v1::Process tool;
  tool.set_pid(100);
  tool.set_comm("sh");
  tool.set_exe("/usr/bin/dash");
  auto* a = tool.add_lineage();
  a->set_pid(50);
  a->set_comm("openclaw-gatewa");
  a->set_exe("/usr/bin/node");
  const char* paths[] = {"/usr/lib/x86_64-linux-gnu/libc.so.6", "/tmp/work/notes.txt", "/etc/hostname",
                         "/home/u/project/src/main.c", "/root/.openclaw/workspace/a.md"};
  const char* addrs[] = {"10.0.5.9", "192.0.2.1", "10.200.1.1", "203.0.113.4"};
  const char* names[] = {"api7.example.com", "x.svc9.example.com", "other.test", ""};
  for (int i = 0; i < 4000; ++i) {
    v1::Event ev;
    ev.mutable_time()->set_seconds(1700000000 + i);  // past every fold window: each event is evaluated in full
    *ev.mutable_process() = tool;
    ev.mutable_process()->set_pid(100 + i % 50);
    if (i % 2) {
      ev.set_kind(v1::Event::FILE);
      ev.mutable_file()->set_op(v1::FileOp::OPEN);
      ev.mutable_file()->set_path(paths[i % 5]);
      ev.mutable_file()->set_access("read");
      ev.mutable_file()->set_result(3);
    } else {
      ev.set_kind(v1::Event::NET);
      ev.mutable_net()->set_op(v1::NetOp::CONNECT);
      ev.mutable_net()->set_address(addrs[i / 2 % 4]);
      ev.mutable_net()->set_port(443);
      ev.mutable_net()->set_hostname(names[i / 2 % 4]);
    }
    evs.push_back(ev);
  }
  return evs;
}

double ns_per_event(policy::Engine& engine, const std::vector<v1::Event>& evs, int rounds) {
  std::vector<v1::Event> out;
  auto t0 = std::chrono::steady_clock::now();
  for (int r = 0; r < rounds; ++r)
    for (const auto& ev : evs) {
      engine.evaluate(ev, out);
      out.clear();
    }
  auto t1 = std::chrono::steady_clock::now();
  return std::chrono::duration<double, std::nano>(t1 - t0).count() / (static_cast<double>(evs.size()) * rounds);
}

}  // namespace

int main() {
  auto evs = make_events();
  struct Size {
    const char* name;
    size_t cidrs, hosts, globs;
  } sizes[] = {{"10 CIDRs, 10 hostnames, 10 globs", 10, 10, 10}, {"10,000 CIDRs, 1,000 hostnames, 1,000 globs", 10000, 1000, 1000}};
  std::printf("| policy rules | ns/event (file opens and connects, alerts included) |\n|---|---:|\n");
  for (const auto& s : sizes) {
    policy::Engine engine(make_rules(s.cidrs, s.hosts, s.globs));
    ns_per_event(engine, evs, 2);  // warm: compile the per-home file matchers
    double best = 1e18;
    for (int i = 0; i < 5; ++i) best = std::min(best, ns_per_event(engine, evs, 10));
    std::printf("| %s | %.0f |\n", s.name, best);
  }
  return 0;
}
