#!/usr/bin/env python3
"""The ingress benchmark (make bench-ingress; tests/bench/bench-ingress.sh).

One private broker, two topics with the same partitions:
  1. weir-ingress takes 1000-event JSON batches (REST Proxy v2 json format)
     from a C load client over keep-alive connections for BENCH_SECONDS;
     ingress CPU-seconds come from /proc/<pid>/stat (utime+stime) around the
     run, events/s from the 200 answers;
  2. kcat produces the same number of events as the same Avro bytes
     (single-object framing, key = intersection_id, pre-encoded with fastavro
     into a file) with the same producer settings (idempotent, acks=all,
     linger.ms=1, lz4, batch.num.messages=1000); its CPU-seconds from rusage;
  3. latency: BENCH_RATE requests/s of the same batches for BENCH_LAT_SECONDS,
     p50/p99 from the client.
Prints a table and, last, `bench-ingress ratio=<r> p99_ms=<n>` where r =
(ingress events per CPU-second) / (kcat events per CPU-second)."""

import io
import json
import os
import random
import resource
import struct
import subprocess
import sys
import time
from pathlib import Path

import fastavro
import requests
from fastavro.schema import fingerprint, to_parsing_canonical_form

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "tests" / "harness"))
import kafka  # noqa: E402

BUILD = REPO / os.environ.get("WEIR_BUILD", "build/rel")
SECONDS = int(os.environ.get("BENCH_SECONDS", "15"))
CONNS = int(os.environ.get("BENCH_CONNS", "4"))
RATE = float(os.environ.get("BENCH_RATE", "20"))
LAT_SECONDS = int(os.environ.get("BENCH_LAT_SECONDS", "10"))
THREADS = os.environ.get("INGRESS_THREADS", "2")
PARTS = 3
PRODUCER = {"enable.idempotence": "true", "acks": "all", "linger.ms": "1",
            "compression.type": "lz4", "batch.num.messages": "1000"}
TICK = os.sysconf("SC_CLK_TCK")


from ports import free_port  # noqa: E402  (tests/harness/ports.py: why not bind(0))


def cpu_s(pid):
    f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / TICK


def events():
    """1000 readings whose Avro encoding leaves one byte value unused (the
    kcat message delimiter): speeds and occupancy on a 0.5 grid."""
    rnd = random.Random(42)
    return [{"sensor_id": f"s-{i % 50}", "intersection_id": f"int-{i % 200}",
             "ts": 1700000000000 + i * 100, "speed_kmh": rnd.randrange(10, 180) / 2,
             "vehicle_count": rnd.randrange(0, 30), "occupancy_pct": rnd.randrange(0, 200) / 2,
             "lane": None if i % 3 else i % 4} for i in range(1000)]


def encode(evs):
    schema = fastavro.parse_schema(json.loads((REPO / "schemas/traffic_reading.avsc").read_text()))
    head = b"\xc3\x01" + bytes.fromhex(fingerprint(to_parsing_canonical_form(schema),
                                                   "CRC-64-AVRO"))
    out = []
    for e in evs:
        b = io.BytesIO()
        fastavro.schemaless_writer(b, schema, e)
        out.append((e["intersection_id"].encode(), head + b.getvalue()))
    return out


def main():
    work = BUILD / "bench-ingress"
    work.mkdir(parents=True, exist_ok=True)
    load = work / "ig_load"
    subprocess.run(["cc", "-O2", "-o", str(load), str(REPO / "tests/bench/ingress/load.c"),
                    "-lpthread"], check=True)
    evs = events()
    body = work / "batch.json"
    body.write_text(json.dumps({"records": [{"value": e} for e in evs]}))
    recs = encode(evs)
    used = set()
    for k, v in recs:
        used.update(k)
        used.update(v)
    free = [b for b in range(1, 256) if b not in used and b != ord("\t")]
    if not free:
        sys.exit("bench-ingress: no byte value free for the kcat delimiter")
    delim = free[-1]
    print(f"body: {body.stat().st_size} bytes, 1000 events; Avro {sum(len(v) for _, v in recs)} "
          f"bytes; kcat delimiter 0x{delim:02x}", flush=True)

    broker = kafka.Broker()
    broker.start()
    ig = None
    try:
        broker.create_topic("bench.ingress", partitions=PARTS)
        broker.create_topic("bench.kcat", partitions=PARTS)
        spec = json.loads((REPO / "docs/examples/traffic-pipeline.json").read_text())
        spec["input"]["topic"] = "bench.ingress"
        (work / "spec.json").write_text(json.dumps(spec))
        port, admin = free_port(), free_port()
        env = dict(os.environ, PIPELINE_SPEC=str(work / "spec.json"),
                   SCHEMA_DIR=str(REPO / "schemas"), KAFKA_BOOTSTRAP_SERVERS=broker.bootstrap,
                   HTTP_BIND="127.0.0.1", HTTP_PORT=str(port), ADMIN_BIND="127.0.0.1",
                   ADMIN_PORT=str(admin), INGRESS_THREADS=THREADS, LOG_LEVEL="warn")
        ig = subprocess.Popen([str(BUILD / "bin/weir-ingress")], env=env,
                              stderr=open(work / "ingress.log", "w"))
        deadline = time.time() + 60
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{admin}/readyz", timeout=2).ok:
                    break
            except requests.RequestException:
                pass
            if time.time() > deadline or ig.poll() is not None:
                sys.exit("bench-ingress: ingress not ready; see " + str(work / "ingress.log"))
            time.sleep(0.2)

        def run_load(secs, rate, conns):
            out = subprocess.run([str(load), "127.0.0.1", str(port), "/topics/bench.ingress",
                                  "application/vnd.kafka.json.v2+json", str(body), str(conns),
                                  str(secs), str(rate)], capture_output=True, text=True,
                                 check=True).stdout
            return dict(kv.split("=") for kv in out.split())

        run_load(5, 0, CONNS)  # warm-up: connections, buffers, the broker's JIT
        c0 = cpu_s(ig.pid)
        r = run_load(SECONDS, 0, CONNS)
        ig_cpu = cpu_s(ig.pid) - c0
        ig_events = int(r["ok"]) * 1000
        ig_secs = float(r["seconds"])
        if int(r["errors"]) or ig_events == 0:
            sys.exit(f"bench-ingress: load run had errors: {r}")
        rss_kb = next(int(line.split()[1]) for line in
                      Path(f"/proc/{ig.pid}/status").read_text().splitlines()
                      if line.startswith("VmHWM"))

        # kcat: the same number of events, the same Avro bytes
        n = ig_events
        blob = bytearray()
        for i in range(n):
            k, v = recs[i % 1000]
            blob += k + b"\t" + v + bytes([delim])
        (work / "kcat.in").write_bytes(bytes(blob))
        cmd = ["kcat", "-P", "-b", broker.bootstrap, "-t", "bench.kcat", "-K", "\\t",
               "-D", f"\\x{delim:02x}", "-l", str(work / "kcat.in")]
        for k, v in PRODUCER.items():
            cmd += ["-X", f"{k}={v}"]
        # warm-up pass on its own topic, so both are measured on a warm broker
        warm = cmd[:cmd.index("-t") + 1] + ["bench.kcat.warm"] + cmd[cmd.index("-t") + 2:]
        warm += ["-c", str(min(n, 300000))]
        broker.create_topic("bench.kcat.warm", partitions=PARTS)
        subprocess.run(warm, check=True)
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.time()
        subprocess.run(cmd, check=True)
        kc_secs = time.time() - t0
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        kc_cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
        from confluent_kafka import Consumer, TopicPartition
        c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "bench"})
        written = sum(c.get_watermark_offsets(TopicPartition("bench.kcat", p), timeout=10)[1]
                      for p in range(PARTS))
        c.close()
        if written != n:
            sys.exit(f"bench-ingress: kcat wrote {written} records, expected {n}")

        lat = run_load(LAT_SECONDS, RATE, 2)
        ig.terminate()
        rc = ig.wait(60)
        ig = None
        if rc != 0:
            sys.exit(f"bench-ingress: ingress exited {rc} on SIGTERM")
    finally:
        if ig is not None:
            ig.kill()
            ig.wait()
        broker.close()

    ig_rate, kc_rate = ig_events / ig_cpu, n / kc_cpu
    print()
    print("| producer | events | wall s | events/s | CPU s | events per CPU-s | "
          "CPU s per 1M events |")
    print("|---|---|---|---|---|---|---|")
    print(f"| weir-ingress (HTTP JSON, {CONNS} keep-alive conns, {THREADS} threads) | {ig_events} "
          f"| {ig_secs:.1f} | {ig_events / ig_secs:,.0f} | {ig_cpu:.2f} | {ig_rate:,.0f} "
          f"| {1e6 / ig_rate:.2f} |")
    print(f"| kcat -P (same Avro bytes) | {n} | {kc_secs:.1f} | {n / kc_secs:,.0f} | {kc_cpu:.2f} "
          f"| {kc_rate:,.0f} | {1e6 / kc_rate:.2f} |")
    print()
    print(f"ingress peak RSS: {rss_kb / 1024:.0f} MiB; load average during the run: "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"latency at {RATE:g} req/s ({RATE * 1000:,.0f} events/s), 2 conns, {LAT_SECONDS} s: "
          f"p50 {lat['p50_ms']} ms, p99 {lat['p99_ms']} ms, max {lat['max_ms']} ms, "
          f"{lat['ok']} ok / {lat['errors']} errors")
    print(f"bench-ingress ratio={ig_rate / kc_rate:.2f} p99_ms={lat['p99_ms']}")


if __name__ == "__main__":
    main()
