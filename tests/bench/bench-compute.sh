#!/usr/bin/env bash
# make bench-compute: weir-compute against the same topology written as a
# Kafka Streams application, on one real broker and one input, in one run.
# Builds the Kafka Streams jar (Maven Central; output in tests/.cache/,
# rebuilt when its sources change), then runs tests/bench/compute/bench_compute.py,
# whose last line is `bench-compute cpu_ratio=<weir/kstreams> rss_ratio=<weir/kstreams>`.
# Settings: BENCH_EVENTS (default 2000000), BENCH_KEYS (1000), BENCH_JAVA_OPTS
# (-Xmx256m), WEIR_BUILD (build/rel); extra arguments go to bench_compute.py.
set -euo pipefail
cd "$(dirname "$0")/../.."
jar=tests/.cache/bench-kstreams/kstreams-bench.jar
src=(tests/bench/kstreams/pom.xml tests/bench/kstreams/src schemas/traffic_reading.avsc
     schemas/aggregate.avsc schemas/aggregate_enriched.avsc)
if [ ! -f "$jar" ] || [ -n "$(find "${src[@]}" -newer "$jar" -type f 2>/dev/null | head -1)" ]; then
  echo "bench-compute: building the Kafka Streams application (mvn package)" >&2
  mvn -q -B -f tests/bench/kstreams/pom.xml package >&2
fi
exec python3 tests/bench/compute/bench_compute.py "$@"
