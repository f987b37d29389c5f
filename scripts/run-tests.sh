#!/usr/bin/env bash
# Runs every test tier and ends with one summary line: "tests: N passed, N failed, N skipped".
# Unit tests need nothing; the kernel (bpf) and end-to-end tiers need root and say so when
# they skip.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$PWD/$BUILD ;; esac
export CLAWFENCE_ROOT=$PWD CLAWFENCE_BUILD=$BUILD
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

# The rule parser's fuzzer, for a bounded time (`make fuzz-smoke`); it counts as one test, written
# out in gtest's JSON shape so the summary below counts it with the rest.
echo "== fuzz"
fuzz_log=$BUILD/fuzz/smoke.log
mkdir -p "$BUILD/fuzz"
if MAKEFLAGS= make --no-print-directory BUILD="$BUILD" fuzz-smoke >"$fuzz_log" 2>&1; then
  runs=$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\1 runs in \2 s/p' "$fuzz_log")
  echo "rules_fuzz: ${runs:-? runs}, no findings"
  fuzz_failures='[]'
else
  rc=1
  tail -n 40 "$fuzz_log"
  echo "rules_fuzz: FAILED (full log: $fuzz_log; a finding's input is under $BUILD/fuzz/artifacts/)"
  fuzz_failures='[{"failure": "rules_fuzz: a crash, leak, timeout or broken invariant, or it did not build"}]'
fi
printf '{"testsuites": [{"name": "fuzz", "testsuite": [{"name": "rules_fuzz", "failures": %s}]}]}\n' \
  "$fuzz_failures" >"$results/fuzz.json"

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
