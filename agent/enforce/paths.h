// Path globs compiled into the kernel's path patterns (include/clawfence/abi.h, "Path patterns";
// judged by bpf/guard/paths.bpf.h at open and exec). A compiled pattern matches exactly the
// normalised paths its glob matches (policy::glob_matches); a glob of another shape is listed as
// not expressible, with the reason, and is left to user space. Shapes judged in the kernel:
//
//   /a/b             literal: the whole path               PREFIX "/a/b\0"
//   /a/**            the directory and all below it        PREFIX "/a\0" and "/a/"
//   **/a/b           ends with these components             SUFFIX "/a/b"
//   **/PRE*SUF       last component PRE*SUF, anywhere       SUFFIX SUF, BASE_PREFIX PRE, min_leaf
//   /a/PRE*SUF       last component PRE*SUF, in /a          DIR "/a/", SUFFIX SUF, BASE_PREFIX PRE
//   /a/*/b/c         one whole middle component (no `~`)   PREFIX "/a/", SUFFIX "/b/c", SLASHES
//
// A leading `~/` becomes one kernel entry per home directory, every one carrying the pattern's
// bit. Patterns that differ only in the entries of one trie (two literals of one rule, say) share
// a bit, which keeps real policies well under CF_GPATH_MAX.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "clawfence/abi.h"
#include "enforce/guard_policy.h"

namespace clawfence::enforce {

// An entry of guard_path_prefix, guard_path_suffix or guard_path_dirs.
struct PathEntry {
  // prefix: the path's first bytes, a final '\0' meaning the whole path; suffix: its last bytes,
  // in path order (the writer reverses them); dir: a directory with its trailing '/'.
  std::string text;
  // The patterns it names; in the tries also those of every entry that is a prefix (for the
  // suffix trie: a suffix) of this one, so that the longest match names them all.
  uint64_t bits = 0;
};

struct UnexpressedGlob {
  size_t input = 0;  // index into the rules given to compile_paths
  std::string glob;
  std::string reason;
};

struct CompiledPaths {
  std::vector<cf_gpath> patterns;          // pattern i is bit i
  std::vector<std::vector<size_t>> inputs;  // per pattern: the rules (indices) it came from
  std::vector<PathEntry> prefixes;         // sorted by text, texts unique
  std::vector<PathEntry> suffixes;
  std::vector<PathEntry> dirs;
  std::vector<UnexpressedGlob> not_expressible;
};

// Compiles `rules` into `*out` (replaced). `homes` are absolute directories a leading `~/` (or a
// lone `~`) stands for. Returns "" or why the result does not fit the kernel maps (more than
// CF_GPATH_MAX patterns or more entries than a map holds); `*out` is then empty.
std::string compile_paths(const std::vector<PathRule>& rules, const std::vector<std::string>& homes,
                          CompiledPaths* out);

// One line per glob of `rules` the kernel cannot judge (compiled into `c`), naming its rule.
std::vector<std::string> unexpressed_notes(const CompiledPaths& c, const std::vector<PathRule>& rules,
                                           const std::vector<std::string>& rule_ids);

// What the kernel decides for `path` (absolute, normalised, as the kernel walks it): the bits of
// every pattern whose conditions hold at `on` (CF_GPATH_ON_OPEN or CF_GPATH_ON_EXEC, with an
// open's CF_GPATH_READ/WRITE/CREATE) for a process of role `role`, whatever its action. A reading of bpf/guard/paths.bpf.h, for tests.
uint64_t kernel_path_matches(const CompiledPaths& c, std::string_view path, uint16_t on, uint8_t role);

// The pattern the kernel acts on: the first (by bit) of those that hold with action kill.
std::optional<size_t> kernel_path_verdict(const CompiledPaths& c, std::string_view path, uint16_t on, uint8_t role);

// The globs a rule's glob stands for: one per home for `~/` (a lone `~` too), the glob itself
// otherwise. Sets *from_home. Returns "" or why it cannot be expanded (no homes, a relative home).
std::string expand(const std::string& glob, const std::vector<std::string>& homes, std::vector<std::string>* out,
                   bool* from_home);

// The directory a glob protects by what it is (guard_anchors): its literal directory part, the
// components before the first wildcard, without the file name ("/a/b/**" -> "/a/b",
// "~/.ssh/id_*" -> "~/.ssh", "/etc/shadow" -> "/etc"); "" when there is none beyond "/"
// ("**/.env", "/*/x").
std::string anchor_dir(std::string_view glob);

struct PathMapFds {
  int paths = -1;   // guard_paths
  int prefix = -1;  // guard_path_prefix
  int suffix = -1;  // guard_path_suffix
  int dirs = -1;    // guard_path_dirs
};

// Makes the four maps hold exactly `c`. Every pattern is switched off first and the new ones
// written last, so no pattern is ever judged on a mix of old and new entries (for the moment of
// the write, paths are not judged at all). Returns "" or an error text.
std::string write_paths(const PathMapFds& fds, const CompiledPaths& c);

// The same as `next` with its patterns moved to the indices identical patterns of `prev` (the
// patterns in force) have, new ones to free indices: a rewrite that only adds (a new home's
// entries) then changes no index's meaning.
CompiledPaths keep_indices(const CompiledPaths& prev, CompiledPaths next);

// Rewrites the maps from `prev` (in force) to `next` (from keep_indices) without a moment where
// a pattern in both is off: an index whose pattern changes is switched off first, the tries are
// written (entries only gain bits of patterns that stay), then changed and new patterns are
// switched on and the ones gone switched off.
std::string rewrite_paths(const PathMapFds& fds, const CompiledPaths& prev, const CompiledPaths& next);

}  // namespace clawfence::enforce
