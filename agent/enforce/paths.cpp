#include "enforce/paths.h"

#include "sensor/map_keys.h"

#include <bpf/bpf.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <set>

#include "policy/matchers.h"

namespace clawfence::enforce {
namespace {

constexpr size_t kPrefixMax = CF_GPATH_KEY;      // a prefix entry, its '\0' included
constexpr size_t kSuffixMax = CF_GPATH_KEY - 1;  // the kernel reverses at most this much of a path
constexpr size_t kDirMax = CF_GPATH_KEY - 1;     // a directory part the kernel looks up
constexpr size_t kMapEntries = 4096;             // max_entries of the entry maps (bpf/guard/guard.bpf.h)
constexpr uint16_t kTrieFlags = CF_GPATH_PREFIX | CF_GPATH_SUFFIX | CF_GPATH_DIR;

// One glob (for one home) in kernel terms: the pattern's conditions and its entries.
struct Shape {
  uint16_t flags = 0;
  std::string base_prefix;
  uint16_t min_leaf = 0;
  uint16_t slashes = 0;
  std::vector<std::string> prefixes, suffixes, dirs;

  bool same_pattern(const Shape& o) const {
    return flags == o.flags && base_prefix == o.base_prefix && min_leaf == o.min_leaf && slashes == o.slashes;
  }
};

bool is_literal(std::string_view comp) { return comp.find_first_of("*?[") == std::string_view::npos; }

// "PRE*SUF": one '*' and no other wildcard.
bool single_star(std::string_view comp, std::string* pre, std::string* suf) {
  size_t star = comp.find('*');
  if (star == std::string_view::npos || comp.find_first_of("*?[", star + 1) != std::string_view::npos ||
      comp.substr(0, star).find_first_of("?[") != std::string_view::npos)
    return false;
  *pre = std::string(comp.substr(0, star));
  *suf = std::string(comp.substr(star + 1));
  return true;
}

// Why a glob none of the shapes fit is not expressible.
std::string why_not(const std::vector<std::string_view>& comps) {
  const size_t n = comps.size();
  for (size_t i = 1; i + 1 < n; ++i)
    if (comps[i] == "**") return "'**' between other components";
  size_t wild_dirs = 0;
  for (size_t i = 0; i + 1 < n; ++i)
    if (!is_literal(comps[i]) && comps[i] != "**") ++wild_dirs;
  if (wild_dirs > 1) return "wildcards in several directory components";
  if (wild_dirs == 1) {
    if (comps[0] == "**") return "a wildcard in a directory component after '**/'";
    if (comps[n - 1] == "**") return "a wildcard directory component before '/**'";
    if (!is_literal(comps[n - 1])) return "wildcards in a directory component and in the last one";
    return "a directory component that is a wildcard other than a lone '*'";
  }
  if (comps[n - 1].find_first_of("?[") != std::string_view::npos) return "'?' or '[...]' in the last component";
  if (comps[0] == "**" && n > 2) return "'**/' then directories then a wildcard name";
  return "several '*' in the last component";
}

// "" and *s, or why `glob` is not expressible. `from_home`: the glob is a `~/` expansion.
std::string shape_of(const std::string& glob, bool from_home, Shape* s) {
  *s = Shape{};
  if (std::string err = policy::check_glob(glob); !err.empty()) return "not a valid glob: " + err;
  std::string_view p = glob;
  if (p.size() > 1 && p.back() == '/') p.remove_suffix(1);  // as the glob rules say
  std::string_view body = p[0] == '/' ? p.substr(1) : p;
  std::vector<std::string_view> comps;
  for (size_t pos = 0; !body.empty();) {
    size_t end = body.find('/', pos);
    comps.push_back(body.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos));
    if (end == std::string_view::npos) break;
    pos = end + 1;
  }
  const size_t n = comps.size();
  auto literal = [&](size_t from, size_t to) {
    return std::all_of(comps.begin() + from, comps.begin() + to, [](std::string_view c) { return is_literal(c); });
  };
  auto path_of = [&](size_t from, size_t to) {  // "/c_from/.../c_to-1", "" when empty
    std::string out;
    for (size_t i = from; i < to; ++i) out.append("/").append(comps[i]);
    return out;
  };
  const std::string too_long = "longer than the " + std::to_string(CF_GPATH_KEY) + " bytes the kernel looks at";

  // /a/b: the whole path, an entry ending in NUL
  if (literal(0, n)) {
    std::string path = n ? path_of(0, n) : "/";
    if (path.size() + 1 > kPrefixMax) return too_long;
    s->flags = CF_GPATH_PREFIX;
    s->prefixes = {path + '\0'};
    return "";
  }
  // /a/** (and /**, **): the directory itself and everything below it
  if (comps[n - 1] == "**" && literal(0, n - 1)) {
    std::string dir = path_of(0, n - 1);
    if (dir.size() + 1 > kPrefixMax) return too_long;
    s->flags = CF_GPATH_PREFIX;
    s->prefixes = dir.empty() ? std::vector<std::string>{"/"} : std::vector<std::string>{dir + '\0', dir + '/'};
    return "";
  }
  // **/a/b: the path ends with these components
  if (comps[0] == "**" && literal(1, n)) {
    std::string suffix = path_of(1, n);
    if (suffix.size() > kSuffixMax) return too_long;
    s->flags = CF_GPATH_SUFFIX;
    s->suffixes = {suffix};
    return "";
  }
  // **/PRE*SUF and /a/PRE*SUF: the last component starts with PRE, ends with SUF, and is long
  // enough for both (SUF has no '/', so a path ending with it has a last component ending with it)
  std::string pre, suf;
  if (single_star(comps[n - 1], &pre, &suf) && ((comps[0] == "**" && n == 2) || literal(0, n - 1))) {
    if (pre.size() > CF_BASE_PREFIX)
      return "the part before '*' is longer than the " + std::to_string(CF_BASE_PREFIX) + " bytes the kernel compares";
    if (suf.size() > kSuffixMax || pre.size() + suf.size() > CF_NAME_MAX) return too_long;
    s->min_leaf = static_cast<uint16_t>(pre.empty() ? (suf.empty() ? 1 : 0) : pre.size() + suf.size());
    if (!pre.empty()) {
      s->flags |= CF_GPATH_BASE_PREFIX;
      s->base_prefix = pre;
    }
    if (comps[0] == "**") {
      // An empty suffix matches every path: it is what finds the pattern when SUF is empty.
      s->flags |= CF_GPATH_SUFFIX;
      s->suffixes = {suf};
      return "";
    }
    std::string dir = path_of(0, n - 1) + "/";
    if (dir.size() > kDirMax) return too_long;
    s->flags |= CF_GPATH_DIR;
    s->dirs = {dir};
    if (!suf.empty()) {
      s->flags |= CF_GPATH_SUFFIX;
      s->suffixes = {suf};
    }
    return "";
  }
  // /a/*/b/c: one whole component between two literal parts. The prefix ends with '/' and the
  // suffix starts with one, so with the count of '/' right they cannot overlap and the middle
  // holds no '/'.
  for (size_t m = 0; m + 1 < n; ++m) {
    if (comps[m] != "*" || !literal(0, m) || !literal(m + 1, n)) continue;
    if (from_home) return "a '*' component after '~': the number of '/' would depend on the home";
    std::string head = path_of(0, m) + "/";
    std::string tail = path_of(m + 1, n);
    if (head.size() > kPrefixMax || tail.size() > kSuffixMax) return too_long;
    s->flags = CF_GPATH_PREFIX | CF_GPATH_SUFFIX | CF_GPATH_SLASHES;
    s->prefixes = {head};
    s->suffixes = {tail};
    s->slashes = static_cast<uint16_t>(n);
    return "";
  }
  return why_not(comps);
}


// Trie entries with every entry's bits widened by those of the entries that are prefixes of it
// (for suffixes: of the reversed texts). Sorted, a text's prefixes come before it and form a
// chain, so a stack of the current chain finds them.
std::vector<PathEntry> widen(const std::map<std::string, uint64_t>& own, bool reversed) {
  std::vector<PathEntry> keyed;
  for (const auto& [text, bits] : own)
    keyed.push_back({reversed ? std::string(text.rbegin(), text.rend()) : text, bits});
  std::sort(keyed.begin(), keyed.end(), [](const PathEntry& a, const PathEntry& b) { return a.text < b.text; });
  std::vector<const PathEntry*> chain;
  for (auto& e : keyed) {
    while (!chain.empty() && e.text.compare(0, chain.back()->text.size(), chain.back()->text) != 0) chain.pop_back();
    if (!chain.empty()) e.bits |= chain.back()->bits;
    chain.push_back(&e);
  }
  std::vector<PathEntry> out;
  for (const auto& e : keyed) out.push_back({reversed ? std::string(e.text.rbegin(), e.text.rend()) : e.text, e.bits});
  std::sort(out.begin(), out.end(), [](const PathEntry& a, const PathEntry& b) { return a.text < b.text; });
  return out;
}

std::vector<PathEntry> as_entries(const std::map<std::string, uint64_t>& own) {
  std::vector<PathEntry> out;
  for (const auto& [text, bits] : own) out.push_back({text, bits});
  return out;
}

// The bits of the longest entry that is a prefix of `key` (entries' texts reversed if asked).
uint64_t longest(const std::vector<PathEntry>& entries, const std::string& key, bool reversed) {
  size_t best = 0;
  uint64_t bits = 0;
  bool found = false;
  for (const auto& e : entries) {
    std::string text = reversed ? std::string(e.text.rbegin(), e.text.rend()) : e.text;
    if (key.compare(0, text.size(), text) == 0 && text.size() <= key.size() && (!found || text.size() > best)) {
      found = true;
      best = text.size();
      bits = e.bits;
    }
  }
  return bits;
}

cf_gpath_key trie_key(const std::string& text, bool reversed) {
  cf_gpath_key k{};
  k.prefixlen = static_cast<uint32_t>(text.size() * 8);
  if (reversed)
    std::reverse_copy(text.begin(), text.end(), k.data);
  else
    std::memcpy(k.data, text.data(), text.size());
  return k;
}

std::string sys_error(const std::string& what) { return what + ": " + std::strerror(errno); }

// Makes a trie hold exactly `entries`: written first, then the keys no longer present deleted.
std::string write_trie(int fd, const std::vector<PathEntry>& entries, bool reversed, const std::string& name) {
  std::set<std::string> keep;
  for (const auto& e : entries) {
    cf_gpath_key k = trie_key(e.text, reversed);
    if (bpf_map_update_elem(fd, &k, &e.bits, BPF_ANY)) return sys_error(name + ": writing an entry");
    keep.insert(std::string(reinterpret_cast<const char*>(k.data), e.text.size()));
  }
  int err = 0;
  const auto keys = sensor::map_keys<cf_gpath_key>(fd, &err);
  if (err) return name + ": listing keys: " + std::strerror(err);
  for (const auto& k : keys) {
    const size_t len = std::min<size_t>(k.prefixlen / 8, CF_GPATH_KEY);
    if (!keep.count(std::string(reinterpret_cast<const char*>(k.data), len)) && bpf_map_delete_elem(fd, &k) &&
        errno != ENOENT)
      return sys_error(name + ": deleting a stale entry");
  }
  return "";
}

std::string write_dirs(int fd, const std::vector<PathEntry>& entries) {
  std::set<std::string> keep;
  for (const auto& e : entries) {
    cf_gpath_dir k{};  // zero padded: the kernel looks directories up as whole keys
    std::memcpy(k.dir, e.text.data(), std::min(e.text.size(), sizeof(k.dir)));
    if (bpf_map_update_elem(fd, &k, &e.bits, BPF_ANY)) return sys_error("guard_path_dirs: writing an entry");
    keep.insert(e.text);
  }
  int err = 0;
  const auto keys = sensor::map_keys<cf_gpath_dir>(fd, &err);
  if (err) return std::string("guard_path_dirs: listing keys: ") + std::strerror(err);
  for (const auto& k : keys)
    if (!keep.count(std::string(k.dir, strnlen(k.dir, sizeof(k.dir)))) && bpf_map_delete_elem(fd, &k) &&
        errno != ENOENT)
      return sys_error("guard_path_dirs: deleting a stale entry");
  return "";
}

}  // namespace

std::vector<std::string> unexpressed_notes(const CompiledPaths& c, const std::vector<PathRule>& rules,
                                           const std::vector<std::string>& rule_ids) {
  std::vector<std::string> notes;
  for (const auto& u : c.not_expressible) {
    const uint16_t rule = rules[u.input].rule;
    notes.push_back("rule " + (rule < rule_ids.size() ? rule_ids[rule] : std::string("?")) + ": " + u.glob + ": " +
                    u.reason + "; killed from user space after the event instead");
  }
  return notes;
}

std::string compile_paths(const std::vector<PathRule>& rules, const std::vector<std::string>& homes,
                          CompiledPaths* out) {
  *out = CompiledPaths{};
  CompiledPaths c;
  std::map<std::string, uint64_t> prefixes, suffixes, dirs;
  for (size_t i = 0; i < rules.size(); ++i) {
    const PathRule& r = rules[i];
    std::vector<std::string> globs;
    bool from_home = false;
    std::string why = expand(r.glob, homes, &globs, &from_home);
    // Every home must give the same conditions: only the entries may differ.
    Shape shape;
    for (size_t h = 0; why.empty() && h < globs.size(); ++h) {
      Shape one;
      why = shape_of(globs[h], from_home, &one);
      if (!why.empty() && from_home) why += " (as " + globs[h] + ")";
      if (!why.empty()) break;
      if (h == 0) {
        shape = std::move(one);
        continue;
      }
      if (!shape.same_pattern(one)) {
        why = "the homes give it different shapes";
        break;
      }
      for (auto list : {&Shape::prefixes, &Shape::suffixes, &Shape::dirs})
        (shape.*list).insert((shape.*list).end(), (one.*list).begin(), (one.*list).end());
    }
    if (!why.empty()) {
      c.not_expressible.push_back({i, r.glob, why});
      continue;
    }

    cf_gpath g{};
    g.flags = shape.flags | (r.on_open ? CF_GPATH_ON_OPEN | r.access : CF_GPATH_ON_EXEC);
    g.role_mask = r.role_mask;
    g.action = r.action;
    g.base_prefix_len = static_cast<uint8_t>(shape.base_prefix.size());
    std::memcpy(g.base_prefix, shape.base_prefix.data(), shape.base_prefix.size());
    g.slashes = shape.slashes;
    g.min_leaf = shape.min_leaf;
    g.rule = r.rule;
    // A pattern with a single trie condition holds when any of its entries matches: another
    // one with the same other conditions can share its bit (the entries' union is the OR).
    size_t bit = c.patterns.size();
    if (__builtin_popcount(g.flags & kTrieFlags) == 1)
      for (size_t b = 0; b < c.patterns.size(); ++b)
        if (std::memcmp(&c.patterns[b], &g, sizeof(g)) == 0) bit = b;
    if (bit == c.patterns.size()) {
      c.patterns.push_back(g);
      c.inputs.emplace_back();
    }
    c.inputs[bit].push_back(i);
    const uint64_t mask = bit < CF_GPATH_MAX ? 1ull << bit : 0;
    for (const auto& t : shape.prefixes) prefixes[t] |= mask;
    for (const auto& t : shape.suffixes) suffixes[t] |= mask;
    for (const auto& t : shape.dirs) dirs[t] |= mask;
  }
  if (c.patterns.size() > CF_GPATH_MAX)
    return "path rules need " + std::to_string(c.patterns.size()) + " kernel patterns; the kernel holds " +
           std::to_string(CF_GPATH_MAX);
  c.prefixes = widen(prefixes, false);
  c.suffixes = widen(suffixes, true);
  c.dirs = as_entries(dirs);
  for (const auto* list : {&c.prefixes, &c.suffixes, &c.dirs})
    if (list->size() > kMapEntries)
      return "path rules need " + std::to_string(list->size()) + " entries in one map; it holds " +
             std::to_string(kMapEntries);
  *out = std::move(c);
  return "";
}

uint64_t kernel_path_matches(const CompiledPaths& c, std::string_view path, uint16_t on, uint8_t role) {
  if (path.empty() || path[0] != '/') return 0;
  const size_t len = path.size();
  const size_t leaf_len = len - path.rfind('/') - 1;
  const auto slashes = static_cast<uint16_t>(std::count(path.begin(), path.end(), '/'));
  // The keys as the kernel builds them: the path and its NUL, cut at CF_GPATH_KEY; the last
  // CF_GPATH_KEY - 1 bytes reversed; the directory part if it is shorter than CF_GPATH_KEY.
  std::string prefix_key = std::string(path) + '\0';
  prefix_key.resize(std::min(prefix_key.size(), kPrefixMax));
  std::string tail(path.substr(len - std::min(len, kSuffixMax)));
  std::string suffix_key(tail.rbegin(), tail.rend());
  const uint64_t prefix = longest(c.prefixes, prefix_key, false);
  const uint64_t suffix = longest(c.suffixes, suffix_key, true);
  uint64_t dir = 0;
  if (len - leaf_len < CF_GPATH_KEY) {
    std::string_view d = path.substr(0, len - leaf_len);
    for (const auto& e : c.dirs)
      if (e.text == d) dir = e.bits;
  }
  const std::string_view leaf = path.substr(len - leaf_len);

  uint64_t out = 0;
  for (size_t i = 0; i < c.patterns.size() && i < CF_GPATH_MAX; ++i) {
    const cf_gpath& p = c.patterns[i];
    const uint64_t bit = 1ull << i;
    if (!(p.flags & on & (CF_GPATH_ON_OPEN | CF_GPATH_ON_EXEC))) continue;
    if ((p.flags & CF_GPATH_ACCESS) && !(p.flags & on & CF_GPATH_ACCESS)) continue;
    if (p.role_mask != 0 && !(role < CF_ROLE_MAX && (p.role_mask & (1u << role)))) continue;
    if (!(p.flags & kTrieFlags) || !((prefix | suffix | dir) & bit)) continue;  // no lookup names it
    if ((p.flags & CF_GPATH_PREFIX) && !(prefix & bit)) continue;
    if ((p.flags & CF_GPATH_SUFFIX) && !(suffix & bit)) continue;
    if ((p.flags & CF_GPATH_DIR) && !(dir & bit)) continue;
    if ((p.flags & CF_GPATH_SLASHES) && slashes != p.slashes) continue;
    if (leaf_len < p.min_leaf) continue;
    if ((p.flags & CF_GPATH_BASE_PREFIX) &&
        (p.base_prefix_len > CF_BASE_PREFIX ||
         leaf.substr(0, p.base_prefix_len) != std::string_view(p.base_prefix, p.base_prefix_len)))
      continue;
    out |= bit;
  }
  return out;
}

std::optional<size_t> kernel_path_verdict(const CompiledPaths& c, std::string_view path, uint16_t on, uint8_t role) {
  const uint64_t bits = kernel_path_matches(c, path, on, role);
  for (size_t i = 0; i < c.patterns.size() && i < CF_GPATH_MAX; ++i)
    if ((bits >> i & 1) && c.patterns[i].action == CF_ACTION_KILL) return i;
  return std::nullopt;
}

std::string write_paths(const PathMapFds& fds, const CompiledPaths& c) {
  if (c.patterns.size() > CF_GPATH_MAX) return "more path patterns than the kernel holds";
  if (fds.paths < 0 || fds.prefix < 0 || fds.suffix < 0 || fds.dirs < 0) return "a path map is missing";
  const cf_gpath off{};
  for (uint32_t i = 0; i < CF_GPATH_MAX; ++i)
    if (bpf_map_update_elem(fds.paths, &i, &off, BPF_ANY)) return sys_error("guard_paths: switching patterns off");
  if (std::string e = write_trie(fds.prefix, c.prefixes, false, "guard_path_prefix"); !e.empty()) return e;
  if (std::string e = write_trie(fds.suffix, c.suffixes, true, "guard_path_suffix"); !e.empty()) return e;
  if (std::string e = write_dirs(fds.dirs, c.dirs); !e.empty()) return e;
  for (uint32_t i = 0; i < c.patterns.size(); ++i)
    if (bpf_map_update_elem(fds.paths, &i, &c.patterns[i], BPF_ANY)) return sys_error("guard_paths: writing a pattern");
  return "";
}

CompiledPaths keep_indices(const CompiledPaths& prev, CompiledPaths next) {
  const size_t n = next.patterns.size();
  std::vector<size_t> to(n, SIZE_MAX);
  std::vector<bool> taken(CF_GPATH_MAX, false);
  for (size_t k = 0; k < n; ++k)
    for (size_t j = 0; j < prev.patterns.size() && j < CF_GPATH_MAX; ++j)
      if (!taken[j] && std::memcmp(&prev.patterns[j], &next.patterns[k], sizeof(cf_gpath)) == 0) {
        to[k] = j;
        taken[j] = true;
        break;
      }
  // new patterns: first the indices nothing used, then the ones whose pattern is gone
  size_t free_at = 0;
  auto next_free = [&](bool unused_only) {
    for (size_t j = free_at; j < CF_GPATH_MAX; ++j)
      if (!taken[j] && (!unused_only || j >= prev.patterns.size())) return j;
    return SIZE_MAX;
  };
  for (size_t k = 0; k < n; ++k) {
    if (to[k] != SIZE_MAX) continue;
    size_t j = next_free(true);
    if (j == SIZE_MAX) j = next_free(false);
    if (j == SIZE_MAX) return next;  // does not fit moved: keep the compiler's order
    to[k] = j;
    taken[j] = true;
  }
  size_t size = 0;
  for (size_t k = 0; k < n; ++k) size = std::max(size, to[k] + 1);
  CompiledPaths out;
  out.patterns.assign(size, cf_gpath{});  // a hole never holds: no ON_* flag
  out.inputs.assign(size, {});
  for (size_t k = 0; k < n; ++k) {
    out.patterns[to[k]] = next.patterns[k];
    out.inputs[to[k]] = std::move(next.inputs[k]);
  }
  auto remap = [&](std::vector<PathEntry>& entries) {
    for (auto& e : entries) {
      uint64_t bits = 0;
      for (size_t k = 0; k < n; ++k)
        if (e.bits >> k & 1) bits |= 1ull << to[k];
      e.bits = bits;
    }
  };
  remap(next.prefixes);
  remap(next.suffixes);
  remap(next.dirs);
  out.prefixes = std::move(next.prefixes);
  out.suffixes = std::move(next.suffixes);
  out.dirs = std::move(next.dirs);
  out.not_expressible = std::move(next.not_expressible);
  return out;
}

std::string rewrite_paths(const PathMapFds& fds, const CompiledPaths& prev, const CompiledPaths& next) {
  if (next.patterns.size() > CF_GPATH_MAX) return "more path patterns than the kernel holds";
  if (fds.paths < 0 || fds.prefix < 0 || fds.suffix < 0 || fds.dirs < 0) return "a path map is missing";
  auto same = [&](size_t i) {
    return i < prev.patterns.size() && i < next.patterns.size() &&
           std::memcmp(&prev.patterns[i], &next.patterns[i], sizeof(cf_gpath)) == 0;
  };
  const cf_gpath off{};
  // an index about to mean another pattern: off while the tries change under it
  for (uint32_t i = 0; i < prev.patterns.size() && i < CF_GPATH_MAX; ++i)
    if (!same(i) && bpf_map_update_elem(fds.paths, &i, &off, BPF_ANY))
      return sys_error("guard_paths: switching a pattern off");
  if (std::string e = write_trie(fds.prefix, next.prefixes, false, "guard_path_prefix"); !e.empty()) return e;
  if (std::string e = write_trie(fds.suffix, next.suffixes, true, "guard_path_suffix"); !e.empty()) return e;
  if (std::string e = write_dirs(fds.dirs, next.dirs); !e.empty()) return e;
  for (uint32_t i = 0; i < next.patterns.size(); ++i)
    if (!same(i) && bpf_map_update_elem(fds.paths, &i, &next.patterns[i], BPF_ANY))
      return sys_error("guard_paths: writing a pattern");
  for (uint32_t i = next.patterns.size(); i < CF_GPATH_MAX; ++i)
    if (bpf_map_update_elem(fds.paths, &i, &off, BPF_ANY)) return sys_error("guard_paths: switching a pattern off");
  return "";
}

std::string anchor_dir(std::string_view glob) {
  if (glob.empty() || (glob[0] != '/' && glob.rfind("~/", 0) != 0)) return "";
  std::string_view p = glob;
  if (p.size() > 1 && p.back() == '/') p.remove_suffix(1);
  std::vector<std::string_view> comps;  // after the leading "/" or "~"
  const size_t body = p[0] == '/' ? 1 : 2;
  for (size_t pos = body; pos <= p.size();) {
    size_t end = p.find('/', pos);
    if (end == std::string_view::npos) end = p.size();
    comps.push_back(p.substr(pos, end - pos));
    pos = end + 1;
  }
  size_t literal = 0;
  while (literal < comps.size() && is_literal(comps[literal])) ++literal;
  // the whole glob literal: its last component is the file itself; "/a/**": "/a" is the directory
  if (literal == comps.size()) --literal;
  std::string out(p.substr(0, body == 1 ? 0 : 1));  // "~" for a home glob
  for (size_t i = 0; i < literal; ++i) out.append("/").append(comps[i]);
  return out.empty() || out == "/" ? "" : out;
}

// The globs a rule's glob stands for: one per home for `~/`. Sets *from_home.
std::string expand(const std::string& glob, const std::vector<std::string>& homes, std::vector<std::string>* out,
                   bool* from_home) {
  out->clear();
  *from_home = glob == "~" || glob.rfind("~/", 0) == 0;
  if (!*from_home) {
    out->push_back(glob);
    return "";
  }
  if (homes.empty()) return "no home directories to expand '~' into";
  std::set<std::string> seen;
  for (std::string home : homes) {
    if (home.empty() || home[0] != '/') return "home '" + home + "' is not an absolute path";
    while (home.size() > 1 && home.back() == '/') home.pop_back();
    if (home == "/") home.clear();
    std::string g = glob == "~" ? (home.empty() ? "/" : home) : home + glob.substr(1);
    if (seen.insert(g).second) out->push_back(g);
  }
  return "";
}

}  // namespace clawfence::enforce
