#!/usr/bin/env bash
# libFuzzer harnesses: `replay` runs each over its seed corpus (a regression
# test inside `make test`); `run SECONDS` fuzzes each for a bounded time with
# a 512 MB RSS cap, so an unbounded allocation is a finding.
# Corpus: tests/fuzz/corpus/<harness>/ (seeds, committed).
set -u
mode=$1; shift
secs=0
if [ "$mode" = run ]; then secs=$1; shift; fi
passed=0 failed=0
for bin in "$@"; do
  name=$(basename "$bin")
  corpus=tests/fuzz/corpus/$name
  if [ "$mode" = replay ]; then
    out=$("$bin" -rss_limit_mb=512 -runs=0 "$corpus" 2>&1)
  else
    work=build/fuzz/corpus-$name
    mkdir -p "$work"
    out=$("$bin" -rss_limit_mb=512 -max_total_time="$secs" -print_final_stats=1 "$work" "$corpus" 2>&1)
  fi
  rc=$?
  if [ $rc -eq 0 ]; then
    passed=$((passed + 1))
    echo "  ok   $name: $(printf '%s\n' "$out" | grep -E '^(#[0-9]+|stat::number_of_executed_units|Done)' | tail -n 2 | tr '\n' ' ')"
  else
    failed=$((failed + 1))
    printf '%s\n' "$out" | tail -n 40
    echo "  FAIL $name (exit $rc)"
  fi
done
mkdir -p build/results
label=fuzz-replay; [ "$mode" = run ] && label=fuzz
echo "$passed $failed" > "build/results/$label"
echo "$label: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
