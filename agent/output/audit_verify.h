// Checks audit log files (the format is described in output/audit.h) without re-serialising
// anything: each line's hash is recomputed over its own bytes, then seq and prev are followed from
// record to record, across files, which may be given in any order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace clawfence::output {

struct VerifyReport {
  bool ok = false;
  bool usage_error = false;           // a file or the key could not be read: nothing was judged
  std::string summary;                // ok: what was verified; broken: how much held before the break
  // The first broken record, when !ok && !usage_error:
  std::string file;
  size_t line = 0;                    // 1-based
  uint64_t seq = 0;                   // 0 when the line has no readable seq
  std::string why;                    // also the message when usage_error
};

// `hmac_key_file` "": hmacs are not checked. `partial`: the earliest file may start mid-chain
// (older files archived or removed), its first record's prev taken on trust; otherwise the chain
// must start at seq 1.
VerifyReport verify_audit(const std::vector<std::string>& files, const std::string& hmac_key_file,
                          bool partial = false);

}  // namespace clawfence::output
