"""Every Grafana dashboard panel returns data from a real run.

The whole pipeline runs on the real broker: weir-sim posts traffic readings
(some malformed, some late) to weir-ingress over the REST Proxy API; compute,
enrichment and sink process them; the sink writes to a real InfluxDB
(tests/harness/influx.py) and pushes to a WebSocket client.  A real Prometheus (Debian's) scrapes the four
admin ports every second.  Then each Prometheus query of
charts/weir/dashboards/*.json (template variables substituted: $namespace and
$pod match all, $__rate_interval 30s) goes through Prometheus's HTTP API and
each InfluxQL query of the business view through InfluxDB's: every one must
return at least one series with a number.  Also `promtool check metrics` on
every service's /metrics.
"""
import asyncio
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
import uuid

import pytest
import websockets

from conftest import REPO

sys.path.insert(0, str(REPO / "tests" / "deploy"))
import dashboards  # noqa: E402  tests/deploy/dashboards.py: the panels
import influx as influx_harness  # noqa: E402  tests/harness

SERVICES = ["ingress", "compute", "enrichment", "sink"]
free_port = influx_harness.free_port


def get_json(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read())


class Proc:
    def __init__(self, name, argv, env, log):
        self.name, self.log = name, log
        self.proc = subprocess.Popen(argv, env=env, cwd=REPO, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=open(log, "w"))

    def tail(self, n=20):
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])

    def alive(self):
        assert self.proc.poll() is None, f"{self.name} exited {self.proc.returncode}:\n{self.tail()}"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_prometheus(prom, tmp_path, procs):
    """Starts Prometheus on a free port; returns the port.  free_port() only
    finds a port that was free a moment ago: the services started just before
    open many connections, and one of their ephemeral ports can take it
    (seen once in CI: "bind: address already in use").  Then another port."""
    for attempt in range(5):
        pport = free_port()
        p = Proc("prometheus", [prom, f"--config.file={tmp_path / 'prometheus.yml'}",
                                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                                f"--web.listen-address=127.0.0.1:{pport}"],
                 dict(os.environ), tmp_path / f"prometheus-{attempt}.log")
        deadline = time.monotonic() + 30
        while p.proc.poll() is None and time.monotonic() < deadline:
            try:
                if urllib.request.urlopen(f"http://127.0.0.1:{pport}/-/ready", timeout=2).status == 200:
                    procs.append(p)
                    return pport
            except OSError:
                pass
            time.sleep(0.2)
        p.stop()
        if "address already in use" not in p.tail(50):
            p.alive()  # raises with its log
            raise AssertionError(f"prometheus not ready in 30 s:\n{p.tail()}")
    raise AssertionError("prometheus found no free port in 5 tries")


def wait_for(cond, seconds, what, procs=()):
    deadline = time.monotonic() + seconds
    while True:
        for p in procs:
            p.alive()
        try:
            if cond():
                return
        except OSError:
            pass
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def pipeline(topic, name):
    spec = json.loads((REPO / "docs/examples/traffic-pipeline.json").read_text())
    spec["name"] = name
    spec["input"]["topic"] = topic("dash.in", partitions=2)
    out = spec["compute"]["output"]
    for k in ("aggregates", "alerts", "dlq"):
        out[k] = topic(f"dash.c.{k}")
    out["changelog"] = topic("dash.changelog", partitions=2, config={"cleanup.policy": "compact"})
    spec["enrichment"]["input"] = {"aggregates": out["aggregates"], "alerts": out["alerts"]}
    eo = spec["enrichment"]["output"]
    for k in ("aggregates", "alerts", "dlq"):
        eo[k] = topic(f"dash.e.{k}")
    spec["sink"]["input"] = {"aggregates": eo["aggregates"], "alerts": eo["alerts"]}
    spec["sink"]["dlq"] = topic("dash.s.dlq")
    return spec


def substitute(expr):
    return (expr.replace('=~"$namespace"', '=~".*"').replace('=~"$pod"', '=~".*"')
            .replace("$__rate_interval", "30s"))


class Viewer(threading.Thread):
    """A live-dashboard viewer: one WebSocket client subscribed to
    everything, reading until stopped (so the sink pushes)."""

    def __init__(self, url):
        super().__init__(daemon=True)
        self.url, self.events, self.stop_flag = url, 0, threading.Event()

    def run(self):
        async def main():
            async with websockets.connect(self.url) as ws:
                await ws.send(json.dumps({"subscribe": {}}))
                while not self.stop_flag.is_set():
                    try:
                        msg = json.loads(await asyncio.wait_for(ws.recv(), 0.5))
                        self.events += len(msg.get("events", []))
                    except asyncio.TimeoutError:
                        pass
        asyncio.run(main())


def has_number(result):
    for series in result:
        v = series.get("value")
        if v is not None and not math.isnan(float(v[1])):
            return True
    return False


@pytest.fixture
def influxdb():
    with influx_harness.Influx() as db:
        yield db


def test_every_dashboard_panel_returns_data(kafka, topic, weir_build, influxdb, tmp_path):
    prom = shutil.which("prometheus")
    assert prom, "prometheus is not installed (deps.sh installs it)"
    for s in SERVICES + ["sim"]:
        assert (weir_build / "bin" / f"weir-{s}").exists(), f"weir-{s} is not built"
    name = "dash" + uuid.uuid4().hex[:6]
    spec = pipeline(topic, name)
    influxdb.create_database(name)
    (tmp_path / "pipeline.json").write_text(json.dumps(spec))
    shutil.copy(REPO / "docs/examples/intersections.json", tmp_path)

    admin = {s: free_port() for s in SERVICES}
    http = {s: free_port() for s in ("ingress", "sink")}
    procs = []
    try:
        for s in SERVICES:
            env = dict(os.environ, PIPELINE_SPEC=str(tmp_path / "pipeline.json"),
                       SCHEMA_DIR=str(REPO / "schemas"), ADMIN_BIND="127.0.0.1",
                       ADMIN_PORT=str(admin[s]), KAFKA_BOOTSTRAP_SERVERS=kafka.bootstrap,
                       KAFKA_STATISTICS_INTERVAL_MS="1000", POD_NAME=f"{s}-0")
            if s == "ingress":
                env.update(HTTP_BIND="127.0.0.1", HTTP_PORT=str(http[s]))
            else:
                env["KAFKA_GROUP_ID"] = f"{name}-{s}"
            if s == "sink":
                env.update(SINK_HTTP_BIND="127.0.0.1", SINK_HTTP_PORT=str(http[s]),
                           INFLUX_URL=influxdb.url, INFLUX_DB=name, SINK_FLUSH_INTERVAL="500ms")
            procs.append(Proc(f"weir-{s}", [str(weir_build / "bin" / f"weir-{s}")], env,
                              tmp_path / f"{s}.log"))

        # Prometheus scraping the four admin ports every second.
        (tmp_path / "prometheus.yml").write_text(json.dumps({
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [{"job_name": f"weir-{s}",
                                "static_configs": [{"targets": [f"127.0.0.1:{admin[s]}"],
                                                    "labels": {"pod": f"weir-{s}-0"}}]}
                               for s in SERVICES]}))
        pport = start_prometheus(prom, tmp_path, procs)
        purl = f"http://127.0.0.1:{pport}"
        for s in SERVICES:
            wait_for(lambda s=s: urllib.request.urlopen(
                f"http://127.0.0.1:{admin[s]}/readyz", timeout=5).status == 200, 120,
                f"weir-{s} ready", procs)

        viewer = Viewer(f"ws://127.0.0.1:{http['sink']}/ws")
        viewer.start()
        # Traffic through ingress; event time 30x faster, so 1-minute windows
        # close every 2 s; some readings late, some malformed.
        sim = subprocess.run(
            [str(weir_build / "bin" / "weir-sim"), "--ingress", f"http://127.0.0.1:{http['ingress']}",
             "--topic", spec["input"]["topic"], "--rate", "300", "--duration", "30s",
             "--time-scale", "30", "--late", "0.02", "--malformed", "0.01", "--progress", "0"],
            cwd=REPO, env=dict(os.environ, SCHEMA_DIR=str(REPO / "schemas")),
            capture_output=True, text=True, timeout=120)
        assert "sim sent=" in sim.stdout, f"weir-sim: {sim.returncode}\n{sim.stdout}\n{sim.stderr}"

        points = lambda: influxdb.query(f'SELECT count("count") FROM "traffic"', name)
        wait_for(lambda: points() and points()[0]["count"] > 0, 60, "points in InfluxDB", procs)
        wait_for(lambda: viewer.events > 0, 30, "events on the WebSocket", procs)
        time.sleep(5)  # a few more scrapes after the last records
        viewer.stop_flag.set()
        viewer.join(10)

        for s in SERVICES:
            text = urllib.request.urlopen(f"http://127.0.0.1:{admin[s]}/metrics", timeout=5).read()
            r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True)
            assert r.returncode == 0, f"weir-{s} /metrics: {r.stdout!r} {r.stderr!r}"

        empty, checked = [], 0
        for board in dashboards.BOARDS:
            b = board().json()
            for p in b["panels"]:
                for t in p.get("targets", []):
                    if "expr" in t:
                        q = substitute(t["expr"])
                        res = get_json(f"{purl}/api/v1/query?" + urllib.parse.urlencode({"query": q}))
                        ok = res.get("status") == "success" and has_number(res["data"]["result"])
                    else:
                        q = (t["query"].replace("$timeFilter", "time > now() - 1d AND time < now() + 1d")
                             .replace("$__interval", "1m").replace("$measurement", "traffic")
                             .replace("$alerts", "traffic_alerts").replace("$window", "1m"))
                        try:
                            ok = bool(influxdb.query(q, name))
                        except influx_harness.InfluxError as e:
                            ok, q = False, f"{q} ({e})"
                    checked += 1
                    if not ok:
                        empty.append(f"{b['uid']} / {p['title']}: {q}")
        print(f"\n{checked} panel queries evaluated, {len(empty)} without data")
        assert not empty, "panels without data:\n" + "\n".join(empty)
    finally:
        for p in reversed(procs):
            p.stop()
