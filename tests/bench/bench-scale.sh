#!/usr/bin/env bash
# make bench-scale: weir-compute with 10k, 100k and 1M keys (10 records per
# key): CPU, peak RSS, RSS after the backlog drains, state and changelog
# bytes per key, restore rate, ready time after SIGTERM and SIGKILL
# (tests/bench/scale/bench_scale.py, which documents each figure).
# Settings: BENCH_SCALE_KEYS (default 10000,100000,1000000), WEIR_BUILD.
# Last line: bench-scale bytes_per_key=<n> drain_ratio=<n> kill9_ready_s=<n> restore_krec_s=<n>
set -euo pipefail
cd "$(dirname "$0")/../.."
exec python3 tests/bench/scale/bench_scale.py "$@"
