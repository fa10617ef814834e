#!/usr/bin/env bash
# make demo — the whole Weir pipeline on one machine, no Kafka needed.
#
# Starts, as separate processes:
#   weir-devbroker   librdkafka's mock cluster (unless KAFKA_BOOTSTRAP_SERVERS
#                    is set: then that cluster is used)
#   weir-compute, weir-enrichment (file source: docs/examples/intersections.json),
#   weir-sink        (InfluxDB only when INFLUX_URL is set; the WebSocket feed
#                    and the dashboard page always)
#   weir-ingress     the HTTP gateway
#   weir-sim         simulated city traffic posted to ingress (REST Proxy v2)
# prints the dashboard URL and a one-line summary every few seconds until
# Ctrl-C (or DEMO_DURATION), then stops everything in pipeline order (the
# simulator, ingress, compute, enrichment, sink, the broker): one SIGTERM
# each, waiting for each to exit before the next.  The children run in their
# own sessions (setsid), so the terminal's Ctrl-C reaches this script only,
# not every process at once (a second signal makes a service exit at once,
# 130, without leaving its group or committing).  Exits 0 when every process
# stopped cleanly; non-zero, naming the setting to change, when the demo
# could not start (a port taken, ...).
#
# Settings (environment): DEMO_DURATION (seconds, default: until Ctrl-C),
# DEMO_RATE (readings/s, default 300), DEMO_TIME_SCALE (simulated seconds per
# second, default 60: a 1-minute window closes every second), DEMO_HTTP_PORT
# (ingress, default 8080), DEMO_DASHBOARD_PORT (sink, default 8081),
# DEMO_ADMIN_BASE (admin ports base..base+4, default 9401), WEIR_BUILD
# (default build/rel), PIPELINE_SPEC (default the traffic example).
# Traces: every OTEL_* variable (OTEL_EXPORTER_OTLP_ENDPOINT, ...) reaches the
# four services unchanged (they inherit this environment); with an endpoint
# set, a trace goes from the simulator's request to the WebSocket push (the
# sink's publish spans need the dashboard open; its InfluxDB write spans,
# INFLUX_URL).  A Jaeger for it: python3 tests/harness/jaeger.py run
# (docs/observability.md, "Trying it").
set -uo pipefail
cd "$(dirname "$0")/../.."

B=${WEIR_BUILD:-build/rel}
SPEC=${PIPELINE_SPEC:-docs/examples/traffic-pipeline.json}
RATE=${DEMO_RATE:-300}
SCALE=${DEMO_TIME_SCALE:-60}
HTTP_PORT_=${DEMO_HTTP_PORT:-8080}
DASH_PORT=${DEMO_DASHBOARD_PORT:-8081}
ADMIN_BASE=${DEMO_ADMIN_BASE:-9401}
DURATION=${DEMO_DURATION:-0}

for p in devbroker compute enrichment sink ingress sim; do
  if [ ! -x "$B/bin/weir-$p" ]; then
    echo "demo: $B/bin/weir-$p is missing: run make all first" >&2
    exit 1
  fi
done

a_compute=$ADMIN_BASE a_enrich=$((ADMIN_BASE + 1)) a_sink=$((ADMIN_BASE + 2))
a_ingress=$((ADMIN_BASE + 3))

# A port something already listens on would stop a service at start-up:
# say so now, with the setting that moves it.
taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
check_port() { # PORT SETTING WHAT
  if taken "$1"; then
    echo "demo: port $1 ($3) is already in use on 127.0.0.1: set $2 to a free port," \
      "e.g. make demo $2=$4" >&2
    exit 1
  fi
}
check_port "$HTTP_PORT_" DEMO_HTTP_PORT "ingress" 18080
check_port "$DASH_PORT" DEMO_DASHBOARD_PORT "the dashboard" 18081
for p in "$a_compute" "$a_enrich" "$a_sink" "$a_ingress"; do
  check_port "$p" DEMO_ADMIN_BASE "admin ports $ADMIN_BASE-$a_ingress" 19401
done

LOGS=$(mktemp -d -t weir-demo.XXXXXX)
pids=()
names=()
declare -A pid_of

# The setting that moves what a service failed to listen on.
setting_for() {
  case $1 in
    ingress) echo "DEMO_HTTP_PORT (now $HTTP_PORT_) or DEMO_ADMIN_BASE (now $ADMIN_BASE)" ;;
    sink) echo "DEMO_DASHBOARD_PORT (now $DASH_PORT) or DEMO_ADMIN_BASE (now $ADMIN_BASE)" ;;
    *) echo "DEMO_ADMIN_BASE (now $ADMIN_BASE; admin ports base..base+3)" ;;
  esac
}

# stop_all [STATUS] -- stops every process started, in pipeline order, one
# SIGTERM each; exits STATUS (default: 0 when each exited 0, else 1).
STOP_ORDER=(sim ingress compute enrichment sink devbroker)
stop_all() {
  trap '' INT TERM # a second Ctrl-C does not interrupt the orderly stop
  local want=${1:-} bad=0 name i pid
  echo
  echo "demo: stopping in pipeline order (logs in $LOGS)"
  for name in "${STOP_ORDER[@]}"; do
    pid=
    for i in "${!names[@]}"; do
      [ "${names[$i]}" = "$name" ] && pid=${pids[$i]}
    done
    [ -n "$pid" ] || continue
    kill -TERM "$pid" 2>/dev/null
    # Each process drains and exits on its own; give it the grace period.
    for _ in $(seq 1 300); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      echo "demo: $name did not stop in 30 s; killing it" >&2
      kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null
    local st=$?
    echo "demo: $name exited with status $st"
    [ "$st" -eq 0 ] || bad=1
    if [ "$name" = sim ] && [ -f "$LOGS/sim.log" ]; then
      sed -n 's/^sim sent=\([0-9]*\) acked=\([0-9]*\) rejected=\([0-9]*\) failed=\([0-9]*\).*/demo: simulator sent \1 readings: \2 acknowledged, \3 rejected, \4 lost/p' \
        "$LOGS/sim.log"
    fi
  done
  exit "${want:-$bad}"
}
trap 'stop_all' INT TERM

# start NAME ENV... -- runs weir-NAME in the background in its own session,
# output to $LOGS/NAME.log.
start() {
  local name=$1
  shift
  setsid env "$@" "$B/bin/weir-$name" >"$LOGS/$name.log" 2>&1 &
  pids+=($!)
  names+=("$name")
  pid_of[$name]=$!
}

# failed_start NAME -- a service exited or never became ready: say why and
# which setting to change, stop the rest, exit 1.
failed_start() {
  local name=$1
  tail -n 20 "$LOGS/$name.log" >&2
  if grep -qi "cannot listen\|address already in use\|failed to bind" "$LOGS/$name.log"; then
    echo "demo: weir-$name could not listen on its port: set $(setting_for "$name") to free ports" >&2
  fi
  stop_all 1
}

# ready NAME PORT -- waits up to 30 s for /readyz on the admin port.
ready() {
  local name=$1 port=$2 t0=$SECONDS
  until curl -fsS -o /dev/null "http://127.0.0.1:$port/readyz" 2>/dev/null; do
    if ! kill -0 "${pid_of[$name]}" 2>/dev/null; then
      echo "demo: weir-$name exited during start-up; its log:" >&2
      failed_start "$name"
    fi
    if ((SECONDS - t0 > 30)); then
      echo "demo: weir-$name not ready after 30 s:" >&2
      curl -sS "http://127.0.0.1:$port/readyz" >&2
      failed_start "$name"
    fi
    sleep 0.2
  done
}

if [ -z "${KAFKA_BOOTSTRAP_SERVERS:-}" ]; then
  mkfifo "$LOGS/devbroker.out"
  setsid "$B/bin/weir-devbroker" --spec "$SPEC" --partitions 3 >"$LOGS/devbroker.out" \
    2>"$LOGS/devbroker.log" &
  pids+=($!)
  names+=(devbroker)
  # The first line is the bootstrap list; keep the fifo drained afterwards.
  exec 3<"$LOGS/devbroker.out"
  if ! read -r -t 15 KAFKA_BOOTSTRAP_SERVERS <&3; then
    echo "demo: weir-devbroker did not start:" >&2
    cat "$LOGS/devbroker.log" >&2
    stop_all 1
  fi
  cat <&3 >/dev/null &
  echo "demo: development broker (librdkafka mock cluster) at $KAFKA_BOOTSTRAP_SERVERS"
  DEMO_DEVBROKER=1
else
  echo "demo: using Kafka at $KAFKA_BOOTSTRAP_SERVERS"
fi

common=(PIPELINE_SPEC="$SPEC" SCHEMA_DIR=schemas KAFKA_BOOTSTRAP_SERVERS="$KAFKA_BOOTSTRAP_SERVERS"
        LOG_LEVEL="${LOG_LEVEL:-info}" ADMIN_BIND=127.0.0.1)
# On the development broker compute runs one worker: librdkafka 2.0.2's mock
# group coordinator sometimes never hands the second of two members in one
# process its cooperative-sticky assignment (seen in CI: "unmet: kafka
# assigned" for 30 s); a real cluster does, and the demo's rate needs one.
c_threads=()
[ -n "${DEMO_DEVBROKER:-}" ] && c_threads=(COMPUTE_THREADS="${COMPUTE_THREADS:-1}")
# Static membership (docs/deploy.md) on a real Kafka: an id per process,
# stable across demo runs on this host, so a restarted demo takes its
# partitions back at once instead of after the last run's session timeout.
# Not on the development broker, whose mock coordinator is not exercised
# with static members.
c_static=() e_static=()
if [ -z "${DEMO_DEVBROKER:-}" ]; then
  c_static=(GROUP_INSTANCE_ID="weir-demo-compute-${HOSTNAME:-local}")
  e_static=(GROUP_INSTANCE_ID="weir-demo-enrichment-${HOSTNAME:-local}")
fi
start compute "${common[@]}" "${c_threads[@]}" "${c_static[@]}" ADMIN_PORT=$a_compute
start enrichment "${common[@]}" "${e_static[@]}" ADMIN_PORT=$a_enrich
start sink "${common[@]}" ADMIN_PORT=$a_sink SINK_HTTP_BIND=127.0.0.1 SINK_HTTP_PORT="$DASH_PORT"
start ingress "${common[@]}" ADMIN_PORT=$a_ingress HTTP_BIND=127.0.0.1 HTTP_PORT="$HTTP_PORT_"
ready compute $a_compute
ready enrichment $a_enrich
ready sink $a_sink
ready ingress $a_ingress

sim_args=(--ingress "http://127.0.0.1:$HTTP_PORT_" --rate "$RATE" --time-scale "$SCALE"
          --incident-every 20m --batch 100 --progress 0 --out-of-order 0.02 --late 0.001
          --malformed 0.001 --silent-key 3 --silent-every 15m --silent-for 4m
          --seed "${DEMO_SEED:-$RANDOM}")
setsid env "${common[@]}" "$B/bin/weir-sim" "${sim_args[@]}" >"$LOGS/sim.log" 2>&1 &
pids+=($!)
names+=(sim)

cat <<EOF

  Weir demo is running.
    dashboard   http://127.0.0.1:$DASH_PORT/
    ingress     http://127.0.0.1:$HTTP_PORT_/topics/traffic.readings  (Confluent REST Proxy v2)
    metrics     http://127.0.0.1:{$a_compute,$a_enrich,$a_sink,$a_ingress}/metrics
    logs        $LOGS
$(if [ -n "${OTEL_EXPORTER_OTLP_TRACES_ENDPOINT:-${OTEL_EXPORTER_OTLP_ENDPOINT:-}}" ]; then
  echo "    traces      OTLP/HTTP to ${OTEL_EXPORTER_OTLP_TRACES_ENDPOINT:-$OTEL_EXPORTER_OTLP_ENDPOINT} (sampler ${OTEL_TRACES_SAMPLER:-parentbased_traceidratio}, ratio ${OTEL_TRACES_SAMPLER_ARG:-1.0})"
else
  echo "    traces      off (set OTEL_EXPORTER_OTLP_ENDPOINT: docs/observability.md)"
fi)
  Simulated time: the simulator's clock runs ${SCALE}x (DEMO_TIME_SCALE), ${SCALE} simulated
  seconds each second, so 1-minute windows close every $(awk -v s="$SCALE" 'BEGIN { printf "%.3g", 60 / s }') s and the times of
  readings, windows and alerts (the dashboard's too) run ahead of the wall
  clock.  A reading you post yourself with the current time is late for them
  and goes to the dead-letter topic (counted as "late" under dlq below).
  Ctrl-C stops everything.

EOF

# metric PORT NAME -- the sum of every series of NAME on that admin port.
metric() {
  curl -fsS "http://127.0.0.1:$1/metrics" 2>/dev/null |
    awk -v n="$2" '$1 == n || index($1, n "{") == 1 || (index(n, "{") && index($1, substr(n, 1, length(n) - 1))) { s += $NF } END { printf "%d", s }'
}

# dlq_classes -- the dead-letter records of compute, enrichment and sink by
# error class ("late 3, malformed 1"), or "none".
dlq_classes() {
  local p
  for p in $a_compute $a_enrich $a_sink; do
    curl -fsS "http://127.0.0.1:$p/metrics" 2>/dev/null | grep '^weir_[a-z]*_dlq_records_total{'
  done | awk '{ if (match($1, /class="[^"]*"/)) { c = substr($1, RSTART + 7, RLENGTH - 8); n[c] += $NF } }
              END { s = ""; for (c in n) if (n[c] > 0) s = s sprintf("%s%s %d", s == "" ? "" : ", ", c, n[c]); print s == "" ? "none" : s }'
}

t0=$SECONDS
while :; do
  sleep 3
  for i in "${!pids[@]}"; do
    if ! kill -0 "${pids[$i]}" 2>/dev/null; then
      wait "${pids[$i]}"
      echo "demo: weir-${names[$i]} exited with status $?; its log:" >&2
      tail -n 20 "$LOGS/${names[$i]}.log" >&2
      unset "pids[$i]"
      pids=("${pids[@]}")
      unset "names[$i]"
      names=("${names[@]}")
      stop_all 1
    fi
  done
  printf '%(%H:%M:%S)T  readings in %s  aggregates %s  alerts %s  enriched %s  pushed %s  dashboards %s  dlq: %s\n' -1 \
    "$(metric $a_ingress 'weir_ingress_records_total{result="accepted"}')" \
    "$(metric $a_compute weir_compute_aggregates_out_total)" \
    "$(metric $a_compute weir_compute_alerts_out_total)" \
    "$(metric $a_enrich weir_enrichment_records_total)" \
    "$(metric $a_sink weir_sink_ws_events_pushed_total)" \
    "$(metric $a_sink weir_sink_ws_clients)" \
    "$(dlq_classes)"
  if [ "$DURATION" -gt 0 ] && ((SECONDS - t0 >= DURATION)); then
    stop_all
  fi
done
