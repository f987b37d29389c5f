// Which names a watched process resolved to which addresses, learned from the DNS answers it
// received (in ring-buffer order, so an answer is learned before the connect that uses it).
// Per process: a name counts only for the process that asked. Entries live for the answer's
// TTL, and at least `min_ttl` (resolvers and runtimes cache beyond short TTLs). Bounded.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "proto/clawfence.pb.h"

namespace clawfence::process {

class DnsNames {
 public:
  explicit DnsNames(int64_t min_ttl_ns = kFloorNs, size_t max_processes = 4096,
                    size_t max_per_process = 1024)
      : min_ttl_ns_(min_ttl_ns), max_processes_(max_processes), max_per_process_(max_per_process) {}

  void learn(uint32_t pid, const v1::Dns& answer, int64_t now_ns);
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
  size_t max_processes_, max_per_process_;
  std::unordered_map<uint32_t, std::unordered_map<std::string, Entry>> by_pid_;
};

}  // namespace clawfence::process
