#!/usr/bin/env python3
"""compute SIGKILL x3 (x1 with --short) under load, each time restarted as
the same instance (same transactional id): the aggregates a read_committed
consumer sees, and the enriched ones, still count every reading exactly once.
Event time runs 300x (a 1-minute window closes every 0.2 s), so nearly every
transaction carries aggregates: with PROCESSING_GUARANTEE=at_least_once this
scenario fails with duplicated windows (checked at 10:25 UTC, 2026-11-23)."""
import time

from lib import SHORT, BUILD, FAST_REJOIN, Broker, Pipeline, check, finish, run, sim_kafka, wait_counted
import tempfile

KILLS = 1 if SHORT else 3
N = 20000 if SHORT else 40000
RATE = 2000


def body():
    with Broker() as b:
        p = Pipeline(BUILD, b, tempfile.mkdtemp(prefix="chaos-ck-"), service_env=FAST_REJOIN)
        try:
            p.start(("compute", "enrichment"))
            sim = sim_kafka(p, "--rate", str(RATE), "--count", str(N), "--time-scale", "300",
                            "--advance", "2m", "--seed", "11")
            c = p.svc["compute"]
            # The first kill must hit a compute with work in progress (a fresh
            # broker can keep weir-sim's producer waiting a few seconds).
            deadline = time.monotonic() + 30
            while c.metric("weir_compute_records_in_total") == 0:
                check(time.monotonic() < deadline, "compute consumed nothing in 30 s")
                time.sleep(0.2)
            for i in range(KILLS):
                time.sleep(N / RATE / (KILLS + 1))
                c.kill()
                time.sleep(0.5)
                c.start()
                c.wait_ready(60)
            s = finish(sim)
            check(s["acked"] == N + p.partitions and s["failed"] == 0, f"sim {s}")  # + --advance
            total, dups = wait_counted(p, N)
            check(not dups, f"duplicated windows after {KILLS} kills: {dups[:3]}")
            check(total == N, f"aggregates count {total} readings, {N} sent")
            etotal, edups = wait_counted(p, N, "eagg")
            check(not edups and etotal == N, f"enriched: {etotal} counted, dups {edups[:3]}")
            rc = p.stop()
            check(all(v == 0 for v in rc.values()), f"exit statuses {rc}")
            return f"{KILLS} kills, {N} readings counted once in aggregates and enriched"
        finally:
            p.stop(10)


run("compute SIGKILL x%d" % KILLS, body)
