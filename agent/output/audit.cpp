#include "output/audit.h"

#include <fcntl.h>
#include <google/protobuf/util/json_util.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <vector>

#include "output/json_printer.h"
#include "proto/timestamp.h"

namespace clawfence::output {
namespace {

namespace fs = std::filesystem;

constexpr const char* kCurrentName = "audit.jsonl";
constexpr size_t kHexDigits = 64;
constexpr size_t kMinKeyBytes = 16;
constexpr size_t kMaxKeyBytes = 1 << 20;
constexpr size_t kScanWindow = 64 << 10;

bool is_lower_hex(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// Takes `,"NAME":"<64 hex>"` off the end of `s`.
bool take_hex_field(std::string_view& s, std::string_view name, std::string* value) {
  const size_t len = name.size() + 5 + kHexDigits + 1;  // , " name " : " hex "
  if (s.size() < len) return false;
  std::string_view tail = s.substr(s.size() - len);
  if (tail.substr(0, 2) != ",\"" || tail.substr(2, name.size()) != name ||
      tail.substr(2 + name.size(), 3) != "\":\"" || tail.back() != '"')
    return false;
  std::string_view hex = tail.substr(name.size() + 5, kHexDigits);
  if (!is_lower_hex(hex)) return false;
  value->assign(hex);
  s.remove_suffix(len);
  return true;
}

std::string errno_text(int e) { return std::strerror(e); }

std::string utc_compact(int64_t unix_ns) {
  time_t secs = static_cast<time_t>(unix_ns / 1'000'000'000);
  struct tm tm {};
  gmtime_r(&secs, &tm);
  char buf[32];
  strftime(buf, sizeof(buf), "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

// audit-<time>-<first seq>[-<n>].jsonl: the first seq, or 0 for any other name.
uint64_t rotated_first_seq(const std::string& name) {
  constexpr std::string_view kPrefix = "audit-", kSuffix = ".jsonl";
  if (name.size() <= kPrefix.size() + kSuffix.size() || name.compare(0, kPrefix.size(), kPrefix) != 0 ||
      name.compare(name.size() - kSuffix.size(), kSuffix.size(), kSuffix) != 0)
    return 0;
  std::string_view mid(name);
  mid = mid.substr(kPrefix.size(), mid.size() - kPrefix.size() - kSuffix.size());
  size_t dash = mid.find('-');
  if (dash == std::string_view::npos) return 0;
  mid.remove_prefix(dash + 1);
  uint64_t seq = 0;
  size_t i = 0;
  for (; i < mid.size() && mid[i] >= '0' && mid[i] <= '9'; ++i) seq = seq * 10 + static_cast<uint64_t>(mid[i] - '0');
  if (i == 0 || (i < mid.size() && mid[i] != '-')) return 0;
  return seq;
}

struct RotatedFile {
  std::string path;
  std::string name;
  uint64_t first_seq = 0;
};

// The rotated files of `dir`, newest (highest first seq) first.
std::vector<RotatedFile> rotated_files(const std::string& dir) {
  std::vector<RotatedFile> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::string name = entry.path().filename().string();
    uint64_t seq = rotated_first_seq(name);
    if (seq != 0 && entry.is_regular_file(ec)) out.push_back({entry.path().string(), name, seq});
  }
  std::sort(out.begin(), out.end(), [](const RotatedFile& a, const RotatedFile& b) {
    return a.first_seq != b.first_seq ? a.first_seq > b.first_seq : a.name > b.name;
  });
  return out;
}

bool pread_exact(int fd, uint64_t offset, size_t n, std::string* out) {
  out->resize(n);
  size_t got = 0;
  while (got < n) {
    ssize_t r = ::pread(fd, out->data() + got, n - got, static_cast<off_t>(offset + got));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    got += static_cast<size_t>(r);
  }
  return true;
}

bool parse_record(std::string_view line, v1::AuditRecord* rec) {
  google::protobuf::util::JsonParseOptions o;
  o.ignore_unknown_fields = true;  // a newer agent's fields are still covered by the hash
  return google::protobuf::util::JsonStringToMessage(std::string(line), rec, o).ok();
}

// A line that is a whole record whose hash matches its text.
struct GoodLine {
  uint64_t seq = 0;
  std::string hash;
};

bool check_line(std::string_view line, GoodLine* out) {
  AuditLineParts parts;
  if (!split_audit_line(line, &parts) || sha256_hex(parts.body) != parts.hash) return false;
  v1::AuditRecord rec;
  if (!parse_record(line, &rec) || rec.seq() == 0) return false;
  out->seq = rec.seq();
  out->hash = parts.hash;
  return true;
}

// Where a chain ends in a file: its last record that verifies, and what follows it, if anything.
struct TailScan {
  bool found = false;
  GoodLine last;
  std::string damage;                 // "" when the file ends with a good record
};

TailScan scan_tail(int fd, uint64_t size) {
  TailScan r;
  uint64_t window = std::min<uint64_t>(size, kScanWindow);
  for (;;) {
    const uint64_t start = size - window;
    std::string buf;
    if (!pread_exact(fd, start, static_cast<size_t>(window), &buf)) {
      r.damage = "cannot be read: " + errno_text(errno);
      return r;
    }
    const bool reaches_start = start == 0;
    size_t end = buf.size();
    size_t partial = 0;
    if (end > 0 && buf[end - 1] != '\n') {
      size_t nl = buf.rfind('\n');
      if (nl == std::string::npos && !reaches_start) {
        window = std::min<uint64_t>(size, window * 4);
        continue;
      }
      const size_t from = nl == std::string::npos ? 0 : nl + 1;
      partial = end - from;
      end = from;
    }
    size_t bad = 0;
    bool need_more = false;
    while (end > 0) {  // buf[end - 1] is the newline of the line looked at
      const size_t nl = end >= 2 ? buf.rfind('\n', end - 2) : std::string::npos;
      if (nl == std::string::npos && !reaches_start) {
        need_more = true;
        break;
      }
      const size_t from = nl == std::string::npos ? 0 : nl + 1;
      if (check_line(std::string_view(buf).substr(from, end - 1 - from), &r.last)) {
        r.found = true;
        break;
      }
      ++bad;
      end = from;
    }
    if (need_more) {
      window = std::min<uint64_t>(size, window * 4);
      continue;
    }
    if (bad > 0) r.damage = "ends with " + std::to_string(bad) + " line(s) that do not verify";
    if (partial > 0) {
      r.damage += r.damage.empty() ? "ends with " : " and then ";
      r.damage += "an incomplete record (" + std::to_string(partial) + " bytes, no newline: a write cut short)";
    }
    return r;
  }
}

// The first record of a file: its seq and event time (0, 0 when it does not parse).
std::pair<uint64_t, int64_t> first_record(int fd, uint64_t size) {
  uint64_t window = std::min<uint64_t>(size, kScanWindow);
  for (;;) {
    std::string buf;
    if (!pread_exact(fd, 0, static_cast<size_t>(window), &buf)) return {0, 0};
    size_t nl = buf.find('\n');
    if (nl == std::string::npos && window < size) {
      window = std::min<uint64_t>(size, window * 4);
      continue;
    }
    v1::AuditRecord rec;
    if (nl == std::string::npos || !parse_record(std::string_view(buf).substr(0, nl), &rec)) return {0, 0};
    return {rec.seq(), v1::timestamp_ns(rec.event().time())};
  }
}

bool blocks_or_kills(const v1::Event& ev) {
  const std::string& verdict = ev.enforcement().verdict();
  if (verdict == "blocked" || verdict == "killed") return true;
  if (ev.kind() != v1::Event::ALERT) return false;
  const std::string& outcome = ev.alert().outcome();
  return outcome == "blocked" || outcome == "killed";
}

}  // namespace

bool audit_relevant(const v1::Event& ev) {
  switch (ev.kind()) {
    case v1::Event::ALERT:
    case v1::Event::GAP:
    case v1::Event::AGENT:
      return true;
    default:
      break;
  }
  const std::string& verdict = ev.enforcement().verdict();
  return !verdict.empty() && verdict != "matched";
}

bool audit_critical(const v1::Event& ev) { return ev.kind() == v1::Event::AGENT || blocks_or_kills(ev); }

bool split_audit_line(std::string_view line, AuditLineParts* parts) {
  if (line.empty() || line.front() != '{' || line.back() != '}') return false;
  line.remove_suffix(1);
  parts->hmac.clear();
  take_hex_field(line, "hmac", &parts->hmac);  // optional: left in place when absent
  if (!take_hex_field(line, "hash", &parts->hash) || line.size() < 2) return false;
  parts->body.assign(line);
  parts->body.push_back('}');
  return true;
}

bool load_audit_key(const std::string& path, bool require_private, std::string* key, std::string* err) {
  const std::string what = "audit HMAC key " + path;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *err = what + ": " + errno_text(errno);
    return false;
  }
  struct stat st {};
  bool ok = false;
  if (fstat(fd, &st) != 0) {
    *err = what + ": " + errno_text(errno);
  } else if (!S_ISREG(st.st_mode)) {
    *err = what + ": not a regular file";
  } else if (require_private && (st.st_mode & 077) != 0) {
    char mode[8];
    snprintf(mode, sizeof(mode), "%04o", static_cast<unsigned>(st.st_mode & 07777));
    *err = what + ": group or others may read or write it (mode " + mode + "); chmod 600 it";
  } else if (static_cast<uint64_t>(st.st_size) < kMinKeyBytes) {
    *err = what + ": shorter than " + std::to_string(kMinKeyBytes) + " bytes";
  } else if (static_cast<uint64_t>(st.st_size) > kMaxKeyBytes) {
    *err = what + ": larger than 1 MiB; is it the key file?";
  } else {
    std::string buf;
    ok = pread_exact(fd, 0, static_cast<size_t>(st.st_size), &buf);
    if (ok) {
      *key = std::move(buf);
    } else {
      *err = what + ": cannot be read: " + errno_text(errno);
    }
  }
  ::close(fd);
  return ok;
}

// ---- AuditLog ----------------------------------------------------------------------------------

AuditLog::AuditLog(const AuditOptions& opts) : opts_(opts), path_(opts.dir + "/" + kCurrentName) {}

std::unique_ptr<AuditLog> AuditLog::open(const AuditOptions& opts, std::string* err) {
  if (opts.dir.empty()) {
    *err = "audit log: no directory given";
    return nullptr;
  }
  std::unique_ptr<AuditLog> log(new AuditLog(opts));
  if (!log->start(err)) return nullptr;
  return log;
}

AuditLog::~AuditLog() {
  if (fd_ >= 0) {
    if (dirty_) fdatasync(fd_);
    ::close(fd_);
  }
  if (dir_fd_ >= 0) ::close(dir_fd_);  // releases the lock
}

bool AuditLog::start(std::string* err) {
  if (!opts_.hmac_key_file.empty() && !load_audit_key(opts_.hmac_key_file, true, &key_, err)) return false;

  const std::string& dir = opts_.dir;
  std::error_code ec;
  if (!fs::exists(dir, ec)) {
    fs::path parent = fs::path(dir).parent_path();
    if (!parent.empty()) fs::create_directories(parent, ec);
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
      *err = "audit log: cannot create " + dir + ": " + errno_text(errno);
      return false;
    }
  }
  dir_fd_ = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd_ < 0) {
    *err = "audit log: cannot open " + dir + ": " + errno_text(errno);
    return false;
  }
  // Two writers would fork the chain.
  if (flock(dir_fd_, LOCK_EX | LOCK_NB) != 0) {
    *err = "audit log: " + dir + " is in use by another process (" + errno_text(errno) + ")";
    return false;
  }

  // Where the chain ends: the current file, else the newest rotated file, else (a damaged file
  // with no good record) the one before it.
  std::string found;
  bool move_current = false;
  uint64_t current_first_seq = 0;
  TailScan tail;
  int cfd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (cfd >= 0) {
    struct stat st {};
    if (fstat(cfd, &st) == 0 && st.st_size > 0) {
      tail = scan_tail(cfd, static_cast<uint64_t>(st.st_size));
      if (!tail.damage.empty()) {
        found = std::string(kCurrentName) + " " + tail.damage;
        move_current = true;
        current_first_seq = first_record(cfd, static_cast<uint64_t>(st.st_size)).first;
      }
    }
    ::close(cfd);
  } else if (errno != ENOENT) {
    *err = "audit log: cannot read " + path_ + ": " + errno_text(errno);
    return false;
  }
  if (!tail.found) {
    for (const RotatedFile& f : rotated_files(dir)) {
      int rfd = ::open(f.path.c_str(), O_RDONLY | O_CLOEXEC);
      if (rfd < 0) continue;
      struct stat st {};
      if (fstat(rfd, &st) == 0 && st.st_size > 0) {
        tail = scan_tail(rfd, static_cast<uint64_t>(st.st_size));
        if (!tail.damage.empty()) found += (found.empty() ? "" : "; ") + f.name + " " + tail.damage;
      }
      ::close(rfd);
      if (tail.found) break;
    }
  }
  if (tail.found) {
    last_seq_ = tail.last.seq;
    last_hash_ = tail.last.hash;
  }

  if (move_current) {
    // Never rewrite what is there: the damaged file keeps its tail for `audit verify` to report.
    file_first_seq_ = current_first_seq != 0 ? current_first_seq : last_seq_ + 1;
    std::string moved_to;
    if (!rename_current(&moved_to, err)) return false;
    found += "; the file was moved to " + moved_to;
    sync_dir();
  }
  if (!open_current(err)) return false;
  if (!found.empty()) {
    const std::string detail = found + (tail.found ? "; the chain continues after seq " + std::to_string(last_seq_)
                                                   : "; no good record found: a new chain starts");
    spdlog::warn("audit log: {}", detail);
    if (!append(agent_note("audit_continued", detail))) {
      *err = last_error_;
      return false;
    }
  }
  last_sync_ = std::chrono::steady_clock::now();
  return true;
}

bool AuditLog::rename_current(std::string* moved_to, std::string* err) {
  const std::string base = "audit-" + utc_compact(v1::unix_now_ns()) + "-" +
                           std::to_string(file_first_seq_ != 0 ? file_first_seq_ : last_seq_ + 1);
  for (int n = 1; n < 100; ++n) {
    const std::string name = base + (n == 1 ? "" : "-" + std::to_string(n)) + ".jsonl";
    if (renameat2(dir_fd_, kCurrentName, dir_fd_, name.c_str(), RENAME_NOREPLACE) == 0) {
      *moved_to = name;
      return true;
    }
    if (errno == EINVAL) {  // a file system without RENAME_NOREPLACE: we are the only writer here
      if (faccessat(dir_fd_, name.c_str(), F_OK, 0) == 0) continue;
      if (renameat(dir_fd_, kCurrentName, dir_fd_, name.c_str()) == 0) {
        *moved_to = name;
        return true;
      }
    }
    if (errno != EEXIST) break;
  }
  *err = "audit log: cannot rename " + path_ + ": " + errno_text(errno);
  return false;
}

bool AuditLog::open_current(std::string* err) {
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd_ < 0) {
    *err = "audit log: cannot open " + path_ + ": " + errno_text(errno);
    return false;
  }
  struct stat st {};
  if (fstat(fd_, &st) != 0) {
    *err = "audit log: cannot stat " + path_ + ": " + errno_text(errno);
    ::close(fd_);
    fd_ = -1;
    return false;
  }
  if ((st.st_mode & 077) != 0) fchmod(fd_, 0600);  // an older or hand-made file
  size_ = static_cast<uint64_t>(st.st_size);
  damaged_ = false;
  file_first_seq_ = 0;
  file_started_ns_ = v1::unix_now_ns();
  if (size_ == 0) {
    sync_dir();  // the new name is on disk before records go in it
  } else {
    // Reading it needs a descriptor opened for reading: O_APPEND|O_WRONLY cannot pread.
    int rfd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (rfd >= 0) {
      auto [seq, time_ns] = first_record(rfd, size_);
      ::close(rfd);
      file_first_seq_ = seq != 0 ? seq : last_seq_ + 1;
      // The file's age: since it was created where the file system knows, else since its first
      // event happened.
      struct statx stx {};
      if (statx(fd_, "", AT_EMPTY_PATH, STATX_BTIME, &stx) == 0 && (stx.stx_mask & STATX_BTIME) != 0) {
        file_started_ns_ = static_cast<int64_t>(stx.stx_btime.tv_sec) * 1'000'000'000 + stx.stx_btime.tv_nsec;
      } else if (time_ns > 0) {
        file_started_ns_ = time_ns;
      }
    }
  }
  return true;
}

bool AuditLog::rotation_due(size_t next_line_bytes) const {
  if (damaged_) return true;
  if (size_ == 0) return false;
  if (opts_.rotate_bytes != 0 && size_ + next_line_bytes > opts_.rotate_bytes) return true;
  if (opts_.rotate_age.count() > 0) {
    const int64_t age_ns = v1::unix_now_ns() - file_started_ns_;
    if (age_ns >= std::chrono::duration_cast<std::chrono::nanoseconds>(opts_.rotate_age).count()) return true;
  }
  return false;
}

bool AuditLog::rotate(std::string* err) {
  std::string moved_to;
  if (!rename_current(&moved_to, err)) return false;
  // The renamed file is complete on disk before the chain goes on in a new one.
  if (fdatasync(fd_) != 0) spdlog::warn("audit log: fsync {}: {}", moved_to, errno_text(errno));
  ::close(fd_);
  fd_ = -1;
  dirty_ = false;
  sync_dir();
  return open_current(err);
}

void AuditLog::sync_file() {
  if (fd_ < 0) return;
  if (fdatasync(fd_) != 0) spdlog::warn("audit log: fsync {}: {}", path_, errno_text(errno));
  dirty_ = false;
  last_sync_ = std::chrono::steady_clock::now();
}

void AuditLog::sync_dir() {
  if (dir_fd_ >= 0 && fsync(dir_fd_) != 0) spdlog::warn("audit log: fsync {}: {}", opts_.dir, errno_text(errno));
}

bool AuditLog::append(const v1::Event& ev) {
  const uint64_t seq = last_seq_ + 1;
  v1::AuditRecord rec;
  rec.set_seq(seq);
  rec.set_prev(last_hash_);
  event_json_.clear();
  print_json(ev, event_json_);
  static const auto* kEventField = v1::AuditRecord::descriptor()->FindFieldByName("event");
  line_.clear();
  print_json(rec, line_, {kEventField, &event_json_});
  // line_ is the body: hash and hmac are the last fields, so the full line is the body with
  // them added before its closing brace (what print_json would print with them set).
  const std::string hash = sha256_hex(line_);
  const std::string hmac = key_.empty() ? std::string() : hmac_sha256_hex(key_, line_);
  line_.pop_back();
  line_ += ",\"hash\":\"" + hash + "\"";
  if (!hmac.empty()) line_ += ",\"hmac\":\"" + hmac + "\"";
  line_ += "}\n";

  std::string err;
  if (fd_ < 0 && !open_current(&err)) {
    fail(err);
    return false;
  }
  if (rotation_due(line_.size()) && !rotate(&err)) {
    if (fd_ < 0 || damaged_) {  // no file to write to, or only one whose last line is partial
      fail(err);
      return false;
    }
    spdlog::warn("{} (writing on in the current file)", err);
  }

  ssize_t n;
  do {
    n = ::write(fd_, line_.data(), line_.size());  // one write: a reader never sees half a record of ours
  } while (n < 0 && errno == EINTR);
  if (n != static_cast<ssize_t>(line_.size())) {
    const int e = n < 0 ? errno : ENOSPC;
    if (n > 0) {
      // A partial line would end the file's chain: take it back, or move the file aside.
      const off_t end = lseek(fd_, 0, SEEK_CUR);
      if (end < n || ftruncate(fd_, end - n) != 0) damaged_ = true;
    }
    fail("audit log: cannot write " + path_ + ": " + (n < 0 ? errno_text(e) : "short write"));
    return false;
  }

  size_ += static_cast<uint64_t>(n);
  last_seq_ = seq;
  last_hash_ = hash;
  records_.fetch_add(1, std::memory_order_relaxed);
  if (file_first_seq_ == 0) {
    file_first_seq_ = seq;
    file_started_ns_ = v1::unix_now_ns();
  }
  if (warned_) {
    spdlog::info("audit log: writing again to {}", path_);
    warned_ = false;
  }
  if (opts_.fsync == AuditOptions::Fsync::kAlways ||
      (opts_.fsync == AuditOptions::Fsync::kCritical && audit_critical(ev))) {
    sync_file();
  } else {
    dirty_ = true;
  }
  return true;
}

void AuditLog::fail(const std::string& why) {
  last_error_ = why;
  if (!warned_) spdlog::warn("{}; lost records are counted and a gap record follows", why);
  warned_ = true;
}

void AuditLog::write(const v1::Event& ev) {
  if (!opts_.all_events && !audit_relevant(ev)) return;
  if (lost_pending_ > 0) {
    // The chain itself says what is missing from it.
    if (!append(gap_event("audit_log", lost_pending_, failures()))) {
      ++lost_pending_;
      failures_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    lost_pending_ = 0;
  }
  if (!append(ev)) {
    ++lost_pending_;
    failures_.fetch_add(1, std::memory_order_relaxed);
  }
}

void AuditLog::flush() {
  if (!dirty_ || fd_ < 0) return;
  if (std::chrono::steady_clock::now() - last_sync_ >= opts_.fsync_interval) sync_file();
}

}  // namespace clawfence::output
