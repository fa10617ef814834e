#!/usr/bin/env python3
"""bench-enrichment: weir-enrichment against a raw kcat consume+produce of
the same records on the same broker, in CPU-seconds.

    python3 tests/bench/enrichment/bench.py [--records N] [--source file|kafka]

Starts its own Kafka broker (tests/harness/kafka.py), writes N weir.Aggregate
records (single-object framing, 1,000 keys) to one topic with one partition,
then:
  weir   weir-enrichment (WEIR_BUILD, default build/rel) joins them with a
         1,000-row reference table (a JSON file, or a compacted topic with
         --source kafka), exactly-once (transactions), until its group's
         committed offset reaches N; CPU = utime+stime from /proc/<pid>/stat
         at that moment (start-up and loading included, shutdown not);
  kcat   `kcat -C -e ... | kcat -P ...` copies the same records (key and
         value, byte for byte) to another topic; CPU = utime+stime of both
         processes (wait4 rusage: the kernel's same counters, read at exit).
Both outputs are counted.  Prints a table and, last,
    bench-enrichment ratio=<weir records per CPU-s / kcat records per CPU-s>
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "tests" / "harness"))

import fastavro  # noqa: E402
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition  # noqa: E402

import kafka as kafka_harness  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
KEYS = 1000
KDELIM, RDELIM = r"\x1fK\x1e", r"\x1eR\x1f\x1dE\x1c"


def no_logical(s):
    if isinstance(s, dict):
        return {k: no_logical(v) for k, v in s.items() if k != "logicalType"}
    if isinstance(s, list):
        return [no_logical(v) for v in s]
    return s


_parsed = {}


def so(raw, rec):
    key = json.dumps(raw, sort_keys=True)
    if key not in _parsed:
        _parsed[key] = (fastavro.parse_schema(no_logical(raw)), bytes.fromhex(
            fastavro.schema.fingerprint(fastavro.schema.to_parsing_canonical_form(raw),
                                        "CRC-64-AVRO")))
    parsed, fp = _parsed[key]
    b = io.BytesIO()
    fastavro.schemaless_writer(b, parsed, rec)
    return b"\xc3\x01" + fp + b.getvalue()


def aggregate(i, key):
    stats = {"name": "speed_kmh", "count": 60, "sum": 2400.5 + i, "min": 3.0, "max": 88.0,
             "mean": 40.0, "variance": 12.5, "stddev": 3.5, "first": None, "last": None,
             "p50": 39.0, "p90": 70.0, "p95": 80.0, "p99": 87.0, "zscore": None}
    return {"pipeline": "bench", "key": key, "window": "1m",
            "window_start": 1_700_000_000_000 + i * 60_000,
            "window_end": 1_700_000_060_000 + i * 60_000, "count": 60, "final": True,
            "emitted_at": 1_700_000_061_000 + i * 60_000,
            "fields": [stats, dict(stats, name="vehicle_count")]}


def cpu_of(pid):
    f = open(f"/proc/{pid}/stat").read()
    rest = f[f.rindex(")") + 2:].split()
    return (int(rest[11]) + int(rest[12])) / TICK


def rss_peak_kib(pid):
    m = re.search(r"VmHWM:\s+(\d+) kB", open(f"/proc/{pid}/status").read())
    return int(m.group(1)) if m else 0


def committed(c, topic):
    """The group's committed offset on partition 0, or -1 while the
    coordinator is not known yet (transient errors at start)."""
    try:
        return c.committed([TopicPartition(topic, 0)], timeout=10)[0].offset
    except KafkaException:
        return -1


def count(bootstrap, topic):
    """Records a read_committed reader sees on partition 0 (end offsets
    include transaction markers, so count by reading)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"count-{topic}-{time.time()}",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False,
                  "isolation.level": "read_committed", "enable.partition.eof": True})
    c.assign([TopicPartition(topic, 0, 0)])
    n = 0
    while True:
        msgs = c.consume(10000, 5.0)
        if not msgs:
            break
        eof = False
        for m in msgs:
            if m.error():
                eof = True
            else:
                n += 1
        if eof:
            break
    c.close()
    return n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=int(os.environ.get("BENCH_RECORDS", 200_000)))
    ap.add_argument("--source", choices=["file", "kafka"],
                    default=os.environ.get("BENCH_SOURCE", "file"))
    args = ap.parse_args()
    n = args.records
    build = REPO / os.environ.get("WEIR_BUILD", "build/rel")
    exe = build / "bin" / "weir-enrichment"
    if not exe.exists():
        sys.exit(f"bench-enrichment: {exe} not built")
    schemas = REPO / "schemas"
    agg_raw = json.load(open(schemas / "aggregate.avsc"))
    work = Path(tempfile.mkdtemp(prefix="weir-bench-enrich-"))
    with kafka_harness.Broker(heap="1g") as broker:
        bs = broker.bootstrap
        for t in ("in", "alerts", "out-weir", "out-alerts", "dlq", "out-kcat"):
            broker.create_topic(t, partitions=1)
        # Reference data: 1,000 keys, four attributes.
        rows = [{"id": f"x-{k}", "name": f"Street {k} & Avenue {k % 37}",
                 "district": f"District {k % 12}", "lat": 52.5 + k / 1e4, "lon": 13.4 + k / 1e4}
                for k in range(KEYS)]
        (work / "ref.json").write_text(json.dumps(rows))
        if args.source == "file":
            source = {"name": "ref", "type": "file", "path": "ref.json", "key_field": "id"}
        else:
            ref_schema = {"type": "record", "name": "Ref", "namespace": "weir.bench",
                          "fields": [{"name": f, "type": "string"} for f in ("name", "district")]
                          + [{"name": f, "type": "double"} for f in ("lat", "lon")]}
            broker.create_topic("ref", partitions=1, config={"cleanup.policy": "compact"})
            sdir = work / "schemas"
            sdir.mkdir()
            for f in schemas.glob("*.avsc"):
                (sdir / f.name).write_text(f.read_text())
            (sdir / "ref.avsc").write_text(json.dumps(ref_schema))
            p = Producer({"bootstrap.servers": bs})
            for r in rows:
                p.produce("ref", key=r["id"], value=so(ref_schema, {k: v for k, v in r.items()
                                                                    if k != "id"}))
            p.flush(60)
            schemas = sdir
            source = {"name": "ref", "type": "kafka", "topic": "ref"}
        spec = {"version": 1, "name": "bench",
                "input": {"topic": "readings", "schema": "weir.example.TrafficReading",
                          "key": "intersection_id"},
                "enrichment": {"sources": [source],
                               "input": {"aggregates": "in", "alerts": "alerts"},
                               "output": {"aggregates": "out-weir", "alerts": "out-alerts",
                                          "dlq": "dlq"}}}
        (work / "pipeline.json").write_text(json.dumps(spec))

        # The input: N records, one partition, encoded once per key.
        t0 = time.time()
        values = [so(agg_raw, aggregate(k, f"x-{k}")) for k in range(KEYS)]
        p = Producer({"bootstrap.servers": bs, "linger.ms": 50, "batch.num.messages": 10000,
                      "queue.buffering.max.messages": 1_000_000})
        for i in range(n):
            k = i % KEYS
            p.produce("in", key=f"x-{k}", value=values[k])
            if i % 100_000 == 0:
                p.poll(0)
        p.flush(120)
        print(f"produced {n} records in {time.time() - t0:.1f} s", file=sys.stderr)

        # weir-enrichment
        env = dict(os.environ, PIPELINE_SPEC=str(work / "pipeline.json"), SCHEMA_DIR=str(schemas),
                   ADMIN_BIND="127.0.0.1", ADMIN_PORT="0", KAFKA_BOOTSTRAP_SERVERS=bs,
                   LOG_LEVEL="warn")
        t0 = time.time()
        proc = subprocess.Popen([str(exe)], env=env, cwd=REPO, stdout=subprocess.DEVNULL,
                                stderr=open(work / "enrichment.log", "w"))
        perf = None
        if os.environ.get("BENCH_PERF"):  # a profile of weir's run, for finding hot spots
            perf = subprocess.Popen(["perf", "record", "-q", "-F", "999", "-g", "-p",
                                     str(proc.pid), "-o", os.environ["BENCH_PERF"]],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        weir_cpu = weir_rss = None
        deadline = time.time() + 600
        watch = Consumer({"bootstrap.servers": bs, "group.id": "weir-enrichment-bench",
                          "enable.auto.commit": False})
        while time.time() < deadline:
            if proc.poll() is not None:
                sys.exit(f"weir-enrichment exited {proc.returncode}: "
                         f"{(work / 'enrichment.log').read_text()[-2000:]}")
            if committed(watch, "in") >= n:
                weir_cpu, weir_rss = cpu_of(proc.pid), rss_peak_kib(proc.pid)
                break
            time.sleep(0.2)
        weir_wall = time.time() - t0
        watch.close()
        if perf:
            perf.send_signal(2)
            perf.wait(60)
        proc.terminate()
        proc.wait(60)
        if weir_cpu is None:
            sys.exit("weir-enrichment did not finish in 600 s")
        weir_out = count(bs, "out-weir")

        # kcat | kcat
        t0 = time.time()
        cons = subprocess.Popen(["kcat", "-C", "-b", bs, "-t", "in", "-p", "0", "-o", "beginning",
                                 "-e", "-q", "-f", f"%k{KDELIM}%s{RDELIM}"],
                                stdout=subprocess.PIPE)
        prod = subprocess.Popen(["kcat", "-P", "-b", bs, "-t", "out-kcat", "-p", "0",
                                 "-K", KDELIM, "-D", RDELIM], stdin=cons.stdout)
        cons.stdout.close()
        _, _, ru_c = os.wait4(cons.pid, 0)
        _, _, ru_p = os.wait4(prod.pid, 0)
        kcat_wall = time.time() - t0
        kcat_cpu = ru_c.ru_utime + ru_c.ru_stime + ru_p.ru_utime + ru_p.ru_stime
        kcat_rss = max(ru_c.ru_maxrss, ru_p.ru_maxrss)
        kcat_out = count(bs, "out-kcat")

    if weir_out != n or kcat_out != n:
        sys.exit(f"bench-enrichment: outputs incomplete: weir {weir_out}, kcat {kcat_out}, "
                 f"expected {n}")
    weir_rate, kcat_rate = n / weir_cpu, n / kcat_cpu
    print(f"records={n} source={args.source} build={build.relative_to(REPO)}")
    print(f"{'':6} {'cpu-s':>8} {'wall-s':>8} {'cpu-s/M':>9} {'rec/cpu-s':>11} {'peak-rss-MiB':>13}")
    for name, cpu, wall, rss in (("weir", weir_cpu, weir_wall, weir_rss),
                                 ("kcat", kcat_cpu, kcat_wall, kcat_rss)):
        print(f"{name:6} {cpu:8.2f} {wall:8.2f} {cpu / n * 1e6:9.2f} {n / cpu:11.0f} "
              f"{rss / 1024:13.1f}")
    print(f"bench-enrichment ratio={weir_rate / kcat_rate:.2f}")


if __name__ == "__main__":
    main()
