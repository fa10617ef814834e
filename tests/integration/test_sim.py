"""weir-sim on the real broker, checked by peers nobody here wrote.

Records weir-sim produces are read back with confluent-kafka and decoded by
fastavro (single-object framing: the fingerprint is computed by fastavro from
the schema file) or by confluent-kafka's AvroDeserializer (Confluent framing,
the registry fixture).  The test counts for itself what decodes, what is out
of order and what is late, and compares with what was asked.  The HTTP mode
is checked against a REST Proxy v2 stand-in written here with http.server
and, when it is built, through the real weir-ingress to the broker.
"""
import http.server
import io
import json
import os
import re
import socket
import struct
import subprocess
import threading
import time

import fastavro
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from conftest import REPO

SCHEMA = json.load(open(REPO / "schemas" / "traffic_reading.avsc"))
PARSED = fastavro.parse_schema(SCHEMA)
# fastavro gives the hex of the fingerprint's little-endian bytes: the wire order.
FINGERPRINT = bytes.fromhex(fastavro.schema.fingerprint(
    fastavro.schema.to_parsing_canonical_form(PARSED), "CRC-64-AVRO"))
FIELDS = {f["name"] for f in SCHEMA["fields"]}
START = "2026-11-23T07:30:00Z"
START_MS = 1795419000000


def sim(weir_build, *args, env=None, timeout=60):
    exe = weir_build / "bin" / "weir-sim"
    e = dict(os.environ, LOG_LEVEL="warn", **(env or {}))
    r = subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=timeout,
                       cwd=REPO, env=e)
    return r


def summary(r):
    last = r.stdout.strip().splitlines()[-1]
    assert last.startswith("sim "), r.stdout + r.stderr
    return {k: float(v) for k, v in re.findall(r"(\w+)=([-\d.]+)", last)}


def consume_all(bootstrap, topic, n, timeout=30.0):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"py-{topic}",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.subscribe([topic])
    out, deadline = [], time.time() + timeout
    try:
        while len(out) < n and time.time() < deadline:
            for m in c.consume(num_messages=5000, timeout=1.0):
                assert m.error() is None, m.error()
                out.append(m)
    finally:
        c.close()
    return out


def decode(value):
    """fastavro on a single-object record, or None when it is not one."""
    if len(value) < 10 or value[:2] != b"\xc3\x01" or value[2:10] != FINGERPRINT:
        return None
    buf = io.BytesIO(value[10:])
    try:
        rec = fastavro.schemaless_reader(buf, PARSED)
    except Exception:
        return None
    if buf.read(1):  # bytes after the record
        return None
    return rec


def test_kafka_records_decode_and_fractions(kafka, topic, weir_build):
    t = topic(partitions=1)
    n = 20000
    r = sim(weir_build, "--topic", t, "--count", str(n), "--rate", "2000", "--unpaced",
            "--seed", "5", "--start-time", START, "--out-of-order", "0.1", "--max-delay",
            "4s", "--late", "0.03", "--late-delay", "10m", "--malformed", "0.05",
            "--keys", "12", env={"KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap})
    assert r.returncode == 0, r.stderr
    s = summary(r)
    assert s["sent"] == n and s["acked"] == n and s["failed"] == 0

    msgs = consume_all(kafka.bootstrap, t, n)
    assert len(msgs) == n
    good, bad, ooo, late = [], 0, 0, 0
    max_ts = None
    for m in msgs:
        rec = decode(m.value())
        if rec is None:
            bad += 1
            continue
        good.append(rec)
        ts = int(rec["ts"].timestamp() * 1000)
        # Key = intersection id; Kafka timestamp = event time.
        assert m.key().decode() == rec["intersection_id"]
        assert m.timestamp()[1] == ts
        assert rec["sensor_id"].startswith(rec["intersection_id"] + "-s")
        if max_ts is not None and ts < max_ts:
            if max_ts - ts > 600000:
                late += 1
            else:
                ooo += 1
        max_ts = ts if max_ts is None else max(max_ts, ts)

    # Fractions as asked (binomial sd of 0.1 over 2e4 is 0.002; 5 sd).
    assert abs(bad / n - 0.05) < 0.008, bad
    assert bad == s["malformed"]
    assert abs(ooo / len(good) - 0.1) < 0.011, ooo
    assert abs(late / len(good) - 0.03) < 0.006, late
    # Values are plausible city traffic.
    ids = {g["intersection_id"] for g in good}
    assert ids == {f"x-{k}" for k in range(12)}
    assert all(0 < g["speed_kmh"] < 150 for g in good)
    assert all(0 <= g["occupancy_pct"] <= 100 for g in good)
    assert all(g["vehicle_count"] >= 0 for g in good)
    assert any(g["lane"] is None for g in good) and any(g["lane"] for g in good)
    first = min(int(g["ts"].timestamp() * 1000) for g in good)
    assert START_MS - 1200000 <= first <= START_MS + 1000


def test_same_seed_same_records(kafka, topic, weir_build):
    env = {"KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap}
    args = ["--count", "3000", "--rate", "500", "--unpaced", "--start-time", START,
            "--out-of-order", "0.2", "--malformed", "0.1", "--keys", "30"]
    topics = [topic(partitions=1) for _ in range(3)]
    for t, seed in zip(topics, ("9", "9", "10")):
        r = sim(weir_build, "--topic", t, "--seed", seed, *args, env=env)
        assert r.returncode == 0, r.stderr
    a, b, c = (consume_all(kafka.bootstrap, t, 3000) for t in topics)
    va, vb, vc = ([(m.key(), m.value()) for m in x] for x in (a, b, c))
    assert len(va) == 3000 and va == vb
    assert sum(x != y for x, y in zip(va, vc)) > 2500


def test_advance_closes_every_partition(kafka, topic, weir_build):
    t = topic(partitions=3)
    r = sim(weir_build, "--topic", t, "--count", "600", "--rate", "100", "--unpaced",
            "--start-time", START, "--advance", "2m",
            env={"KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap})
    assert r.returncode == 0, r.stderr
    s = summary(r)
    assert s["sent"] == 603 and s["acked"] == 603
    msgs = consume_all(kafka.bootstrap, t, 603)
    last = {}
    for m in msgs:
        last[m.partition()] = decode(m.value())
    assert sorted(last) == [0, 1, 2]
    for rec in last.values():
        assert int(rec["ts"].timestamp() * 1000) == s["max_ts"] + 120000


def test_confluent_wire_format(kafka, topic, registry, weir_build):
    t = topic(partitions=1)
    r = sim(weir_build, "--topic", t, "--count", "500", "--unpaced", "--start-time", START,
            env={"KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap, "WIRE_FORMAT": "confluent",
                 "SCHEMA_REGISTRY_URL": registry.url})
    assert r.returncode == 0, r.stderr
    client = SchemaRegistryClient({"url": registry.url})
    deser = AvroDeserializer(client)
    msgs = consume_all(kafka.bootstrap, t, 500)
    assert len(msgs) == 500
    for m in msgs:
        assert m.value()[0] == 0
        rec = deser(m.value(), SerializationContext(t, MessageField.VALUE))
        assert rec["intersection_id"] == m.key().decode()
    latest = client.get_latest_version(f"{t}-value")
    assert struct.unpack(">I", msgs[0].value()[1:5])[0] == latest.schema_id


class RestProxyStandIn(http.server.BaseHTTPRequestHandler):
    """REST Proxy v2 produce as Weir's ingress answers it (docs/ingress.md):
    checks the request's shape; a batch with an invalid record is refused
    whole, 422 with error_code 42203 on the invalid records and 42210 on the
    valid ones (not produced); the second request gets 429 with Retry-After."""
    protocol_version = "HTTP/1.1"  # keep-alive

    def log_message(self, *a):
        pass

    def do_POST(self):
        st = self.server.state
        body = self.rfile.read(int(self.headers["Content-Length"]))
        st["connections"].add(self.client_address)
        st["requests"] += 1
        problems = []
        if self.path != f"/topics/{st['topic']}":
            problems.append(f"path {self.path}")
        if self.headers["Content-Type"] != "application/vnd.kafka.json.v2+json":
            problems.append(f"content type {self.headers['Content-Type']}")
        if "application/vnd.kafka.v2+json" not in (self.headers["Accept"] or ""):
            problems.append(f"accept {self.headers['Accept']}")
        if problems:
            st["problems"] += problems
            return self.reply(415, {"error_code": 415, "message": "; ".join(problems)})
        if st["requests"] == 2 and st.get("throttle", True):
            self.send_response(429)
            self.send_header("Retry-After", "1")
            self.send_header("Content-Length", "0")
            self.end_headers()
            st["throttled"] += 1
            return
        records = json.loads(body)["records"]
        st.setdefault("sizes", []).append(len(records))
        # How long the batch's first reading waited in weir-sim (its ts is
        # the time it was due: --start-time now, no disorder).
        now = time.time() * 1000
        st.setdefault("ages", []).append(now - min(r["value"]["ts"] for r in records))
        st.setdefault("newest", []).append(now - max(r["value"]["ts"] for r in records))
        errors = []
        for rec in records:
            try:
                extra = set(rec["value"]) - FIELDS
                assert not extra, f"unknown fields {extra}"
                fastavro.validation.validate(rec["value"], PARSED, raise_errors=True,
                                             strict=True)
                assert rec["key"] == rec["value"]["intersection_id"]
                errors.append(None)
            except Exception as e:
                errors.append(str(e)[:100])
        if any(errors):
            st["bad"] += sum(1 for e in errors if e)
            offsets = [{"partition": None, "offset": None,
                        "error_code": 42203 if e else 42210,
                        "error": e or "not produced: other records in the request are invalid"}
                       for e in errors]
            return self.reply(422, {"error_code": 42203, "message": "invalid records",
                                    "offsets": offsets})
        offsets = []
        for rec in records:
            st["good"].append(rec["value"])
            offsets.append({"partition": 0, "offset": len(st["good"]) - 1,
                            "error_code": None, "error": None})
        self.reply(200, {"key_schema_id": None, "value_schema_id": None, "offsets": offsets})

    def reply(self, status, doc):
        data = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/vnd.kafka.v2+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def stand_in(throttle=True):
    """A RestProxyStandIn serving on a free loopback port (srv.server_port)
    in a thread; its record of what came is srv.state.  throttle: the
    second request gets a 429.  The caller shuts it down."""
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RestProxyStandIn)
    srv.state = {"topic": "traffic.readings", "requests": 0, "throttled": 0, "good": [],
                 "bad": 0, "problems": [], "connections": set(), "throttle": throttle}
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def test_http_rest_proxy_v2(weir_build):
    srv = stand_in()
    try:
        r = sim(weir_build, "--ingress", f"http://127.0.0.1:{srv.server_port}/", "--count",
                "2000", "--batch", "250", "--unpaced", "--malformed", "0.1", "--seed", "3",
                "--start-time", START)
    finally:
        srv.shutdown()
    st = srv.state
    assert r.returncode == 0, r.stderr
    assert not st["problems"]
    s = summary(r)
    assert s["sent"] == 2000 and s["failed"] == 0
    # Every valid record arrived exactly once; every malformed one was refused.
    assert s["rejected"] == st["bad"] == s["malformed"]
    assert abs(st["bad"] / 2000 - 0.1) < 0.035
    assert s["acked"] == len(st["good"]) == 2000 - s["malformed"]
    assert len({(v["sensor_id"], v["ts"]) for v in st["good"]}) == len(st["good"])
    assert st["throttled"] == 1
    assert len(st["connections"]) <= 2  # kept alive
    assert {v["intersection_id"] for v in st["good"]} == {f"x-{k}" for k in range(12)}


def test_http_low_rate_sends_partial_batches(weir_build):
    """At 40 readings/s a batch of 100 would wait 2.5 s: partial batches go
    out after ~100 ms instead."""
    srv = stand_in()
    try:
        r = sim(weir_build, "--ingress", f"http://127.0.0.1:{srv.server_port}", "--rate", "40",
                "--count", "80", "--batch", "100")
    finally:
        srv.shutdown()
    assert r.returncode == 0, r.stderr
    s = summary(r)
    assert s["sent"] == 80 and s["acked"] == 80
    assert len(srv.state["sizes"]) >= 5 and max(srv.state["sizes"]) < 80


def test_http_partial_batch_waits_at_most_linger(weir_build):
    """--linger bounds a partial batch's wait: at 10 readings/s a batch waits
    150 ms, not until the next reading's wake-up after that (~200 ms)."""
    srv = stand_in(throttle=False)
    try:
        r = sim(weir_build, "--ingress", f"http://127.0.0.1:{srv.server_port}", "--rate", "10",
                "--count", "30", "--batch", "100", "--linger", "150ms", "--start-time", "now",
                "--out-of-order", "0", "--late", "0", "--malformed", "0")
    finally:
        srv.shutdown()
    assert r.returncode == 0, r.stderr
    ages = srv.state["ages"][:-1]  # the last batch goes out at the end of the run
    assert len(ages) >= 5, srv.state
    assert max(ages) < 150 + 25, sorted(ages)
    assert min(ages) >= 150 - 5, sorted(ages)


def test_http_clock_starts_when_sending_starts(weir_build, tmp_path):
    """--start-time now is read where pacing starts, not when the options
    are: a slow start (here a schema directory that takes a few hundred ms
    to load) must not stamp every reading that much before it existed,
    which each latency measured from the readings' timestamps would count;
    and no reading goes out before its own timestamp."""
    schemas = tmp_path / "schemas"
    schemas.mkdir()
    for f in (REPO / "schemas").glob("*.avsc"):
        (schemas / f.name).write_text(f.read_text())
    (schemas / "wide.avsc").write_text(json.dumps({
        "type": "record", "name": "Wide", "namespace": "t",
        "fields": [{"name": f"f{i}", "type": "long"} for i in range(20000)]}))
    env = {"SCHEMA_DIR": str(schemas)}
    t = time.monotonic()
    r = sim(weir_build, "--stdout", "--count", "0", env=env)
    start_ms = (time.monotonic() - t) * 1000
    assert r.returncode == 0, r.stderr
    assert start_ms >= 200, f"the slow start took only {start_ms:.0f} ms: widen wide.avsc"

    srv = stand_in(throttle=False)
    try:
        r = sim(weir_build, "--ingress", f"http://127.0.0.1:{srv.server_port}", "--rate", "200",
                "--count", "200", "--batch", "10", "--linger", "50ms", "--start-time", "now",
                "--out-of-order", "0", "--late", "0", "--malformed", "0", env=env)
    finally:
        srv.shutdown()
    assert r.returncode == 0, r.stderr
    assert summary(r)["acked"] == 200
    ages, newest = srv.state["ages"], srv.state["newest"]
    assert len(ages) >= 10, srv.state
    # A batch of 10 fills in 50 ms at 200/s: its oldest reading is ~50 ms
    # old when it arrives, not the start's few hundred ms more.
    assert max(ages) < start_ms / 2 + 50, (start_ms, sorted(ages))
    assert min(newest) >= 0, sorted(newest)


from ports import free_port  # noqa: E402  (tests/harness/ports.py: why not bind(0))


def test_http_through_weir_ingress(kafka, topic, weir_build, tmp_path):
    """weir-sim → weir-ingress (the real one, when built) → Kafka: every
    valid record lands once and decodes, no malformed one does."""
    ingress = weir_build / "bin" / "weir-ingress"
    if not ingress.exists():
        pytest.skip("weir-ingress not built")
    t = topic(partitions=2)
    spec = tmp_path / "pipeline.json"
    spec.write_text(json.dumps({"version": 1, "name": "simtest", "input": {
        "topic": t, "schema": "weir.example.TrafficReading", "key": "intersection_id",
        "event_time": "ts"}}))
    port = free_port()
    env = dict(os.environ, PIPELINE_SPEC=str(spec), SCHEMA_DIR=str(REPO / "schemas"),
               KAFKA_BOOTSTRAP_SERVERS=kafka.bootstrap, HTTP_BIND="127.0.0.1",
               HTTP_PORT=str(port), ADMIN_BIND="127.0.0.1", ADMIN_PORT="0", LOG_LEVEL="warn")
    proc = subprocess.Popen([str(ingress)], env=env, cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 30
        while time.time() < deadline:
            with socket.socket() as so:
                if so.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            time.sleep(0.2)
        r = sim(weir_build, "--ingress", f"http://127.0.0.1:{port}", "--topic", t,
                "--count", "3000", "--batch", "200", "--unpaced", "--malformed", "0.05",
                "--seed", "4", "--start-time", START)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert r.returncode == 0, r.stderr
    s = summary(r)
    assert s["sent"] == 3000 and s["failed"] == 0
    assert s["rejected"] == s["malformed"] > 0
    assert s["acked"] == 3000 - s["malformed"]
    msgs = consume_all(kafka.bootstrap, t, int(s["acked"]))
    recs = [decode(m.value()) for m in msgs]
    assert len(recs) == s["acked"] and all(recs)
    assert len({(x["sensor_id"], x["ts"]) for x in recs}) == len(recs)
    for m, x in zip(msgs, recs):
        assert m.key().decode() == x["intersection_id"]


def test_bad_settings_name_the_option(weir_build):
    r = sim(weir_build, "--rate", "fast")
    assert r.returncode == 1 and '--rate="fast"' in r.stderr
    r = sim(weir_build, "--count", "1", env={"SIM_OUT_OF_ORDER": "2"})
    assert r.returncode == 1 and "SIM_OUT_OF_ORDER" in r.stderr
    r = sim(weir_build, "--bogus")
    assert r.returncode == 1 and "--bogus" in r.stderr
    r = sim(weir_build, "--count", "1", env={"WIRE_FORMAT": "protobuf"})
    assert r.returncode == 1 and "WIRE_FORMAT" in r.stderr
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAFKA_")}
    r = subprocess.run([str(weir_build / "bin" / "weir-sim"), "--count", "1"], env=env,
                       capture_output=True, text=True, timeout=30, cwd=REPO)
    assert r.returncode == 1 and "KAFKA_BOOTSTRAP_SERVERS: required" in r.stderr


def test_devbroker_for_the_demo(weir_build):
    """weir-devbroker (librdkafka's mock cluster, the demo's Kafka stand-in):
    prints its bootstrap servers, has every topic of the example pipeline,
    takes weir-sim's records, stops on SIGTERM.  (A development tool: it
    proves nothing about Kafka itself.)"""
    exe = weir_build / "bin" / "weir-devbroker"
    if not exe.exists():
        pytest.skip("weir-devbroker not built")
    spec = REPO / "docs" / "examples" / "traffic-pipeline.json"
    proc = subprocess.Popen([str(exe), "--spec", str(spec), "--partitions", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            cwd=REPO)
    try:
        bootstrap = proc.stdout.readline().strip()
        assert re.fullmatch(r"127\.0\.0\.1:\d+", bootstrap), bootstrap
        c = Consumer({"bootstrap.servers": bootstrap, "group.id": "devbroker-test"})
        topics = c.list_topics(timeout=10).topics
        c.close()
        want = {"traffic.readings", "aggregates", "alerts", "compute.dlq",
                "traffic.compute.changelog", "aggregates.enriched", "alerts.enriched",
                "enrichment.dlq", "sink.dlq"}
        assert want <= set(topics)
        assert len(topics["traffic.readings"].partitions) == 2
        r = sim(weir_build, "--count", "500", "--unpaced", "--start-time", START,
                env={"KAFKA_BOOTSTRAP_SERVERS": bootstrap})
        assert r.returncode == 0, r.stderr
        # Partitions assigned by hand: no group rebalance to wait for.
        c = Consumer({"bootstrap.servers": bootstrap, "group.id": "devbroker-read"})
        c.assign([TopicPartition("traffic.readings", p, OFFSET_BEGINNING) for p in (0, 1)])
        msgs, deadline = [], time.time() + 20
        while len(msgs) < 500 and time.time() < deadline:
            msgs += [m for m in c.consume(num_messages=1000, timeout=0.5) if not m.error()]
        c.close()
        assert len(msgs) == 500 and all(decode(m.value()) for m in msgs)
    finally:
        proc.terminate()
        assert proc.wait(timeout=15) == 0
