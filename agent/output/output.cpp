#include "output/output.h"

namespace clawfence::output {

int severity_rank(const std::string& severity) {
  if (severity == "info") return 1;
  if (severity == "warning") return 2;
  if (severity == "error") return 3;
  if (severity == "critical") return 4;
  return 0;
}

}  // namespace clawfence::output
