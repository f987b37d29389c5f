#include "output/audit_verify.h"

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string_view>

#include "output/audit.h"
#include "proto/clawfence.pb.h"

namespace clawfence::output {
namespace {

struct InputFile {
  std::string path;
  std::string base;                   // orders files that start at the same seq
  uint64_t first_seq = 0;             // 0: the first line has no readable seq
  bool empty = false;
};

// The seq every line of ours starts with, read without parsing the line, so that a damaged line
// can still be named by its number: `{"seq":"123"`.
uint64_t leading_seq(std::string_view line) {
  constexpr std::string_view kPrefix = "{\"seq\":\"";
  if (line.substr(0, kPrefix.size()) != kPrefix) return 0;
  uint64_t seq = 0;
  size_t i = kPrefix.size();
  for (; i < line.size() && i < kPrefix.size() + 20 && line[i] >= '0' && line[i] <= '9'; ++i)
    seq = seq * 10 + static_cast<uint64_t>(line[i] - '0');
  return i < line.size() && line[i] == '"' ? seq : 0;
}

bool read_all(const std::string& path, std::string* out, std::string* err) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *err = path + ": " + std::strerror(errno);
    return false;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) {
    *err = path + ": cannot be read";
    return false;
  }
  *out = std::move(ss).str();
  return true;
}

std::string plural(uint64_t n, const char* what) {
  return std::to_string(n) + " " + what + (n == 1 ? "" : "s");
}

std::string seq_range(uint64_t from, uint64_t to) {
  return from == to ? "seq " + std::to_string(from) : "seq " + std::to_string(from) + ".." + std::to_string(to);
}

struct Where {
  std::string file;
  size_t line = 0;
  std::string text() const { return file + ":" + std::to_string(line); }
};

// The first line at or after `from` in files[index] and later files whose seq lies strictly
// between `low` and `high`: a record out of its place rather than missing.
bool find_later(const std::vector<InputFile>& files, size_t index, const std::string& content, size_t from,
                size_t line_no, uint64_t low, uint64_t high, Where* where) {
  std::string other;
  for (size_t f = index; f < files.size(); ++f) {
    const std::string* text = &content;
    if (f != index) {
      std::string err;
      if (files[f].empty || !read_all(files[f].path, &other, &err)) continue;
      text = &other;
      from = 0;
      line_no = 0;
    }
    for (size_t pos = from; pos < text->size();) {
      size_t nl = text->find('\n', pos);
      if (nl == std::string::npos) nl = text->size();
      ++line_no;
      const uint64_t seq = leading_seq(std::string_view(*text).substr(pos, nl - pos));
      if (seq > low && seq < high) {
        *where = {files[f].path, line_no};
        return true;
      }
      pos = nl + 1;
    }
  }
  return false;
}

}  // namespace

VerifyReport verify_audit(const std::vector<std::string>& paths, const std::string& hmac_key_file, bool partial) {
  VerifyReport report;
  auto usage = [&](const std::string& why) {
    report.usage_error = true;
    report.why = why;
    return report;
  };
  if (paths.empty()) return usage("no audit files given");
  std::string key;
  std::string err;
  // The verifier reads a copy of the key wherever the operator keeps one: no mode rule here.
  if (!hmac_key_file.empty() && !load_audit_key(hmac_key_file, false, &key, &err)) return usage(err);

  // Files in chain order, by the seq of their first record: shells sort names, not seqs.
  std::vector<InputFile> files;
  for (const std::string& p : paths) {
    std::error_code ec;
    if (std::filesystem::is_directory(p, ec)) return usage(p + ": a directory; give its files (" + p + "/*.jsonl)");
    std::ifstream in(p, std::ios::binary);
    if (!in) return usage(p + ": " + std::strerror(errno));
    InputFile f;
    f.path = p;
    f.base = p.substr(p.rfind('/') == std::string::npos ? 0 : p.rfind('/') + 1);
    std::string first;
    if (!std::getline(in, first) && first.empty()) {
      if (in.bad()) return usage(p + ": cannot be read");
      f.empty = true;
    }
    f.first_seq = leading_seq(first);
    files.push_back(std::move(f));
  }
  std::stable_sort(files.begin(), files.end(), [](const InputFile& a, const InputFile& b) {
    // rotated names (audit-<time>-...) sort before the current audit.jsonl, older before newer
    return a.first_seq != b.first_seq ? a.first_seq < b.first_seq : a.base < b.base;
  });

  bool have_prev = false;
  uint64_t prev_seq = 0;
  std::string prev_hash;
  Where prev_at;
  uint64_t records = 0;
  size_t nonempty = 0;
  bool any_hmac = false;
  v1::AuditRecord first_rec, last_rec;
  std::string first_hash;

  auto broken = [&](const std::string& file, size_t line, uint64_t seq, const std::string& why) {
    report.ok = false;
    report.file = file;
    report.line = line;
    report.seq = seq;
    report.why = why;
    report.summary = plural(records, "record") + " before it verified";
    return report;
  };

  google::protobuf::util::JsonParseOptions parse_opts;
  parse_opts.ignore_unknown_fields = true;  // a newer agent's fields are still covered by the hash

  std::string content;
  for (size_t fi = 0; fi < files.size(); ++fi) {
    const InputFile& f = files[fi];
    if (f.empty) continue;
    if (!read_all(f.path, &content, &err)) return usage(err);
    if (content.empty()) continue;
    ++nonempty;
    const bool last_file = std::none_of(files.begin() + static_cast<std::ptrdiff_t>(fi) + 1, files.end(),
                                        [](const InputFile& g) { return !g.empty; });
    size_t line_no = 0;
    for (size_t pos = 0; pos < content.size();) {
      const size_t nl = content.find('\n', pos);
      ++line_no;
      const std::string_view line =
          std::string_view(content).substr(pos, (nl == std::string::npos ? content.size() : nl) - pos);
      const uint64_t lead = leading_seq(line);
      if (nl == std::string::npos) {
        return broken(f.path, line_no, lead,
                      "truncated tail: the last line is incomplete (" + plural(line.size(), "byte") +
                          ", no newline: a write cut short or a cut file)");
      }
      const bool final_line = last_file && nl + 1 == content.size();

      AuditLineParts parts;
      if (!split_audit_line(line, &parts)) {
        if (final_line && lead != 0)
          return broken(f.path, line_no, lead, "truncated tail: the last record is cut short (no hash at its end)");
        return broken(f.path, line_no, lead, "not an audit record (no hash at its end): inserted or damaged text");
      }
      if (sha256_hex(parts.body) != parts.hash)
        return broken(f.path, line_no, lead, "edited: its hash does not match its text");
      v1::AuditRecord rec;
      if (!google::protobuf::util::JsonStringToMessage(std::string(line), &rec, parse_opts).ok() || rec.seq() == 0)
        return broken(f.path, line_no, lead, "not an audit record (its hash matches, but it is not an AuditRecord)");
      const uint64_t seq = rec.seq();
      if (!parts.hmac.empty()) any_hmac = true;
      if (!key.empty()) {
        if (parts.hmac.empty())
          return broken(f.path, line_no, seq, "no hmac, but a key was given (written without the key, or the hmac was removed)");
        if (hmac_sha256_hex(key, parts.body) != parts.hmac)
          return broken(f.path, line_no, seq, "hmac does not match (forged or wrong key)");
      }

      if (!have_prev) {
        if (seq == 1 && !rec.prev().empty())
          return broken(f.path, line_no, seq, "the chain's seq 1 names a previous record: not the start of a chain");
        Where later;
        if (seq > 1 && !partial && find_later(files, fi, content, nl + 1, line_no, 0, seq, &later))
          return broken(f.path, line_no, seq, "reordered: it comes before " + later.text() + ", a lower seq");
        if (seq > 1 && !partial)
          return broken(f.path, line_no, seq,
                        "missing " + plural(seq - 1, "record") + " before it (" + seq_range(1, seq - 1) +
                            "): give the earlier files too, or --partial if they were archived");
      } else if (seq == prev_seq + 1) {
        if (rec.prev() != prev_hash)
          return broken(f.path, line_no, seq,
                        "its prev does not match the hash of seq " + std::to_string(prev_seq) + " (" +
                            prev_at.text() + "): a record was replaced");
      } else if (seq > prev_seq + 1) {
        Where later;
        if (find_later(files, fi, content, nl + 1, line_no, prev_seq, seq, &later))
          return broken(f.path, line_no, seq, "reordered: it comes before " + later.text() + ", a lower seq");
        std::string why = "missing " + plural(seq - prev_seq - 1, "record") + " before it (" +
                          seq_range(prev_seq + 1, seq - 1) + ")";
        if (line_no == 1) why += ": after " + prev_at.text() + "; a file may be missing";
        return broken(f.path, line_no, seq, why);
      } else {
        return broken(f.path, line_no, seq,
                      seq == prev_seq ? "reordered or repeated: seq " + std::to_string(seq) + " again (also " +
                                            prev_at.text() + ")"
                                      : "reordered: it comes after seq " + std::to_string(prev_seq) + " (" +
                                            prev_at.text() + ")");
      }

      if (!have_prev) {
        first_rec = rec;
        first_hash = parts.hash;
      }
      have_prev = true;
      prev_seq = seq;
      prev_hash = parts.hash;
      prev_at = {f.path, line_no};
      last_rec = std::move(rec);
      ++records;
      pos = nl + 1;
    }
  }

  report.ok = true;
  const size_t empty_files = files.size() - nonempty;
  std::string s = "ok: " + plural(records, "record") + " in " + plural(files.size(), "file");
  if (empty_files > 0) s += " (" + std::to_string(empty_files) + " empty)";
  if (records == 0) {
    report.summary = s;
    return report;
  }
  using google::protobuf::util::TimeUtil;
  s += ", " + seq_range(first_rec.seq(), last_rec.seq()) + "\n";
  s += "  time   " + TimeUtil::ToString(first_rec.event().time()) + " .. " +
       TimeUtil::ToString(last_rec.event().time()) + "\n";
  s += "  first  seq " + std::to_string(first_rec.seq()) + " hash " + first_hash + "\n";
  s += "  last   seq " + std::to_string(last_rec.seq()) + " hash " + prev_hash + "\n";
  if (first_rec.seq() > 1)
    s += "  start  mid-chain (--partial): the prev of seq " + std::to_string(first_rec.seq()) + ", " +
         first_rec.prev() + ", is taken on trust\n";
  if (!key.empty())
    s += "  hmac   verified on every record";
  else if (any_hmac)
    s += "  hmac   present, not checked (no --hmac-key)";
  else
    s += "  hmac   none (written without a key)";
  report.summary = s;
  return report;
}

}  // namespace clawfence::output
