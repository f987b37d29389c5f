// Helpers for the root tiers (tests/bpf, tests/e2e): privileges, a cgroup the test owns,
// child processes with time limits, and reading clawfence's JSON lines back into events.
#pragma once

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "proto/clawfence.pb.h"

namespace clawfence::testing {

// Skips the test (with the reason in the output) unless running as root.
#define CF_REQUIRE_ROOT()                                                          \
  do {                                                                             \
    if (geteuid() != 0) GTEST_SKIP() << "needs root (loads eBPF programs): skipped"; \
  } while (0)

std::string repo_root();                        // where build/ and tests/ are
std::string build_dir();                        // $CLAWFENCE_BUILD or <repo>/build
std::string cgroup2_mount();                    // from /proc/self/mountinfo
std::string make_temp_dir(const std::string& tag);  // realpath'ed, under /tmp
void remove_tree(const std::string& path);
void write_file(const std::string& path, const std::string& content);
std::string read_file(const std::string& path);

// A cgroup v2 directory created for one test and removed (processes moved out first) at scope
// exit, also when the test fails.
class TestCgroup {
 public:
  explicit TestCgroup(const std::string& tag);
  ~TestCgroup();
  const std::string& path() const { return path_; }
  uint64_t id() const { return id_; }
  void add(pid_t pid) const;

 private:
  std::string path_;
  uint64_t id_ = 0;
};

// A child process started by the test; killed (SIGKILL) at scope exit if still running.
class Child {
 public:
  // argv[0] is resolved through PATH. stdout/stderr go to the given files ("" = inherit). `env`
  // ("NAME=value") is added to the environment, replacing a variable of the same name.
  Child(const std::vector<std::string>& argv, const std::string& out_file = "", const std::string& err_file = "",
        const std::string& cgroup = "", const std::vector<std::string>& env = {});
  ~Child();
  pid_t pid() const { return pid_; }
  // Waits up to `timeout`; returns the exit status (128+signal when killed) or -1 on timeout.
  int wait(std::chrono::milliseconds timeout);
  void signal(int sig) const;

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
};

// Runs argv to completion (time-limited) and returns its exit status.
int run(const std::vector<std::string>& argv, std::chrono::milliseconds timeout = std::chrono::seconds(30),
        const std::string& cgroup = "");

// Polls until `pred` is true or the timeout passes.
bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout);

// argv of a dnsmasq answering only from its command line (`extra`: --host-record=, --cname=,
// --local-ttl=) on `listen`:53, in the foreground, touching no file: for a Child.
std::vector<std::string> dnsmasq_argv(const std::string& listen, const std::vector<std::string>& extra);

// The output flags a test's `clawfence agent` takes so that it shares nothing with another agent
// on this machine: audit log and tail socket under `dir`, metrics on a port the kernel picks, no
// installed configuration file; and the event stream at `detail` (tests read the whole record).
std::vector<std::string> private_outputs(const std::string& dir, const std::string& detail = "all");

// A background `clawfence agent`, started with the given rules and its network hooks on a
// cgroup the test owns, its outputs private (private_outputs) and nothing pinned; stopped with
// SIGINT.
class Agent {
 public:
  Agent(const std::string& bin, const std::string& rules, const std::string& cgroup, const std::string& out,
        const std::string& log, const std::vector<std::string>& extra = {});
  static std::vector<std::string> argv(const std::string& bin, const std::string& rules, const std::string& cgroup,
                                       const std::string& out, const std::vector<std::string>& extra);
  // Waits for the agent to say it watches (programs attached, running processes seeded).
  bool ready(std::chrono::seconds timeout = std::chrono::seconds(20));
  int stop();
  std::string log() const { return read_file(log_); }

 private:
  std::string log_;
  Child child_;
};

// Parses a JSON lines file into events; a line that does not parse fails the test.
std::vector<v1::Event> read_events(const std::string& path);

// Filters.
std::vector<v1::Event> of_kind(const std::vector<v1::Event>& evs, v1::Event::Kind kind);
std::vector<v1::Event> of_pid(const std::vector<v1::Event>& evs, uint32_t pid);
const v1::Event* find_open(const std::vector<v1::Event>& evs, const std::string& path);
std::string describe(const std::vector<v1::Event>& evs, size_t max = 40);

}  // namespace clawfence::testing
