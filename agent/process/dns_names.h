// Which names a watched process resolved to which addresses, learned from the DNS answers it
// received (in ring-buffer order, so an answer is learned before the connect that uses it).
// Per process: a name counts only for the process that asked. Only the configured resolvers'
// answers count (a server of the process's own choosing names nothing), as in the kernel. Entries live for the answer's
// TTL, and at least `min_ttl` (resolvers and runtimes cache beyond short TTLs). Bounded.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "proto/clawfence.pb.h"

namespace clawfence::process {

class DnsNames {
 public:
  explicit DnsNames(int64_t min_ttl_ns = kFloorNs, size_t max_processes = 4096,
                    size_t max_per_process = 1024)
      : min_ttl_ns_(min_ttl_ns), max_processes_(max_processes), max_per_process_(max_per_process) {}

  // Learns the names of an answer, when it comes from one of the resolvers (or any server while
  // none are set). Returns whether it was learned from (an answer from another server is not).
  bool learn(uint32_t pid, const v1::Dns& answer, int64_t now_ns);
  // The servers whose answers name addresses: the rules' egress.dns_resolvers, else the host's
  // (/etc/resolv.conf), as the kernel's guard_resolvers in enforce mode. Empty: every server (the
  // kernel then approves from any answer too). Text that is no IP address is ignored.
  void set_resolvers(const std::vector<std::string>& servers);
  // Answers not learned from because their server is not a resolver.
  uint64_t foreign_answers() const { return foreign_answers_; }
  struct Names {
    std::string name;                 // the name asked for ("" if none, or expired)
    std::vector<std::string> cnames;  // the CNAME chain it went through
  };
  // What `pid` resolved to `address`.
  Names names_for(uint32_t pid, const std::string& address, int64_t now_ns) const;
  void forget(uint32_t pid) { by_pid_.erase(pid); }
  // The rules' egress.dns_min_ttl: names learned from now on live at least this long, as the
  // kernel keeps the addresses approved, and never less than 60 s: the kernel also holds an
  // address past its TTL while a connection still sends to it, which the agent cannot see, so a
  // shorter life would name fewer connects than the kernel allows.
  void set_min_ttl(int64_t min_ttl_ns) { min_ttl_ns_ = std::max<int64_t>(min_ttl_ns, kFloorNs); }
  static constexpr int64_t kFloorNs = 60'000'000'000ll;

 private:
  struct Entry {
    Names names;
    int64_t expires_ns;
  };
  int64_t min_ttl_ns_;
  std::unordered_set<std::string> resolvers_;  // canonical text (IPv4-mapped IPv6 as IPv4)
  uint64_t foreign_answers_ = 0;
  size_t max_processes_, max_per_process_;
  std::unordered_map<uint32_t, std::unordered_map<std::string, Entry>> by_pid_;
};

}  // namespace clawfence::process
