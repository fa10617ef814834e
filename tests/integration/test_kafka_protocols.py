"""What librdkafka 2.0.2 (Debian's, which the services link) speaks to the
broker under test, so that the suite run on Kafka 4 (WEIR_KAFKA_VERSION=4)
records it: the classic consumer group protocol (JoinGroup/SyncGroup/
Heartbeat, not KIP-848's ConsumerGroupHeartbeat) and transactions of the
first version (EndTxn below v5, AddPartitionsToTxn from the client: not
KIP-890's transactions v2), and that asking for the new group protocol is
refused at start-up with a clear error instead of being ignored.  And that
its SCRAM works on Kafka 3.9 but is refused by Kafka 4 as invalid
credentials (Kafka 4 checks the SCRAM nonce strictly; librdkafka fixed its
client-final-message in 2.6.1), while PLAIN over TLS and mTLS work on both.
docs/security.md ("Kafka 4") cites these observations."""

import os
import re
import subprocess
import time

from confluent_kafka.admin import AdminClient

from conftest import REPO
from pipeline import Pipeline, sim_summary


def _sent(log: str) -> dict:
    """{request name: set of versions} of the requests librdkafka logged."""
    out = {}
    for name, v in re.findall(r"Sent (\w+)Request \(v(\d+)", log):
        out.setdefault(name, set()).add(int(v))
    return out


def test_compute_uses_classic_group_and_v1_transactions(kafka, weir_build, tmp_path):
    p = Pipeline(weir_build, kafka, tmp_path,
                 extra_env={"KAFKA_DEBUG": "protocol", "LOG_LEVEL": "debug"})
    try:
        p.start(("compute", "ingress"))
        p.post([{"key": "x-1", "value": {"sensor_id": "s", "intersection_id": "x-1",
                                         "ts": 1000 + i, "speed_kmh": 10.0,
                                         "vehicle_count": 1, "occupancy_pct": 1.0,
                                         "lane": None}} for i in range(5)])
        p.advance(10 ** 6)
        c = p.svc["compute"]
        deadline = time.monotonic() + 30
        while c.metric("weir_compute_aggregates_out_total") < 1:
            assert time.monotonic() < deadline, p.logs()
            time.sleep(0.2)
        time.sleep(1)  # the transaction with the aggregate commits
        assert p.stop()["compute"] == 0
    finally:
        p.stop(10)
    sent = _sent(c.log.read_text(errors="replace"))
    # Classic group protocol only.
    assert "JoinGroup" in sent and "SyncGroup" in sent, sorted(sent)
    assert "ConsumerGroupHeartbeat" not in sent
    # Transactions: the client adds partitions itself and ends with EndTxn
    # below v5 (KIP-890 part 2 needs EndTxn v5 and Produce v12).
    assert "AddPartitionsToTxn" in sent and max(sent["EndTxn"]) < 5, sent
    assert max(sent["Produce"]) < 12, sent


def test_new_group_protocol_is_refused_clearly(kafka, weir_build, tmp_path):
    p = Pipeline(weir_build, kafka, tmp_path, extra_env={"KAFKA_GROUP_PROTOCOL": "consumer"})
    s = p.svc["enrichment"]
    r = subprocess.run([str(weir_build / "bin" / "weir-enrichment")], env=s.env,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert 'KAFKA_GROUP_PROTOCOL="consumer": No such configuration property: "group.protocol"' \
        in r.stderr, r.stderr[-1000:]


def _sim(weir_build, env, topic):
    """weir-sim (librdkafka 2.0.2) producing 3 records; (acked, stderr)."""
    r = subprocess.run([str(weir_build / "bin" / "weir-sim"), "--topic", topic, "--count", "3",
                        "--flush-timeout", "6s", "--progress", "0"],
                       env=dict(os.environ, LOG_LEVEL="warn", **env), cwd=REPO,
                       capture_output=True, text=True, timeout=60)
    lines = [x for x in r.stdout.splitlines() if x.startswith("sim ")]
    return (sim_summary(r.stdout)["acked"] if lines else 0), r.stderr


def test_sasl_mechanisms_of_librdkafka_2_0_2(kafka_cluster_factory, weir_build):
    c = kafka_cluster_factory(nodes=1)
    t = c.create_topic("protocols")
    c.add_acls("weir-ingress", [("topic", t, "literal", ["Write"])])
    # The credentials are right: librdkafka 2.16 (confluent-kafka) logs in.
    AdminClient(dict(c.client_config("weir-ingress"), log_level=0)).list_topics(timeout=10)
    for via in ("plain", "mtls"):
        acked, err = _sim(weir_build, c.client_env("weir-ingress", via), t)
        assert acked == 3, (via, err[-1500:])
    acked, err = _sim(weir_build, c.client_env("weir-ingress", "scram"), t)
    if c.major < 4:
        assert acked == 3, err[-1500:]
    else:
        assert acked == 0
        assert "SASL authentication error: Authentication failed during authentication due " \
               "to invalid credentials with SASL mechanism SCRAM-SHA-512" in err, err[-1500:]
