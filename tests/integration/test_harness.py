"""The test harness itself, against the real broker: Python's confluent-kafka
and kcat as independent peers, the Schema Registry stub against Confluent's
own client.  If these fail, no other integration result means anything."""

import json
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

REPO = Path(__file__).resolve().parents[2]
TRAFFIC = (REPO / "schemas" / "traffic_reading.avsc").read_text()


def consumer(kafka, **extra):
    conf = {
        "bootstrap.servers": kafka.bootstrap,
        "group.id": f"harness-{uuid.uuid4().hex[:8]}",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    }
    conf.update(extra)
    return Consumer(conf)


def consume_all(c, topic, expected, timeout=30.0):
    """Reads until `expected` messages arrived (or the timeout); returns them."""
    c.subscribe([topic])
    out = []
    deadline = time.monotonic() + timeout
    while len(out) < expected and time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is None:
            continue
        if m.error():
            raise KafkaException(m.error())
        out.append(m)
    return out


def produce_and_flush(p, topic, items):
    errors = []

    def dr(err, msg):
        if err:
            errors.append(err)

    for k, v in items:
        p.produce(topic, key=k, value=v, on_delivery=dr)
    assert p.flush(30) == 0
    assert errors == []


def test_broker_is_the_real_kafka(kafka):
    assert kafka.version == kafka_version_from_pom()
    assert kafka.version_string == f"Apache Kafka {kafka.version} (KRaft)"
    md = kafka.admin().list_topics(timeout=10)
    assert list(md.brokers) == [1]
    assert md.controller_id == 1  # combined broker+controller node
    assert kafka.running and kafka.bootstrap.startswith("127.0.0.1:")


def kafka_version_from_pom():
    import kafka as kh
    return kh.pom_version()


def test_produce_consume(kafka, topic):
    t = topic(partitions=3)
    p = Producer({"bootstrap.servers": kafka.bootstrap, "acks": "all",
                  "enable.idempotence": True, "linger.ms": 5})
    items = [(f"k{i % 7}".encode(), f"v{i}".encode()) for i in range(300)]
    produce_and_flush(p, t, items)
    c = consumer(kafka)
    try:
        got = consume_all(c, t, len(items))
    finally:
        c.close()
    assert sorted(m.value() for m in got) == sorted(v for _, v in items)
    # The same key always lands on the same partition, in produce order.
    by_key = {}
    for m in got:
        by_key.setdefault(m.key(), set()).add(m.partition())
        assert m.key() is not None
    assert all(len(ps) == 1 for ps in by_key.values())
    assert len({m.partition() for m in got}) > 1
    for key in by_key:
        seq = [int(m.value()[1:]) for m in got if m.key() == key]
        assert seq == sorted(seq)


def test_transactions_read_committed(kafka, topic):
    t = topic()
    p = Producer({"bootstrap.servers": kafka.bootstrap,
                  "transactional.id": f"harness-{uuid.uuid4().hex[:8]}",
                  "transaction.timeout.ms": 30000})
    p.init_transactions(30)
    for batch, commit in (("a", True), ("b", False), ("c", True)):
        p.begin_transaction()
        for i in range(5):
            p.produce(t, key=batch.encode(), value=f"{batch}{i}".encode())
        p.flush(30)
        if commit:
            p.commit_transaction(30)
        else:
            p.abort_transaction(30)

    committed = [f"{b}{i}".encode() for b in "ac" for i in range(5)]
    c = consumer(kafka, **{"isolation.level": "read_committed"})
    try:
        got = consume_all(c, t, len(committed), timeout=30)
        # Nothing more arrives: the aborted batch stays invisible.
        extra = c.poll(1.0)
        assert extra is None or extra.error() is not None
        lo, hi = c.get_watermark_offsets(TopicPartition(t, 0), timeout=10)
    finally:
        c.close()
    assert [m.value() for m in got] == committed
    # 15 records + 3 transaction markers occupy offsets 0..17.
    assert (lo, hi) == (0, 18)

    c = consumer(kafka, **{"isolation.level": "read_uncommitted"})
    try:
        got = consume_all(c, t, 15, timeout=30)
    finally:
        c.close()
    assert [m.value() for m in got] == [f"{b}{i}".encode() for b in "abc" for i in range(5)]


def test_compacted_topic(kafka, topic):
    t = topic(config={"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.01",
                      "segment.ms": "100", "delete.retention.ms": "100"})
    cfg = kafka.topic_config(t)
    assert cfg["cleanup.policy"] == "compact"
    assert cfg["min.cleanable.dirty.ratio"] == "0.01"

    # And the cleaner really compacts with the harness's broker settings:
    # older values of a key disappear from the closed segments.
    p = Producer({"bootstrap.servers": kafka.bootstrap, "linger.ms": 0})
    for rnd in range(3):
        produce_and_flush(p, t, [(f"k{i}".encode(), f"{rnd}".encode()) for i in range(10)])
        time.sleep(0.15)  # past segment.ms, so the next record rolls the segment
    produce_and_flush(p, t, [(b"roll", b"x")])
    time.sleep(0.15)
    produce_and_flush(p, t, [(b"roll", b"y")])

    deadline = time.monotonic() + 40
    while True:
        c = consumer(kafka)
        try:
            lo, hi = c.get_watermark_offsets(TopicPartition(t, 0), timeout=10)
            got = consume_all(c, t, 1_000_000, timeout=2)
        finally:
            c.close()
        latest = {}
        for m in got:
            latest[m.key()] = m.value()
        assert latest[b"k3"] == b"2"  # compaction never loses the latest value
        if len(got) < 32:
            break
        assert time.monotonic() < deadline, f"not compacted: {len(got)} records"
        time.sleep(1)
    assert hi == 32 and len(got) < 32


def test_registry_with_confluent_client(registry):
    c = SchemaRegistryClient({"url": registry.url})
    subject = f"harness-{uuid.uuid4().hex[:8]}-value"
    sid = c.register_schema(subject, Schema(TRAFFIC, "AVRO"))
    assert sid >= 1
    # Same schema text (even reformatted) → same id, no new version.
    reformatted = json.dumps(json.loads(TRAFFIC))
    c2 = SchemaRegistryClient({"url": registry.url})  # no client-side cache
    assert c2.register_schema(subject, Schema(reformatted, "AVRO")) == sid
    assert c2.get_versions(subject) == [1]
    # Same schema under another subject → same global id.
    assert c2.register_schema(subject + "-other", Schema(TRAFFIC, "AVRO")) == sid
    # Evolution: an added field with a default is a new id and version 2.
    evolved = json.loads(TRAFFIC)
    evolved["fields"].append({"name": "note", "type": "string", "default": ""})
    sid2 = c2.register_schema(subject, Schema(json.dumps(evolved), "AVRO"))
    assert sid2 != sid
    latest = c2.get_latest_version(subject)
    assert (latest.version, latest.schema_id) == (2, sid2)
    assert c2.get_version(subject, 1).schema_id == sid
    assert json.loads(c2.get_schema(sid).schema_str) == json.loads(TRAFFIC)
    found = c2.lookup_schema(subject, Schema(TRAFFIC, "AVRO"))
    assert (found.schema_id, found.version) == (sid, 1)
    assert subject in c2.get_subjects()

    with pytest.raises(SchemaRegistryError) as e:
        c2.get_latest_version("no-such-subject-value")
    assert (e.value.http_status_code, e.value.error_code) == (404, 40401)
    with pytest.raises(SchemaRegistryError) as e:
        c2.get_schema(987654)
    assert (e.value.http_status_code, e.value.error_code) == (404, 40403)
    for bad in ('{"type": "record", "name": "x"}', '{"type": "nosuchtype"}', "{not json"):
        with pytest.raises(SchemaRegistryError) as e:
            c2.register_schema(subject, Schema(bad, "AVRO"))
        assert (e.value.http_status_code, e.value.error_code) == (422, 42201), bad


def test_registry_avro_roundtrip_through_kafka(kafka, registry, topic):
    t = topic()
    src = SchemaRegistryClient({"url": registry.url})
    ser = AvroSerializer(src, TRAFFIC)
    reading = {"sensor_id": "s-1", "intersection_id": "x-42", "ts": 1_700_000_000_123,
               "speed_kmh": 31.5, "vehicle_count": 7, "occupancy_pct": 12.25, "lane": None}
    ctx = SerializationContext(t, MessageField.VALUE)
    data = ser(reading, ctx)
    # Confluent wire format: magic 0, big-endian id registered as <topic>-value.
    sid = src.get_latest_version(f"{t}-value").schema_id
    assert data[0] == 0 and int.from_bytes(data[1:5], "big") == sid

    p = Producer({"bootstrap.servers": kafka.bootstrap})
    produce_and_flush(p, t, [(b"x-42", data)])
    c = consumer(kafka)
    try:
        (m,) = consume_all(c, t, 1)
    finally:
        c.close()
    # A fresh client (empty cache) fetches the writer schema by id.
    de = AvroDeserializer(SchemaRegistryClient({"url": registry.url}))
    back = de(m.value(), SerializationContext(t, MessageField.VALUE))
    assert back["sensor_id"] == "s-1" and back["lane"] is None
    assert back["speed_kmh"] == 31.5 and back["vehicle_count"] == 7
    ts = back["ts"]  # timestamp-millis comes back as an aware datetime
    assert int(ts.timestamp() * 1000) == reading["ts"]


def test_registry_basic_auth():
    import registry as rh
    with rh.Registry(basic_auth="weir:s3cret") as r:
        ok = SchemaRegistryClient({"url": r.url, "basic.auth.user.info": "weir:s3cret"})
        assert ok.register_schema("a-value", Schema(TRAFFIC, "AVRO")) == 1
        bad = SchemaRegistryClient({"url": r.url, "basic.auth.user.info": "weir:wrong"})
        with pytest.raises(SchemaRegistryError) as e:
            bad.get_subjects()
        assert e.value.http_status_code == 401


@pytest.mark.skipif(not shutil.which("kcat"), reason="kcat not installed (make deps)")
def test_kcat_lists_metadata(kafka, topic):
    t = topic(partitions=2)
    out = subprocess.run(["kcat", "-b", kafka.bootstrap, "-L", "-J"], capture_output=True,
                         text=True, timeout=30, check=True).stdout
    md = json.loads(out)
    assert [b["id"] for b in md["brokers"]] == [1]
    topics = {x["topic"]: x for x in md["topics"]}
    assert len(topics[t]["partitions"]) == 2
    # kcat as a producer and consumer, too.
    subprocess.run(["kcat", "-b", kafka.bootstrap, "-P", "-t", t, "-p", "0"], input="hello\n",
                   text=True, timeout=30, check=True)
    out = subprocess.run(["kcat", "-b", kafka.bootstrap, "-C", "-t", t, "-p", "0", "-o",
                          "beginning", "-e", "-q"], capture_output=True, text=True,
                         timeout=30, check=True).stdout
    assert out.splitlines() == ["hello"]


def test_broker_kill_and_restart_keeps_data(kafka_factory):
    b = kafka_factory()
    port, d = b.port, b.dir
    t = b.create_topic("survivor", partitions=2)
    p = Producer({"bootstrap.servers": b.bootstrap, "acks": "all", "enable.idempotence": True,
                  "linger.ms": 0, "message.timeout.ms": 60000,
                  # librdkafka's reconnect backoff grows to 10 s by default
                  "reconnect.backoff.max.ms": 500})
    produce_and_flush(p, t, [(b"k%d" % i, b"before-%d" % i) for i in range(50)])

    b.kill()  # kill -9, mid-session: the producer keeps its connection state
    assert not b.running
    delivered = []
    for i in range(50):
        p.produce(t, key=b"k%d" % i, value=b"after-%d" % i,
                  on_delivery=lambda err, msg: delivered.append(err))
    p.poll(0.5)
    b.start()
    assert (b.port, b.dir) == (port, d)
    assert p.flush(60) == 0
    assert delivered == [None] * 50  # the idempotent producer delivered across the restart

    c = consumer(b)
    try:
        got = consume_all(c, t, 100, timeout=30)
    finally:
        c.close()
    values = sorted(m.value() for m in got)
    assert len(values) == 100 and len(set(values)) == 100  # nothing lost, nothing duplicated

    pid = b.pid
    b.close()
    assert not b.running and not d.exists()
    assert not Path(f"/proc/{pid}").exists() or b"kafka.Kafka" not in \
        Path(f"/proc/{pid}/cmdline").read_bytes()
