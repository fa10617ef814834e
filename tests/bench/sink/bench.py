#!/usr/bin/env python3
"""make bench-sink: weir-sink against a peer doing the same job, on the same
broker and the same InfluxDB 1.x (Debian influxd, tests/harness/influx.py).

Both read the same N weir.EnrichedAggregate records (single-object Avro,
produced here with fastavro onto one topic of 4 partitions) in their own
consumer group, write one point per record in their own database (same
measurement, tags, fields and timestamps; batches of 5000 lines, gzip) and
commit offsets after each acknowledged batch.  The peer is Python:
confluent-kafka + fastavro + requests, the obvious hand-written equivalent
(there is no Kafka→InfluxDB connector in Debian; Telegraf is not packaged).

Measured per side, from its start to the moment its group's committed offsets
cover all N records: wall seconds, CPU seconds of the process (utime+stime
from /proc), CPU-seconds per million records, peak RSS (VmHWM).  Both
databases are then checked to hold N points.  influxd runs on the same 2
cores, so the wall times include its work; the CPU figures are the sink's own.

Knobs: WEIR_BUILD (build/rel), BENCH_RECORDS (100000).
Last line: bench-sink ratio=<peer CPU-s per M / weir CPU-s per M> ...
"""
import io
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "tests" / "harness"))

import fastavro  # noqa: E402
from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402

import influx as influx_harness  # noqa: E402
import kafka as kafka_harness  # noqa: E402

N = int(os.environ.get("BENCH_RECORDS", "100000"))
BUILD = REPO / os.environ.get("WEIR_BUILD", "build/rel")
PARTS = 4
SCHEMA = fastavro.parse_schema(json.loads((REPO / "schemas/aggregate_enriched.avsc").read_text()))
FP = bytes.fromhex(fastavro.schema.fingerprint(
    fastavro.schema.to_parsing_canonical_form(SCHEMA), "CRC-64-AVRO"))
BASE = 1_795_000_000_000
OPS = ("sum", "min", "max", "mean", "variance", "stddev", "first", "last", "p50", "p90", "p95",
       "p99", "zscore")


def record(i):
    key = f"I-{i % 500}"
    wend = BASE + (i // 500) * 60000
    m = 20.0 + (i % 97) * 0.31
    return {
        "pipeline": "bench", "key": key, "window": "1m", "window_start": wend - 60000,
        "window_end": wend, "count": 40 + i % 7, "final": True, "emitted_at": wend + 900,
        "fields": [
            {"name": "speed_kmh", "count": 40, "sum": m * 40, "min": 3.5, "max": 88.25,
             "mean": m, "variance": 4.0, "stddev": 2.0, "first": None, "last": None,
             "p50": m, "p90": None, "p95": m + 9.5, "p99": m + 14.75, "zscore": None},
            {"name": "vehicle_count", "count": 40, "sum": 120.0, "min": None, "max": None,
             "mean": 3.0, "variance": None, "stddev": None, "first": None, "last": None,
             "p50": None, "p90": None, "p95": None, "p99": None, "zscore": None},
        ],
        "enriched": True, "attributes": {"district": f"d{i % 9}", "name": "Main St"},
    }


def produce(bootstrap, topic):
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 50, "compression.type": "lz4",
                  "queue.buffering.max.messages": 500000})
    for i in range(N):
        r = record(i)
        b = io.BytesIO()
        fastavro.schemaless_writer(b, SCHEMA, r)
        p.produce(topic, key=r["key"].encode(), value=b"\xc3\x01" + FP + b.getvalue())
        if i % 10000 == 0:
            p.poll(0)
    assert p.flush(120) == 0


def committed_total(c, topic):
    try:
        got = c.committed([TopicPartition(topic, p) for p in range(PARTS)], timeout=10)
    except Exception:  # NOT_COORDINATOR while the group settles: ask again
        return 0
    return sum(max(tp.offset, 0) for tp in got)


def proc_stats(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / tick
    hwm = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    return cpu, hwm


def run(name, cmd, env, bootstrap, group, topic):
    t0 = time.time()
    with open(f"/tmp/bench-sink-{name}.log", "w") as err:
        proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=err)
    cpu = hwm = 0
    watcher = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                        "enable.auto.commit": False})
    try:
        limit = int(os.environ.get("BENCH_TIMEOUT", "600"))
        deadline = t0 + limit
        while time.time() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited {proc.returncode}")
            cpu, hwm = proc_stats(proc.pid)
            if committed_total(watcher, topic) >= N:
                break
            time.sleep(0.25)
        else:
            raise RuntimeError(f"{name}: not done after {limit} s (log: /tmp/bench-sink-{name}.log)")
        wall = time.time() - t0
        cpu, hwm = proc_stats(proc.pid)
    finally:
        watcher.close()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
    return wall, cpu, hwm


def main():
    with kafka_harness.Broker() as k, influx_harness.Influx() as db:
        topic = k.create_topic("bench-sink-" + uuid.uuid4().hex[:6], partitions=PARTS)
        t = time.time()
        produce(k.bootstrap, topic)
        print(f"produced {N} records in {time.time() - t:.1f} s", flush=True)
        results = {}
        for side in ("weir-sink", "python-peer"):
            dbname = side.replace("-", "_")
            db.create_database(dbname)
            group = f"bench-{side}-{uuid.uuid4().hex[:6]}"
            if side == "weir-sink":
                spec = Path(f"/tmp/bench-sink-spec-{os.getpid()}.json")
                spec.write_text(json.dumps({
                    "name": "bench",
                    "input": {"topic": "unused", "schema": "weir.example.TrafficReading",
                              "key": "intersection_id"},
                    "sink": {"input": {"aggregates": topic, "alerts": topic + "-alerts"},
                             "dlq": topic + "-dlq",
                             "influx": {"measurement": "traffic", "tags": ["district"]},
                             "websocket": {"enabled": False}}}))
                env = dict(os.environ, PIPELINE_SPEC=str(spec), SCHEMA_DIR=str(REPO / "schemas"),
                           ADMIN_PORT="0", KAFKA_BOOTSTRAP_SERVERS=k.bootstrap,
                           KAFKA_GROUP_ID=group, INFLUX_URL=db.url, INFLUX_DB=dbname,
                           SINK_BATCH_POINTS="5000", LOG_LEVEL="warn")
                cmd = [str(BUILD / "bin" / "weir-sink")]
            else:
                env = dict(os.environ)
                cmd = [sys.executable, str(Path(__file__).with_name("peer.py")), k.bootstrap,
                       topic, group, db.url, dbname]
            wall, cpu, hwm = run(side, cmd, env, k.bootstrap, group, topic)
            count = db.query("SELECT count(count) FROM traffic", dbname)
            points = count[0]["count"] if count else 0
            assert points == N, f"{side}: {points} points in InfluxDB, expected {N}"
            results[side] = (wall, cpu, hwm)
            print(f"{side}: {N} records in {wall:.1f} s wall ({N / wall:,.0f} rec/s), "
                  f"{cpu:.2f} CPU-s ({cpu / N * 1e6:.2f} CPU-s per million), "
                  f"peak RSS {hwm / 1024:.1f} MiB; {points} points in InfluxDB", flush=True)
        w, p = results["weir-sink"], results["python-peer"]
        print(f"bench-sink ratio={(p[1] / N) / (w[1] / N):.1f} "
              f"weir_cpu_s_per_M={w[1] / N * 1e6:.2f} peer_cpu_s_per_M={p[1] / N * 1e6:.2f} "
              f"weir_wall_s={w[0]:.1f} peer_wall_s={p[0]:.1f} weir_rss_mib={w[2] / 1024:.1f} "
              f"peer_rss_mib={p[2] / 1024:.1f}")


if __name__ == "__main__":
    main()
