"""End-to-end: the real stack — Apache Kafka (tests/harness/kafka.py),
redis-server (enrichment's Redis source), influxd (InfluxDB 1.x) — and the
four Weir services as separate processes (tests/integration/pipeline.py).
weir-sim posts simulated traffic with a fixed seed to weir-ingress over HTTP
(REST Proxy v2), including malformed, out-of-order and late readings; a
WebSocket client (Python `websockets`) is subscribed to the sink's feed, and
a real Prometheus (tests/harness/prom.py) scrapes the four admin ports.

The reference is computed here, in Python, from `weir-sim --stdout` with the
same options (the same records, by the simulator's contract): which records
ingress must reject, which compute must count as late, every one-minute
tumbling window's count/sum/min/max/mean per intersection, and the alerts of
the hysteresis rule.  The test asserts that InfluxDB (InfluxQL over HTTP)
holds exactly those points and alert points, and that the WebSocket client
received exactly those aggregates and alerts — once each — and that
Prometheus's view of the services' counters agrees.
"""

import asyncio
import json
import math
import struct
import subprocess
import threading
import time
from collections import defaultdict

import pytest
import websockets

from conftest import REPO
from influx import Influx  # tests/harness (conftest puts it on sys.path)
from pipeline import Pipeline
from prom import Prometheus
from redis import RedisServer

SIZE, GRACE = 60_000, 10_000
RULE_FOR = 2
START = "2026-11-23T07:40:00Z"  # into the morning rush hour
SIM = ["--seed", "20261123", "--start-time", START, "--rate", "20", "--count", "16000",
       "--unpaced", "--keys", "12", "--incident-every", "8m", "--incident-duration", "4m",
       "--out-of-order", "0.05", "--max-delay", "4s", "--late", "0.01", "--late-delay", "3m",
       "--malformed", "0.01"]
FIELDS = {"sensor_id", "intersection_id", "ts", "speed_kmh", "vehicle_count", "occupancy_pct",
          "lane"}
DISTRICTS = {f"x-{i}": ("north", "south", "east")[i % 3] for i in range(10)}  # x-10, x-11: none


def f32(x):
    return struct.unpack("f", struct.pack("f", x))[0]


def is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def valid(v):
    """What weir.example.TrafficReading accepts from JSON (the simulator's
    malformed kinds: a string speed, a missing or non-integral vehicle
    count, an unknown field)."""
    if set(v) - FIELDS or not FIELDS - {"lane"} <= set(v):
        return False
    return (isinstance(v["sensor_id"], str) and isinstance(v["intersection_id"], str)
            and isinstance(v["ts"], int) and is_num(v["speed_kmh"])
            and isinstance(v["vehicle_count"], int) and not isinstance(v["vehicle_count"], bool)
            and is_num(v["occupancy_pct"]))


def reference(build):
    out = subprocess.run([str(build / "bin" / "weir-sim"), "--stdout", *SIM], cwd=REPO,
                         capture_output=True, text=True, check=True).stdout
    recs = [json.loads(x) for x in out.splitlines() if x.startswith("{")]
    assert len(recs) == 16000
    invalid = late = 0
    stream = -1  # the largest event time so far (every partition's is within seconds of it)
    win = defaultdict(list)
    for r in recs:
        v = r["value"]
        if not valid(v):
            invalid += 1
            continue
        ts = v["ts"]
        end = ts - ts % SIZE + SIZE
        if end + GRACE <= stream:
            # Late readings are 3-6 min behind; out-of-order ones at most
            # 4 s, which the 10 s grace always covers: no borderline case.
            assert stream - ts > 120_000
            late += 1
            continue
        stream = max(stream, ts)
        win[(v["intersection_id"], end)].append(v)
    aggs = {}
    for (key, end), vs in win.items():
        sp = [float(v["speed_kmh"]) for v in vs]
        aggs[(key, end)] = {
            "count": len(vs), "speed_kmh_count": len(sp), "speed_kmh_sum": math.fsum(sp),
            "speed_kmh_min": min(sp), "speed_kmh_max": max(sp),
            "speed_kmh_mean": math.fsum(sp) / len(sp),
            "vehicle_count_count": len(vs),
            "vehicle_count_sum": float(sum(v["vehicle_count"] for v in vs)),
            "occupancy_pct_count": len(vs),
            "occupancy_pct_max": max(f32(v["occupancy_pct"]) for v in vs),
        }
    alerts = []  # (key, window_end, state)
    for key in sorted({k for k, _ in aggs}):
        run, firing = 0, False
        for end in sorted(e for k, e in aggs if k == key):
            a = aggs[(key, end)]
            holds = a["speed_kmh_mean"] < 20 and a["count"] >= 10
            run = run + 1 if holds else 0
            if holds and run >= RULE_FOR and not firing:
                firing = True
                alerts.append((key, end, "FIRING"))
            elif not holds and firing:
                firing = False
                alerts.append((key, end, "RESOLVED"))
    max_ts = max(r["value"]["ts"] for r in recs if is_num(r["value"].get("ts")))
    return dict(invalid=invalid, late=late, aggs=aggs, alerts=alerts, max_ts=max_ts)


def close(a, b):
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


class Feed:
    """A WebSocket client on its own thread, subscribed to everything."""

    def __init__(self, url):
        self.url, self.events, self.error = url, [], None
        self.subscribed = threading.Event()
        self.stop = False
        self.t = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self.t.start()
        assert self.subscribed.wait(30), f"no subscription: {self.error}"

    async def _run(self):
        try:
            async with websockets.connect(self.url, max_size=None, ping_interval=2, ping_timeout=10) as ws:
                await ws.send(json.dumps({"subscribe": {}}))
                assert "subscribed" in json.loads(await asyncio.wait_for(ws.recv(), 10))
                self.subscribed.set()
                seq = 0
                while not self.stop:
                    try:
                        m = json.loads(await asyncio.wait_for(ws.recv(), 0.5))
                    except asyncio.TimeoutError:
                        continue
                    assert m["seq"] == seq + 1 and "dropped" not in m, m
                    seq = m["seq"]
                    self.events.extend(m["events"])
        except Exception as e:  # reported by the test
            self.error = repr(e)
            self.subscribed.set()


def test_e2e_influx_and_websocket_equal_independent_reference(kafka, weir_build, tmp_path):
    ref = reference(weir_build)
    n_alerts = len(ref["alerts"])
    # The run must exercise what it claims to.
    assert ref["invalid"] > 50 and ref["late"] > 50 and len(ref["aggs"]) > 150
    assert n_alerts >= 4 and any(s == "RESOLVED" for _, _, s in ref["alerts"])

    with RedisServer() as r, Influx() as db:
        for k, d in DISTRICTS.items():
            r.cmd("HSET", f"intersection:{k}", "name", f"Junction {k}", "district", d)
        p = Pipeline(weir_build, kafka, tmp_path, redis_url=r.url, influx_url=db.url,
                     rule_for=RULE_FOR)
        db.create_database(p.influx_db)
        try:
            p.start()
            prom = Prometheus({n: f"127.0.0.1:{sv.admin_port}" for n, sv in p.svc.items()})
            prom.start()
            prom.wait_scraped()
            feed = Feed(p.ws_url)
            s = p.sim(*SIM)
            assert s["rejected"] == ref["invalid"] and s["failed"] == 0, s
            assert s["acked"] == 16000 - ref["invalid"], s
            p.advance(ref["max_ts"] + 2 * SIZE)

            want_points = len(ref["aggs"])
            deadline = time.monotonic() + 60
            while True:
                got = db.query("SELECT count(count) FROM traffic", p.influx_db)
                n = got[0]["count"] if got else 0
                aggs_ws = [e for e in feed.events if e["kind"] == "aggregate"]
                alerts_ws = [e for e in feed.events if e["kind"] == "alert"]
                if n >= want_points and len(alerts_ws) >= n_alerts and len(aggs_ws) >= want_points:
                    break
                assert feed.error is None, feed.error
                assert time.monotonic() < deadline, (
                    f"influx {n}/{want_points} points, ws {len(aggs_ws)} aggregates "
                    f"{len(alerts_ws)}/{n_alerts} alerts\n{p.logs()}")
                time.sleep(0.5)
            time.sleep(2)  # anything extra (a duplicate) would arrive now

            # InfluxDB: exactly the reference's points, tagged by enrichment.
            rows = db.query("SELECT * FROM traffic", p.influx_db)
            assert len(rows) == want_points
            seen = set()
            for row in rows:
                k = (row["intersection_id"], row["time"])
                assert k in ref["aggs"], f"unexpected point {row}"
                seen.add(k)
                assert row["window"] == "1m"
                assert row.get("district") == DISTRICTS.get(k[0]), row
                for f, v in ref["aggs"][k].items():
                    assert close(row[f], v), (k, f, row[f], v)
            assert seen == set(ref["aggs"])
            arows = db.query("SELECT * FROM traffic_alerts", p.influx_db)
            assert sorted((a["intersection_id"], a["time"], a["state"]) for a in arows) == \
                sorted(ref["alerts"])
            for a in arows:
                assert a["rule"] == "congestion" and a["severity"] == "WARNING"
                assert a["firing"] == (a["state"] == "FIRING")
                assert close(a["mean(speed_kmh)"],
                             ref["aggs"][(a["intersection_id"], a["time"])]["speed_kmh_mean"])

            # WebSocket: every aggregate and alert once, in window order per key.
            feed.stop = True
            aggs_ws = [e for e in feed.events if e["kind"] == "aggregate"]
            assert sorted((e["key"], e["time"]) for e in aggs_ws) == sorted(ref["aggs"])
            for e in aggs_ws:
                d = e["data"]
                want = ref["aggs"][(e["key"], e["time"])]
                assert d["count"] == want["count"] and d["final"] is True
                sp = next(f for f in d["fields"] if f["name"] == "speed_kmh")
                assert close(sp["mean"], want["speed_kmh_mean"])
                assert d["enriched"] == (e["key"] in DISTRICTS)
                assert d["attributes"].get("district") == DISTRICTS.get(e["key"])
            alerts_ws = [(e["key"], e["time"], e["data"]["state"])
                         for e in feed.events if e["kind"] == "alert"]
            for key in {k for k, _, _ in ref["alerts"]}:
                assert [a for a in alerts_ws if a[0] == key] == \
                    [a for a in ref["alerts"] if a[0] == key]
            assert len(alerts_ws) == n_alerts

            # What was not aggregated is accounted for, not lost.
            c = p.svc["compute"]
            assert c.metric("weir_compute_late_records_total") == ref["late"]
            assert c.metric("weir_compute_dlq_records_total", **{"class": "late"}) == ref["late"]
            assert p.svc["sink"].metric("weir_sink_dlq_records_total") == 0

            # Prometheus, scraping every second, agrees with the reference.
            want = {
                'sum(weir_ingress_records_total{result="accepted"})': 16000 - ref["invalid"] + 2,
                "sum(weir_compute_aggregates_out_total)": want_points,
                "sum(weir_compute_alerts_out_total)": n_alerts,
                "sum(weir_compute_late_records_total)": ref["late"],
                'sum(weir_enrichment_records_total{input="aggregates"})': want_points,
                'sum(weir_sink_points_written_total{kind="aggregate"})': want_points,
                'sum(weir_sink_points_written_total{kind="alert"})': n_alerts,
            }
            deadline = time.monotonic() + 20
            while (got := {q: prom.value(q) for q in want}) != want:
                assert time.monotonic() < deadline, f"prometheus {got} != {want}"
                time.sleep(1)
            prom.close()
            rc = p.stop()
            assert rc == {n: 0 for n in rc}, f"exit statuses {rc}\n{p.logs()}"
        finally:
            p.stop(10)
            if "prom" in locals():
                prom.close()
