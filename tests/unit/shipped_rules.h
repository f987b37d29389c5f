// Test helper: where the rules shipped in the repository (rules/openclaw.yaml) are.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace clawfence::testing {

// Found through CLAWFENCE_SRC, the working directory (tests run from the repository root), or
// this header's location; "" if none of them has the file.
inline std::string shipped_rules() {
  std::vector<std::string> candidates;
  if (const char* src = std::getenv("CLAWFENCE_SRC")) candidates.push_back(std::string(src) + "/rules/openclaw.yaml");
  for (const char* rel : {"rules/openclaw.yaml", "../rules/openclaw.yaml", "../../rules/openclaw.yaml",
                          "../../../rules/openclaw.yaml"})
    candidates.push_back(rel);
  // __FILE__ is tests/unit/shipped_rules.h, relative to the repository root or absolute.
  std::filesystem::path here = std::filesystem::absolute(__FILE__);
  candidates.push_back((here.parent_path().parent_path().parent_path() / "rules/openclaw.yaml").string());
  for (const auto& c : candidates) {
    std::error_code ec;
    if (std::filesystem::is_regular_file(c, ec)) return c;
  }
  return "";
}

}  // namespace clawfence::testing
