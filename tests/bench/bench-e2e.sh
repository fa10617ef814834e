#!/usr/bin/env bash
# make bench-e2e: end-to-end latency (event time to the sink) at fixed rates
# with exactly-once on, RSS of each service under load, start-to-ready time.
# Everything is in tests/bench/e2e/bench.py (its docstring says what is
# measured and how); knobs: WEIR_BUILD (build/rel), BENCH_RATES
# ("5000 20000"), BENCH_SECONDS (20), BENCH_KEYS (100).
# Last line: bench-e2e p50_ms=<n> p99_ms=<n> floor_ratio=<n> kstreams_ratio=<n>
# alo_floor_ratio=<n> total_rss_mb=<n> ready_ms_max=<n> (medians of BENCH_ROUNDS rounds).
set -euo pipefail
cd "$(dirname "$0")/../.."
exec python3 tests/bench/e2e/bench.py
