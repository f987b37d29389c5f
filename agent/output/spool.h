// The PagerDuty spool: alerts waiting to be delivered, one file each in a directory of their
// own, so that an alert the agent has accepted survives a crash, a restart or an hour-long
// PagerDuty outage.
//
// An entry is `<id>.pb` (the id as 20 decimal digits, so names sort in id order), a serialized
// v1::SpoolEntry, mode 0600. It is written under `<id>.pb.tmp`, synced, renamed into place and
// the directory synced: a crash leaves either the whole entry or a stale .tmp file, never half
// an entry under its real name. Not thread-safe: the owner serializes calls.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "proto/clawfence.pb.h"

namespace clawfence::output {

class Spool {
 public:
  // What open() found in the directory.
  struct Loaded {
    size_t entries = 0;
    size_t stale_tmp = 0;                // half-written files of a crash, removed
    std::vector<std::string> unreadable; // files set aside as <name>.bad
  };

  // Creates `dir` (0700) if needed, removes stale .tmp files, sets unreadable entries aside and
  // continues ids after the highest found.
  static std::unique_ptr<Spool> open(const std::string& dir, Loaded* loaded, std::string* err);
  ~Spool();
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;

  // Gives `entry` the next id and makes it durable before returning.
  bool push(v1::SpoolEntry& entry, std::string* err);
  // Replaces the stored entry of the same id (after a failed attempt), durably.
  bool rewrite(const v1::SpoolEntry& entry, std::string* err);
  // Reads entry `id`; on a parse failure the file is set aside as .bad and false returned.
  bool read(uint64_t id, v1::SpoolEntry* entry, std::string* err);
  void remove(uint64_t id);

  bool contains(uint64_t id) const { return ids_.count(id) != 0; }
  size_t size() const { return ids_.size(); }
  // The oldest entry, or the oldest other than `except`.
  std::optional<uint64_t> oldest(uint64_t except = 0) const;
  const std::string& dir() const { return dir_; }
  std::string path_of(uint64_t id) const;

 private:
  Spool(std::string dir, int dir_fd) : dir_(std::move(dir)), dir_fd_(dir_fd) {}
  bool store(const v1::SpoolEntry& entry, std::string* err);
  std::string set_aside(const std::string& name);

  std::string dir_;
  int dir_fd_ = -1;
  std::set<uint64_t> ids_;  // what is on disk; the entries themselves stay there, not in memory
  uint64_t next_id_ = 1;
};

}  // namespace clawfence::output
