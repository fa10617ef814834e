#!/usr/bin/env python3
"""A real Prometheus server (Debian's `prometheus`, installed by
tests/harness/deps.sh) scraping given targets every second, on a free
loopback port with a temp config and TSDB dir.

    from prom import Prometheus
    with Prometheus({"weir-compute": "127.0.0.1:9400"}) as p:   # job -> target
        p.wait_scraped()                  # every target up at least once
        p.value('sum(weir_compute_aggregates_out_total)')   # -> float or None
    Prometheus(targets, features=("exemplar-storage",)).exemplars(expr, since)
    # stopped (SIGTERM, then SIGKILL) and its dir removed

Runs under PR_SET_PDEATHSIG (SIGKILL), so a killed harness leaves no server.
"""

from __future__ import annotations

import ctypes
import json
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

_libc = ctypes.CDLL(None)


from ports import free_port as _free_port  # noqa: E402  (tests/harness/ports.py)


class Prometheus:
    def __init__(self, targets: dict[str, str], interval: str = "1s",
                 features: tuple[str, ...] = ()):
        self.exe = shutil.which("prometheus")
        if not self.exe:
            raise RuntimeError("prometheus is not installed (make deps)")
        self.dir = Path(tempfile.mkdtemp(prefix="weir-prom-"))
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # JSON is YAML: no YAML writer needed.
        (self.dir / "prometheus.yml").write_text(json.dumps({
            "global": {"scrape_interval": interval, "evaluation_interval": interval},
            "scrape_configs": [{"job_name": job, "static_configs": [{"targets": [t]}]}
                               for job, t in targets.items()]}))
        self.targets = targets
        self.features = features  # --enable-feature=..., e.g. ("exemplar-storage",)
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 30.0) -> "Prometheus":
        self.proc = subprocess.Popen(
            [self.exe, f"--config.file={self.dir / 'prometheus.yml'}",
             f"--storage.tsdb.path={self.dir / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{self.port}"]
            + ([f"--enable-feature={','.join(self.features)}"] if self.features else []),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=open(self.dir / "prometheus.log", "w"),
            preexec_fn=lambda: _libc.prctl(1, signal.SIGKILL))
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(f"{self.url}/-/ready", timeout=1)
                return self
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"prometheus did not start: {self.log_tail()}")
                time.sleep(0.2)

    def log_tail(self, n: int = 20) -> str:
        p = self.dir / "prometheus.log"
        return "\n".join(p.read_text(errors="replace").splitlines()[-n:]) if p.exists() else ""

    def query(self, expr: str) -> list:
        q = urllib.parse.urlencode({"query": expr})
        with urllib.request.urlopen(f"{self.url}/api/v1/query?{q}", timeout=10) as r:
            body = json.loads(r.read())
        if body.get("status") != "success":
            raise RuntimeError(f"{expr}: {body}")
        return body["data"]["result"]

    def exemplars(self, expr: str, since: float) -> list:
        """/api/v1/query_exemplars for `expr` from `since` (epoch s) to now:
        [{"seriesLabels": {...}, "exemplars": [{"labels", "value", "timestamp"}]}]."""
        q = urllib.parse.urlencode({"query": expr, "start": f"{since:.3f}",
                                    "end": f"{time.time() + 1:.3f}"})
        with urllib.request.urlopen(f"{self.url}/api/v1/query_exemplars?{q}", timeout=10) as r:
            body = json.loads(r.read())
        if body.get("status") != "success":
            raise RuntimeError(f"{expr}: {body}")
        return body["data"] or []

    def value(self, expr: str) -> float | None:
        """The single sample of an instant query (None when empty)."""
        res = self.query(expr)
        return float(res[0]["value"][1]) if res else None

    def wait_scraped(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while self.value(f"count(up == 1)") != len(self.targets):
            if time.monotonic() > deadline:
                raise RuntimeError(f"targets not all up: {self.query('up')}")
            time.sleep(0.5)

    def close(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> "Prometheus":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()
