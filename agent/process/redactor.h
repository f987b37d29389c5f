// Keeps secret values out of everything clawfence writes. A tool's argv may hold a secret
// (`curl -d "k=$OPENAI_API_KEY" ...`), and argv is in every event of the process, in alerts'
// evidence, in the audit log, the tail and PagerDuty. Text that comes from a watched process
// (argv, executable and file paths, DNS names) passes through here once, before it is stored or
// written anywhere, and what is recognised as a secret is replaced by [REDACTED:WHAT]:
//
//  - a secret variable's value (a name matching env.secret_names), recognised by its
//    fingerprint: SipHash-2-4 under the host's key, which the kernel computes of the values a
//    watched process reads (getenv) or hands to a program it execs, and the agent of the
//    environment of processes it finds running at start. The value itself is never kept: a
//    candidate substring of the text is fingerprinted and compared. WHAT is the variable's name.
//  - text of a well-known credential shape (built-in patterns: OpenAI, Anthropic, GitHub, Slack,
//    AWS access keys, private key blocks, Authorization and Bearer values, password=, token=,
//    secret=, api_key= values, a URL's password) and the operator's patterns (RE2). WHAT names the
//    pattern.
//
// Thread-safe: the worker redacts and learns from records while the main thread learns from
// /proc at start.
#pragma once

#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "proto/clawfence.pb.h"

namespace re2 {
class RE2;
}  // namespace re2

namespace clawfence::env {
class Fingerprinter;
}
namespace clawfence::sensor {
struct DecodedRecord;
}

namespace clawfence::process {

struct RedactionStats {
  uint64_t replaced = 0;  // secrets replaced in text
  uint64_t texts = 0;     // texts (an argv element, a path, a name) that had at least one
  uint64_t known = 0;     // secret values known now, by fingerprint
  uint64_t learned = 0;   // fingerprints learned since start
  uint64_t evicted = 0;   // fingerprints forgotten to stay within kMaxKnown
};

class Redactor {
 public:
  // Shorter text is never compared with the fingerprints (a value this short is no key, and
  // would match too much).
  static constexpr size_t kMinLength = 8;
  // Secret values known at most; past it the least recently seen is forgotten (counted).
  static constexpr size_t kMaxKnown = 4096;
  // The names of secret variables when the rules give none (`clawfence run` without rules):
  // the shipped rules' env.secret_names.
  static const std::vector<std::string>& default_secret_names();

  Redactor();
  ~Redactor();
  Redactor(const Redactor&) = delete;
  Redactor& operator=(const Redactor&) = delete;

  // "" when `pattern` is a valid RE2 expression, else RE2's complaint.
  static std::string check_pattern(const std::string& pattern);
  // The operator's patterns, beside the built-in ones: a pattern with a capture group redacts what
  // its first group matched, else the whole match. Returns "" or what is wrong with the first bad
  // one (then nothing changes).
  std::string set_patterns(const std::vector<std::string>& patterns);
  // The host's fingerprint key (the one the kernel was given). Without it only patterns redact.
  void set_key(const unsigned char key[16]);
  // The rules' env.secret_names (globs); empty: default_secret_names().
  void set_secret_names(const std::vector<std::string>& globs);
  bool is_secret_name(const std::string& name) const;

  // A secret's fingerprint, from the kernel; `len` is the value's length (0: not known).
  void learn(const std::string& name, uint64_t fingerprint, uint32_t len);
  // What a record says of the values of secret variables: the environment an exec handed over,
  // the value a getenv read.
  void learn(const sensor::DecodedRecord& rec);
  // A value the agent read itself (/proc/PID/environ): fingerprinted here, never kept. The
  // caller clears its copy.
  void learn_value(const std::string& name, std::string_view value);

  // Replaces every secret in `text`; returns how many were replaced. `thorough` also compares
  // every substring as long as a known secret (argv: a secret run into other text); otherwise
  // the candidates are the text's tokens (paths, names: a secret is a component).
  size_t redact(std::string& text, bool thorough = false) const;
  // argv, element by element, and what an element says of the next (`--token X`, `-u user:X`).
  size_t redact_argv(std::vector<std::string>& argv) const;
  size_t redact_argv(google::protobuf::RepeatedPtrField<std::string>* argv) const;
  // The texts of an event's detail that come from the process: exec argv and file name, file
  // paths, DNS names. Sets `redacted` when it replaced something. Returns how many.
  size_t redact_event(v1::Event& ev) const;

  RedactionStats stats() const;
  size_t builtin_patterns() const { return builtin_.size(); }

 private:
  struct Pattern;
  struct Span {
    size_t begin, end;
    const std::string* what;
  };
  struct Known {
    std::string name;
    uint32_t len = 0;
    std::list<uint64_t>::iterator lru;
  };
  void learn_locked(const std::string& name, uint64_t fingerprint, uint32_t len);
  void forget_length(uint32_t len);
  size_t redact_locked(std::string& text, bool thorough) const;
  void pattern_spans(const std::string& text, std::vector<Span>& spans) const;
  void fingerprint_spans(const std::string& text, bool thorough, std::vector<Span>& spans) const;
  const Known* lookup(std::string_view candidate) const;
  size_t redact_argv_locked(std::vector<std::string*>& argv) const;

  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Pattern>> builtin_, operator_;
  struct PatternSet;                  // every pattern in one RE2::Set: which match at all, in one pass
  std::unique_ptr<PatternSet> set_;
  std::unique_ptr<env::Fingerprinter> fingerprint_;
  std::vector<std::string> secret_names_;
  std::unordered_map<uint64_t, Known> known_;
  std::list<uint64_t> lru_;            // least recently seen first
  std::map<uint32_t, size_t> lengths_; // known lengths (>= kMinLength) and how many have each
  size_t unknown_length_ = 0;          // known values whose length is not known (getenv)
  mutable RedactionStats stats_;
};

}  // namespace clawfence::process
