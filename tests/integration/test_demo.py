"""`make demo`'s script run the way a user runs it, for a short while:
services/demo/demo.sh with the development broker (no Kafka), all four
services and the simulator.  Checked as a user would: the dashboard page
loads, a WebSocket client on it receives enriched aggregates with the
intersection's name from the file source, the terminal summary counts
readings and aggregates, and the stop leaves every process exited with 0.
Ctrl-C as a terminal sends it (SIGINT to the whole foreground process
group) gives the same orderly stop; a port already taken fails the start
with a non-zero exit naming the setting to change.
"""

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import websockets

from ports import free_port  # tests/harness/ports.py: why not bind(0)

REPO = Path(__file__).resolve().parents[2]


def free_ports(n):
    return [free_port() for _ in range(n)]


def wait_http(url, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return r.status, r.read().decode()
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"{url} did not answer in {timeout} s")


async def first_enriched(url, timeout):
    async with websockets.connect(url) as ws:
        await ws.send(json.dumps({"subscribe": {"topics": ["aggregates.enriched"]}}))
        deadline = time.time() + timeout
        while time.time() < deadline:
            frame = json.loads(await asyncio.wait_for(ws.recv(), timeout))
            for ev in frame.get("events", []):
                return ev
    raise AssertionError("no enriched aggregate on the WebSocket feed")


def test_demo_runs_and_stops_cleanly(weir_build, tmp_path):
    http, dash, admin = free_ports(3)
    # Admin ports are base..base+3; pick a base whose block is free enough.
    env = dict(os.environ, WEIR_BUILD=str(weir_build), DEMO_DURATION="15",
               DEMO_HTTP_PORT=str(http), DEMO_DASHBOARD_PORT=str(dash),
               DEMO_ADMIN_BASE=str(admin), DEMO_SEED="7", DEMO_RATE="200")
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    out = open(tmp_path / "demo.out", "w+")
    p = subprocess.Popen(["bash", str(REPO / "services/demo/demo.sh")], cwd=REPO, env=env,
                         stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        status, page = wait_http(f"http://127.0.0.1:{dash}/", 60)
        assert status == 200 and "<html" in page.lower()
        ev = asyncio.run(first_enriched(f"ws://127.0.0.1:{dash}/ws", 60))
        rec = ev.get("record", ev)
        text = json.dumps(rec)
        # File enrichment from docs/examples/intersections.json joined the name.
        assert '"enriched": true' in text and '"name"' in text, text[:500]
        rc = p.wait(timeout=120)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    out.seek(0)
    log = out.read()
    assert rc == 0, log[-3000:]
    sums = re.findall(r"readings in (\d+)\s+aggregates (\d+)", log)
    assert sums, log[-3000:]
    assert int(sums[-1][0]) > 0 and int(sums[-1][1]) > 0, log[-3000:]
    for name in ("sim", "ingress", "sink", "enrichment", "compute", "devbroker"):
        assert f"demo: {name} exited with status 0" in log, log[-3000:]


def _start_demo(weir_build, tmp_path, **extra):
    http, dash, admin = free_ports(3)
    env = dict(os.environ, WEIR_BUILD=str(weir_build), DEMO_HTTP_PORT=str(http),
               DEMO_DASHBOARD_PORT=str(dash), DEMO_ADMIN_BASE=str(admin), DEMO_SEED="7",
               DEMO_RATE="200")
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    env.pop("DEMO_DURATION", None)
    env.update(extra)
    out = open(tmp_path / "demo.out", "w+")
    # Its own process group, as a shell gives a foreground job: os.killpg
    # then does what the terminal does on Ctrl-C.
    p = subprocess.Popen(["bash", str(REPO / "services/demo/demo.sh")], cwd=REPO, env=env,
                         stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    return p, out, http, dash


def test_demo_ctrl_c_stops_in_pipeline_order(weir_build, tmp_path):
    p, out, _, _ = _start_demo(weir_build, tmp_path)
    try:
        deadline = time.time() + 90
        while time.time() < deadline:
            out.seek(0)
            sums = re.findall(r"readings in (\d+)\s+aggregates (\d+)", out.read())
            if sums and int(sums[-1][0]) > 0 and int(sums[-1][1]) > 0:
                break
            assert p.poll() is None, open(tmp_path / "demo.out").read()[-3000:]
            time.sleep(0.5)
        else:
            raise AssertionError("demo never summarised readings and aggregates")
        os.killpg(p.pid, signal.SIGINT)  # Ctrl-C: every process of the group
        rc = p.wait(timeout=150)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    out.seek(0)
    log = out.read()
    assert rc == 0, log[-3000:]
    order = re.findall(r"demo: (\w+) exited with status (\d+)", log)
    assert order == [(n, "0") for n in ("sim", "ingress", "compute", "enrichment", "sink",
                                         "devbroker")], log[-3000:]
    lost = re.findall(r"simulator sent (\d+) readings: (\d+) acknowledged, (\d+) rejected, "
                      r"(\d+) lost", log)
    assert lost and int(lost[0][0]) > 0 and lost[0][3] == "0", log[-3000:]
    logs = Path(re.search(r"logs\s+(\S+weir-demo\.\S+)", log).group(1))
    for name in ("ingress", "compute", "enrichment", "sink"):
        text = (logs / f"{name}.log").read_text()
        assert re.search(r'"msg":"stopped"', text), (name, text[-2000:])
    # the banner says the clock is simulated; the summary names DLQ classes
    assert "Simulated time" in log and "60x" in log
    assert re.search(r"dlq: (none|[a-z_]+ \d+)", log), log[-2000:]


def test_demo_port_taken_fails_naming_the_setting(weir_build, tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        p, out, _, _ = _start_demo(weir_build, tmp_path, DEMO_HTTP_PORT=str(port))
        try:
            rc = p.wait(timeout=60)
        finally:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
    out.seek(0)
    log = out.read()
    assert rc != 0, log
    assert f"port {port}" in log and "DEMO_HTTP_PORT" in log, log
