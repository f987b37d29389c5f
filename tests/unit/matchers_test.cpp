// Matchers: glob, CIDR, host and port semantics, every add() error, and PathGlobSet checked
// against the single-pattern reference glob_matches on random patterns and paths.
#include "policy/matchers.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace clawfence::policy {
namespace {

using Values = std::vector<uint32_t>;

// ---- glob_matches (the reference) --------------------------------------------------------------

struct GlobCase {
  const char* pattern;
  const char* path;
  bool expected;
};

const GlobCase kGlobCases[] = {
    {"/etc/shadow", "/etc/shadow", true},
    {"/etc/shadow", "/etc/shadow-", false},
    {"/etc/shadow", "/etc", false},
    {"/etc/", "/etc", true},  // trailing '/' ignored
    {"/", "/", true},
    {"/", "/a", false},
    // '*' stays within a component.
    {"/a/*", "/a/b", true},
    {"/a/*", "/a", false},
    {"/a/*", "/a/b/c", false},
    {"/*", "/", false},
    {"/a*", "/a", true},
    {"/a*", "/abc", true},
    {"/*.pem", "/x.pem", true},
    {"/*.pem", "/.pem", true},
    {"/*.pem", "/d/x.pem", false},
    {"/*a*b", "/xaybzb", true},
    {"/*a*b", "/xaybz", false},
    // '**' spans whole components, including none.
    {"/a/**", "/a", true},
    {"/a/**", "/a/b", true},
    {"/a/**", "/a/b/c", true},
    {"/a/**", "/ab", false},
    {"/a/**", "/", false},
    {"**/x", "/x", true},
    {"**/x", "/p/q/x", true},
    {"**/x", "/p/q/xx", false},
    {"**/x", "/x/p", false},
    {"/a/**/b", "/a/b", true},
    {"/a/**/b", "/a/x/y/b", true},
    {"/a/**/b", "/a/x/y/bb", false},
    {"/a/**/b", "/a", false},
    {"/**", "/", true},
    {"/**", "/any/thing", true},
    {"**", "/any", true},
    {"**/", "/any", true},
    {"/**/**/x", "/x", true},
    {"/**/**/x", "/a/b/x", true},
    {"/**/a/**/b/**", "/a/b", true},
    {"/**/a/**/b/**", "/q/a/r/s/b/t", true},
    {"/**/a/**/b/**", "/q/b/r/a", false},
    {"/home/*/.ssh/**", "/home/alice/.ssh/id_rsa", true},
    {"/home/*/.ssh/**", "/home/alice/.ssh", true},
    {"/home/*/.ssh/**", "/home/.ssh/id_rsa", false},
    {"**/.env", "/srv/app/.env", true},
    {"**/.env", "/srv/app/.env.local", false},
    // '?' and classes.
    {"/a?c", "/abc", true},
    {"/a?c", "/ac", false},
    {"/a?", "/a/", false},
    {"/[abc]x", "/bx", true},
    {"/[abc]x", "/dx", false},
    {"/[a-c]x", "/cx", true},
    {"/[a-c]x", "/Cx", false},
    {"/[!a]x", "/bx", true},
    {"/[!a]x", "/ax", false},
    {"/[]]", "/]", true},
    {"/[!]]", "/a", true},
    {"/[!]]", "/]", false},
    {"/[a-]", "/-", true},
    {"/[-a]", "/-", true},
    {"/x.[pP][eE][mM]", "/x.PeM", true},
    // Not absolute paths match nothing.
    {"**/x", "x", false},
    {"/x", "", false},
};

TEST(GlobMatchesTest, Semantics) {
  for (const auto& c : kGlobCases)
    EXPECT_EQ(glob_matches(c.pattern, c.path), c.expected) << c.pattern << " vs " << c.path;
}

TEST(GlobMatchesTest, InvalidPatternMatchesNothing) {
  EXPECT_FALSE(glob_matches("/a**b", "/ab"));
  EXPECT_FALSE(glob_matches("a", "a"));
  EXPECT_FALSE(glob_matches("/[a", "/[a"));
}

// ---- PathGlobSet -------------------------------------------------------------------------------

TEST(PathGlobSetTest, AgreesWithReferenceOnFixedCases) {
  for (const auto& c : kGlobCases) {
    PathGlobSet set;
    ASSERT_EQ(set.add(c.pattern, 7), "") << c.pattern;
    EXPECT_EQ(set.matches(c.path), c.expected) << c.pattern << " vs " << c.path;
    EXPECT_EQ(set.match(c.path), c.expected ? Values{7} : Values{}) << c.pattern << " vs " << c.path;
  }
}

TEST(PathGlobSetTest, AddErrors) {
  PathGlobSet set;
  EXPECT_EQ(set.add("", 0), "empty pattern");
  EXPECT_EQ(set.add("etc/shadow", 0), "relative pattern: it must start with '/' or '**/'");
  EXPECT_EQ(set.add("*/x", 0), "relative pattern: it must start with '/' or '**/'");
  EXPECT_EQ(set.add("/a/[bc", 0), "unclosed '['");
  EXPECT_EQ(set.add("/a/[b/c]", 0), "unclosed '['");  // a class never spans '/'
  EXPECT_EQ(set.add("/a/[!]", 0), "unclosed '['");
  EXPECT_EQ(set.add("/a**b", 0), "'**' must be a whole path component");
  EXPECT_EQ(set.add("/a/**b", 0), "'**' must be a whole path component");
  EXPECT_EQ(set.add("/a/b**", 0), "'**' must be a whole path component");
  EXPECT_EQ(set.add("/***", 0), "'**' must be a whole path component");
  EXPECT_EQ(set.add("**x", 0), "'**' must be a whole path component");
  EXPECT_EQ(set.add("/a//b", 0), "empty path component");
  EXPECT_EQ(set.add("/a//", 0), "empty path component");
  EXPECT_EQ(set.add("/a/./b", 0), "'.' and '..' components never match a normalised path");
  EXPECT_EQ(set.add("/a/..", 0), "'.' and '..' components never match a normalised path");
  EXPECT_EQ(set.add("/[z-a]", 0), "bad character range 'z-a'");
  EXPECT_TRUE(set.empty());
  EXPECT_FALSE(set.matches("/a/b"));

  EXPECT_EQ(check_glob("/a/"), "");
  EXPECT_EQ(check_glob("**/"), "");
  EXPECT_EQ(check_glob("/.env"), "");
  EXPECT_EQ(check_glob("/a"), "");
}

TEST(PathGlobSetTest, ReturnsAllValuesSortedAndUnique) {
  PathGlobSet set;
  ASSERT_EQ(set.add("/home/*/.ssh/**", 5), "");
  ASSERT_EQ(set.add("**/id_rsa", 2), "");
  ASSERT_EQ(set.add("/home/alice/**", 9), "");
  ASSERT_EQ(set.add("**/id_*", 2), "");  // same value from two patterns: reported once
  ASSERT_EQ(set.add("/home/alice/.ssh/id_rsa", 0), "");
  ASSERT_EQ(set.add("/home/alice/.ssh/id_rsa", 0), "");  // added twice
  ASSERT_EQ(set.add("**/*.pem", 4), "");
  EXPECT_EQ(set.size(), 7u);

  EXPECT_EQ(set.match("/home/alice/.ssh/id_rsa"), (Values{0, 2, 5, 9}));
  EXPECT_EQ(set.first("/home/alice/.ssh/id_rsa"), 0u);
  EXPECT_EQ(set.match("/home/bob/.ssh/id_rsa"), (Values{2, 5}));
  EXPECT_EQ(set.first("/home/bob/.ssh/id_rsa"), 2u);
  EXPECT_EQ(set.match("/home/bob/.ssh/known_hosts"), (Values{5}));
  EXPECT_EQ(set.match("/home/bob/.ssh"), (Values{5}));
  EXPECT_EQ(set.match("/srv/tls/server.pem"), (Values{4}));
  EXPECT_EQ(set.match("/usr/bin/ls"), (Values{}));
  EXPECT_EQ(set.first("/usr/bin/ls"), std::nullopt);
  EXPECT_FALSE(set.matches("/usr/bin/ls"));
  EXPECT_FALSE(set.matches("home/alice/x"));  // not absolute
  EXPECT_FALSE(set.matches(""));
}

TEST(PathGlobSetTest, PrefixSuffixAndStarEdgesAtOneNode) {
  PathGlobSet set;
  ASSERT_EQ(set.add("/d/*", 0), "");
  ASSERT_EQ(set.add("/d/id_*", 1), "");
  ASSERT_EQ(set.add("/d/id*", 2), "");
  ASSERT_EQ(set.add("/d/*.pem", 3), "");
  ASSERT_EQ(set.add("/d/*pem", 4), "");
  ASSERT_EQ(set.add("/d/id_*.pem", 5), "");
  ASSERT_EQ(set.add("/d/i?_rsa", 6), "");
  ASSERT_EQ(set.add("/d/id_rsa", 7), "");
  EXPECT_EQ(set.match("/d/id_rsa"), (Values{0, 1, 2, 6, 7}));
  EXPECT_EQ(set.match("/d/id_x.pem"), (Values{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(set.match("/d/pem"), (Values{0, 4}));
  EXPECT_EQ(set.match("/d/id"), (Values{0, 2}));
  EXPECT_EQ(set.match("/d"), (Values{}));
}

TEST(PathGlobSetTest, ConcurrentReadersAgree) {
  PathGlobSet set;
  ASSERT_EQ(set.add("/home/*/.ssh/**", 1), "");
  ASSERT_EQ(set.add("**/.env", 2), "");
  ASSERT_EQ(set.add("**/*.pem", 3), "");
  std::vector<std::thread> threads;
  std::vector<int> wrong(4, 0);
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20000; ++i) {
        if (set.match("/home/u/.ssh/x/y.pem") != Values{1, 3}) ++wrong[t];
        if (set.match("/srv/.env") != Values{2}) ++wrong[t];
        if (set.matches("/srv/env")) ++wrong[t];
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong, std::vector<int>(4, 0));
}

// Random patterns and paths over a small alphabet, so that matches are frequent and every
// kind of edge (literal, prefix, suffix, '*', '**', other wildcards) is exercised together.
TEST(PathGlobSetTest, RandomisedCrossCheckAgainstGlobMatches) {
  const std::vector<std::string> path_parts = {"a", "b", "ab", "ba", "abc", ".env", "x.pem", "b.pem", "]"};
  const std::vector<std::string> glob_parts = {
      "a", "b",  "ab", ".env", "x.pem", "*",      "**",  "**",  "*.pem", "a*",  "*b",  "ab*",
      "?", "?b", "a?", "[ab]", "[!a]*", "[a-c]?", "*a*", ".e*", "x.*",   "*.*", "[]]", "*[b]"};
  std::mt19937 rng(12345);
  auto pick = [&](const std::vector<std::string>& v) { return v[rng() % v.size()]; };

  size_t checked = 0, hits = 0;
  for (int round = 0; round < 300; ++round) {
    std::vector<std::string> patterns;
    PathGlobSet set;
    const int n = 1 + static_cast<int>(rng() % 40);
    for (int i = 0; i < n; ++i) {
      std::string p = rng() % 4 == 0 ? "**" : "";
      const int depth = static_cast<int>(rng() % 5);
      for (int d = 0; d < depth; ++d) p += "/" + pick(glob_parts);
      if (p.empty()) p = "/";
      if (rng() % 8 == 0 && p.size() > 1) p += "/";
      ASSERT_EQ(check_glob(p), "") << p;
      ASSERT_EQ(set.add(p, static_cast<uint32_t>(i)), "") << p;
      patterns.push_back(p);
    }
    for (int q = 0; q < 60; ++q) {
      std::string path;
      const int depth = static_cast<int>(rng() % 6);
      for (int d = 0; d < depth; ++d) path += "/" + pick(path_parts);
      if (path.empty()) path = "/";
      Values expected;
      for (size_t i = 0; i < patterns.size(); ++i)
        if (glob_matches(patterns[i], path)) expected.push_back(static_cast<uint32_t>(i));
      ASSERT_EQ(set.match(path), expected) << "path " << path << " round " << round;
      ASSERT_EQ(set.matches(path), !expected.empty()) << path;
      ASSERT_EQ(set.first(path), expected.empty() ? std::nullopt : std::optional<uint32_t>(expected[0]));
      ++checked;
      hits += !expected.empty();
    }
  }
  EXPECT_EQ(checked, 300u * 60u);
  // The alphabet is meant to make matches common; a generator change that made them rare would
  // make this test check little.
  EXPECT_GT(hits, checked / 4);
}

// ---- CidrSet -----------------------------------------------------------------------------------

std::array<uint8_t, 16> bytes_of(int family, const char* text) {
  std::array<uint8_t, 16> b{};
  EXPECT_EQ(inet_pton(family, text, b.data()), 1) << text;
  return b;
}

TEST(CidrSetTest, AllMatchesAndLongest) {
  CidrSet set;
  ASSERT_EQ(set.add("0.0.0.0/0", 50), "");
  ASSERT_EQ(set.add("10.0.0.0/8", 3), "");
  ASSERT_EQ(set.add("10.1.0.0/16", 7), "");
  ASSERT_EQ(set.add("10.1.2.0/23", 1), "");  // length not a multiple of four
  ASSERT_EQ(set.add("10.1.2.3", 9), "");     // /32
  ASSERT_EQ(set.add("10.1.2.3/32", 9), "");  // same again: reported once
  ASSERT_EQ(set.add("192.168.0.0/16", 2), "");
  EXPECT_EQ(set.size(), 7u);

  EXPECT_EQ(set.match("10.1.2.3"), (Values{1, 3, 7, 9, 50}));
  EXPECT_EQ(set.longest("10.1.2.3"), 9u);
  EXPECT_EQ(set.first("10.1.2.3"), 1u);
  EXPECT_EQ(set.match("10.1.3.255"), (Values{1, 3, 7, 50}));
  EXPECT_EQ(set.longest("10.1.3.255"), 1u);
  EXPECT_EQ(set.match("10.1.4.0"), (Values{3, 7, 50}));
  EXPECT_EQ(set.longest("10.1.4.0"), 7u);
  EXPECT_EQ(set.match("10.2.0.0"), (Values{3, 50}));
  EXPECT_EQ(set.match("11.0.0.0"), (Values{50}));
  EXPECT_EQ(set.longest("11.0.0.0"), 50u);
  EXPECT_EQ(set.match("192.168.255.1"), (Values{2, 50}));
  EXPECT_EQ(set.longest("192.168.255.1"), 2u);
  // IPv4 prefixes do not match IPv6 addresses, and bad text matches nothing.
  EXPECT_EQ(set.match("::1"), (Values{}));
  EXPECT_EQ(set.longest("::1"), std::nullopt);
  EXPECT_EQ(set.match("10.1.2"), (Values{}));
  EXPECT_FALSE(set.matches("not an address"));
  EXPECT_FALSE(set.matches(""));
}

TEST(CidrSetTest, OddPrefixLengthsCoverExactlyTheirRange) {
  for (int len = 0; len <= 32; ++len) {
    CidrSet set;
    // 172.16.0.0 = 0xAC100000 masked to `len` bits.
    uint32_t base = len == 0 ? 0 : 0xAC100000u & ~((1ull << (32 - len)) - 1);
    in_addr a{htonl(base)};
    char text[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &a, text, sizeof text);
    ASSERT_EQ(set.add(std::string(text) + "/" + std::to_string(len), 1), "") << text << "/" << len;
    const uint64_t size = 1ull << (32 - len);
    for (uint64_t probe : {uint64_t{0}, size - 1, size, size / 2, uint64_t{0} - 1}) {
      const uint32_t addr = static_cast<uint32_t>(base + probe);
      const bool inside = len == 0 || (addr & ~static_cast<uint32_t>((1ull << (32 - len)) - 1)) == base;
      std::array<uint8_t, 16> b{};
      const uint32_t be = htonl(addr);
      std::memcpy(b.data(), &be, 4);
      EXPECT_EQ(set.matches(AF_INET, b.data()), inside) << "len " << len << " probe " << addr;
    }
  }
}

// A rule's CIDRs share its value; two of one length that end in the same trie node (here the
// last nibble's two top bits differ) must both match, not the first one alone.
TEST(CidrSetTest, OneValuesPrefixesOfOneLengthInOneNodeAllMatch) {
  CidrSet set;
  ASSERT_EQ(set.add("127.0.0.52/30", 4), "");
  ASSERT_EQ(set.add("127.0.0.56/30", 4), "");
  ASSERT_EQ(set.add("127.0.0.50/31", 4), "");
  ASSERT_EQ(set.add("fd00::4/126", 4), "");
  ASSERT_EQ(set.add("fd00::8/126", 4), "");
  for (int last = 40; last < 70; ++last) {
    const std::string a = "127.0.0." + std::to_string(last);
    const bool inside = last >= 50 && last <= 59;
    EXPECT_EQ(set.matches(a), inside) << a;
    EXPECT_EQ(set.match(a), inside ? Values{4} : Values{}) << a;
    EXPECT_EQ(set.longest(a), inside ? std::optional<uint32_t>(4) : std::nullopt) << a;
  }
  EXPECT_TRUE(set.matches("fd00::5"));
  EXPECT_TRUE(set.matches("fd00::b"));
  EXPECT_FALSE(set.matches("fd00::c"));
  EXPECT_FALSE(set.matches("fd00::3"));
}

TEST(CidrSetTest, Ipv6AndMappedIpv4) {
  CidrSet set;
  ASSERT_EQ(set.add("::1", 1), "");
  ASSERT_EQ(set.add("fd00::/8", 2), "");
  ASSERT_EQ(set.add("fd12:3456::/32", 3), "");
  ASSERT_EQ(set.add("::/0", 4), "");
  ASSERT_EQ(set.add("127.0.0.0/8", 5), "");
  ASSERT_EQ(set.add("::ffff:192.168.0.0/112", 6), "");  // stored as 192.168.0.0/16
  EXPECT_EQ(set.match("::1"), (Values{1, 4}));
  EXPECT_EQ(set.longest("::1"), 1u);
  EXPECT_EQ(set.match("::2"), (Values{4}));
  EXPECT_EQ(set.match("fd12:3456::1"), (Values{2, 3, 4}));
  EXPECT_EQ(set.longest("fd12:3456::1"), 3u);
  EXPECT_EQ(set.match("FD99::1"), (Values{2, 4}));
  // IPv4-mapped addresses are looked up as IPv4, so ::/0 does not cover them.
  EXPECT_EQ(set.match("::ffff:127.0.0.1"), (Values{5}));
  EXPECT_EQ(set.match("::ffff:192.168.1.1"), (Values{6}));
  EXPECT_EQ(set.match("192.168.1.1"), (Values{6}));
  EXPECT_EQ(set.match("::ffff:8.8.8.8"), (Values{}));

  // The byte form, as cf_net carries it.
  auto v6 = bytes_of(AF_INET6, "fd12:3456::9");
  EXPECT_EQ(set.match(AF_INET6, v6.data()), (Values{2, 3, 4}));
  EXPECT_EQ(set.longest(AF_INET6, v6.data()), 3u);
  EXPECT_EQ(set.first(AF_INET6, v6.data()), 2u);
  auto mapped = bytes_of(AF_INET6, "::ffff:127.1.2.3");
  EXPECT_EQ(set.match(AF_INET6, mapped.data()), (Values{5}));
  auto v4 = bytes_of(AF_INET, "127.9.9.9");
  EXPECT_EQ(set.match(AF_INET, v4.data()), (Values{5}));
  EXPECT_TRUE(set.matches(AF_INET, v4.data()));
  EXPECT_FALSE(set.matches(AF_UNIX, v4.data()));
  EXPECT_EQ(set.longest(AF_UNIX, v4.data()), std::nullopt);
}

// Random IPv6 prefixes (v6 exercises 33 trie levels) against a brute-force scan.
TEST(CidrSetTest, RandomisedCrossCheckAgainstBruteForce) {
  struct Prefix {
    std::array<uint8_t, 16> bytes;
    int length;
  };
  auto contains = [](const Prefix& p, const std::array<uint8_t, 16>& a) {
    for (int bit = 0; bit < p.length; ++bit)
      if (((p.bytes[bit / 8] ^ a[bit / 8]) & (0x80 >> (bit % 8))) != 0) return false;
    return true;
  };
  std::mt19937 rng(777);
  for (int round = 0; round < 50; ++round) {
    CidrSet set;
    std::vector<Prefix> prefixes;
    // Addresses share their first bytes so prefixes nest often.
    auto random_address = [&] {
      std::array<uint8_t, 16> a{};
      a[0] = 0xfd;
      for (int i = 1; i < 16; ++i) a[i] = static_cast<uint8_t>(i < 3 ? rng() % 2 : rng());
      return a;
    };
    for (uint32_t i = 0; i < 60; ++i) {
      Prefix p{random_address(), static_cast<int>(rng() % 129)};
      for (int bit = p.length; bit < 128; ++bit) p.bytes[bit / 8] &= ~(0x80 >> (bit % 8));
      char text[INET6_ADDRSTRLEN];
      ASSERT_NE(inet_ntop(AF_INET6, p.bytes.data(), text, sizeof text), nullptr);
      ASSERT_EQ(set.add(std::string(text) + "/" + std::to_string(p.length), i), "") << text;
      prefixes.push_back(p);
    }
    for (int q = 0; q < 200; ++q) {
      // Half the probes start inside a known prefix.
      std::array<uint8_t, 16> a = random_address();
      if (q % 2) {
        const Prefix& p = prefixes[rng() % prefixes.size()];
        for (int bit = 0; bit < p.length; ++bit) {
          const uint8_t m = static_cast<uint8_t>(0x80 >> (bit % 8));
          a[bit / 8] = static_cast<uint8_t>((a[bit / 8] & ~m) | (p.bytes[bit / 8] & m));
        }
      }
      Values expected;
      std::optional<uint32_t> longest;
      int longest_length = -1;
      for (uint32_t i = 0; i < prefixes.size(); ++i) {
        if (!contains(prefixes[i], a)) continue;
        expected.push_back(i);
        if (prefixes[i].length > longest_length) {
          longest_length = prefixes[i].length;
          longest = i;
        }
      }
      ASSERT_EQ(set.match(AF_INET6, a.data()), expected);
      ASSERT_EQ(set.longest(AF_INET6, a.data()), longest);
    }
  }
}

TEST(CidrSetTest, AddErrors) {
  CidrSet set;
  EXPECT_EQ(set.add("", 0), "empty CIDR");
  EXPECT_EQ(set.add("10.0.0.1/8", 0), "host bits set");
  EXPECT_EQ(set.add("fd00::1/8", 0), "host bits set");
  EXPECT_EQ(set.add("10.0.0.0/33", 0), "prefix length 33 out of range (0-32)");
  EXPECT_EQ(set.add("::/129", 0), "prefix length 129 out of range (0-128)");
  EXPECT_EQ(set.add("10.0.0.0/", 0), "bad prefix length ''");
  EXPECT_EQ(set.add("10.0.0.0/-1", 0), "bad prefix length '-1'");
  EXPECT_EQ(set.add("10.0.0.0/8x", 0), "bad prefix length '8x'");
  EXPECT_EQ(set.add("10.0.0.0/1000", 0), "bad prefix length '1000'");
  EXPECT_EQ(set.add("10.0.0/8", 0), "bad address '10.0.0'");
  EXPECT_EQ(set.add("256.0.0.0/8", 0), "bad address '256.0.0.0'");
  EXPECT_EQ(set.add("fd00:::/8", 0), "bad address 'fd00:::'");
  EXPECT_EQ(set.add("example.com", 0), "bad address 'example.com'");
  EXPECT_EQ(set.add("/8", 0), "bad address ''");
  EXPECT_TRUE(set.empty());
  EXPECT_FALSE(set.matches("10.0.0.1"));
}

// ---- HostSet -----------------------------------------------------------------------------------

TEST(HostSetTest, ExactAndWildcard) {
  HostSet set;
  ASSERT_EQ(set.add("api.openai.com", 1), "");
  ASSERT_EQ(set.add("*.slack.com", 2), "");
  ASSERT_EQ(set.add("*.com", 3), "");
  ASSERT_EQ(set.add("Files.Slack.COM.", 4), "");  // case and trailing dot do not matter
  ASSERT_EQ(set.add("github.com", 5), "");
  ASSERT_EQ(set.add("*.github.com", 5), "");
  EXPECT_EQ(set.size(), 6u);

  EXPECT_EQ(set.match("api.openai.com"), (Values{1, 3}));
  EXPECT_EQ(set.match("API.OpenAI.com."), (Values{1, 3}));
  EXPECT_EQ(set.match("openai.com"), (Values{3}));
  EXPECT_EQ(set.match("x.api.openai.com"), (Values{3}));
  EXPECT_EQ(set.match("x.slack.com"), (Values{2, 3}));
  EXPECT_EQ(set.match("a.b.slack.com"), (Values{2, 3}));
  EXPECT_EQ(set.match("slack.com"), (Values{3}));  // '*.' needs at least one label
  EXPECT_EQ(set.match("files.slack.com"), (Values{2, 3, 4}));
  EXPECT_EQ(set.first("files.slack.com"), 2u);
  EXPECT_EQ(set.match("github.com"), (Values{3, 5}));
  EXPECT_EQ(set.match("api.github.com"), (Values{3, 5}));
  EXPECT_EQ(set.match("com"), (Values{}));
  EXPECT_EQ(set.match("slack.org"), (Values{}));
  EXPECT_EQ(set.match("xslack.com"), (Values{3}));  // a label boundary, not a suffix
  EXPECT_EQ(set.first("slack.org"), std::nullopt);
  EXPECT_FALSE(set.matches("example.org"));
  // Malformed names match nothing.
  EXPECT_FALSE(set.matches(""));
  EXPECT_FALSE(set.matches("."));
  EXPECT_FALSE(set.matches("x..slack.com"));
  EXPECT_FALSE(set.matches(".slack.com"));
  EXPECT_FALSE(set.matches(std::string(300, 'a') + ".com"));
}

TEST(HostSetTest, AddErrors) {
  HostSet set;
  EXPECT_EQ(set.add("", 0), "empty hostname");
  EXPECT_EQ(set.add(".", 0), "empty hostname");
  EXPECT_EQ(set.add("a..com", 0), "empty label in hostname");
  EXPECT_EQ(set.add(".a.com", 0), "empty label in hostname");
  EXPECT_EQ(set.add("a.com..", 0), "empty label in hostname");
  EXPECT_EQ(set.add("*.", 0), "'*' is only allowed as a leading '*.' label");  // "*" once the dot goes
  EXPECT_EQ(set.add("a b.com", 0), "invalid character ' ' in hostname");
  EXPECT_EQ(set.add("a/b.com", 0), "invalid character '/' in hostname");
  EXPECT_EQ(set.add("*", 0), "'*' is only allowed as a leading '*.' label");
  EXPECT_EQ(set.add("a.*.com", 0), "'*' is only allowed as a leading '*.' label");
  EXPECT_EQ(set.add("*.*.com", 0), "'*' is only allowed as a leading '*.' label");
  EXPECT_EQ(set.add("*x.com", 0), "'*' is only allowed as a leading '*.' label");
  EXPECT_EQ(set.add("x*.com", 0), "'*' is only allowed as a leading '*.' label");
  EXPECT_EQ(set.add(std::string(64, 'a') + ".com", 0), "label longer than 63 characters");
  std::string long_name;
  while (long_name.size() < 254) long_name += "abcdefghi.";
  long_name.resize(254);
  EXPECT_EQ(set.add(long_name, 0), "hostname longer than 253 characters");
  EXPECT_TRUE(set.empty());

  // The limits themselves are fine; '_' and '-' are label characters.
  EXPECT_EQ(set.add(std::string(63, 'a') + ".com", 0), "");
  std::string name_253;
  while (name_253.size() < 253) name_253 += "abcdefgh.";
  name_253.resize(253);
  if (name_253.back() == '.') name_253.back() = 'x';
  EXPECT_EQ(set.add(name_253, 1), "");
  EXPECT_EQ(set.add(name_253 + ".", 1), "");
  EXPECT_TRUE(set.matches(name_253));
  EXPECT_EQ(set.add("_srv-1.my-host.example", 2), "");
  EXPECT_TRUE(set.matches("_SRV-1.my-host.example"));
}

// ---- PortSet -----------------------------------------------------------------------------------

TEST(PortSetTest, SinglePortsAndRanges) {
  PortSet set;
  EXPECT_TRUE(set.empty());
  ASSERT_EQ(set.add("443"), "");
  ASSERT_EQ(set.add("8000-8080"), "");
  ASSERT_EQ(set.add(" 22 "), "");
  ASSERT_EQ(set.add("65535"), "");
  ASSERT_EQ(set.add("1 - 2"), "");
  EXPECT_FALSE(set.empty());
  EXPECT_TRUE(set.contains(443));
  EXPECT_FALSE(set.contains(444));
  EXPECT_FALSE(set.contains(7999));
  EXPECT_TRUE(set.contains(8000));
  EXPECT_TRUE(set.contains(8042));
  EXPECT_TRUE(set.contains(8080));
  EXPECT_FALSE(set.contains(8081));
  EXPECT_TRUE(set.contains(22));
  EXPECT_TRUE(set.contains(65535));
  EXPECT_TRUE(set.contains(1));
  EXPECT_TRUE(set.contains(2));
  EXPECT_FALSE(set.contains(0));
}

TEST(PortSetTest, AddErrors) {
  PortSet set;
  EXPECT_EQ(set.add(""), "empty port");
  EXPECT_EQ(set.add("-80"), "empty port");
  EXPECT_EQ(set.add("80-"), "empty port");
  EXPECT_EQ(set.add("http"), "bad port 'http'");
  EXPECT_EQ(set.add("80-90-100"), "bad port '90-100'");
  EXPECT_EQ(set.add("123456"), "bad port '123456'");
  EXPECT_EQ(set.add("0"), "port 0 out of range (1-65535)");
  EXPECT_EQ(set.add("65536"), "port 65536 out of range (1-65535)");
  EXPECT_EQ(set.add("8080-8000"), "bad port range '8080-8000': start above end");
  EXPECT_TRUE(set.empty());
}

}  // namespace
}  // namespace clawfence::policy
