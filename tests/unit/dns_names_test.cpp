// What the agent remembers of the DNS answers a process received: the name it asked for, for
// the answer's TTL and at least the rules' dns_min_ttl, as the kernel keeps the address approved.
#include "process/dns_names.h"

#include <gtest/gtest.h>

namespace clawfence::process {
namespace {

constexpr int64_t kSec = 1'000'000'000;

v1::Dns answer(const std::string& query, const std::string& address, uint32_t ttl) {
  v1::Dns d;
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

}  // namespace
}  // namespace clawfence::process
