#!/usr/bin/env python3
"""A real InfluxDB 1.x server (Debian's `influxd`, installed by
tests/harness/deps.d/influx.sh) for the sink's tests, on free loopback ports
with its own config and a temp dir.

    from influx import Influx
    with Influx() as db:                # writes a config, starts, waits for /ping
        db.create_database("weir")
        db.query("SELECT * FROM traffic", "weir")   # -> list of row dicts
        db.stop(); db.start()           # an outage: same ports, same data
    # stopped (SIGTERM, then SIGKILL after a bound) and its temp dir removed

Why: the Debian package's own service (port 8086, /var/lib/influxdb) is
never used (deps.d/influx.sh keeps it from starting); every Influx here has
its HTTP port and RPC bind address picked by binding port 0, so parallel
sessions do not collide, and usage reporting is off (no network).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

_live: "set[Influx]" = set()


@atexit.register
def _stop_all() -> None:
    for db in list(_live):
        with contextlib.suppress(Exception):
            db.close()


from ports import free_port  # noqa: E402  (tests/harness/ports.py: why not bind(0))


CONFIG = """\
reporting-disabled = true
bind-address = "127.0.0.1:{rpc}"

[meta]
  dir = "{dir}/meta"

[data]
  dir = "{dir}/data"
  wal-dir = "{dir}/wal"
  query-log-enabled = false
  wal-fsync-delay = "0s"

[coordinator]
  write-timeout = "10s"

[retention]
  enabled = false

[monitor]
  store-enabled = false

[subscriber]
  enabled = false

[continuous_queries]
  enabled = false

[http]
  enabled = true
  bind-address = "127.0.0.1:{http}"
  auth-enabled = {auth}
  log-enabled = false
  max-body-size = {max_body}

[logging]
  level = "warn"
"""


class InfluxError(RuntimeError):
    pass


class Influx:
    """One influxd.  max_body: [http] max-body-size (bytes; a larger write
    gets 413), for tests of the sink's splitting.  auth: (user, password) of
    an admin user created at start, with auth-enabled = true; the harness's
    own queries then authenticate as that user."""

    def __init__(self, workdir: str | None = None, max_body: int = 25_000_000,
                 auth: tuple[str, str] | None = None):
        exe = shutil.which("influxd")
        if not exe:
            raise InfluxError("influxd not found: run `make deps` (tests/harness/deps.d/influx.sh)")
        self.exe = exe
        self._own_dir = workdir is None
        self.dir = Path(workdir or tempfile.mkdtemp(prefix="weir-influx-"))
        self.port = free_port()
        self.rpc_port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        (self.dir / "influxdb.conf").write_text(CONFIG.format(
            dir=self.dir, rpc=self.rpc_port, http=self.port, max_body=max_body,
            auth="true" if auth else "false"))
        self.auth = auth
        self.proc: subprocess.Popen | None = None
        self.log = self.dir / "influxd.log"
        _live.add(self)

    # ------------------------------------------------------------ lifecycle
    def start(self, timeout: float = 30.0) -> "Influx":
        if self.proc and self.proc.poll() is None:
            return self
        logf = open(self.log, "ab")
        self.proc = subprocess.Popen([self.exe, "-config", str(self.dir / "influxdb.conf")],
                                     stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                                     start_new_session=True)
        logf.close()
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise InfluxError(f"influxd exited with {self.proc.returncode}:\n{self.log_tail()}")
            with contextlib.suppress(Exception):
                with urllib.request.urlopen(self.url + "/ping", timeout=1) as r:
                    if r.status == 204:
                        break
            time.sleep(0.1)
        else:
            self.stop()
            raise InfluxError(f"influxd not answering /ping after {timeout} s:\n{self.log_tail()}")
        if self.auth:
            # The first admin user may be created without credentials; a
            # restart finds it there already.
            user, pw = self.auth
            self._post("/query", {"q": f"CREATE USER \"{user}\" WITH PASSWORD '{pw}' "
                                        "WITH ALL PRIVILEGES"})
        return self

    def stop(self, timeout: float = 15.0) -> None:
        p, self.proc = self.proc, None
        if not p or p.poll() is not None:
            return
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)

    def close(self) -> None:
        self.stop()
        _live.discard(self)
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> "Influx":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def log_tail(self, n: int = 40) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        return ""

    # ------------------------------------------------------------ HTTP API
    def _post(self, path: str, params: dict, body: bytes = b"") -> tuple[int, bytes]:
        if getattr(self, "auth", None):
            params = dict(params, u=self.auth[0], p=self.auth[1])
        url = f"{self.url}{path}?{urllib.parse.urlencode(params)}"
        req = urllib.request.Request(url, data=body, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def create_database(self, name: str) -> None:
        status, body = self._post("/query", {"q": f'CREATE DATABASE "{name}"'})
        if status != 200:
            raise InfluxError(f"CREATE DATABASE {name}: {status} {body!r}")

    def write(self, db: str, lines: str, precision: str = "ms") -> tuple[int, str]:
        status, body = self._post("/write", {"db": db, "precision": precision}, lines.encode())
        return status, body.decode(errors="replace")

    def query(self, q: str, db: str, epoch: str = "ms") -> list[dict]:
        """Rows of the first statement's series, each a dict column -> value
        (tags included), with times as integers in `epoch` units."""
        status, body = self._post("/query", {"q": q, "db": db, "epoch": epoch})
        if status != 200:
            raise InfluxError(f"{q}: {status} {body!r}")
        res = json.loads(body)["results"][0]
        if "error" in res:
            raise InfluxError(f"{q}: {res['error']}")
        rows = []
        for series in res.get("series", []):
            tags = series.get("tags", {})
            for values in series["values"]:
                row = dict(zip(series["columns"], values))
                row.update(tags)
                rows.append(row)
        return rows


if __name__ == "__main__":
    with Influx() as db:
        db.create_database("x")
        print(db.url, db.write("x", "m,k=a v=1 1000"), db.query("SELECT * FROM m", "x"))
