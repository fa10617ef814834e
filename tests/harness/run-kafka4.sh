#!/usr/bin/env bash
# make kafka4 (part of make test): the end-to-end, secured-cluster and
# protocol tests, and the short cluster failover scenario, on the Kafka 4
# broker of tests/kafka/pom.xml's kafka4.version (the rest of the suite runs
# on kafka.version).  Counts go to build/results/kafka4 as "<passed> <failed>".
set -u
cd "$(dirname "$0")/../.."
export WEIR_BUILD=${WEIR_BUILD:-build/rel} WEIR_KAFKA_VERSION=4
mkdir -p build/results
python3 tests/harness/kafka.py fetch >/dev/null || { echo "0 1" >build/results/kafka4; exit 1; }
echo "Kafka $(python3 tests/harness/kafka.py version)"
WEIR_RESULTS_SUITE=kafka4 python3 -m pytest -v -p no:cacheprovider \
  tests/integration/test_e2e.py tests/integration/test_kafka_cluster.py \
  tests/integration/test_security_acls.py tests/integration/test_kafka_protocols.py
rc=$?
read -r passed failed <build/results/kafka4 2>/dev/null || { passed=0 failed=1; }
[ "$rc" -eq 0 ] || [ "$failed" -gt 0 ] || failed=1
log=$(mktemp -t weir-kafka4-failover.XXXXXX)
timeout -k 10 300 python3 tests/chaos/cluster_failover.py leader_kill --short >"$log" 2>&1
frc=$?
line=$(grep -E '^(PASS|WARN|FAIL) ' "$log" | tail -n 1)
if [ "$frc" -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); tail -n 30 "$log"; fi
echo "${line:-FAIL cluster leader_kill: exit $frc without a verdict} (log: $log)"
echo "$passed $failed" >build/results/kafka4
[ "$failed" -eq 0 ]
