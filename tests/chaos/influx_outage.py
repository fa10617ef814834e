#!/usr/bin/env python3
"""InfluxDB stopped for a while under load, then started again: the sink
pauses and retries, and in the end InfluxDB holds exactly one point per
(intersection, window) with every reading counted once."""
import tempfile
import time

from lib import (BUILD, FAST_REJOIN, Broker, Pipeline, check, consume, decode, AGG, finish, run,
                 sim_kafka, wait_counted)
from influx import Influx  # tests/harness, on sys.path once lib is imported

N = 20000


def body():
    with Broker() as b, Influx() as db:
        p = Pipeline(BUILD, b, tempfile.mkdtemp(prefix="chaos-io-"), influx_url=db.url,
                     service_env=FAST_REJOIN)
        db.create_database(p.influx_db)
        try:
            p.start(("compute", "enrichment", "sink"))
            sim = sim_kafka(p, "--rate", "2000", "--count", str(N), "--time-scale", "60",
                            "--advance", "2m", "--seed", "13")
            time.sleep(2)
            db.stop()
            time.sleep(8)
            sink = p.svc["sink"]
            retries = sink.metric("weir_sink_influx_retries_total")
            paused = sink.metric("weir_sink_consumption_paused")
            db.start()
            s = finish(sim)
            check(s["failed"] == 0, f"sim {s}")
            total, dups = wait_counted(p, N)
            check(total == N and not dups, f"aggregates: {total}/{N}, dups {dups[:3]}")
            windows = {(r["key"], r["window_end"]) for r in
                       (decode(AGG, m.value()) for m in consume(b.bootstrap, p.topics["agg"]))}
            deadline = time.monotonic() + 60
            while True:
                rows = db.query('SELECT sum("count"), count("count") FROM traffic', p.influx_db)
                got = (rows[0]["sum"], rows[0]["count"]) if rows else (0, 0)
                if got == (N, len(windows)) or time.monotonic() > deadline:
                    break
                time.sleep(1)
            check(got == (N, len(windows)),
                  f"influx sum(count), points = {got}, want {(N, len(windows))}")
            check(retries > 0 and paused == 1,
                  f"during the outage: retries {retries}, paused {paused}")
            check(sink.alive(), f"weir-sink exited {sink.proc.returncode}")
            rc = p.stop()
            check(all(v == 0 for v in rc.values()), f"exit statuses {rc}")
            return f"{len(windows)} points, {N} readings once; {retries:.0f} retries while down"
        finally:
            p.stop(10)


run("influxdb outage", body)
