#!/usr/bin/env bash
# Runs every test tier and ends with one summary line: "tests: N passed, N failed, N skipped".
# Unit tests need nothing; the kernel (bpf) and end-to-end tiers need root and say so when
# they skip.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export CLAWFENCE_ROOT=$PWD CLAWFENCE_BUILD=$PWD/$BUILD
results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT

rc=0
for tier in unit_tests bpf_tests e2e_tests; do
  echo "== $tier"
  if [ "$tier" != unit_tests ] && [ "$(id -u)" -ne 0 ]; then
    echo "$tier: skipped: needs root (loads eBPF programs, creates cgroups)"
  fi
  "$BUILD/tests/$tier" --gtest_output="json:$results/$tier.json" || rc=1
done

python3 - "$results" <<'PY'
import json, os, sys
passed = failed = skipped = 0
for name in sorted(os.listdir(sys.argv[1])):
    with open(os.path.join(sys.argv[1], name)) as f:
        data = json.load(f)
    for suite in data.get("testsuites", []):
        for t in suite.get("testsuite", []):
            if t.get("result") == "SKIPPED" or t.get("status") == "NOTRUN":
                skipped += 1
            elif t.get("failures"):
                failed += 1
            else:
                passed += 1
print(f"tests: {passed} passed, {failed} failed, {skipped} skipped")
PY
exit $rc
