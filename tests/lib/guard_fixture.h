// Set-up the kernel tier (tests/bpf) shares: the real object started through the Sensor on a
// cgroup the test owns, the raw records it reads, guard_config[0], children released into that
// cgroup only once they are tracked, and a loopback listener. The assertions stay in the tests.
#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "clawfence/abi.h"
#include "enforce/paths.h"
#include "harness.h"
#include "sensor/sensor.h"

namespace clawfence::sensor {
// How gtest names the parameter in failure messages (instead of its bytes).
void PrintTo(SyscallHooks h, std::ostream* os);
}  // namespace clawfence::sensor

namespace clawfence::testing {

// "Tracepoints" or "Fentry": the suffix of a test run on one syscall hook flavour.
std::string hook_name(const ::testing::TestParamInfo<sensor::SyscallHooks>& info);

// Options that load `hooks` and nothing else: no fallback to tracepoints, since the test is
// about those hooks.
sensor::SensorOptions hook_options(sensor::SyscallHooks hooks, uint32_t ringbuf_bytes);

// guard_config with the given mode, flags and generation, and no evasion rule in any slot.
cf_guard_config guard_config(uint32_t mode, uint32_t flags, uint32_t generation);

// What a child did: how it ended and what it wrote to stdout.
struct Outcome {
  pid_t pid = -1;
  int status = -1;  // as waitpid gives it; -1: never reaped
  std::string out;
  bool killed() const;
  bool exited(int code) const;
  bool exited_ok() const { return exited(0); }
};

// Forks a child that waits on a pipe until it has been moved into `cg` and tracked by `sensor`
// (each only when given), then runs `body` with its stdout on a pipe and exits 0 if `body`
// returns. Tracking before the child runs means the sensor sees all it does. `meanwhile` runs
// in the parent once the child is released (a server the child talks to); then the child's
// output is read to the end and the child reaped.
Outcome run_child(const TestCgroup* cg, sensor::Sensor* sensor, const std::function<void()>& body,
                  const std::function<void()>& meanwhile = {}, const sensor::TrackedRole& role = {});

// A file record as the kernel wrote it: its op, result, verdict and first string.
struct FileRecord {
  uint32_t file_op = 0;
  int64_t result = 0;
  cf_verdict verdict{};
  std::string path;
};

// Mixed into a gtest fixture: the sensor on the test's cgroup and the records it reads.
class GuardFixture {
 protected:
  ~GuardFixture() { stop_sensor(); }  // the reader writes into this object

  // Makes the cgroup (named after `tag`) and starts the real object on it with `o`, its cgroup
  // hooks attached there and this process never tracked.
  void start_sensor(const std::string& tag, sensor::SensorOptions o);
  // Starts the reader, keeping every record it hands over.
  void collect_records();
  // Stops the reader and detaches the object before the cgroup goes away.
  void stop_sensor();

  void write_guard_config(const cf_guard_config& cfg);  // guard_config[0]
  // Writes compiled path patterns into the guard's path maps: "" or what went wrong.
  std::string write_path_maps(const enforce::CompiledPaths& compiled) const;

  // run_child in the test's cgroup, tracked if asked, running body(arg): how it ended and what
  // it printed.
  Outcome spawn(bool track, void (*body)(const std::string&), const std::string& arg);
  // The same, tracked with `role`.
  Outcome spawn(const sensor::TrackedRole& role, void (*body)(const std::string&), const std::string& arg);

  // Every record read so far, in order.
  std::vector<std::string> records() const;
  // The records of `pid` whose header has op code `op`, in order.
  std::vector<std::string> records_of(pid_t pid, uint32_t op) const;
  // The well-formed file records of `pid` whose path is `path` (of op `file_op` in the second
  // form), waiting up to 2 s for the reader to bring one.
  std::vector<FileRecord> file_records(pid_t pid, const std::string& path) const;
  std::vector<FileRecord> file_records(pid_t pid, uint32_t file_op, const std::string& path) const;

  std::unique_ptr<TestCgroup> cg_;
  std::unique_ptr<sensor::Sensor> sensor_;

 private:
  std::vector<FileRecord> find_file_records(pid_t pid, std::optional<uint32_t> file_op, const std::string& path) const;

  mutable std::mutex mu_;
  std::vector<std::string> records_;
};

// A TCP listener on a loopback address and an ephemeral port; never accepts on its own.
class Listener {
 public:
  explicit Listener(const char* addr);
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;
  const std::string& error() const { return error_; }  // "" once it listens
  uint16_t port() const { return port_; }
  std::string port_text() const { return std::to_string(port_); }
  // Accepts every connection that has arrived and returns how many there were.
  int accept_pending();

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
  std::string error_;
};

}  // namespace clawfence::testing
