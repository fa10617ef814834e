#!/usr/bin/env python3
"""The peer a user would pick instead of Weir: Kafka Streams, end to end.

KStreamsE2E (tests/bench/kstreams/, built into the bench jar) runs two
Kafka Streams applications with the topology of bench-e2e's compute and
enrichment (windowed aggregation, then a GlobalKTable join), both
exactly_once_v2.  Here they read Weir's own input topic, so they see the
same readings at the same rate, on the same broker, in the same seconds as
Weir; a read_committed reader on their enriched output takes, per record,
arrival time minus window end, as bench-e2e's WebSocket subscriber does
for Weir.

    peer = KStreamsPeer(broker, input_topic, partitions, commit_ms=100, window_ms=100).start()
    peer.window = (lo, hi)      # window ends that count, in ms
    ... load ...
    lat = peer.stop()           # ms; peer.errors says what failed
"""
import io
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

import fastavro
from confluent_kafka import Consumer, Producer

REPO = Path(__file__).resolve().parents[3]
JAR = REPO / "tests" / ".cache" / "bench-kstreams" / "kstreams-bench.jar"
SCHEMA = fastavro.parse_schema(json.loads((REPO / "schemas" / "aggregate_enriched.avsc").read_text()))
REFERENCE = REPO / "docs" / "examples" / "intersections.json"


def build_jar():
    """Builds the bench jar when it is missing or older than its sources."""
    srcs = [REPO / "tests" / "bench" / "kstreams" / "pom.xml", *REPO.glob("schemas/*.avsc"),
            *(REPO / "tests" / "bench" / "kstreams" / "src").rglob("*.java")]
    if JAR.exists() and all(s.stat().st_mtime <= JAR.stat().st_mtime for s in srcs):
        return
    subprocess.run(["mvn", "-q", "-B", "-f", str(srcs[0]), "package"], check=True)


class KStreamsPeer:
    def __init__(self, broker, input_topic, partitions, commit_ms=100, java_opts="-Xmx256m",
                 window_ms=1000):
        build_jar()
        self.b, self.input, self.commit_ms = broker, input_topic, commit_ms
        tag = uuid.uuid4().hex[:8]
        self.t_agg, self.t_ref, self.t_out = (f"ks-{tag}.{n}" for n in ("agg", "ref", "out"))
        broker.create_topic(self.t_agg, partitions=partitions)
        broker.create_topic(self.t_out, partitions=partitions)
        broker.create_topic(self.t_ref, partitions=1, config={"cleanup.policy": "compact"})
        p = Producer({"bootstrap.servers": broker.bootstrap})
        for r in json.loads(REFERENCE.read_text()):
            p.produce(self.t_ref, key=r["intersection_id"], value=f"{r['name']}\t{r['district']}")
        p.flush(30)
        self.state = tempfile.mkdtemp(prefix="kstreams-e2e-")
        self.cmd = ["java", *java_opts.split(), "-cp", str(JAR), "io.weir.bench.KStreamsE2E",
                    f"bootstrap={broker.bootstrap}", f"input={input_topic}",
                    f"aggregates={self.t_agg}", f"reference={self.t_ref}", f"output={self.t_out}",
                    f"commit_ms={commit_ms}", f"app_id=ks-{tag}", f"state_dir={self.state}/s",
                    f"window_ms={window_ms}", "grace_ms=0"]
        # No window end counts until the caller sets the window (lo > hi).
        self.lat, self.window, self.errors = [], (float("inf"), float("-inf")), []
        self._stop = threading.Event()
        self.proc = None
        self.log = REPO / "build" / "bench" / f"kstreams-e2e-{commit_ms}ms.log"
        self.log.parent.mkdir(parents=True, exist_ok=True)

    def _read(self):
        c = Consumer({"bootstrap.servers": self.b.bootstrap, "group.id": f"{self.t_out}.reader",
                      "isolation.level": "read_committed", "auto.offset.reset": "earliest",
                      "enable.auto.commit": False})
        c.subscribe([self.t_out])
        try:
            while not self._stop.is_set():
                for m in c.consume(1000, 0.05):
                    if m.error():
                        continue
                    now = time.time() * 1000
                    rec = fastavro.schemaless_reader(io.BytesIO(m.value()[10:]), SCHEMA)
                    end = rec["window_end"]
                    end = end.timestamp() * 1000 if hasattr(end, "timestamp") else end
                    lo, hi = self.window
                    if lo <= end <= hi:
                        self.lat.append(now - end)
        except Exception as e:  # reported with the row, not fatal to the bench
            self.errors.append(f"reader: {e!r}")
        finally:
            c.close()

    def start(self, timeout=90):
        self._t = threading.Thread(target=self._read, daemon=True)
        self._t.start()
        self.logf = open(self.log, "w")
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=self.logf, text=True)
        deadline = time.time() + timeout
        line = ""
        while time.time() < deadline and self.proc.poll() is None:
            line = self.proc.stdout.readline()
            if line.strip() == "ready":
                return self
        self.errors.append(f"not ready in {timeout} s (exit {self.proc.poll()}), see {self.log}")
        return self

    def cpu_s(self):
        """CPU seconds the JVM has used so far (utime + stime)."""
        try:
            f = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return float("nan")

    def stop(self):
        self._stop.set()
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._t.join(10)
        self.logf.close()
        shutil.rmtree(self.state, ignore_errors=True)
        return self.lat
