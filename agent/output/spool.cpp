#include "output/spool.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>

namespace clawfence::output {
namespace {

constexpr const char* kSuffix = ".pb";
constexpr const char* kTmpSuffix = ".tmp";
constexpr size_t kIdDigits = 20;  // UINT64_MAX has 20 digits: names sort in id order

std::string errno_text() { return std::strerror(errno); }

bool ends_with(const std::string& s, const std::string& end) {
  return s.size() >= end.size() && s.compare(s.size() - end.size(), end.size(), end) == 0;
}

std::string entry_name(uint64_t id) {
  char buf[kIdDigits + 8];
  snprintf(buf, sizeof(buf), "%020llu%s", static_cast<unsigned long long>(id), kSuffix);
  return buf;
}

// The id of an entry file name, or nothing for any other name.
std::optional<uint64_t> parse_entry_name(const std::string& name) {
  if (name.size() != kIdDigits + std::strlen(kSuffix) || !ends_with(name, kSuffix)) return std::nullopt;
  uint64_t id = 0;
  const char* end = name.data() + kIdDigits;
  auto [p, ec] = std::from_chars(name.data(), end, id);
  if (ec != std::errc() || p != end || id == 0) return std::nullopt;
  return id;
}

bool write_all(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

bool read_all(int dir_fd, const std::string& name, std::string* out) {
  int fd = ::openat(dir_fd, name.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return false;
  out->clear();
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      return false;
    }
    if (n == 0) break;
    out->append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return true;
}

// The directory itself, 0700: entries hold alert details (paths, command lines, lineage).
int open_dir(const std::string& dir, std::string* err) {
  std::error_code ec;
  const std::filesystem::path path(dir);
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), ec);
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    *err = "cannot create PagerDuty spool directory " + dir + ": " + errno_text();
    return -1;
  }
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    *err = "cannot open PagerDuty spool directory " + dir + ": " + errno_text();
    return -1;
  }
  struct stat st {};
  if (::fstat(fd, &st) == 0 && (st.st_mode & 077) != 0 && ::fchmod(fd, 0700) != 0) {
    *err = "PagerDuty spool directory " + dir + " is open to other users and cannot be made 0700: " + errno_text();
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

std::unique_ptr<Spool> Spool::open(const std::string& dir, Loaded* loaded, std::string* err) {
  *loaded = Loaded{};
  const int fd = open_dir(dir, err);
  if (fd < 0) return nullptr;
  std::unique_ptr<Spool> spool(new Spool(dir, fd));

  const int list_fd = ::dup(fd);
  DIR* d = list_fd >= 0 ? ::fdopendir(list_fd) : nullptr;
  if (!d) {
    if (list_fd >= 0) ::close(list_fd);
    *err = "cannot list PagerDuty spool directory " + dir + ": " + errno_text();
    return nullptr;
  }
  std::vector<std::string> names;
  while (const dirent* e = ::readdir(d)) names.emplace_back(e->d_name);
  ::closedir(d);

  uint64_t highest = 0;
  v1::SpoolEntry entry;
  std::string data;
  for (const std::string& name : names) {
    if (ends_with(name, kTmpSuffix)) {
      // Written by a process that died before renaming it: never reported as queued.
      if (::unlinkat(fd, name.c_str(), 0) == 0) ++loaded->stale_tmp;
      continue;
    }
    const auto id = parse_entry_name(name);
    if (!id) continue;  // .bad files and anything else an operator put here
    highest = std::max(highest, *id);
    if (!read_all(fd, name, &data) || !entry.ParseFromString(data)) {
      loaded->unreadable.push_back(spool->set_aside(name));
      continue;
    }
    spool->ids_.insert(*id);
  }
  spool->next_id_ = highest + 1;
  loaded->entries = spool->ids_.size();
  return spool;
}

Spool::~Spool() {
  if (dir_fd_ >= 0) ::close(dir_fd_);
}

std::string Spool::path_of(uint64_t id) const { return dir_ + "/" + entry_name(id); }

std::string Spool::set_aside(const std::string& name) {
  const std::string bad = name + ".bad";
  if (::renameat(dir_fd_, name.c_str(), dir_fd_, bad.c_str()) != 0) ::unlinkat(dir_fd_, name.c_str(), 0);
  return dir_ + "/" + bad;
}

bool Spool::store(const v1::SpoolEntry& entry, std::string* err) {
  const std::string name = entry_name(entry.id());
  const std::string tmp = name + kTmpSuffix;
  std::string data;
  if (!entry.SerializeToString(&data)) {
    *err = "cannot serialize spool entry " + std::to_string(entry.id());
    return false;
  }
  int fd = ::openat(dir_fd_, tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    *err = "cannot create " + dir_ + "/" + tmp + ": " + errno_text();
    return false;
  }
  // The data reaches the disk before the name does: after a crash the entry is whole or absent.
  const bool ok = write_all(fd, data) && ::fsync(fd) == 0;
  const std::string why = errno_text();
  ::close(fd);
  if (!ok) {
    ::unlinkat(dir_fd_, tmp.c_str(), 0);
    *err = "cannot write " + dir_ + "/" + tmp + ": " + why;
    return false;
  }
  if (::renameat(dir_fd_, tmp.c_str(), dir_fd_, name.c_str()) != 0) {
    *err = "cannot rename " + dir_ + "/" + tmp + ": " + errno_text();
    ::unlinkat(dir_fd_, tmp.c_str(), 0);
    return false;
  }
  if (::fsync(dir_fd_) != 0) {
    *err = "cannot sync " + dir_ + ": " + errno_text();
    return false;
  }
  return true;
}

bool Spool::push(v1::SpoolEntry& entry, std::string* err) {
  entry.set_id(next_id_);
  if (!store(entry, err)) return false;
  ids_.insert(next_id_++);
  return true;
}

bool Spool::rewrite(const v1::SpoolEntry& entry, std::string* err) {
  if (!contains(entry.id())) return true;  // dropped meanwhile: it stays dropped
  return store(entry, err);
}

bool Spool::read(uint64_t id, v1::SpoolEntry* entry, std::string* err) {
  const std::string name = entry_name(id);
  std::string data;
  if (!read_all(dir_fd_, name, &data)) {
    *err = "cannot read " + dir_ + "/" + name + ": " + errno_text();
    ids_.erase(id);
    return false;
  }
  if (!entry->ParseFromString(data)) {
    *err = "unreadable spool entry set aside as " + set_aside(name);
    ids_.erase(id);
    return false;
  }
  entry->set_id(id);
  return true;
}

void Spool::remove(uint64_t id) {
  if (ids_.erase(id) == 0) return;
  // No directory sync: an entry that reappears after a power loss is sent again, and PagerDuty
  // folds it into the same incident by its dedup_key.
  ::unlinkat(dir_fd_, entry_name(id).c_str(), 0);
}

std::optional<uint64_t> Spool::oldest(uint64_t except) const {
  for (uint64_t id : ids_) {
    if (id != except) return id;
  }
  return std::nullopt;
}

}  // namespace clawfence::output
