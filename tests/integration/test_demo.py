"""`make demo`'s script run the way a user runs it, for a short while:
services/demo/demo.sh with the development broker (no Kafka), all four
services and the simulator.  Checked as a user would: the dashboard page
loads, a WebSocket client on it receives enriched aggregates with the
intersection's name from the file source, the terminal summary counts
readings and aggregates, and the stop leaves every process exited with 0.
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

REPO = Path(__file__).resolve().parents[2]


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


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
