"""Shared pieces of the chaos scenarios (tests/chaos/*.py, run by run.sh).

Each scenario starts its own Kafka broker (tests/harness/kafka.py) and the
pipeline of tests/integration/pipeline.py, drives readings through it with
weir-sim, breaks something, and checks what a user would: every reading is
counted exactly once in the aggregates a read_committed consumer sees
(sum of `count` == readings sent, no (key, window) twice), services exit 0
on SIGTERM.  A scenario prints `PASS <name>: <detail>` or
`FAIL <name>: <why>` as its last line and exits 0 / 1 (`WARN <name>: ...`,
exit 0: the guarantee held but a service misbehaved, e.g. exited non-zero;
run.sh counts it as passed and shows it as WARN).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO / "tests" / "integration"), str(REPO / "tests" / "harness")]

import fastavro  # noqa: E402
from confluent_kafka import Consumer, TopicPartition  # noqa: E402

from kafka import Broker  # noqa: E402,F401  (re-exported for the scenarios)
from pipeline import Pipeline, sim_summary  # noqa: E402,F401

BUILD = REPO / os.environ.get("WEIR_BUILD", "build/rel")
SHORT = "--short" in sys.argv
# A killed member's partitions move after its session times out (librdkafka's
# default 45 s); 6 s (the broker's minimum) keeps each scenario short.
FAST_REJOIN = {n: {"KAFKA_SESSION_TIMEOUT_MS": "6000", "KAFKA_HEARTBEAT_INTERVAL_MS": "1000"}
               for n in ("compute", "enrichment", "sink")}


def _schema(name):
    return fastavro.parse_schema(json.loads((REPO / "schemas" / name).read_text()))


AGG = _schema("aggregate.avsc")
EAGG = _schema("aggregate_enriched.avsc")


def decode(schema, value: bytes) -> dict:
    # Single-object framing: C3 01, 8-byte fingerprint, Avro binary.
    return fastavro.schemaless_reader(io.BytesIO(value[10:]), schema)


def consume(bootstrap: str, topic: str, idle: float = 2.0, deadline: float = 60.0) -> list:
    """Every committed record of `topic` (read_committed), until nothing new
    for `idle` seconds after reaching the end of every partition."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"chaos-{time.time_ns()}",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False,
                  "isolation.level": "read_committed", "enable.partition.eof": True})
    md = c.list_topics(topic, timeout=10).topics[topic]
    c.assign([TopicPartition(topic, p, 0) for p in md.partitions])
    out, eof, last = [], set(), time.monotonic()
    end = time.monotonic() + deadline
    try:
        while time.monotonic() < end:
            m = c.poll(0.2)
            if m is None:
                if len(eof) == len(md.partitions) and time.monotonic() - last > idle:
                    break
                continue
            if m.error():
                if m.error().code() == -191:  # _PARTITION_EOF
                    eof.add(m.partition())
                continue
            eof.discard(m.partition())
            last = time.monotonic()
            out.append(m)
    finally:
        c.close()
    return out


def windows(bootstrap: str, topic: str, schema=AGG, idle: float = 1.0) -> tuple[int, list]:
    """(sum of count, duplicated (key, window_start) pairs) of an aggregates topic."""
    recs = [decode(schema, m.value()) for m in consume(bootstrap, topic, idle)]
    seen, dups, total = set(), [], 0
    for r in recs:
        k = (r["key"], r["window"], r["window_start"])
        if k in seen:
            dups.append(k)
        seen.add(k)
        total += r["count"]
    return total, dups


def wait_counted(p: Pipeline, want: int, topic_key: str = "agg", timeout: float = 90.0):
    """Polls the aggregates topic until `want` readings are counted; returns
    (total, duplicates) of the last look."""
    schema = AGG if topic_key == "agg" else EAGG
    deadline = time.monotonic() + timeout
    while True:
        total, dups = windows(p.kafka.bootstrap, p.topics[topic_key], schema)
        if total >= want or time.monotonic() > deadline:
            return total, dups
        time.sleep(1.0)


def sim_kafka(p: Pipeline, *args: str) -> subprocess.Popen:
    """weir-sim straight to the input topic (idempotent producer), in the
    background; .communicate() gives its summary on stdout."""
    env = dict(p.svc["compute"].env, LOG_LEVEL="warn")
    return subprocess.Popen([str(BUILD / "bin" / "weir-sim"), "--topic", p.topics["readings"],
                             "--progress", "0", "--start-time", "2026-11-23T03:00:00Z",
                             "--incident-every", "0", *args],
                            env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def sim_http(p: Pipeline, *args: str) -> subprocess.Popen:
    env = dict(p.svc["ingress"].env, LOG_LEVEL="warn")
    return subprocess.Popen([str(BUILD / "bin" / "weir-sim"), "--ingress", p.ingress_url,
                             "--topic", p.topics["readings"], "--progress", "0",
                             "--start-time", "2026-11-23T03:00:00Z", "--incident-every", "0",
                             *args],
                            env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def finish(proc: subprocess.Popen, timeout: float = 120.0) -> dict:
    out, err = proc.communicate(timeout=timeout)
    if not any(x.startswith("sim ") for x in out.splitlines()):
        raise AssertionError(f"weir-sim exited {proc.returncode} without a summary: {err[-1500:]}")
    return sim_summary(out)


class Supervisor:
    """Restarts any of `names` that exits, as Kubernetes would restart a
    pod (restartPolicy Always); .restarts lists (service, exit status)."""

    def __init__(self, p: Pipeline, names):
        self.p, self.names, self.restarts = p, names, []
        self.stop_ev, self.parked = threading.Event(), threading.Event()
        self.t = threading.Thread(target=self._loop, daemon=True)
        self.t.start()

    def _loop(self):
        while not self.stop_ev.wait(0.5):
            for n in self.names:
                s = self.p.svc[n]
                if s.proc is not None and not s.alive():
                    self.restarts.append((n, s.proc.returncode))
                    s.start()
        # PR_SET_PDEATHSIG (pipeline.Service) fires when the *thread* that
        # started a child ends: this one must outlive what it restarted, so
        # it parks until the interpreter exits (a daemon thread).
        self.parked.set()
        threading.Event().wait()

    def stop(self):
        self.stop_ev.set()
        self.parked.wait()

    def describe(self) -> str:
        if not self.restarts:
            return "no service exited"
        return "restarted after exiting: " + ", ".join(f"{n} ({rc})" for n, rc in self.restarts)


def run(name: str, body) -> None:
    """Runs body() -> detail string; prints the verdict line and exits."""
    t0 = time.monotonic()
    try:
        detail = body()
        # A body returns ("...", True) for a pass with a known problem the
        # table must show (WARN: the guarantee held, a service misbehaved).
        warn = isinstance(detail, tuple) and detail[1]
        detail = detail[0] if isinstance(detail, tuple) else detail
        print(f"{'WARN' if warn else 'PASS'} {name}: {detail} ({time.monotonic() - t0:.0f} s)",
              flush=True)
        sys.exit(0)
    except Exception as e:  # a failed check or a broken run: both are failures
        traceback.print_exc()
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        print(f"FAIL {name}: {msg[:300]} ({time.monotonic() - t0:.0f} s)", flush=True)
        sys.exit(1)


def check(cond: bool, msg: str) -> None:
    if not cond:
        raise AssertionError(msg)
