#!/usr/bin/env python3
"""make bench-e2e: end-to-end latency, memory and start-up of the whole
pipeline on one machine (tests/bench/bench-e2e.sh runs this).

Set-up: a real Kafka broker (tests/harness/kafka.py), influxd
(tests/harness/influx.py), the four services as separate processes
(tests/integration/pipeline.py) with exactly-once on (the default) and their
default commit interval; a pipeline of 1-second tumbling windows (grace 0)
over BENCH_KEYS intersections; weir-sim posting readings stamped with the
wall clock (--start-time now, --time-scale 1, paced) to ingress.

- Latency: a WebSocket client subscribed to the sink's feed takes, for each
  aggregate, (arrival time - window_end).  With grace 0 a window closes on
  the first reading of its partition at or after window_end, whose event
  time is window_end (at these rates, within a millisecond), so this is the
  time from the event time of the reading that completes a window to the
  sink handing its result to a subscriber — ingress, Kafka, compute's
  transaction, enrichment's transaction, the sink.  The sink's own
  histogram weir_sink_end_to_end_latency_seconds (window end to InfluxDB
  acknowledging the point, which includes the sink's batching,
  SINK_FLUSH_INTERVAL) is reported next to it.
- RSS: VmRSS of each service sampled every 0.5 s during the run (max), its
  private part RssAnon (max; the rest is file-backed: shared libraries,
  shared between the processes of a node), and VmHWM at the end.
- Start-to-ready: each service started three more times on the existing
  topics, exec to the first 200 on /readyz (polled every 5 ms); the median.
- The floor: the highest rate once more, with tests/bench/e2e/floor.py
  alongside: two exactly-once hops of bare confluent-kafka clients
  (a transactional source at each window end, half a window after Weir's,
  a consume-produce-commit relay, a read_committed reader) on the same
  broker under the same load.  Weir's figure crosses the same two
  transactions plus ingress, window close and the sink, so the floor's
  p99 is a lower bound on what any client could reach here.
- The same-library floor (floor.c, beside floor.py in the same row): the
  same three clients in C on the librdkafka Weir links, so a gap between
  Weir and it is Weir's, not the library's.  The last line's floor_ratio
  is Weir's p99 over this floor's p99, in the same seconds.
- Kafka Streams, end to end (kstreams.py): the highest rate once more for
  each KSTREAMS_COMMIT_MS ("100 10": its EOS default and a short one) with
  two Kafka Streams applications (the same windowed aggregation, then a
  GlobalKTable join, exactly_once_v2) reading Weir's own input topic, so
  both see the same readings in the same seconds; latency = window end to
  arrival at a read_committed reader of their enriched output.  The last
  line's kstreams_ratio is Weir's p99 over the better run's p99.
- Then the highest rate once more on a fresh pipeline with the previous
  release's fixed cadence (COMMIT_IDLE=off in compute and enrichment: a
  transaction always runs its full COMMIT_INTERVAL), to show in the same
  run what group commit buys.  (That release also held WebSocket frames
  100 ms; the sink now sends once its input drains, whatever SINK_WS_BATCH
  says, so that part can no longer be switched back.)  And once more with
  compute and enrichment at least once (PROCESSING_GUARANTEE), the mode the
  spec offers for lower latency: what exactly-once costs, same run.

Each rate runs BENCH_WARMUP seconds before the measured BENCH_SECONDS: the
first transactions of a freshly started producer take ~1 s (coordinator
and partition registration), a start-up cost, not the steady latency.
weir-sim posts batches of up to rate/40 readings and sends a partial one
after 5 ms (--linger), like a client that batches for throughput but not
for long.

Knobs: WEIR_BUILD (build/rel), BENCH_RATES ("5000 20000"), BENCH_SECONDS
(20 per rate), BENCH_WARMUP (3), BENCH_KEYS (100).  Writes build/bench/e2e.json and prints
one line per rate and a last line:
    bench-e2e p50_ms=<n> p99_ms=<n> rate=<r> floor_ratio=<n> kstreams_ratio=<n> total_rss_mb=<n> ready_ms_max=<n>
(p50/p99 at the highest rate).
"""

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
sys.path[:0] = [str(REPO / "tests" / "integration"), str(REPO / "tests" / "harness")]

import websockets  # noqa: E402

from influx import Influx  # noqa: E402
from kafka import Broker  # noqa: E402
from pipeline import ORDER, Pipeline, parse_metrics  # noqa: E402

from floor import Floor, FloorC  # noqa: E402
from kstreams import KStreamsPeer  # noqa: E402

BUILD = REPO / os.environ.get("WEIR_BUILD", "build/rel")
RATES = [int(x) for x in os.environ.get("BENCH_RATES", "5000 20000").split()]
SECONDS = float(os.environ.get("BENCH_SECONDS", "20"))
WARMUP = float(os.environ.get("BENCH_WARMUP", "3"))
KEYS = int(os.environ.get("BENCH_KEYS", "100"))

COMPUTE = {
    "windows": [{"name": "1s", "type": "tumbling", "size": "1s", "grace": "0s"}],
    "aggregates": [{"field": "speed_kmh", "ops": ["count", "mean", "max"]},
                   {"field": "vehicle_count", "ops": ["sum"]}],
    "rules": [{"name": "slow", "expr": "mean(speed_kmh) < 20 and count() >= 10"}],
}


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * (len(xs) - 1) + 0.5))] if xs else float("nan")


def hist_quantile(metrics, name, q):
    """Quantile of a Prometheus histogram (linear within the bucket)."""
    b = sorted((float(lb["le"]), v) for n, lb, v in metrics
               if n == name + "_bucket" and lb.get("le") not in (None, "+Inf"))
    total = sum(v for n, lb, v in metrics if n == name + "_count")
    if not total:
        return float("nan")
    rank, prev_le, prev_c = q * total, 0.0, 0.0
    for le, c in b:
        if c >= rank:
            return prev_le + (le - prev_le) * ((rank - prev_c) / max(c - prev_c, 1e-9))
        prev_le, prev_c = le, c
    return float("inf")


class Feed:
    def __init__(self, url):
        self.lat, self.stop, self.ok = [], False, threading.Event()
        self.window = (0, float("inf"))  # window_end range that counts
        threading.Thread(target=lambda: asyncio.run(self.run(url)), daemon=True).start()
        assert self.ok.wait(30), "no WebSocket subscription"

    async def run(self, url):
        async with websockets.connect(url, max_size=None, ping_interval=5,
                                      ping_timeout=30) as ws:
            await ws.send(json.dumps({"subscribe": {"kinds": ["aggregate"]}}))
            await ws.recv()
            self.ok.set()
            while not self.stop:
                try:
                    m = json.loads(await asyncio.wait_for(ws.recv(), 0.5))
                except asyncio.TimeoutError:
                    continue
                now = time.time() * 1000
                lo, hi = self.window
                for e in m.get("events", []):
                    if lo <= e["time"] <= hi:
                        self.lat.append(now - e["time"])


def load(p, feed, rate, rss):
    """weir-sim at `rate` for SECONDS through ingress; the latency row."""
    t0 = time.time() * 1000
    # Skip the warm-up and the last window (its closing reading may never
    # come).
    feed.window = (t0 + WARMUP * 1000, t0 + (WARMUP + SECONDS) * 1000 - 1000)
    n0 = len(feed.lat)
    sim = subprocess.Popen(
        [str(BUILD / "bin" / "weir-sim"), "--ingress", p.ingress_url,
         "--topic", p.topics["readings"], "--rate", str(rate),
         "--duration", f"{WARMUP + SECONDS:g}s", "--keys", str(KEYS),
         "--batch", str(max(100, rate // 40)), "--linger", "5ms", "--start-time", "now",
         "--progress", "0", "--seed", str(rate)],
        env=p.svc["ingress"].env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while sim.poll() is None:
        for n in ORDER:
            rss[n] = max(rss[n], p.svc[n].rss_kb())
            # Private memory; the rest of RSS is file-backed pages (the
            # shared libraries), which the four processes share on a node.
            rss[n + ".anon"] = max(rss.get(n + ".anon", 0), p.svc[n].rss_kb(key="RssAnon:"))
        time.sleep(0.5)
    summary = [x for x in sim.stdout.read().splitlines() if x.startswith("sim ")]
    time.sleep(3)  # the last windows drain
    lat = feed.lat[n0:]
    m = p.svc["sink"].metrics()
    return {"samples": len(lat), "p50_ms": round(pct(lat, 0.5), 1),
            "p99_ms": round(pct(lat, 0.99), 1), "max_ms": round(max(lat or [0]), 1),
            "sim": summary[-1] if summary else sim.stderr.read()[-300:],
            "influx_p50_ms_cumulative": round(1000 * hist_quantile(
                m, "weir_sink_end_to_end_latency_seconds", 0.5), 1),
            "influx_p99_ms_cumulative": round(1000 * hist_quantile(
                m, "weir_sink_end_to_end_latency_seconds", 0.99), 1)}


def load_with_floor(p, b, feed, rate, rss):
    """load() with floor.py's bare-client hops measured over the same seconds."""
    # Both floors at once, a quarter of a window apart and off Weir's
    # window ends, so the three bursts do not collide.
    fl = Floor(b, keys=KEYS, offset_ms=500).start()
    fc = FloorC(b, keys=KEYS, offset_ms=750).start()
    time.sleep(2)  # their clients join, their first (slow) transactions pass
    t0 = time.time() * 1000
    fl.window = fc.window = (t0 + WARMUP * 1000, t0 + (WARMUP + SECONDS) * 1000 - 1000)
    r = load(p, feed, rate, rss)
    for key, f in (("floor", fl), ("floor_c", fc)):
        both = f.stop()
        r[key] = {"samples": len(both), "p50_ms": round(pct(both, 0.5), 1),
                  "p99_ms": round(pct(both, 0.99), 1), "max_ms": round(max(both or [0]), 1),
                  "hop1_p50_ms": round(pct(f.lat1, 0.5), 1),
                  "hop1_p99_ms": round(pct(f.lat1, 0.99), 1), "errors": f.errors}
    return r


def load_with_kstreams(p, b, feed, rate, rss, commit_ms):
    """load() with the Kafka Streams peer reading the same input topic, so
    both are measured on the same readings in the same seconds."""
    ks = KStreamsPeer(b, p.topics["readings"], p.partitions, commit_ms=commit_ms,
                      java_opts=os.environ.get("BENCH_JAVA_OPTS", "-Xmx256m")).start()
    cpu0 = ks.cpu_s()
    t0 = time.time() * 1000
    ks.window = (t0 + WARMUP * 1000, t0 + (WARMUP + SECONDS) * 1000 - 1000)
    r = load(p, feed, rate, rss)
    cpu = ks.cpu_s() - cpu0
    lat = ks.stop()
    r["kstreams"] = {"commit_ms": commit_ms, "samples": len(lat),
                     "p50_ms": round(pct(lat, 0.5), 1), "p99_ms": round(pct(lat, 0.99), 1),
                     "max_ms": round(max(lat or [0]), 1), "cpu_s": round(cpu, 1),
                     "errors": ks.errors}
    return r


def show(label, r):
    print(f"bench-e2e rate={label} samples={r['samples']} p50_ms={r['p50_ms']} "
          f"p99_ms={r['p99_ms']} max_ms={r['max_ms']} "
          f"influx_p99_ms(cumulative)={r['influx_p99_ms_cumulative']} | {r['sim']}", flush=True)


# The previous release's fixed cadence, for comparison in the same run.
FIXED = {"compute": {"COMMIT_IDLE": "off"}, "enrichment": {"COMMIT_IDLE": "off"}}
# The at-least-once mode SPEC §4 offers "for lower latency".
ALO = {"compute": {"PROCESSING_GUARANTEE": "at_least_once"},
       "enrichment": {"PROCESSING_GUARANTEE": "at_least_once"}}


def main():
    out = {"rates": {}, "floor": {}, "kstreams": {}, "fixed": {}, "alo": {}, "rss_kb": {}, "hwm_kb": {}, "ready_ms": {},
           "ready_ms_runs": {}}
    with Broker() as b, Influx() as db:
        p = Pipeline(BUILD, b, tempfile.mkdtemp(prefix="bench-e2e-"), influx_url=db.url,
                     compute=COMPUTE, extra_env={"LOG_LEVEL": "warn"})
        db.create_database(p.influx_db)
        try:
            p.start()
            feed = Feed(p.ws_url)
            rss = {n: 0 for n in ORDER}
            for rate in RATES:
                out["rates"][rate] = r = load(p, feed, rate, rss)
                show(f"{rate}/s", r)
            rate = max(RATES)
            out["floor"][rate] = r = load_with_floor(p, b, feed, rate, rss)
            show(f"{rate}/s(with the floor alongside)", r)
            for key, name in (("floor", "floor"), ("floor_c", "floor-same-librdkafka")):
                f = r[key]
                print(f"bench-e2e {name} rate={rate}/s samples={f['samples']} "
                      f"p50_ms={f['p50_ms']} p99_ms={f['p99_ms']} max_ms={f['max_ms']} "
                      f"hop1_p50_ms={f['hop1_p50_ms']} hop1_p99_ms={f['hop1_p99_ms']} "
                      f"errors={f['errors'] or 'none'}", flush=True)
            # Kafka Streams on the same readings: at its EOS default commit
            # interval and at a short one (KSTREAMS_COMMIT_MS).
            for cms in [int(x) for x in os.environ.get("KSTREAMS_COMMIT_MS", "100 10").split()]:
                out["kstreams"][cms] = r = load_with_kstreams(p, b, feed, rate, rss, cms)
                show(f"{rate}/s(with Kafka Streams alongside, commit.interval.ms={cms})", r)
                k = r["kstreams"]
                print(f"bench-e2e kstreams commit_ms={cms} rate={rate}/s samples={k['samples']} "
                      f"p50_ms={k['p50_ms']} p99_ms={k['p99_ms']} max_ms={k['max_ms']} "
                      f"cpu_s={k['cpu_s']} errors={k['errors'] or 'none'}", flush=True)
            feed.stop = True
            out["rss_kb"] = {n: rss[n] for n in ORDER}
            out["anon_kb"] = {n: rss[n + ".anon"] for n in ORDER}
            out["hwm_kb"] = {n: p.svc[n].rss_kb(peak=True) for n in ORDER}
            out["exit"] = p.stop()
            # Start-to-ready, each service alone on the existing topics,
            # three times (the median is reported, every run is kept).
            for n in ORDER:
                runs = []
                for _ in range(3):
                    s = p.svc[n]
                    s.start()
                    runs.append(round(1000 * s.wait_ready(60, poll=0.005), 1))
                    time.sleep(1)
                    out.setdefault("idle_rss_kb", {})[n] = s.rss_kb()  # ready, no load
                    s.stop()
                out["ready_ms_runs"][n] = runs
                out["ready_ms"][n] = sorted(runs)[1]
        finally:
            p.stop(10)
        # Same load at the highest rate on fresh pipelines: with the fixed
        # cadence (no group commit), what the defaults buy; at least once,
        # what exactly-once costs.
        for key, env, label in (("fixed", FIXED, "COMMIT_IDLE=off"),
                                ("alo", ALO, "PROCESSING_GUARANTEE=at_least_once")):
            q = Pipeline(BUILD, b, tempfile.mkdtemp(prefix=f"bench-e2e-{key}-"),
                         influx_url=db.url, compute=COMPUTE, extra_env={"LOG_LEVEL": "warn"},
                         service_env=env)
            db.create_database(q.influx_db)
            try:
                q.start()
                feed = Feed(q.ws_url)
                rate = max(RATES)
                out[key][rate] = r = load(q, feed, rate, {n: 0 for n in ORDER})
                feed.stop = True
                show(f"{rate}/s({label})", r)
            finally:
                q.stop(10)
    Path(REPO / "build" / "bench").mkdir(parents=True, exist_ok=True)
    (REPO / "build" / "bench" / "e2e.json").write_text(json.dumps(out, indent=1))
    total = sum(out["rss_kb"].values()) / 1024
    for n in ORDER:
        print(f"bench-e2e service={n} rss_mb_max={out['rss_kb'][n] / 1024:.1f} "
              f"anon_mb_max={out['anon_kb'][n] / 1024:.1f} "
              f"hwm_mb={out['hwm_kb'][n] / 1024:.1f} ready_ms(3 runs)={out['ready_ms_runs'][n]}")
    top = out["rates"][max(RATES)]
    # floor_ratio: Weir's p99 over the same-library floor's, both measured in
    # the same seconds (the floor row), so the broker's swings cancel out.
    fr = out["floor"][max(RATES)]
    ratio = fr["p99_ms"] / fr["floor_c"]["p99_ms"] if fr["floor_c"]["samples"] else float("nan")
    # kstreams_ratio: Weir's p99 over the better Kafka Streams run's p99,
    # each pair measured in the same seconds.
    ks = [r for r in out["kstreams"].values() if r["kstreams"]["samples"]]
    best = min(ks, key=lambda r: r["kstreams"]["p99_ms"]) if ks else None
    kratio = best["p99_ms"] / best["kstreams"]["p99_ms"] if best else float("nan")
    print(f"bench-e2e p50_ms={top['p50_ms']} p99_ms={top['p99_ms']} rate={max(RATES)} "
          f"floor_ratio={ratio:.2f} kstreams_ratio={kratio:.2f} total_rss_mb={total:.1f} "
          f"ready_ms_max={max(out['ready_ms'].values())}")


if __name__ == "__main__":
    main()
