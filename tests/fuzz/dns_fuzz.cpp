// libFuzzer target for the user-space DNS answer parser: the bytes are one datagram's payload.
// parse_dns_response must take anything without reading past `len` (ASan sees the input's exact
// end), return names as valid UTF-8 (labels are bytes; anything else is escaped as \xNN), and
// keep what it returns bounded by the datagram: names of at most 253 bytes on the wire, no more
// answers than records fit in it, and the followed CNAME chain (at most 16 hops) cannot multiply
// the addresses beyond that.
//
// The kernel's parse (bpf/net/dns.bpf.c) is not here: it is written against the verifier (masked
// offsets, bpf_loop callbacks, a scratch map) in the BPF program itself, with no header shared
// with user space to build it from. Seeds are tests/fuzz/corpus/dns.
#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>

#include "fuzz_check.h"
#include "sensor/dns.h"

namespace {

constexpr char kTarget[] = "dns_fuzz";
// 253 wire bytes, each at most four characters once escaped.
constexpr size_t kNameMax = 253 * 4;
// The smallest answer that yields a record: a 1-byte root name, type, class, TTL, rdlength
// (10 bytes) and an empty CNAME rdata that still needs a 1-byte name.
constexpr size_t kMinAnswer = 12;
constexpr int kChainHops = 16;

void check_name(const std::string& what, const std::string& name) {
  if (name.size() > kNameMax) clawfence::fuzz::fail(kTarget, what + " too long", std::to_string(name.size()));
  if (!clawfence::fuzz::valid_utf8(name)) clawfence::fuzz::fail(kTarget, what + " not valid UTF-8", name);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace clawfence;
  try {
    v1::Dns dns;
    sensor::parse_dns_response(data, size, &dns);
    check_name("query", dns.query());
    const size_t max_answers = size / kMinAnswer;
    if (static_cast<size_t>(dns.answers_size()) > max_answers)
      fuzz::fail(kTarget, "more answers than fit the datagram", std::to_string(dns.answers_size()));
    for (const auto& a : dns.answers()) {
      check_name("answer name", a.name());
      check_name("answer value", a.value());
      if (a.type() != "A" && a.type() != "AAAA" && a.type() != "CNAME")
        fuzz::fail(kTarget, "answer of a type not kept", a.type());
    }
    if (static_cast<size_t>(dns.addresses_size()) > static_cast<size_t>(kChainHops) * dns.answers_size())
      fuzz::fail(kTarget, "more addresses than the chain can yield", std::to_string(dns.addresses_size()));
    for (const auto& addr : dns.addresses()) check_name("address", addr);
  } catch (const std::exception& e) {
    fuzz::fail(kTarget, "uncaught exception", e.what());
  }
  return 0;
}
