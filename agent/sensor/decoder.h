// Turns ring-buffer records (include/clawfence/abi.h) into events of the protobuf schema.
// Every size is checked before anything is read; a bad record is an error, never a crash.
#pragma once

#include <cstddef>
#include <cstdint>

#include "clawfence/abi.h"
#include <memory>
#include <string>
#include <vector>

#include "proto/clawfence.pb.h"

namespace clawfence::sensor {

// Facts about the process the record describes, for the process table.
struct RecordProcess {
  uint16_t op = 0;
  uint64_t ts_ns = 0;  // CLOCK_BOOTTIME
  uint32_t tgid = 0;
  uint32_t tid = 0;
  uint64_t cgroup_id = 0;
  std::string comm;         // the process's name
  std::string thread_comm;  // the acting thread's name
  uint8_t role = 0;         // the kernel's role index of the process (0: none)
  // exec
  uint32_t ppid = 0, uid = 0, gid = 0;
  uint64_t start_ns = 0;
  uint32_t track_reason = 0;
  uint32_t root_tgid = 0;
  // fork
  uint32_t child_tgid = 0;
  uint64_t child_start_ns = 0;
};

// What an ENV record says of a variable's value: its keyed fingerprint (never the value).
struct EnvValue {
  std::string name;
  uint64_t fingerprint = 0;
  uint32_t len = 0;  // the value's length; 0: not known (a getenv's)
};

struct DecodedRecord {
  RecordProcess proc;
  // ENV records: the fingerprints of values, an exec's for each name it was handed (every name,
  // before the agent keeps only the secret ones), a getenv's for the value it read. For
  // redaction (process/redactor.h); not part of the event.
  std::vector<EnvValue> env_values;
  // What a kernel guard decided (verdict CF_VERDICT_NONE: nothing). event.enforcement carries
  // the verdict and mechanism; naming verdict.rule needs the policy generation's rule table.
  cf_verdict verdict{};
  v1::Event event;  // time, kind and detail; `process` is filled by the process layer
  // Identifies the state `event.process` was filled from (0: unknown); sinks may reuse what
  // they rendered for the same process while it stays the same.
  uint64_t process_generation = 0;
  // The previous event's process message, kept for reuse: protobuf's Clear() would free it and
  // its repeated fields, and a busy pipeline would spend a fifth of its time in malloc.
  std::unique_ptr<v1::Process> spare_process;
};

enum class DecodeStatus { kOk, kTruncated, kBadSize, kUnknownOp };
const char* to_string(DecodeStatus s);

// Converts CLOCK_BOOTTIME nanoseconds to wall-clock time (offset taken at construction).
class BootClock {
 public:
  BootClock();
  explicit BootClock(int64_t offset_ns) : offset_ns_(offset_ns) {}
  // A corrupt or hostile record can carry any timestamp: the sum saturates instead of overflowing.
  int64_t to_unix_ns(uint64_t boot_ns) const {
    const __int128 sum = static_cast<__int128>(boot_ns) + offset_ns_;
    if (sum > INT64_MAX) return INT64_MAX;
    if (sum < INT64_MIN) return INT64_MIN;
    return static_cast<int64_t>(sum);
  }

 private:
  int64_t offset_ns_;
};

DecodeStatus decode_record(const void* data, size_t size, const BootClock& clock, DecodedRecord& out);

// Helpers shared with tests and other layers.
std::string track_reason_name(uint32_t reason);
std::string errno_name(int64_t err);  // "ENOENT", or "E<n>" when unknown
std::string syscall_name(int64_t nr);  // "openat", or "" when not one clawfence handles
std::vector<std::string> split_argv(const char* data, size_t len);
// "blocked", "killed", "would-block", "would-kill", "matched"; "" for CF_VERDICT_NONE.
const char* verdict_name(uint8_t verdict);
// Valid UTF-8 for the schema's string fields: bytes that are not part of a valid UTF-8
// sequence (file names and argv are bytes) become the four characters \xNN, so nothing is
// dropped or hidden (protobuf would silently drop them).
std::string sanitize_utf8(std::string s);
// Lexical normalisation of an absolute path: collapses "//", "." and "..".
std::string normalize_path(const std::string& path);
// IPv4 or IPv6 text; IPv4-mapped IPv6 as IPv4 (sets *mapped).
std::string format_address(uint16_t family, const uint8_t addr[16], bool* mapped);

}  // namespace clawfence::sensor
