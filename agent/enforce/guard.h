// The enforcement side of the agent: writes the compiled rules into the guards' maps (once per
// rule load, never per event), names the rules behind the kernel's verdicts, and gives the
// kernel the roles of processes it learned about from user space.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "enforce/guard_policy.h"
#include "enforce/paths.h"
#include "policy/engine.h"
#include "sensor/decoder.h"
#include "sensor/sensor.h"

namespace clawfence::process {
class Tracker;
}

namespace clawfence::enforce {

struct GuardIdentity {
  std::string rules_path;
  std::string rules_sha256;   // of the rule files' contents
  std::string build;          // clawfence build id
  std::string attach_cgroup;
};

class Guard {
 public:
  Guard(sensor::Sensor& sensor, GuardOptions opts);

  // Compiles `rules` and writes them into the maps, as generation N+1. Throws
  // std::invalid_argument (nothing written) when they do not fit the kernel maps, and
  // std::runtime_error when a map write fails. Returns what the kernel cannot do with them.
  std::vector<std::string> apply(const policy::RuleSet& rules, const GuardIdentity& id);

  // Sets event.enforcement.rule_id from the verdict's rule index and generation.
  void name_rule(sensor::DecodedRecord& rec) const;

  // A watched process has this home directory: `~/` path patterns are extended to it (the
  // users' homes from the password database are there from the start).
  void note_home(const std::string& home);

  const CompiledGuard& current() const { return current_; }
  uint32_t generation() const { return current_.config.generation; }
  const GuardOptions& options() const { return opts_; }
  // Which rules, build and cgroup the policy in force came from.
  const GuardIdentity& source() const { return identity_; }

 private:
  void remember_pinned_ids();
  void remap_learned(const CompiledGuard& next);
  void write_info(const GuardIdentity& id);
  // Path patterns of `rules` for homes_ (throws std::invalid_argument when they do not fit).
  CompiledPaths compile_path_patterns(const std::vector<PathRule>& rules) const;
  // Writes them into the path maps; returns what has no kernel form.
  std::vector<std::string> write_path_patterns(const CompiledGuard& g, const CompiledPaths& paths);
  // Writes into guard_anchors what `g.anchors` protect that exists now, for `homes`; `replace`:
  // and nothing else (a new home only adds its own, without rescanning the rest).
  void write_anchors(const CompiledGuard& g, const std::vector<std::string>& homes, bool replace);
  int fd(const char* name) const;

  sensor::Sensor& sensor_;
  GuardOptions opts_;
  GuardIdentity identity_;
  CompiledGuard current_;
  CompiledPaths paths_in_force_;  // what the path maps hold: rewrites keep its indices
  std::map<uint32_t, std::vector<std::string>> ids_by_generation_;  // the last few generations
  std::vector<std::string> homes_;
};

// SHA-256 of the rule file, or of a directory's *.yaml / *.yml files in name order (hex).
std::string rules_digest(const std::string& path);

}  // namespace clawfence::enforce
