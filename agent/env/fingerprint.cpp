#include "env/fingerprint.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace clawfence::env {

Fingerprinter::Fingerprinter(const unsigned char key[16]) {
  std::memcpy(key_, key, sizeof(key_));
  mac_ = EVP_MAC_fetch(nullptr, "SIPHASH", nullptr);
  if (mac_) ctx_ = EVP_MAC_CTX_new(mac_);
  size_t size = 8;  // SipHash-2-4 with a 64-bit result (OpenSSL's default rounds are 2 and 4)
  OSSL_PARAM params[] = {OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &size), OSSL_PARAM_END};
  if (!ctx_ || EVP_MAC_init(ctx_, key_, sizeof(key_), params) != 1) {
    EVP_MAC_CTX_free(ctx_);
    EVP_MAC_free(mac_);
    OPENSSL_cleanse(key_, sizeof(key_));
    throw std::runtime_error("OpenSSL has no SipHash: value fingerprints cannot be computed");
  }
}

Fingerprinter::~Fingerprinter() {
  EVP_MAC_CTX_free(ctx_);
  EVP_MAC_free(mac_);
  OPENSSL_cleanse(key_, sizeof(key_));
}

uint64_t Fingerprinter::operator()(std::string_view value) const {
  const size_t n = std::min(value.size(), kValueBytes);
  unsigned char out[8] = {};
  size_t outl = 0;
  // the key again for every value: init with the key resets the state (the size stays set)
  if (EVP_MAC_init(ctx_, key_, sizeof(key_), nullptr) != 1 ||
      EVP_MAC_update(ctx_, reinterpret_cast<const unsigned char*>(value.data()), n) != 1 ||
      EVP_MAC_final(ctx_, out, &outl, sizeof(out)) != 1 || outl != sizeof(out))
    return 0;
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | out[i];  // SipHash's result is little endian
  return v;
}

}  // namespace clawfence::env
