// The host's key for fingerprints of secret values (SipHash-2-4 in the kernel, bpf/env): kept
// in a 0600 file so fingerprints stay comparable across agent restarts, and written into the
// kernel's env_fp_key map. The key never appears in a record or a log.
#pragma once

#include <string>

namespace clawfence::env {

// Reads the 16-byte key at `path`, or creates it (random, 0600, its directory 0700). Returns ""
// and fills `key`, or an error text (then `key` is a random key for this run only).
std::string load_or_create_key(const std::string& path, unsigned char key[16]);

// Writes the key into the env_fp_key map behind `map_fd`. Returns "" or an error text.
std::string install_key(int map_fd, const unsigned char key[16]);

}  // namespace clawfence::env
