#!/usr/bin/env python3
"""A real redis-server (Debian's) for the tests, on a free loopback port in a
temp dir, with a tiny RESP client so the tests need no Python Redis package.

    from redis import RedisServer         # tests/harness on sys.path
    with RedisServer() as r:              # started, answering PING
        r.cmd("HSET", "k", "f", "v")
        r.url                             # "redis://127.0.0.1:<port>/0"
        r.kill()                          # SIGKILL: an outage
        r.start()                         # same port, same data (AOF, fsync always)
    # stopped and its dir removed

The data survives kill -9 (appendonly, appendfsync always), as a production
Redis with persistence would, so an outage test checks the service, not the
data.  The server runs under `setpriv --pdeathsig SIGKILL` when available so
a killed harness leaves no server behind.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time


from ports import free_port as _free_port  # noqa: E402  (tests/harness/ports.py)


def _encode(args) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


class _Reader:
    def __init__(self, sock):
        self.sock, self.buf = sock, b""

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n: int) -> bytes:
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def reply(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            raise RuntimeError(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n).decode()
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self.reply() for _ in range(n)]
        raise RuntimeError(f"unexpected RESP line {line!r}")


class RedisServer:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="weir-redis-")
        self.port = _free_port()
        self.proc: subprocess.Popen | None = None
        self.started_once = False

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 20.0) -> "RedisServer":
        """Starts the server; the first start retries on another port if
        the chosen one was taken meanwhile (restarts keep the port)."""
        for attempt in range(5):
            try:
                return self._start_once(timeout)
            except RuntimeError:
                if self.started_once or attempt == 4:
                    raise
                self.port = _free_port()
        raise AssertionError("unreachable")

    def _start_once(self, timeout: float) -> "RedisServer":
        exe = shutil.which("redis-server")
        if not exe:
            raise RuntimeError("redis-server is not installed (tests/harness/deps.d/redis.sh)")
        argv = [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir,
                "--save", "", "--appendonly", "yes", "--appendfsync", "always",
                "--daemonize", "no", "--protected-mode", "yes", "--logfile", "redis.log"]
        if shutil.which("setpriv"):
            argv = ["setpriv", "--pdeathsig", "SIGKILL", "--"] + argv
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, cwd=self.dir)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited: {self.log_tail()}")
            try:
                if self.cmd("PING") == "PONG":
                    self.started_once = True
                    return self
            except (OSError, RuntimeError):
                pass
            time.sleep(0.05)
        raise RuntimeError(f"redis-server not answering after {timeout}s: {self.log_tail()}")

    def log_tail(self, n: int = 20) -> str:
        try:
            with open(os.path.join(self.dir, "redis.log")) as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def cmd(self, *args):
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(_encode(args))
            return _Reader(s).reply()

    def pipeline(self, commands):
        """Sends many commands on one connection; returns their replies."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=30) as s:
            s.sendall(b"".join(_encode(c) for c in commands))
            r = _Reader(s)
            return [r.reply() for _ in commands]

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> "RedisServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()
