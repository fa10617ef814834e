"""Avro interoperability on the real broker, with peers nobody here wrote.

Records written by common/ (through tests/tools/avro_tool) are read by
Python's confluent-kafka and decoded by fastavro, in both wire formats; records
written by confluent-kafka's AvroSerializer and by fastavro are decoded by
common/. Expected values come from the test's own data, never from Weir.
"""
import datetime
import io
import os
import json
import random
import struct
import subprocess

import fastavro
import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from conftest import REPO

SCHEMAS = REPO / "schemas"



def tool(name, *args, input=None, timeout=120):
    """Runs a C tool from the build (tests/tools/), from the repo root."""
    exe = REPO / os.environ.get("WEIR_BUILD", "build/rel") / "tools" / name
    return subprocess.run([str(exe), *args], input=input, capture_output=True, text=True,
                          timeout=timeout, cwd=REPO)


READING = json.load(open(SCHEMAS / "traffic_reading.avsc"))
PARSED = fastavro.parse_schema(READING)


def _no_logical(schema):
    """The schema without logicalType, so fastavro keeps timestamps as the
    longs the test compares (the wire bytes are the same)."""
    if isinstance(schema, dict):
        return {k: _no_logical(v) for k, v in schema.items() if k != "logicalType"}
    if isinstance(schema, list):
        return [_no_logical(v) for v in schema]
    return schema


PLAIN = fastavro.parse_schema(_no_logical(READING))
NAME = "weir.example.TrafficReading"


def readings(n, seed=7):
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        out.append({
            "sensor_id": f"s-{i % 17}",
            "intersection_id": f"x-{i % 5}-ü",
            "ts": 1_700_000_000_000 + i * 1000,
            "speed_kmh": round(rnd.uniform(0, 120), 3),
            "vehicle_count": rnd.randint(0, 60),
            # float: pick values exactly representable in 32 bits
            "occupancy_pct": rnd.randint(0, 400) / 4.0,
            "lane": None if i % 3 == 0 else rnd.randint(1, 4),
        })
    return out


def avro_json_lines(records, schema=PARSED):
    """Avro JSON encoding of records, written by fastavro."""
    buf = io.StringIO()
    fastavro.json_writer(buf, schema, records)
    return buf.getvalue()


def consume_raw(bootstrap, topic, n, timeout=30.0):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"py-{topic}",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.subscribe([topic])
    out = []
    import time
    deadline = time.time() + timeout
    while len(out) < n and time.time() < deadline:
        m = c.poll(0.5)
        if m is None or m.error():
            continue
        out.append(m)
    c.close()
    return out


def read_single_object(value, schema=PLAIN):
    assert value[:2] == b"\xc3\x01", value[:2]
    fp = struct.unpack("<Q", value[2:10])[0]
    return fp, fastavro.schemaless_reader(io.BytesIO(value[10:]), schema)


def test_weir_single_object_read_by_fastavro(kafka, topic):
    topic = topic()
    recs = readings(200)
    r = tool("avro_tool", "produce", "-b", kafka.bootstrap, "-t", topic,
             "--schema", NAME, "--key", "intersection_id", "--wire", "single-object",
             input=avro_json_lines(recs))
    assert r.returncode == 0, r.stderr
    msgs = consume_raw(kafka.bootstrap, topic, len(recs))
    assert len(msgs) == len(recs)
    # fastavro gives the fingerprint as the hex of its little-endian bytes,
    # the order the single-object header carries it in.
    want_fp = struct.unpack("<Q", bytes.fromhex(fastavro.schema.fingerprint(
        fastavro.schema.to_parsing_canonical_form(READING), "CRC-64-AVRO")))[0]
    got = []
    for m in msgs:
        fp, rec = read_single_object(m.value())
        assert fp == want_fp
        assert m.key().decode() == rec["intersection_id"]
        got.append(rec)
    assert sorted(got, key=lambda r: r["ts"]) == recs


def test_weir_confluent_read_by_confluent_deserializer(kafka, registry, topic):
    topic = topic()
    recs = readings(100, seed=3)
    r = tool("avro_tool", "produce", "-b", kafka.bootstrap, "-t", topic,
             "--schema", NAME, "--wire", "confluent", "--registry", registry.url,
             input=avro_json_lines(recs))
    assert r.returncode == 0, r.stderr
    src = SchemaRegistryClient({"url": registry.url})
    # TopicNameStrategy: the schema was registered under <topic>-value
    latest = src.get_latest_version(f"{topic}-value")
    deser = AvroDeserializer(src)
    msgs = consume_raw(kafka.bootstrap, topic, len(recs))
    got = []
    for m in msgs:
        v = m.value()
        assert v[0] == 0 and struct.unpack(">I", v[1:5])[0] == latest.schema_id
        rec = deser(v, SerializationContext(topic, MessageField.VALUE))
        # The schema registered is the .avsc as written, logical types kept:
        # the deserializer hands back ts as a datetime.
        assert isinstance(rec["ts"], datetime.datetime), rec["ts"]
        rec["ts"] = round(rec["ts"].timestamp() * 1000)
        got.append(rec)
    assert sorted(got, key=lambda r: r["ts"]) == recs


def weir_consume(kafka, topic, n, *extra):
    r = tool("avro_tool", "consume", "-b", kafka.bootstrap, "-t", topic,
             "--schema", NAME, "-n", str(n), *extra)
    assert r.returncode == 0, r.stderr
    lines = [l for l in r.stdout.splitlines() if l.strip()]
    return list(fastavro.json_reader(io.StringIO("\n".join(lines)), PLAIN))


def test_confluent_serializer_read_by_weir(kafka, registry, topic):
    topic = topic()
    recs = readings(100, seed=11)
    src = SchemaRegistryClient({"url": registry.url})
    ser = AvroSerializer(src, json.dumps(READING))
    p = Producer({"bootstrap.servers": kafka.bootstrap})
    for rec in recs:
        p.produce(topic, key=rec["intersection_id"],
                  value=ser(rec, SerializationContext(topic, MessageField.VALUE)))
    assert p.flush(30) == 0
    got = weir_consume(kafka, topic, len(recs), "--registry", registry.url)
    assert got == recs


def test_fastavro_single_object_and_evolution_read_by_weir(kafka, topic, tmp_path):
    topic = topic()
    # An older producer: no `lane`, `vehicle_count` as int, `speed_kmh` as
    # float — the reader schema adds lane's default and promotes float→double.
    old = {"type": "record", "name": "TrafficReading", "namespace": "weir.example",
           "fields": [f for f in READING["fields"] if f["name"] != "lane"]}
    old["fields"] = [dict(f, type="float") if f["name"] == "speed_kmh" else f
                     for f in old["fields"]]
    recs = readings(50, seed=5)
    p = Producer({"bootstrap.servers": kafka.bootstrap})
    fp_bytes = bytes.fromhex(fastavro.schema.fingerprint(
        fastavro.schema.to_parsing_canonical_form(old), "CRC-64-AVRO"))
    expect = []
    for rec in recs:
        rec = {k: v for k, v in rec.items() if k != "lane"}
        rec["speed_kmh"] = float(int(rec["speed_kmh"]))  # exact in float32
        b = io.BytesIO()
        fastavro.schemaless_writer(b, fastavro.parse_schema(old), rec)
        p.produce(topic, value=b"\xc3\x01" + fp_bytes + b.getvalue())
        expect.append(dict(rec, lane=None))
    assert p.flush(30) == 0
    # The old writer schema is not in schemas/: Weir must learn it from a
    # file given with --writer-schema (single-object needs no registry).
    wfile = tmp_path / "old.avsc"
    wfile.write_text(json.dumps(old))
    got = weir_consume(kafka, topic, len(recs), "--writer-schema", str(wfile))
    assert got == expect


def test_weir_rejects_bad_records_per_record(kafka, topic):
    topic = topic()
    good = avro_json_lines(readings(3)).splitlines()
    body = "\n".join([good[0], '{"sensor_id": 5}', good[1], "not json", good[2]]) + "\n"
    r = tool("avro_tool", "produce", "-b", kafka.bootstrap, "-t", topic,
             "--schema", NAME, input=body)
    assert r.returncode != 0
    errors = [l for l in r.stdout.splitlines() if l.startswith("error")]
    assert len(errors) == 2
    assert "$.sensor_id" in errors[0]
    msgs = consume_raw(kafka.bootstrap, topic, 3, timeout=15)
    assert len(msgs) == 3
