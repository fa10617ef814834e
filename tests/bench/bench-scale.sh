#!/usr/bin/env bash
# make bench-scale: weir-compute with 10k, 100k and 1M keys (10 records per
# key): CPU, peak RSS, RSS after the backlog drains, state and changelog
# bytes per key, restore rate, ready time after SIGTERM and SIGKILL; and
# Kafka Streams at 100k keys on the same readings, in the same run
# (tests/bench/scale/bench_scale.py, which documents each figure).  Builds
# the Kafka Streams jar first when it is missing or older than its sources
# (as bench-compute.sh).
# Settings: BENCH_SCALE_KEYS (default 10000,100000,1000000),
# BENCH_SCALE_KSTREAMS_KEYS (100000; 0: no Kafka Streams run),
# BENCH_JAVA_OPTS (-Xmx512m), WEIR_BUILD.
# Last line: bench-scale bytes_per_key=<n> drain_ratio=<n> kill9_ready_s=<n> restore_krec_s=<n>
set -euo pipefail
cd "$(dirname "$0")/../.."
jar=tests/.cache/bench-kstreams/kstreams-bench.jar
src=(tests/bench/kstreams/pom.xml tests/bench/kstreams/src schemas/traffic_reading.avsc
     schemas/aggregate.avsc schemas/aggregate_enriched.avsc)
if [ "${BENCH_SCALE_KSTREAMS_KEYS:-100000}" != 0 ] &&
   { [ ! -f "$jar" ] || [ -n "$(find "${src[@]}" -newer "$jar" -type f 2>/dev/null | head -1)" ]; }; then
  echo "bench-scale: building the Kafka Streams application (mvn package)" >&2
  mvn -q -B -f tests/bench/kstreams/pom.xml package >&2
fi
exec python3 tests/bench/scale/bench_scale.py "$@"
