#!/usr/bin/env bash
# make bench-otel: weir-ingress with tracing off and on (1% sample, exporting
# to a real Jaeger v2), alternating in one run; see tests/bench/otel/bench_otel.py.
# Last line: bench-otel cpu_ratio=<on/off> rate_ratio=<on/off>.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec python3 tests/bench/otel/bench_otel.py
