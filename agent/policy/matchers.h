// Matchers the compiled rules use to test one event against many patterns at once: path globs,
// IP prefixes, hostnames and ports. Each set maps a pattern to a caller-chosen value (a rule
// index); a lookup returns every matching value, sorted and without duplicates, or just the
// smallest one. The cost of a lookup is bounded by the length of what is looked up (components
// of a path, bits of an address, labels of a name), not by the number of patterns, so a policy
// of ten thousand prefixes costs about what a policy of ten does.
//
// Sets are built with add() and are ready for lookups after every add(); there is no separate
// compile step. Lookups are const and touch no shared mutable state, so any number of threads
// may look up concurrently; add() must not run concurrently with anything else on the same set.
// add() returns "" on success and an error message otherwise (the set is then unchanged).
#pragma once

#include <array>
#include <bitset>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace clawfence::policy {

namespace detail {

// Edges of a trie keyed by (parent node, text). One table per trie rather than a map per node,
// so a lookup hashes a component once and reuses the hash at every node it is tried on. The
// keys' text is owned by the table in storage that never moves, which lets lookups probe with
// views of the input (C++17 unordered maps have no heterogeneous lookup).
class EdgeTable {
 public:
  static constexpr uint32_t kNone = UINT32_MAX;

  static size_t hash_text(std::string_view text) { return std::hash<std::string_view>{}(text); }
  uint32_t find(uint32_t node, std::string_view text, size_t text_hash) const;
  uint32_t find(uint32_t node, std::string_view text) const { return find(node, text, hash_text(text)); }
  void insert(uint32_t node, std::string_view text, uint32_t child);

 private:
  struct Key {
    uint32_t node;
    size_t text_hash;
    std::string_view text;
    bool operator==(const Key& o) const {
      return node == o.node && text_hash == o.text_hash && text == o.text;
    }
  };
  struct KeyHash {
    size_t operator()(const Key& k) const noexcept {
      return k.text_hash ^ (size_t{k.node} * 0x9E3779B97F4A7C15ull);
    }
  };
  std::unordered_map<Key, uint32_t, KeyHash> map_;
  std::vector<std::unique_ptr<std::string>> texts_;  // each string stays where it was made
};

}  // namespace detail

// ---- path globs --------------------------------------------------------------------------------
//
// Globs over absolute, normalised paths:
//   *        any run of characters within one component (never '/')
//   ?        one character other than '/'
//   [abc]    one character of a class within a component: ranges [a-z], negation [!a];
//            a ']' right after '[' or '[!' is literal
//   **       a whole component only: any number of whole components, including none
//            (/a/** matches /a and /a/b/c; **/x matches /x and /p/q/x; /a/**/b matches /a/b)
// A pattern starts with '/' or with '**/'; one trailing '/' is ignored. There is no escape
// character. Components that can never match a normalised path ('', '.', '..') are errors.

// "" if `pattern` is a valid glob, else why not.
std::string check_glob(std::string_view pattern);

// Reference matcher for one pattern: a direct recursive reading of the rules above, kept simple
// so tests can check PathGlobSet against it. False for an invalid pattern.
bool glob_matches(const std::string& pattern, const std::string& path);

class PathGlobSet {
 public:
  PathGlobSet();

  [[nodiscard]] std::string add(std::string_view pattern, uint32_t value);

  // `path` is absolute and normalised; anything else matches nothing.
  std::vector<uint32_t> match(std::string_view path) const;
  std::optional<uint32_t> first(std::string_view path) const;  // smallest matching value
  bool matches(std::string_view path) const;

  size_t size() const { return patterns_; }
  bool empty() const { return patterns_ == 0; }

 private:
  static constexpr uint32_t kNone = detail::EdgeTable::kNone;

  // A trie over path components, run as an NFA. Literal components are hash edges; '*x' and 'x*'
  // components are hash edges too, probed once per distinct length of x present at the node;
  // a lone '*' is a single edge; only the remaining wildcard components ('?', classes, several
  // '*') are tested one by one, and real policies have few of them at any one node. '**' is a
  // child that is entered without consuming a component and then consumes any component while
  // staying put. A lookup follows every live node in step, one component at a time: its cost is
  // the path's depth times the number of live nodes, and a node is live only if the pattern
  // prefix it spells matches the path so far (for a policy like the one in bench/, two or three),
  // so it does not grow with the number of patterns. A DFA would save the per-node work but its
  // subset construction can blow up with '*' and '**', and building it lazily would mean writing
  // under concurrent readers; the trie is built as patterns are added and is read-only after.
  struct Node {
    std::vector<uint32_t> values;                          // patterns ending here; sorted, unique
    std::vector<uint16_t> prefix_lengths;                  // distinct lengths x of 'x*' edges, ascending
    std::vector<uint16_t> suffix_lengths;                  // distinct lengths x of '*x' edges, ascending
    std::vector<std::pair<std::string, uint32_t>> others;  // other wildcard components
    uint32_t star = kNone;                                 // the '*' child
    uint32_t globstar = kNone;                             // the '**' child
    bool loops = false;                                    // this is a '**' node
    bool has_literals = false;
  };

  uint32_t new_node();
  uint32_t child_for(uint32_t parent, std::string_view component);
  // The nodes live after consuming all of `path`, in `*live` (which is cleared first).
  void run(std::string_view path, std::vector<uint32_t>* live) const;
  void enter(uint32_t node, std::vector<uint32_t>* live) const;

  std::vector<Node> nodes_;  // nodes_[0] is the root ('/')
  detail::EdgeTable literals_;
  detail::EdgeTable prefixes_;  // 'x*' keyed by x
  detail::EdgeTable suffixes_;  // '*x' keyed by x
  size_t patterns_ = 0;
};

// ---- IP prefixes -------------------------------------------------------------------------------

class CidrSet {
 public:
  CidrSet();

  // "10.0.0.0/8", "127.0.0.1" (= /32), "::1" (= /128), "fd00::/8". Bits set beyond the prefix
  // length are an error. Prefixes inside ::ffff:0:0/96 are stored as the IPv4 prefixes they map.
  [[nodiscard]] std::string add(std::string_view cidr, uint32_t value);

  // Every value whose prefix contains the address. An address is text ("10.1.2.3", "::1") or
  // a family (AF_INET / AF_INET6) and 16 bytes in network order with IPv4 in the first 4. An
  // IPv4-mapped IPv6 address (::ffff:a.b.c.d) is looked up as IPv4; bad text matches nothing.
  std::vector<uint32_t> match(std::string_view address) const;
  std::vector<uint32_t> match(int family, const uint8_t* address16) const;
  std::optional<uint32_t> first(std::string_view address) const;  // smallest matching value
  std::optional<uint32_t> first(int family, const uint8_t* address16) const;
  // The value of the longest matching prefix (the smallest, if it was added several times).
  std::optional<uint32_t> longest(std::string_view address) const;
  std::optional<uint32_t> longest(int family, const uint8_t* address16) const;
  bool matches(std::string_view address) const;
  bool matches(int family, const uint8_t* address16) const;

  size_t size() const { return prefixes_; }
  bool empty() const { return prefixes_ == 0; }

 private:
  static constexpr uint32_t kNone = UINT32_MAX;

  // A 16-way trie per family: each level consumes four address bits, so an IPv4 lookup visits at
  // most 9 nodes and an IPv6 lookup at most 33, whatever the number of prefixes. A prefix whose
  // length is not a multiple of four is kept at the node above its last partial nibble, with a
  // mask of the 16 nibble values it covers.
  struct Entry {
    uint8_t length;  // the whole prefix length
    uint16_t mask;   // bit n: covers next nibble n (all 16 when the length ends on a nibble)
    uint32_t value;
  };
  struct Node {
    std::array<uint32_t, 16> child{};  // 0 = none (the root, node 0, is nobody's child)
    uint32_t entries = kNone;          // index into entries_
  };
  struct Address {
    bool v4;
    const uint8_t* bytes;  // 4 or 16 bytes
  };

  static std::optional<Address> normalise(int family, const uint8_t* address16);
  template <typename Fn>
  void walk(Address a, Fn&& on_entry) const;  // on_entry(const Entry&) -> bool: keep going
  void insert(std::vector<Node>* trie, const uint8_t* bytes, int length, uint32_t value);

  std::vector<Node> v4_;
  std::vector<Node> v6_;
  std::vector<std::vector<Entry>> entries_;  // per node with prefixes; sorted by (length, value)
  size_t prefixes_ = 0;
};

// ---- hostnames ---------------------------------------------------------------------------------

class HostSet {
 public:
  HostSet();

  // "api.openai.com" matches that name only; "*.slack.com" matches any name below slack.com
  // (x.slack.com, a.b.slack.com) but not slack.com itself. Case-insensitive; a trailing dot is
  // ignored. Labels use [a-z0-9_-] and are 1 to 63 characters; names at most 253.
  [[nodiscard]] std::string add(std::string_view pattern, uint32_t value);

  std::vector<uint32_t> match(std::string_view host) const;
  std::optional<uint32_t> first(std::string_view host) const;  // smallest matching value
  bool matches(std::string_view host) const;

  size_t size() const { return patterns_; }
  bool empty() const { return patterns_ == 0; }

 private:
  static constexpr uint32_t kNone = detail::EdgeTable::kNone;

  // A trie over labels read right to left (com -> slack), so a lookup visits one node per label.
  struct Node {
    std::vector<uint32_t> exact;  // values of the name this node spells; sorted, unique
    std::vector<uint32_t> below;  // values of '*.' + that name; sorted, unique
  };

  // Calls on_values(const std::vector<uint32_t>&) for each non-empty list that matches `host`;
  // stops when it returns false.
  template <typename Fn>
  void walk(std::string_view host, Fn&& on_values) const;

  std::vector<Node> nodes_;  // nodes_[0] is the root (the empty name)
  detail::EdgeTable children_;
  size_t patterns_ = 0;
};

// ---- ports -------------------------------------------------------------------------------------

class PortSet {
 public:
  // "443" or "8000-8080" (inclusive); ports are 1-65535.
  [[nodiscard]] std::string add(std::string_view text);
  bool contains(uint16_t port) const { return ports_.test(port); }
  bool empty() const { return ports_.none(); }

 private:
  std::bitset<65536> ports_;
};

}  // namespace clawfence::policy
