#!/usr/bin/env python3
"""A real Apache Kafka broker (KRaft, single combined broker+controller node)
for the tests, started from the Maven Central jars on the machine's JDK.

    from kafka import Broker
    with Broker() as b:                 # formats storage, starts, waits until ready
        b.create_topic("t", partitions=3, config={"cleanup.policy": "compact"})
        ... b.bootstrap ...             # "127.0.0.1:<port>"
        b.kill(); b.start()             # kill -9 and restart: same ports, same data
    # stopped (SIGTERM, then SIGKILL after a bound) and its temp dir removed

From the shell (the broker outlives the command; its state is kept in a file):

    python3 tests/harness/kafka.py start     # prints 127.0.0.1:<port> on stdout
    python3 tests/harness/kafka.py stop

Why each piece is the way it is:
- The jars come from tests/kafka/pom.xml (mvn dependency:copy-dependencies) into
  tests/.cache/kafka-<version>/; fetched here if missing, under a lock, into a
  temp folder renamed at the end, so an interrupted fetch never leaves half a
  classpath behind.
- Ports are picked by binding port 0 on 127.0.0.1 and chosen once per Broker,
  so a restart comes back on the same ports with the same data dir, as a
  client that lost its broker would see it.
- The broker runs under `setpriv --pdeathsig SIGKILL` (when the harness owns it),
  so even a harness killed with -9 does not leave a JVM holding ports; and
  every Broker is stopped atexit and by the pytest fixture's finalizer.
- JVM flags favour start-up time (C1 only, serial GC, small heap, class-data
  sharing archive kept next to the jars) over peak throughput, which the
  tests' loads never need.
"""

from __future__ import annotations

import argparse
import atexit
import base64
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
POM = REPO / "tests" / "kafka" / "pom.xml"
CACHE = REPO / "tests" / ".cache"
STATE_FILE = CACHE / "kafka-cli.json"


def pom_version() -> str:
    """The Kafka version the tests run: WEIR_KAFKA_VERSION if set (any
    version of org.apache.kafka:kafka_2.13 on Maven Central, e.g. 4.4.0),
    else tests/kafka/pom.xml's kafka.version."""
    env = os.environ.get("WEIR_KAFKA_VERSION", "").strip()
    if env == "4":  # shorthand for the Kafka 4 line the suite also runs on
        env = _pom_property("kafka4.version")
    if env:
        if not re.fullmatch(r"[0-9][0-9A-Za-z.\-]*", env):
            raise RuntimeError(f"WEIR_KAFKA_VERSION={env!r}: not a version")
        return env
    return _pom_property("kafka.version")


def _pom_property(name: str) -> str:
    m = re.search(rf"<{re.escape(name)}>([^<]+)</{re.escape(name)}>", POM.read_text())
    if not m:
        raise RuntimeError(f"{POM}: no <{name}> property")
    return m.group(1).strip()


def jars_dir() -> Path:
    return CACHE / f"kafka-{pom_version()}"


def _jars_complete(d: Path) -> bool:
    return d.is_dir() and any(d.glob("kafka_2.13-*.jar")) and any(d.glob("kafka-clients-*.jar"))


def ensure_jars(quiet: bool = True) -> Path:
    """Returns the folder of broker jars, running Maven first if it is missing."""
    d = jars_dir()
    if _jars_complete(d):
        return d
    CACHE.mkdir(parents=True, exist_ok=True)
    # Two pytest sessions (or pytest and `make deps`) may race here.
    with open(CACHE / ".kafka-fetch.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _jars_complete(d):
            return d
        if not shutil.which("mvn"):
            raise RuntimeError(f"{d} is missing and there is no `mvn` to fetch it; run `make deps`")
        tmp = Path(tempfile.mkdtemp(prefix=d.name + ".partial-", dir=CACHE))
        cmd = ["mvn", "-q", "-B", "-f", str(POM), "dependency:copy-dependencies",
               f"-DoutputDirectory={tmp}", "-DincludeScope=runtime",
               f"-Dkafka.version={pom_version()}"]
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True)
        if r.returncode != 0 or not _jars_complete(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
            raise RuntimeError(f"fetching Kafka jars failed ({' '.join(cmd)}):\n"
                               f"{r.stdout[-3000:]}{r.stderr[-3000:]}")
        if d.exists():
            shutil.rmtree(d)
        tmp.rename(d)
        if not quiet:
            print(f"fetched Kafka {pom_version()} jars into {d}", file=sys.stderr)
    return d


def jar_version(jars: Path) -> str:
    """The version the broker reports about itself (kafka-clients'
    kafka/kafka-version.properties, what AppInfoParser logs at start-up)."""
    for jar in sorted(jars.glob("kafka-clients-*.jar")):
        with zipfile.ZipFile(jar) as z:
            for line in z.read("kafka/kafka-version.properties").decode().splitlines():
                if line.startswith("version="):
                    return line.split("=", 1)[1].strip()
    raise RuntimeError(f"{jars}: no kafka-clients jar")


from ports import free_port  # noqa: E402  (tests/harness/ports.py: why not bind(0))


def random_cluster_id() -> str:
    # Kafka's Uuid.toString(): URL-safe base64 of 16 bytes without padding;
    # like Uuid.randomUuid(), never one starting with "-" (command lines
    # would take it for an option).
    while True:
        s = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not s.startswith("-"):
            return s


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


# Every Broker not yet closed (strong references: a Broker dropped without
# close() must still be stopped and its dir removed at exit).
_live: "set[Broker]" = set()


@atexit.register
def _stop_all() -> None:
    for b in list(_live):
        with contextlib.suppress(Exception):
            b.close()


class BrokerError(RuntimeError):
    pass


class Broker:
    """One single-node KRaft cluster (node 1 is broker and controller).

    workdir          data, config and logs (default: a new temp dir, removed by close())
    heap             the JVM's -Xmx
    config           server properties added to / overriding DEFAULTS
    die_with_parent  run the JVM under PDEATHSIG=SIGKILL: it dies with the
                     *thread* that started it, so start brokers from the main
                     thread (pytest fixtures do) or pass False
    stop_at_exit     close() at interpreter exit if nobody did
    cds              use (and the first time, create) the class-data archive
    """

    # Server properties on top of the required ones; each is here for speed
    # or to suit a one-node cluster.  Callers add or override with `config`.
    DEFAULTS = {
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "4",            # default 50: slow first group
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "4",    # default 50: slow first txn
        "min.insync.replicas": "1",
        "default.replication.factor": "1",
        "group.initial.rebalance.delay.ms": "0",
        "num.partitions": "1",
        "auto.create.topics.enable": "false",
        "delete.topic.enable": "true",
        "log.segment.bytes": str(16 << 20),
        "log.index.size.max.bytes": str(1 << 20),
        "offsets.topic.segment.bytes": str(16 << 20),
        "transaction.state.log.segment.bytes": str(16 << 20),
        "log.cleaner.dedupe.buffer.size": str(16 << 20),  # default 128 MiB of a 512 MiB heap
        "log.cleaner.threads": "1",
        "log.cleaner.backoff.ms": "1000",               # compaction tests see results sooner
        "num.network.threads": "2",
        "num.io.threads": "4",
        "background.threads": "4",
        "num.recovery.threads.per.data.dir": "1",
        "broker.heartbeat.interval.ms": "500",          # unfenced sooner after start
        # After kill -9 the restarted controller refuses the broker's new
        # registration until the old session expires (default 9 s).
        "broker.session.timeout.ms": "3000",
        "controller.quorum.election.timeout.ms": "500",  # single voter elects itself sooner
    }

    JVM_FLAGS = [
        "-XX:+UseSerialGC",             # no GC threads to start; the heap is small
        "-XX:TieredStopAtLevel=1",      # C1 only: far less JIT work at start-up
        "-XX:-UsePerfData",             # no hsperfdata mmap file
        "-Xss512k",
        "-Djava.awt.headless=true",
        "-Djava.net.preferIPv4Stack=true",
    ]

    def __init__(self, workdir: str | os.PathLike | None = None, heap: str = "512m",
                 config: dict | None = None, die_with_parent: bool = True,
                 stop_at_exit: bool = True, cds: bool = True):
        self.jars = ensure_jars()
        self.version = jar_version(self.jars)
        self.heap = heap
        self.die_with_parent = die_with_parent
        self.cds = cds
        self._own_dir = workdir is None
        self.dir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="weir-kafka-"))
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.controller_port = free_port()
        while self.controller_port == self.port:
            self.controller_port = free_port()
        self.cluster_id = random_cluster_id()
        self.config = dict(self.DEFAULTS)
        self.config.update({str(k): str(v) for k, v in (config or {}).items()})
        self.proc: subprocess.Popen | None = None
        self.ready_seconds: float | None = None   # start-to-ready of the last start()
        self._formatted = False
        self._ever_started = False
        self._cds_dump = None
        self._admin = None
        self._lock = threading.RLock()
        if stop_at_exit:
            _live.add(self)

    # ------------------------------------------------------------ properties
    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def version_string(self) -> str:
        return f"Apache Kafka {self.version} (KRaft)"

    @property
    def log_file(self) -> Path:
        return self.dir / "logs" / "server.log"

    @property
    def stdout_file(self) -> Path:
        return self.dir / "logs" / "stdout.log"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def __repr__(self) -> str:
        return f"<Broker {self.version_string} at {self.bootstrap} dir={self.dir}>"

    # ------------------------------------------------------------ files
    def _write_files(self) -> None:
        (self.dir / "logs").mkdir(exist_ok=True)
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},"
                         f"CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(self.dir / "data"),
        }
        props.update(self.config)
        (self.dir / "server.properties").write_text(
            "".join(f"{k}={v}\n" for k, v in props.items()))
        # reload4j (log4j 1.2) configuration: everything to one file, request
        # logging off, so a failure's context is in the tail of server.log.
        (self.dir / "log4j.properties").write_text(f"""\
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File={self.log_file}
log4j.appender.file.Append=true
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.kafka.network.RequestChannel$=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.org.apache.kafka.common.utils.AppInfoParser=INFO
""")

    def _java(self, main: list[str], extra_flags: list[str] = ()) -> list[str]:
        java = shutil.which("java")
        if not java:
            raise BrokerError("no `java` on PATH; run `make deps`")
        return [java, f"-Xmx{self.heap}", "-Xms64m", *self.JVM_FLAGS, *extra_flags,
                f"-Dlog4j.configuration=file:{self.dir / 'log4j.properties'}",
                f"-Dkafka.logs.dir={self.dir / 'logs'}",
                "-cp", str(self.jars / "*"), *main]

    def _cds_archive(self) -> Path:
        """Where the class-data sharing archive for this JDK and these jars
        lives; the name changes when either does, so a stale archive is never
        offered to a JVM that would reject it."""
        java = os.path.realpath(shutil.which("java") or "java")
        h = hashlib.sha1(f"{java}:{os.stat(java).st_mtime_ns}".encode())
        for jar in sorted(self.jars.glob("*.jar")):
            st = jar.stat()  # the JVM rejects an archive if a jar's size or mtime changed
            h.update(f"{jar.name}:{st.st_size}:{st.st_mtime_ns}".encode())
        return self.jars.parent / f"{self.jars.name}-{h.hexdigest()[:12]}.jsa"

    def _cds_flags(self, dump: bool = True) -> list[str]:
        """Class-data sharing halves the JVM's start-up (~1.7 s -> ~0.9 s to
        ready here): the first broker this harness stops cleanly dumps the
        classes it loaded, and later JVMs map them instead of loading and
        verifying ~3000 classes from the jars again.  The dump goes to a
        private name and is renamed into place after the JVM exited, so no
        JVM ever maps a half-written archive."""
        if not self.cds:
            return []
        quiet = ["-Xlog:cds=off", "-Xlog:cds+dynamic=off"]
        archive = self._cds_archive()
        if archive.is_file():
            return [f"-XX:SharedArchiveFile={archive}", "-Xshare:auto", *quiet]
        if not dump:
            return []
        # One dumper at a time; a lock left by a dumper that was killed goes stale.
        lock = Path(str(archive) + ".lock")
        with contextlib.suppress(OSError):
            if time.time() - lock.stat().st_mtime > 600:
                lock.unlink()
        try:
            os.close(os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return []
        self._cds_dump = (Path(f"{archive}.{os.getpid()}.tmp"), archive, lock)
        return [f"-XX:ArchiveClassesAtExit={self._cds_dump[0]}", *quiet]

    def _cds_finish(self) -> None:
        """After the broker exited: publish the archive it dumped, if any."""
        if not self._cds_dump:
            return
        tmp, archive, lock = self._cds_dump
        self._cds_dump = None
        with contextlib.suppress(OSError):
            if tmp.is_file() and tmp.stat().st_size > 0:
                tmp.rename(archive)
        with contextlib.suppress(OSError):
            tmp.unlink()
        with contextlib.suppress(OSError):
            lock.unlink()

    def format_storage(self) -> None:
        self._write_files()
        cmd = self._java(["kafka.tools.StorageTool", "format", f"--cluster-id={self.cluster_id}",
                          "-c", str(self.dir / "server.properties")],
                         self._cds_flags(dump=False))
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=120)
        if r.returncode != 0:
            raise BrokerError(f"kafka-storage format failed (exit {r.returncode}):\n"
                              f"{r.stdout[-2000:]}{r.stderr[-2000:]}")
        self._formatted = True

    # ------------------------------------------------------------ life cycle
    def start(self, timeout: float = 60.0) -> "Broker":
        """Starts the broker (formatting storage the first time) and returns
        once it answers metadata requests; raises BrokerError with the tail of
        its log otherwise.  Idempotent while running."""
        with self._lock:
            if self.running:
                return self
            for attempt in range(3):
                try:
                    return self._start_once(timeout)
                except BrokerError as e:
                    # Another process took a port between free_port() and the
                    # broker's bind.  Only a broker that never ran may move:
                    # a restart must come back where clients expect it.
                    if self._ever_started or attempt == 2 or \
                            not self._log_has("Address already in use"):
                        raise
                    self._new_ports()
        raise AssertionError("unreachable")

    def _new_ports(self) -> None:
        for sub in ("data", "logs"):
            shutil.rmtree(self.dir / sub, ignore_errors=True)
        self._formatted = False
        self.port = free_port()
        self.controller_port = free_port()
        while self.controller_port == self.port:
            self.controller_port = free_port()

    def _start_once(self, timeout: float) -> "Broker":
        if not self._formatted:
            self.format_storage()
        else:
            self._write_files()
        cmd = self._java(["kafka.Kafka", str(self.dir / "server.properties")],
                         self._cds_flags())
        if self.die_with_parent and shutil.which("setpriv"):
            cmd = ["setpriv", "--pdeathsig", "SIGKILL", *cmd]
        t0 = time.monotonic()
        with open(self.stdout_file, "ab") as out:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, cwd=self.dir,
                                         start_new_session=not self.die_with_parent)
        try:
            self._wait_ready(t0, timeout)
        except BaseException:
            self.kill()
            raise
        self.ready_seconds = time.monotonic() - t0
        self._ever_started = True
        return self

    def _wait_ready(self, t0: float, timeout: float) -> None:
        deadline = t0 + timeout
        admin = None
        last = "port not open"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BrokerError(f"Kafka broker exited with status {self.proc.returncode} "
                                  f"during start-up\n{self.log_tail()}")
            if not _port_open(self.port):
                time.sleep(0.05)
                continue
            if admin is None:
                admin = self.admin(fresh=True)
            try:
                md = admin.list_topics(timeout=min(2.0, max(0.1, deadline - time.monotonic())))
                if 1 in md.brokers:
                    return
                last = f"metadata lists brokers {sorted(md.brokers)}"
            except Exception as e:  # KafkaException: still starting
                last = str(e)
            time.sleep(0.05)
        raise BrokerError(f"Kafka broker at {self.bootstrap} not ready after {timeout:.0f} s "
                          f"({last})\n{self.log_tail()}")

    def admin(self, fresh: bool = False):
        """A confluent_kafka AdminClient on this broker (shared, unless fresh)."""
        from confluent_kafka.admin import AdminClient
        if fresh or self._admin is None:
            self._admin = AdminClient({
                "bootstrap.servers": self.bootstrap,
                "reconnect.backoff.ms": 50,
                "reconnect.backoff.max.ms": 500,
                "socket.connection.setup.timeout.ms": 5000,
                # Connection-refused chatter while the broker (re)starts is
                # expected; real failures surface as exceptions.
                "log_level": 0,
                "error_cb": lambda err: None,
            })
        return self._admin

    def stop(self, grace: float = 20.0) -> int | None:
        """SIGTERM (controlled shutdown), then SIGKILL if it takes longer than
        `grace` seconds.  Keeps the data dir, so start() brings it back."""
        with self._lock:
            if self.proc is None:
                return None
            p = self.proc
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=grace)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        p.kill()
                    p.wait(timeout=30)
            self.proc = None
            self._admin = None
            self._cds_finish()
            return p.returncode

    def kill(self) -> None:
        """kill -9: a crash, no controlled shutdown.  Keeps the data dir."""
        with self._lock:
            if self.proc is None:
                return
            p = self.proc
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    p.kill()
                p.wait(timeout=30)
            self.proc = None
            self._admin = None
            self._cds_finish()

    def restart(self, kill: bool = False, timeout: float = 60.0) -> "Broker":
        """Stops (or, with kill=True, kills -9) and starts again on the same
        ports and data."""
        if kill:
            self.kill()
        else:
            self.stop()
        # After a kill the kernel has closed the listening sockets, but give
        # the bind a moment if a port is still held (TIME_WAIT is fine: the
        # JVM binds with SO_REUSEADDR).
        return self.start(timeout=timeout)

    def close(self) -> None:
        """Stops the broker and removes its temp dir (if the Broker made it)."""
        with self._lock:
            self.stop()
            if self._own_dir:
                shutil.rmtree(self.dir, ignore_errors=True)
            _live.discard(self)

    def __enter__(self) -> "Broker":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------ topics
    def create_topic(self, name: str, partitions: int = 1, config: dict | None = None,
                     replication: int = 1, timeout: float = 30.0) -> str:
        """Creates a topic and waits until every partition has a leader in
        the metadata clients see.  Returns the name."""
        from confluent_kafka.admin import NewTopic
        admin = self.admin()
        nt = NewTopic(name, num_partitions=partitions, replication_factor=replication,
                      config={str(k): str(v) for k, v in (config or {}).items()})
        fut = admin.create_topics([nt], operation_timeout=timeout, request_timeout=timeout)[name]
        fut.result(timeout=timeout + 5)
        deadline = time.monotonic() + timeout
        while True:
            md = admin.list_topics(topic=name, timeout=5).topics.get(name)
            if (md is not None and md.error is None and len(md.partitions) == partitions
                    and all(p.leader >= 0 and p.error is None for p in md.partitions.values())):
                return name
            if time.monotonic() > deadline:
                raise BrokerError(f"topic {name}: partitions without a leader after {timeout} s")
            time.sleep(0.05)

    def delete_topic(self, name: str, timeout: float = 30.0) -> None:
        self.admin().delete_topics([name], operation_timeout=timeout)[name].result(timeout + 5)

    def topic_config(self, name: str) -> dict:
        """The topic's effective configuration as {name: value}."""
        from confluent_kafka.admin import ConfigResource
        res = ConfigResource(ConfigResource.Type.TOPIC, name)
        entries = self.admin().describe_configs([res])[res].result(timeout=30)
        return {k: v.value for k, v in entries.items()}

    # ------------------------------------------------------------ diagnostics
    def log_tail(self, lines: int = 40) -> str:
        """The broker's first ERROR/FATAL lines (the cause usually comes
        before a long shutdown sequence) and the tail of its logs."""
        out = []
        if self.log_file.is_file():
            text = self.log_file.read_text(errors="replace").splitlines()
            errors = [ln for ln in text if "] ERROR " in ln or "] FATAL " in ln][:10]
            if errors:
                out.append(f"--- first errors in {self.log_file}\n" + "\n".join(errors))
        for f in (self.stdout_file, self.log_file):
            if f.is_file():
                text = f.read_text(errors="replace").splitlines()[-lines:]
                if text:
                    out.append(f"--- tail of {f}\n" + "\n".join(text))
        return "\n".join(out) or f"(no broker logs in {self.dir / 'logs'})"

    def _log_has(self, needle: str) -> bool:
        return any(f.is_file() and needle in f.read_text(errors="replace")
                   for f in (self.stdout_file, self.log_file))

    # ------------------------------------------------------------ CLI state
    def to_state(self) -> dict:
        return {"pid": self.pid, "port": self.port, "controller_port": self.controller_port,
                "dir": str(self.dir), "cluster_id": self.cluster_id, "version": self.version,
                "bootstrap": self.bootstrap, "heap": self.heap, "config": self.config}

    @classmethod
    def from_state(cls, st: dict) -> "Broker":
        """A handle on a broker another process started (CLI stop/restart)."""
        b = cls.__new__(cls)
        b.jars = ensure_jars()
        b.version = st["version"]
        b.heap = st.get("heap", "512m")
        b.die_with_parent = False
        b.cds = True
        b._own_dir = True
        b.dir = Path(st["dir"])
        b.port = st["port"]
        b.controller_port = st["controller_port"]
        b.cluster_id = st["cluster_id"]
        b.config = st.get("config", dict(cls.DEFAULTS))
        b.proc = None
        b.ready_seconds = None
        b._formatted = True
        b._ever_started = True
        b._admin = None
        b._lock = threading.RLock()
        b._cds_dump = None
        return b


# ---------------------------------------------------------------- pytest
def broker_fixture(request=None):
    """Generator for a pytest fixture: `kafka = pytest.fixture(scope="session")
    (kafka_harness.broker_fixture)`.  The broker is closed by the fixture's
    finalizer, whatever the tests did (and atexit, and by PDEATHSIG)."""
    b = Broker()
    try:
        b.start()
        yield b
    finally:
        b.close()


# ---------------------------------------------------------------- CLI
def _pid_is_broker(pid: int, workdir: str) -> bool:
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False
    return "kafka.Kafka" in cmd and workdir in cmd


def _cli_stop(st: dict, kill: bool = False, remove: bool = True) -> None:
    pid = st.get("pid")
    if pid and _pid_is_broker(pid, st["dir"]):
        os.kill(pid, signal.SIGKILL if kill else signal.SIGTERM)
        deadline = time.monotonic() + 20
        while _pid_is_broker(pid, st["dir"]) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _pid_is_broker(pid, st["dir"]):
            os.kill(pid, signal.SIGKILL)
            while _pid_is_broker(pid, st["dir"]):
                time.sleep(0.05)
    if remove:
        shutil.rmtree(st["dir"], ignore_errors=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Single-node KRaft Apache Kafka broker for tests.")
    ap.add_argument("command", choices=["start", "stop", "kill", "restart", "status", "run",
                                        "version", "fetch"])
    ap.add_argument("--state", default=str(STATE_FILE),
                    help="where start records the broker for stop (default %(default)s)")
    ap.add_argument("--timeout", type=float, default=60.0)
    args = ap.parse_args(argv)
    state = Path(args.state)

    if args.command == "fetch":
        print(ensure_jars(quiet=False))
        return 0
    if args.command == "version":
        print(jar_version(ensure_jars(quiet=False)))
        return 0
    if args.command == "run":
        # Foreground: until Ctrl-C or SIGTERM.
        def _term(*_):
            raise KeyboardInterrupt
        signal.signal(signal.SIGTERM, _term)
        with Broker() as b:
            print(b.bootstrap, flush=True)
            print(f"kafka broker: {b.version_string} at {b.bootstrap} "
                  f"(ready in {b.ready_seconds:.1f} s; Ctrl-C stops it)", file=sys.stderr)
            with contextlib.suppress(KeyboardInterrupt):
                while b.running:
                    time.sleep(0.5)
        return 0

    st = json.loads(state.read_text()) if state.is_file() else None
    if args.command == "start":
        if st and st.get("pid") and _pid_is_broker(st["pid"], st["dir"]):
            print(st["bootstrap"])
            print(f"kafka broker already running at {st['bootstrap']} (pid {st['pid']})",
                  file=sys.stderr)
            return 0
        b = Broker(die_with_parent=False, stop_at_exit=False)
        try:
            b.start(timeout=args.timeout)
        except BaseException:
            b.close()
            raise
        state.parent.mkdir(parents=True, exist_ok=True)
        state.write_text(json.dumps(b.to_state(), indent=1))
        print(b.bootstrap)
        print(f"kafka broker: {b.version_string} at {b.bootstrap} (pid {b.pid}, ready in "
              f"{b.ready_seconds:.1f} s, dir {b.dir}); stop: {sys.argv[0]} stop", file=sys.stderr)
        return 0
    if st is None:
        print(f"no broker recorded in {state}", file=sys.stderr)
        return 0 if args.command == "stop" else 1
    if args.command == "status":
        alive = bool(st.get("pid")) and _pid_is_broker(st["pid"], st["dir"])
        print(f"{st['bootstrap']} pid {st['pid']} {'running' if alive else 'NOT running'}")
        return 0 if alive else 1
    if args.command == "stop":
        _cli_stop(st)
        state.unlink()
        return 0
    if args.command in ("kill", "restart"):
        _cli_stop(st, kill=args.command == "kill", remove=False)
        if args.command == "kill":
            st["pid"] = None
            state.write_text(json.dumps(st, indent=1))
            return 0
        b = Broker.from_state(st)
        b.start(timeout=args.timeout)
        st["pid"] = b.pid
        state.write_text(json.dumps(st, indent=1))
        print(b.bootstrap)
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
