// DNS wire format (RFC 1035): the parts of an answer clawfence needs to learn which addresses a
// name resolved to. Bounds-checked on every read; compression pointers may not loop.
#pragma once

#include <cstddef>
#include <cstdint>

#include "proto/clawfence.pb.h"

namespace clawfence::sensor {

// Parses a DNS response into `out` (query, rcode, A/AAAA/CNAME answers, and the addresses the
// query name resolved to with CNAME chains followed). Returns false for anything that is not
// a well-formed response (then `out` holds what was read before the fault). Names are bytes on
// the wire; what is not UTF-8 in them is escaped as in sanitize_utf8 (decoder.h).
bool parse_dns_response(const uint8_t* data, size_t len, v1::Dns* out);

}  // namespace clawfence::sensor
