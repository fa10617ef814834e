#!/usr/bin/env bash
# make chaos — every chaos scenario (tests/chaos/*.py; each starts its own
# Kafka broker and Weir services, breaks something under load and checks
# the output), then a pass/fail table (WARN: the guarantee held but a service
# misbehaved, e.g. exited non-zero; counted as passed, shown so nobody misses it).
# The cluster_failover rows run on the secured three-broker cluster and show
# the longest stall of output and the largest end-to-end latency during the
# fault (docs/security.md, "Broker failures").  `run.sh --short` (make chaos-short,
# part of make test) runs the quick subset with smaller loads, within about
# two minutes.  Counts go to build/results/chaos or build/results/chaos-short
# as "<passed> <failed>"; logs of each scenario to $CHAOS_LOGS (a temp dir).
# WEIR_BUILD selects the build (default build/rel).
set -u
cd "$(dirname "$0")/../.."
export WEIR_BUILD=${WEIR_BUILD:-build/rel}
short=
suite=chaos
# A scenario is a script of tests/chaos, or script:argument (cluster_failover.py
# runs one of its four broker faults on the secured three-node cluster).
scenarios=(compute_kill broker_kill influx_outage zombie drain slowloris
           cluster_failover:leader_kill cluster_failover:coord_kill
           cluster_failover:rolling cluster_failover:pause)
if [ "${1:-}" = "--short" ]; then
  short=--short
  suite=chaos-short
  scenarios=(compute_kill slowloris cluster_failover:leader_kill)
fi
LOGS=${CHAOS_LOGS:-$(mktemp -d -t weir-chaos.XXXXXX)}
mkdir -p build/results "$LOGS"
passed=0 failed=0
declare -A verdict
t_all=$(date +%s)
for s in "${scenarios[@]}"; do
  t0=$(date +%s)
  script=${s%%:*} arg=
  [ "$script" = "$s" ] || arg=${s#*:}
  timeout -k 10 300 python3 "tests/chaos/$script.py" $arg $short >"$LOGS/$s.log" 2>&1
  rc=$?
  line=$(grep -E '^(PASS|WARN|FAIL) ' "$LOGS/$s.log" | tail -n 1)
  if [ "$rc" -eq 0 ] && { [ "${line%% *}" = PASS ] || [ "${line%% *}" = WARN ]; }; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    [ -n "$line" ] || line="FAIL $s: exit $rc without a verdict (log: $LOGS/$s.log)"
    [ "${line%% *}" = FAIL ] || line="FAIL $s: exit $rc after: ${line#* }"
    tail -n 30 "$LOGS/$s.log" | sed "s/^/  $s| /"
  fi
  verdict[$s]="${line%% *}|$(( $(date +%s) - t0 ))|${line#* }"
done
echo
printf '%-28s %-6s %6s  %s\n' scenario result time detail
for s in "${scenarios[@]}"; do
  IFS='|' read -r res secs detail <<<"${verdict[$s]}"
  printf '%-28s %-6s %5ss  %s\n' "$s" "$res" "$secs" "$detail"
done
echo "$passed $failed" >"build/results/$suite"
echo "$suite: $passed passed, $failed failed in $(( $(date +%s) - t_all ))s (logs: $LOGS)"
[ "$failed" -eq 0 ]
