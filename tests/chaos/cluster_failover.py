#!/usr/bin/env python3
"""Broker failures on the secured three-node cluster under a steady load
through ingress, exactly-once kept.

    cluster_failover.py leader_kill   kill -9 the broker leading the input
                                      topic's partition 0, back after 10 s
    cluster_failover.py coord_kill    kill -9 compute's transaction
                                      coordinator, back after 10 s
    cluster_failover.py rolling       SIGTERM + start each broker in turn,
                                      waiting for full replication between
                                      (as a Kubernetes operator rolls them)
    cluster_failover.py pause         SIGSTOP the input leader for 12 s
                                      (> replica.lag.time.max.ms 5 s), SIGCONT
    (--short: the same with a shorter load)

The cluster is tests/harness/kafka_cluster.py's (RF 3, min ISR 2, SASL_SSL
SCRAM-SHA-512 and mTLS, ACLs): the services run as their own principals with
exactly docs/security.md's ACLs, enrichment over mTLS.  The load is posted
here, sequentially, 200 readings/s in batches of 20, to ingress's REST
endpoint; event time runs 60x wall time (a one-minute window closes every
second).  The reference is computed here from what ingress acknowledged
with a 2xx: per (intersection, window) the number of readings.  A
read_committed consumer of the enriched aggregates (end of the Kafka part of
the pipeline) must see exactly those windows with exactly those counts,
each once (readings of a batch that got no 2xx may or may not be counted;
the verdict says how many there were).

Figures in the verdict: the longest gap between two consecutive outputs
from the fault to the end of the load (the stall), and the end-to-end
latency of windows, from the wall time their closing reading was due to be
posted (window end + grace in event time) to the consumer seeing them:
the largest during the fault and recovery, and the median before it.
"""
from __future__ import annotations

import http.client
import json
import re
import statistics
import sys
import tempfile
import threading
import time

from lib import (BUILD, EAGG, FAST_REJOIN, SHORT, Supervisor, check, decode, run)  # noqa: I100
from confluent_kafka import Consumer, TopicPartition
from kafka_cluster import Cluster
from pipeline import Pipeline
from security_doc import documented_acls

SCENARIO = next((a for a in sys.argv[1:] if not a.startswith("-")), "leader_kill")
SCALE = 60            # event ms per wall ms
RATE, BATCH = 200, 20
KEYS = [f"x-{i}" for i in range(12)]
SIZE, GRACE = 60_000, 10_000
T0 = 1_795_000_000_000 - 1_795_000_000_000 % SIZE   # event time at load start
VIA = {"ingress": "scram", "compute": "scram", "enrichment": "mtls", "sink": "scram"}


class Load:
    """Posts readings to ingress in one thread, sequentially (a client
    that waits for its answer): event time = T0 + (now - start) * SCALE."""

    def __init__(self, p: Pipeline):
        self.p, self.acked, self.failed, self.errors = p, [], 0, []
        self.stop_ev = threading.Event()
        self.t0 = time.monotonic()
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def event_ts(self, wall: float) -> int:
        return T0 + int((wall - self.t0) * 1000 * SCALE)

    def wall_of(self, ts: int) -> float:
        return self.t0 + (ts - T0) / SCALE / 1000

    def _run(self):
        port = int(self.p.ingress_url.rsplit(":", 1)[1])
        conn = None
        seq, nxt = 0, time.monotonic()
        path = f"/topics/{self.p.topics['readings']}"
        while not self.stop_ev.is_set():
            nxt += BATCH / RATE
            delay = nxt - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            now = time.monotonic()
            recs = []
            for i in range(BATCH):
                key = KEYS[(seq + i) % len(KEYS)]
                ts = self.event_ts(now) + i  # strictly increasing within the batch
                recs.append({"key": key, "value": {
                    "sensor_id": f"s-{seq + i}", "intersection_id": key, "ts": ts,
                    "speed_kmh": float((seq + i) % 90), "vehicle_count": 1,
                    "occupancy_pct": 10.0, "lane": None}})
            seq += BATCH
            body = json.dumps({"records": recs})
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                conn.request("POST", path, body, {
                    "Content-Type": "application/vnd.kafka.json.v2+json",
                    "Accept": "application/vnd.kafka.v2+json"})
                r = conn.getresponse()
                text = r.read()
                if 200 <= r.status < 300:
                    self.acked += [(x["key"], x["value"]["ts"]) for x in recs]
                    continue
                self.errors.append((r.status, text[:200]))
            except (OSError, http.client.HTTPException) as e:
                self.errors.append((0, repr(e)))
                conn = None
            self.failed += len(recs)
            nxt = time.monotonic()  # no catching up in a burst after an error

    def stop(self):
        self.stop_ev.set()
        self.t.join(150)


class Output:
    """Reads the enriched aggregates (read_committed) as `admin` from the
    start; keeps (key, window_start, count, arrival)."""

    def __init__(self, c: Cluster, topic: str, partitions: int):
        self.c, self.topic, self.partitions = c, topic, partitions
        self.rows, self.stop_ev, self.error = [], threading.Event(), None
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        try:
            self._read()
        except Exception as e:  # reported by the scenario
            self.error = repr(e)

    def _read(self):
        conf = dict(self.c.client_config("admin"), **{
            "group.id": f"chaos-out-{time.time_ns()}", "enable.auto.commit": False,
            "isolation.level": "read_committed", "log_level": 0,
            "fetch.wait.max.ms": 50, "error_cb": lambda e: None})
        cons = Consumer(conf)
        cons.assign([TopicPartition(self.topic, p, 0) for p in range(self.partitions)])
        while not self.stop_ev.is_set():
            m = cons.poll(0.1)
            if m is None or m.error():
                continue
            r = decode(EAGG, m.value())
            ws = r["window_start"]  # fastavro: timestamp-millis as a datetime
            ws = ws if isinstance(ws, int) else round(ws.timestamp() * 1000)
            self.rows.append((r["key"], ws, r["count"], time.monotonic()))
        cons.close()

    def stop(self):
        self.stop_ev.set()
        self.t.join(20)


def txn_ids(p: Pipeline) -> list[str]:
    return re.findall(r"transactional\.id ([^)\s\"]+)", p.svc["compute"].log.read_text())


def fault(c: Cluster, p: Pipeline) -> str:
    """Runs the scenario's fault; returns what it did."""
    readings = p.topics["readings"]
    if SCENARIO == "leader_kill":
        n = c.leader_of(readings, 0)
        led = [q for q in range(p.partitions) if c.leader_of(readings, q) == n]
        c.kill(n)
        time.sleep(10)
        c.start_node(n)
        return f"killed node {n} (led input partitions {led}), back after 10 s"
    if SCENARIO == "coord_kill":
        tid = txn_ids(p)[0]
        n = c.coordinator_of(tid)
        c.kill(n)
        time.sleep(10)
        c.start_node(n)
        return f"killed node {n} (coordinator of {tid}), back after 10 s"
    if SCENARIO == "rolling":
        waits = []
        for n in c.node_ids:
            c.stop_node(n)
            c.start_node(n)
            waits.append(c.wait_fully_replicated(90))
            time.sleep(2)
        return "rolled nodes " + ",".join(map(str, c.node_ids)) + \
            f" (ISR full again after {', '.join(f'{w:.1f}' for w in waits)} s)"
    if SCENARIO == "pause":
        n = c.leader_of(readings, 0)
        c.pause(n)
        time.sleep(12)
        c.resume(n)
        return f"SIGSTOP node {n} (input leader) 12 s, then SIGCONT"
    if SCENARIO == "none":  # the harness's own check: the same run without a fault
        time.sleep(3)
        return "no fault"
    raise SystemExit(f"unknown scenario {SCENARIO}")


def body():
    warm, after = (6, 8) if SHORT else (10, 15)
    c = Cluster(nodes=3)
    try:
        c.start()
        env = {n: dict(FAST_REJOIN.get(n, {}),
                       **c.client_env(f"weir-{n}", c.sasl_via if via == "scram" else via))
               for n, via in VIA.items()}
        p = Pipeline(BUILD, c, tempfile.mkdtemp(prefix=f"chaos-cl-{SCENARIO}-"),
                     service_env=env, compute={
                         "windows": [{"name": "1m", "type": "tumbling", "size": "1m",
                                      "grace": "10s"}],
                         "aggregates": [{"field": "speed_kmh", "ops": ["count", "sum"]}],
                         "rules": []})
        p.create_topics()
        p._topics_made = True
        c.add_acls(documented_acls(c, p))
        try:
            p.start(timeout=90)
            out = Output(c, p.topics["eagg"], p.partitions)
            sup = Supervisor(p, ("compute", "enrichment", "sink", "ingress"))
            load = Load(p)
            time.sleep(warm)
            t_fault = time.monotonic()
            what = fault(c, p)
            t_back = time.monotonic()
            time.sleep(after)
            load.stop()
            t_end = time.monotonic()
            last_ts = load.event_ts(t_end)
            p.advance(last_ts + 2 * SIZE)

            want: dict = {}
            for key, ts in load.acked:
                ws = ts - ts % SIZE
                want[(key, ws)] = want.get((key, ws), 0) + 1
            deadline = time.monotonic() + 90
            while True:
                got_keys = {(k, w) for k, w, _, _ in out.rows if k in KEYS}
                if set(want) <= got_keys or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            time.sleep(2)  # a duplicate would show now
            out.stop()
            sup.stop()

            rows = [r for r in out.rows if r[0] in KEYS]
            seen, dups = {}, []
            for k, w, n, _ in rows:
                if (k, w) in seen:
                    dups.append((k, w))
                seen[(k, w)] = n
            check(out.error is None, f"output reader: {out.error}")
            check(bool(load.acked), f"ingress acknowledged nothing: {load.errors[:3]}")
            check(not dups, f"windows seen twice by a read_committed reader: {dups[:3]}")
            missing = sorted(set(want) - set(seen))
            if missing:
                m = {n: {k: sv.metric(k) for k in (f"weir_{n}_records_in_total",
                                                   f"weir_{n}_aggregates_out_total",
                                                   f"weir_{n}_late_records_total")}
                     for n, sv in p.svc.items() if n in ("compute", "enrichment")}
                print(f"metrics {m}; output rows {len(out.rows)}: {out.rows[:3]}; "
                      f"acked {load.acked[:2]}..{load.acked[-2:]}", flush=True)
            check(not missing, f"{len(missing)} windows with acknowledged readings missing, "
                               f"e.g. {missing[:3]}")
            extra = sorted(set(seen) - set(want))
            short = [(k, seen[k], want[k]) for k in want if seen[k] < want[k]]
            check(not short, f"windows counting fewer readings than acknowledged: {short[:3]}")
            over = sum(seen[k] - want[k] for k in want) + sum(seen[k] for k in extra)
            check(over <= load.failed, f"{over} readings counted beyond the {len(load.acked)} "
                                       f"acknowledged and {load.failed} refused")

            # Stall: longest gap between outputs from the fault to the load's end.
            arr = sorted(t for *_, t in rows)
            span = [t_fault] + [t for t in arr if t_fault < t < t_end] + [t_end]
            stall = max(b - a for a, b in zip(span, span[1:]))
            lat_before = [t - load.wall_of(w + SIZE + GRACE) for k, w, _, t in rows
                          if t < t_fault]
            lat_during = [t - load.wall_of(w + SIZE + GRACE) for k, w, _, t in rows
                          if t_fault <= t <= t_end + 5]
            check(bool(lat_before) and bool(lat_during), "no output before or after the fault")
            rc = p.stop()
            bad = {n: v for n, v in rc.items() if v != 0}
            detail = (f"{what}; {len(load.acked)} readings acked, {load.failed} refused, "
                      f"counted once in {len(want)} windows; stall {stall:.1f} s; "
                      f"e2e latency max {max(lat_during):.1f} s during "
                      f"(median before {statistics.median(lat_before):.2f} s); "
                      f"fault took {t_back - t_fault:.0f} s; {sup.describe()}")
            print("FIGURES " + json.dumps({
                "scenario": SCENARIO, "stall_s": round(stall, 2),
                "latency_max_s": round(max(lat_during), 2),
                "latency_median_before_s": round(statistics.median(lat_before), 2),
                "acked": len(load.acked), "refused": load.failed,
                "errors": [str(e) for e in load.errors[:5]]}), flush=True)
            if bad or sup.restarts:
                return detail + f"; exit statuses {rc}", True
            return detail
        finally:
            p.stop(10)
    finally:
        c.close()


run(f"cluster {SCENARIO}", body)
