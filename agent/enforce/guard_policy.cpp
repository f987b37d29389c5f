#include "enforce/guard_policy.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "enforce/paths.h"

namespace clawfence::enforce {
namespace {

using policy::Action;

uint8_t kernel_action(Action a) {
  switch (a) {
    case Action::kBlock: return CF_ACTION_BLOCK;
    case Action::kKill: return CF_ACTION_KILL;
    default: return CF_ACTION_ALERT;
  }
}

// "443", "8000-8080" -> ranges.
std::vector<cf_port_range> port_ranges(const std::vector<std::string>& ports) {
  std::vector<cf_port_range> out;
  for (const auto& p : ports) {
    cf_port_range r{};
    const size_t dash = p.find('-');
    r.lo = static_cast<uint16_t>(std::stoul(p.substr(0, dash)));
    r.hi = dash == std::string::npos ? r.lo : static_cast<uint16_t>(std::stoul(p.substr(dash + 1)));
    out.push_back(r);
  }
  std::sort(out.begin(), out.end(), [](const cf_port_range& a, const cf_port_range& b) { return a.lo < b.lo; });
  // merge overlapping and adjacent ranges: 80, 81, 82 is one range
  std::vector<cf_port_range> merged;
  for (const auto& r : out) {
    if (!merged.empty() && r.lo <= static_cast<uint32_t>(merged.back().hi) + 1)
      merged.back().hi = std::max(merged.back().hi, r.hi);
    else
      merged.push_back(r);
  }
  return merged;
}

bool contains(const cf_cidr_key& outer, const cf_cidr_key& inner) {
  if (outer.prefixlen > inner.prefixlen) return false;
  const uint32_t full = outer.prefixlen / 8, rest = outer.prefixlen % 8;
  if (std::memcmp(outer.addr, inner.addr, full) != 0) return false;
  if (rest == 0) return true;
  const uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (outer.addr[full] & mask) == (inner.addr[full] & mask);
}

class Compiler {
 public:
  Compiler(const policy::RuleSet& rules, const GuardOptions& opts) : rules_(rules), opts_(opts) {}

  CompiledGuard run() {
    roles();
    config();
    egress();
    budgets();
    evasion();
    files();
    resolvers();
    out_.cidrs = union_with_containing(cidrs_);
    return std::move(out_);
  }

 private:
  uint16_t rule_index(const std::string& id) {
    if (uint16_t i = out_.rule_of(id); i != CF_RULE_NONE) return i;
    if (out_.rule_ids.size() >= CF_RULE_IDS) throw std::invalid_argument("more than 256 rules for the kernel");
    out_.rule_ids.push_back(id);
    return static_cast<uint16_t>(out_.rule_ids.size() - 1);
  }

  uint16_t role_mask(const std::vector<std::string>& names) const {
    uint16_t mask = 0;
    for (const auto& n : names)
      if (uint8_t i = out_.roles.index(n)) mask |= static_cast<uint16_t>(1u << i);
    return mask;
  }

  void roles() {
    out_.roles = process::RoleModel(rules_.roles);
    out_.config.role_final = out_.roles.final_mask();
  }

  void config() {
    cf_guard_config& c = out_.config;
    c.mode = rules_.mode == policy::Mode::kEnforce ? (opts_.dry_run ? CF_MODE_DRY_RUN : CF_MODE_ENFORCE) : CF_MODE_MONITOR;
    c.flags = CF_GUARD_ACTIVE;
    if (rules_.egress.default_deny) c.flags |= CF_GUARD_DEFAULT_DENY;
    if (rules_.fail_closed) c.flags |= CF_GUARD_FAIL_CLOSED;
    // The LSM hooks judge the path patterns (refusing), and the kill at the exits stands by.
    if (opts_.lsm) c.flags |= CF_GUARD_LSM;
    c.unapproved_rule = CF_RULE_NONE;
    if (rules_.egress.default_deny) {
      c.unapproved_rule = rule_index(rules_.egress.unapproved.id);
      c.unapproved_action = kernel_action(rules_.egress.unapproved.action);
    }
    c.dns_min_ttl_ns = rules_.egress.dns_min_ttl_ns;
    c.dns_hold_ns = opts_.dns_hold_ns;
    c.fail_closed_ns = opts_.fail_closed_ns;
    for (auto& e : c.evasion) e.rule = CF_RULE_NONE;
  }

  // Adds a kernel egress rule; returns its bit.
  uint32_t add_rule(const cf_guard_rule& r) {
    if (out_.rules.size() >= CF_GUARD_RULES)
      throw std::invalid_argument("more than 64 egress rules and budget exceptions for the kernel");
    out_.rules.push_back(r);
    return static_cast<uint32_t>(out_.rules.size() - 1);
  }

  void egress_rule(const policy::EgressRule& e, uint8_t kind) {
    cf_guard_rule r{};
    r.kind = kind;
    r.action = kernel_action(e.meta.action);
    r.role_mask = role_mask(e.roles);
    r.rule = rule_index(e.meta.id);
    const auto ranges = port_ranges(e.ports);
    if (ranges.size() > CF_PORT_RANGES)
      throw std::invalid_argument("rule " + e.meta.id + ": more than 8 port ranges for the kernel");
    r.nports = static_cast<uint8_t>(ranges.size());
    std::copy(ranges.begin(), ranges.end(), r.ports);
    const uint64_t bit = 1ull << add_rule(r);
    for (const auto& c : e.cidrs) {
      cf_cidr_key k{};
      if (!parse_cidr_key(c, &k)) throw std::invalid_argument("rule " + e.meta.id + ": bad CIDR " + c);
      cidrs_.emplace_back(k, bit);
    }
    for (const auto& h : e.hosts) out_.hosts.emplace_back(h, bit);
  }

  void egress() {
    for (const auto& e : rules_.egress.allow) egress_rule(e, CF_GRULE_ALLOW);
    for (const auto& e : rules_.egress.deny) egress_rule(e, CF_GRULE_DENY);
  }

  void budgets() {
    if (rules_.volume.size() > CF_BUDGETS_MAX) throw std::invalid_argument("more than 8 volume rules for the kernel");
    for (size_t i = 0; i < rules_.volume.size(); ++i) {
      const policy::VolumeRule& v = rules_.volume[i];
      cf_budget b{};
      b.window_ns = v.window_ns;
      b.max_bytes = v.max_bytes;
      b.role_mask = role_mask(v.roles);
      b.rule = rule_index(v.meta.id);
      b.action = kernel_action(v.meta.action);
      b.enabled = 1;
      // which roles' sockets need an owner for the budgets (every role: all bits)
      out_.config.budget_roles |= b.role_mask ? b.role_mask : 0xffff;
      if (!v.except_hosts.empty()) {
        cf_guard_rule r{};
        r.kind = CF_GRULE_EXEMPT;
        r.budget = static_cast<uint8_t>(i);
        r.rule = b.rule;
        const uint64_t bit = 1ull << add_rule(r);
        b.exempt = bit;
        for (const auto& h : v.except_hosts) out_.hosts.emplace_back(h, bit);
      }
      out_.budgets.push_back(b);
    }
  }

  void evasion() {
    for (const auto& e : rules_.evasion) {
      const int slot = policy::evasion_slot(e.what);
      if (slot < 0 || slot >= CF_EVASION_MAX) continue;  // rules validation rejects it
      cf_evasion_rule& r = out_.config.evasion[slot];
      if (r.rule != CF_RULE_NONE) {
        out_.notes.push_back("evasion rule " + e.meta.id + ": an earlier rule already covers " + e.what +
                             "; the kernel judges the first");
        continue;
      }
      r.rule = rule_index(e.meta.id);
      r.role_mask = role_mask(e.roles);
      r.action = kernel_action(e.meta.action);
    }
  }

  void resolvers() {
    const bool from_rules = rules_.egress.dns_resolvers_set;
    const auto& list = policy::dns_resolvers(rules_, opts_.system_resolvers);
    for (const auto& a : list) {
      cf_cidr_key k{};
      if (!parse_cidr_key(a, &k) || k.prefixlen != 128) {
        out_.notes.push_back("DNS resolver '" + a + "' is not an IP address: ignored");
        continue;
      }
      cf_addr_key key{};
      std::memcpy(key.addr, k.addr, 16);
      out_.resolvers.push_back(key);
    }
    if (out_.resolvers.size() > 64) throw std::invalid_argument("more than 64 DNS resolvers for the kernel");
    if (!out_.resolvers.empty())
      out_.config.flags |= CF_GUARD_RESOLVERS;
    else if (!out_.hosts.empty())
      out_.notes.push_back(std::string("no DNS resolvers known (") +
                           (from_rules ? "egress.dns_resolvers is empty" : "none in /etc/resolv.conf") +
                           "): answers from any server approve addresses for the host rules");
  }

  // Rules whose action the kernel carries out on files and execs: kill (and, with BPF LSM,
  // block). Without LSM a `block` on a file can only be reported.
  void files() {
    for (const auto& f : rules_.file_deny)
      for (const auto& g : f.paths)
        if (!anchor_dir(g).empty() && std::find(out_.anchors.begin(), out_.anchors.end(), g) == out_.anchors.end())
          out_.anchors.push_back(g);
    for (const auto& f : rules_.file_deny) {
      if (f.meta.action == Action::kAlert) continue;
      if (f.meta.action == Action::kBlock && !opts_.lsm) {
        out_.notes.push_back("file rule " + f.meta.id +
                             ": action block needs BPF LSM to refuse an open; without it, it alerts");
        continue;
      }
      uint16_t access = 0;
      if (f.access & policy::kAccessRead) access |= CF_GPATH_READ;
      if (f.access & policy::kAccessWrite) access |= CF_GPATH_WRITE;
      if (f.access & policy::kAccessCreate) access |= CF_GPATH_CREATE;
      if (f.access & policy::kAccessConnect) access |= CF_GPATH_CONNECT;
      for (const auto& g : f.paths)
        out_.paths.push_back(
            {g, role_mask(f.roles), kernel_action(f.meta.action), rule_index(f.meta.id), true, access});
    }
    for (const auto& x : rules_.exec) {
      if (x.meta.action == Action::kAlert) continue;
      if (x.meta.action == Action::kBlock && !opts_.lsm) {
        out_.notes.push_back("exec rule " + x.meta.id + ": action block needs BPF LSM to refuse an exec; without it, it alerts");
        continue;
      }
      if (!x.argv_contains.empty())
        out_.notes.push_back("exec rule " + x.meta.id + ": argv_contains is judged in user space (after exec)");
      for (const auto& b : x.binaries) {
        const std::string glob = b.find('/') == std::string::npos ? "**/" + b : b;
        out_.paths.push_back({glob, role_mask(x.roles), kernel_action(x.meta.action), rule_index(x.meta.id), false});
      }
    }
  }

  const policy::RuleSet& rules_;
  const GuardOptions& opts_;
  CompiledGuard out_;
  std::vector<std::pair<cf_cidr_key, uint64_t>> cidrs_;
};

}  // namespace

uint16_t CompiledGuard::rule_of(const std::string& id) const {
  for (size_t i = 0; i < rule_ids.size(); ++i)
    if (rule_ids[i] == id) return static_cast<uint16_t>(i);
  return CF_RULE_NONE;
}

bool parse_cidr_key(const std::string& text, cf_cidr_key* out) {
  const size_t slash = text.find('/');
  const std::string addr = text.substr(0, slash);
  cf_cidr_key k{};
  int bits;
  if (in_addr a{}; inet_pton(AF_INET, addr.c_str(), &a) == 1) {
    k.addr[10] = k.addr[11] = 0xff;
    std::memcpy(k.addr + 12, &a, 4);
    bits = 32;
  } else if (in6_addr a6{}; inet_pton(AF_INET6, addr.c_str(), &a6) == 1) {
    std::memcpy(k.addr, &a6, 16);
    bits = 128;
  } else {
    return false;
  }
  int len = bits;
  if (slash != std::string::npos) {
    const std::string n = text.substr(slash + 1);
    if (n.empty() || n.size() > 3 || n.find_first_not_of("0123456789") != std::string::npos) return false;
    len = std::stoi(n);
    if (len > bits) return false;
  }
  k.prefixlen = static_cast<uint32_t>(len + (bits == 32 ? 96 : 0));
  // clear host bits (the rule parser already refused them; keep the key canonical anyway)
  for (uint32_t b = k.prefixlen; b < 128; ++b) k.addr[b / 8] &= static_cast<uint8_t>(~(0x80 >> (b % 8)));
  *out = k;
  return true;
}

std::vector<std::pair<cf_cidr_key, uint64_t>> union_with_containing(
    const std::vector<std::pair<cf_cidr_key, uint64_t>>& entries) {
  std::vector<std::pair<cf_cidr_key, uint64_t>> out;
  for (const auto& e : entries) {
    auto same = std::find_if(out.begin(), out.end(), [&](const auto& o) {
      return o.first.prefixlen == e.first.prefixlen && std::memcmp(o.first.addr, e.first.addr, 16) == 0;
    });
    if (same != out.end())
      same->second |= e.second;
    else
      out.push_back(e);
  }
  auto widened = out;
  for (auto& inner : widened)
    for (const auto& outer : out)
      if (contains(outer.first, inner.first)) inner.second |= outer.second;
  return widened;
}

CompiledGuard compile_guard(const policy::RuleSet& rules, const GuardOptions& opts) {
  return Compiler(rules, opts).run();
}

}  // namespace clawfence::enforce
