# Sourced by tests/harness/deps.sh: Jaeger v2, the trace backend of the
# OpenTelemetry tests, built from its Go module (tests/jaeger/go.mod pins
# github.com/jaegertracing/jaeger v1.75.0 as a `tool`) into tests/.cache/.
# Needs Go (>= 1.24) on PATH or in /usr/local/go/bin, and the Go module
# proxy.  The first build takes minutes on 2 cores (docs/observability.md);
# later runs find the binary, and a rebuild reuses Go's build cache.
if ! python3 tests/harness/jaeger.py path >/dev/null 2>&1; then
  say "building Jaeger v2 from its Go module into tests/.cache (once; a few minutes)"
  quiet python3 tests/harness/jaeger.py build
fi
