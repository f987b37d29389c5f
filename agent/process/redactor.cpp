#include "process/redactor.h"

#include <fnmatch.h>
#include <re2/re2.h>
#include <re2/set.h>

#include <algorithm>
#include <cctype>

#include "env/fingerprint.h"
#include "sensor/decoder.h"

namespace clawfence::process {

struct Redactor::Pattern {
  std::string what;
  std::unique_ptr<re2::RE2> re;
  int group = 0;  // the capture group that is the secret (0: the whole match)
};

struct Redactor::PatternSet {
  explicit PatternSet(const re2::RE2::Options& o) : set(o, re2::RE2::UNANCHORED) {}
  re2::RE2::Set set;
  std::vector<const Pattern*> index;  // set's pattern i
};

namespace {

// Well-known credential shapes. Where the pattern names what precedes the secret (a header, a
// key name), its one capture group is the secret and the name stays readable.
struct Builtin {
  const char* what;
  const char* re;
};
constexpr Builtin kBuiltins[] = {
    {"private-key", R"re((?s)-----BEGIN[A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END[A-Z0-9 ]*PRIVATE KEY-----|\z))re"},
    {"anthropic-key", R"re(\bsk-ant-[A-Za-z0-9_-]{16,})re"},
    {"openai-key", R"re(\bsk-[A-Za-z0-9_-]{20,})re"},
    {"github-token", R"re(\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{30,})re"},
    {"github-token", R"re(\bgithub_pat_[A-Za-z0-9_]{22,})re"},
    {"slack-token", R"re(\bxox[abprs]-[A-Za-z0-9-]{10,})re"},
    {"aws-access-key", R"re(\b(?:AKIA|ASIA)[0-9A-Z]{16}\b)re"},
    {"authorization", R"re((?i)\bauthorization:\s*(?:[A-Za-z]+\s+)?([^\s'"]+))re"},
    {"bearer", R"re((?i)\bbearer\s+([A-Za-z0-9._~+/=-]+))re"},
    // password=X, token=X, secret=X, api_key=X (query strings, --opt=X, NAME=X), and the JSON form
    {"credential",
     R"re((?i)(?:^|[^A-Za-z0-9])[A-Za-z0-9_.-]*(?:password|passwd|passphrase|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credentials?)=([^&\s'"\[][^&\s'"]*))re"},
    {"credential",
     R"re((?i)"[A-Za-z0-9_.-]*(?:password|passwd|passphrase|secret|token|api[_-]?key|access[_-]?key|private[_-]?key)"\s*:\s*"((?:[^"\\]|\\.)+)")re"},
    {"url-password", R"re(\b[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*:([^/\s@]+)@)re"},
};

// An argv element that takes a secret as the next element (`--token X`, `--password X`).
bool is_secret_flag(const std::string& a) {
  if (a.size() < 2 || a[0] != '-') return false;
  std::string s;
  for (char c : a) s.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  if (s.find('=') != std::string::npos) return false;
  for (const char* end : {"password", "passwd", "passphrase", "token", "secret", "apikey", "api-key", "api_key",
                          "access-key", "access_key", "private-key"}) {
    const size_t n = std::char_traits<char>::length(end);
    if (s.size() >= n && s.compare(s.size() - n, n, end) == 0) return true;
  }
  return false;
}

bool is_token_char(unsigned char c) {
  return std::isalnum(c) || c == '_' || c == '+' || c == '/' || c == '.' || c == '=' || c == '~' || c == '-';
}
bool is_narrow_char(unsigned char c) { return std::isalnum(c) || c == '_' || c == '-'; }
bool is_quote(char c) { return c == '"' || c == '\'' || c == '`'; }

std::unique_ptr<re2::RE2> compile(const std::string& pattern, std::string* err) {
  re2::RE2::Options o;
  o.set_log_errors(false);
  auto re = std::make_unique<re2::RE2>(pattern, o);
  if (!re->ok()) {
    *err = re->error();
    return nullptr;
  }
  return re;
}

}  // namespace

const std::vector<std::string>& Redactor::default_secret_names() {
  static const std::vector<std::string> kNames = {
      "*_API_KEY",      "*_TOKEN",   "*_SECRET",        "*_PASSWORD",        "*_CREDENTIAL", "*_CREDENTIALS",
      "*_PRIVATE_KEY",  "AWS_SECRET_ACCESS_KEY",          "AWS_SESSION_TOKEN", "GH_TOKEN",     "GITHUB_TOKEN",
      "NPM_TOKEN"};
  return kNames;
}

Redactor::Redactor() : secret_names_(default_secret_names()) {
  for (const auto& b : kBuiltins) {
    auto p = std::make_unique<Pattern>();
    std::string err;
    p->what = b.what;
    p->re = compile(b.re, &err);
    if (!p->re) throw std::logic_error(std::string("built-in redaction pattern ") + b.what + ": " + err);
    p->group = p->re->NumberOfCapturingGroups() > 0 ? 1 : 0;
    builtin_.push_back(std::move(p));
  }
  set_patterns({});
}

Redactor::~Redactor() = default;

std::string Redactor::check_pattern(const std::string& pattern) {
  if (pattern.empty()) return "an empty pattern would match everywhere";
  std::string err;
  auto re = compile(pattern, &err);
  if (!re) return err;
  // a pattern that matches the empty text would replace nothing, everywhere: surely a mistake
  if (re2::RE2::PartialMatch("", *re)) return "matches the empty text";
  return "";
}

std::string Redactor::set_patterns(const std::vector<std::string>& patterns) {
  std::vector<std::unique_ptr<Pattern>> ops;
  for (size_t i = 0; i < patterns.size(); ++i) {
    if (std::string err = check_pattern(patterns[i]); !err.empty())
      return "pattern " + std::to_string(i + 1) + " (" + patterns[i] + "): " + err;
    auto p = std::make_unique<Pattern>();
    std::string err;
    p->re = compile(patterns[i], &err);
    p->what = "pattern-" + std::to_string(i + 1);
    p->group = p->re->NumberOfCapturingGroups() > 0 ? 1 : 0;
    ops.push_back(std::move(p));
  }
  re2::RE2::Options o;
  o.set_log_errors(false);
  auto set = std::make_unique<PatternSet>(o);
  for (const auto* list : {&builtin_, &ops})
    for (const auto& p : *list) {
      std::string err;
      if (set->set.Add(p->re->pattern(), &err) < 0)
        return "pattern " + p->what + " cannot be combined with the others: " + err;
      set->index.push_back(p.get());
    }
  if (!set->set.Compile()) return "the patterns do not fit RE2's memory budget together";
  std::lock_guard<std::mutex> l(mu_);
  operator_ = std::move(ops);
  set_ = std::move(set);
  return "";
}

void Redactor::set_key(const unsigned char key[16]) {
  auto f = std::make_unique<env::Fingerprinter>(key);
  std::lock_guard<std::mutex> l(mu_);
  fingerprint_ = std::move(f);
}

void Redactor::set_secret_names(const std::vector<std::string>& globs) {
  std::lock_guard<std::mutex> l(mu_);
  secret_names_ = globs.empty() ? default_secret_names() : globs;
}

bool Redactor::is_secret_name(const std::string& name) const {
  std::lock_guard<std::mutex> l(mu_);
  for (const auto& g : secret_names_)
    if (fnmatch(g.c_str(), name.c_str(), 0) == 0) return true;
  return false;
}

void Redactor::forget_length(uint32_t len) {
  if (len == 0) {
    --unknown_length_;
    return;
  }
  auto it = lengths_.find(len);
  if (it != lengths_.end() && --it->second == 0) lengths_.erase(it);
}

void Redactor::learn_locked(const std::string& name, uint64_t fingerprint, uint32_t len) {
  auto it = known_.find(fingerprint);
  if (it != known_.end()) {
    lru_.splice(lru_.end(), lru_, it->second.lru);  // seen again: the last to be forgotten
    if (len && it->second.len != len) {             // a length learned for a getenv's value
      forget_length(it->second.len);
      it->second.len = len;
      ++lengths_[len];
    }
    return;
  }
  if (known_.size() >= kMaxKnown) {
    auto old = known_.find(lru_.front());
    forget_length(old->second.len);
    known_.erase(old);
    lru_.pop_front();
    ++stats_.evicted;
  }
  lru_.push_back(fingerprint);
  known_.emplace(fingerprint, Known{name, len, std::prev(lru_.end())});
  if (len)
    ++lengths_[len];
  else
    ++unknown_length_;
  ++stats_.learned;
}

void Redactor::learn(const std::string& name, uint64_t fingerprint, uint32_t len) {
  if (len && len < kMinLength) return;  // never compared: text this short is not looked at
  std::lock_guard<std::mutex> l(mu_);
  learn_locked(name, fingerprint, len);
}

void Redactor::learn(const sensor::DecodedRecord& rec) {
  for (const auto& v : rec.env_values)
    if (is_secret_name(v.name)) learn(v.name, v.fingerprint, v.len);
}

void Redactor::learn_value(const std::string& name, std::string_view value) {
  if (value.size() < kMinLength || !is_secret_name(name)) return;
  std::lock_guard<std::mutex> l(mu_);
  if (!fingerprint_) return;
  learn_locked(name, (*fingerprint_)(value), static_cast<uint32_t>(value.size()));
}

const Redactor::Known* Redactor::lookup(std::string_view candidate) const {
  auto it = known_.find((*fingerprint_)(candidate));
  return it == known_.end() ? nullptr : &it->second;
}

void Redactor::pattern_spans(const std::string& text, std::vector<Span>& spans) const {
  std::vector<int> hits;
  if (!set_ || !set_->set.Match(text, &hits)) return;
  std::sort(hits.begin(), hits.end());  // in list order: built-ins first
  for (int h : hits) {
    const Pattern& p = *set_->index[h];
    re2::StringPiece input(text), groups[2];
    size_t pos = 0;
    while (pos <= text.size() && p.re->Match(input, pos, text.size(), re2::RE2::UNANCHORED, groups, p.group + 1)) {
      const re2::StringPiece& whole = groups[0];
      const re2::StringPiece& secret = groups[p.group];
      if (secret.data() && !secret.empty()) {
        const size_t b = secret.data() - text.data();
        spans.push_back({b, b + secret.size(), &p.what});
      }
      const size_t next = static_cast<size_t>(whole.data() - text.data()) + whole.size();
      pos = next > pos ? next : pos + 1;
    }
  }
}

void Redactor::fingerprint_spans(const std::string& text, bool thorough, std::vector<Span>& spans) const {
  const size_t n = text.size();
  if (!fingerprint_ || known_.empty() || n < kMinLength) return;
  const std::string_view view(text);
  // Thorough: every substring as long as a known value (its first 255 bytes for a longer one),
  // within a budget of comparisons per text; what is left past it is looked for by token.
  static constexpr size_t kWindowBudget = 16384;
  size_t budget = kWindowBudget;
  bool windows_done = thorough;
  if (thorough) {
    for (const auto& [len, count] : lengths_) {
      (void)count;
      const size_t w = std::min<size_t>(len, env::Fingerprinter::kValueBytes);
      if (w > n) break;  // the lengths are in order
      if (n - w + 1 > budget) {
        windows_done = false;
        break;
      }
      budget -= n - w + 1;
      for (size_t p = 0; p + w <= n; ++p) {
        const Known* k = lookup(view.substr(p, w));
        if (!k || (k->len && k->len != len)) continue;
        spans.push_back({p, std::min(n, p + len), &k->name});
        p += w - 1;
      }
    }
  }
  // Tokens: the text, its words, what follows '=' or ':' in a word, runs of characters keys are
  // made of (letters, digits, _+/.=~-), and narrower runs (letters, digits, _-).
  if (windows_done && unknown_length_ == 0) return;
  std::vector<std::pair<size_t, size_t>> cands;  // [begin, end)
  auto add = [&](size_t b, size_t e) {
    while (b < e && is_quote(text[b])) ++b;
    while (e > b && is_quote(text[e - 1])) --e;
    if (e - b >= kMinLength) cands.emplace_back(b, e);
  };
  auto runs = [&](auto in_run, bool split_assignment) {
    for (size_t i = 0; i < n;) {
      if (!in_run(static_cast<unsigned char>(text[i]))) {
        ++i;
        continue;
      }
      size_t j = i;
      while (j < n && in_run(static_cast<unsigned char>(text[j]))) ++j;
      add(i, j);
      if (split_assignment) {
        for (char sep : {'=', ':'}) {
          const size_t at = text.find(sep, i);
          if (at < j) add(at + 1, j);
        }
      }
      i = j;
    }
  };
  add(0, n);
  runs([](unsigned char c) { return !std::isspace(c); }, true);
  runs(is_token_char, true);
  runs(is_narrow_char, false);
  std::sort(cands.begin(), cands.end());
  cands.erase(std::unique(cands.begin(), cands.end()), cands.end());
  const bool any_long = !lengths_.empty() && lengths_.rbegin()->first >= env::Fingerprinter::kValueBytes;
  for (const auto& [b, e] : cands) {
    const size_t len = e - b;
    // with every length known, a candidate of no known length cannot be a known value
    const bool may_match = unknown_length_ > 0 || lengths_.count(static_cast<uint32_t>(len)) ||
                           (any_long && len >= env::Fingerprinter::kValueBytes);
    if (!may_match) continue;
    if (const Known* k = lookup(view.substr(b, len))) spans.push_back({b, e, &k->name});
  }
}

size_t Redactor::redact_locked(std::string& text, bool thorough) const {
  if (text.empty()) return 0;
  std::vector<Span> spans;
  // a known value first: where a pattern also matches it, the variable's name says more
  fingerprint_spans(text, thorough, spans);
  pattern_spans(text, spans);
  if (spans.empty()) return 0;
  // the first to start wins an overlap, and takes the union
  std::stable_sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) { return a.begin < b.begin; });
  std::vector<Span> merged;
  for (const auto& s : spans) {
    if (!merged.empty() && s.begin < merged.back().end)
      merged.back().end = std::max(merged.back().end, s.end);
    else
      merged.push_back(s);
  }
  std::string out;
  size_t at = 0;
  for (const auto& s : merged) {
    out.append(text, at, s.begin - at);
    out += "[REDACTED:" + *s.what + "]";
    at = s.end;
  }
  out.append(text, at, std::string::npos);
  text.swap(out);
  stats_.replaced += merged.size();
  ++stats_.texts;
  return merged.size();
}

size_t Redactor::redact(std::string& text, bool thorough) const {
  std::lock_guard<std::mutex> l(mu_);
  return redact_locked(text, thorough);
}

size_t Redactor::redact_argv_locked(std::vector<std::string*>& argv) const {
  static const std::string kFlagValue = "flag-value", kUserPassword = "url-password";
  size_t n = 0;
  for (size_t i = 0; i < argv.size(); ++i) {
    std::string& a = *argv[i];
    if (i > 0 && is_secret_flag(*argv[i - 1]) && !a.empty() && a.rfind("[REDACTED:", 0) != 0) {
      a = "[REDACTED:" + kFlagValue + "]";  // `--token X`: all of X
      ++stats_.replaced;
      ++stats_.texts;
      ++n;
      continue;
    }
    if (i > 0 && (*argv[i - 1] == "-u" || *argv[i - 1] == "--user")) {
      // curl's `-u user:password`: the password
      const size_t colon = a.find(':');
      if (colon != std::string::npos && colon + 1 < a.size()) {
        a = a.substr(0, colon + 1) + "[REDACTED:" + kUserPassword + "]";
        ++stats_.replaced;
        ++stats_.texts;
        ++n;
        continue;
      }
    }
    n += redact_locked(a, true);
  }
  return n;
}

size_t Redactor::redact_argv(std::vector<std::string>& argv) const {
  std::vector<std::string*> ptrs;
  for (auto& a : argv) ptrs.push_back(&a);
  std::lock_guard<std::mutex> l(mu_);
  return redact_argv_locked(ptrs);
}

size_t Redactor::redact_argv(google::protobuf::RepeatedPtrField<std::string>* argv) const {
  std::vector<std::string*> ptrs;
  for (auto& a : *argv) ptrs.push_back(&a);
  std::lock_guard<std::mutex> l(mu_);
  return redact_argv_locked(ptrs);
}

size_t Redactor::redact_event(v1::Event& ev) const {
  size_t n = 0;
  {
    std::lock_guard<std::mutex> l(mu_);
    switch (ev.detail_case()) {
      case v1::Event::kExec: {
        auto* x = ev.mutable_exec();
        std::vector<std::string*> argv;
        for (auto& a : *x->mutable_argv()) argv.push_back(&a);
        n += redact_argv_locked(argv);
        n += redact_locked(*x->mutable_filename(), false);
        break;
      }
      case v1::Event::kFile: {
        auto* f = ev.mutable_file();
        n += redact_locked(*f->mutable_path(), false);
        n += redact_locked(*f->mutable_new_path(), false);
        break;
      }
      case v1::Event::kDns: {
        auto* d = ev.mutable_dns();
        n += redact_locked(*d->mutable_query(), false);
        for (auto& a : *d->mutable_answers()) {
          n += redact_locked(*a.mutable_name(), false);
          n += redact_locked(*a.mutable_value(), false);
        }
        break;
      }
      default:
        break;
    }
  }
  if (n) ev.set_redacted(true);
  return n;
}

RedactionStats Redactor::stats() const {
  std::lock_guard<std::mutex> l(mu_);
  RedactionStats s = stats_;
  s.known = known_.size();
  return s;
}

}  // namespace clawfence::process
