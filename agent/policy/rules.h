// Rule files: read YAML, check it, and keep what the agent enforces. Errors carry the file,
// line and column of the offending node. This stage knows `version`, `mode` and `targets`;
// the other sections of the format are recognised and checked for shape by later stages.
#pragma once

#include <string>
#include <vector>

#include "process/targets.h"

namespace clawfence::policy {

struct RuleError {
  std::string file;
  int line = 0;    // 1-based; 0 when the error is about the file as a whole
  int column = 0;  // 1-based
  std::string message;
  std::string to_string() const;  // "file:line:column: message"
};

enum class Mode { kMonitor, kEnforce };

struct RuleSet {
  int version = 1;
  Mode mode = Mode::kMonitor;
  bool mode_set = false;  // the file said `mode:` (a later file without one keeps it)
  std::vector<process::Target> targets;
  std::vector<std::string> files;  // files it was read from
};

struct LoadResult {
  RuleSet rules;
  std::vector<RuleError> errors;
  bool ok() const { return errors.empty(); }
};

// Loads one file, or every *.yaml / *.yml file of a directory in name order.
LoadResult load_rules(const std::string& path);
// Parses rule text (tests, fuzzing); `name` is used in error messages.
LoadResult parse_rules(const std::string& text, const std::string& name);

}  // namespace clawfence::policy
