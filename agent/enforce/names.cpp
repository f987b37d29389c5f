#include "enforce/names.h"

#include "sensor/map_keys.h"

#include <bpf/bpf.h>

#include <cerrno>
#include <cstring>
#include <iterator>

#include "policy/matchers.h"

namespace clawfence::enforce {
namespace {

static_assert(CF_DNS_NAME_MAX > 253, "a name policy::HostSet accepts and its zero padding fit a key");

cf_name_key key_of(const std::string& name) {
  cf_name_key k{};  // zero padded: the kernel looks names up as whole keys
  std::memcpy(k.name, name.data(), name.size());
  return k;
}

std::string name_of(const cf_name_key& k) { return std::string(k.name, strnlen(k.name, sizeof(k.name))); }

}  // namespace

std::string compile_names(const std::vector<std::pair<std::string, uint64_t>>& hosts, NameTable* out) {
  out->clear();
  NameTable table;
  for (const auto& [pattern, bits] : hosts) {
    // The matcher's own checks, so the kernel accepts exactly the names the policy layer does.
    policy::HostSet check;
    if (std::string err = check.add(pattern, 0); !err.empty()) return "host '" + pattern + "': " + err;
    std::string name = pattern;
    if (name.back() == '.') name.pop_back();
    for (char& c : name)
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    bool wildcard = name.compare(0, 2, "*.") == 0;
    if (wildcard) name.erase(0, 2);
    cf_name_val& v = table[name];
    (wildcard ? v.sub : v.exact) |= bits;
  }
  for (auto it = table.begin(); it != table.end();)
    it = it->second.exact == 0 && it->second.sub == 0 ? table.erase(it) : std::next(it);
  *out = std::move(table);
  return "";
}

std::string write_names(int map_fd, const NameTable& names) {
  for (const auto& entry : names)
    if (entry.first.size() >= CF_DNS_NAME_MAX) return "guard_names: name longer than a key: '" + entry.first + "'";
  // Stale keys go first, so a full map still takes the new table.
  int err = 0;
  const auto keys = sensor::map_keys<cf_name_key>(map_fd, &err);
  if (err) return std::string("guard_names: listing keys: ") + std::strerror(err);
  for (const cf_name_key& k : keys)
    if (!names.count(name_of(k)) && bpf_map_delete_elem(map_fd, &k) && errno != ENOENT)
      return "guard_names: deleting '" + name_of(k) + "': " + std::strerror(errno);
  // Names in both tables are overwritten in place: never missing in between.
  for (const auto& [name, val] : names) {
    cf_name_key k = key_of(name);
    if (bpf_map_update_elem(map_fd, &k, &val, BPF_ANY))
      return "guard_names: writing '" + name + "': " + std::strerror(errno);
  }
  return "";
}

}  // namespace clawfence::enforce
