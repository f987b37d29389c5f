// The rules compiled into the guards' maps: what the kernel will decide with.
#include "enforce/guard_policy.h"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include "policy/rules.h"

namespace clawfence::enforce {
namespace {

policy::RuleSet parse(const std::string& text) {
  auto res = policy::parse_rules(text, "g.yaml");
  EXPECT_TRUE(res.ok()) << (res.errors.empty() ? "" : res.errors[0].to_string());
  return res.rules;
}

cf_cidr_key key(const std::string& cidr) {
  cf_cidr_key k{};
  EXPECT_TRUE(parse_cidr_key(cidr, &k)) << cidr;
  return k;
}

uint64_t bits_of(const CompiledGuard& g, const std::string& cidr) {
  const cf_cidr_key k = key(cidr);
  for (const auto& [e, bits] : g.cidrs)
    if (e.prefixlen == k.prefixlen && std::memcmp(e.addr, k.addr, 16) == 0) return bits;
  ADD_FAILURE() << "no entry for " << cidr;
  return 0;
}

TEST(GuardCidr, Ipv4IsStoredAsMappedIpv6) {
  cf_cidr_key k = key("10.1.0.0/16");
  EXPECT_EQ(k.prefixlen, 96u + 16u);
  const uint8_t want[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 0, 0};
  EXPECT_EQ(std::memcmp(k.addr, want, 16), 0);
  EXPECT_EQ(key("::1").prefixlen, 128u);
  EXPECT_EQ(key("169.254.169.254").prefixlen, 128u);
  EXPECT_EQ(key("::/0").prefixlen, 0u);
  cf_cidr_key bad{};
  EXPECT_FALSE(parse_cidr_key("10.0.0.0/33", &bad));
  EXPECT_FALSE(parse_cidr_key("nonsense", &bad));
  EXPECT_FALSE(parse_cidr_key("10.0.0.0/", &bad));
}

// A longest-prefix lookup returns one entry: it must carry the rules of every prefix holding it,
// or 127.0.0.1:53 would miss the 0.0.0.0/0 DNS rule because 127.0.0.0/8 is longer.
TEST(GuardCidr, EntriesCarryTheRulesOfContainingPrefixes) {
  auto g = compile_guard(parse("version: 1\negress:\n  default: deny\n  allow:\n"
                               "    - { id: dns, cidr: [0.0.0.0/0, \"::/0\"], ports: [53] }\n"
                               "    - { id: loop, cidr: [127.0.0.0/8], ports: [18789] }\n"
                               "    - { id: one, cidr: [127.0.0.1], ports: [\"8000-8080\", 8081, 9000] }\n"
                               "  deny:\n    - { id: meta, cidr: [169.254.169.254], action: block }\n"),
                         GuardOptions{});
  ASSERT_EQ(g.rules.size(), 4u);
  const uint64_t dns = 1, loop = 2, one = 4, meta = 8;
  EXPECT_EQ(bits_of(g, "0.0.0.0/0"), dns);
  EXPECT_EQ(bits_of(g, "::/0"), dns);  // ::/0 holds every IPv4 (mapped) address too
  EXPECT_EQ(bits_of(g, "127.0.0.0/8"), dns | loop);
  EXPECT_EQ(bits_of(g, "127.0.0.1"), dns | loop | one);
  EXPECT_EQ(bits_of(g, "169.254.169.254"), dns | meta);
  // ports: adjacent ranges merge
  const cf_guard_rule& r = g.rules[2];
  ASSERT_EQ(r.nports, 2);
  EXPECT_EQ(r.ports[0].lo, 8000);
  EXPECT_EQ(r.ports[0].hi, 8081);
  EXPECT_EQ(r.ports[1].lo, 9000);
  EXPECT_EQ(g.rules[3].kind, CF_GRULE_DENY);
  EXPECT_EQ(g.rules[3].action, CF_ACTION_BLOCK);
  EXPECT_EQ(g.rule_ids[g.rules[3].rule], "meta");
  EXPECT_EQ(g.config.flags & CF_GUARD_DEFAULT_DENY, static_cast<uint32_t>(CF_GUARD_DEFAULT_DENY));
  EXPECT_EQ(g.rule_ids[g.config.unapproved_rule], "egress-unapproved");
}

TEST(GuardPolicy, ModesRolesBudgetsAndEvasion) {
  const std::string text =
      "version: 1\nmode: enforce\nfail_closed: true\n"
      "roles:\n  gateway: { root: true }\n"
      "  helper: { started_by: [gateway], exec: [{ exe: node, argv: [\"*\", \"*/worker.js\", \"**\"] }] }\n"
      "  tool: { started_by: [gateway, helper], final: true }\n"
      "egress:\n  default: deny\n  dns_min_ttl: 30s\n  allow:\n"
      "    - { id: chat, host: [\"*.slack.com\"], ports: [443], roles: [gateway] }\n"
      "volume:\n  - { id: vol, roles: [tool], window: 10s, max_bytes: 1MiB, except_hosts: [api.openai.com], action: block }\n"
      "evasion:\n  - { id: uring, what: io_uring, roles: [tool], action: kill }\n"
      "  - { id: raw, what: raw_socket, action: block }\n"
      "files:\n  deny:\n    - { id: keys, path: [\"~/.ssh/**\"], action: kill }\n"
      "    - { id: env, path: [\"**/.env\"], action: block }\n"
      "exec:\n  - { id: nc, binary: [nc], roles: [tool], action: kill }\n";
  auto g = compile_guard(parse(text), GuardOptions{});
  EXPECT_EQ(g.config.mode, static_cast<uint32_t>(CF_MODE_ENFORCE));
  EXPECT_TRUE(g.config.flags & CF_GUARD_FAIL_CLOSED);
  EXPECT_EQ(g.config.dns_min_ttl_ns, 30'000'000'000ull);
  // roles in file order from 1, one kernel rule per exec pattern (or per role without one), in
  // judging order; tool is final
  EXPECT_EQ(g.roles.index("gateway"), 1);
  EXPECT_EQ(g.roles.index("helper"), 2);
  EXPECT_EQ(g.roles.index("tool"), 3);
  EXPECT_EQ(g.config.role_final, 1u << 3);
  const auto& rr = g.roles.kernel_rules();
  ASSERT_EQ(rr.size(), 3u);
  EXPECT_EQ(rr[0].from_mask, 1u);  // a tree's root
  EXPECT_EQ(rr[0].role, 1);
  EXPECT_EQ(rr[0].flags, CF_RR_USED);
  EXPECT_EQ(rr[1].from_mask, 1u << 1);
  EXPECT_EQ(rr[1].flags, CF_RR_USED | CF_RR_EXE | CF_RR_ARGV | CF_RR_MORE_ARGS);
  EXPECT_STREQ(rr[1].exe, "node");
  ASSERT_EQ(rr[1].nargs, 2);
  EXPECT_EQ(rr[1].args[0].kind, CF_RARG_ANY);
  EXPECT_EQ(rr[1].args[1].kind, CF_RARG_GLOB);
  EXPECT_EQ(rr[1].args[1].prefix_len, 0);
  EXPECT_EQ(std::string(rr[1].args[1].text, rr[1].args[1].suffix_len), "/worker.js");
  EXPECT_EQ(rr[2].from_mask, (1u << 1) | (1u << 2));
  EXPECT_EQ(rr[2].role, 3);
  EXPECT_EQ(g.rules[0].role_mask, 1u << 1);
  // the budget and its exemption (a rule bit the excepted hosts' addresses get)
  ASSERT_EQ(g.budgets.size(), 1u);
  EXPECT_EQ(g.budgets[0].max_bytes, 1u << 20);
  EXPECT_EQ(g.budgets[0].role_mask, 1u << 3);
  EXPECT_EQ(g.budgets[0].action, CF_ACTION_BLOCK);
  ASSERT_EQ(g.rules.size(), 2u);
  EXPECT_EQ(g.rules[1].kind, CF_GRULE_EXEMPT);
  EXPECT_EQ(g.budgets[0].exempt, 1ull << 1);
  ASSERT_EQ(g.hosts.size(), 2u);
  EXPECT_EQ(g.hosts[1].first, "api.openai.com");
  EXPECT_EQ(g.hosts[1].second, 1ull << 1);
  // evasion rules
  EXPECT_EQ(g.rule_ids[g.config.evasion[CF_EVASION_IO_URING].rule], "uring");
  EXPECT_EQ(g.config.evasion[CF_EVASION_IO_URING].action, CF_ACTION_KILL);
  EXPECT_EQ(g.rule_ids[g.config.evasion[CF_EVASION_RAW_SOCKET].rule], "raw");
  EXPECT_EQ(g.config.evasion[2].rule, CF_RULE_NONE);
  // without BPF LSM only kill rules reach the kernel; the block rule is noted
  ASSERT_EQ(g.paths.size(), 2u);
  EXPECT_EQ(g.paths[0].glob, "~/.ssh/**");
  EXPECT_TRUE(g.paths[0].on_open);
  EXPECT_EQ(g.paths[1].glob, "**/nc");
  EXPECT_FALSE(g.paths[1].on_open);
  bool noted = false;
  for (const auto& n : g.notes) noted |= n.find("env") != std::string::npos && n.find("LSM") != std::string::npos;
  EXPECT_TRUE(noted);
  // with LSM the block rule is judged in the kernel too; dry run is its own mode
  GuardOptions lsm;
  lsm.lsm = true;
  lsm.dry_run = true;
  auto g2 = compile_guard(parse(text), lsm);
  EXPECT_EQ(g2.paths.size(), 3u);
  EXPECT_EQ(g2.config.mode, static_cast<uint32_t>(CF_MODE_DRY_RUN));
}

TEST(GuardPolicy, MonitorModeAndTooManyRules) {
  auto g = compile_guard(parse("version: 1\nmode: monitor\n"), GuardOptions{});
  EXPECT_EQ(g.config.mode, static_cast<uint32_t>(CF_MODE_MONITOR));
  EXPECT_EQ(g.config.flags, static_cast<uint32_t>(CF_GUARD_ACTIVE));
  std::string many = "version: 1\negress:\n  allow:\n";
  for (int i = 0; i < 65; ++i) many += "    - { id: r" + std::to_string(i) + ", cidr: [10.0.0." + std::to_string(i) + "] }\n";
  EXPECT_THROW(compile_guard(parse(many), GuardOptions{}), std::invalid_argument);
}

}  // namespace
}  // namespace clawfence::enforce

namespace clawfence::enforce {
namespace {

// Only the host's resolvers approve addresses: the rules' list, else resolv.conf's.
TEST(GuardPolicy, DnsResolvers) {
  const std::string dir = ::testing::TempDir();
  const std::string conf = dir + "/resolv.conf";
  {
    std::ofstream f(conf);
    f << "# comment\nsearch example\nnameserver 10.255.255.53\nnameserver fe80::1%eth0\noptions ndots:1\n";
  }
  const auto servers = resolv_conf_nameservers(conf);
  ASSERT_EQ(servers, (std::vector<std::string>{"10.255.255.53", "fe80::1"}));
  EXPECT_TRUE(resolv_conf_nameservers(dir + "/none").empty());

  const std::string hosts = "version: 1\negress:\n  default: deny\n  allow:\n    - { id: a, host: [api.example.com] }\n";
  GuardOptions o;
  o.system_resolvers = servers;
  auto g = compile_guard(parse(hosts), o);
  EXPECT_TRUE(g.config.flags & CF_GUARD_RESOLVERS);
  ASSERT_EQ(g.resolvers.size(), 2u);
  EXPECT_EQ(g.resolvers[0].addr[10], 0xff);  // IPv4 as ::ffff:a.b.c.d
  EXPECT_EQ(g.resolvers[0].addr[12], 10);
  // the rules' list replaces the host's
  auto g2 = compile_guard(parse("version: 1\negress:\n  dns_resolvers: [127.0.0.77]\n  allow:\n"
                                "    - { id: a, host: [api.example.com] }\n"),
                          o);
  ASSERT_EQ(g2.resolvers.size(), 1u);
  EXPECT_EQ(g2.resolvers[0].addr[15], 77);
  // none known: any server approves, and the agent says so
  auto g3 = compile_guard(parse(hosts), GuardOptions{});
  EXPECT_FALSE(g3.config.flags & CF_GUARD_RESOLVERS);
  bool noted = false;
  for (const auto& n : g3.notes) noted |= n.find("no DNS resolvers known") != std::string::npos;
  EXPECT_TRUE(noted);
  // a bad address is refused by the rule reader, with its place
  auto bad = policy::parse_rules("version: 1\negress:\n  dns_resolvers: [10.0.0.0/8]\n", "r.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.errors[0].to_string().find("r.yaml:3:"), std::string::npos) << bad.errors[0].to_string();
}

}  // namespace
}  // namespace clawfence::enforce
