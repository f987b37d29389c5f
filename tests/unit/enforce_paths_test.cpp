// Path globs compiled into kernel path patterns (agent/enforce/paths.h): each shape, the limits,
// and a property test that the kernel's reading of the compiled patterns matches exactly the
// paths policy::glob_matches matches, for every expressible glob of the shipped rules.
#include "enforce/paths.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <iostream>
#include <random>
#include <set>

#include "policy/matchers.h"
#include "policy/rules.h"
#include "shipped_rules.h"

namespace clawfence::enforce {
namespace {

PathRule kill_rule(const std::string& glob, uint16_t rule = 0) { return {glob, 0, CF_ACTION_KILL, rule, true}; }

CompiledPaths compile(const std::vector<PathRule>& rules, const std::vector<std::string>& homes = {"/root"}) {
  CompiledPaths c;
  std::string err = compile_paths(rules, homes, &c);
  EXPECT_EQ(err, "");
  return c;
}

bool kernel_kills(const CompiledPaths& c, const std::string& path, uint8_t role = 0, uint16_t on = CF_GPATH_ON_OPEN) {
  return kernel_path_verdict(c, path, on, role).has_value();
}

std::vector<std::string> texts(const std::vector<PathEntry>& entries) {
  std::vector<std::string> out;
  for (const auto& e : entries) out.push_back(e.text);
  return out;
}

using Strings = std::vector<std::string>;

// Every path in `yes` is killed and every one in `no` is not, and glob_matches agrees.
void expect_exact(const std::string& glob, const Strings& yes, const Strings& no) {
  CompiledPaths c = compile({kill_rule(glob)});
  ASSERT_EQ(c.not_expressible.size(), 0u) << glob << ": " << c.not_expressible[0].reason;
  for (const auto& p : yes) {
    EXPECT_TRUE(policy::glob_matches(glob, p)) << glob << " vs " << p << " (test expectation)";
    EXPECT_TRUE(kernel_kills(c, p)) << glob << " should match " << p;
  }
  for (const auto& p : no) {
    EXPECT_FALSE(policy::glob_matches(glob, p)) << glob << " vs " << p << " (test expectation)";
    EXPECT_FALSE(kernel_kills(c, p)) << glob << " should not match " << p;
  }
}

TEST(EnforcePaths, LiteralIsTheWholePath) {
  CompiledPaths c = compile({kill_rule("/etc/shadow")});
  ASSERT_EQ(c.patterns.size(), 1u);
  EXPECT_EQ(c.patterns[0].flags, CF_GPATH_PREFIX | CF_GPATH_ON_OPEN);
  EXPECT_EQ(texts(c.prefixes), Strings{std::string("/etc/shadow\0", 12)});
  expect_exact("/etc/shadow", {"/etc/shadow"}, {"/etc/shadow2", "/etc/shadow/x", "/etc", "/etc/shado", "/"});
  expect_exact("/", {"/"}, {"/a"});
}

TEST(EnforcePaths, TreeIsTheDirectoryAndEverythingBelow) {
  CompiledPaths c = compile({kill_rule("/etc/sudoers.d/**")});
  EXPECT_EQ(texts(c.prefixes), (Strings{std::string("/etc/sudoers.d\0", 15), "/etc/sudoers.d/"}));
  expect_exact("/etc/sudoers.d/**", {"/etc/sudoers.d", "/etc/sudoers.d/a", "/etc/sudoers.d/a/b/c"},
               {"/etc/sudoers.dx", "/etc/sudoers", "/etc/sudoers.dx/a", "/etc"});
  expect_exact("/**", {"/", "/a", "/a/b"}, {});
  // a trailing '/' on the glob is ignored
  expect_exact("/etc/ssl/private/", {"/etc/ssl/private"}, {"/etc/ssl/private/x"});
}

TEST(EnforcePaths, NameAnywhereIsASuffix) {
  CompiledPaths c = compile({kill_rule("**/id_rsa")});
  EXPECT_EQ(c.patterns[0].flags, CF_GPATH_SUFFIX | CF_GPATH_ON_OPEN);
  EXPECT_EQ(texts(c.suffixes), Strings{"/id_rsa"});
  expect_exact("**/id_rsa", {"/id_rsa", "/home/u/.ssh/id_rsa"}, {"/a/xid_rsa", "/a/id_rsa.pub", "/id_rsa/x"});
  expect_exact("**/.git/config", {"/r/.git/config", "/.git/config"}, {"/r/x.git/config", "/r/.git/config/x"});
}

TEST(EnforcePaths, ExtensionAnywhereIsASuffixWithoutSlash) {
  CompiledPaths c = compile({kill_rule("**/*.key")});
  EXPECT_EQ(texts(c.suffixes), Strings{".key"});
  EXPECT_EQ(c.patterns[0].min_leaf, 0);
  expect_exact("**/*.key", {"/a/b.key", "/.key", "/a.key"}, {"/a.key/b", "/a/b.keys", "/a/key"});
  // `**/*` is any path but the root
  expect_exact("**/*", {"/a", "/a/b"}, {"/"});
}

TEST(EnforcePaths, PrefixAndSuffixOfTheLastComponent) {
  CompiledPaths c = compile({kill_rule("**/privkey*.pem")});
  ASSERT_EQ(c.patterns.size(), 1u);
  EXPECT_EQ(c.patterns[0].flags, CF_GPATH_SUFFIX | CF_GPATH_BASE_PREFIX | CF_GPATH_ON_OPEN);
  EXPECT_EQ(std::string(c.patterns[0].base_prefix, c.patterns[0].base_prefix_len), "privkey");
  EXPECT_EQ(c.patterns[0].min_leaf, 11);
  expect_exact("**/privkey*.pem", {"/x/privkey.pem", "/privkey1.pem", "/a/b/privkey-x.pem"},
               {"/x/privkey.pe", "/x/aprivkey.pem", "/privkey/a.pem", "/x/privkey.pem/y"});
  // prefix and suffix may not share bytes of the name
  expect_exact("**/ab*ba", {"/abba", "/x/abxba"}, {"/aba", "/ab", "/ba"});
  // no suffix: an empty suffix entry finds the pattern
  CompiledPaths e = compile({kill_rule("**/.env.*")});
  EXPECT_EQ(texts(e.suffixes), Strings{""});
  expect_exact("**/.env.*", {"/x/.env.local", "/.env."}, {"/x/.env", "/x/a.env.local", "/.env./x"});
}

TEST(EnforcePaths, NameInOneDirectory) {
  CompiledPaths c = compile({kill_rule("~/.openclaw/state/*.sqlite")}, {"/root", "/home/a b"});
  ASSERT_EQ(c.patterns.size(), 1u);
  EXPECT_EQ(c.patterns[0].flags, CF_GPATH_DIR | CF_GPATH_SUFFIX | CF_GPATH_ON_OPEN);
  EXPECT_EQ(texts(c.dirs), (Strings{"/home/a b/.openclaw/state/", "/root/.openclaw/state/"}));
  EXPECT_EQ(c.dirs[0].bits, 1u);
  EXPECT_EQ(c.dirs[1].bits, 1u);
  expect_exact("/s/*.sqlite", {"/s/a.sqlite", "/s/.sqlite"}, {"/s/x/a.sqlite", "/t/s/a.sqlite", "/s/a.sqlite3"});
  expect_exact("/tmp/*", {"/tmp/a", "/tmp/abc"}, {"/tmp", "/tmp/a/b", "/"});
  expect_exact("/*", {"/a"}, {"/", "/a/b"});
  expect_exact("/s/pre*", {"/s/pre", "/s/prefix"}, {"/s/pr", "/s/x/pre"});
  for (const char* home_path : {"/root/.openclaw/state/x.sqlite", "/home/a b/.openclaw/state/x.sqlite"})
    EXPECT_TRUE(kernel_kills(c, home_path)) << home_path;
  EXPECT_FALSE(kernel_kills(c, "/home/a/.openclaw/state/x.sqlite"));
}

TEST(EnforcePaths, OneWholeMiddleComponent) {
  CompiledPaths c = compile({kill_rule("/proc/*/environ")});
  ASSERT_EQ(c.patterns.size(), 1u);
  EXPECT_EQ(c.patterns[0].flags, CF_GPATH_PREFIX | CF_GPATH_SUFFIX | CF_GPATH_SLASHES | CF_GPATH_ON_OPEN);
  EXPECT_EQ(c.patterns[0].slashes, 3);
  expect_exact("/proc/*/environ", {"/proc/1/environ", "/proc/self/environ"},
               {"/proc/environ", "/proc/1/task/2/environ", "/proc/1/environx", "/proc/1/2/environ", "/procx/1/environ"});
  expect_exact("/*/b/c", {"/a/b/c"}, {"/b/c", "/a/x/b/c"});
}

TEST(EnforcePaths, HomesShareTheBit) {
  CompiledPaths c = compile({kill_rule("~/.ssh/**")}, {"/root", "/home/a b/", "/root"});
  ASSERT_EQ(c.patterns.size(), 1u);
  EXPECT_EQ(texts(c.prefixes), (Strings{std::string("/home/a b/.ssh\0", 15), "/home/a b/.ssh/",
                                        std::string("/root/.ssh\0", 11), "/root/.ssh/"}));
  for (const auto& e : c.prefixes) EXPECT_EQ(e.bits, 1u);
  EXPECT_TRUE(kernel_kills(c, "/home/a b/.ssh/id_rsa"));
  EXPECT_TRUE(kernel_kills(c, "/root/.ssh"));
  EXPECT_FALSE(kernel_kills(c, "/home/a/.ssh/id_rsa"));
}

TEST(EnforcePaths, OtherShapesAreReportedWithTheReason) {
  const Strings globs = {"**/private/*.pem", "/proc/*/task/*/environ", "~/.openclaw/agents/*/agent/**",
                         "~/.openclaw/state/*.sqlite-*", "/a/**/b", "**/id_?sa", "~/*/x", "/a/[ab]/c",
                         "/a/x*/c", "/a/" + std::string(300, 'x'), "**/averyveryverylongprefix*.pem"};
  std::vector<PathRule> rules;
  for (const auto& g : globs) rules.push_back(kill_rule(g));
  CompiledPaths c = compile(rules);
  EXPECT_TRUE(c.patterns.empty());
  ASSERT_EQ(c.not_expressible.size(), globs.size());
  for (size_t i = 0; i < globs.size(); ++i) {
    EXPECT_EQ(c.not_expressible[i].input, i);
    EXPECT_EQ(c.not_expressible[i].glob, globs[i]);
    EXPECT_FALSE(c.not_expressible[i].reason.empty()) << globs[i];
  }
  EXPECT_NE(c.not_expressible[6].reason.find("home"), std::string::npos) << c.not_expressible[6].reason;
  // without homes, `~` has nothing to stand for
  CompiledPaths none = compile({kill_rule("~/.netrc")}, {});
  ASSERT_EQ(none.not_expressible.size(), 1u);
  EXPECT_NE(none.not_expressible[0].reason.find("home"), std::string::npos);
}

TEST(EnforcePaths, PatternsOfOneTrieShareABitAndEntriesCarryTheirPrefixesBits) {
  CompiledPaths c = compile({kill_rule("/etc/shadow", 3), kill_rule("/etc/gshadow", 3), kill_rule("/etc/**", 4),
                             kill_rule("**/*.key", 5), kill_rule("**/id_rsa", 5), kill_rule("/etc/sudoers", 6)});
  ASSERT_EQ(c.patterns.size(), 4u);
  EXPECT_EQ(c.inputs[0], (std::vector<size_t>{0, 1}));
  EXPECT_EQ(c.inputs[2], (std::vector<size_t>{3, 4}));
  for (const auto& e : c.prefixes) {
    if (e.text == std::string("/etc/shadow\0", 12)) {
      EXPECT_EQ(e.bits, 0b11u);  // and /etc/'s bit
    }
  }
  EXPECT_EQ(kernel_path_matches(c, "/etc/shadow", CF_GPATH_ON_OPEN, 0), 0b11u);
  EXPECT_EQ(*kernel_path_verdict(c, "/etc/sudoers", CF_GPATH_ON_OPEN, 0), 1u);  // first by bit
  EXPECT_EQ(kernel_path_matches(c, "/etc/x/id_rsa", CF_GPATH_ON_OPEN, 0), 0b110u);
  // a two-trie pattern never shares: its conditions would cross
  CompiledPaths d = compile({kill_rule("/a/*.x"), kill_rule("/b/*.y")});
  EXPECT_EQ(d.patterns.size(), 2u);
  EXPECT_FALSE(kernel_kills(d, "/a/f.y"));
}

TEST(EnforcePaths, RolesActionsAndHooks) {
  std::vector<PathRule> rules = {{"/secret", 1u << 2, CF_ACTION_KILL, 7, true},
                                 {"**/forbidden-tool", 0, CF_ACTION_KILL, 8, false},
                                 {"/blocked", 0, CF_ACTION_BLOCK, 9, true}};
  CompiledPaths c = compile(rules);
  ASSERT_EQ(c.patterns.size(), 3u);
  EXPECT_EQ(c.patterns[0].rule, 7);
  EXPECT_TRUE(kernel_kills(c, "/secret", 2));
  EXPECT_FALSE(kernel_kills(c, "/secret", 1));
  EXPECT_FALSE(kernel_kills(c, "/secret", 2, CF_GPATH_ON_EXEC));
  EXPECT_TRUE(kernel_kills(c, "/usr/bin/forbidden-tool", 0, CF_GPATH_ON_EXEC));
  EXPECT_FALSE(kernel_kills(c, "/usr/bin/forbidden-tool", 0, CF_GPATH_ON_OPEN));
  // a block pattern holds but is not what these hooks act on
  EXPECT_EQ(kernel_path_matches(c, "/blocked", CF_GPATH_ON_OPEN, 0), 0b100u);
  EXPECT_FALSE(kernel_kills(c, "/blocked"));
}

TEST(EnforcePaths, LimitsOfTheKeys) {
  const std::string dir255 = "/" + std::string(254, 'd');                 // 255 bytes
  const std::string dir256 = "/" + std::string(255, 'd');                 // 256 bytes
  expect_exact(dir255, {dir255}, {dir255 + "x", dir255.substr(0, 254)});  // 255 + NUL fits a key
  CompiledPaths over = compile({kill_rule(dir256)});
  EXPECT_EQ(over.not_expressible.size(), 1u);
  // long paths are still judged exactly: the prefix and suffix of a 600-byte path
  const std::string deep = "/a/" + std::string(250, 'x') + "/" + std::string(250, 'y') + "/z/" + std::string(90, 'w');
  expect_exact("/a/**", {deep}, {});
  expect_exact("**/*w", {deep}, {});
  expect_exact("**/*.key", {}, {deep});
  expect_exact("/a/" + std::string(250, 'x') + "/*", {"/a/" + std::string(250, 'x') + "/f"}, {deep});
}

// The directory a glob protects by inode: its literal directories, without the file name.
TEST(EnforcePaths, AnchorDirectories) {
  EXPECT_EQ(anchor_dir("~/.ssh/**"), "~/.ssh");
  EXPECT_EQ(anchor_dir("~/.ssh/id_*"), "~/.ssh");
  EXPECT_EQ(anchor_dir("~/.openclaw/agents/*/agent/**"), "~/.openclaw/agents");
  EXPECT_EQ(anchor_dir("~/.bashrc"), "~");
  EXPECT_EQ(anchor_dir("/etc/shadow"), "/etc");
  EXPECT_EQ(anchor_dir("/etc/ssl/private/**"), "/etc/ssl/private");
  EXPECT_EQ(anchor_dir("/etc/ssl/private/"), "/etc/ssl");  // names /etc/ssl/private itself, in /etc/ssl
  EXPECT_EQ(anchor_dir("/run/user/*/bus"), "/run/user");
  EXPECT_EQ(anchor_dir("**/.env"), "");
  EXPECT_EQ(anchor_dir("/*/x"), "");
  EXPECT_EQ(anchor_dir("/x"), "");
  EXPECT_EQ(anchor_dir("/**"), "");
  EXPECT_EQ(anchor_dir("relative/x"), "");
}

TEST(EnforcePaths, TooManyPatternsIsAnError) {
  std::vector<PathRule> rules;
  for (int i = 0; i <= CF_GPATH_MAX; ++i) rules.push_back(kill_rule("/d" + std::to_string(i) + "/*.x"));
  CompiledPaths c;
  EXPECT_NE(compile_paths(rules, {}, &c), "");
  EXPECT_TRUE(c.patterns.empty());
  rules.pop_back();
  EXPECT_EQ(compile_paths(rules, {}, &c), "");
  EXPECT_EQ(c.patterns.size(), static_cast<size_t>(CF_GPATH_MAX));
}

// ---- property: the shipped rules ----------------------------------------------------------------

const Strings kHomes = {"/root", "/home/a b"};

std::string expand(const std::string& glob, const std::string& home) {
  if (glob == "~") return home;
  if (glob.rfind("~/", 0) == 0) return home + glob.substr(1);
  return glob;
}

bool reference(const std::string& glob, const std::string& path) {
  for (const auto& h : kHomes)
    if (policy::glob_matches(expand(glob, h), path)) return true;
  return false;
}

// Random normalised paths built from the globs' own pieces (wildcards filled in, '**' as zero to
// three components), then mutated, plus noise.
class PathMaker {
 public:
  explicit PathMaker(const Strings& globs) : rng_(12345) {
    for (const auto& g : globs)
      for (const auto& h : kHomes) globs_.push_back(expand(g, h));
    for (const auto& g : globs_)
      for (const auto& c : split(g)) pieces_.push_back(c);
    for (const char* n : {"x", "1234", "self", "task", "environ", ".ssh", "a b", "id_rsa.pub", "key", ".pem",
                          "privkey", ".env", "state", "agent", "agents", "sqlite"})
      pieces_.push_back(n);
  }

  std::string next() {
    std::vector<std::string> comps;
    if (pick(4) == 0) {
      for (size_t n = pick(6); n > 0; --n) comps.push_back(noise());
    } else {
      comps = instantiate(globs_[pick(globs_.size())]);
      mutate(&comps);
    }
    std::string out;
    for (const auto& c : comps)
      if (!c.empty() && c != "." && c != "..") out += "/" + c.substr(0, CF_NAME_MAX);
    return out.empty() ? "/" : out;
  }

 private:
  size_t pick(size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng_); }

  static Strings split(const std::string& glob) {
    Strings out;
    std::string cur;
    for (char ch : glob) {
      if (ch == '/') {
        if (!cur.empty()) out.push_back(cur);
        cur.clear();
      } else {
        cur += ch;
      }
    }
    if (!cur.empty()) out.push_back(cur);
    return out;
  }

  std::string noise() {
    static const std::string chars = "abxyz.-_019 /";
    switch (pick(5)) {
      case 0: return pieces_[pick(pieces_.size())];
      case 1: return std::string(1 + pick(200), 'n');
      default: {
        std::string s;
        for (size_t n = 1 + pick(6); n > 0; --n) {
          char ch = chars[pick(chars.size())];
          if (ch != '/') s += ch;
        }
        return s.empty() ? "q" : s;
      }
    }
  }

  std::string fill_component(const std::string& c) {
    std::string out;
    for (size_t i = 0; i < c.size(); ++i) {
      if (c[i] == '*') {
        switch (pick(4)) {
          case 0: break;
          case 1: out += pieces_[pick(pieces_.size())]; break;
          default: out += noise(); break;
        }
      } else if (c[i] == '?') {
        out += "ab.-"[pick(4)];
      } else if (c[i] == '[') {
        size_t close = c.find(']', i + 2);
        out += c[i + 1] == '!' ? 'Z' : c[i + 1];
        i = close == std::string::npos ? c.size() : close;
      } else {
        out += c[i];
      }
    }
    return out;
  }

  std::vector<std::string> instantiate(const std::string& glob) {
    std::vector<std::string> out;
    for (const auto& c : split(glob)) {
      if (c == "**") {
        for (size_t n = pick(4); n > 0; --n) out.push_back(noise());
      } else {
        out.push_back(fill_component(c));
      }
    }
    return out;
  }

  void mutate(std::vector<std::string>* comps) {
    for (size_t n = pick(3); n > 0; --n) {
      size_t at = comps->empty() ? 0 : pick(comps->size());
      switch (pick(7)) {
        case 0: comps->insert(comps->begin() + at, noise()); break;
        case 1:
          if (!comps->empty()) comps->erase(comps->begin() + at);
          break;
        case 2:
          if (!comps->empty()) (*comps)[at] += 'x';
          break;
        case 3:
          if (!comps->empty() && !(*comps)[at].empty()) (*comps)[at].pop_back();
          break;
        case 4:
          if (!comps->empty()) (*comps)[at] = "x" + (*comps)[at];
          break;
        case 5: comps->push_back(noise()); break;
        default: break;  // keep it: paths that match matter as much
      }
    }
  }

  std::mt19937_64 rng_;
  Strings globs_;
  Strings pieces_;
};

TEST(EnforcePathsProperty, KernelPatternsMatchExactlyWhatTheShippedGlobsMatch) {
  const std::string path = testing::shipped_rules();
  ASSERT_FALSE(path.empty()) << "rules/openclaw.yaml not found; set CLAWFENCE_SRC to the repository root";
  policy::LoadResult loaded = policy::load_rules(path);
  ASSERT_TRUE(loaded.ok());
  Strings globs;
  std::vector<PathRule> all;
  for (const auto& f : loaded.rules.file_deny)
    for (const auto& g : f.paths) {
      globs.push_back(g);
      all.push_back(kill_rule(g, static_cast<uint16_t>(all.size())));
    }
  ASSERT_GT(globs.size(), 30u);

  // In batches: with each glob a rule of its own (no bits shared) and two homes, all of them
  // need more patterns than the kernel holds at once.
  constexpr size_t kBatch = 24;
  std::vector<CompiledPaths> batches;
  std::set<size_t> unexpressed;
  for (size_t start = 0; start < all.size(); start += kBatch) {
    std::vector<PathRule> part(all.begin() + start, all.begin() + std::min(start + kBatch, all.size()));
    batches.push_back(compile(part, kHomes));
    const CompiledPaths& c = batches.back();
    for (const auto& u : c.not_expressible) {
      unexpressed.insert(start + u.input);
      std::cout << "  not in the kernel: " << u.glob << ": " << u.reason << "\n";
    }
    EXPECT_LE(c.patterns.size(), static_cast<size_t>(CF_GPATH_MAX));
  }
  // The shipped globs the kernel cannot judge: a wildcard inside a directory, two '*', or
  // '**/' then directories then a wildcard.
  EXPECT_EQ(unexpressed.size(), 3u);

  PathMaker maker(globs);
  size_t matched = 0, checked = 0;
  for (int n = 0; n < 20000; ++n) {
    const std::string p = maker.next();
    for (size_t k = 0; k < batches.size(); ++k) {
      const CompiledPaths& c = batches[k];
      const uint64_t bits = kernel_path_matches(c, p, CF_GPATH_ON_OPEN, 0);
      for (size_t b = 0; b < c.patterns.size(); ++b) {
        bool want = false;
        for (size_t in : c.inputs[b]) want |= reference(globs[k * kBatch + in], p);
        ASSERT_EQ((bits >> b & 1) != 0, want) << "pattern " << b << " (" << globs[k * kBatch + c.inputs[b][0]] << ") on " << p;
        matched += want;
        ++checked;
      }
    }
    // every expressible glob alone, too (no sharing of bits)
    if (n % 20 == 0)
      for (size_t i = 0; i < globs.size(); ++i) {
        if (unexpressed.count(i)) continue;
        CompiledPaths one = compile({kill_rule(globs[i])}, kHomes);
        ASSERT_EQ(kernel_path_matches(one, p, CF_GPATH_ON_OPEN, 0) != 0, reference(globs[i], p)) << globs[i] << " on " << p;
      }
  }
  // the generator reaches both sides often enough for the comparison to mean something (each
  // path is checked against every pattern, and each is made from one glob)
  EXPECT_GT(matched, checked / 400);
  EXPECT_LT(matched, checked / 2);
}

}  // namespace
}  // namespace clawfence::enforce

namespace clawfence::enforce {
namespace {

// A new home (a watched process's) rewrites the patterns in force: every pattern keeps its index,
// so no kill pattern is ever off during the rewrite (a tool could trigger one and read in the
// gap), and what was killed before is killed after.
TEST(EnforcePaths, ANewHomeKeepsEveryPatternsIndex) {
  const std::vector<PathRule> rules = {kill_rule("~/.ssh/**", 0), kill_rule("~/.config/gh/*.yml", 1),
                                       kill_rule("**/id_rsa", 2), kill_rule("~/.bashrc", 3)};
  const CompiledPaths before = compile(rules, {"/root"});
  const CompiledPaths next = keep_indices(before, compile(rules, {"/root", "/tmp/deep/er/home"}));
  for (size_t i = 0; i < before.patterns.size(); ++i) {
    ASSERT_LT(i, next.patterns.size());
    EXPECT_EQ(std::memcmp(&before.patterns[i], &next.patterns[i], sizeof(cf_gpath)), 0) << "pattern " << i << " moved";
  }
  for (const char* p : {"/root/.ssh/id_rsa", "/root/.config/gh/hosts.yml", "/srv/id_rsa", "/root/.bashrc"}) {
    EXPECT_TRUE(kernel_kills(before, p)) << p;
    EXPECT_TRUE(kernel_kills(next, p)) << p;
  }
  for (const char* p : {"/tmp/deep/er/home/.ssh/config", "/tmp/deep/er/home/.config/gh/hosts.yml",
                        "/tmp/deep/er/home/.bashrc"})
    EXPECT_TRUE(kernel_kills(next, p)) << p;
  EXPECT_FALSE(kernel_kills(next, "/tmp/deep/er/home/notes.txt"));
  // a pattern that is gone leaves an index that never holds
  const CompiledPaths fewer = keep_indices(next, compile({rules[2]}, {"/root"}));
  EXPECT_TRUE(kernel_kills(fewer, "/srv/id_rsa"));
  EXPECT_FALSE(kernel_kills(fewer, "/root/.bashrc"));
}

}  // namespace
}  // namespace clawfence::enforce
