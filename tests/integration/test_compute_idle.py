"""Finishing a replay with input.idle = {"after": "3s", "action": "close"}
on the real broker: a finite, historic data set posted through weir-ingress
(REST Proxy JSON) and nothing after it, no sentinel record.  Once each
partition has had no record for 3 s, compute closes its open windows, so
every window of the data arrives, exactly once, equal to the independent
reference (compute_ref.py) — with the event time as a timestamp-millis long,
as a timestamp-micros long and as an RFC 3339 string.  The millis run is
also killed with SIGKILL the moment compute logs the idle close and again
after every aggregate arrived: still exactly once, nothing lost.

The input schema keeps its name (weir.example.TrafficReading, so ingress's
spec is the example's) but its `ts` field changes type: the test gives both
services a schema folder of its own.
"""
import json
import shutil
import signal
import time

import pytest

import test_compute as tc
from conftest import REPO
from test_ingress import ingress  # noqa: F401  (the fixture)

WINDOWS = [
    {"name": "t10s", "type": "tumbling", "size": "10s", "grace": "1s"},
    {"name": "h10s", "type": "hopping", "size": "10s", "advance": "5s", "grace": "1s"},
]

TS_TYPES = {
    "millis": ({"type": "long", "logicalType": "timestamp-millis"}, None),
    "micros": ({"type": "long", "logicalType": "timestamp-micros"}, None),
    "rfc3339": ("string", "rfc3339"),
}


def schema_dir(tmp_path, ts_type):
    d = tmp_path / "schemas"
    d.mkdir()
    for f in (REPO / "schemas").glob("*.avsc"):
        shutil.copy(f, d / f.name)
    reading = json.loads((REPO / "schemas/traffic_reading.avsc").read_text())
    for f in reading["fields"]:
        if f["name"] == "ts":
            f["type"] = ts_type
    (d / "traffic_reading.avsc").write_text(json.dumps(reading))
    return d


def ts_value(kind, ts_ms, i):
    if kind == "millis":
        return ts_ms
    if kind == "micros":
        return ts_ms * 1000 + (i * 37) % 1000  # sub-millisecond part rounds down
    t = time.gmtime(ts_ms // 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", t) + f".{ts_ms % 1000:03d}Z"


def post_all(ig, kind, per_partition, batch=500):
    evs = [e for p in per_partition for e in p]
    evs.sort(key=lambda e: e[1])  # one producer replaying history in time order
    for lo in range(0, len(evs), batch):
        recs = [{"value": {"sensor_id": "s", "intersection_id": k,
                           "ts": ts_value(kind, ts, lo + i), "speed_kmh": sp,
                           "vehicle_count": c, "occupancy_pct": 1.0}}
                for i, (k, ts, sp, c) in enumerate(evs[lo:lo + batch])]
        r = ig.post(recs)
        assert r.status_code == 200, r.text
    return len(evs)


def wait_log(c, text, timeout):
    return tc.wait_for(lambda: text in c.tail(200_000), timeout, f"{text!r} in compute's log",
                       step=0.02)


@pytest.mark.parametrize("kind", ["millis", "micros", "rfc3339"])
def test_replay_through_ingress_closes_every_window(kafka, topic, weir_build, tmp_path, ingress,
                                                    kind):
    ts_type, fmt = TS_TYPES[kind]
    schemas = schema_dir(tmp_path, ts_type)
    src = topic("in", partitions=2)
    name = f"idle-{kind}"
    out = tc.outputs(topic, name, changelog=topic("cl", partitions=2))
    spec = tmp_path / "spec.json"
    tc.write_spec(spec, name, src, out, WINDOWS, tc.AGGREGATES)
    doc = json.loads(spec.read_text())
    doc["input"]["idle"] = {"after": "3s", "action": "close"}
    if fmt:
        doc["input"]["event_time_format"] = fmt
    spec.write_text(json.dumps(doc))
    # historic data: 6000 events over 2 minutes of event time, an hour ago
    per, _ = tc.generate(6000, 40, 2, 120_000, seed=hash(kind) & 0xffff)
    want = tc.expected(per)
    c = tc.Compute(weir_build, spec, kafka.bootstrap, tmp_path, name=name, threads=1,
                   env={"SCHEMA_DIR": str(schemas)}).start()
    try:
        c.wait_ready()
        ig = ingress(src, SCHEMA_DIR=str(schemas))
        n = post_all(ig, kind, per)
        assert n == 6000
        assert f"ts, long (timestamp-{kind})" in c.tail(200_000) if kind != "rfc3339" \
            else "ts, string, format rfc3339" in c.tail(200_000)
        if kind == "millis":
            # kill -9 the moment the close is logged (its transaction may or
            # may not have committed), then again once everything arrived
            wait_log(c, "closed its", 60)
            c.stop(signal.SIGKILL)
            c.start()
            c.wait_ready()
            recs = tc.read_topic(kafka.bootstrap, out["aggregates"], want=len(want), timeout=90)
            c.stop(signal.SIGKILL)
            c.start()
            c.wait_ready()
            time.sleep(5)  # past idle.after: a second close would show now
        recs = tc.read_topic(kafka.bootstrap, out["aggregates"], want=len(want), timeout=90)
        tc.check_aggregates(recs, want)
        assert "idle: no record for" in c.tail(200_000)
        assert c.metric("weir_compute_idle_partitions") == 2
        assert tc.read_topic(kafka.bootstrap, out["dlq"], idle=1.0) == []
        assert c.stop() == 0
    finally:
        c.stop(signal.SIGKILL)


def test_absence_rule_fires_and_resolves_with_idle_advance(kafka, topic, weir_build, tmp_path):
    """Rule `absent for 5s`: key b stops reporting for 10 s of event time
    while a goes on (FIRING once, when a's records carry stream time 5 s past
    b's last), then reports again (RESOLVED once).  Then the input stops:
    with idle.advance the partition's stream time moves on with the wall
    clock, so both keys become absent and fire, with no record after the
    data.  Each alert exactly once (read_committed), with its window, values,
    severity and labels."""
    src = topic("in", partitions=1)
    out = tc.outputs(topic, "absent", changelog=topic("cl", partitions=1))
    spec = tmp_path / "spec.json"
    rules = [{"name": "silent", "window": "t10s", "expr": "absent for 5s",
              "severity": "critical", "labels": {"team": "t"}}]
    tc.write_spec(spec, "absent", src, out, WINDOWS[:1], tc.AGGREGATES, rules)
    doc = json.loads(spec.read_text())
    doc["input"]["idle"] = {"after": "2s", "action": "advance"}
    spec.write_text(json.dumps(doc))
    t0 = (int(time.time() * 1000) - 3_600_000) // 10_000 * 10_000
    evs = []
    for i in range(300):  # 30 s of event time, a record every 100 ms per key
        ts = t0 + i * 100
        evs.append(("a", ts, 50.0, 1))
        if not 100 <= i < 200:  # b silent in [t0 + 10 s, t0 + 20 s)
            evs.append(("b", ts, 50.0, 1))
    c = tc.Compute(weir_build, spec, kafka.bootstrap, tmp_path, name="absent", threads=1).start()
    try:
        c.wait_ready()
        tc.produce(kafka.bootstrap, src, [evs])
        alerts = tc.read_topic(kafka.bootstrap, out["alerts"], want=4, timeout=60, idle=4.0)
        assert c.metric("weir_compute_idle_partitions") == 1
    finally:
        assert c.stop() == 0, c.tail()
    al = [tc.decode(v, tc.ALERT, tc.ALERT_FP) for _, v, _ in alerts]
    got = [(a["key"], a["state"], a["window_start"] - t0, a["window_end"] - t0,
            a["values"]) for a in al]
    last = t0 + 29_900
    assert got[:2] == [
        ("b", "FIRING", 9_900, 14_900, {"absent_ms": 5000.0}),
        ("b", "RESOLVED", 9_900, 20_000, {"absent_ms": 10_100.0}),
    ], got
    assert sorted(got[2:]) == [
        ("a", "FIRING", last - t0, last - t0 + 5000, {"absent_ms": 5000.0}),
        ("b", "FIRING", last - t0, last - t0 + 5000, {"absent_ms": 5000.0}),
    ], got
    for a in al:
        assert a["rule"] == "silent" and a["severity"] == "CRITICAL" and a["window"] == "t10s"
        assert a["labels"] == {"team": "t"} and a["expr"] == "absent for 5s"
    assert "partition 0 idle" in c.tail(200_000)


@pytest.mark.parametrize("ts_type,extra,want", [
    ("int", {}, '$.input.event_time: field "ts" of weir.example.TrafficReading is an int '
                'without a logical type, which compute cannot read as an event time'),
    ("string", {}, '$.input.event_time: field "ts" of weir.example.TrafficReading is a string, '
                   'which compute cannot read as an event time without '
                   '$.input.event_time_format'),
    ({"type": "long", "logicalType": "time-micros"}, {},
     "is a long with logical type time-micros, which compute cannot read as an event time "
     "(a time of day"),
    ("string", {"event_time_format": "rfc3339", "event_time_zone": "Europe/Paris"},
     '$.input.event_time_zone: zone names like \\"Europe/Paris\\" are not supported'),
], ids=["int", "string-without-format", "time-micros", "zone-name"])
def test_startup_refuses_an_event_time_it_cannot_read(kafka, topic, weir_build, tmp_path,
                                                      ts_type, extra, want):
    """Start-up stops (exit 1, before any Kafka round trip) with the spec
    file, the JSON path and the field's type."""
    schemas = schema_dir(tmp_path, ts_type)
    spec = tmp_path / "spec.json"
    tc.write_spec(spec, "refuse", "in-never-created", tc.outputs(topic, "refuse"), WINDOWS,
                  tc.AGGREGATES)
    doc = json.loads(spec.read_text())
    doc["input"].update(extra)
    spec.write_text(json.dumps(doc))
    c = tc.Compute(weir_build, spec, kafka.bootstrap, tmp_path, name="refuse", threads=1,
                   env={"SCHEMA_DIR": str(schemas)}).start()
    try:
        rc = c.proc.wait(30)
    finally:
        c.stop(signal.SIGKILL)
    assert rc == 1, c.tail()
    assert str(spec) in c.tail() and want in c.tail(), c.tail()
