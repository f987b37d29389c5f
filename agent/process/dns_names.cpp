#include "process/dns_names.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>

namespace clawfence::process {

namespace {

// An address as the decoder prints a DNS server: IPv4, IPv4-mapped IPv6 as IPv4, else IPv6; ""
// when the text is no address.
std::string canonical_address(const std::string& text) {
  char buf[INET6_ADDRSTRLEN] = {};
  in_addr v4{};
  in6_addr v6{};
  if (inet_pton(AF_INET, text.c_str(), &v4) == 1) return inet_ntop(AF_INET, &v4, buf, sizeof(buf)) ? buf : "";
  if (inet_pton(AF_INET6, text.c_str(), &v6) != 1) return "";
  if (IN6_IS_ADDR_V4MAPPED(&v6)) return inet_ntop(AF_INET, &v6.s6_addr[12], buf, sizeof(buf)) ? buf : "";
  return inet_ntop(AF_INET6, &v6, buf, sizeof(buf)) ? buf : "";
}

}  // namespace

void DnsNames::set_resolvers(const std::vector<std::string>& servers) {
  resolvers_.clear();
  for (const auto& s : servers)
    if (std::string c = canonical_address(s); !c.empty()) resolvers_.insert(std::move(c));
}

bool DnsNames::learn(uint32_t pid, const v1::Dns& answer, int64_t now_ns) {
  // a server of the process's own choosing must not name an address of its choosing (an
  // approved name's rules would follow the name in monitor mode as they would in the kernel)
  if (!resolvers_.empty() && !resolvers_.count(canonical_address(answer.server()))) {
    ++foreign_answers_;
    return false;
  }
  if (answer.query().empty() || answer.addresses().empty()) return false;
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
  return true;
}

DnsNames::Names DnsNames::names_for(uint32_t pid, const std::string& address, int64_t now_ns) const {
  auto p = by_pid_.find(pid);
  if (p == by_pid_.end()) return {};
  auto e = p->second.find(address);
  if (e == p->second.end() || e->second.expires_ns <= now_ns) return {};
  return e->second.names;
}

}  // namespace clawfence::process
