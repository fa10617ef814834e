#!/usr/bin/env python3
"""What tracing costs weir-ingress (tests/bench/bench-otel.sh): the same
load as bench-ingress (1000-event JSON batches over keep-alive HTTP, the
load generator of tests/bench/ingress) against weir-ingress with tracing
off, then on (OTLP/HTTP to a real Jaeger v2, parentbased_traceidratio at
OTEL_TRACES_SAMPLER_ARG, default 0.01), alternating off/on/off/on in one
run so drift of a shared machine hits both alike.  Requests carry no
`traceparent`, so ingress takes the root sampling decision.

Prints a table and, last, `bench-otel cpu_ratio=<on/off> rate_ratio=<on/off>`
(events per CPU-second and events per second, tracing on over off).
Knobs: WEIR_BUILD (build/rel), BENCH_SECONDS (10 per run), BENCH_CONNS (4),
BENCH_ROUNDS (2), OTEL_TRACES_SAMPLER_ARG (0.01)."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "tests" / "harness"))
sys.path.insert(0, str(REPO / "tests" / "bench" / "ingress"))
import bench as igb  # noqa: E402  (tests/bench/ingress/bench.py: events, cpu_s, free_port)
import kafka  # noqa: E402
from jaeger import Jaeger  # noqa: E402

BUILD = REPO / os.environ.get("WEIR_BUILD", "build/rel")
SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
CONNS = int(os.environ.get("BENCH_CONNS", "4"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "2"))
RATIO = os.environ.get("OTEL_TRACES_SAMPLER_ARG", "0.01")


def main():
    work = BUILD / "bench-otel"
    work.mkdir(parents=True, exist_ok=True)
    load = work / "ig_load"
    subprocess.run(["cc", "-O2", "-o", str(load), str(REPO / "tests/bench/ingress/load.c"),
                    "-lpthread"], check=True)
    body = work / "batch.json"
    body.write_text(json.dumps({"records": [{"value": e} for e in igb.events()]}))
    spec = json.loads((REPO / "docs/examples/traffic-pipeline.json").read_text())
    spec["input"]["topic"] = "bench.otel"
    (work / "spec.json").write_text(json.dumps(spec))
    res = {"off": [], "on": []}
    broker = kafka.Broker()
    broker.start()
    try:
        broker.create_topic("bench.otel", partitions=igb.PARTS)
        with Jaeger() as j:
            for _ in range(ROUNDS):
                for mode in ("off", "on"):
                    res[mode].append(run(work, load, body, broker, j, mode))
    finally:
        broker.close()
    print()
    print("| tracing | run | events | wall s | events/s | CPU s | events per CPU-s | spans exported |")
    print("|---|---|---|---|---|---|---|---|")
    for mode in ("off", "on"):
        for i, r in enumerate(res[mode]):
            print(f"| {mode} | {i + 1} | {r['events']} | {r['secs']:.1f} | {r['events'] / r['secs']:,.0f} "
                  f"| {r['cpu']:.2f} | {r['events'] / r['cpu']:,.0f} | {r['spans']:.0f} |")

    def tot(mode, k):
        return sum(r[k] for r in res[mode])
    cpu_ratio = (tot("on", "events") / tot("on", "cpu")) / (tot("off", "events") / tot("off", "cpu"))
    rate_ratio = (tot("on", "events") / tot("on", "secs")) / (tot("off", "events") / tot("off", "secs"))
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; "
          f"sample ratio {RATIO}")
    print(f"bench-otel cpu_ratio={cpu_ratio:.3f} rate_ratio={rate_ratio:.3f}")


def run(work, load, body, broker, j, mode):
    port, admin = igb.free_port(), igb.free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(PIPELINE_SPEC=str(work / "spec.json"), SCHEMA_DIR=str(REPO / "schemas"),
               KAFKA_BOOTSTRAP_SERVERS=broker.bootstrap, HTTP_BIND="127.0.0.1",
               HTTP_PORT=str(port), ADMIN_BIND="127.0.0.1", ADMIN_PORT=str(admin),
               INGRESS_THREADS=igb.THREADS, LOG_LEVEL="warn")
    if mode == "on":
        env.update(OTEL_EXPORTER_OTLP_ENDPOINT=j.otlp_endpoint, OTEL_TRACES_SAMPLER_ARG=RATIO,
                   OTEL_BSP_SCHEDULE_DELAY="1000")
    ig = subprocess.Popen([str(BUILD / "bin/weir-ingress")], env=env,
                          stderr=open(work / f"ingress-{mode}.log", "a"))
    try:
        deadline = time.time() + 60
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{admin}/readyz", timeout=2).ok:
                    break
            except requests.RequestException:
                pass
            if time.time() > deadline or ig.poll() is not None:
                sys.exit(f"bench-otel: ingress not ready; see {work}/ingress-{mode}.log")
            time.sleep(0.2)

        def go(secs):
            out = subprocess.run([str(load), "127.0.0.1", str(port), "/topics/bench.otel",
                                  "application/vnd.kafka.json.v2+json", str(body), str(CONNS),
                                  str(secs), "0"], capture_output=True, text=True,
                                 check=True).stdout
            return dict(kv.split("=") for kv in out.split())
        go(3)  # warm-up
        c0 = igb.cpu_s(ig.pid)
        r = go(SECONDS)
        cpu = igb.cpu_s(ig.pid) - c0
        if int(r["errors"]):
            sys.exit(f"bench-otel: load run had errors: {r}")
        time.sleep(1.2)  # one export interval
        m = requests.get(f"http://127.0.0.1:{admin}/metrics", timeout=5).text
        spans = sum(float(line.split()[-1]) for line in m.splitlines()
                    if line.startswith("weir_ingress_spans_exported_total"))
        return {"events": int(r["ok"]) * 1000, "secs": float(r["seconds"]), "cpu": cpu,
                "spans": spans}
    finally:
        ig.terminate()
        ig.wait(60)


if __name__ == "__main__":
    main()
