#include "policy/matchers.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>

namespace clawfence::policy {
namespace {

void insert_sorted(std::vector<uint32_t>* values, uint32_t value) {
  auto it = std::lower_bound(values->begin(), values->end(), value);
  if (it == values->end() || *it != value) values->insert(it, value);
}

void insert_length(std::vector<uint16_t>* lengths, uint16_t length) {
  auto it = std::lower_bound(lengths->begin(), lengths->end(), length);
  if (it == lengths->end() || *it != length) lengths->insert(it, length);
}

void sort_unique(std::vector<uint32_t>* values) {
  std::sort(values->begin(), values->end());
  values->erase(std::unique(values->begin(), values->end()), values->end());
}

}  // namespace

// ---- detail::EdgeTable -------------------------------------------------------------------------

uint32_t detail::EdgeTable::find(uint32_t node, std::string_view text, size_t text_hash) const {
  auto it = map_.find(Key{node, text_hash, text});
  return it == map_.end() ? kNone : it->second;
}

void detail::EdgeTable::insert(uint32_t node, std::string_view text, uint32_t child) {
  texts_.push_back(std::make_unique<std::string>(text));
  std::string_view kept = *texts_.back();
  map_.emplace(Key{node, hash_text(kept), kept}, child);
}

// ---- path globs --------------------------------------------------------------------------------
namespace {

// Index of the ']' closing the class that opens at glob[open], or npos. A ']' right after '['
// or '[!' is a member, not the end.
size_t class_close(std::string_view glob, size_t open) {
  size_t i = open + 1;
  if (i < glob.size() && glob[i] == '!') ++i;
  if (i < glob.size() && glob[i] == ']') ++i;
  for (; i < glob.size(); ++i)
    if (glob[i] == ']') return i;
  return std::string_view::npos;
}

// Whether `c` is in the class glob[open..close].
bool class_matches(std::string_view glob, size_t open, size_t close, char c) {
  size_t i = open + 1;
  bool negate = glob[i] == '!';
  if (negate) ++i;
  bool found = false;
  while (i < close) {
    if (i + 2 < close && glob[i + 1] == '-') {
      found |= glob[i] <= c && c <= glob[i + 2];
      i += 3;
    } else {
      found |= glob[i] == c;
      ++i;
    }
  }
  return found != negate;
}

std::string check_component(std::string_view comp) {
  if (comp.empty()) return "empty path component";
  if (comp == "." || comp == "..") return "'.' and '..' components never match a normalised path";
  if (comp != "**" && comp.find("**") != std::string_view::npos) return "'**' must be a whole path component";
  for (size_t i = 0; i < comp.size(); ++i) {
    if (comp[i] != '[') continue;
    size_t close = class_close(comp, i);
    if (close == std::string_view::npos) return "unclosed '['";
    for (size_t j = i + 1 + (comp[i + 1] == '!'); j < close;) {
      if (j + 2 < close && comp[j + 1] == '-') {
        if (comp[j] > comp[j + 2]) return "bad character range '" + std::string(comp.substr(j, 3)) + "'";
        j += 3;
      } else {
        ++j;
      }
    }
    i = close;
  }
  return "";
}

// Splits a glob into its components ("**/x" -> {"**", "x"}), checking each.
std::string split_glob(std::string_view pattern, std::vector<std::string_view>* components) {
  components->clear();
  if (pattern.empty()) return "empty pattern";
  if (pattern.size() > 1 && pattern.back() == '/') pattern.remove_suffix(1);
  std::string_view body;
  if (pattern[0] == '/')
    body = pattern.substr(1);
  else if (pattern == "**" || pattern.substr(0, 3) == "**/")
    body = pattern;
  else if (pattern.substr(0, 2) == "**")
    return "'**' must be a whole path component";
  else
    return "relative pattern: it must start with '/' or '**/'";
  if (body.empty()) return "";  // "/": the root only
  size_t pos = 0;
  while (true) {
    size_t end = body.find('/', pos);
    std::string_view comp = body.substr(pos, end == std::string_view::npos ? end : end - pos);
    std::string error = check_component(comp);
    if (!error.empty()) return error;
    components->push_back(comp);
    if (end == std::string_view::npos) return "";
    pos = end + 1;
  }
}

bool has_wildcard(std::string_view text) { return text.find_first_of("*?[") != std::string_view::npos; }

// One component against one component glob ('*', '?', classes; no '/' on either side). The
// usual greedy match with a single backtrack point: O(len(glob) * len(text)) at worst.
bool component_matches(std::string_view glob, std::string_view text) {
  size_t g = 0, t = 0;
  size_t star_g = std::string_view::npos, star_t = 0;
  while (t < text.size()) {
    if (g < glob.size()) {
      char c = glob[g];
      if (c == '*') {
        star_g = g++;
        star_t = t;
        continue;
      }
      if (c == '[') {
        size_t close = class_close(glob, g);
        if (class_matches(glob, g, close, text[t])) {
          g = close + 1;
          ++t;
          continue;
        }
      } else if (c == '?' || c == text[t]) {
        ++g;
        ++t;
        continue;
      }
    }
    if (star_g == std::string_view::npos) return false;
    g = star_g + 1;
    t = ++star_t;
  }
  while (g < glob.size() && glob[g] == '*') ++g;
  return g == glob.size();
}

// The reference matcher, character by character over the whole strings. "/**" followed by '/'
// or the end is one unit that matches zero or more "/component" runs.
bool reference_match(const std::string& p, size_t pi, const std::string& s, size_t si) {
  if (pi == p.size()) return si == s.size();
  if (p[pi] == '/' && p.compare(pi + 1, 2, "**") == 0 && (pi + 3 == p.size() || p[pi + 3] == '/')) {
    if (reference_match(p, pi + 3, s, si)) return true;
    if (si == s.size() || s[si] != '/') return false;
    size_t next = s.find('/', si + 1);
    return reference_match(p, pi, s, next == std::string::npos ? s.size() : next);
  }
  if (p[pi] == '*') {
    for (size_t k = si;; ++k) {
      if (reference_match(p, pi + 1, s, k)) return true;
      if (k == s.size() || s[k] == '/') return false;
    }
  }
  if (si == s.size()) return false;
  if (p[pi] == '?') return s[si] != '/' && reference_match(p, pi + 1, s, si + 1);
  if (p[pi] == '[') {
    size_t close = class_close(p, pi);
    return s[si] != '/' && class_matches(p, pi, close, s[si]) && reference_match(p, close + 1, s, si + 1);
  }
  return p[pi] == s[si] && reference_match(p, pi + 1, s, si + 1);
}

}  // namespace

std::string check_glob(std::string_view pattern) {
  std::vector<std::string_view> components;
  return split_glob(pattern, &components);
}

bool glob_matches(const std::string& pattern, const std::string& path) {
  if (!check_glob(pattern).empty() || path.empty() || path[0] != '/') return false;
  // Both sides in one shape: "/c1/c2..." with no trailing '/', the root being "".
  std::string p = pattern[0] == '/' ? pattern : "/" + pattern;
  if (p.size() > 1 && p.back() == '/') p.pop_back();
  if (p == "/") p.clear();
  std::string s = path;
  if (s.back() == '/') s.pop_back();
  return reference_match(p, 0, s, 0);
}

PathGlobSet::PathGlobSet() { new_node(); }

uint32_t PathGlobSet::new_node() {
  nodes_.emplace_back();
  return static_cast<uint32_t>(nodes_.size() - 1);
}

uint32_t PathGlobSet::child_for(uint32_t parent, std::string_view comp) {
  uint32_t child;
  if (comp == "**") {
    if ((child = nodes_[parent].globstar) != kNone) return child;
    child = new_node();
    nodes_[child].loops = true;
    nodes_[parent].globstar = child;
    return child;
  }
  if (comp == "*") {
    if ((child = nodes_[parent].star) != kNone) return child;
    child = new_node();
    nodes_[parent].star = child;
    return child;
  }
  // Which table, if any, the component goes in: 'x' literal, '*x' suffix, 'x*' prefix.
  detail::EdgeTable* table = nullptr;
  std::string_view key;
  std::vector<uint16_t>* lengths = nullptr;
  if (!has_wildcard(comp)) {
    table = &literals_;
    key = comp;
  } else if (comp[0] == '*' && !has_wildcard(comp.substr(1))) {
    table = &suffixes_;
    key = comp.substr(1);
  } else if (comp.back() == '*' && !has_wildcard(comp.substr(0, comp.size() - 1))) {
    table = &prefixes_;
    key = comp.substr(0, comp.size() - 1);
  }
  if (table) {
    if ((child = table->find(parent, key)) != kNone) return child;
    child = new_node();
    table->insert(parent, key, child);
    Node& p = nodes_[parent];
    if (table == &literals_) p.has_literals = true;
    if (table == &suffixes_) lengths = &p.suffix_lengths;
    if (table == &prefixes_) lengths = &p.prefix_lengths;
    if (lengths) insert_length(lengths, static_cast<uint16_t>(key.size()));
    return child;
  }
  for (const auto& [glob, existing] : nodes_[parent].others)
    if (glob == comp) return existing;
  child = new_node();
  nodes_[parent].others.emplace_back(std::string(comp), child);
  return child;
}

std::string PathGlobSet::add(std::string_view pattern, uint32_t value) {
  std::vector<std::string_view> components;
  std::string error = split_glob(pattern, &components);
  if (!error.empty()) return error;
  uint32_t node = 0;
  std::string_view previous;
  for (std::string_view comp : components) {
    // "**/**" means what "**" does; folding it keeps '**' nodes free of '**' children, so
    // entering a node needs to look at most one level of '**' ahead.
    if (comp == "**" && previous == "**") continue;
    node = child_for(node, comp);
    previous = comp;
  }
  insert_sorted(&nodes_[node].values, value);
  ++patterns_;
  return "";
}

void PathGlobSet::enter(uint32_t node, std::vector<uint32_t>* live) const {
  live->push_back(node);
  // '**' matches zero components: its node is live as soon as its parent is.
  if (nodes_[node].globstar != kNone) live->push_back(nodes_[node].globstar);
}

void PathGlobSet::run(std::string_view path, std::vector<uint32_t>* live) const {
  // Scratch per thread: lookups allocate nothing once warm and share nothing between threads.
  thread_local std::vector<uint32_t> next;
  live->clear();
  if (path.empty() || path[0] != '/') return;
  enter(0, live);
  for (size_t pos = 1; pos <= path.size() && !live->empty();) {
    size_t end = path.find('/', pos);
    if (end == std::string_view::npos) end = path.size();
    std::string_view comp = path.substr(pos, end - pos);
    pos = end + 1;
    if (comp.empty()) continue;  // tolerate "//" and a trailing '/'

    next.clear();
    size_t hash = 0;
    bool hashed = false;
    for (uint32_t id : *live) {
      const Node& n = nodes_[id];
      if (n.loops) next.push_back(id);
      if (n.star != kNone) enter(n.star, &next);
      if (n.has_literals) {
        if (!hashed) {
          hash = detail::EdgeTable::hash_text(comp);
          hashed = true;
        }
        uint32_t child = literals_.find(id, comp, hash);
        if (child != kNone) enter(child, &next);
      }
      for (uint16_t len : n.prefix_lengths) {
        if (len > comp.size()) break;
        uint32_t child = prefixes_.find(id, comp.substr(0, len));
        if (child != kNone) enter(child, &next);
      }
      for (uint16_t len : n.suffix_lengths) {
        if (len > comp.size()) break;
        uint32_t child = suffixes_.find(id, comp.substr(comp.size() - len));
        if (child != kNone) enter(child, &next);
      }
      for (const auto& [glob, child] : n.others)
        if (component_matches(glob, comp)) enter(child, &next);
    }
    // A '**' node is reached both from its parent and from itself.
    if (next.size() > 1) sort_unique(&next);
    live->swap(next);
  }
}

std::vector<uint32_t> PathGlobSet::match(std::string_view path) const {
  thread_local std::vector<uint32_t> live;
  run(path, &live);
  std::vector<uint32_t> out;
  for (uint32_t id : live) out.insert(out.end(), nodes_[id].values.begin(), nodes_[id].values.end());
  sort_unique(&out);
  return out;
}

std::optional<uint32_t> PathGlobSet::first(std::string_view path) const {
  thread_local std::vector<uint32_t> live;
  run(path, &live);
  std::optional<uint32_t> best;
  for (uint32_t id : live)
    if (!nodes_[id].values.empty() && (!best || nodes_[id].values.front() < *best))
      best = nodes_[id].values.front();
  return best;
}

bool PathGlobSet::matches(std::string_view path) const { return first(path).has_value(); }

// ---- IP prefixes -------------------------------------------------------------------------------
namespace {

constexpr uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

unsigned nibble(const uint8_t* bytes, int i) { return (i & 1) ? bytes[i / 2] & 0xf : bytes[i / 2] >> 4; }

// Text to family and bytes; false for anything inet_pton does not take.
bool parse_address(std::string_view text, int* family, uint8_t bytes[16]) {
  if (text.empty() || text.size() > 64) return false;
  std::string s(text);
  std::memset(bytes, 0, 16);
  *family = s.find(':') == std::string::npos ? AF_INET : AF_INET6;
  return inet_pton(*family, s.c_str(), bytes) == 1;
}

}  // namespace

CidrSet::CidrSet() : v4_(1), v6_(1) {}

std::string CidrSet::add(std::string_view cidr, uint32_t value) {
  if (cidr.empty()) return "empty CIDR";
  size_t slash = cidr.find('/');
  std::string_view addr_text = cidr.substr(0, slash);
  int family;
  uint8_t bytes[16];
  if (!parse_address(addr_text, &family, bytes)) return "bad address '" + std::string(addr_text) + "'";
  int max = family == AF_INET ? 32 : 128;
  int length = max;
  if (slash != std::string_view::npos) {
    std::string_view len_text = cidr.substr(slash + 1);
    if (len_text.empty() || len_text.size() > 3 ||
        len_text.find_first_not_of("0123456789") != std::string_view::npos)
      return "bad prefix length '" + std::string(len_text) + "'";
    length = std::stoi(std::string(len_text));
    if (length > max)
      return "prefix length " + std::to_string(length) + " out of range (0-" + std::to_string(max) + ")";
  }
  for (int bit = length; bit < max; ++bit)
    if (bytes[bit / 8] & (0x80 >> (bit % 8))) return "host bits set";
  if (family == AF_INET6 && length >= 96 && std::memcmp(bytes, kMappedPrefix, 12) == 0)
    insert(&v4_, bytes + 12, length - 96, value);
  else
    insert(family == AF_INET ? &v4_ : &v6_, bytes, length, value);
  ++prefixes_;
  return "";
}

void CidrSet::insert(std::vector<Node>* trie, const uint8_t* bytes, int length, uint32_t value) {
  uint32_t id = 0;
  for (int i = 0; i < length / 4; ++i) {
    unsigned nib = nibble(bytes, i);
    if ((*trie)[id].child[nib] == 0) {
      trie->emplace_back();
      (*trie)[id].child[nib] = static_cast<uint32_t>(trie->size() - 1);
    }
    id = (*trie)[id].child[nib];
  }
  int rest = length % 4;
  uint16_t mask = 0xffff;
  if (rest) {
    unsigned top = nibble(bytes, length / 4) >> (4 - rest);
    mask = 0;
    for (unsigned n = 0; n < 16; ++n)
      if ((n >> (4 - rest)) == top) mask |= 1u << n;
  }
  Node& node = (*trie)[id];
  if (node.entries == kNone) {
    node.entries = static_cast<uint32_t>(entries_.size());
    entries_.emplace_back();
  }
  auto& list = entries_[node.entries];
  Entry e{static_cast<uint8_t>(length), mask, value};
  auto less = [](const Entry& a, const Entry& b) {
    return a.length != b.length ? a.length < b.length : a.value < b.value;
  };
  auto it = std::lower_bound(list.begin(), list.end(), e, less);
  // One rule's prefixes of one length under one node (127.0.0.52/30 and 127.0.0.56/30: the same
  // first seven nibbles) differ only in their mask: the entry covers both.
  if (it != list.end() && it->length == e.length && it->value == e.value)
    it->mask |= e.mask;
  else
    list.insert(it, e);
}

std::optional<CidrSet::Address> CidrSet::normalise(int family, const uint8_t* address16) {
  if (family == AF_INET) return Address{true, address16};
  if (family != AF_INET6) return std::nullopt;
  if (std::memcmp(address16, kMappedPrefix, 12) == 0) return Address{true, address16 + 12};
  return Address{false, address16};
}

template <typename Fn>
void CidrSet::walk(Address a, Fn&& on_entry) const {
  const std::vector<Node>& trie = a.v4 ? v4_ : v6_;
  const int nibbles = a.v4 ? 8 : 32;
  uint32_t id = 0;
  for (int depth = 0;; ++depth) {
    const Node& node = trie[id];
    // Past the last nibble only whole-address prefixes are left, and their mask is full.
    unsigned nib = depth < nibbles ? nibble(a.bytes, depth) : 0;
    if (node.entries != kNone)
      for (const Entry& e : entries_[node.entries])
        if (((e.mask >> nib) & 1) && !on_entry(e)) return;
    if (depth == nibbles || (id = node.child[nib]) == 0) return;
  }
}

std::vector<uint32_t> CidrSet::match(int family, const uint8_t* address16) const {
  // Gathered in per-thread scratch so the result costs one allocation of the right size.
  thread_local std::vector<uint32_t> found;
  found.clear();
  if (auto a = normalise(family, address16))
    walk(*a, [&](const Entry& e) {
      found.push_back(e.value);
      return true;
    });
  if (found.size() > 1) sort_unique(&found);
  return std::vector<uint32_t>(found.begin(), found.end());
}

std::optional<uint32_t> CidrSet::first(int family, const uint8_t* address16) const {
  std::optional<uint32_t> best;
  if (auto a = normalise(family, address16))
    walk(*a, [&](const Entry& e) {
      if (!best || e.value < *best) best = e.value;
      return true;
    });
  return best;
}

std::optional<uint32_t> CidrSet::longest(int family, const uint8_t* address16) const {
  int best_length = -1;
  std::optional<uint32_t> best;
  if (auto a = normalise(family, address16))
    walk(*a, [&](const Entry& e) {
      if (e.length > best_length || (e.length == best_length && e.value < *best)) {
        best_length = e.length;
        best = e.value;
      }
      return true;
    });
  return best;
}

bool CidrSet::matches(int family, const uint8_t* address16) const {
  bool found = false;
  if (auto a = normalise(family, address16))
    walk(*a, [&](const Entry&) {
      found = true;
      return false;
    });
  return found;
}

std::vector<uint32_t> CidrSet::match(std::string_view address) const {
  int family;
  uint8_t bytes[16];
  return parse_address(address, &family, bytes) ? match(family, bytes) : std::vector<uint32_t>{};
}

std::optional<uint32_t> CidrSet::first(std::string_view address) const {
  int family;
  uint8_t bytes[16];
  return parse_address(address, &family, bytes) ? first(family, bytes) : std::nullopt;
}

std::optional<uint32_t> CidrSet::longest(std::string_view address) const {
  int family;
  uint8_t bytes[16];
  return parse_address(address, &family, bytes) ? longest(family, bytes) : std::nullopt;
}

bool CidrSet::matches(std::string_view address) const {
  int family;
  uint8_t bytes[16];
  return parse_address(address, &family, bytes) && matches(family, bytes);
}

// ---- hostnames ---------------------------------------------------------------------------------
namespace {

constexpr size_t kMaxName = 253;
constexpr size_t kMaxLabel = 63;

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool label_char(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'; }

}  // namespace

HostSet::HostSet() : nodes_(1) {}

std::string HostSet::add(std::string_view pattern, uint32_t value) {
  if (!pattern.empty() && pattern.back() == '.') pattern.remove_suffix(1);
  if (pattern.empty()) return "empty hostname";
  if (pattern.size() > kMaxName) return "hostname longer than 253 characters";
  std::string name(pattern);
  for (char& c : name) c = lower(c);
  bool wildcard = name.size() >= 2 && name[0] == '*' && name[1] == '.';
  std::string_view rest(name);
  if (wildcard) rest.remove_prefix(2);
  for (char c : rest) {
    if (c == '*') return "'*' is only allowed as a leading '*.' label";
    if (c != '.' && !label_char(c)) return std::string("invalid character '") + c + "' in hostname";
  }
  // Labels right to left, checked before any node is made so a bad name leaves the set as it was.
  std::vector<std::string_view> labels;
  for (size_t end = rest.size();;) {
    size_t dot = end == 0 ? std::string_view::npos : rest.rfind('.', end - 1);
    size_t start = dot == std::string_view::npos ? 0 : dot + 1;
    std::string_view label = rest.substr(start, end - start);
    if (label.empty()) return "empty label in hostname";
    if (label.size() > kMaxLabel) return "label longer than 63 characters";
    labels.push_back(label);
    if (dot == std::string_view::npos) break;
    end = dot;
  }
  uint32_t node = 0;
  for (std::string_view label : labels) {
    uint32_t child = children_.find(node, label);
    if (child == kNone) {
      child = static_cast<uint32_t>(nodes_.size());
      nodes_.emplace_back();
      children_.insert(node, label, child);
    }
    node = child;
  }
  insert_sorted(wildcard ? &nodes_[node].below : &nodes_[node].exact, value);
  ++patterns_;
  return "";
}

template <typename Fn>
void HostSet::walk(std::string_view host, Fn&& on_values) const {
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  if (host.empty() || host.size() > kMaxName) return;
  char buf[kMaxName];
  for (size_t i = 0; i < host.size(); ++i) buf[i] = lower(host[i]);
  std::string_view name(buf, host.size());
  if (name.front() == '.' || name.find("..") != std::string_view::npos) return;

  uint32_t node = 0;
  for (size_t end = name.size();;) {
    const Node& n = nodes_[node];
    if (end == 0) {  // every label consumed: the name is exactly this node's
      if (!n.exact.empty()) on_values(n.exact);
      return;
    }
    // At least one label is left, so the name is strictly below this node.
    if (!n.below.empty() && !on_values(n.below)) return;
    size_t dot = name.rfind('.', end - 1);
    size_t start = dot == std::string_view::npos ? 0 : dot + 1;
    if ((node = children_.find(node, name.substr(start, end - start))) == kNone) return;
    end = dot == std::string_view::npos ? 0 : dot;
  }
}

std::vector<uint32_t> HostSet::match(std::string_view host) const {
  std::vector<uint32_t> out;
  walk(host, [&](const std::vector<uint32_t>& values) {
    out.insert(out.end(), values.begin(), values.end());
    return true;
  });
  sort_unique(&out);
  return out;
}

std::optional<uint32_t> HostSet::first(std::string_view host) const {
  std::optional<uint32_t> best;
  walk(host, [&](const std::vector<uint32_t>& values) {
    if (!best || values.front() < *best) best = values.front();
    return true;
  });
  return best;
}

bool HostSet::matches(std::string_view host) const {
  bool found = false;
  walk(host, [&](const std::vector<uint32_t>&) {
    found = true;
    return false;
  });
  return found;
}

// ---- ports -------------------------------------------------------------------------------------
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// A port number 1-65535, or why not.
std::string parse_port(std::string_view text, uint32_t* port) {
  text = trim(text);
  if (text.empty()) return "empty port";
  if (text.size() > 5 || text.find_first_not_of("0123456789") != std::string_view::npos)
    return "bad port '" + std::string(text) + "'";
  *port = static_cast<uint32_t>(std::stoul(std::string(text)));
  if (*port < 1 || *port > 65535) return "port " + std::string(text) + " out of range (1-65535)";
  return "";
}

}  // namespace

std::string PortSet::add(std::string_view text) {
  size_t dash = text.find('-');
  uint32_t lo, hi;
  std::string error = parse_port(text.substr(0, dash), &lo);
  if (!error.empty()) return error;
  hi = lo;
  if (dash != std::string_view::npos) {
    if (!(error = parse_port(text.substr(dash + 1), &hi)).empty()) return error;
    if (lo > hi) return "bad port range '" + std::string(trim(text)) + "': start above end";
  }
  for (uint32_t p = lo; p <= hi; ++p) ports_.set(p);
  return "";
}

}  // namespace clawfence::policy
