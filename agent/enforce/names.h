// Approved DNS names in the form the kernel looks them up (bpf/net/dns.bpf.c): guard_names maps
// a dotted, lower-case name to the rules that approve it (`exact`) and the rules that approve
// every name strictly below it (`sub`, a rule's "*.name"). For a question a.b.slack.com the
// kernel ORs the `exact` bits of a.b.slack.com with the `sub` bits of b.slack.com, slack.com and
// com, which is what policy::HostSet::match returns for the same patterns.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "clawfence/abi.h"

namespace clawfence::enforce {

// Normalised name (lower case, no trailing dot, no "*.") -> its guard_names value.
using NameTable = std::map<std::string, cf_name_val>;

// Compiles (host pattern, rule bits) pairs, patterns as policy::HostSet::add accepts them
// ("api.openai.com", "*.slack.com"; CompiledGuard::hosts has this shape), into `*out`
// (replaced). Patterns naming the same entry have their bits ORed. Returns "" or why a pattern
// was refused (then `*out` is left empty).
std::string compile_names(const std::vector<std::pair<std::string, uint64_t>>& hosts, NameTable* out);

// Makes the guard_names map behind `map_fd` hold exactly `names`: the keys not in it deleted,
// then every entry written in place, so a name in both the old and the new table never goes
// missing. Returns "" or an error text.
std::string write_names(int map_fd, const NameTable& names);

}  // namespace clawfence::enforce
