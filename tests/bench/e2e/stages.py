#!/usr/bin/env python3
"""Where the end-to-end latency of `make bench-e2e` goes, stage by stage.

    WEIR_BUILD=build/rel BENCH_RATE=20000 BENCH_SECONDS=15 \\
        python3 tests/bench/e2e/stages.py

Runs the bench's pipeline (tests/bench/e2e/bench.py: same broker, influxd,
services, spec and weir-sim load) at one rate, with two extra
read_committed readers (fetch.wait.max.ms 5) on compute's and enrichment's
output topics, and prints for the aggregates of the measured windows:

  emit - window_end          compute's own emitted_at: weir-sim's batching and
                             its one blocking connection, ingress and its
                             producer, compute's fetch and processing
  agg visible - emitted_at   compute's transaction committing, the markers,
                             a read_committed fetch
  eagg visible - window_end  the same after enrichment's transaction
  ws arrival - window_end    what bench-e2e reports (the sink's WebSocket feed)
  ws last - eagg last        per window, its last aggregate on the WebSocket
                             minus its last one visible to the eagg reader:
                             the sink's hop (its InfluxDB write blocks it)

With READINGS=1 a third reader (read_uncommitted, fetch.wait.max.ms 5) on
the input topic splits the first stage at the reading that closes each
window on each partition (the first whose event time reaches the window's
end): its Kafka timestamp (CreateTime: ingress's produce() call) minus the
window end is weir-sim's batching and request plus ingress up to produce;
its arrival at the reader minus CreateTime is ingress's producer (linger,
acks=all) and the broker; compute's emitted_at minus that arrival (the
latest partition's) is compute's fetch and processing.  The same two
splits over every reading ("all: CreateTime - ts", "all: reader -
CreateTime") show what the closing readings alone may hide: a constant
offset of every timestamp, such as a load generator whose clock started
before its pacing did.

then each service's commit-duration histogram (p50/p99) and transaction
count, compute's fetch wake-ups (services/compute/fw.h), ingress's request
and produce durations, the sink's InfluxDB write and WebSocket push
latencies, and per window the spread of its aggregates.  A diagnostic, not part
of `make bench`: the extra readers add load of their own.  SVC_ENV (JSON
{service: {VAR: value}}) sets service variables, e.g. to try a setting.
"""
import io
import json
import os
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench  # noqa: E402
import fastavro  # noqa: E402
from bench import BUILD, COMPUTE, REPO, Broker, Feed, Influx, Pipeline, pct  # noqa: E402
from confluent_kafka import Consumer  # noqa: E402
from floor import Floor  # noqa: E402

RATE = int(os.environ.get("BENCH_RATE", "20000"))
SVC_ENV = json.loads(os.environ.get("SVC_ENV", "{}"))
FLOOR = os.environ.get("FLOOR", "1") == "1"  # also run floor.py's bare-client hops
# LOGAPPEND=1: compute's and enrichment's outputs stamped at the broker's
# append, read back after the run; LIVE=0: without the live readers.
LOGAPPEND = os.environ.get("LOGAPPEND") == "1"
LIVE = os.environ.get("LIVE", "1") == "1"


def schema(name):
    return fastavro.parse_schema(json.load(open(REPO / "schemas" / f"{name}.avsc")))


def ms(x):
    return x.timestamp() * 1000 if hasattr(x, "timestamp") else x


class Reader:
    """read_committed reader of one topic: (window_end, emitted_at, arrival) rows."""

    def __init__(self, bootstrap, topic, sch):
        self.c = Consumer({"bootstrap.servers": bootstrap, "group.id": "stages-" + topic,
                           "auto.offset.reset": "latest", "isolation.level": "read_committed",
                           "fetch.wait.max.ms": 5, "enable.auto.commit": False})
        self.c.subscribe([topic])
        self.sch, self.rows, self.stop = sch, [], False
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        while not self.stop:
            for m in self.c.consume(1000, 0.002):
                if m.error():
                    continue
                now = time.time() * 1000
                # Avro single-object encoding: 2 marker bytes + 8 fingerprint bytes.
                v = fastavro.schemaless_reader(io.BytesIO(m.value()[10:]), self.sch)
                self.rows.append((ms(v["window_end"]), ms(v["emitted_at"]), now))
        self.c.close()


class NoReader:
    """LIVE=0's stand-in for a Reader: nothing read, nothing to join."""

    class t:  # noqa: N801 (a Reader's thread, as far as main() uses it)
        @staticmethod
        def join(timeout=None):
            pass

    def __init__(self):
        self.rows, self.stop = [], False


def varint(b, i):
    """Avro zigzag long at b[i:]: (value, next index)."""
    shift = v = 0
    while True:
        x = b[i]
        i += 1
        v |= (x & 0x7F) << shift
        shift += 7
        if not x & 0x80:
            return (v >> 1) ^ -(v & 1), i


class ClosingReader:
    """Input-topic reader: for each (partition, window end) the reading that
    closed it (first event time >= the end): (event ts, CreateTime, arrival).
    Decodes only the two leading strings and ts (traffic_reading.avsc)."""

    def __init__(self, bootstrap, topic, window_ms):
        self.c = Consumer({"bootstrap.servers": bootstrap, "group.id": "stages-" + topic,
                           "auto.offset.reset": "latest", "fetch.wait.max.ms": 5,
                           "enable.auto.commit": False})
        self.c.subscribe([topic])
        self.w, self.st, self.rows, self.stop = window_ms, {}, {}, False
        self.all = []
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        while not self.stop:
            for m in self.c.consume(2000, 0.002):
                if m.error():
                    continue
                now = time.time() * 1000
                b = m.value()
                n, i = varint(b, 10)
                n, i = varint(b, i + n)
                ts, _ = varint(b, i + n)
                p = m.partition()
                self.all.append((ts, m.timestamp()[1], now))
                st = self.st.get(p, ts)
                if ts > st and ts // self.w > st // self.w:
                    self.rows[(p, ts // self.w * self.w)] = (ts, m.timestamp()[1], now)
                self.st[p] = max(st, ts)
        self.c.close()


def appended(bootstrap, topic, sch):
    """{(window_end, key): (broker append time, emitted_at)} of a whole topic
    created with LogAppendTime (LOGAPPEND=1)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "stages-after-" + topic,
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.subscribe([topic])
    out, idle = {}, 0
    while idle < 3:
        ms_ = c.consume(5000, 1.0)
        idle = idle + 1 if not ms_ else 0
        for m in ms_:
            if m.error():
                continue
            v = fastavro.schemaless_reader(io.BytesIO(m.value()[10:]), sch)
            out[(ms(v["window_end"]), v["key"])] = (m.timestamp()[1], ms(v["emitted_at"]))
    c.close()
    return out


def row(name, xs):
    if not xs:
        return
    print(f"{name:28s} n={len(xs)} p50={pct(xs, .5):.1f} p90={pct(xs, .9):.1f} "
          f"p99={pct(xs, .99):.1f} max={max(xs or [0]):.1f}")


def main():
    with Broker() as b, Influx() as db:
        p = Pipeline(BUILD, b, tempfile.mkdtemp(prefix="bench-stages-"), influx_url=db.url,
                     compute=COMPUTE, extra_env={"LOG_LEVEL": "warn"}, service_env=SVC_ENV)
        db.create_database(p.influx_db)
        if LOGAPPEND:
            # The broker stamps each record of compute's and enrichment's
            # outputs when it appends it: splits each hop at the append.
            make, la = b.create_topic, {p.topics["agg"], p.topics["eagg"]}

            def create_topic(name, partitions=1, config=None, **kw):
                if name in la:
                    config = dict(config or {}, **{"message.timestamp.type": "LogAppendTime"})
                return make(name, partitions=partitions, config=config, **kw)
            b.create_topic = create_topic
        try:
            p.start()
            feed = Feed(p.ws_url)
            feed.keep = True
            if LIVE:
                ra = Reader(b.bootstrap, p.topics["agg"], schema("aggregate"))
                re_ = Reader(b.bootstrap, p.topics["eagg"], schema("aggregate_enriched"))
            else:  # LIVE=0: only the feed reads while the load runs
                ra, re_ = NoReader(), NoReader()
            rr = (ClosingReader(b.bootstrap, p.topics["readings"], bench.WINDOW_MS)
                  if os.environ.get("READINGS") == "1" else None)
            fl = Floor(b, keys=bench.KEYS, offset_ms=500).start() if FLOOR else None
            time.sleep(2)
            if fl:
                t0 = time.time() * 1000
                fl.window = (t0 + bench.WARMUP * 1000, t0 + (bench.WARMUP + bench.SECONDS) * 1000)
            r = bench.load(p, feed, RATE, {n: 0 for n in bench.ORDER})
            bench.show(f"{RATE}/s", r)
            feed.stop = ra.stop = re_.stop = True
            time.sleep(0.6)  # the feed's receive loop notices within 0.5 s
            ra.t.join(5)
            re_.t.join(5)
            lo, hi = feed.window
            agg = [x for x in ra.rows if lo <= x[0] <= hi]
            eagg = [x for x in re_.rows if lo <= x[0] <= hi]
            row("emit - window_end", [e - w for w, e, a in agg])
            row("agg visible - emitted_at", [a - e for w, e, a in agg])
            row("agg visible - window_end", [a - w for w, e, a in agg])
            row("eagg visible - window_end", [a - w for w, e, a in eagg])
            row("ws arrival - window_end", feed.lat[-r["samples"]:] if r["samples"] else [])
            # The sink's hop, window by window: its last aggregate on the
            # WebSocket minus its last one visible to the eagg reader.
            last_e, last_ws = defaultdict(float), defaultdict(float)
            for w, e, a in eagg:
                last_e[w] = max(last_e[w], a)
            for w, a in feed.rows:
                if lo <= w <= hi:
                    last_ws[w] = max(last_ws[w], a)
            row("ws last - eagg last", [last_ws[w] - last_e[w] for w in last_ws if w in last_e])
            if LOGAPPEND:
                # Read back after the run (no reader competes with the
                # feed's thread meanwhile): append times per (window, key).
                agg_t, eagg_t = appended(b.bootstrap, p.topics["agg"], schema("aggregate")), \
                    appended(b.bootstrap, p.topics["eagg"], schema("aggregate_enriched"))
                row("emit - window_end (read back)", [e - w for (w, k), (t, e) in agg_t.items()
                                                      if lo <= w <= hi])
                row("agg append - emitted_at", [t - e for (w, k), (t, e) in agg_t.items()
                                                if lo <= w <= hi])
                row("eagg append - agg append", [t - agg_t[x][0] for x, (t, e) in eagg_t.items()
                                                 if x in agg_t and lo <= x[0] <= hi])
                row("ws arrival - eagg append", [a - eagg_t[(w, k)][0] for w, k, a in feed.keyed
                                                 if (w, k) in eagg_t and lo <= w <= hi])
                # The windows that make the p99: each stage's worst in them.
                worst = defaultdict(lambda: [0.0] * 5)
                for w, k, a in feed.keyed:
                    if (w, k) in eagg_t and (w, k) in agg_t and lo <= w <= hi:
                        (ta, e), te = agg_t[(w, k)], eagg_t[(w, k)][0]
                        x = worst[w]
                        for i, v in enumerate((a - w, e - w, ta - e, te - ta, a - te)):
                            x[i] = max(x[i], v)
                for w in sorted(worst, key=lambda w: -worst[w][0])[:6]:
                    x = worst[w]
                    print(f"worst window ...{int(w) % 100000:05d}: ws {x[0]:.1f} = emit {x[1]:.0f}"
                          f", +agg append {x[2]:.0f}, +eagg append {x[3]:.0f}, +ws {x[4]:.1f} "
                          f"(each stage's max over the window's keys)")
            if rr:
                rr.stop = True
                rr.t.join(5)
                close = defaultdict(list)  # window end -> closing readings
                for (part, w), v in rr.rows.items():
                    if lo <= w <= hi:
                        close[w].append(v)
                emit = defaultdict(float)  # window end -> last emitted_at
                for w, e, a in agg:
                    emit[w] = max(emit[w], e)
                row("all: CreateTime - ts", [c - t for t, c, a in rr.all if lo <= t <= hi])
                row("all: reader - CreateTime", [a - c for t, c, a in rr.all if lo <= t <= hi])
                row("closing: CreateTime - end", [c - w for w, v in close.items() for t, c, a in v])
                row("closing: reader - CreateTime",
                    [a - c for w, v in close.items() for t, c, a in v])
                row("closing: reader - end", [a - w for w, v in close.items() for t, c, a in v])
                row("emit - last closing reader",
                    [emit[w] - max(a for t, c, a in v) for w, v in close.items() if w in emit])
            if fl:
                both = fl.stop()
                row("floor: hop 1 (source txn)", fl.lat1)
                row("floor: both hops", both)
            for n in ("compute", "enrichment"):
                m = p.svc[n].metrics()
                tx = sum(v for k, lb, v in m if k == f"weir_{n}_kafka_transactions_total")
                h = f"weir_{n}_kafka_commit_duration_seconds"
                print(f"{n}: {tx:.0f} transactions, commit p50 "
                      f"{1000 * bench.hist_quantile(m, h, .5):.1f} ms, p99 "
                      f"{1000 * bench.hist_quantile(m, h, .99):.1f} ms (whole run)")
            m = p.svc["compute"].metrics()
            wk = sum(v for k, lb, v in m if k == "weir_compute_fetch_wakeups_total")
            print(f"compute: {wk:.0f} fetch wake-ups (fw.h)")
            for n, hs in (("ingress", ("request_duration", "produce_duration")),
                          ("sink", ("influx_write_duration", "ws_push_latency"))):
                m = p.svc[n].metrics()
                for h in (f"weir_{n}_{x}_seconds" for x in hs):
                    print(f"{n}: {h} p50 {1000 * bench.hist_quantile(m, h, .5):.1f} ms, p99 "
                          f"{1000 * bench.hist_quantile(m, h, .99):.1f} ms (whole run)")
            per = defaultdict(lambda: ([], []))
            for w, e, a in agg:
                per[w][0].append(a - w)
            for w, e, a in eagg:
                per[w][1].append(a - w)
            for w in sorted(per):
                x, y = per[w]
                print(f"window ...{int(w) % 100000:05d}: agg visible {min(x or [0]):.0f}-"
                      f"{max(x or [0]):.0f} ms, eagg visible {min(y or [0]):.0f}-"
                      f"{max(y or [0]):.0f} ms ({len(x)}/{len(y)} aggregates)")
        finally:
            p.stop(10)


if __name__ == "__main__":
    main()
