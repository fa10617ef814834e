#!/usr/bin/env python3
"""make bench-e2e: end-to-end latency against two yardsticks, memory and
start-up of the whole pipeline on one machine (tests/bench/bench-e2e.sh).

Set-up: a real Kafka broker (tests/harness/kafka.py), influxd
(tests/harness/influx.py), the four services as separate processes
(tests/integration/pipeline.py) with exactly-once on (the default) and their
default commit interval; a pipeline of BENCH_WINDOW_MS (100 ms) tumbling
windows, grace 0, over BENCH_KEYS intersections; weir-sim posting readings
stamped with the wall clock (--start-time now, --time-scale 1, paced) to
ingress on one connection, batches of up to max(100, rate/40) readings, a
partial batch sent after BENCH_SIM_LINGER (1 ms: why at SIM_LINGER below;
BENCH_SIM_BATCH overrides the batch).

- Latency: a WebSocket client subscribed to the sink's feed takes, for each
  aggregate, (arrival time - window_end).  With grace 0 a window closes on
  the first reading of its partition at or after window_end, so this is the
  time from the event time of the reading that completes a window to the
  sink handing its result to a subscriber: ingress, Kafka, compute's
  transaction, enrichment's transaction, the sink.
- Why 100 ms windows: each window's aggregates arrive together, so a p99
  over a row is close to its worst window; a 20 s row of 1 s windows had
  19 of them, one of 100 ms windows has ~190 per partition.
- Rounds: the highest rate runs BENCH_ROUNDS (3) rounds; every figure of
  the last line is the median of the rounds (min and max are printed too).
- Yardstick 1, the floors (floor.py, floor.c), in the same seconds as Weir:
  two exactly-once hops of bare clients (a transactional source at each
  window end, a consume-produce-commit relay, a read_committed reader), one
  on confluent-kafka's bundled librdkafka and one in C on the librdkafka
  Weir links.  floor_ratio = Weir p99 / the same-library floor's p99.
- Yardstick 2, Kafka Streams (kstreams.py): two Kafka Streams applications
  with the same topology (windowed aggregation, then a GlobalKTable join,
  exactly_once_v2) reading Weir's own input topic, at each
  KSTREAMS_COMMIT_MS ("100 10": the EOS default and a short one).
  kstreams_ratio = Weir p99 / Kafka Streams p99 at the better interval.
- At least once (PROCESSING_GUARANTEE in compute and enrichment) on a fresh
  pipeline, BENCH_ROUNDS rounds with floor.c at least once alongside:
  alo_floor_ratio.  And once with the fixed commit cadence (COMMIT_IDLE=off),
  to show what group commit buys.
- RSS: VmRSS of each service sampled every 0.5 s during the runs (max), its
  private part RssAnon (max), and VmHWM at the end.
- Start-to-ready: each service started three more times on the existing
  topics, exec to the first 200 on /readyz (polled every 5 ms); the median.
  compute's includes restoring its state from the changelog, which by then
  holds the whole run's closed windows (~0.85 records per key and 100 ms
  window of load: 136k-234k after this bench's rows on 6 Dec 2026, read
  in 0.2-0.5 s on the 2 shared cores) until the broker compacts it; each
  run's restored records and restore time are printed beside it.
- What is not measured: each yardstick's and Weir's own start-up.  Weir's
  services, the floors' clients and the Kafka Streams applications are
  started and past their first record (the floors: one through both hops,
  then 1 s more) before a row begins, and every row measures only window
  ends from BENCH_WARMUP seconds after its start on (arrivals of earlier
  window ends are dropped, for Weir and each yardstick alike).

Each row runs BENCH_WARMUP seconds before the measured BENCH_SECONDS.

Knobs: WEIR_BUILD (build/rel), BENCH_RATES ("5000 20000"), BENCH_SECONDS
(20 per row), BENCH_WARMUP (3), BENCH_KEYS (100), BENCH_WINDOW_MS (100),
BENCH_ROUNDS (3), KSTREAMS_COMMIT_MS ("100 10"), BENCH_JAVA_OPTS (-Xmx256m),
BENCH_SIM_LINGER (1ms), BENCH_SIM_BATCH (max(100, rate/40)).
Writes build/bench/e2e.json and prints one line per row and a last line:
    bench-e2e p50_ms=<n> p99_ms=<n> floor_ratio=<n> kstreams_ratio=<n> alo_floor_ratio=<n> total_rss_mb=<n> ready_ms_max=<n>
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
# Windows of 100 ms: a 20 s row then closes ~190 windows per partition, so
# its p99 is not just the run's single worst window (1 s windows gave 19).
WINDOW_MS = int(os.environ.get("BENCH_WINDOW_MS", "100"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
KSTREAMS_COMMIT_MS = [int(x) for x in os.environ.get("KSTREAMS_COMMIT_MS", "100 10").split()]

COMPUTE = {
    "windows": [{"name": f"{WINDOW_MS}ms", "type": "tumbling", "size": f"{WINDOW_MS}ms",
                 "grace": "0s"}],
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
        self.keep, self.rows, self.keyed = False, [], []  # (window_end, arrival) when keep
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
                    frame = await asyncio.wait_for(ws.recv(), 0.5)
                except asyncio.TimeoutError:
                    continue
                except websockets.ConnectionClosed:
                    return  # the pipeline stopped (its sink closed the feed)
                # The frame's arrival, before decoding it (~0.3 ms for a frame
                # of 100 aggregates), as floor.c stamps a record when polled.
                now = time.time() * 1000
                m = json.loads(frame)
                lo, hi = self.window
                for e in m.get("events", []):
                    if lo <= e["time"] <= hi:
                        self.lat.append(now - e["time"])
                        if self.keep:  # stages.py: per window end (and key)
                            self.rows.append((e["time"], now))
                            self.keyed.append((e["time"], e.get("key"), now))


# weir-sim posts on one blocking connection: a reading generated while a
# request is in flight waits for it, then for --linger (counted from when
# the backlog's first reading is added, i.e. after that request returned),
# then for its own request.  1 ms, as a producer tuned for latency would
# linger (ingress's own producer lingers 1 ms): the closing reading of a
# window is then posted at most ~1 ms after the request before it returns,
# instead of 5 ms (emit - window_end p50 16-17 ms instead of 20-23 in
# stages.py at 20k/s), and the batch still grows with the request's own
# duration, so ingress keeps up.  The batch cap itself is rarely reached:
# the linger sends first.  A smaller cap does not keep up on one
# connection: 100 readings (5 ms at 20k/s) gave 17,712 readings/s and 2 s
# of backlog, each request taking longer than 5 ms on this machine.
SIM_LINGER = os.environ.get("BENCH_SIM_LINGER", "1ms")


def sim_batch(rate):
    """Readings per HTTP request of weir-sim (BENCH_SIM_BATCH overrides)."""
    if os.environ.get("BENCH_SIM_BATCH"):
        return int(os.environ["BENCH_SIM_BATCH"])
    return max(100, rate // 40)


def load(p, feed, rate, rss):
    """weir-sim at `rate` for SECONDS through ingress; the latency row."""
    t0 = time.time() * 1000
    # Skip the warm-up and the last window (its closing reading may never
    # come).
    feed.window = (t0 + WARMUP * 1000, t0 + (WARMUP + SECONDS) * 1000 - WINDOW_MS)
    n0 = len(feed.lat)
    sim = subprocess.Popen(
        [str(p.build / "bin" / "weir-sim"), "--ingress", p.ingress_url,
         "--topic", p.topics["readings"], "--rate", str(rate),
         "--duration", f"{WARMUP + SECONDS:g}s", "--keys", str(KEYS),
         "--batch", str(sim_batch(rate)), "--linger", SIM_LINGER, "--start-time", "now",
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


def lat_stats(lat):
    return {"samples": len(lat), "p50_ms": round(pct(lat, 0.5), 1),
            "p99_ms": round(pct(lat, 0.99), 1), "max_ms": round(max(lat or [0]), 1)}


def floor_stats(f):
    both = f.stop()
    return dict(lat_stats(both), hop1_p50_ms=round(pct(f.lat1, 0.5), 1),
                hop1_p99_ms=round(pct(f.lat1, 0.99), 1), worst=f.worst(), errors=f.errors)


def load_with_floor(p, b, feed, rate, rss, mode="eos"):
    """load() with the bare-client floors' hops measured over the same seconds:
    eos, floor.py (confluent-kafka) and floor.c (Weir's librdkafka); alo,
    floor.c at least once."""
    # Off Weir's window ends (0) and each other's, so the bursts do not collide.
    fls = {"floor_c": FloorC(b, keys=KEYS, offset_ms=WINDOW_MS * 3 // 4, period_ms=WINDOW_MS,
                             mode=mode).start()}
    if mode == "eos":
        fls["floor"] = Floor(b, keys=KEYS, offset_ms=WINDOW_MS // 2, period_ms=WINDOW_MS).start()
    else:
        # Beside the target's floor, one with as many Kafka hops as Weir's
        # path (readings, aggregates, enriched aggregates): a second relay.
        # Reported, not a target: Weir's HTTP hop and WebSocket hop have
        # no counterpart in either.
        fls["floor_c3"] = FloorC(b, keys=KEYS, offset_ms=WINDOW_MS // 2, period_ms=WINDOW_MS,
                                 mode=mode, hops=3).start()
    # Measure only once each floor's records go all the way (its clients
    # joined), and its first (slow) transactions have passed.
    for f in fls.values():
        if not f.flowing.wait(60):
            f.errors.append("no record went through in 60 s")
    time.sleep(1)
    t0 = time.time() * 1000
    for f in fls.values():
        f.window = (t0 + WARMUP * 1000, t0 + (WARMUP + SECONDS) * 1000 - WINDOW_MS)
    r = load(p, feed, rate, rss)
    for key, f in fls.items():
        r[key] = floor_stats(f)
    return r


def load_with_kstreams(p, b, feed, rate, rss, commit_ms):
    """load() with the Kafka Streams peer reading the same input topic, so
    both are measured on the same readings in the same seconds."""
    ks = KStreamsPeer(b, p.topics["readings"], p.partitions, commit_ms=commit_ms,
                      java_opts=os.environ.get("BENCH_JAVA_OPTS", "-Xmx256m"),
                      window_ms=WINDOW_MS).start()
    cpu0 = ks.cpu_s()
    t0 = time.time() * 1000
    ks.window = (t0 + WARMUP * 1000, t0 + (WARMUP + SECONDS) * 1000 - WINDOW_MS)
    r = load(p, feed, rate, rss)
    cpu = ks.cpu_s() - cpu0
    lat = ks.stop()
    r["kstreams"] = dict(lat_stats(lat), commit_ms=commit_ms, cpu_s=round(cpu, 1),
                         errors=ks.errors)
    return r


def median(xs):
    xs = sorted(x for x in xs if x == x)  # NaN (no samples) left out
    return xs[len(xs) // 2] if xs else float("nan")


def spread(rows, get):
    """(median, min, max) of get(row) over the rounds."""
    v = [get(r) for r in rows]
    v = [x for x in v if x == x]
    return (median(v), min(v), max(v)) if v else (float("nan"),) * 3


def show(label, r):
    print(f"bench-e2e rate={label} samples={r['samples']} p50_ms={r['p50_ms']} "
          f"p99_ms={r['p99_ms']} max_ms={r['max_ms']} "
          f"influx_p99_ms(cumulative)={r['influx_p99_ms_cumulative']} | {r['sim']}", flush=True)


# The previous release's fixed cadence, for comparison in the same run.
FIXED = {"compute": {"COMMIT_IDLE": "off"}, "enrichment": {"COMMIT_IDLE": "off"}}
# The at-least-once mode SPEC §4 offers "for lower latency".
ALO = {"compute": {"PROCESSING_GUARANTEE": "at_least_once"},
       "enrichment": {"PROCESSING_GUARANTEE": "at_least_once"}}


def show_floor(label, f):
    print(f"bench-e2e {label} samples={f['samples']} p50_ms={f['p50_ms']} p99_ms={f['p99_ms']} "
          f"max_ms={f['max_ms']} hop1_p50_ms={f['hop1_p50_ms']} hop1_p99_ms={f['hop1_p99_ms']} "
          f"worst(s,hop1,both)={f.get('worst')} load={open('/proc/loadavg').read().split()[0]} "
          f"errors={f['errors'] or 'none'}", flush=True)


def summarise(out):
    """Medians over the rounds (with min and max) and the three ratios, each
    ratio taken within one row (the same seconds), then the median."""
    rounds, alo = out["rounds"], out["alo_rounds"]
    sm = {"rounds": len(rounds)}
    sm["p50_ms"] = spread(rounds, lambda r: r["p50_ms"])
    sm["p99_ms"] = spread(rounds, lambda r: r["p99_ms"])
    for k in ("floor", "floor_c"):
        sm[k + "_p99_ms"] = spread(rounds, lambda r, k=k: r[k]["p99_ms"])
    sm["floor_ratio"] = spread(rounds, lambda r: r["p99_ms"] / r["floor_c"]["p99_ms"]
                               if r["floor_c"]["samples"] else float("nan"))
    sm["floor_py_ratio"] = spread(rounds, lambda r: r["p99_ms"] / r["floor"]["p99_ms"]
                                  if r["floor"]["samples"] else float("nan"))
    # Kafka Streams: the commit interval with the lower median p99 is "the
    # better of the two"; Weir is compared with it, row by row.
    ks = {cms: spread(rows, lambda r: r["kstreams"]["p99_ms"])
          for cms, rows in out["kstreams"].items()}
    sm["kstreams_p99_ms"] = {str(c): v for c, v in ks.items()}
    best = min(ks, key=lambda c: ks[c][0] if ks[c][0] == ks[c][0] else float("inf")) if ks else None
    sm["kstreams_best_commit_ms"] = best
    sm["kstreams_ratio"] = spread(out["kstreams"].get(best, []),
                                  lambda r: r["p99_ms"] / r["kstreams"]["p99_ms"]
                                  if r["kstreams"]["samples"] else float("nan"))
    sm["alo_p99_ms"] = spread(alo, lambda r: r["p99_ms"])
    sm["alo_floor_p99_ms"] = spread(alo, lambda r: r["floor_c"]["p99_ms"])
    sm["alo_floor_ratio"] = spread(alo, lambda r: r["p99_ms"] / r["floor_c"]["p99_ms"]
                                   if r["floor_c"]["samples"] else float("nan"))
    c3 = [r for r in alo if r.get("floor_c3", {}).get("samples")]
    sm["alo_floor3_p99_ms"] = spread(c3, lambda r: r["floor_c3"]["p99_ms"])
    sm["alo_floor3_ratio"] = spread(c3, lambda r: r["p99_ms"] / r["floor_c3"]["p99_ms"])
    return sm


def main():
    out = {"window_ms": WINDOW_MS, "seconds": SECONDS, "rates": {}, "rounds": [], "floor": {},
           "kstreams": {c: [] for c in KSTREAMS_COMMIT_MS}, "fixed": {}, "alo": {},
           "alo_rounds": [], "rss_kb": {}, "hwm_kb": {}, "ready_ms": {}, "ready_ms_runs": {}}
    top_rate = max(RATES)
    with Broker() as b, Influx() as db:
        p = Pipeline(BUILD, b, tempfile.mkdtemp(prefix="bench-e2e-"), influx_url=db.url,
                     compute=COMPUTE, extra_env={"LOG_LEVEL": "warn"})
        db.create_database(p.influx_db)
        try:
            p.start()
            feed = Feed(p.ws_url)
            rss = {n: 0 for n in ORDER}
            for rate in RATES[:-1] if len(RATES) > 1 else []:
                out["rates"][rate] = r = load(p, feed, rate, rss)
                show(f"{rate}/s", r)
            # The highest rate: ROUNDS rounds, each a row with both floors
            # alongside and a row with Kafka Streams per commit interval.
            for n in range(ROUNDS):
                r = load_with_floor(p, b, feed, top_rate, rss)
                out["rounds"].append(r)
                show(f"{top_rate}/s(round {n + 1}, floors alongside)", r)
                show_floor(f"floor round={n + 1}", r["floor"])
                show_floor(f"floor-same-librdkafka round={n + 1}", r["floor_c"])
                for cms in KSTREAMS_COMMIT_MS:
                    r = load_with_kstreams(p, b, feed, top_rate, rss, cms)
                    out["kstreams"][cms].append(r)
                    show(f"{top_rate}/s(round {n + 1}, Kafka Streams alongside, "
                         f"commit.interval.ms={cms})", r)
                    k = r["kstreams"]
                    print(f"bench-e2e kstreams round={n + 1} commit_ms={cms} samples={k['samples']} "
                          f"p50_ms={k['p50_ms']} p99_ms={k['p99_ms']} max_ms={k['max_ms']} "
                          f"cpu_s={k['cpu_s']} errors={k['errors'] or 'none'}", flush=True)
            out["rates"][top_rate] = out["floor"][top_rate] = out["rounds"][0]
            feed.stop = True
            out["rss_kb"] = {n: rss[n] for n in ORDER}
            out["anon_kb"] = {n: rss[n + ".anon"] for n in ORDER}
            out["hwm_kb"] = {n: p.svc[n].rss_kb(peak=True) for n in ORDER}
            out["exit"] = p.stop()
            # Start-to-ready, each service alone on the existing topics,
            # three times (the median is reported, every run is kept).
            # compute is ready once it has restored its state from the
            # changelog, which holds a record per key and closed window
            # of the rows above until the broker compacts it: how many it
            # read and how long that took is kept beside each run.
            for n in ORDER:
                runs, restores = [], []
                for _ in range(3):
                    s = p.svc[n]
                    s.start()
                    runs.append(round(1000 * s.wait_ready(60, poll=0.005), 1))
                    if n == "compute":
                        m = s.metrics()
                        restores.append({
                            "records": int(sum(v for k, _, v in m
                                               if k == "weir_compute_restored_records_total")),
                            "ms": round(1000 * sum(v for k, _, v in m if k ==
                                                   "weir_compute_restore_duration_seconds_sum"),
                                        1)})
                    time.sleep(1)
                    out.setdefault("idle_rss_kb", {})[n] = s.rss_kb()  # ready, no load
                    s.stop()
                out["ready_ms_runs"][n] = runs
                out["ready_ms"][n] = sorted(runs)[1]
                if restores:
                    out["restore_runs"] = restores
        finally:
            p.stop(10)
        # Same load at the highest rate on fresh pipelines: with the fixed
        # cadence (no group commit), what the defaults buy, once; at least
        # once, what exactly-once costs, ROUNDS times against the
        # at-least-once floor.
        for key, env, label, rounds in (("fixed", FIXED, "COMMIT_IDLE=off", 1),
                                        ("alo", ALO, "PROCESSING_GUARANTEE=at_least_once",
                                         ROUNDS)):
            q = Pipeline(BUILD, b, tempfile.mkdtemp(prefix=f"bench-e2e-{key}-"),
                         influx_url=db.url, compute=COMPUTE, extra_env={"LOG_LEVEL": "warn"},
                         service_env=env)
            db.create_database(q.influx_db)
            try:
                q.start()
                feed = Feed(q.ws_url)
                for n in range(rounds):
                    if key == "alo":
                        r = load_with_floor(q, b, feed, top_rate, {n: 0 for n in ORDER}, "alo")
                        out["alo_rounds"].append(r)
                        show_floor(f"floor-same-librdkafka-alo round={n + 1}", r["floor_c"])
                        show_floor(f"floor-same-librdkafka-alo-3-hops round={n + 1}",
                                   r["floor_c3"])
                    else:
                        r = load(q, feed, top_rate, {n: 0 for n in ORDER})
                    out[key].setdefault(top_rate, r)
                    show(f"{top_rate}/s({label}, round {n + 1})", r)
                feed.stop = True
            finally:
                q.stop(10)
    out["summary"] = sm = summarise(out)
    Path(REPO / "build" / "bench").mkdir(parents=True, exist_ok=True)
    (REPO / "build" / "bench" / "e2e.json").write_text(json.dumps(out, indent=1))
    total = sum(out["rss_kb"].values()) / 1024
    for n in ORDER:
        print(f"bench-e2e service={n} rss_mb_max={out['rss_kb'][n] / 1024:.1f} "
              f"anon_mb_max={out['anon_kb'][n] / 1024:.1f} "
              f"hwm_mb={out['hwm_kb'][n] / 1024:.1f} ready_ms(3 runs)={out['ready_ms_runs'][n]}"
              + (f" restored(records, ms)={[(r['records'], r['ms']) for r in out['restore_runs']]}"
                 if n == "compute" and out.get("restore_runs") else ""))
    for k in ("p50_ms", "p99_ms", "floor_ratio", "kstreams_ratio", "alo_floor_ratio",
              "alo_floor3_ratio"):
        print(f"bench-e2e median-of-{sm['rounds']} {k}={sm[k][0]:.2f} (min {sm[k][1]:.2f}, "
              f"max {sm[k][2]:.2f})")
    print(f"bench-e2e p50_ms={sm['p50_ms'][0]} p99_ms={sm['p99_ms'][0]} "
          f"floor_ratio={sm['floor_ratio'][0]:.2f} kstreams_ratio={sm['kstreams_ratio'][0]:.2f} "
          f"alo_floor_ratio={sm['alo_floor_ratio'][0]:.2f} total_rss_mb={total:.1f} "
          f"ready_ms_max={max(out['ready_ms'].values())}")


if __name__ == "__main__":
    main()
