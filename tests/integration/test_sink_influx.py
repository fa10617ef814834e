"""weir-sink against a real broker and a real InfluxDB 1.x (Debian's influxd,
tests/harness/influx.py).  The records are produced here with fastavro
(single-object framing) and the points read back with InfluxQL over /query;
committed offsets are read with confluent-kafka.

  - the points equal the records (measurement, sorted tags, fields, window end)
  - a replay from the earliest offset leaves the point count and values unchanged
  - InfluxDB stopped for 30 s mid-run: offsets do not advance while it is down,
    nothing is lost after it is back
  - a point InfluxDB rejects (field type conflict) lands in the DLQ with its message
  - without INFLUX_URL the records reach a WebSocket client and offsets are committed
  - a real 413 (small max-body-size) splits the batch; SIGTERM while InfluxDB is
    down exits 0 without committing
  - 1.x credentials (auth-enabled influxd); a second instance joining the group
  - one kept-alive connection (the sink's libcurl handle) carries every batch
"""
import io
import json
import os
import signal
import socket
import struct
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path

import fastavro
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from conftest import REPO

import influx as influx_harness  # tests/harness is on sys.path (conftest)

SCHEMAS = REPO / "schemas"


def _load(name):
    return fastavro.parse_schema(json.loads((SCHEMAS / name).read_text()))


AGG = _load("aggregate_enriched.avsc")
ALERT = _load("alert_enriched.avsc")


def _prefix(schema):
    fp = fastavro.schema.fingerprint(fastavro.schema.to_parsing_canonical_form(schema),
                                     "CRC-64-AVRO")
    return b"\xc3\x01" + bytes.fromhex(fp)  # fastavro's hex is of the LE bytes


PREFIX = {id(AGG): _prefix(AGG), id(ALERT): _prefix(ALERT)}


def encode(schema, rec):
    b = io.BytesIO()
    fastavro.schemaless_writer(b, schema, rec)
    return PREFIX[id(schema)] + b.getvalue()


BASE = 1_795_000_000_000 // 60000 * 60000  # a minute boundary in 2026


def aggregate(i, key=None, window_end=None, district=True):
    key = key or f"k{i % 7}"
    wend = window_end if window_end is not None else BASE + (i // 7) * 60000
    mean = 20.0 + i * 0.37
    return {
        "pipeline": "p", "key": key, "window": "1m",
        "window_start": wend - 60000, "window_end": wend,
        "count": 10 + i, "final": True, "emitted_at": wend + 1500,
        "fields": [
            {"name": "speed_kmh", "count": 10 + i, "sum": mean * (10 + i), "min": 1.0 / 3,
             "max": 99.5, "mean": mean, "variance": None, "stddev": 2.5, "first": None,
             "last": None, "p50": mean, "p90": None, "p95": 1e21 + i, "p99": None,
             "zscore": -0.125 if i % 2 else None},
            {"name": "vehicle_count", "count": 10 + i, "sum": float(3 * i), "min": None,
             "max": None, "mean": 3.0, "variance": None, "stddev": None, "first": None,
             "last": None, "p50": None, "p90": None, "p95": None, "p99": None, "zscore": None},
        ],
        "enriched": district,
        "attributes": ({"district": f"d {i % 3},x=y", "name": "Main St"} if district else {}),
    }


def alert(i):
    return {
        "pipeline": "p", "rule": "congestion", "key": f"k{i}", "window": "1m",
        "window_start": BASE, "window_end": BASE + 60000,
        "state": "FIRING" if i % 2 == 0 else "RESOLVED",
        "severity": "WARNING", "expr": 'mean(speed_kmh) < 20 and "x"',
        "values": {"mean(speed_kmh)": 14.5 + i, "count()": 12.0},
        "labels": {"team": "roads"}, "emitted_at": BASE + 61000, "enriched": True,
        "attributes": {"district": "north"},
    }


def expected_point(rec):
    """What the spec's mapping makes of an aggregate: tags and fields."""
    tags = {"intersection_id": rec["key"], "window": rec["window"]}
    if rec["attributes"].get("district"):
        tags["district"] = rec["attributes"]["district"]
    fields = {"count": rec["count"]}
    for fs in rec["fields"]:
        fields[f"{fs['name']}_count"] = fs["count"]
        for op in ("sum", "min", "max", "mean", "variance", "stddev", "first", "last", "p50",
                   "p90", "p95", "p99", "zscore"):
            if fs[op] is not None:
                fields[f"{fs['name']}_{op}"] = fs[op]
    return rec["window_end"], tags, fields


def produce(bootstrap, topic, schema, recs, headers=None):
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for r in recs:
        p.produce(topic, key=r["key"].encode(), value=encode(schema, r), headers=headers)
    assert p.flush(30) == 0


def committed(bootstrap, group, topic, partitions=1):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                  "enable.auto.commit": False})
    try:
        got = c.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
        return [tp.offset if tp.offset >= 0 else 0 for tp in got]
    finally:
        c.close()


def wait_for(pred, timeout, what, interval=0.3):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")


class Sink:
    """weir-sink as a subprocess; stop() sends SIGTERM and returns the exit code."""

    def __init__(self, build, tmp_path, bootstrap, spec, env):
        self.exe = build / "bin" / "weir-sink"
        self.spec = tmp_path / f"spec-{uuid.uuid4().hex[:6]}.json"
        self.spec.write_text(json.dumps(spec))
        self.log = tmp_path / f"sink-{uuid.uuid4().hex[:6]}.log"
        self.admin = influx_harness.free_port()
        self.env = dict(os.environ, PIPELINE_SPEC=str(self.spec), SCHEMA_DIR=str(SCHEMAS),
                        ADMIN_PORT=str(self.admin), ADMIN_BIND="127.0.0.1", KAFKA_BOOTSTRAP_SERVERS=bootstrap,
                        SINK_FLUSH_INTERVAL="200ms", SINK_RETRY_INITIAL="100ms",
                        SINK_RETRY_MAX="2s", KAFKA_STATISTICS_INTERVAL_MS="0")
        self.env.update(env)
        self.proc = None

    def start(self):
        with open(self.log, "w") as err:
            self.proc = subprocess.Popen([str(self.exe)], env=self.env, cwd=REPO,
                                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=err)
        return self

    def stop(self, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def metrics_text(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.admin}/metrics", timeout=5) as r:
            return r.read().decode()

    def metric(self, name, **labels):
        """The value of one sample of /metrics (0 when absent)."""
        want = name + ("{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"
                       if labels else "")
        try:
            text = self.metrics_text()
        except OSError:  # the admin server is not up yet
            return 0.0
        for line in text.splitlines():
            if line.startswith(want + " "):
                return float(line.split()[-1])
        return 0.0

    def tail(self, n=30):
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])

    def alive(self):
        assert self.proc.poll() is None, f"weir-sink exited {self.proc.returncode}:\n{self.tail()}"


@pytest.fixture(scope="module")
def influx():
    with influx_harness.Influx() as db:
        yield db


@pytest.fixture
def pipeline(kafka, topic, weir_build, tmp_path):
    """A fresh pipeline: topics, a database and a sink factory."""
    name = "t" + uuid.uuid4().hex[:10]
    topics = {"aggregates": topic("agg", partitions=2), "alerts": topic("alerts"),
              "dlq": topic("dlq")}
    spec = {
        "name": name,
        "input": {"topic": "unused.in", "schema": "weir.example.TrafficReading",
                  "key": "intersection_id"},
        "sink": {"input": {"aggregates": topics["aggregates"], "alerts": topics["alerts"]},
                 "dlq": topics["dlq"],
                 "influx": {"measurement": "traffic", "alert_measurement": "traffic_alerts",
                            "tags": ["district"], "precision": "ms"},
                 "websocket": {"enabled": False}},
    }
    sinks = []

    def make(db, **env):
        s = Sink(weir_build, tmp_path, kafka.bootstrap, spec,
                 {"INFLUX_URL": db.url, "INFLUX_DB": name, **env})
        sinks.append(s)
        return s.start()

    yield {"name": name, "group": f"weir-sink-{name}", "make": make, **topics}
    for s in sinks:
        s.stop()


def points(db, name, measurement="traffic"):
    return db.query(f'SELECT * FROM "{measurement}"', name)


def by_identity(rows):
    return {(r["time"], r["intersection_id"], r["window"]): r for r in rows}


def check_points_equal(rows, recs):
    got = by_identity(rows)
    assert len(got) == len(rows), "two points with one identity"
    assert len(rows) == len(recs)
    for rec in recs:
        t, tags, fields = expected_point(rec)
        row = got[(t, tags["intersection_id"], tags["window"])]
        assert row.get("district") == tags.get("district"), row
        have = {k: v for k, v in row.items()
                if v is not None and k not in ("time", "intersection_id", "window", "district")}
        assert have == fields, (rec["key"], t)


def test_points_equal_records_and_replay_is_idempotent(kafka, influx, pipeline):
    p = pipeline
    influx.create_database(p["name"])
    recs = [aggregate(i, district=(i % 5 != 0)) for i in range(140)]
    alerts = [alert(i) for i in range(4)]
    produce(kafka.bootstrap, p["aggregates"], AGG, recs)
    produce(kafka.bootstrap, p["alerts"], ALERT, alerts)

    sink = p["make"](influx)
    wait_for(lambda: len(points(influx, p["name"])) >= len(recs) or sink.alive(), 60,
             "all points")
    check_points_equal(points(influx, p["name"]), recs)
    arows = points(influx, p["name"], "traffic_alerts")
    assert len(arows) == 4
    for a in alerts:
        row = next(r for r in arows if r["intersection_id"] == a["key"])
        assert row["time"] == a["window_end"]
        assert (row["rule"], row["severity"], row["district"]) == ("congestion", "WARNING", "north")
        assert row["state"] == a["state"] and row["firing"] == (a["state"] == "FIRING")
        assert row["expr"] == a["expr"]
        assert row["mean(speed_kmh)"] == a["values"]["mean(speed_kmh)"]
    # Offsets are committed once the points are in: every record.
    wait_for(lambda: sum(committed(kafka.bootstrap, p["group"], p["aggregates"], 2)) == 140,
             30, "committed offsets")
    # What an SRE sees: the counts, and a /metrics that promtool accepts.
    assert sink.metric("weir_sink_points_written_total", kind="aggregate") == 140
    assert sink.metric("weir_sink_points_written_total", kind="alert") == 4
    assert sink.metric("weir_sink_records_total", kind="aggregate") == 140
    assert sink.metric("weir_sink_influx_batches_total") >= 1
    assert sink.metric("weir_sink_end_to_end_latency_seconds_count") == 144
    text = sink.metrics_text()
    check = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                           text=True)
    assert check.returncode == 0 and not (check.stdout + check.stderr).strip(), \
        check.stdout + check.stderr
    assert sink.stop() == 0, sink.tail()

    # Replay from the earliest offset with a new group: same points, no more.
    before = points(influx, p["name"])
    group2 = p["group"] + "-replay"
    sink2 = p["make"](influx, KAFKA_GROUP_ID=group2)
    wait_for(lambda: sum(committed(kafka.bootstrap, group2, p["aggregates"], 2)) == 140
             or sink2.alive(), 60, "the replay to commit every record")
    after = points(influx, p["name"])
    assert len(after) == len(before) == 140
    assert sorted(after, key=lambda r: (r["time"], r["intersection_id"])) == \
        sorted(before, key=lambda r: (r["time"], r["intersection_id"]))
    assert len(points(influx, p["name"], "traffic_alerts")) == 4
    assert sink2.stop() == 0, sink2.tail()


def test_outage_holds_offsets_and_loses_nothing(kafka, pipeline):
    p = pipeline
    db = influx_harness.Influx().start()  # its own server: this test stops it
    try:
        db.create_database(p["name"])
        first = [aggregate(i) for i in range(60)]
        produce(kafka.bootstrap, p["aggregates"], AGG, first)
        # Batches of 20: while the one in flight is retried the next one
        # fills up, then consumption pauses.
        sink = p["make"](db, SINK_BATCH_POINTS="20")
        wait_for(lambda: len(points(db, p["name"])) >= 60 or sink.alive(), 60, "first points")
        wait_for(lambda: sum(committed(kafka.bootstrap, p["group"], p["aggregates"], 2)) == 60,
                 30, "first commit")
        held = committed(kafka.bootstrap, p["group"], p["aggregates"], 2)

        db.stop()
        second = [aggregate(i) for i in range(60, 130)]
        produce(kafka.bootstrap, p["aggregates"], AGG, second)
        down_until = time.time() + 30
        while time.time() < down_until:
            sink.alive()
            assert committed(kafka.bootstrap, p["group"], p["aggregates"], 2) == held, \
                "offsets advanced while InfluxDB was down"
            time.sleep(3)
        db.start()
        wait_for(lambda: len(points(db, p["name"])) >= 130 or sink.alive(), 60,
                 "points after the outage")
        check_points_equal(points(db, p["name"]), first + second)
        wait_for(lambda: sum(committed(kafka.bootstrap, p["group"], p["aggregates"], 2)) == 130,
                 30, "commit after the outage")
        assert sink.metric("weir_sink_influx_retries_total", cause="network") >= 3
        assert sink.metric("weir_sink_consumption_paused") == 0
        assert sink.metric("weir_sink_points_written_total", kind="aggregate") == 130
        log = sink.log.read_text()
        assert "InfluxDB is not accepting writes: consumption paused" in log
        assert "consumption resumed" in log
        assert sink.stop() == 0, sink.tail()
    finally:
        db.close()


def read_dlq(bootstrap, topic, n, timeout=30):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "py-" + uuid.uuid4().hex,
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.subscribe([topic])
    out, deadline = [], time.time() + timeout
    while len(out) < n and time.time() < deadline:
        m = c.poll(0.5)
        if m is not None and not m.error():
            out.append(m)
    c.close()
    return out


def test_rejected_point_and_bad_record_go_to_dlq(kafka, influx, pipeline):
    p = pipeline
    influx.create_database(p["name"])
    # In an old shard (2020), speed_kmh_mean is a string: the one record whose
    # window ends there is a field type conflict InfluxDB rejects.
    old = 1_577_836_800_000
    status, _ = influx.write(p["name"], f'traffic,intersection_id=zz,window=1m '
                             f'speed_kmh_mean="text" {old - 60000}')
    assert status == 204
    recs = [aggregate(i) for i in range(20)]
    bad = aggregate(99, key="zz", window_end=old)
    tp = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    produce(kafka.bootstrap, p["aggregates"], AGG, recs[:10])
    produce(kafka.bootstrap, p["aggregates"], AGG, [bad], headers=[("traceparent", tp)])
    produce(kafka.bootstrap, p["aggregates"], AGG, recs[10:])
    pr = Producer({"bootstrap.servers": kafka.bootstrap})
    pr.produce(p["aggregates"], key=b"junk", value=b"\x07 not avro at all")
    pr.flush(10)

    sink = p["make"](influx)
    dlq = read_dlq(kafka.bootstrap, p["dlq"], 2, timeout=60)
    sink.alive()
    assert len(dlq) == 2, sink.tail()
    hdr = {m.key(): dict(m.headers()) for m in dlq}
    rej = hdr[b"zz"]
    assert rej["weir.stage"] == b"sink" and rej["weir.error.class"] == b"rejected"
    assert b"field type conflict" in rej["weir.error.reason"], rej
    assert rej["weir.source.topic"].decode() == p["aggregates"]
    assert rej["traceparent"] == tp  # the record's trace context survives
    line = next(m.value() for m in dlq if m.key() == b"zz").decode()
    # Tags sorted by key, escaped; the timestamp is the window end.
    assert line.startswith("traffic,district=d\\ 0\\,x\\=y,intersection_id=zz,window=1m "), line
    assert line.endswith(f" {old}") and "speed_kmh_mean=56.63," in line, line
    junk = hdr[b"junk"]
    assert junk["weir.error.class"] == b"malformed", junk
    # Everything else is written, and every offset committed.
    # (SELECT * leaves out the string-typed point written above: InfluxQL
    # picks one type per field.)
    def good():
        return [r for r in points(influx, p["name"]) if r["intersection_id"] != "zz"]
    wait_for(lambda: len(good()) >= 20, 30, "the good points")
    rows = good()
    check_points_equal(rows, recs)
    wait_for(lambda: sum(committed(kafka.bootstrap, p["group"], p["aggregates"], 2)) == 22,
             30, "commit past the rejected records")
    assert sink.metric("weir_sink_points_rejected_total", kind="aggregate") == 1
    assert sink.metric("weir_sink_dlq_records_total", **{"class": "rejected"}) == 1
    assert sink.metric("weir_sink_dlq_records_total", **{"class": "malformed"}) == 1
    assert sink.metric("weir_sink_influx_splits_total", cause="rejected") >= 1
    assert sink.stop() == 0, sink.tail()


def test_without_database_feeds_websocket_and_commits(kafka, pipeline, tmp_path, weir_build):
    """INFLUX_URL unset (the demo's mode): no writes, the records go to the
    WebSocket feed as JSON and the offsets are still committed."""
    from websockets.sync.client import connect

    p = pipeline
    port = influx_harness.free_port()
    s = Sink(weir_build, tmp_path, kafka.bootstrap,
             {"name": p["name"],
              "input": {"topic": "unused.in", "schema": "weir.example.TrafficReading",
                        "key": "intersection_id"},
              "sink": {"input": {"aggregates": p["aggregates"], "alerts": p["alerts"]},
                       "dlq": p["dlq"], "websocket": {"enabled": True, "path": "/live"}}},
             {"SINK_HTTP_PORT": str(port), "SINK_HTTP_BIND": "127.0.0.1"}).start()
    try:
        def listening():
            s.alive()
            with socket.socket() as c:
                return c.connect_ex(("127.0.0.1", port)) == 0
        wait_for(listening, 30, "the WebSocket endpoint")
        recs = [aggregate(i) for i in range(35)]
        want = [r for r in recs if r["key"] == "k3"]
        got = []
        with connect(f"ws://127.0.0.1:{port}/live", open_timeout=10) as ws:
            ws.send(json.dumps({"subscribe": {"keys": ["k3"]}}))
            assert "subscribed" in json.loads(ws.recv(timeout=10))
            produce(kafka.bootstrap, p["aggregates"], AGG, recs)
            produce(kafka.bootstrap, p["alerts"], ALERT, [alert(3)])
            deadline = time.time() + 30
            while len(got) < len(want) + 1 and time.time() < deadline:
                frame = json.loads(ws.recv(timeout=30))
                got += frame.get("events", [])
        aggs = sorted((e for e in got if e["kind"] == "aggregate"), key=lambda e: e["time"])
        assert [e["data"] for e in aggs] == want  # the record itself, as plain JSON
        assert all(e["key"] == "k3" and e["topic"] == p["aggregates"] for e in aggs)
        alerts = [e for e in got if e["kind"] == "alert"]
        assert len(alerts) == 1 and alerts[0]["severity"] == "WARNING"
        assert alerts[0]["data"]["state"] == "RESOLVED"
        wait_for(lambda: sum(committed(kafka.bootstrap, p["group"], p["aggregates"], 2)) == 35,
                 30, "commits without a database")
        assert "no database writes" in s.log.read_text()
    finally:
        assert s.stop() == 0, s.tail()


def test_413_from_influxdb_splits_the_batch(kafka, pipeline):
    """A real 413: influxd with a 6 KB body limit; batches of 40 points
    (about 14 KB) are halved until they fit, and every point arrives."""
    p = pipeline
    db = influx_harness.Influx(max_body=6000).start()
    try:
        db.create_database(p["name"])
        recs = [aggregate(i) for i in range(40)]
        produce(kafka.bootstrap, p["aggregates"], AGG, recs)
        sink = p["make"](db, INFLUX_GZIP="false", SINK_FLUSH_INTERVAL="2s")
        wait_for(lambda: len(points(db, p["name"])) >= 40 or sink.alive(), 60, "all points")
        check_points_equal(points(db, p["name"]), recs)
        assert sink.metric("weir_sink_influx_splits_total", cause="too_large") >= 1
        assert sink.metric("weir_sink_points_rejected_total", kind="aggregate") == 0
        assert sink.stop() == 0, sink.tail()
    finally:
        db.close()


def test_sigterm_while_influxdb_is_down_commits_nothing(kafka, pipeline):
    p = pipeline
    dead = influx_harness.Influx()  # configured, never started: connection refused
    try:
        produce(kafka.bootstrap, p["aggregates"], AGG, [aggregate(i) for i in range(10)])
        # One batch of 5 in flight (retried), the next one full: paused.
        sink = p["make"](dead, SINK_BATCH_POINTS="5")
        wait_for(lambda: sink.metric("weir_sink_influx_retries_total", cause="network") >= 2
                 or sink.alive(), 30, "retries")
        assert sink.metric("weir_sink_consumption_paused") == 1
        t = time.time()
        assert sink.stop() == 0, sink.tail()
        assert time.time() - t < 10
        assert "offsets are not committed" in sink.log.read_text()
        assert committed(kafka.bootstrap, p["group"], p["aggregates"], 2) == [0, 0]
    finally:
        dead.close()


def test_two_sinks_share_the_partitions(kafka, influx, pipeline):
    """A second instance joins the group mid-run (cooperative rebalance: one
    partition moves, its batch is written and committed in the revoke): every
    point arrives once, every offset is committed, both stop cleanly."""
    p = pipeline
    influx.create_database(p["name"])
    first = [aggregate(i) for i in range(70)]
    produce(kafka.bootstrap, p["aggregates"], AGG, first)
    a = p["make"](influx, SINK_FLUSH_INTERVAL="3s")
    wait_for(lambda: a.metric("weir_sink_records_total", kind="aggregate") >= 70 or a.alive(),
             60, "the first instance to take the records")
    b = p["make"](influx, SINK_FLUSH_INTERVAL="3s")
    second = [aggregate(i) for i in range(70, 140)]
    time.sleep(3)  # let it join; the records below land on both partitions either way
    produce(kafka.bootstrap, p["aggregates"], AGG, second)
    wait_for(lambda: len(points(influx, p["name"])) >= 140 or a.alive() or b.alive(), 60,
             "all points")
    check_points_equal(points(influx, p["name"]), first + second)
    wait_for(lambda: sum(committed(kafka.bootstrap, p["group"], p["aggregates"], 2)) == 140,
             30, "every offset committed")
    assert b.metric("weir_sink_records_total", kind="aggregate") >= 1, b.tail()
    assert a.stop() == 0, a.tail()
    assert b.stop() == 0, b.tail()


def test_influxdb_1x_credentials(kafka, pipeline):
    """auth-enabled influxd: the sink writes with INFLUX_USERNAME/PASSWORD
    (basic auth); a wrong password is retried as `auth`, never logged."""
    p = pipeline
    db = influx_harness.Influx(auth=("weir", "s3cret-pw")).start()
    try:
        db.create_database(p["name"])
        recs = [aggregate(i) for i in range(10)]
        produce(kafka.bootstrap, p["aggregates"], AGG, recs)
        bad = p["make"](db, INFLUX_USERNAME="weir", INFLUX_PASSWORD="wrong-pw")
        wait_for(lambda: bad.metric("weir_sink_influx_retries_total", cause="auth") >= 1
                 or bad.alive(), 30, "an auth failure")
        assert bad.stop() == 0, bad.tail()
        assert "wrong-pw" not in bad.log.read_text()
        assert committed(kafka.bootstrap, p["group"], p["aggregates"], 2) == [0, 0]
        good = p["make"](db, INFLUX_USERNAME="weir", INFLUX_PASSWORD="s3cret-pw")
        wait_for(lambda: len(points(db, p["name"])) >= 10 or good.alive(), 30, "the points")
        check_points_equal(points(db, p["name"]), recs)
        assert good.stop() == 0, good.tail()
        assert "s3cret-pw" not in good.log.read_text()
    finally:
        db.close()


def established_to(pid, port):
    """TCP connections of process `pid` established to `port` (from /proc)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    n = 0
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            f = line.split()
            if f[3] == "01" and int(f[2].rsplit(":", 1)[1], 16) == port and f[9] in inodes:
                n += 1
    return n


def test_batches_share_one_kept_alive_connection(kafka, influx, pipeline):
    """Every batch goes to influxd over the one connection the sink's libcurl
    handle keeps open (no connection per write), and the points are those of
    the records."""
    p = pipeline
    influx.create_database(p["name"])
    sink = p["make"](influx)
    recs = []
    for r in range(3):  # three rounds: at least three write requests
        more = [aggregate(i) for i in range(20 * r, 20 * r + 20)]
        produce(kafka.bootstrap, p["aggregates"], AGG, more)
        recs += more
        wait_for(lambda: len(points(influx, p["name"])) >= len(recs) or sink.alive(), 60,
                 f"the points of round {r}")
    check_points_equal(points(influx, p["name"]), recs)
    wait_for(lambda: sum(committed(kafka.bootstrap, p["group"], p["aggregates"], 2)) == 60,
             30, "committed offsets")
    assert sink.metric("weir_sink_influx_batches_total") >= 3
    assert established_to(sink.proc.pid, influx.port) == 1
    assert sink.stop() == 0, sink.tail()
