#!/usr/bin/env python3
"""The broker SIGKILLed under load and kept down for 15 s, longer than the
transactions' timeout (transaction.timeout.ms 10 s: the coordinator aborts
what was open and fences those producers when it is back), then restarted
(same ports, same data): every reading is counted exactly once
(read_committed), no service exits meanwhile (a producer fenced because
its transaction timed out is re-created in place; whether one was depends on
where the kill fell), and they exit 0 on SIGTERM afterwards.  A service
that does exit is restarted, as Kubernetes would, and the verdict is WARN
naming it."""
import tempfile
import time

from lib import (BUILD, FAST_REJOIN, Broker, Pipeline, Supervisor, check, finish, run, sim_kafka,
                 wait_counted)

N = 20000
OUTAGE = 15  # seconds; > transaction.timeout.ms (10 s)


def body():
    with Broker() as b:
        p = Pipeline(BUILD, b, tempfile.mkdtemp(prefix="chaos-bk-"), service_env=FAST_REJOIN)
        try:
            p.start(("compute", "enrichment", "sink"))
            sim = sim_kafka(p, "--rate", "2000", "--count", str(N), "--time-scale", "300",
                            "--advance", "2m", "--seed", "12", "--flush-timeout", "120s")
            sup = Supervisor(p, ("compute", "enrichment", "sink"))
            time.sleep(3)
            b.kill()
            time.sleep(OUTAGE)
            b.start()
            s = finish(sim, 180)
            check(s["acked"] == N + p.partitions and s["failed"] == 0, f"sim {s}")
            total, dups = wait_counted(p, N, timeout=120)
            check(not dups, f"duplicated windows: {dups[:3]}")
            check(total == N, f"aggregates count {total} readings, {N} sent")
            sup.stop()
            rc = p.stop()
            bad = {n: v for n, v in rc.items() if v != 0}
            # Exactly-once is the guarantee under test; a service that exits
            # (during the outage, or non-zero on SIGTERM) is shown as WARN,
            # a crash by signal fails.
            check(all(v > 0 for v in bad.values()), f"exit statuses {rc}")
            detail = f"{N} readings counted once; {sup.describe()}"
            if bad:
                return detail + f"; non-zero exit on SIGTERM: {bad}", True
            if sup.restarts:
                return detail, True
            return detail + "; exit 0 at the end"
        finally:
            p.stop(10)


run("broker kill+restart", body)
