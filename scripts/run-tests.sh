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
for tier in unit_tests bpf_tests e2e_tests adversarial_tests openclaw_tests; do
  echo "== $tier"
  if [ "$tier" != unit_tests ] && [ "$(id -u)" -ne 0 ]; then
    echo "$tier: skipped: needs root (loads eBPF programs, creates cgroups)"
  fi
  if [ "$tier" = openclaw_tests ]; then
    # The real OpenClaw from the npm registry (once; the tier's tests skip, saying why, when it
    # cannot be installed)
    scripts/install-openclaw.sh "$BUILD/openclaw" ||
      echo "openclaw_tests: the real OpenClaw could not be installed (exit $?): its tests skip"
  fi
  "$BUILD/tests/$tier" --gtest_output="json:$results/$tier.json" || rc=1
done

# The unit tests again, built with AddressSanitizer and UndefinedBehaviorSanitizer
# ($BUILD/san/unit_tests, `make san-bins`): any finding fails the tier. A finding stops the run
# before gtest writes its results, so then one failed test stands for the tier in the summary.
# LeakSanitizer stops the process's threads through ptrace at exit; where that is not allowed (a
# container without CAP_SYS_PTRACE, a run under a debugger) leaks cannot be checked, and the tier
# says so rather than failing every run.
echo "== unit_tests_san"
san=$BUILD/san/unit_tests
san_log=$BUILD/san/unit_tests.log # the sanitizers' reports
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
leaks=1
if ! ASAN_OPTIONS=detect_leaks=1 "$san" --gtest_filter=NoSuchTest.None >/dev/null 2>"$san_log" &&
  grep -q "LeakSanitizer has encountered a fatal error\|does not work under ptrace" "$san_log"; then
  leaks=0
  echo "unit_tests_san: LeakSanitizer cannot run here ($(grep -m1 "LeakSanitizer\|ptrace" "$san_log")): leaks not checked"
fi
export ASAN_OPTIONS=halt_on_error=1:detect_leaks=$leaks:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1
if ! "$san" --gtest_output="json:$results/unit_tests_san.json" 2>"$san_log"; then
  rc=1
  sed -n '/ERROR: [A-Za-z]*Sanitizer\|runtime error:/,/^SUMMARY/p' "$san_log" | head -n 60
  echo "unit_tests_san: FAILED (the sanitizer's report: $san_log)"
  [ -s "$results/unit_tests_san.json" ] ||
    echo '{"testsuites": [{"name": "unit_tests_san", "testsuite": [{"name": "unit_tests_san", "failures": [{"failure": "a sanitizer finding stopped the run"}]}]}]}' \
      >"$results/unit_tests_san.json"
fi
unset ASAN_OPTIONS UBSAN_OPTIONS

# The fuzz targets, each for a bounded time (`make fuzz-smoke`, FUZZ_SMOKE_SECONDS each); each
# counts as one test, written out in gtest's JSON shape so the summary below counts them with the
# rest. They are built first, so a build failure is reported once and every target fails.
echo "== fuzz"
fuzz_targets="rules decoder dns tail"
mkdir -p "$BUILD/fuzz"
fuzz_build_ok=1
if ! MAKEFLAGS= make --no-print-directory BUILD="$BUILD" fuzz-bins >"$BUILD/fuzz/build.log" 2>&1; then
  fuzz_build_ok=0
  tail -n 40 "$BUILD/fuzz/build.log"
fi
fuzz_cases=""
for t in $fuzz_targets; do
  name=${t}_fuzz
  fuzz_log=$BUILD/fuzz/smoke-$t.log
  if [ "$fuzz_build_ok" = 1 ] &&
    MAKEFLAGS= make --no-print-directory BUILD="$BUILD" FUZZ_ONLY="$t" fuzz-smoke >"$fuzz_log" 2>&1; then
    runs=$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\1 runs in \2 s/p' "$fuzz_log")
    echo "$name: ${runs:-? runs}, no findings"
    failures='[]'
  else
    rc=1
    [ "$fuzz_build_ok" = 1 ] && tail -n 40 "$fuzz_log"
    echo "$name: FAILED (log: $fuzz_log or $BUILD/fuzz/build.log; a finding's input is under $BUILD/fuzz/artifacts/)"
    failures="[{\"failure\": \"$name: a crash, leak, timeout or broken invariant, or it did not build\"}]"
  fi
  fuzz_cases="${fuzz_cases:+$fuzz_cases, }{\"name\": \"$name\", \"failures\": $failures}"
done
printf '{"testsuites": [{"name": "fuzz", "testsuite": [%s]}]}\n' "$fuzz_cases" >"$results/fuzz.json"

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
