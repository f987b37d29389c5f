#include "app/audit_cmd.h"

#include <cinttypes>
#include <cstdio>

#include "output/audit_verify.h"

namespace clawfence::app {

int audit_verify(const std::vector<std::string>& files, const std::string& hmac_key, bool partial) {
  const output::VerifyReport r = output::verify_audit(files, hmac_key, partial);
  if (r.usage_error) {
    fprintf(stderr, "audit verify: %s\n", r.why.c_str());
    return 2;
  }
  if (r.ok) {
    printf("%s\n", r.summary.c_str());
    return 0;
  }
  if (r.seq != 0) {
    fprintf(stderr, "%s:%zu: record seq %" PRIu64 ": %s\n", r.file.c_str(), r.line, r.seq, r.why.c_str());
  } else {
    fprintf(stderr, "%s:%zu: %s\n", r.file.c_str(), r.line, r.why.c_str());
  }
  fprintf(stderr, "(%s)\n", r.summary.c_str());
  return 1;
}

}  // namespace clawfence::app
