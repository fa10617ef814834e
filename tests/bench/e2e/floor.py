#!/usr/bin/env python3
"""The floor under bench-e2e's latency: two exactly-once hops of bare
clients, on the same broker and under the same load as Weir.

bench-e2e's figure (window end to a WebSocket subscriber) crosses two
Kafka transactions: compute's and enrichment's.  This measures what those
two hops cost with nothing of Weir in them, using confluent-kafka (its own
bundled librdkafka: a client nobody here wrote), so the report can say how
much of the latency is Weir's and how much the broker's:

- source: a transactional producer that, at every wall-clock second plus
  offset_ms (its "window end"), produces KEYS small records over the
  partitions of topic A and commits them with send_offsets_to_transaction,
  as compute does when a window closes;
- relay: consume A (read_committed) - produce B - send_offsets - commit,
  committing as soon as a poll comes back empty, as enrichment does;
- reader: read_committed on B, latency = arrival - window end, as the sink's
  subscriber sees it (`lat`); the relay's arrivals give the first hop alone
  (`lat1`).

The source's offsets are those of an input topic it never reads (its
consumer is only the group's metadata), so its transaction has the
requests of compute's, less the changelog.  Run it alongside the load
(Floor(...).start(), .stop() -> `lat`, in ms; a client that failed is in
`errors`, and the figures then cover less): it adds two records per
window and key and three small clients to the broker's work.  offset_ms
keeps its bursts off Weir's own, which come at the window end.
"""
import os
import subprocess
import threading
import time
import uuid
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition

POLL_S = 0.001  # consume() waits this long for a full batch: keep it short
NO_WINDOW = (float("inf"), float("-inf"))  # lo > hi: nothing counts


class Floor:
    def __init__(self, broker, keys=100, partitions=2, offset_ms=0, period_ms=1000):
        self.b, self.keys, self.parts, self.offset_ms = broker, keys, partitions, offset_ms
        self.period_ms = period_ms  # the window size: one source transaction per window
        tag = uuid.uuid4().hex[:8]
        self.t_in, self.t_a, self.t_b = (f"floor-{tag}.{n}" for n in ("in", "a", "b"))
        for t in (self.t_in, self.t_a, self.t_b):
            broker.create_topic(t, partitions=partitions)
        # Window ends that count: none until the caller sets the window (the
        # clients' start-up, first transactions included, is not measured).
        self.lat, self.lat1, self.window = [], [], NO_WINDOW
        # The window end of each latency, to find the worst windows (worst()).
        self.ends, self.ends1 = [], []
        self.errors = []
        # Set at the reader's first arrival: the three clients have joined
        # and a record went all the way (the caller measures only after).
        self.flowing = threading.Event()
        self._stop = threading.Event()
        self._threads = []

    def _conf(self, **kw):
        return dict({"bootstrap.servers": self.b.bootstrap}, **kw)

    def _guard(self, fn):
        def run():
            try:
                fn()
            except Exception as e:  # reported by the caller (.errors), not fatal to it
                self.errors.append(f"{fn.__name__}: {e!r}")
        return run

    def source(self):
        p = Producer(self._conf(**{"transactional.id": f"{self.t_a}.src", "linger.ms": 1,
                                   "retry.backoff.ms": 20}))
        c = Consumer(self._conf(**{"group.id": f"{self.t_in}.src", "enable.auto.commit": False}))
        p.init_transactions()
        n = 0
        while not self._stop.is_set():
            per = self.period_ms
            end = (int(time.time() * 1000 - self.offset_ms) // per + 1) * per + self.offset_ms
            while time.time() * 1000 < end and not self._stop.is_set():
                time.sleep(min(0.05, max(0.0, end / 1000 - time.time())))
            p.begin_transaction()
            for k in range(self.keys):
                p.produce(self.t_a, value=str(end).encode(), key=f"x-{k}".encode(),
                          partition=k % self.parts)
            n += 1
            p.send_offsets_to_transaction(
                [TopicPartition(self.t_in, i, n) for i in range(self.parts)],
                c.consumer_group_metadata())
            p.commit_transaction()
        c.close()

    def relay(self):
        c = Consumer(self._conf(**{"group.id": f"{self.t_a}.relay", "enable.auto.commit": False,
                                   "isolation.level": "read_committed",
                                   "auto.offset.reset": "earliest"}))
        p = Producer(self._conf(**{"transactional.id": f"{self.t_b}.relay", "linger.ms": 1,
                                   "retry.backoff.ms": 20}))
        p.init_transactions()
        c.subscribe([self.t_a])
        open_ = False
        while not self._stop.is_set():
            msgs = c.consume(1000, POLL_S)
            now = time.time() * 1000
            for m in msgs:
                if m.error():
                    continue
                end = int(m.value())
                if self.window[0] <= end <= self.window[1]:
                    self.lat1.append(now - end)
                    self.ends1.append(end)
                if not open_:
                    p.begin_transaction()
                    open_ = True
                p.produce(self.t_b, value=m.value(), key=m.key(), partition=m.partition())
            if not msgs and open_:
                p.send_offsets_to_transaction(c.position(c.assignment()),
                                              c.consumer_group_metadata())
                p.commit_transaction()
                open_ = False
        c.close()

    def reader(self):
        c = Consumer(self._conf(**{"group.id": f"{self.t_b}.reader", "enable.auto.commit": False,
                                   "isolation.level": "read_committed",
                                   "auto.offset.reset": "earliest"}))
        c.subscribe([self.t_b])
        while not self._stop.is_set():
            for m in c.consume(1000, POLL_S):
                if m.error():
                    continue
                now = time.time() * 1000
                end = int(m.value())
                self.flowing.set()
                lo, hi = self.window
                if lo <= end <= hi:
                    self.lat.append(now - end)
                    self.ends.append(end)
        c.close()

    def start(self):
        for fn in (self.reader, self.relay, self.source):
            t = threading.Thread(target=self._guard(fn), daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def worst(self, n=5):
        """The n window ends with the slowest record through both hops:
        [(s after the measured window's start, hop-1 max ms, both max ms)].
        A stall of the clients shows as consecutive windows ~period_ms
        apart whose latencies fall by ~period_ms each (a backlog)."""
        w1, w = {}, {}
        for e, x in zip(self.ends1, self.lat1):
            w1[e] = max(w1.get(e, 0), x)
        for e, x in zip(self.ends, self.lat):
            w[e] = max(w.get(e, 0), x)
        top = sorted(w, key=w.get, reverse=True)[:n]
        return [(round((e - self.window[0]) / 1000, 1),
                 round(w1[e]) if e in w1 else None, round(w[e])) for e in sorted(top)]

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join(30)
        return self.lat


class FloorC(Floor):
    """The same three clients in C on the librdkafka Weir links (floor.c),
    so that Weir and this floor share their client library; floor.py's
    own (confluent-kafka) bundles a newer one.  Same interface as Floor."""

    def __init__(self, broker, keys=100, partitions=2, offset_ms=0, period_ms=1000,
                 mode="eos", build_dir=None, hops=2):
        super().__init__(broker, keys, partitions, offset_ms, period_ms)
        self.mode = mode  # "eos" (transactions) or "alo" (at least once: flush, then commit)
        # Kafka hops from the source to the reader: 2 (source, relay, reader)
        # or more, a relay per hop after the first (floor.c's HOPS).
        self.hops = hops
        for i in range(1, hops - 1):
            broker.create_topic(f"{self.t_b}.h{i}", partitions=partitions)
        here = Path(__file__).resolve().parent
        out = Path(build_dir or here.parents[2] / "build" / "bench")
        out.mkdir(parents=True, exist_ok=True)
        self.exe = out / "floor-c"
        src = here / "floor.c"
        if not self.exe.exists() or self.exe.stat().st_mtime < src.stat().st_mtime:
            subprocess.run(["cc", "-std=c11", "-O2", str(src), "-lrdkafka", "-lpthread",
                            "-o", str(self.exe)], check=True)
        self.proc = None

    def _read(self):
        for line in self.proc.stdout:
            hop, end, at = line.split()
            end, at = int(end), int(at)
            if hop == "B":
                self.flowing.set()
            lo, hi = self.window
            if lo <= end <= hi:
                (self.lat1 if hop == "A" else self.lat).append(at - end)
                (self.ends1 if hop == "A" else self.ends).append(end)

    def start(self):
        # FLOOR_DEBUG (librdkafka debug contexts, e.g. "topic,metadata,eos"):
        # the clients' log goes to build/bench/floor-c-<mode>.log instead of
        # being reported as errors.
        self.debug_log = None
        err = subprocess.PIPE
        if os.environ.get("FLOOR_DEBUG"):
            self.debug_log = self.exe.parent / f"floor-c-{self.mode}.log"
            err = open(self.debug_log, "w")
        self.proc = subprocess.Popen(
            [str(self.exe), self.b.bootstrap, self.t_in, self.t_a, self.t_b, str(self.keys),
             str(self.parts), str(self.offset_ms), str(self.period_ms), self.mode,
             str(self.hops)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True)
        if self.debug_log:
            err.close()  # the child holds its own copy
        t = threading.Thread(target=self._read, daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for t in self._threads:
            t.join(5)
        err = self.proc.stderr.read().strip() if self.proc.stderr else ""
        if self.proc.returncode not in (0, -15) or err:
            self.errors.append(f"floor-c exit {self.proc.returncode}: {err[-300:]}")
        return self.lat


def main():
    """The floors alone on a fresh broker, nothing else running:

        python3 tests/bench/e2e/floor.py [c|py] [eos|alo] [HOPS] [SECONDS]

    (defaults c eos 2 20): floor.c (or floor.py, exactly once and two hops
    only) with bench-e2e's 100 keys, 2 partitions and 100 ms period, 3 s
    after its first record went through; prints the first hop and the
    whole path, p50 / p90 / p99 ms."""
    import sys
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "harness"))
    from kafka import Broker
    kind, mode, hops, secs = (sys.argv[1:] + ["c", "eos", "2", "20"][len(sys.argv) - 1:])[:4]

    def pct(xs, q):
        xs = sorted(xs)
        return round(xs[min(len(xs) - 1, int(q * (len(xs) - 1) + 0.5))], 1) if xs else None

    with Broker() as b:
        f = (FloorC(b, keys=100, partitions=2, offset_ms=75, period_ms=100, mode=mode,
                    hops=int(hops)) if kind == "c"
             else Floor(b, keys=100, partitions=2, offset_ms=75, period_ms=100)).start()
        if not f.flowing.wait(60):
            sys.exit(f"floor: nothing went through in 60 s: {f.errors}")
        time.sleep(3)
        t0 = time.time() * 1000
        f.window = (t0, t0 + float(secs) * 1000)
        time.sleep(float(secs) + 1)
        both = f.stop()
        for name, xs in (("first hop", f.lat1), ("whole path", both)):
            print(f"floor-{kind} {mode} hops={hops} {name}: n={len(xs)} p50={pct(xs, 0.5)} "
                  f"p90={pct(xs, 0.9)} p99={pct(xs, 0.99)}")
        if f.errors:
            print(f"floor-{kind} errors: {f.errors}")


if __name__ == "__main__":
    main()
