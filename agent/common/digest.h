// SHA-256 and HMAC-SHA256 (OpenSSL) as lower-case hex: the audit chain, PagerDuty's dedup keys,
// the rule set's and the eBPF object's digests.
#pragma once

#include <string>
#include <string_view>

namespace clawfence::common {

std::string sha256_hex(std::string_view data);
std::string hmac_sha256_hex(const std::string& key, std::string_view data);

}  // namespace clawfence::common
