// libFuzzer target for the rule loader: the bytes are a rule file's text. parse_rules must turn
// anything into rules or errors; rules it accepts must compile into an Engine. Built with clang++
// and ASan/UBSan by the Makefile (`make fuzz`, `make fuzz-smoke`); seeds are tests/fuzz/corpus/rules.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <stdexcept>
#include <string>

#include "policy/engine.h"
#include "policy/rules.h"

namespace {

constexpr char kName[] = "fuzz.yaml";

// A broken invariant is a finding: say which one, then abort so libFuzzer keeps the input.
[[noreturn]] void fail(const std::string& what, const std::string& detail) {
  std::fprintf(stderr, "rules_fuzz: %s: %s\n", what.c_str(), detail.c_str());
  std::abort();
}

void check_errors(const clawfence::policy::LoadResult& result) {
  for (const auto& e : result.errors) {
    const std::string text = e.to_string();
    if (e.line < 0 || e.column < 0) fail("error with a negative position", text);
    if (e.message.empty()) fail("error without a message", text);
    if (text.rfind(kName, 0) != 0) fail("error not prefixed with the file name", text);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const auto result = clawfence::policy::parse_rules(text, kName);
    check_errors(result);
    if (!result.ok()) return 0;
    try {
      // The Engine's documented refusal of rules it cannot compile: a value-level failure, not
      // a crash, so it is not a finding here.
      clawfence::policy::Engine engine(result.rules);
    } catch (const std::invalid_argument&) {
    }
  } catch (const std::exception& e) {
    // parse_rules reports problems as values; anything thrown out of it (or out of the Engine,
    // other than invalid_argument) escaped a handler.
    fail("uncaught exception", e.what());
  }
  return 0;
}
