"""weir-enrichment on the real broker: file and compacted-topic sources.

The test writes aggregates and alerts itself with fastavro (single-object
framing), runs build/<v>/bin/weir-enrichment, reads the outputs with
confluent-kafka (read_committed) and compares them with the input joined
with the reference data by the test's own code — never with Weir's.
Redis is in test_enrichment_redis.py.
"""
import io
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import time

import fastavro
from confluent_kafka import Consumer, Producer

import admin
from conftest import REPO

SCHEMAS = REPO / "schemas"


def _no_logical(schema):
    if isinstance(schema, dict):
        return {k: _no_logical(v) for k, v in schema.items() if k != "logicalType"}
    if isinstance(schema, list):
        return [_no_logical(v) for v in schema]
    return schema


def _load(name):
    raw = json.load(open(SCHEMAS / name))
    return raw, fastavro.parse_schema(_no_logical(raw))


AGG_RAW, AGG = _load("aggregate.avsc")
ALERT_RAW, ALERT = _load("alert.avsc")
EAGG_RAW, EAGG = _load("aggregate_enriched.avsc")
EALERT_RAW, EALERT = _load("alert_enriched.avsc")

REF_SCHEMA = {"type": "record", "name": "Site", "namespace": "weir.test",
              "fields": [{"name": "id", "type": "string"},
                         {"name": "name", "type": "string"},
                         {"name": "district", "type": ["null", "string"], "default": None},
                         {"name": "lanes", "type": "int"},
                         {"name": "lat", "type": "double"}]}
REF = fastavro.parse_schema(REF_SCHEMA)


_fps = {}


def fingerprint(raw):
    key = json.dumps(raw, sort_keys=True)
    if key not in _fps:  # computing it costs milliseconds: once per schema
        _fps[key] = bytes.fromhex(fastavro.schema.fingerprint(
            fastavro.schema.to_parsing_canonical_form(raw), "CRC-64-AVRO"))
    return _fps[key]


def so_encode(raw, parsed, rec):
    b = io.BytesIO()
    fastavro.schemaless_writer(b, parsed, rec)
    return b"\xc3\x01" + fingerprint(raw) + b.getvalue()


def so_decode(raw, parsed, value):
    assert value[:2] == b"\xc3\x01", value[:10]
    assert value[2:10] == fingerprint(raw), "written with another schema"
    return fastavro.schemaless_reader(io.BytesIO(value[10:]), parsed)


def aggregate(i, key, pipeline="enrich-test", window="1m"):
    return {"pipeline": pipeline, "key": key, "window": window,
            "window_start": 1_700_000_000_000 + i * 60_000,
            "window_end": 1_700_000_060_000 + i * 60_000, "count": i + 1, "final": True,
            "emitted_at": 1_700_000_061_000 + i * 60_000,
            "fields": [{"name": "speed", "count": i + 1, "sum": i * 1.5, "min": None,
                        "max": 99.25, "mean": 1.5, "variance": None, "stddev": None,
                        "first": None, "last": None, "p50": None, "p90": None, "p95": 3.5,
                        "p99": None, "zscore": None}]}


def alert(i, key, pipeline="enrich-test"):
    return {"pipeline": pipeline, "rule": "congestion", "key": key, "window": "1m",
            "window_start": 1_700_000_000_000 + i, "window_end": 1_700_000_060_000 + i,
            "state": "FIRING" if i % 2 == 0 else "RESOLVED", "severity": "WARNING",
            "expr": "mean(speed) < 20", "values": {"mean(speed)": 14.5 + i},
            "labels": {"team": "ops"}, "emitted_at": 1_700_000_061_000 + i}


def produce(bootstrap, topic, items):
    """items: (key, value, headers) triples."""
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for k, v, h in items:
        p.produce(topic, key=k, value=v, headers=h)
    assert p.flush(30) == 0


def consume(bootstrap, topic, n, timeout=60.0, idle=None):
    """Reads (read_committed) until n records arrived or the timeout; with
    `idle`, keeps reading until no record came for that long."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"py-{topic}-{time.time()}",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False,
                  "isolation.level": "read_committed"})
    c.subscribe([topic])
    out, deadline, last = [], time.time() + timeout, time.time()
    while time.time() < deadline:
        if len(out) >= n and (idle is None or time.time() - last > idle):
            break
        m = c.poll(0.2)
        if m is None or m.error():
            continue
        out.append(m)
        last = time.time()
    c.close()
    return out


class Enrichment:
    """weir-enrichment as a child process with its own spec and admin port."""

    def __init__(self, weir_build, tmp_path, bootstrap, enrichment, extra_schemas=(),
                 env=None, name="enrich-test"):
        self.tmp = tmp_path
        self.port = None  # ADMIN_PORT=0: the server picks one and logs it (no race)
        schema_dir = tmp_path / "schemas"
        if not schema_dir.exists():
            shutil.copytree(SCHEMAS, schema_dir)
        for i, s in enumerate(extra_schemas):
            (schema_dir / f"extra{i}.avsc").write_text(json.dumps(s))
        spec = {"version": 1, "name": name,
                "input": {"topic": f"in-{name}", "schema": "weir.example.TrafficReading",
                          "key": "intersection_id"},
                "enrichment": enrichment}
        self.spec_path = tmp_path / "pipeline.json"
        self.spec_path.write_text(json.dumps(spec))
        self.env = dict(os.environ, PIPELINE_SPEC=str(self.spec_path), SCHEMA_DIR=str(schema_dir),
                        ADMIN_BIND="127.0.0.1", ADMIN_PORT="0",
                        KAFKA_BOOTSTRAP_SERVERS=bootstrap, LOG_LEVEL="info",
                        COMMIT_INTERVAL="100ms", **(env or {}))
        self.exe = str(weir_build / "bin" / "weir-enrichment")
        self.proc = None
        self.runs = 0

    def start(self):
        self.runs += 1
        self.log = self.tmp / f"enrichment-{self.runs}.log"
        self.proc = subprocess.Popen([self.exe], env=self.env, cwd=REPO,
                                     stdout=subprocess.DEVNULL, stderr=open(self.log, "w"))
        deadline = time.time() + 30
        self.port = None
        while self.port is None:
            m = re.search(r"admin server on 127\.0\.0\.1:(\d+)", self.log.read_text())
            if m:
                self.port = int(m.group(1))
            elif self.proc.poll() is not None or time.time() > deadline:
                raise AssertionError(f"no admin server: {self.log_text()}")
            else:
                time.sleep(0.05)
        return self

    def get(self, path):
        return admin.get(self.port, path)

    def wait_ready(self, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            assert self.proc.poll() is None, f"exited {self.proc.returncode}: {self.log_text()}"
            if self.get("/readyz")[0] == 200:
                return
            time.sleep(0.1)
        raise AssertionError(f"not ready after {timeout}s: {self.get('/readyz')} "
                             f"{self.log_text()}")

    def metric(self, name, **labels):
        """Value of one sample in /metrics (0 when absent)."""
        _, text = self.get("/metrics")
        want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        for line in text.splitlines():
            if line.startswith("#"):
                continue
            sample, _, value = line.rpartition(" ")
            if "{" in sample:
                n, _, lab = sample.partition("{")
                lab = ",".join(sorted(lab.rstrip("}").split(",")))
            else:
                n, lab = sample, ""
            if n == name and lab == want:
                return float(value)
        return 0.0

    def log_text(self):
        return self.log.read_text()[-4000:] if self.log.exists() else ""

    def stop(self, timeout=30):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                raise
            assert rc == 0, f"exit {rc}: {self.log_text()}"


def topics_for(topic):
    return {"agg": topic("agg"), "alerts": topic("alerts"), "out_agg": topic("oagg"),
            "out_alerts": topic("oalerts"), "dlq": topic("dlq")}


def io_section(t):
    return {"input": {"aggregates": t["agg"], "alerts": t["alerts"]},
            "output": {"aggregates": t["out_agg"], "alerts": t["out_alerts"], "dlq": t["dlq"]}}


def expect_join(rec, sources):
    """The test's own join: sources is a list of (table dict, on_missing);
    earlier sources win; enriched when every source has the key."""
    attrs, enriched = {}, True
    for table, _ in sources:
        row = table.get(rec["key"])
        if row is None:
            enriched = False
            continue
        for k, v in row.items():
            attrs.setdefault(k, v)
    return dict(rec, enriched=enriched, attributes=attrs)


# ---------------------------------------------------------------- file source

_GOOD = so_encode(AGG_RAW, AGG, aggregate(0, "k-0"))
BAD_VALUES = [
    b"\xc3\x01garbage",                      # truncated framing
    _GOOD[:-7],                              # the right schema, truncated body
    b"\xc3\x01" + b"\x01" * 8 + _GOOD[10:],   # a fingerprint nobody knows
    _GOOD + b"\x00",                         # a byte too many
]

def test_file_sources_join_aggregates_and_alerts(kafka, topic, weir_build, tmp_path):
    t = topics_for(topic)
    # Two files: JSON (all attributes but lat are kept) and CSV; the JSON
    # source is first, so its `district` wins where both have one.
    sites = [{"id": f"k-{i}", "name": f"Site {i}", "district": "North" if i % 2 else "South",
              "lat": 52.5 + i / 1000, "lanes": i, "note": None} for i in range(7)]
    (tmp_path / "sites.json").write_text(json.dumps(sites))
    csv_rows = [(f"k-{i}", f"D{i}", f'zone "{i}", east') for i in range(3, 9)]
    (tmp_path / "extra.csv").write_text(
        "id,district,zone\r\n" + "".join(f'{a},{b},"{c.replace(chr(34), 2 * chr(34))}"\r\n'
                                         for a, b, c in csv_rows))
    json_table = {s["id"]: {"name": s["name"], "district": s["district"],
                            "lanes": str(s["lanes"])} for s in sites}
    csv_table = {a: {"district": b, "zone": c} for a, b, c in csv_rows}
    enr = dict(io_section(t), join_key="key", sources=[
        {"name": "sites", "type": "file", "path": "sites.json", "key_field": "id",
         "attributes": ["name", "district", "lanes", "missing_attr"]},
        {"name": "extra", "type": "file", "path": "extra.csv", "key_field": "id"}])
    e = Enrichment(weir_build, tmp_path, kafka.bootstrap, enr).start()
    try:
        e.wait_ready()
        aggs = [aggregate(i, f"k-{i % 10}") for i in range(300)]
        alerts = [alert(i, f"k-{i % 10}") for i in range(30)]
        tp = lambda i: [("traceparent", f"00-{i:032x}-{i:016x}-01".encode())]
        produce(kafka.bootstrap, t["agg"],
                [(a["key"].encode(), so_encode(AGG_RAW, AGG, a), tp(i)) for i, a in enumerate(aggs)]
                + [(b"bad", v, None) for v in BAD_VALUES])
        produce(kafka.bootstrap, t["alerts"],
                [(a["key"].encode(), so_encode(ALERT_RAW, ALERT, a), tp(1000 + i))
                 for i, a in enumerate(alerts)])
        out = consume(kafka.bootstrap, t["out_agg"], len(aggs), idle=1.0)
        out_alerts = consume(kafka.bootstrap, t["out_alerts"], len(alerts), idle=0.5)
        dlq = consume(kafka.bootstrap, t["dlq"], len(BAD_VALUES), idle=0.5)
        srcs = [(json_table, "pass"), (csv_table, "pass")]
        assert len(out) == len(aggs)
        for i, (m, a) in enumerate(zip(out, aggs)):  # one partition: order kept
            assert m.key() == a["key"].encode()
            assert dict(m.headers())["traceparent"] == tp(i)[0][1]
            assert so_decode(EAGG_RAW, EAGG, m.value()) == expect_join(a, srcs), i
        assert [so_decode(EALERT_RAW, EALERT, m.value()) for m in out_alerts] == \
            [expect_join(a, srcs) for a in alerts]
        assert [dict(m.headers())["traceparent"] for m in out_alerts] == \
            [tp(1000 + i)[0][1] for i in range(len(alerts))]
        assert [m.value() for m in dlq] == BAD_VALUES
        assert [dict(m.headers())["weir.error.class"] for m in dlq] == \
            [b"malformed", b"malformed", b"schema", b"malformed"]
        for m in dlq:
            h = dict(m.headers())
            assert m.key() == b"bad" and h["weir.stage"] == b"enrichment"
            assert h["weir.error.reason"]
        assert e.metric("weir_enrichment_lookups_total", source="sites", type="file",
                        result="hit") == sum(1 for a in aggs + alerts if a["key"] in json_table)
        assert e.metric("weir_enrichment_table_entries", source="extra") == len(csv_rows)
        lint = subprocess.run(["promtool", "check", "metrics"], input=e.get("/metrics")[1],
                              capture_output=True, text=True)
        assert lint.returncode == 0, lint.stdout + lint.stderr
    finally:
        e.stop()


def test_backlog_with_small_prefetch_wakes_the_fetcher(kafka, topic, weir_build, tmp_path):
    """A backlog of 30,000 aggregates written before enrichment starts: its
    consumer queue (queued.min.messages 1000, 64 KiB fetches) fills and runs
    low again and again, and each time the loop wakes the fetcher (fw.h:
    librdkafka 2.0.2 would sleep a second).  Every aggregate comes out once,
    in order, joined."""
    t = topics_for(topic)
    sites = [{"id": f"k-{i}", "name": f"Site {i}"} for i in range(50)]
    (tmp_path / "sites.json").write_text(json.dumps(sites))
    enr = dict(io_section(t), sources=[
        {"name": "sites", "type": "file", "path": "sites.json", "key_field": "id"}])
    n = 30_000
    values = [so_encode(AGG_RAW, AGG, aggregate(i, f"k-{i % 50}")) for i in range(n)]
    produce(kafka.bootstrap, t["agg"], [(f"k-{i % 50}".encode(), v, None)
                                        for i, v in enumerate(values)])
    e = Enrichment(weir_build, tmp_path, kafka.bootstrap, enr).start()
    try:
        out = consume(kafka.bootstrap, t["out_agg"], n, timeout=180)
        assert len(out) == n, e.log_text()
        table = {s["id"]: {"name": s["name"]} for s in sites}
        for i in (0, 1, n // 2, n - 1):  # one partition: order kept
            want = expect_join(aggregate(i, f"k-{i % 50}"), [(table, "pass")])
            assert so_decode(EAGG_RAW, EAGG, out[i].value()) == want, i
        assert [so_decode(EAGG_RAW, EAGG, m.value())["count"] for m in out] == \
            list(range(1, n + 1))
        assert e.metric("weir_enrichment_fetch_wakeups_total") > 0, e.log_text()
        assert e.metric("weir_enrichment_records_total", input="aggregates",
                        result="enriched") == n
    finally:
        e.stop()


def test_missing_key_policies_drop_and_dlq(kafka, topic, weir_build, tmp_path):
    known = {f"k-{i}": {"name": f"n{i}"} for i in range(0, 10, 2)}
    (tmp_path / "ref.json").write_text(json.dumps([dict(v, id=k) for k, v in known.items()]))
    aggs = [aggregate(i, f"k-{i % 10}") for i in range(100)]
    missing = [a for a in aggs if a["key"] not in known]
    for policy in ("drop", "dlq"):
        t = topics_for(topic)
        sub = tmp_path / policy
        sub.mkdir()
        shutil.copy(tmp_path / "ref.json", sub / "ref.json")
        enr = dict(io_section(t), sources=[{"name": "ref", "type": "file", "path": "ref.json",
                                            "key_field": "id", "on_missing": policy}])
        e = Enrichment(weir_build, sub, kafka.bootstrap, enr).start()
        try:
            e.wait_ready()
            values = [so_encode(AGG_RAW, AGG, a) for a in aggs]
            produce(kafka.bootstrap, t["agg"],
                    [(a["key"].encode(), v, [("traceparent", b"tp")]) for a, v in zip(aggs, values)])
            out = consume(kafka.bootstrap, t["out_agg"], len(aggs) - len(missing), idle=1.0)
            assert [so_decode(EAGG_RAW, EAGG, m.value()) for m in out] == \
                [expect_join(a, [(known, policy)]) for a in aggs if a["key"] in known]
            dlq = consume(kafka.bootstrap, t["dlq"], len(missing), timeout=5 if policy == "drop"
                          else 60, idle=0.5)
            if policy == "drop":
                assert dlq == []
                assert e.metric("weir_enrichment_dropped_total", source="ref") == len(missing)
            else:
                # The input record unchanged, with the reason and the input's headers.
                want = [v for a, v in zip(aggs, values) if a["key"] not in known]
                assert [m.value() for m in dlq] == want
                for m, a in zip(dlq, missing):
                    h = dict(m.headers())
                    assert h["weir.error.class"] == b"missing_key"
                    assert a["key"].encode() in h["weir.error.reason"]
                    assert h["traceparent"] == b"tp" and h["weir.source.topic"] == t["agg"].encode()
                assert e.metric("weir_enrichment_dlq_records_total", **{"class": "missing_key"}) \
                    == len(missing)
        finally:
            e.stop()


# ---------------------------------------------------------------- compacted topic

def site(i, name=None):
    return {"id": f"k-{i}", "name": name or f"Site {i}", "district": None if i % 3 == 0 else "D",
            "lanes": i, "lat": 52.5 + i / 8}


def num(x):
    """Weir's documented number form: integral values without a fraction
    (like JSON/JavaScript), others the shortest round-trip repr."""
    return str(int(x)) if x == int(x) else repr(x)


def site_attrs(s):
    out = {"name": s["name"], "lanes": str(s["lanes"]), "lat": num(s["lat"])}
    if s["district"] is not None:
        out["district"] = s["district"]
    return out


def test_kafka_table_load_follow_and_restart(kafka, topic, weir_build, tmp_path):
    t = topics_for(topic)
    ref = f"ref-{t['agg']}"  # created later: readiness must wait for it
    # key_field: the key comes from the value (tombstones: the record key).
    enr = dict(io_section(t), sources=[{"name": "sites", "type": "kafka", "topic": ref,
                                        "key_field": "id"}])
    e = Enrichment(weir_build, tmp_path, kafka.bootstrap, enr, extra_schemas=[REF_SCHEMA])
    e.start()
    try:
        # No table topic yet: alive, not ready, and saying why.
        deadline = time.time() + 3
        while time.time() < deadline:
            code, body = e.get("/readyz")
            assert code in (None, 503), body
            time.sleep(0.2)
        assert "reference data loaded" in e.get("/readyz")[1]
        assert e.get("/healthz")[0] == 200
        kafka.create_topic(ref, partitions=2, config={"cleanup.policy": "compact"})
        table = {}
        recs = []
        for i in range(20):
            s = site(i)
            table[s["id"]] = site_attrs(s)
            recs.append((s["id"].encode(), so_encode(REF_SCHEMA, REF, s), None))
        recs.append((b"k-19", None, None))  # tombstone
        del table["k-19"]
        produce(kafka.bootstrap, ref, recs)
        e.wait_ready()

        aggs = [aggregate(i, f"k-{i % 25}") for i in range(200)]
        produce(kafka.bootstrap, t["agg"],
                [(a["key"].encode(), so_encode(AGG_RAW, AGG, a), None) for a in aggs])
        out = consume(kafka.bootstrap, t["out_agg"], len(aggs), idle=1.0)
        assert [so_decode(EAGG_RAW, EAGG, m.value()) for m in out] == \
            [expect_join(a, [(table, "pass")]) for a in aggs]

        # A change mid-run: k-1 renamed, k-2 deleted.  Stated bound: a record
        # consumed BOUND seconds after the change was committed sees it.
        BOUND = 2.0
        produce(kafka.bootstrap, ref, [(b"k-1", so_encode(REF_SCHEMA, REF, site(1, "Renamed")), None),
                                       (b"k-2", None, None)])
        changed = time.time()
        sent = []
        while time.time() - changed < BOUND + 2.0:
            i = len(sent)
            a = aggregate(1000 + i, "k-1" if i % 2 == 0 else "k-2")
            produce(kafka.bootstrap, t["agg"], [(a["key"].encode(), so_encode(AGG_RAW, AGG, a), None)])
            sent.append((time.time() - changed, a))
            time.sleep(0.1)
        out = consume(kafka.bootstrap, t["out_agg"], len(aggs) + len(sent), idle=1.0)[len(aggs):]
        assert len(out) == len(sent)
        new_table = dict(table, **{"k-1": site_attrs(site(1, "Renamed"))})
        del new_table["k-2"]
        late = [(m, a) for m, (dt, a) in zip(out, sent) if dt >= BOUND]
        assert late
        for m, a in late:
            assert so_decode(EAGG_RAW, EAGG, m.value()) == expect_join(a, [(new_table, "pass")])
        first_seen = min(dt for m, (dt, a) in zip(out, sent)
                         if so_decode(EAGG_RAW, EAGG, m.value()) == expect_join(a, [(new_table, "pass")]))
        print(f"reference change visible {first_seen:.2f}s after it was committed")

        # Restart: the table changes and records arrive while it is down;
        # every one of them must be joined with the changed table.
        e.stop()
        produce(kafka.bootstrap, ref, [(b"k-3", so_encode(REF_SCHEMA, REF, site(3, "While down")), None)])
        new_table["k-3"] = site_attrs(site(3, "While down"))
        down = [aggregate(2000 + i, "k-3") for i in range(50)]
        produce(kafka.bootstrap, t["agg"],
                [(a["key"].encode(), so_encode(AGG_RAW, AGG, a), None) for a in down])
        e.start()
        e.wait_ready()
        total = len(aggs) + len(sent) + len(down)
        out = consume(kafka.bootstrap, t["out_agg"], total, idle=2.0)
        assert len(out) == total  # exactly once across the restart
        assert [so_decode(EAGG_RAW, EAGG, m.value()) for m in out[-len(down):]] == \
            [expect_join(a, [(new_table, "pass")]) for a in down]
        log = e.log.read_text()
        assert log.index("table loaded") < log.index("joining")
    finally:
        e.stop()


# ---------------------------------------------------------------- Confluent framing

def test_confluent_wire_format_in_and_out(kafka, registry, topic, weir_build, tmp_path):
    """Input written by confluent-kafka's AvroSerializer (decoded by Weir
    through the registry, the path that resolves and re-encodes), output in
    Confluent framing read back by AvroDeserializer."""
    import datetime
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
    from confluent_kafka.serialization import MessageField, SerializationContext

    t = topics_for(topic)
    rows = [{"id": f"k-{i}", "name": f"n{i}"} for i in range(3)]
    (tmp_path / "ref.json").write_text(json.dumps(rows))
    table = {r["id"]: {"name": r["name"]} for r in rows}
    enr = dict(io_section(t), sources=[{"name": "ref", "type": "file", "path": "ref.json",
                                        "key_field": "id"}])
    e = Enrichment(weir_build, tmp_path, kafka.bootstrap, enr,
                   env={"WIRE_FORMAT": "confluent", "SCHEMA_REGISTRY_URL": registry.url}).start()
    try:
        e.wait_ready()
        src = SchemaRegistryClient({"url": registry.url})
        ser = AvroSerializer(src, json.dumps(AGG_RAW))
        aggs = [aggregate(i, f"k-{i % 5}") for i in range(40)]
        ctx = SerializationContext(t["agg"], MessageField.VALUE)
        produce(kafka.bootstrap, t["agg"], [(a["key"].encode(), ser(a, ctx), None) for a in aggs])
        out = consume(kafka.bootstrap, t["out_agg"], len(aggs), idle=1.0)
        assert len(out) == len(aggs)
        sid = src.get_latest_version(f"{t['out_agg']}-value").schema_id
        deser = AvroDeserializer(src)
        octx = SerializationContext(t["out_agg"], MessageField.VALUE)
        got = []
        for m in out:
            v = m.value()
            assert v[0] == 0 and struct.unpack(">I", v[1:5])[0] == sid
            rec = deser(v, octx)
            for f in ("window_start", "window_end", "emitted_at"):
                assert isinstance(rec[f], datetime.datetime)
                rec[f] = round(rec[f].timestamp() * 1000)
            got.append(rec)
        assert got == [expect_join(a, [(table, "pass")]) for a in aggs]
    finally:
        e.stop()


# ---------------------------------------------------------------- start-up

def test_startup_errors_and_stop_while_loading(kafka, topic, weir_build, tmp_path):
    t = topics_for(topic)
    # A reference file that is not there: exit 1, naming the source and file.
    enr = dict(io_section(t), sources=[{"name": "sites", "type": "file", "path": "nope.json",
                                        "key_field": "id"}])
    e = Enrichment(weir_build, tmp_path, kafka.bootstrap, enr)
    r = subprocess.run([e.exe], env=e.env, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert 'source "sites"' in r.stderr and "nope.json" in r.stderr
    # A CSV row with a field too many: the row is named.
    (tmp_path / "bad.csv").write_text("id,name\na,b\nc,d,e\n")
    enr["sources"] = [{"name": "sites", "type": "file", "path": "bad.csv", "key_field": "id"}]
    e = Enrichment(weir_build, tmp_path, kafka.bootstrap, enr)
    r = subprocess.run([e.exe], env=e.env, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "record 2: 3 fields, the header has 2" in r.stderr
    # SIGTERM while waiting for a reference topic: a clean, prompt exit.
    enr["sources"] = [{"name": "sites", "type": "kafka", "topic": f"absent-{t['agg']}"}]
    e = Enrichment(weir_build, tmp_path, kafka.bootstrap, enr).start()
    time.sleep(1.0)
    assert e.get("/readyz")[0] == 503
    t0 = time.time()
    e.stop(timeout=10)
    assert time.time() - t0 < 10


def test_kafka_table_in_every_instance(kafka, topic, weir_build, tmp_path):
    """Two instances share the input partitions (one group) but each holds
    the whole table: every record is joined whichever instance reads it."""
    t = topics_for(topic)
    t["agg"] = topic("agg4", partitions=4)
    ref = topic("ref3", partitions=3, config={"cleanup.policy": "compact"})
    table = {}
    recs = []
    for i in range(30):
        s = site(i)
        table[s["id"]] = site_attrs(s)
        recs.append((s["id"].encode(), so_encode(REF_SCHEMA, REF, s), None))
    produce(kafka.bootstrap, ref, recs)
    enr = dict(io_section(t), sources=[{"name": "sites", "type": "kafka", "topic": ref,
                                        "key_field": "id", "attributes": ["name", "lanes",
                                                                          "lat", "district"]}])
    inst = []
    for pod in ("a", "b"):
        d = tmp_path / pod
        d.mkdir()
        inst.append(Enrichment(weir_build, d, kafka.bootstrap, enr, extra_schemas=[REF_SCHEMA],
                               env={"POD_NAME": f"enrich-{pod}",
                                    "KAFKA_SESSION_TIMEOUT_MS": "6000"}).start())
    try:
        for e in inst:
            e.wait_ready()
        # Records keep coming until the group has split the partitions and
        # both instances have joined some (the second one's first
        # assignment may be empty while the first revokes).
        aggs = []
        deadline = time.time() + 60
        while len(aggs) < 300 or not all(
                e.metric("weir_enrichment_lookups_total", source="sites", type="kafka",
                         result="hit") > 0 for e in inst):
            assert time.time() < deadline, "one instance never got partitions"
            chunk = [aggregate(len(aggs) + i, f"k-{(len(aggs) + i) % 30}") for i in range(30)]
            produce(kafka.bootstrap, t["agg"],
                    [(a["key"].encode(), so_encode(AGG_RAW, AGG, a), None) for a in chunk])
            aggs += chunk
            time.sleep(0.2)
        out = consume(kafka.bootstrap, t["out_agg"], len(aggs), idle=1.0)
        want = sorted((json.dumps(expect_join(a, [(table, "pass")]), sort_keys=True)
                       for a in aggs))
        assert sorted(json.dumps(so_decode(EAGG_RAW, EAGG, m.value()), sort_keys=True)
                      for m in out) == want
        for e in inst:
            assert e.metric("weir_enrichment_table_entries", source="sites") == 30

        # kill -9 one instance while records stream in and start it again
        # (same pod name, so the same transactional.id fences the dead one's
        # open transaction at once): read_committed readers see every record
        # exactly once, joined with the table the new process rebuilt.
        more = [aggregate(5000 + i, f"k-{i % 30}") for i in range(3000)]
        vals = [(a["key"].encode(), so_encode(AGG_RAW, AGG, a), None) for a in more]
        p = Producer({"bootstrap.servers": kafka.bootstrap, "linger.ms": 5})
        for i, (k, v, _) in enumerate(vals):
            p.produce(t["agg"], key=k, value=v)
            if i % 250 == 0:
                p.flush(30)
                time.sleep(0.05)
            if i == len(vals) // 2:
                inst[0].proc.kill()
        assert p.flush(30) == 0
        inst[0].proc.wait(10)
        t_kill = time.time()
        inst[0].start()
        out = consume(kafka.bootstrap, t["out_agg"], len(aggs) + len(more), timeout=120, idle=2.0)
        print(f"all {len(out)} records out {time.time() - t_kill:.1f} s after the kill")
        want = sorted(json.dumps(expect_join(a, [(table, "pass")]), sort_keys=True)
                      for a in aggs + more)
        assert sorted(json.dumps(so_decode(EAGG_RAW, EAGG, m.value()), sort_keys=True)
                      for m in out) == want
    finally:
        for e in inst:
            e.stop()


def test_missing_output_schema_reported_before_kafka(weir_build, tmp_path):
    """Issue 19 item 11: with a kafka source (which would wait for the
    broker) and no broker listening, a SCHEMA_DIR without Weir's enriched
    schemas is reported at once, naming what to copy."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    enr = {"input": {"aggregates": "a", "alerts": "b"},
           "output": {"aggregates": "ae", "alerts": "be", "dlq": "d"},
           "join_key": "key", "sources": [{"name": "sites", "type": "kafka", "topic": "sites"}]}
    e = Enrichment(weir_build, tmp_path, f"127.0.0.1:{closed}", enr)
    (tmp_path / "schemas" / "aggregate_enriched.avsc").unlink()
    t0 = time.monotonic()
    r = subprocess.run([e.exe], env=e.env, cwd=REPO, capture_output=True, text=True, timeout=60)
    took = time.monotonic() - t0
    assert r.returncode == 1, r.stderr
    assert "weir.EnrichedAggregate" in r.stderr and "aggregate_enriched.avsc" in r.stderr, r.stderr
    assert took < 2.5, f"{took:.1f} s:\n{r.stderr}"
