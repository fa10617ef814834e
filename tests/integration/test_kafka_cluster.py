"""The secured cluster harness (tests/harness/kafka_cluster.py) is what it
claims: three replicas with min.insync.replicas 2, SCRAM-SHA-512 over TLS
and mTLS principals that ACLs apply to, nothing allowed without an ACL, a
wrong password or a missing client certificate refused, and leadership that
moves when a broker is killed."""

import time
import uuid

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition


def _produce(conf, topic, n=5, timeout=20):
    errs, ok = [], []
    p = Producer(dict(conf, **{"acks": "all", "message.timeout.ms": int(timeout * 1000),
                               "log_level": 0, "error_cb": lambda e: errs.append(e)}))
    for i in range(n):
        p.produce(topic, f"v{i}".encode(),
                  on_delivery=lambda e, m: (errs if e else ok).append(e or m.offset()))
    p.flush(timeout + 5)
    return ok, errs


def _read(conf, topic, n, timeout=20):
    c = Consumer(dict(conf, **{"group.id": f"g-{uuid.uuid4().hex[:6]}", "log_level": 0,
                               "auto.offset.reset": "earliest", "enable.auto.commit": False}))
    c.assign([TopicPartition(topic, 0, 0)])
    out, deadline = [], time.monotonic() + timeout
    while len(out) < n and time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is not None and not m.error():
            out.append(m.value())
    c.close()
    return out


def test_cluster_replicates_and_enforces_acls(kafka_cluster):
    c = kafka_cluster
    t = c.create_topic(f"harness-{uuid.uuid4().hex[:6]}", partitions=1)
    cfg = c.partition(t, 0)
    assert len(cfg.replicas) == 3 and sorted(cfg.isrs) == sorted(cfg.replicas)
    assert c.topic_config(t)["min.insync.replicas"] == "2"

    # No ACL yet: the principal authenticates but may not write.
    ok, errs = _produce(c.client_config("weir-ingress"), t, 1, timeout=10)
    assert not ok and errs[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, errs
    c.add_acls("weir-ingress", [("topic", t, "literal", ["Write"])])
    c.add_acls("weir-sink", [("topic", t, "literal", ["Read"]), ("group", "g-", "prefixed",
                                                                 ["Read"])])
    deadline = time.monotonic() + 10
    while True:  # every broker applies the new ACL from the metadata log
        ok, errs = _produce(c.client_config("weir-ingress"), t, 5)
        if len(ok) == 5 or time.monotonic() > deadline:
            break
    assert len(ok) == 5 and not errs, errs
    ok, errs = _produce(c.client_config("weir-ingress", via="mtls"), t, 5)
    assert len(ok) == 5 and not errs, errs  # the same principal through its certificate
    assert len(_read(c.client_config("weir-sink", via="mtls"), t, 10)) == 10
    # weir-sink may read but not write.
    ok, errs = _produce(c.client_config("weir-sink"), t, 1, timeout=10)
    assert not ok and errs[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED

    # A wrong password, or TLS without a client certificate, gets nowhere.
    bad = dict(c.client_config("weir-ingress"), **{"sasl.password": "wrong"})
    ok, errs = _produce(bad, t, 1, timeout=5)
    assert not ok and any(e.code() in (KafkaError._AUTHENTICATION, KafkaError._MSG_TIMED_OUT)
                          for e in errs), errs
    nocert = {k: v for k, v in c.client_config("weir-ingress", via="mtls").items()
              if not k.startswith("ssl.certificate") and not k.startswith("ssl.key")}
    ok, errs = _produce(nocert, t, 1, timeout=5)
    assert not ok


def test_killed_leader_moves_and_rejoins(kafka_cluster):
    c = kafka_cluster
    t = c.create_topic(f"harness-kill-{uuid.uuid4().hex[:6]}", partitions=1)
    c.add_acls("weir-ingress", [("topic", t, "literal", ["Write"])])
    leader = c.leader_of(t, 0)
    c.kill(leader)
    deadline = time.monotonic() + 30
    while (now := c.leader_of(t, 0)) in (leader, -1):
        assert time.monotonic() < deadline, "no new leader in 30 s"
        time.sleep(0.2)
    # Two of three replicas are enough for acks=all with min ISR 2.
    ok, errs = _produce(c.client_config("weir-ingress"), t, 3)
    assert len(ok) == 3, errs
    c.start_node(leader)
    c.wait_fully_replicated(60)
    assert c.leader_of(t, 0) in c.node_ids and now != leader


def test_coordinator_of_agrees_with_the_brokers(kafka_cluster):
    """coordinator_of() (the partition of __consumer_offsets or
    __transaction_state a key hashes to, and its leader) names the broker
    the cluster itself answers FindCoordinator with, for many group ids;
    transactional ids use the same hash on the other topic."""
    c = kafka_cluster
    groups = [f"weir-compute-e2e{i:03d}" for i in range(24)]
    deadline = time.monotonic() + 60
    while True:  # the first FindCoordinator creates __consumer_offsets
        try:
            res = c.admin().describe_consumer_groups(groups, request_timeout=30)
            got = {g: f.result(timeout=30).coordinator.id for g, f in res.items()}
            break
        except KafkaException:
            assert time.monotonic() < deadline, "no group coordinators in 60 s"
            time.sleep(0.5)
    assert got == {g: c.coordinator_of(g, kind="group") for g in groups}
    assert len(set(got.values())) > 1  # the check covers more than one broker
