#!/usr/bin/env bash
# tests/deploy/run.sh — `make deploy-check`: the deployment checks.
#
#   1. builds the Go checker (tests/deploy: Helm, kustomize and k8s.io/api as
#      libraries) and runs it: helm lint --strict and helm template of
#      charts/weir for the default values and every charts/weir/ci/*.yaml,
#      strict decoding of every rendered object, misspelt values rejected,
#      kustomize base and overlays (see main.go);
#   2. promtool check rules on the chart's alert rules;
#   3. promtool test rules: tests/deploy/alerts_test.yaml, a test per alert;
#   4. the Grafana dashboards are JSON with a PromQL/InfluxQL query per panel
#      (tests/deploy/dashboards.py).
# Writes build/results/deploy-check as "<passed> <failed>" and ends with
# "deploy-check: N passed, N failed".
#
# Go: the module cache, build cache and GOPATH live in tests/.cache/go
# (gitignored). The go on PATH (>= 1.21) is used, switching itself to the
# version go.mod names if older; else the toolchain deps.d/deploy.sh put in the
# module cache.
#
#   tests/deploy/run.sh --write-k8s-base   regenerate k8s/base/weir.yaml
set -u
cd "$(dirname "$0")/../.."
root=$PWD
export GOPATH=$root/tests/.cache/go GOCACHE=$root/tests/.cache/go/build \
       GOMODCACHE=$root/tests/.cache/go/mod GOFLAGS=-modcacherw GOTOOLCHAIN=${GOTOOLCHAIN:-auto}
mkdir -p build/results build/deploy-check

go_ok() { # the go on PATH understands toolchain switching (>= 1.21)
  command -v go >/dev/null 2>&1 || return 1
  local v; v=$(go env GOVERSION 2>/dev/null) || return 1
  v=${v#go}; local minor=${v#1.}; minor=${minor%%.*}
  [ "${v%%.*}" = 1 ] && [ "${minor:-0}" -ge 21 ] 2>/dev/null
}
GO=go
if ! go_ok; then
  GO=$(ls -d "$GOMODCACHE"/golang.org/toolchain@*/bin/go 2>/dev/null | sort -V | tail -n1)
  if [ -z "$GO" ]; then
    echo "deploy-check: no Go >= 1.21 on PATH and no toolchain in $GOMODCACHE: run make deps" >&2
    echo "0 1" > build/results/deploy-check
    echo "deploy-check: 0 passed, 1 failed"
    exit 1
  fi
  export GOTOOLCHAIN=local
fi

passed=0 failed=0
record() { # record <exit code> <name>
  if [ "$1" -eq 0 ]; then passed=$((passed + 1)); echo "ok   $2"
  else failed=$((failed + 1)); echo "FAIL $2"; fi
}

start=$(date +%s)
(cd tests/deploy && "$GO" build -o "$root/build/deploy-check/deploy-check" .)
rc=$?
record $rc "go build tests/deploy ($(( $(date +%s) - start ))s)"
if [ $rc -eq 0 ]; then
  if [ "${1:-}" = --write-k8s-base ]; then
    exec build/deploy-check/deploy-check -root . -write-k8s-base
  fi
  out=$(build/deploy-check/deploy-check -root . 2>&1)
  rc=$?
  echo "$out"
  line=$(echo "$out" | grep -E '^deploy-check: [0-9]+ passed, [0-9]+ failed$' | tail -n1)
  if [ -n "$line" ]; then
    read -r p f < <(echo "$line" | sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed/\1 \2/')
    passed=$((passed + p)); failed=$((failed + f))
    [ $rc -ne 0 ] && [ "$f" -eq 0 ] && record 1 "checker exited $rc"
  else
    record 1 "checker ended without its summary (exit $rc)"
  fi
fi

promtool check rules charts/weir/rules/weir-alerts.yaml
record $? "promtool check rules charts/weir/rules/weir-alerts.yaml"
# promtool counts test groups, not alerts: every alert must have its group.
promtool test rules tests/deploy/alerts_test.yaml
record $? "promtool test rules tests/deploy/alerts_test.yaml"
python3 tests/deploy/dashboards.py
record $? "dashboards: valid, every alert tested, every panel queried"

echo "$passed $failed" > build/results/deploy-check
echo "deploy-check took $(( $(date +%s) - start ))s"
echo "deploy-check: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
