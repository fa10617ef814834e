#!/usr/bin/env bash
# make bench-ingress: weir-ingress events per CPU-second (1000-event JSON
# batches over keep-alive HTTP) against kcat producing the same Avro bytes to
# the same broker, and request latency at a fixed rate.  Everything is in
# tests/bench/ingress/bench.py; knobs: WEIR_BUILD (build/rel), BENCH_SECONDS
# (15), BENCH_CONNS (4), BENCH_RATE (20 requests/s), BENCH_LAT_SECONDS (10),
# INGRESS_THREADS (2).  Last line: bench-ingress ratio=<r> p99_ms=<n>.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec python3 tests/bench/ingress/bench.py
