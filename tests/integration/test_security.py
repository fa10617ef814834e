"""Weir on a secured broker (tests/harness/kafka_cluster.py, one node for
speed: SASL_SSL SCRAM-SHA-512 and mTLS, StandardAuthorizer, no
allow-everyone) when Kafka refuses it, and secrets that never show.

- A wrong SCRAM password (PLAIN on Kafka 4; read from KAFKA_SASL_PASSWORD_FILE), an untrusted
  broker certificate and a missing ACL each leave the service running,
  /readyz 503 with "unmet: kafka access", ONE log line naming the cause
  (principal, operation, resource; never the secret) instead of one per
  librdkafka retry, ingress answering 503 with its JSON error; and the
  service recovers by itself: the password rotated in the file (re-read and
  applied with rd_kafka_sasl_set_credentials), the ACL added.
- A transactional service (enrichment) refused its transactional id keeps
  retrying with backoff, never exits, and is ready once the ACL is added;
  the sink refused its DLQ producer's id is ready once it is granted,
  though it writes nothing.
- No secret in any log line (LOG_LEVEL=debug with KAFKA_DEBUG=all, and
  info), in /metrics, in /proc/<pid>/environ (it came from a file), in an
  error answer, in a bad-configuration exit or in a crash (SIGABRT, SIGSEGV).
"""

import json
import os
import re
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import requests

from conftest import REPO
from kafka_cluster import Cluster, Pki
from pipeline import Pipeline
from security_doc import documented_acls
from test_ingress import JSON_CT, SPEC, Ingress, reading


@pytest.fixture(scope="module")
def sec():
    """One secured node of its own: tests here change passwords and ACLs."""
    c = Cluster(nodes=1)
    try:
        c.start()
        yield c
    finally:
        c.close()


def scram_env(c, user, tmp_path, password=None):
    """KAFKA_* for `user` over SASL_SSL (SCRAM; PLAIN on Kafka 4, whose
    brokers refuse librdkafka 2.0.2's SCRAM: Cluster.sasl_via), the password
    only in a file."""
    env = c.client_env(user, c.sasl_via)
    pw = env.pop("KAFKA_SASL_PASSWORD")
    f = tmp_path / f"{user}-password-{uuid.uuid4().hex[:6]}"
    f.write_text((password if password is not None else pw) + "\n")
    env["KAFKA_SASL_PASSWORD_FILE"] = str(f)
    env["KAFKA_STATISTICS_INTERVAL_MS"] = "500"
    return env, f


def wait_log(path: Path, pattern: str, timeout: float, proc=None) -> str:
    deadline = time.monotonic() + timeout
    while True:
        text = path.read_text(errors="replace") if path.exists() else ""
        if re.search(pattern, text):
            return text
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"exited {proc.returncode} before /{pattern}/:\n{text[-3000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"no /{pattern}/ in {timeout} s:\n{text[-3000:]}")
        time.sleep(0.2)


def lines(text: str, needle: str) -> list[str]:
    return [ln for ln in text.splitlines() if needle in ln]


def readyz(admin_port: int) -> tuple[int, str]:
    r = requests.get(f"http://127.0.0.1:{admin_port}/readyz", timeout=5)
    return r.status_code, r.text


def new_topic(c, prefix="sec"):
    name = f"{prefix}.{uuid.uuid4().hex[:8]}"
    c.create_topic(name, partitions=1)
    return name


def start_without(sec, weir_build, tmp_path, service, held):
    """weir-<service> alone on the secured node, granted the documented ACLs
    but those `held(binding)` picks (some, not all); returns (the pipeline,
    the service, the bindings held back)."""
    env, _ = scram_env(sec, f"weir-{service}", tmp_path)
    p = Pipeline(weir_build, sec, tmp_path, service_env={service: env})
    p.create_topics()
    p._topics_made = True
    mine = [b for b in documented_acls(sec, p) if b.principal == f"User:weir-{service}"]
    missing = [b for b in mine if held(b)]
    assert missing and len(missing) < len(mine)
    sec.clear_acls(f"weir-{service}")
    sec.add_acls([b for b in mine if b not in missing])
    svc = p.svc[service]
    svc.start()
    return p, svc, missing


def test_wrong_password_then_rotated_file(sec, weir_build, tmp_path):
    topic = new_topic(sec)
    sec.add_acls("weir-ingress", [("topic", topic, "literal", ["Write"])])
    right = sec.passwords["weir-ingress"]
    wrong = "Wr0ng-" + uuid.uuid4().hex
    env, pwfile = scram_env(sec, "weir-ingress", tmp_path, password=wrong)
    ig = Ingress(weir_build, tmp_path, sec.bootstrap, topic, **env)
    try:
        text = wait_log(ig.log, "Kafka refuses the credentials", 60, ig.proc)
        # Ten seconds of librdkafka retrying (reconnect backoff up to 10 s):
        # the cause once, a "still refused" line at 5 s at most once more.
        time.sleep(10)
        text = ig.log.read_text()
        assert ig.proc.poll() is None, text[-3000:]
        first = lines(text, "Kafka refuses the credentials")
        assert len(first) - len(lines(text, "still refused")) == 1, "\n".join(first)
        assert len(first) <= 3, "\n".join(first)
        line = json.loads(first[0])
        assert line["level"] == "error" and line["cause"] == "authentication"
        assert "User:weir-ingress" in line["msg"] and env["KAFKA_SASL_MECHANISMS"] in line["msg"]
        assert not lines(text, "SASL authentication error") or all(
            '"level":"debug"' in ln for ln in lines(text, "SASL authentication error")
            if "Kafka refuses" not in ln)
        code, body = readyz(ig.admin)
        assert code == 503 and "unmet: kafka access" in body, body
        r = ig.post([{"value": reading(1)}], timeout=30)
        assert r.status_code == 503, r.text
        err = r.json()
        assert err["error_code"] and "refuses the credentials" in err["message"], err
        assert r.headers.get("Retry-After")
        for t in (text, body, r.text, ig.metrics()):
            assert wrong not in t and right not in t

        # The operator fixes the Secret: the mounted file changes.
        t0 = time.monotonic()
        pwfile.write_text(right + "\n")
        ig.wait_ready(60)
        recovered = time.monotonic() - t0
        r = ig.post([{"value": reading(2)}])
        assert r.status_code == 200, r.text
        text = ig.log.read_text()
        assert lines(text, "SASL credentials changed") and lines(text, "Kafka accepts")
        assert wrong not in text and right not in text
        print(f"wrong password: recovered {recovered:.1f} s after the file changed")
        assert ig.stop(30) == 0, ig.tail()
    finally:
        if ig.proc.poll() is None:
            ig.proc.kill()


@pytest.mark.parametrize("side", ["broker", "client"])
def test_untrusted_certificate(sec, weir_build, tmp_path, side):
    """mTLS with a CA that did not sign the broker's certificate, or with a
    client certificate from a CA the broker does not trust."""
    topic = new_topic(sec)
    sec.add_acls("weir-ingress", [("topic", topic, "literal", ["Write"])])
    other = Pki(tmp_path / "other-pki")
    env = sec.client_env("weir-ingress", via="mtls")
    if side == "broker":
        env["KAFKA_SSL_CA_LOCATION"] = str(other.ca)
    else:
        crt, key = other.issue("weir-ingress")
        env["KAFKA_SSL_CERTIFICATE_LOCATION"], env["KAFKA_SSL_KEY_LOCATION"] = str(crt), str(key)
    env["KAFKA_STATISTICS_INTERVAL_MS"] = "500"
    ig = Ingress(weir_build, tmp_path, sec.bootstrap_mtls, topic, **env)
    try:
        wait_log(ig.log, "TLS failed", 60, ig.proc)
        time.sleep(8)
        text = ig.log.read_text()
        assert ig.proc.poll() is None, text[-3000:]
        first = lines(text, "TLS failed")
        assert len(first) - len(lines(text, "still refused")) == 1, "\n".join(first)
        line = json.loads(first[0])
        assert "certificate" in line["msg"] and line["cause"] == "authentication", line
        code, body = readyz(ig.admin)
        assert code == 503 and "unmet: kafka access" in body, body
        r = ig.post([{"value": reading(1)}], timeout=30)
        assert r.status_code == 503 and "TLS failed" in r.json()["message"], r.text
    finally:
        if ig.proc.poll() is None:
            ig.proc.kill()


def test_no_acl_at_all(sec, weir_build, tmp_path):
    """Not even IdempotentWrite (implied by Write on any topic): librdkafka
    makes the idempotent producer fatal; ingress re-creates it with backoff
    instead of exiting, and says so once."""
    topic = new_topic(sec)
    sec.clear_acls("weir-ingress")
    env, _ = scram_env(sec, "weir-ingress", tmp_path)
    ig = Ingress(weir_build, tmp_path, sec.bootstrap, topic, **env)
    try:
        wait_log(ig.log, "Kafka denies", 30, ig.proc)
        time.sleep(8)  # re-created at 1, 2, 4 s
        text = ig.log.read_text()
        assert ig.proc.poll() is None, text[-3000:]
        assert len(lines(text, "replaces")) >= 2, text[-3000:]
        denies = lines(text, "Kafka denies")
        assert len(denies) - len(lines(text, "still refused")) == 1, "\n".join(denies)
        assert not [ln for ln in text.splitlines() if '"level":"error"' in ln
                    and "Kafka denies" not in ln], text[-3000:]
        line = json.loads(denies[0])
        assert f"User:weir-ingress (SASL {env['KAFKA_SASL_MECHANISMS']}) the operation " \
            "IDEMPOTENT_WRITE" in line["msg"], line
        r = ig.post([{"value": reading(1)}], timeout=60)
        assert r.status_code == 503 and r.json()["error_code"], r.text
        code, body = readyz(ig.admin)
        assert code == 503 and "unmet: kafka access" in body, body
        t0 = time.monotonic()
        sec.add_acls("weir-ingress", [("topic", topic, "literal", ["Write"])])
        ig.wait_ready(60)
        while ig.post([{"value": reading(2)}], timeout=60).status_code != 200:
            assert time.monotonic() - t0 < 60
            time.sleep(0.5)
        print(f"no ACL: accepted {time.monotonic() - t0:.1f} s after the ACL was added")
        assert ig.stop(30) == 0, ig.tail()
    finally:
        if ig.proc.poll() is None:
            ig.proc.kill()


def test_missing_topic_acl_then_added(sec, weir_build, tmp_path):
    topic = new_topic(sec)
    sec.clear_acls("weir-ingress")
    # Write on another topic: idempotence is allowed, this topic is not.
    sec.add_acls("weir-ingress", [("topic", new_topic(sec), "literal", ["Write"])])
    env, _ = scram_env(sec, "weir-ingress", tmp_path)
    ig = Ingress(weir_build, tmp_path, sec.bootstrap, topic, **env)
    try:
        ig.wait_ready(60)  # connected; the topic's metadata is refused, as unknown
        r = ig.post([{"value": reading(1)}], timeout=60)
        assert r.status_code == 503, r.text
        assert r.json()["error_code"], r.text
        text = wait_log(ig.log, "Kafka denies", 10, ig.proc)
        for _ in range(5):  # retried requests: still one line
            assert ig.post([{"value": reading(1)}], timeout=60).status_code == 503
        text = ig.log.read_text()
        denies = lines(text, "Kafka denies")
        assert len(denies) == 1, "\n".join(denies)
        line = json.loads(denies[0])
        assert line["cause"] == "authorization" and line["error"] == "TOPIC_AUTHORIZATION_FAILED"
        mech = env["KAFKA_SASL_MECHANISMS"]
        assert f"User:weir-ingress (SASL {mech}) the operation WRITE on topic {topic}" \
            in line["msg"], line
        code, body = readyz(ig.admin)
        assert code == 503 and "unmet: kafka access" in body, body

        t0 = time.monotonic()
        sec.add_acls("weir-ingress", [("topic", topic, "literal", ["Write"])])
        while True:  # a client retries: the next request after the ACL works
            r = ig.post([{"value": reading(2)}], timeout=60)
            if r.status_code == 200:
                break
            assert r.status_code == 503 and time.monotonic() - t0 < 60, r.text
            time.sleep(0.5)
        ig.wait_ready(30)
        print(f"missing ACL: accepted {time.monotonic() - t0:.1f} s after the ACL was added")
        assert ig.proc.poll() is None
        assert ig.stop(30) == 0, ig.tail()
    finally:
        if ig.proc.poll() is None:
            ig.proc.kill()


def test_transactional_id_acl_missing_then_added(sec, weir_build, tmp_path):
    """Enrichment's producer is refused its transactional id (fatal for a
    librdkafka producer): the service retries with backoff instead of
    exiting, and is ready once the ACL is there."""
    p, svc, txn = start_without(sec, weir_build, tmp_path, "enrichment",
                                lambda b: "TRANSACTIONAL_ID" in str(b.restype))
    try:
        text = wait_log(svc.log, "Kafka denies", 60, svc.proc)
        line = json.loads(lines(text, "Kafka denies")[0])
        assert line["error"] == "TRANSACTIONAL_ID_AUTHORIZATION_FAILED", line
        assert "the operation WRITE on transactional-id weir-enrichment-" in line["msg"], line
        time.sleep(6)  # retries at 1, 2, 4 s: no exit, no new line
        text = svc.log.read_text()
        assert svc.alive(), text[-3000:]
        denies = lines(text, "Kafka denies")
        assert len(denies) - len(lines(text, "still refused")) == 1, "\n".join(denies)
        assert len(lines(text, "re-creating the producer")) == 0  # no give-up path
        assert not [ln for ln in text.splitlines() if '"level":"error"' in ln
                    and "Kafka denies" not in ln], text[-3000:]
        code, body = svc.get("/readyz")
        assert code == 503, body
        t0 = time.monotonic()
        sec.add_acls(txn)
        svc.wait_ready(60)
        print(f"transactional id ACL: ready {time.monotonic() - t0:.1f} s after it was added")
        assert svc.stop(30) == 0, svc.tail()
    finally:
        p.stop(10)


def test_consumer_group_acl_missing_then_added(sec, weir_build, tmp_path):
    """The sink may read its topics but not use its group: one line naming
    the group and READ, unready, then ready by itself once granted."""
    p, svc, group = start_without(sec, weir_build, tmp_path, "sink",
                                  lambda b: "GROUP" in str(b.restype))
    try:
        text = wait_log(svc.log, "Kafka denies", 60, svc.proc)
        line = json.loads(lines(text, "Kafka denies")[0])
        assert line["error"] == "GROUP_AUTHORIZATION_FAILED", line
        assert f"the operation READ on group weir-sink-{p.name}" in line["msg"], line
        time.sleep(6)
        text = svc.log.read_text()
        assert svc.alive(), text[-3000:]
        denies = lines(text, "Kafka denies")
        assert len(denies) - len(lines(text, "still refused")) == 1, "\n".join(denies)
        code, body = svc.get("/readyz")
        assert code == 503 and "unmet: kafka access" in body, body
        t0 = time.monotonic()
        sec.add_acls(group)
        svc.wait_ready(60)
        print(f"group ACL: ready {time.monotonic() - t0:.1f} s after it was added")
        assert svc.stop(30) == 0, svc.tail()
    finally:
        p.stop(10)


def test_sink_dlq_acl_missing_then_added(sec, weir_build, tmp_path):
    """The sink may read and use its group but write nowhere: its idempotent
    DLQ producer is refused its producer id (IDEMPOTENT_WRITE on the
    cluster, implied by WRITE on any topic).  Unready, one line; ready by
    itself once the DLQ's WRITE is granted, although the producer then
    writes nothing: its producer id is the sign of access (CI once saw a
    sink stay unready for good when the ACLs came a moment late)."""
    p, svc, write = start_without(sec, weir_build, tmp_path, "sink",
                                  lambda b: "WRITE" in str(b.operation))
    try:
        text = wait_log(svc.log, "Kafka denies", 60, svc.proc)
        line = json.loads(lines(text, "Kafka denies")[0])
        assert line["error"] == "CLUSTER_AUTHORIZATION_FAILED", line
        assert "IDEMPOTENT_WRITE" in line["msg"], line
        time.sleep(3)
        code, body = svc.get("/readyz")
        assert code == 503 and "unmet: kafka access" in body, body
        t0 = time.monotonic()
        sec.add_acls(write)
        svc.wait_ready(60)
        print(f"DLQ write ACL: ready {time.monotonic() - t0:.1f} s after it was added")
        text = svc.log.read_text()
        assert lines(text, "Kafka accepts User:weir-sink"), text[-3000:]
        assert svc.stop(30) == 0, svc.tail()
    finally:
        p.stop(10)


@pytest.mark.parametrize("level", ["debug", "info"])
def test_no_secret_anywhere(sec, weir_build, tmp_path, level):
    topic = new_topic(sec)
    sec.add_acls("weir-ingress", [("topic", topic, "literal", ["Write"])])
    secret = sec.passwords["weir-ingress"]
    env, pwfile = scram_env(sec, "weir-ingress", tmp_path)
    env["LOG_LEVEL"] = level
    if level == "debug":
        env["KAFKA_DEBUG"] = "all"  # librdkafka's own debug, its configuration dump included
    ig = Ingress(weir_build, tmp_path, sec.bootstrap, topic, **env)
    try:
        ig.wait_ready(60)
        assert ig.post([{"value": reading(1)}]).status_code == 200
        bad = ig.post([{"value": {"nope": 1}}])  # an error answer
        assert bad.status_code == 422
        metrics = ig.metrics()
        environ = Path(f"/proc/{ig.proc.pid}/environ").read_bytes().decode(errors="replace")
        assert secret not in environ  # it came from a file
        assert str(pwfile) in environ
        ig.proc.send_signal(signal.SIGABRT)  # a crash
        assert ig.proc.wait(30) == -signal.SIGABRT
        text = ig.log.read_text()
        # The crash is named in the log, with the stack that led to it.
        assert '"msg":"fatal signal SIGABRT: stack follows"' in text, text[-2000:]
        assert "weir-ingress(" in text.split("fatal signal SIGABRT")[1], text[-2000:]
        if level == "debug":
            assert len(text.splitlines()) > 100, "librdkafka debug lines expected"
        for where, t in (("log", text), ("metrics", metrics), ("answer", bad.text)):
            assert secret not in t, f"the password appears in the {where}"
    finally:
        if ig.proc.poll() is None:
            ig.proc.kill()

    # A segmentation fault, and bad configurations that exit at start-up.
    def run(extra, sig=None):
        e = dict(os.environ, PIPELINE_SPEC=str(REPO / "docs/examples/traffic-pipeline.json"),
                 SCHEMA_DIR=str(REPO / "schemas"), HTTP_BIND="127.0.0.1", HTTP_PORT="0",
                 ADMIN_BIND="127.0.0.1", ADMIN_PORT="0", LOG_LEVEL=level)
        e.update(sec.client_env("weir-ingress", sec.sasl_via))
        e.pop("KAFKA_SASL_PASSWORD")
        e.update(extra)
        pr = subprocess.Popen([str(weir_build / "bin" / "weir-ingress")], env=e,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if sig:
            time.sleep(1.5)
            pr.send_signal(sig)
        out, _ = pr.communicate(timeout=60)
        return pr.returncode, out.decode(errors="replace")

    rc, out = run({"KAFKA_SASL_PASSWORD_FILE": str(pwfile)}, signal.SIGSEGV)
    assert rc == -signal.SIGSEGV and secret not in out
    assert "fatal signal SIGSEGV" in out, out[-2000:]
    rc, out = run({"KAFKA_SASL_PASSWORD_FILE": str(pwfile), "KAFKA_SASL_PASSWORD": secret})
    assert rc != 0 and secret not in out
    assert "KAFKA_SASL_PASSWORD and KAFKA_SASL_PASSWORD_FILE are both set" in out, out
    rc, out = run({"KAFKA_SASL_PASSWORD_FILE": str(tmp_path / "missing")})
    assert rc != 0 and f'KAFKA_SASL_PASSWORD_FILE="{tmp_path / "missing"}": cannot read' in out
    rc, out = run({"KAFKA_SASL_PASSWORD": secret, "KAFKA_SASL_MECHANISMS": "NOPE"})
    assert rc != 0 and secret not in out, out
