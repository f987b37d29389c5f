// The audit log: an append-only, hash-chained file of every security-relevant event (alerts,
// blocks and kills, gaps, the agent's own start, stop and rule reloads), or of all events.
//
// Format, so that an operator can check a line by hand. Each line is one AuditRecord
// (agent/proto/clawfence.proto) in protobuf's JSON mapping, followed by a newline:
//   {"seq":"7","prev":"<hash of seq 6>","event":{...},"hash":"<64 hex>","hmac":"<64 hex>"}
// `hash` is the SHA-256 of the line's own text without its hash and hmac, that is the line cut
// just before `,"hash":` with "}" put back; in a shell, for the third line of a file:
//   l=$(sed -n 3p audit.jsonl); printf '%s}' "${l%,\"hash\":*}" | sha256sum
// prints that line's hash. `hmac` (only when a key file is configured) is HMAC-SHA256 of the same
// text, keyed with the key file's exact bytes:
//   printf '%s}' "${l%,\"hash\":*}" | openssl dgst -sha256 -mac HMAC -macopt hexkey:$(od -An -vtx1 KEY | tr -d ' \n')
// `prev` is the hash of the record before (absent on seq 1, the first record ever), and seq goes
// up by one per record, across rotated files and agent restarts, so a removed, reordered or edited
// line breaks the chain; a key makes a whole re-written chain detectable too. The current file is
// DIR/audit.jsonl; a full or old one is renamed DIR/audit-<UTC yyyymmddThhmmssZ>-<its first seq>.jsonl
// and the chain continues in a new audit.jsonl. `clawfence audit verify` checks all of this.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/digest.h"
#include "output/output.h"
#include "proto/clawfence.pb.h"

namespace clawfence::output {

struct AuditOptions {
  std::string dir;                    // created 0700 when missing
  bool all_events = false;            // false: only security-relevant events (audit_relevant)
  // kAlways: every record is on disk before write() returns. kCritical: blocks, kills and the
  // agent's own notes are; the rest at the first flush() after fsync_interval. kInterval: only
  // at flush() after fsync_interval.
  enum class Fsync { kAlways, kCritical, kInterval } fsync = Fsync::kCritical;
  uint64_t rotate_bytes = 64ull << 20;          // 0: never rotate by size
  std::chrono::seconds rotate_age{24 * 3600};   // 0: never rotate by age
  std::chrono::milliseconds fsync_interval{1000};
  std::string hmac_key_file;          // "": no hmac. Regular file, mode 0600 or stricter, >= 16 bytes
};

// Alerts, gaps, the agent's notes, and whatever a guard blocked or killed (or would have, in a
// dry run): what the audit log keeps unless all_events is set.
bool audit_relevant(const v1::Event& ev);
// A block or a kill (by a guard, or an alert's outcome) or an agent note: synced at once under
// Fsync::kCritical.
bool audit_critical(const v1::Event& ev);

// Writes and flushes on one thread (the pipeline's worker); the counters may be read anywhere.
class AuditLog : public EventOutput {
 public:
  // Opens DIR/audit.jsonl and continues the chain from the last record found in DIR (a fresh
  // chain when there is none). A damaged tail (a crash mid-write, a line that does not verify)
  // is left as it is: that file is moved aside and an AGENT "audit_continued" record says what
  // was found. nullptr and *err on failure (the directory, the key file, another agent's lock).
  static std::unique_ptr<AuditLog> open(const AuditOptions& opts, std::string* err);
  ~AuditLog() override;
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  void write(const v1::Event& ev) override;
  void flush() override;

  uint64_t records() const { return records_.load(std::memory_order_relaxed); }    // written by this instance
  uint64_t failures() const { return failures_.load(std::memory_order_relaxed); }  // events that could not be written
  uint64_t last_seq() const { return last_seq_.load(std::memory_order_relaxed); }
  std::string current_path() const { return path_; }

 private:
  explicit AuditLog(const AuditOptions& opts);
  bool start(std::string* err);
  bool open_current(std::string* err);
  bool rename_current(std::string* moved_to, std::string* err);
  bool rotate(std::string* err);
  bool rotation_due(size_t next_line_bytes) const;
  bool append(const v1::Event& ev);
  void fail(const std::string& why);
  void sync_file();
  void sync_dir();

  AuditOptions opts_;
  std::string path_;                  // DIR/audit.jsonl
  std::string key_;                   // the HMAC key; never logged
  int dir_fd_ = -1;                   // held: the lock, and fsync after renames
  int fd_ = -1;
  uint64_t size_ = 0;                 // of the current file
  uint64_t file_first_seq_ = 0;       // 0 while the current file has no record
  int64_t file_started_ns_ = 0;       // wall time of the current file's first record
  bool damaged_ = false;              // a partial line could not be removed: move the file aside first
  std::string last_hash_;
  std::atomic<uint64_t> last_seq_{0};
  std::atomic<uint64_t> records_{0};
  std::atomic<uint64_t> failures_{0};
  uint64_t lost_pending_ = 0;         // lost since the last gap record
  bool dirty_ = false;                // written since the last sync
  std::chrono::steady_clock::time_point last_sync_;
  bool warned_ = false;               // one warning per failure streak
  std::string last_error_;
  std::string event_json_;            // scratch
  std::string line_;                  // scratch
};

// ---- the line format, shared by the writer and `audit verify` --------------------------------

// A line (without its newline) cut into the text that is hashed and the hash and hmac at its end.
struct AuditLineParts {
  std::string body;                   // the line without hash and hmac, "}" put back
  std::string hash;                   // 64 lowercase hex digits
  std::string hmac;                   // "" when the line has none
};
// False when the line does not end with `,"hash":"<hex>"}` (optionally followed by an hmac).
bool split_audit_line(std::string_view line, AuditLineParts* parts);

using common::hmac_sha256_hex;
using common::sha256_hex;

// Reads an HMAC key file: a regular file of at least 16 bytes, used byte for byte. With
// `require_private`, a file group or others may read or write is refused (the writer's rule).
bool load_audit_key(const std::string& path, bool require_private, std::string* key, std::string* err);

}  // namespace clawfence::output
