// `clawfence audit verify FILE...`: checks the hash chain of audit log files.
#pragma once

#include <string>
#include <vector>

namespace clawfence::app {

// Prints the summary and returns 0 when the chain holds; otherwise prints
// `FILE:LINE: record seq N: WHY` to stderr and returns 1; 2 when a file or the key cannot be read.
// `hmac_key` "": hmacs are not checked. `partial`: the files may start mid-chain.
int audit_verify(const std::vector<std::string>& files, const std::string& hmac_key, bool partial = false);

}  // namespace clawfence::app
