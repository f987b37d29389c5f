// The rules compiled into the guards' maps (bpf/guard/guard.bpf.h): what the kernel decides
// with, no round trip to user space. Compiling is pure (tests read the result); writing puts it
// into the maps of a loaded or adopted object.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "clawfence/abi.h"
#include "policy/rules.h"
#include "process/roles.h"

namespace clawfence::enforce {

// A path glob a kill (or, with BPF LSM, block) rule asks the kernel to judge.
struct PathRule {
  std::string glob;   // as in the rules; `~/` is expanded for every home directory given
  uint16_t role_mask = 0;
  uint8_t action = CF_ACTION_KILL;
  uint16_t rule = CF_RULE_NONE;
  bool on_open = true;  // false: judged at exec (the executed file)
  uint16_t access = 0;  // at open: CF_GPATH_READ, _WRITE, _CREATE (the rule's `access`); 0: any
};

struct CompiledGuard {
  cf_guard_config config{};
  // Index = cf_verdict.rule: the id of every rule a guard can name.
  std::vector<std::string> rule_ids;
  process::RoleModel roles;                                 // role indices, guard_role_rules
  std::vector<cf_guard_rule> rules;                         // bit i = rules[i]
  std::vector<std::pair<cf_cidr_key, uint64_t>> cidrs;      // with the bits of every containing prefix
  std::vector<std::pair<std::string, uint64_t>> hosts;      // host pattern -> rule bits
  std::vector<cf_budget> budgets;
  std::vector<PathRule> paths;
  // The globs of the file rules (every action) with a literal directory (anchor_dir), `~/` ones
  // unexpanded: that directory and what exists below it that they match are protected by inode
  // (a rename, a hard link or a bind mount does not move them out of the rules' names).
  std::vector<std::string> anchors;
  std::vector<cf_addr_key> resolvers;  // DNS servers whose answers approve addresses (empty: any)
  // What the kernel cannot do with these rules, for the start-up log and `rules check`.
  std::vector<std::string> notes;

  // The rule table index of an id, or CF_RULE_NONE.
  uint16_t rule_of(const std::string& id) const;
};

struct GuardOptions {
  bool dry_run = false;            // enforce mode reports "would" verdicts instead
  bool lsm = false;                // BPF LSM programs are in force: file and exec rules can refuse
  uint64_t dns_hold_ns = 60'000'000'000ull;
  uint64_t fail_closed_ns = 1'000'000'000ull;
  // The host's resolvers (nameservers of /etc/resolv.conf), when the rules name none.
  std::vector<std::string> system_resolvers;
};

// The nameserver addresses of a resolv.conf ("" or unreadable: none).
using policy::resolv_conf_nameservers;  // (policy/rules.h)

// Throws std::invalid_argument when the rules need more than the kernel maps hold (64 egress
// rules, 8 budgets, 15 roles and 32 role exec patterns, 8 port ranges per rule).
CompiledGuard compile_guard(const policy::RuleSet& rules, const GuardOptions& opts);

// "a.b.c.d", "a.b.c.d/n", "x::y", "x::y/n" -> the guard maps' 16-byte form (IPv4 as
// ::ffff:a.b.c.d, prefix 96 + n). False on bad input.
bool parse_cidr_key(const std::string& text, cf_cidr_key* out);

// Returns the entries with each one's bits widened by the bits of every entry containing it,
// so a longest-prefix lookup yields every rule whose prefix holds the address.
std::vector<std::pair<cf_cidr_key, uint64_t>> union_with_containing(
    const std::vector<std::pair<cf_cidr_key, uint64_t>>& entries);

}  // namespace clawfence::enforce
