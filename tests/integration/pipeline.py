"""The whole Weir pipeline for the end-to-end test, the chaos suite and the
end-to-end benchmark: the four services (weir-compute, weir-enrichment,
weir-sink, weir-ingress) as separate processes against servers the caller
started (Kafka from tests/harness/kafka.py, optionally redis-server and
influxd from tests/harness/redis.py and influx.py).

    p = Pipeline(build, kafka, workdir, redis_url=r.url, influx_url=db.url)
    p.start()                  # topics created, spec written, all four ready
    p.svc["compute"].kill()    # SIGKILL; .start() again later (same env)
    p.svc["compute"].metric("weir_compute_aggregates_out_total")
    p.ingress_url              # http://127.0.0.1:<port>
    p.stop()                   # SIGTERM newest first; returns {name: exit status}

Every topic and group name carries a random suffix, so several pipelines can
share the session's broker.  Services die with the harness
(PR_SET_PDEATHSIG), so a killed pytest leaves no process behind.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "harness"))

import admin  # noqa: E402  (path set above)
from admin import parse_metrics  # noqa: E402,F401  (bench.py imports it from here)

SCHEMAS = REPO / "schemas"

_libc = ctypes.CDLL(None, use_errno=True)


def _pdeathsig():
    _libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


from ports import free_port  # noqa: E402  (tests/harness/ports.py: why not bind(0))


class Service:
    """One weir-<name> process; env is kept so start() after kill() is the
    same instance (same transactional id, same ports)."""

    def __init__(self, build: Path, name: str, env: dict, logdir: Path, admin_port: int):
        self.build, self.name, self.env = Path(build), name, env
        self.admin_port = admin_port
        self.log = Path(logdir) / f"{name}.log"
        self.proc: subprocess.Popen | None = None
        self.started_at = 0.0

    def start(self) -> "Service":
        # The child gets SIGKILL when the calling *thread* ends
        # (PR_SET_PDEATHSIG): start services from a thread that outlives them.
        self.log_f = open(self.log, "a")
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen([str(self.build / "bin" / f"weir-{self.name}")],
                                     env=self.env, cwd=REPO, stdin=subprocess.DEVNULL,
                                     stdout=self.log_f, stderr=subprocess.STDOUT,
                                     preexec_fn=_pdeathsig)
        return self

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def tail(self, n: int = 25) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def get(self, path: str, timeout: float = 3.0) -> tuple[int | None, str]:
        """(status, body) of the admin server's `path`; (None, "") when down."""
        return admin.get(self.admin_port, path, timeout)

    def ready(self) -> bool:
        return self.get("/readyz", 1.0)[0] == 200

    def wait_ready(self, timeout: float = 60.0, poll: float = 0.05) -> float:
        """Seconds from start() to the first 200 on /readyz."""
        deadline = time.monotonic() + timeout
        while True:
            if not self.alive():
                raise RuntimeError(f"weir-{self.name} exited {self.proc.returncode}:\n{self.tail()}")
            if self.ready():
                return time.monotonic() - self.started_at
            if time.monotonic() > deadline:
                # What is unmet first: a long log tail may be cut short.
                status, why = self.get("/readyz", 3.0)
                raise RuntimeError(f"weir-{self.name} not ready in {timeout} s "
                                   f"(/readyz {status}: {why.strip()}):\n{self.tail(40)}")
            time.sleep(poll)

    def metrics(self) -> list[tuple[str, dict, float]]:
        status, body = self.get("/metrics", 5.0)
        if status is None:
            raise OSError(f"weir-{self.name}: the admin server does not answer")
        return parse_metrics(body)

    def metric(self, name: str, **labels) -> float:
        """Sum of every series of `name` whose labels include `labels`."""
        return sum(v for n, lb, v in self.metrics()
                   if n == name and all(lb.get(k) == str(x) for k, x in labels.items()))

    def rss_kb(self, peak: bool = False, key: str | None = None) -> int:
        """VmRSS (VmHWM with peak=True, or any /proc/<pid>/status key such
        as "RssAnon:") in kB."""
        key = key or ("VmHWM:" if peak else "VmRSS:")
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1])
        return 0

    def signal(self, sig: int) -> None:
        if self.alive():
            os.kill(self.proc.pid, sig)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait; SIGKILL after `timeout`. Returns the exit status
        (negative: killed by that signal)."""
        if self.proc is None:
            return 0
        if self.alive():
            self.signal(signal.SIGCONT)
            self.signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


ORDER = ("compute", "enrichment", "sink", "ingress")


class Pipeline:
    """Topics, spec and the four services of one pipeline on `kafka`."""

    def __init__(self, build, kafka, workdir, *, redis_url: str | None = None,
                 influx_url: str | None = None, influx_db: str | None = None,
                 partitions: int = 2, compute: dict | None = None, rule_for: int = 2,
                 extra_env: dict | None = None, service_env: dict | None = None):
        self.build, self.kafka = Path(build), kafka
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        sfx = uuid.uuid4().hex[:8]
        self.name = f"e2e{sfx}"
        t = {k: f"{k}.{sfx}" for k in ("readings", "agg", "alerts", "cdlq", "eagg",
                                       "ealerts", "edlq", "sdlq")}
        self.topics = t
        self.partitions = partitions
        self.influx_db = influx_db or self.name
        sources = ([{"name": "intersections", "type": "redis", "url": redis_url,
                     "key_pattern": "intersection:{key}", "attributes": ["name", "district"],
                     "on_missing": "pass", "warm_up": True}] if redis_url else
                   [{"name": "intersections", "type": "file",
                     "path": str(REPO / "docs" / "examples" / "intersections.json"),
                     "format": "json", "key_field": "intersection_id",
                     "attributes": ["name", "district"], "on_missing": "pass"}])
        comp = compute or {
            "windows": [{"name": "1m", "type": "tumbling", "size": "1m", "grace": "10s"}],
            "aggregates": [
                {"field": "speed_kmh", "ops": ["count", "sum", "min", "max", "mean"]},
                {"field": "vehicle_count", "ops": ["sum"]},
                {"field": "occupancy_pct", "ops": ["max"]},
            ],
            "rules": [{"name": "congestion", "expr": "mean(speed_kmh) < 20 and count() >= 10",
                       "for": rule_for, "severity": "warning", "labels": {"team": "e2e"}}],
        }
        comp = dict(comp, output={"aggregates": t["agg"], "alerts": t["alerts"],
                                  "dlq": t["cdlq"], "changelog": f"{self.name}.changelog"})
        self.spec = {
            "version": 1, "name": self.name,
            "input": {"topic": t["readings"], "schema": "weir.example.TrafficReading",
                      "key": "intersection_id", "event_time": "ts"},
            "compute": comp,
            "enrichment": {"sources": sources,
                           "input": {"aggregates": t["agg"], "alerts": t["alerts"]},
                           "output": {"aggregates": t["eagg"], "alerts": t["ealerts"],
                                      "dlq": t["edlq"]}},
            "sink": {"input": {"aggregates": t["eagg"], "alerts": t["ealerts"]},
                     "dlq": t["sdlq"],
                     "influx": ({"measurement": "traffic", "alert_measurement": "traffic_alerts",
                                 "tags": ["district"], "precision": "ms"}
                                if influx_url else {"enabled": False}),
                     "websocket": {"enabled": True, "path": "/ws"}},
        }
        self.spec_path = self.dir / "pipeline.json"
        self.spec_path.write_text(json.dumps(self.spec, indent=1))
        self.http_port, self.ws_port = free_port(), free_port()
        common = dict(os.environ, PIPELINE_SPEC=str(self.spec_path), SCHEMA_DIR=str(SCHEMAS),
                      KAFKA_BOOTSTRAP_SERVERS=kafka.bootstrap, ADMIN_BIND="127.0.0.1",
                      LOG_LEVEL="info")
        common.update(extra_env or {})
        per = {
            "compute": {},
            "enrichment": {},
            "sink": {"SINK_HTTP_BIND": "127.0.0.1", "SINK_HTTP_PORT": str(self.ws_port)},
            "ingress": {"HTTP_BIND": "127.0.0.1", "HTTP_PORT": str(self.http_port)},
        }
        if influx_url:
            per["sink"].update(INFLUX_URL=influx_url, INFLUX_DB=self.influx_db)
        for k, v in (service_env or {}).items():
            per[k].update(v)
        self.svc: dict[str, Service] = {}
        for n in ORDER:
            port = free_port()
            self.svc[n] = Service(self.build, n, dict(common, ADMIN_PORT=str(port), **per[n]),
                                  self.dir, port)

    @property
    def ingress_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.ws_port}/ws"

    def create_topics(self) -> None:
        t = self.topics
        self.kafka.create_topic(t["readings"], partitions=self.partitions)
        for k in ("agg", "alerts", "cdlq", "eagg", "ealerts", "edlq", "sdlq"):
            self.kafka.create_topic(t[k], partitions=self.partitions if k in ("agg", "eagg") else 1)

    def start(self, which=ORDER, timeout: float = 60.0) -> dict[str, float]:
        """Creates the topics (first time), starts `which` and waits until
        each is ready; returns {name: seconds from start to ready}."""
        if not getattr(self, "_topics_made", False):
            self.create_topics()
            self._topics_made = True
        for n in which:
            self.svc[n].start()
        return {n: self.svc[n].wait_ready(timeout) for n in which}

    def stop(self, timeout: float = 30.0) -> dict[str, int]:
        rc = {}
        for n in reversed(ORDER):
            if self.svc[n].proc is not None:
                rc[n] = self.svc[n].stop(timeout)
        return rc

    def logs(self) -> str:
        return "\n".join(f"--- {n}\n{s.tail()}" for n, s in self.svc.items() if s.proc)

    def sim(self, *args: str, timeout: float = 120.0) -> dict:
        """Runs weir-sim posting to ingress with `args`; returns its summary
        line as a dict (sent, acked, rejected, ...)."""
        cmd = [str(self.build / "bin" / "weir-sim"), "--ingress", self.ingress_url,
               "--topic", self.topics["readings"], "--progress", "0", *args]
        r = subprocess.run(cmd, env=self.svc["ingress"].env, cwd=REPO, capture_output=True,
                           text=True, timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError(f"weir-sim exited {r.returncode}: {r.stderr[-2000:]}")
        return sim_summary(r.stdout)

    def post(self, records: list[dict]) -> dict:
        """POSTs REST Proxy v2 records ({"key","value"[,"partition"]}) to ingress."""
        body = json.dumps({"records": records}).encode()
        req = urllib.request.Request(
            f"{self.ingress_url}/topics/{self.topics['readings']}", data=body, method="POST",
            headers={"Content-Type": "application/vnd.kafka.json.v2+json",
                     "Accept": "application/vnd.kafka.v2+json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())

    def advance(self, ts: int, key: str = "zz-advance") -> None:
        """One reading at `ts` to every input partition, under a key of its
        own (its window never closes), so every partition's stream time
        passes the last real windows."""
        self.post([{"key": key, "partition": p,
                    "value": {"sensor_id": "adv", "intersection_id": key, "ts": ts,
                              "speed_kmh": 50.0, "vehicle_count": 0, "occupancy_pct": 0.0,
                              "lane": None}} for p in range(self.partitions)])


def sim_summary(stdout: str) -> dict:
    line = [x for x in stdout.splitlines() if x.startswith("sim ")][-1]
    out = {}
    for kv in line.split()[1:]:
        k, v = kv.split("=", 1)
        out[k] = float(v) if "." in v else int(v)
    return out
