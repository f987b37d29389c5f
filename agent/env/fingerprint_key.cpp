#include "env/fingerprint_key.h"

#include <bpf/bpf.h>
#include <fcntl.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "clawfence/abi.h"

namespace clawfence::env {

std::string load_or_create_key(const std::string& path, unsigned char key[16]) {
  if (RAND_bytes(key, 16) != 1) return "no random bytes for the fingerprint key";
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd >= 0) {
    struct stat st {};
    unsigned char buf[16];
    const bool ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 077) == 0 &&
                    ::read(fd, buf, sizeof(buf)) == static_cast<ssize_t>(sizeof(buf));
    ::close(fd);
    if (!ok) return path + ": not a 16-byte file readable by root only; using a key for this run";
    std::memcpy(key, buf, 16);
    return "";
  }
  if (errno != ENOENT) return path + ": " + std::strerror(errno) + "; using a key for this run";
  const std::string dir = std::filesystem::path(path).parent_path();
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  ::chmod(dir.c_str(), 0700);
  fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return path + ": " + std::strerror(errno) + "; using a key for this run";
  const bool ok = ::write(fd, key, 16) == 16 && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) {
    ::unlink(path.c_str());
    return path + ": could not be written; using a key for this run";
  }
  return "";
}

std::string install_key(int map_fd, const unsigned char key[16]) {
  cf_fp_key k{};
  std::memcpy(&k.k0, key, 8);
  std::memcpy(&k.k1, key + 8, 8);
  k.set = 1;
  uint32_t zero = 0;
  if (bpf_map_update_elem(map_fd, &zero, &k, BPF_ANY) != 0)
    return std::string("writing the fingerprint key: ") + std::strerror(errno);
  return "";
}

}  // namespace clawfence::env
