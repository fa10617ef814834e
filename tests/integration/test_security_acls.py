"""The whole pipeline on the secured three-node cluster (SASL_SSL
SCRAM-SHA-512 and mTLS, StandardAuthorizer, no allow-everyone) through
exactly the ACLs docs/security.md documents (security_doc.py reads them from
the doc): ingress, compute and sink authenticate with SCRAM-SHA-512 (PLAIN
over TLS on Kafka 4, where librdkafka 2.0.2's SCRAM is refused: see
test_kafka_protocols.py), enrichment with its client certificate, each as its own principal, configured only through
KAFKA_* variables.  What the sink delivers over its WebSocket must equal the
reference computed independently from the simulator's records (test_e2e's),
every aggregate and alert exactly once."""

import json
import time

from conftest import REPO
from pipeline import Pipeline
from security_doc import documented_acls
from test_e2e import RULE_FOR, SIM, SIZE, Feed, close, reference

SERVICES = {"ingress": "scram", "compute": "scram", "enrichment": "mtls", "sink": "scram"}


def test_pipeline_through_documented_acls_only(kafka_cluster, weir_build, tmp_path):
    c = kafka_cluster
    ref = reference(weir_build)
    districts = {r["intersection_id"]: r["district"] for r in
                 json.loads((REPO / "docs" / "examples" / "intersections.json").read_text())}
    # SCRAM where librdkafka 2.0.2 can use it (Kafka 3.9), PLAIN over TLS on
    # Kafka 4 (Cluster.sasl_via).
    env = {n: c.client_env(f"weir-{n}", c.sasl_via if via == "scram" else via)
           for n, via in SERVICES.items()}
    p = Pipeline(weir_build, c, tmp_path, rule_for=RULE_FOR, service_env=env)
    for n in SERVICES:  # nothing but what the doc grants
        c.clear_acls(f"weir-{n}")
    p.create_topics()
    p._topics_made = True
    bindings = documented_acls(c, p)
    assert c.add_acls(bindings) == len(bindings) > 10
    principals = {b.principal for b in bindings}
    assert principals == {f"User:weir-{n}" for n in SERVICES}, principals
    try:
        p.start(timeout=90)
        # compute created its changelog itself (the one documented Create).
        assert p.spec["compute"]["output"]["changelog"] in c.admin().list_topics(
            timeout=10).topics
        feed = Feed(p.ws_url)
        s = p.sim(*SIM)
        assert s["rejected"] == ref["invalid"] and s["failed"] == 0, s
        assert s["acked"] == 16000 - ref["invalid"], s
        p.advance(ref["max_ts"] + 2 * SIZE)

        want, n_alerts = len(ref["aggs"]), len(ref["alerts"])
        deadline = time.monotonic() + 90
        while True:
            aggs = [e for e in feed.events if e["kind"] == "aggregate"]
            alerts = [e for e in feed.events if e["kind"] == "alert"]
            if len(aggs) >= want and len(alerts) >= n_alerts:
                break
            assert feed.error is None, feed.error
            assert time.monotonic() < deadline, (
                f"ws {len(aggs)}/{want} aggregates {len(alerts)}/{n_alerts} alerts\n{p.logs()}")
            time.sleep(0.5)
        time.sleep(2)  # a duplicate would arrive now
        feed.stop = True
        aggs = [e for e in feed.events if e["kind"] == "aggregate"]
        assert sorted((e["key"], e["time"]) for e in aggs) == sorted(ref["aggs"])
        for e in aggs:
            d, w = e["data"], ref["aggs"][(e["key"], e["time"])]
            assert d["count"] == w["count"] and d["final"] is True
            sp = next(f for f in d["fields"] if f["name"] == "speed_kmh")
            assert close(sp["mean"], w["speed_kmh_mean"]) and close(sp["sum"], w["speed_kmh_sum"])
            assert d["enriched"] == (e["key"] in districts)  # joined, over mTLS
            assert d["attributes"].get("district") == districts.get(e["key"])
        got_alerts = sorted((e["key"], e["time"], e["data"]["state"])
                            for e in feed.events if e["kind"] == "alert")
        assert got_alerts == sorted(ref["alerts"])
        assert p.svc["compute"].metric("weir_compute_late_records_total") == ref["late"]
        rc = p.stop()
        assert rc == {n: 0 for n in rc}, f"exit statuses {rc}\n{p.logs()}"
    finally:
        p.stop(10)
