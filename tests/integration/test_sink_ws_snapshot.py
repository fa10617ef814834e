"""The snapshot a WebSocket subscriber gets on connect, through the real
weir-sink on the real broker: records flow first, with nobody connected;
then NEW clients connect and, within one second, each receives the latest
aggregate per key and window and the alerts still FIRING (one RESOLVED
after FIRING is not among them), with its own filter applied, marked
"snapshot": true — and then the live updates that follow.  A bounded store
(SINK_SNAPSHOT_MAX_KEYS) evicts the least recently updated entries and
counts them in weir_sink_ws_snapshot_evictions_total.
"""
import asyncio
import json
import os
import signal
import subprocess
import time
import urllib.request
import uuid

import websockets
from confluent_kafka import Producer

import admin
from conftest import REPO
from test_sink_ws_kafka import AGG, ALERT, SCHEMAS, encode, free_port


def agg(key, window, count, now):
    return {
        "pipeline": "p", "key": key, "window": window, "window_start": now - 60000,
        "window_end": now, "count": count, "final": True, "emitted_at": now + 5,
        "fields": [{"name": "speed_kmh", "count": count, "sum": None, "min": None,
                    "max": None, "mean": 20.0 + count, "variance": None, "stddev": None,
                    "first": None, "last": None, "p50": None, "p90": None, "p95": None,
                    "p99": None, "zscore": None}],
        "enriched": True, "attributes": {"name": f"Main St & {key}", "lat": "52.5",
                                         "lon": "13.4"},
    }


def alert(key, rule, state, severity, now):
    return {
        "pipeline": "p", "rule": rule, "key": key, "window": "1m",
        "window_start": now - 60000, "window_end": now, "state": state,
        "severity": severity, "expr": "mean(speed_kmh) < 20",
        "values": {"mean(speed_kmh)": 14.5}, "labels": {"state": "not the alert's state"},
        "emitted_at": now + 5, "enriched": True, "attributes": {},
    }


class Sink:
    def __init__(self, kafka, topic, weir_build, tmp_path, env=None):
        name = "snap" + uuid.uuid4().hex[:8]
        self.t_agg, self.t_alert = topic("agg", partitions=2), topic("alerts")
        spec = {
            "name": name,
            "input": {"topic": "unused.in", "schema": "weir.example.TrafficReading",
                      "key": "intersection_id"},
            "sink": {"input": {"aggregates": self.t_agg, "alerts": self.t_alert},
                     "dlq": topic("dlq"), "influx": {"enabled": False},
                     "websocket": {"enabled": True, "path": "/ws"}},
        }
        (tmp_path / "spec.json").write_text(json.dumps(spec))
        self.port, self.admin = free_port(), free_port()
        self.log = tmp_path / "sink.log"
        full = dict(os.environ, PIPELINE_SPEC=str(tmp_path / "spec.json"),
                    SCHEMA_DIR=str(SCHEMAS), ADMIN_PORT=str(self.admin), ADMIN_BIND="127.0.0.1",
                    KAFKA_BOOTSTRAP_SERVERS=kafka.bootstrap, SINK_HTTP_BIND="127.0.0.1",
                    SINK_HTTP_PORT=str(self.port), KAFKA_STATISTICS_INTERVAL_MS="0",
                    **(env or {}))
        self.proc = subprocess.Popen([str(weir_build / "bin" / "weir-sink")], env=full,
                                     cwd=REPO, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=open(self.log, "w"))
        self.producer = Producer({"bootstrap.servers": kafka.bootstrap, "linger.ms": 5})
        deadline = time.monotonic() + 30
        while True:
            assert self.proc.poll() is None, f"weir-sink exited:\n{self.tail()}"
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/", timeout=5).read()
                break
            except OSError:
                assert time.monotonic() < deadline, f"no HTTP port:\n{self.tail()}"
                time.sleep(0.2)

    def tail(self):
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-30:])

    def metric(self, name):
        """The sum over the family's label sets (0 when absent or down)."""
        return admin.metric(admin.get(self.admin, "/metrics")[1], name) or 0.0

    def produce(self, aggs=(), alerts=()):
        for r in aggs:
            self.producer.produce(self.t_agg, key=r["key"].encode(), value=encode(AGG, r))
        for r in alerts:
            self.producer.produce(self.t_alert, key=r["key"].encode(), value=encode(ALERT, r))
        assert self.producer.flush(30) == 0

    def wait_published(self, n):
        deadline = time.monotonic() + 60
        while self.metric("weir_sink_records_total") < n:
            assert self.proc.poll() is None, self.tail()
            assert time.monotonic() < deadline, f"the sink did not take {n} records:\n{self.tail()}"
            time.sleep(0.1)
        time.sleep(0.2)  # consumed, then through the feed's inbox (SINK_WS_BATCH 5 ms)

    def stop(self):
        self.producer = None  # no reconnect noise once the broker is gone
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        assert self.proc.returncode == 0, self.tail()


async def first_frames(url, flt, quiet=0.3):
    """Connects, subscribes, returns (seconds until the first frame, frames
    received until `quiet` seconds pass without one, the open connection)."""
    t0 = time.monotonic()
    ws = await websockets.connect(url)
    await ws.send(json.dumps({"subscribe": flt}))
    assert "subscribed" in json.loads(await asyncio.wait_for(ws.recv(), 5))
    frames, first = [], None
    while True:
        try:
            msg = await asyncio.wait_for(ws.recv(), quiet if frames else 1.0)
        except asyncio.TimeoutError:
            break
        if first is None:
            first = time.monotonic() - t0
        frames.append(json.loads(msg))
    return first, frames, ws


def test_new_client_gets_the_snapshot_then_live_updates(kafka, topic, weir_build, tmp_path):
    sink = Sink(kafka, topic, weir_build, tmp_path)
    try:
        now = int(time.time() * 1000)
        aggs = []
        for version in range(3):  # the latest of each key and window wins
            for k in ("k0", "k1", "k2", "k3"):
                for w in ("1m", "5m"):
                    aggs.append(agg(k, w, 10 * version + int(k[1]), now + version * 60000))
        alerts = [alert("k1", "congestion", "FIRING", "WARNING", now),
                  alert("k2", "congestion", "FIRING", "WARNING", now),
                  alert("k3", "speed_drop", "FIRING", "CRITICAL", now),
                  alert("k2", "congestion", "RESOLVED", "WARNING", now + 60000),
                  alert("k1", "congestion", "FIRING", "WARNING", now + 60000)]
        # Nobody is connected while they flow.
        sink.produce(aggs, [])
        sink.produce([], alerts)  # after the aggregates: the alerts topic's own order matters
        sink.wait_published(len(aggs) + len(alerts))

        latest = {(r["key"], r["window"]): r for r in aggs}
        firing = {("k1", "congestion"): alerts[4], ("k3", "speed_drop"): alerts[2]}
        filters = {
            "all": ({}, set(latest), set(firing)),
            "keys": ({"keys": ["k1", "k3"]}, {x for x in latest if x[0] in ("k1", "k3")},
                     set(firing)),
            "critical": ({"kinds": ["alert"], "min_severity": "CRITICAL"}, set(),
                         {("k3", "speed_drop")}),
            "agg_topic_k0": ({"topics": [sink.t_agg], "keys": ["k0"]}, {("k0", "1m"), ("k0", "5m")},
                             set()),
        }
        url = f"http://127.0.0.1:{sink.port}/ws".replace("http", "ws")

        async def run():
            out = {}
            for name, (flt, want_aggs, want_alerts) in filters.items():
                first, frames, ws = await first_frames(url, flt)
                out[name] = (first, frames, ws)
            # Live after the snapshot: one more aggregate reaches the "keys" client.
            sink.produce([agg("k3", "1m", 99, now + 10 * 60000)])
            ws = out["keys"][2]
            live = json.loads(await asyncio.wait_for(ws.recv(), 20))
            for _, _, c in out.values():
                await c.close()
            return out, live

        out, live = asyncio.run(run())
        for name, (flt, want_aggs, want_alerts) in filters.items():
            first, frames, _ = out[name]
            assert frames, f"client {name}: no snapshot within 1 s of subscribing"
            assert first < 1.0, f"client {name}: first frame after {first:.3f} s"
            assert all(f.get("snapshot") is True for f in frames), frames
            seqs = [f["seq"] for f in frames]
            assert seqs == list(range(1, len(frames) + 1))
            evs = [e for f in frames for e in f["events"]]
            got_aggs = {(e["key"], e["data"]["window"]): e for e in evs
                        if e["kind"] == "aggregate"}
            got_alerts = {(e["key"], e["data"]["rule"]): e for e in evs if e["kind"] == "alert"}
            assert len(got_aggs) + len(got_alerts) == len(evs), f"{name}: duplicates in {evs}"
            assert set(got_aggs) == want_aggs, name
            assert set(got_alerts) == want_alerts, name
            for k, e in got_aggs.items():  # the latest values, exactly as published
                assert e["data"] == latest[k] and e["topic"] == sink.t_agg, name
                assert e["time"] == latest[k]["window_end"]
            for k, e in got_alerts.items():
                assert e["data"] == firing[k] and e["data"]["state"] == "FIRING", name
                assert e["severity"] == firing[k]["severity"] and e["topic"] == sink.t_alert
        assert sink.metric("weir_sink_ws_snapshot_entries") == 8 + 2
        assert "snapshot" not in live and live["seq"] == len(out["keys"][1]) + 1
        assert [(e["key"], e["data"]["count"]) for e in live["events"]] == [("k3", 99)]
    finally:
        sink.stop()


def test_snapshot_store_is_bounded(kafka, topic, weir_build, tmp_path):
    sink = Sink(kafka, topic, weir_build, tmp_path, env={"SINK_SNAPSHOT_MAX_KEYS": "20"})
    try:
        now = int(time.time() * 1000)
        aggs = [agg(f"key-{i:03d}", "1m", i, now + i) for i in range(100)]
        sink.produce(aggs)
        sink.wait_published(len(aggs))

        async def run():
            _, frames, ws = await first_frames(f"ws://127.0.0.1:{sink.port}/ws", {})
            await ws.close()
            return frames

        keys = sorted(e["key"] for f in asyncio.run(run()) for e in f["events"])
        # Which 20 depends on how the two partitions interleaved; each once.
        assert len(keys) == 20 and len(set(keys)) == 20
        assert sink.metric("weir_sink_ws_snapshot_entries") == 20
        assert sink.metric("weir_sink_ws_snapshot_evictions_total") == 80
    finally:
        sink.stop()
