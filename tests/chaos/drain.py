#!/usr/bin/env python3
"""SIGTERM under load through ingress: compute, enrichment and ingress are
each sent SIGTERM while weir-sim posts readings, must exit 0 (drained), and
are started again; in the end every acknowledged reading is counted exactly
once in the aggregates.  (--short: compute and ingress only.)"""
import signal
import tempfile
import time

from lib import (SHORT, BUILD, FAST_REJOIN, Broker, Pipeline, check, finish, run, sim_http,
                 wait_counted)

N = 20000 if SHORT else 30000


def body():
    with Broker() as b:
        p = Pipeline(BUILD, b, tempfile.mkdtemp(prefix="chaos-dr-"), service_env=FAST_REJOIN)
        try:
            p.start(("compute", "enrichment", "ingress"))
            sim = sim_http(p, "--rate", "2000", "--count", str(N), "--time-scale", "30",
                           "--seed", "15", "--batch", "100")
            victims = ("compute", "ingress") if SHORT else ("compute", "enrichment", "ingress")
            for n in victims:
                time.sleep(2.5)
                s = p.svc[n]
                check(s.alive(), f"weir-{n} died before SIGTERM: {s.tail(5)}")
                s.signal(signal.SIGTERM)
                rc = s.proc.wait(30)
                check(rc == 0, f"weir-{n} exited {rc} on SIGTERM under load: {s.tail(5)}")
                s.start()
                s.wait_ready(60)
            sm = finish(sim)
            check(sm["failed"] == 0 and sm["acked"] == N, f"sim {sm}")
            p.advance(sm["max_ts"] + 120_000)
            total, dups = wait_counted(p, N)
            check(not dups, f"duplicated windows: {dups[:3]}")
            check(total == N, f"aggregates count {total} readings, {N} acknowledged")
            rc = p.stop()
            check(all(v == 0 for v in rc.values()), f"final exit statuses {rc}")
            return f"{'+'.join(victims)} drained (exit 0) and restarted; {N} readings once"
        finally:
            p.stop(10)


run("SIGTERM drain under load", body)
