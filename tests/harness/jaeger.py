#!/usr/bin/env python3
"""Jaeger v2 (memory storage) for the OpenTelemetry tests, on free loopback
ports: the OTLP/HTTP receiver Weir's services export to, and the query API
the tests read traces back from.

    from jaeger import Jaeger           # tests/harness on sys.path
    with Jaeger() as j:                 # built if needed, started, ready
        j.otlp_endpoint                 # "http://127.0.0.1:<port>" (OTEL_EXPORTER_OTLP_ENDPOINT)
        j.trace("4bf9...")              # the trace's spans (query API /api/traces/<id>), or None
        j.kill(); j.start()             # an outage; same ports (spans held in memory are lost)
    # stopped, temp dir removed

The binary is built from tests/jaeger/go.mod (`go build` of the `tool`
github.com/jaegertracing/jaeger/cmd/jaeger) into tests/.cache/ the first
time (python3 tests/harness/jaeger.py build); Go's build cache makes a
rebuild quick.  The config is Jaeger's all-in-one with memory storage, cut
down to the OTLP HTTP receiver and the query extension; the query server's
static files are Weir's trace view (tests/jaeger/ui/index.html: /trace/<id>
draws a trace from the query API), since the Go module has no UI assets.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MODDIR = REPO / "tests" / "jaeger"
VERSION = "v1.75.0"
BINARY = REPO / "tests" / ".cache" / f"jaeger-{VERSION}"
# Weir's trace view (not Jaeger's UI, whose built assets the Go module does
# not hold): Jaeger's query server serves it at / and /trace/<id>.
UI_DIR = MODDIR / "ui"

CONFIG = """
service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: info
extensions:
  jaeger_query:
    storage:
      traces: mem
    http:
      endpoint: 127.0.0.1:{query}
    grpc:
      endpoint: 127.0.0.1:{query_grpc}
    ui:
      assets_path: {ui}
  jaeger_storage:
    backends:
      mem:
        memory:
          max_traces: 100000
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{otlp}
processors:
  batch:
    timeout: 100ms
exporters:
  jaeger_storage_exporter:
    trace_storage: mem
"""


from ports import free_port as _free_port  # noqa: E402  (tests/harness/ports.py)


def _go() -> str:
    go = shutil.which("go") or "/usr/local/go/bin/go"
    if not os.path.exists(go):
        raise RuntimeError("Go is needed to build Jaeger (tests/jaeger/go.mod): not on PATH "
                           "nor in /usr/local/go/bin")
    return go


def build() -> Path:
    """Builds the pinned Jaeger into tests/.cache/ unless it is there."""
    if BINARY.exists():
        return BINARY
    BINARY.parent.mkdir(parents=True, exist_ok=True)
    tmp = BINARY.with_suffix(".tmp")
    t0 = time.monotonic()
    subprocess.run([_go(), "build", "-o", str(tmp), "github.com/jaegertracing/jaeger/cmd/jaeger"],
                   cwd=MODDIR, check=True, env=dict(os.environ, GOFLAGS="-mod=mod"))
    tmp.rename(BINARY)
    print(f"jaeger: built {BINARY} in {time.monotonic() - t0:.0f} s", file=sys.stderr)
    return BINARY


def _pdeathsig():
    import ctypes
    ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class Jaeger:
    def __init__(self):
        self.bin = build()
        self.dir = Path(tempfile.mkdtemp(prefix="weir-jaeger-"))
        self.otlp, self.query, self.query_grpc = _free_port(), _free_port(), _free_port()
        self.cfg = self.dir / "config.yaml"
        self.cfg.write_text(CONFIG.format(otlp=self.otlp, query=self.query,
                                          query_grpc=self.query_grpc, ui=json.dumps(str(UI_DIR))))
        self.log = self.dir / "jaeger.log"
        self.proc: subprocess.Popen | None = None

    @property
    def otlp_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.otlp}"

    @property
    def query_url(self) -> str:
        return f"http://127.0.0.1:{self.query}"

    def start(self, timeout: float = 60.0) -> "Jaeger":
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([str(self.bin), "--config", str(self.cfg)],
                                         stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, preexec_fn=_pdeathsig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jaeger exited {self.proc.returncode}:\n{self.tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.otlp), timeout=0.5), \
                        urllib.request.urlopen(f"{self.query_url}/api/services", timeout=2):
                    return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"jaeger not ready in {timeout} s:\n{self.tail()}")

    def tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def _get(self, path: str):
        try:
            with urllib.request.urlopen(f"{self.query_url}{path}", timeout=5) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return None
            raise

    def services(self) -> list[str]:
        return (self._get("/api/services") or {}).get("data") or []

    def trace(self, trace_id: str) -> dict | None:
        """The trace as Jaeger's query API returns it ({"spans": [...],
        "processes": {...}}), or None when it has no span."""
        d = self._get(f"/api/traces/{trace_id}")
        data = (d or {}).get("data") or []
        return data[0] if data else None

    def __enter__(self) -> "Jaeger":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else "path"
    if cmd == "build":
        print(build())
    elif cmd == "path":
        if not BINARY.exists():
            sys.exit(1)
        print(BINARY)
    elif cmd == "run":  # a Jaeger for a person: prints its ports, runs until ^C or SIGTERM
        def _interrupt(*_):
            raise KeyboardInterrupt
        # Also when started in the background (SIGINT ignored there): stop
        # Jaeger and remove its temp dir on either signal.
        signal.signal(signal.SIGINT, _interrupt)
        signal.signal(signal.SIGTERM, _interrupt)
        with Jaeger() as j:
            print(f"OTEL_EXPORTER_OTLP_ENDPOINT={j.otlp_endpoint}\n"
                  f"query API and trace view: {j.query_url}  (/trace/<trace id>)", flush=True)
            try:
                j.proc.wait()
            except KeyboardInterrupt:
                pass
    else:
        sys.exit(f"usage: {sys.argv[0]} build|path|run")
