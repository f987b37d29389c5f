// Listing a BPF map's keys from user space.
#pragma once

#include <bpf/bpf.h>

#include <cerrno>
#include <vector>

namespace clawfence::sensor {

// Every key of the map behind `fd`, collected first (deleting while walking with get_next_key
// would restart the walk). *err, when given, is 0, or the errno that ended the walk early.
template <typename Key>
std::vector<Key> map_keys(int fd, int* err = nullptr) {
  std::vector<Key> out;
  Key cur{}, next{};
  for (const void* prev = nullptr; bpf_map_get_next_key(fd, prev, &next) == 0; prev = &cur) {
    out.push_back(next);
    cur = next;
  }
  if (err) *err = errno == ENOENT ? 0 : errno;
  return out;
}

}  // namespace clawfence::sensor
