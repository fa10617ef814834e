#!/usr/bin/env bash
# Runs every unit-test binary in $1 and sums their closing lines.
# Usage: run-unit.sh DIR LABEL.  Writes build/results/LABEL for run-all.sh.
set -u
dir=$1 label=$2
passed=0 failed=0 crashed=0
for t in "$dir"/test_*; do
  [ -x "$t" ] || continue
  out=$("$t" 2>&1); rc=$?
  line=$(printf '%s\n' "$out" | tail -n 1)
  if [[ $line =~ ([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
    passed=$((passed + BASH_REMATCH[1])); failed=$((failed + BASH_REMATCH[2]))
  else
    crashed=$((crashed + 1)); failed=$((failed + 1))
  fi
  # Each test's result line, and on failure the checks that failed.
  if [ $rc -ne 0 ]; then
    printf '%s\n' "$out" | grep -v '^{' | tail -n 60
    [[ $line =~ passed ]] || echo "  $(basename "$t") exited $rc without a summary"
  else
    printf '%s\n' "$out" | grep -E '^  (ok|FAIL) ' || true
  fi
done
mkdir -p build/results
echo "$passed $failed" > "build/results/$label"
echo "$label: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
