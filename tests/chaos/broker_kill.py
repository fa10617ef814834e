#!/usr/bin/env python3
"""The broker SIGKILLed under load and restarted (same ports, same data):
the services ride it out (still running, exit 0 on SIGTERM afterwards) and
every reading is counted exactly once (read_committed)."""
import tempfile
import time

from lib import BUILD, FAST_REJOIN, Broker, Pipeline, check, finish, run, sim_kafka, wait_counted

N = 20000


def body():
    with Broker() as b:
        p = Pipeline(BUILD, b, tempfile.mkdtemp(prefix="chaos-bk-"), service_env=FAST_REJOIN)
        try:
            p.start(("compute", "enrichment", "sink"))
            sim = sim_kafka(p, "--rate", "2000", "--count", str(N), "--time-scale", "30",
                            "--advance", "2m", "--seed", "12", "--flush-timeout", "120s")
            time.sleep(3)
            b.kill()
            time.sleep(3)
            b.start()
            s = finish(sim, 180)
            check(s["acked"] == N + p.partitions and s["failed"] == 0, f"sim {s}")
            total, dups = wait_counted(p, N, timeout=120)
            check(not dups, f"duplicated windows: {dups[:3]}")
            check(total == N, f"aggregates count {total} readings, {N} sent")
            for n in ("compute", "enrichment", "sink"):
                check(p.svc[n].alive(), f"weir-{n} exited {p.svc[n].proc.returncode}")
            rc = p.stop()
            check(all(v == 0 for v in rc.values()), f"exit statuses {rc}")
            return f"{N} readings counted once; services survived, exit 0"
        finally:
            p.stop(10)


run("broker kill+restart", body)
