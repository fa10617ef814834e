#!/usr/bin/env bash
# make bench-sink: weir-sink records per CPU-second into a real InfluxDB 1.x
# against a Python peer doing the same job (confluent-kafka + fastavro +
# requests: same points, batches of 5000, gzip, commit after each write) on
# the same broker and the same influxd.  Everything is in
# tests/bench/sink/bench.py; knobs: WEIR_BUILD (build/rel), BENCH_RECORDS
# (100000).  Last line: bench-sink ratio=<peer CPU-s per M / weir CPU-s per M> ...
set -euo pipefail
cd "$(dirname "$0")/../.."
exec python3 tests/bench/sink/bench.py
