// Test helper: where the rules shipped in the repository (rules/openclaw.yaml), and any other
// file of the repository, are.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace clawfence::testing {

// A file of the repository (`rel` from its root), found through CLAWFENCE_SRC, the working
// directory (tests run from the repository root), or this header's location; "" if none of
// them has it.
inline std::string repo_file(const std::string& rel) {
  std::vector<std::string> candidates;
  if (const char* src = std::getenv("CLAWFENCE_SRC")) candidates.push_back(std::string(src) + "/" + rel);
  for (const char* up : {"", "../", "../../", "../../../"}) candidates.push_back(up + rel);
  // __FILE__ is tests/unit/shipped_rules.h, relative to the repository root or absolute.
  std::filesystem::path here = std::filesystem::absolute(__FILE__);
  candidates.push_back((here.parent_path().parent_path().parent_path() / rel).string());
  for (const auto& c : candidates) {
    std::error_code ec;
    if (std::filesystem::is_regular_file(c, ec)) return c;
  }
  return "";
}

inline std::string shipped_rules() { return repo_file("rules/openclaw.yaml"); }

}  // namespace clawfence::testing
