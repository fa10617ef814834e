"""Every bad setting of every service is refused the same way: exit status 1
at once (no broker needed, none reachable here), and one plain line on
stderr, `weir-<service>: <message>`, naming the variable, the value (never a
secret's) and what is allowed — the settings tables of common/cfg_tab.h,
whose rows docs/*.md show."""
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

BASE = dict(PIPELINE_SPEC="docs/examples/traffic-pipeline.json", SCHEMA_DIR="schemas",
            ADMIN_BIND="127.0.0.1", ADMIN_PORT="0", KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:1")

# (service, variable, bad value, what the message must say is allowed)
CASES = [
    ("ingress", "HTTP_PORT", "70000", "an integer in 0..65535"),
    ("ingress", "INGRESS_MAX_BODY_BYTES", "huge", "a size in 64..1GiB"),
    ("ingress", "INGRESS_IDLE_TIMEOUT", "10ms", "a duration in 1s..1h"),
    ("compute", "COMPUTE_THREADS", "0", "an integer in 1..64"),
    ("compute", "PROCESSING_GUARANTEE", "twice", "one of exactly_once, at_least_once"),
    ("compute", "COMMIT_LINGER", "-1ms", "a duration in 0ms..1m"),
    ("enrichment", "COMMIT_IDLE", "soon", "a duration in 0ms..1m"),
    ("enrichment", "WIRE_FORMAT", "xml", "one of single-object, confluent"),
    ("sink", "SINK_BATCH_POINTS", "0", "an integer in 1..1000000"),
    ("sink", "INFLUX_GZIP", "maybe", "true/false, 1/0, yes/no or on/off"),
    ("sink", "INFLUX_VERSION", "3", "one of auto, 1, 2"),
    ("sink", "SINK_WS_INBOX", "1", "a size in 64KiB..4GiB"),
    ("sink", "ADMIN_PORT", "-1", "an integer in 0..65535"),
    ("ingress", "OTEL_TRACES_SAMPLER_ARG", "2", "a ratio in 0..1"),
    ("compute", "OTEL_BSP_MAX_QUEUE_SIZE", "0", "an integer in 1..1000000"),
]


def run(service, weir_build, **env):
    exe = weir_build / "bin" / f"weir-{service}"
    t0 = time.monotonic()
    r = subprocess.run([str(exe)], env={**os.environ, **BASE, **env}, cwd=REPO,
                       capture_output=True, text=True, timeout=30)
    return r, time.monotonic() - t0


def plain_lines(stderr):
    """The lines for people (the JSON log lines are for collectors)."""
    return [ln for ln in stderr.splitlines() if ln and not ln.startswith("{")]


@pytest.mark.parametrize("service,name,value,allowed", CASES,
                         ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_bad_setting_refused_with_one_message(weir_build, service, name, value, allowed):
    r, took = run(service, weir_build, **{name: value})
    assert r.returncode == 1, r.stderr
    assert took < 10, f"refused after {took:.1f} s: checked only after a Kafka round trip?"
    lines = plain_lines(r.stderr)
    # Durations and sizes go on with examples of the form ("like ...").
    assert len(lines) == 1, r.stderr
    assert re.fullmatch(rf'weir-{service}: {name}="{re.escape(value)}": expected '
                        rf'{re.escape(allowed)}(, like .*)?', lines[0]), r.stderr


@pytest.mark.parametrize("service", ["ingress", "compute", "enrichment", "sink"])
def test_secret_never_shown_when_refused(weir_build, service, tmp_path):
    """A secret set twice (value and file) is refused naming both variables,
    never the value nor the file's content."""
    f = tmp_path / "cred"
    f.write_text("user:fr0m-file-pw\n")
    r, _ = run(service, weir_build, SCHEMA_REGISTRY_CREDENTIALS="user:in-env-pw",
               SCHEMA_REGISTRY_CREDENTIALS_FILE=str(f))
    assert r.returncode == 1
    lines = plain_lines(r.stderr)
    assert len(lines) == 1, r.stderr
    assert re.search(r"SCHEMA_REGISTRY_CREDENTIALS and SCHEMA_REGISTRY_CREDENTIALS_FILE are "
                     r"both set", lines[0]), r.stderr
    assert "in-env-pw" not in r.stderr and "fr0m-file-pw" not in r.stderr


def test_docs_list_every_refused_setting():
    """The settings a test refuses are in the generated tables (make lint
    checks those match the code)."""
    docs = "".join(p.read_text() for p in (REPO / "docs").glob("*.md"))
    for _, name, _, _ in CASES:
        assert f"| `{name}` |" in docs, name
