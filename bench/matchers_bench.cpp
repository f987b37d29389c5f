// Per-lookup cost of the policy matchers (agent/policy/matchers.h) with a small policy (10
// patterns each) and a large one (10,000 CIDRs, 1,000 hostnames, 1,000 path globs), on the same
// mix of hits and misses. The point is the ratio: a lookup should cost about the same at both
// sizes. One linear scan with the reference glob_matches shows what the trie saves. Each figure is
// the best of 3 timed batches of at least 100 ms.
//
//   matchers_bench
#include <arpa/inet.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "policy/matchers.h"

namespace {

using clawfence::policy::CidrSet;
using clawfence::policy::HostSet;
using clawfence::policy::PathGlobSet;

constexpr size_t kSmall = 10;
constexpr size_t kLargeCidrs = 10000;
constexpr size_t kLargeHosts = 1000;
constexpr size_t kLargeGlobs = 1000;
constexpr size_t kLookups = 4096;

volatile size_t g_sink = 0;  // results feed this so the lookups cannot be optimised away

template <typename Fn>
double ns_per_lookup(size_t inputs, Fn&& lookup_all) {
  using Clock = std::chrono::steady_clock;
  lookup_all();  // warm caches and the per-thread scratch
  double best = 1e300;
  for (int batch = 0; batch < 3; ++batch) {
    size_t lookups = 0;
    auto start = Clock::now();
    std::chrono::duration<double, std::nano> elapsed{};
    do {
      lookup_all();
      lookups += inputs;
      elapsed = Clock::now() - start;
    } while (elapsed < std::chrono::milliseconds(100));
    best = std::min(best, elapsed.count() / static_cast<double>(lookups));
  }
  return best;
}

void fail(const std::string& what, const std::string& error) {
  std::fprintf(stderr, "matchers_bench: %s: %s\n", what.c_str(), error.c_str());
  std::exit(1);
}

// ---- inputs ------------------------------------------------------------------------------------

const std::vector<std::string> kCoreGlobs = {
    "/home/*/.ssh/**", "**/.env",         "/etc/shadow",       "**/*.pem",       "/home/*/.aws/credentials",
    "**/id_rsa*",      "/proc/*/environ", "/etc/sudoers.d/**", "**/.git/config", "/root/**",
};

std::vector<std::string> globs(size_t n) {
  std::vector<std::string> out(kCoreGlobs.begin(), kCoreGlobs.end());
  for (size_t i = 0; out.size() < n; ++i) {
    const std::string k = std::to_string(i);
    switch (i % 6) {
      case 0:
        out.push_back("/srv/app" + k + "/config/*.yaml");
        break;
      case 1:
        out.push_back("/home/*/.config/tool" + k + "/**");
        break;
      case 2:
        out.push_back("**/*.secret" + k);
        break;
      case 3:
        out.push_back("/var/lib/svc" + k + "/[a-f]*.db");
        break;
      case 4:
        out.push_back("**/.cache" + k + "/**");
        break;
      default:
        out.push_back("/opt/vendor" + k + "/bin/*");
        break;
    }
  }
  out.resize(n);
  return out;
}

std::vector<std::string> paths(std::mt19937& rng) {
  const std::vector<std::string> hits = {"/home/alice/.ssh/id_rsa",
                                         "/home/bob/project/.env",
                                         "/etc/shadow",
                                         "/tmp/x/server.pem",
                                         "/proc/1234/environ",
                                         "/srv/app42/config/db.yaml",
                                         "/home/carol/.config/tool7/settings.json",
                                         "/var/lib/svc9/abc.db",
                                         "/home/dave/src/repo/.git/config",
                                         "/root/.bash_history"};
  const std::vector<std::string> misses = {"/usr/lib/x86_64-linux-gnu/libc.so.6",
                                           "/usr/bin/python3",
                                           "/home/alice/project/src/main.cpp",
                                           "/tmp/build/out.o",
                                           "/var/log/syslog",
                                           "/proc/self/status",
                                           "/srv/app42/data/blob.bin",
                                           "/home/alice/.cache/pip/wheels/ab/cd/x.whl",
                                           "/usr/share/zoneinfo/Europe/Paris",
                                           "/home/erin/node_modules/left-pad/index.js"};
  std::vector<std::string> out;
  for (size_t i = 0; i < kLookups; ++i) {
    const auto& from = i % 2 ? hits : misses;
    out.push_back(from[rng() % from.size()]);
  }
  return out;
}

const std::vector<std::string> kCoreHosts = {"api.openai.com",     "*.openai.com", "api.anthropic.com",
                                             "*.slack.com",        "github.com",   "*.githubusercontent.com",
                                             "registry.npmjs.org", "pypi.org",     "files.pythonhosted.org",
                                             "*.amazonaws.com"};

std::vector<std::string> hosts(size_t n) {
  std::vector<std::string> out(kCoreHosts.begin(), kCoreHosts.end());
  for (size_t i = 0; out.size() < n; ++i) {
    const std::string k = std::to_string(i);
    switch (i % 3) {
      case 0:
        out.push_back("svc" + k + ".example" + std::to_string(i % 50) + ".com");
        break;
      case 1:
        out.push_back("*.tenant" + k + ".internal");
        break;
      default:
        out.push_back("api" + k + ".vendor" + std::to_string(i % 20) + ".io");
        break;
    }
  }
  out.resize(n);
  return out;
}

std::vector<std::string> lookup_hosts(std::mt19937& rng) {
  const std::vector<std::string> hits = {"api.openai.com",
                                         "chat.openai.com",
                                         "hooks.slack.com",
                                         "raw.githubusercontent.com",
                                         "s3.us-east-1.amazonaws.com",
                                         "github.com",
                                         "svc3.example3.com",
                                         "x.tenant4.internal",
                                         "pypi.org",
                                         "api.anthropic.com"};
  const std::vector<std::string> misses = {"evil.example.net", "www.google.com",
                                           "pastebin.com",     "svc3.example4.com",
                                           "localhost",        "tenant4.internal",
                                           "cdn.jsdelivr.net", "api.vendor3.io.evil.org",
                                           "a.b.c.d.e.f",      "x.io"};
  std::vector<std::string> out;
  for (size_t i = 0; i < kLookups; ++i) {
    const auto& from = i % 2 ? hits : misses;
    out.push_back(from[rng() % from.size()]);
  }
  return out;
}

struct Address {
  int family;
  std::array<uint8_t, 16> bytes;
  std::string text;
};

Address make_address(int family, const std::array<uint8_t, 16>& bytes) {
  char text[INET6_ADDRSTRLEN];
  inet_ntop(family, bytes.data(), text, sizeof text);
  return Address{family, bytes, text};
}

const std::vector<std::string> kCoreCidrs = {
    "10.0.0.0/8",    "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8", "169.254.169.254/32",
    "100.64.0.0/10", "::1",           "fd00::/8",       "fe80::/10",   "0.0.0.0/8"};

// The core prefixes, then random IPv4 /16-/32 (80%) and IPv6 /48-/64 in
// 2001:db8::/32 (20%) with host bits clear.
// Every prefix is also returned in `prefixes` so lookups can aim inside them.
struct Prefix {
  Address address;
  int length;
};

std::vector<std::string> cidrs(size_t n, std::mt19937& rng, std::vector<Prefix>* prefixes) {
  std::vector<std::string> out;
  for (size_t i = 0; i < n; ++i) {
    std::array<uint8_t, 16> b{};
    int family, length;
    if (i < kCoreCidrs.size()) {
      const std::string& c = kCoreCidrs[i];
      const size_t slash = c.find('/');
      family = c.find(':') == std::string::npos ? AF_INET : AF_INET6;
      inet_pton(family, c.substr(0, slash).c_str(), b.data());
      length = slash == std::string::npos ? (family == AF_INET ? 32 : 128) : std::stoi(c.substr(slash + 1));
    } else if (rng() % 5 != 0) {
      family = AF_INET;
      length = 16 + static_cast<int>(rng() % 17);
      for (int k = 0; k < 4; ++k) b[k] = static_cast<uint8_t>(rng());
    } else {
      family = AF_INET6;
      length = 48 + static_cast<int>(rng() % 17);
      b[0] = 0x20;  // 2001:db8::/32
      b[1] = 0x01;
      b[2] = 0x0d;
      b[3] = 0xb8;
      for (int k = 4; k < 16; ++k) b[k] = static_cast<uint8_t>(rng());
    }
    const int max = family == AF_INET ? 32 : 128;
    for (int bit = length; bit < max; ++bit) b[bit / 8] &= static_cast<uint8_t>(~(0x80 >> (bit % 8)));
    Address a = make_address(family, b);
    out.push_back(a.text + "/" + std::to_string(length));
    prefixes->push_back({a, length});
  }
  return out;
}

// Half the addresses fall inside a random prefix of the set (hits), half are random public IPv4
// and IPv6 addresses (misses, barring the odd large prefix).
std::vector<Address> lookup_addresses(std::mt19937& rng, const std::vector<Prefix>& prefixes) {
  std::vector<Address> out;
  for (size_t i = 0; i < kLookups; ++i) {
    std::array<uint8_t, 16> b{};
    int family = i % 4 == 3 ? AF_INET6 : AF_INET;
    if (i % 2 == 0) {
      const Prefix& p = prefixes[rng() % prefixes.size()];
      family = p.address.family;
      b = p.address.bytes;
      const int max = family == AF_INET ? 32 : 128;
      for (int bit = p.length; bit < max; ++bit)
        if (rng() & 1) b[bit / 8] |= static_cast<uint8_t>(0x80 >> (bit % 8));
    } else if (family == AF_INET) {
      for (int k = 0; k < 4; ++k) b[k] = static_cast<uint8_t>(rng());
      b[0] = static_cast<uint8_t>(20 + b[0] % 40);
    } else {
      b[0] = 0x26;
      b[1] = 0x06;
      for (int k = 2; k < 16; ++k) b[k] = static_cast<uint8_t>(rng());
    }
    out.push_back(make_address(family, b));
  }
  return out;
}

// ---- runs --------------------------------------------------------------------------------------

struct Row {
  std::string matcher;
  size_t patterns;
  double ns;
  double hit_rate;
};

Row bench_globs(size_t n, const std::vector<std::string>& inputs) {
  PathGlobSet set;
  const auto patterns = globs(n);
  for (size_t i = 0; i < patterns.size(); ++i) {
    std::string error = set.add(patterns[i], static_cast<uint32_t>(i));
    if (!error.empty()) fail(patterns[i], error);
  }
  size_t hits = 0;
  for (const auto& p : inputs) hits += set.matches(p);
  double ns = ns_per_lookup(inputs.size(), [&] {
    for (const auto& p : inputs) g_sink += set.match(p).size();
  });
  return {"PathGlobSet::match", n, ns, double(hits) / inputs.size()};
}

Row bench_glob_scan(size_t n, const std::vector<std::string>& all_inputs) {
  // A few hundred inputs are plenty at this cost and keep the run short.
  const std::vector<std::string> inputs(all_inputs.begin(), all_inputs.begin() + 256);
  const auto patterns = globs(n);
  size_t hits = 0;
  auto scan = [&](const std::string& path) {
    std::vector<uint32_t> out;
    for (size_t i = 0; i < patterns.size(); ++i)
      if (clawfence::policy::glob_matches(patterns[i], path)) out.push_back(static_cast<uint32_t>(i));
    return out;
  };
  for (const auto& p : inputs) hits += !scan(p).empty();
  double ns = ns_per_lookup(inputs.size(), [&] {
    for (const auto& p : inputs) g_sink += scan(p).size();
  });
  return {"glob_matches, one pattern at a time", n, ns, double(hits) / inputs.size()};
}

Row bench_hosts(size_t n, const std::vector<std::string>& inputs) {
  HostSet set;
  const auto patterns = hosts(n);
  for (size_t i = 0; i < patterns.size(); ++i) {
    std::string error = set.add(patterns[i], static_cast<uint32_t>(i));
    if (!error.empty()) fail(patterns[i], error);
  }
  size_t hits = 0;
  for (const auto& h : inputs) hits += set.matches(h);
  double ns = ns_per_lookup(inputs.size(), [&] {
    for (const auto& h : inputs) g_sink += set.match(h).size();
  });
  return {"HostSet::match", n, ns, double(hits) / inputs.size()};
}

std::vector<Row> bench_cidrs(size_t n, std::mt19937& rng) {
  CidrSet set;
  std::vector<Prefix> prefixes;
  const auto patterns = cidrs(n, rng, &prefixes);
  for (size_t i = 0; i < patterns.size(); ++i) {
    std::string error = set.add(patterns[i], static_cast<uint32_t>(i));
    if (!error.empty()) fail(patterns[i], error);
  }
  const auto inputs = lookup_addresses(rng, prefixes);
  size_t hits = 0;
  for (const auto& a : inputs) hits += set.matches(a.family, a.bytes.data());
  const double rate = double(hits) / inputs.size();
  std::vector<Row> rows;
  rows.push_back({"CidrSet::match (bytes)", n,
                  ns_per_lookup(inputs.size(),
                                [&] {
                                  for (const auto& a : inputs)
                                    g_sink += set.match(a.family, a.bytes.data()).size();
                                }),
                  rate});
  rows.push_back({"CidrSet::longest (bytes)", n,
                  ns_per_lookup(inputs.size(),
                                [&] {
                                  for (const auto& a : inputs)
                                    g_sink += set.longest(a.family, a.bytes.data()).value_or(0);
                                }),
                  rate});
  rows.push_back({"CidrSet::match (text)", n,
                  ns_per_lookup(inputs.size(),
                                [&] {
                                  for (const auto& a : inputs) g_sink += set.match(a.text).size();
                                }),
                  rate});
  return rows;
}

}  // namespace

int main() {
  std::mt19937 rng(2024);
  const auto path_inputs = paths(rng);
  const auto host_inputs = lookup_hosts(rng);

  std::vector<Row> rows;
  for (size_t n : {kSmall, kLargeCidrs}) {
    std::mt19937 cidr_rng(7);
    for (auto& r : bench_cidrs(n, cidr_rng)) rows.push_back(r);
  }
  rows.push_back(bench_hosts(kSmall, host_inputs));
  rows.push_back(bench_hosts(kLargeHosts, host_inputs));
  rows.push_back(bench_globs(kSmall, path_inputs));
  rows.push_back(bench_globs(kLargeGlobs, path_inputs));
  rows.push_back(bench_glob_scan(kLargeGlobs, path_inputs));

  std::printf("| matcher | patterns | ns/lookup |\n|---|---:|---:|\n");
  for (const auto& r : rows) std::printf("| %s | %zu | %.0f |\n", r.matcher.c_str(), r.patterns, r.ns);
  std::printf("\nInputs: %zu lookups per set (256 for the scan), about half of them hits; hit rate per row:",
              kLookups);
  for (const auto& r : rows) std::printf(" %.0f%%", 100 * r.hit_rate);
  std::printf("\n");
  return 0;
}
