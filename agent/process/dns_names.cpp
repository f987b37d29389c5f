#include "process/dns_names.h"

#include <algorithm>

namespace clawfence::process {

void DnsNames::learn(uint32_t pid, const v1::Dns& answer, int64_t now_ns) {
  if (answer.query().empty() || answer.addresses().empty()) return;
  // the chain's smallest TTL bounds how long the answer holds
  uint32_t ttl = UINT32_MAX;
  for (const auto& a : answer.answers()) ttl = std::min(ttl, a.ttl());
  int64_t life = std::max<int64_t>(static_cast<int64_t>(ttl) * 1'000'000'000ll, min_ttl_ns_);
  if (by_pid_.size() >= max_processes_ && !by_pid_.count(pid)) by_pid_.erase(by_pid_.begin());
  auto& names = by_pid_[pid];
  if (names.size() >= max_per_process_) {
    for (auto it = names.begin(); it != names.end();)
      it = it->second.expires_ns <= now_ns ? names.erase(it) : std::next(it);
    if (names.size() >= max_per_process_) names.erase(names.begin());
  }
  Names learned{answer.query(), {}};
  std::string cur = answer.query();
  for (int hops = 0; hops < 16; ++hops) {
    std::string next;
    for (const auto& a : answer.answers())
      if (a.type() == "CNAME" && a.name() == cur) next = a.value();
    if (next.empty()) break;
    learned.cnames.push_back(next);
    cur = next;
  }
  for (const auto& addr : answer.addresses()) names[addr] = Entry{learned, now_ns + life};
}

DnsNames::Names DnsNames::names_for(uint32_t pid, const std::string& address, int64_t now_ns) const {
  auto p = by_pid_.find(pid);
  if (p == by_pid_.end()) return {};
  auto e = p->second.find(address);
  if (e == p->second.end() || e->second.expires_ns <= now_ns) return {};
  return e->second.names;
}

}  // namespace clawfence::process
