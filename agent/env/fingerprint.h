// Fingerprints of environment values in user space: SipHash-2-4 under the host's key, the same
// function the kernel computes (bpf/env/siphash.bpf.h) over the same bytes (a value's first
// kValueBytes), so that a value the agent meets in text (a tool's argv) can be recognised as a
// secret the kernel fingerprinted, without either side keeping the value. OpenSSL computes it.
#pragma once

#include <cstdint>
#include <string_view>

struct evp_mac_st;
struct evp_mac_ctx_st;

namespace clawfence::env {

class Fingerprinter {
 public:
  // Bytes of a value a fingerprint covers (CF_ENV_VALUE_MAX - 1): a longer value, its first ones.
  static constexpr size_t kValueBytes = 255;

  // Throws std::runtime_error when OpenSSL has no SipHash.
  explicit Fingerprinter(const unsigned char key[16]);
  ~Fingerprinter();
  Fingerprinter(const Fingerprinter&) = delete;
  Fingerprinter& operator=(const Fingerprinter&) = delete;

  // SipHash-2-4 of `value`'s first kValueBytes bytes. Not thread-safe (one context is reused).
  uint64_t operator()(std::string_view value) const;

 private:
  unsigned char key_[16];
  evp_mac_st* mac_ = nullptr;
  evp_mac_ctx_st* ctx_ = nullptr;
};

}  // namespace clawfence::env
