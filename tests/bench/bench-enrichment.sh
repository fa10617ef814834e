#!/usr/bin/env bash
# make bench-enrichment: weir-enrichment vs `kcat -C | kcat -P` on the same
# records and broker, CPU-seconds each; the last line is
#   bench-enrichment ratio=<weir records per CPU-s / kcat records per CPU-s>
# Knobs: WEIR_BUILD (default build/rel), BENCH_RECORDS (200000),
# BENCH_SOURCE (file|kafka).  See docs/bench/enrichment.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec python3 tests/bench/enrichment/bench.py "$@"
