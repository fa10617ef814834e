#!/usr/bin/env bash
# Runs every unit-test binary in $1 and sums their closing lines.
# Usage: run-unit.sh DIR LABEL.  Writes build/results/LABEL for run-all.sh.
set -u
dir=$1 label=$2
passed=0 failed=0 crashed=0
limit=${UNIT_TIMEOUT:-600}
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
for t in "$dir"/test_*; do
  [ -x "$t" ] || continue
  # A hung binary fails alone, with its threads' stacks when gdb is there,
  # instead of holding make test until CI's limit.
  "$t" >"$tmp" 2>&1 & pid=$!
  for ((i = 0; i < limit * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "  $(basename "$t") timed out after ${limit} s (UNIT_TIMEOUT): hung" >>"$tmp"
    command -v gdb >/dev/null &&
      gdb -p "$pid" -batch -ex "thread apply all bt" 2>/dev/null | grep -E '^(Thread|#)' |
        grep -vE ' in (__|_)?(futex|pthread_cond|cnd_|poll|epoll_wait|clone|start_thread)' >>"$tmp"
    kill -9 "$pid"
  fi
  { wait "$pid"; } 2>/dev/null; rc=$?
  out=$(cat "$tmp")
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
