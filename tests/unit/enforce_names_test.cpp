// Approved names as the kernel looks them up (agent/enforce/names.h): what the compilation
// stores, what it refuses, and that the kernel's rule (exact bits of the name | sub bits of every
// parent domain, bpf/net/dns.bpf.c) agrees with policy::HostSet::match on random names.
#include "enforce/names.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <utility>
#include <vector>

#include "policy/matchers.h"

namespace clawfence::enforce {
namespace {

using Hosts = std::vector<std::pair<std::string, uint64_t>>;

// The lookups cf_dns_learn makes for a question already in its dotted, lower-case form.
uint64_t kernel_rules(const NameTable& t, const std::string& name) {
  uint64_t rules = 0;
  if (auto it = t.find(name); it != t.end()) rules |= it->second.exact;
  for (size_t dot = name.find('.'); dot != std::string::npos; dot = name.find('.', dot + 1))
    if (auto it = t.find(name.substr(dot + 1)); it != t.end()) rules |= it->second.sub;
  return rules;
}

std::string lower(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

TEST(EnforceNames, ExactAndWildcardEntries) {
  NameTable t;
  ASSERT_EQ(compile_names({{"api.openai.com", 1u << 0},
                           {"*.slack.com", 1u << 1},
                           {"Slack.COM.", 1u << 2},
                           {"*.SLACK.com", 1u << 3},
                           {"api.openai.com", 1u << 4}},
                          &t),
            "");
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t.at("api.openai.com").exact, (1u << 0) | (1u << 4));
  EXPECT_EQ(t.at("api.openai.com").sub, 0u);
  EXPECT_EQ(t.at("slack.com").exact, 1u << 2);
  EXPECT_EQ(t.at("slack.com").sub, (1u << 1) | (1u << 3));
  EXPECT_EQ(t.count("*.slack.com"), 0u);
}

TEST(EnforceNames, HighRuleBitsAndEmptyBits) {
  NameTable t;
  ASSERT_EQ(compile_names({{"a.test", 1ull << 63}, {"b.test", 0}}, &t), "");
  ASSERT_EQ(t.size(), 1u);  // an entry with no bits would only cost a lookup
  EXPECT_EQ(t.at("a.test").exact, 1ull << 63);
}

TEST(EnforceNames, RefusesWhatHostSetRefuses) {
  for (const char* bad : {"", ".", "*", "*.", "a..b", "a.*.b", "b*.test", "x y.test", "a.test..",
                          "under\xc3\xa9.test"}) {
    NameTable t{{"keep", {1, 0}}};
    policy::HostSet hs;
    ASSERT_NE(hs.add(bad, 0), "") << bad;
    EXPECT_NE(compile_names({{"ok.test", 1}, {bad, 2}}, &t), "") << bad;
    EXPECT_TRUE(t.empty()) << bad;
  }
  std::string long_label(64, 'a');
  NameTable t;
  EXPECT_NE(compile_names({{long_label + ".test", 1}}, &t), "");
  EXPECT_EQ(compile_names({{std::string(63, 'a') + ".test", 1}}, &t), "");
}

// Random policies and names over a small label alphabet, so that names and patterns share
// suffixes often: the kernel's lookups give the same rules as the policy's matcher.
TEST(EnforceNames, KernelRuleAgreesWithHostSet) {
  const std::vector<std::string> labels = {"a", "b", "slack", "com", "api", "x-1", "_srv"};
  std::mt19937 rng(20240611);
  auto pick = [&](size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng); };
  auto random_name = [&](size_t max_labels) {
    std::string s;
    for (size_t i = 0, n = 1 + pick(max_labels); i < n; ++i) s += (i ? "." : "") + labels[pick(labels.size())];
    return s;
  };
  auto upcase_one = [&](std::string& s) {
    size_t i = pick(s.size());
    if (s[i] >= 'a' && s[i] <= 'z') s[i] = static_cast<char>(s[i] - 'a' + 'A');
  };
  for (int round = 0; round < 200; ++round) {
    Hosts hosts;
    policy::HostSet hs;
    for (size_t i = 0, n = 1 + pick(12); i < n; ++i) {
      uint32_t bit = static_cast<uint32_t>(pick(CF_GUARD_RULES));
      std::string pattern = (pick(2) ? "*." : "") + random_name(3);
      if (pick(4) == 0) pattern += ".";
      if (pick(4) == 0) upcase_one(pattern);
      ASSERT_EQ(hs.add(pattern, bit), "") << pattern;
      hosts.emplace_back(pattern, 1ull << bit);
    }
    NameTable t;
    ASSERT_EQ(compile_names(hosts, &t), "");
    for (int q = 0; q < 50; ++q) {
      std::string name = random_name(5);
      if (pick(3) == 0) upcase_one(name);  // the kernel lowers the question as it reads it
      uint64_t want = 0;
      for (uint32_t bit : hs.match(name)) want |= 1ull << bit;
      EXPECT_EQ(kernel_rules(t, lower(name)), want) << name;
    }
  }
}

}  // namespace
}  // namespace clawfence::enforce
