// What the agent remembers of the DNS answers a process received: the name it asked for, for
// the answer's TTL and at least the rules' dns_min_ttl, as the kernel keeps the address approved.
#include "process/dns_names.h"

#include <gtest/gtest.h>

namespace clawfence::process {
namespace {

constexpr int64_t kSec = 1'000'000'000;

v1::Dns answer(const std::string& query, const std::string& address, uint32_t ttl,
               const std::string& server = "127.0.0.53") {
  v1::Dns d;
  d.set_server(server);
  d.set_query(query);
  auto* a = d.add_answers();
  a->set_name(query);
  a->set_type("A");
  a->set_value(address);
  a->set_ttl(ttl);
  d.add_addresses(address);
  return d;
}

TEST(DnsNames, ANameLivesItsTtlAndAtLeastTheMinimum) {
  DnsNames names;  // 60 s unless the rules say otherwise
  names.learn(7, answer("approved.test", "127.0.0.30", 1), 0);
  EXPECT_EQ(names.names_for(7, "127.0.0.30", 59 * kSec).name, "approved.test");
  EXPECT_EQ(names.names_for(7, "127.0.0.30", 60 * kSec).name, "");
  EXPECT_EQ(names.names_for(8, "127.0.0.30", kSec).name, "") << "another process never asked";
}

TEST(DnsNames, TheRulesMinimumAppliesAboveSixtySeconds) {
  DnsNames names;
  names.set_min_ttl(300 * kSec);  // egress.dns_min_ttl: 5m
  names.learn(7, answer("approved.test", "127.0.0.30", 1), 0);
  EXPECT_EQ(names.names_for(7, "127.0.0.30", 299 * kSec).name, "approved.test");
  EXPECT_EQ(names.names_for(7, "127.0.0.30", 300 * kSec).name, "") << "expired with the kernel's approval";
  // shorter than 60 s: the kernel may hold an address in use past it, so the name stays 60 s
  names.set_min_ttl(3 * kSec);
  names.learn(7, answer("short.test", "127.0.0.31", 1), 0);
  EXPECT_EQ(names.names_for(7, "127.0.0.31", 59 * kSec).name, "short.test");
  EXPECT_EQ(names.names_for(7, "127.0.0.31", 60 * kSec).name, "");
}

// Only the configured resolvers' answers name addresses, as the kernel approves only theirs: a DNS
// server of the process's own choosing answering an approved name with its own address names
// nothing (the answer is still an event; the connect that follows is judged by its address).
TEST(DnsNames, OnlyTheResolversAnswersNameAddresses) {
  DnsNames names;
  names.set_resolvers({"127.0.0.53", "::ffff:10.0.0.2", "2001:db8::53", "not-an-address"});
  EXPECT_FALSE(names.learn(7, answer("api.openai.com", "127.0.0.11", 300, "127.0.0.78"), 0));
  EXPECT_EQ(names.names_for(7, "127.0.0.11", kSec).name, "") << "a rogue server's answer named the address";
  EXPECT_EQ(names.foreign_answers(), 1u);
  EXPECT_TRUE(names.learn(7, answer("api.openai.com", "127.0.0.10", 300, "127.0.0.53"), 0));
  EXPECT_EQ(names.names_for(7, "127.0.0.10", kSec).name, "api.openai.com");
  // IPv4-mapped and IPv6 resolvers compare as the decoder prints servers
  EXPECT_TRUE(names.learn(7, answer("a.test", "192.0.2.1", 300, "10.0.0.2"), 0));
  EXPECT_TRUE(names.learn(7, answer("b.test", "192.0.2.2", 300, "2001:db8:0:0::53"), 0));
  EXPECT_FALSE(names.learn(7, answer("c.test", "192.0.2.3", 300, "2001:db8::54"), 0));
  EXPECT_EQ(names.names_for(7, "192.0.2.3", kSec).name, "");
  // no resolvers known: every server's answer counts (the kernel's rule too)
  names.set_resolvers({});
  EXPECT_TRUE(names.learn(7, answer("api.openai.com", "127.0.0.11", 300, "127.0.0.78"), 0));
  EXPECT_EQ(names.names_for(7, "127.0.0.11", kSec).name, "api.openai.com");
}

}  // namespace
}  // namespace clawfence::process
