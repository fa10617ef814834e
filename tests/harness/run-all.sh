#!/usr/bin/env bash
# The body of `make test` after deps and the build: every suite in turn, a
# table of results, and one closing line `test: N passed, N failed` that
# sums the suites' own counts (each suite writes build/results/<suite>).
set -u
cd "$(dirname "$0")/../.."
rm -rf build/results && mkdir -p build/results

suites=(unit unit-san fuzz-replay integration kafka4 chaos-short lint format-check deploy-check)
# WEIR_SUITES="lint format-check" runs some of them (trying this script).
[ -n "${WEIR_SUITES:-}" ] && read -r -a suites <<<"$WEIR_SUITES"
declare -A rc
for s in "${suites[@]}"; do
  echo "=== $s"
  start=$(date +%s)
  # Also kept in build/results/<suite>.log for the failure lines below.
  make --no-print-directory "$s" 2>&1 | tee "build/results/$s.log"
  rc[$s]=${PIPESTATUS[0]}
  # Suites without their own count (lint, format) count as one test.
  if [ ! -f "build/results/$s" ]; then
    if [ "${rc[$s]}" -eq 0 ]; then echo "1 0" > "build/results/$s"; else echo "0 1" > "build/results/$s"; fi
  elif [ "${rc[$s]}" -ne 0 ] && [ "$(cut -d' ' -f2 "build/results/$s")" = 0 ]; then
    # A suite that failed without failing a test (build error, crash) is a failure.
    echo "$(cut -d' ' -f1 "build/results/$s") 1" > "build/results/$s"
  fi
  echo "=== $s: exit ${rc[$s]} in $(( $(date +%s) - start ))s"
done

passed=0 failed=0
printf '\n%-14s %8s %8s\n' suite passed failed
for s in "${suites[@]}"; do
  read -r p f < "build/results/$s"
  printf '%-14s %8d %8d\n' "$s" "$p" "$f"
  passed=$((passed + p)); failed=$((failed + f))
done
# What failed, last, where an excerpt of the output that keeps only its
# tail (CI's) still shows it: each failing suite's failure lines (pytest's
# short summary, a chaos scenario's verdict, a unit check), 8 at most.
if [ "$failed" -gt 0 ]; then
  echo "what failed:"
  for s in "${suites[@]}"; do
    read -r p f < "build/results/$s"
    [ "$f" -gt 0 ] || continue
    lines=$(grep -E '^(FAILED|ERROR) |^[a-z_]+(:[a-z_]+)? +FAIL |^  FAIL |check failed|, expected |error:| timed out after | without a summary' \
              "build/results/$s.log" | cut -c1-400 | head -n 8)
    [ -n "$lines" ] || lines=$(tail -n 3 "build/results/$s.log" | cut -c1-400)
    printf '%s\n' "$lines" | sed "s/^/  $s| /"
  done
fi
echo "test: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
