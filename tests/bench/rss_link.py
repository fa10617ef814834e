#!/usr/bin/env python3
"""RSS of the four services for one or more builds of the same code that
differ only in how they are linked (docs/BENCHMARKS.md, "Link and memory").

    python3 tests/bench/rss_link.py LABEL=DIR [LABEL=DIR ...]

DIR holds bin/weir-<service> (and bin/weir-sim).  For each build in turn,
on one Kafka broker and one influxd (tests/harness): a fresh pipeline
(tests/integration/pipeline.py, 1 s windows), the four services started and
ready, then VmRSS of each read 2 s later (idle), then weir-sim at RSS_RATE
readings/s (2000) for RSS_SECONDS (10) through ingress with VmRSS sampled
every 0.5 s (the maximum is "load").  One line per build and service:

    rss LABEL SERVICE idle_kb=N load_kb=N
"""

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO / "tests" / "integration"), str(REPO / "tests" / "harness")]

from influx import Influx  # noqa: E402
from kafka import Broker  # noqa: E402
from pipeline import ORDER, Pipeline  # noqa: E402

RATE = int(os.environ.get("RSS_RATE", "2000"))
SECONDS = int(os.environ.get("RSS_SECONDS", "10"))
COMPUTE = {
    "windows": [{"name": "1s", "type": "tumbling", "size": "1s", "grace": "0s"}],
    "aggregates": [{"field": "speed_kmh", "ops": ["count", "mean", "max"]}],
    "rules": [{"name": "slow", "expr": "mean(speed_kmh) < 20 and count() >= 10"}],
}


def measure(label, build, b, db):
    p = Pipeline(build, b, tempfile.mkdtemp(prefix=f"rss-{label}-"), influx_url=db.url,
                 compute=COMPUTE, extra_env={"LOG_LEVEL": "warn"})
    db.create_database(p.influx_db)
    try:
        p.start()
        time.sleep(2)
        idle = {n: p.svc[n].rss_kb() for n in ORDER}
        load = dict(idle)
        sim = subprocess.Popen(
            [str(Path(build) / "bin" / "weir-sim"), "--ingress", p.ingress_url,
             "--topic", p.topics["readings"], "--rate", str(RATE), "--duration", f"{SECONDS}s",
             "--keys", "100", "--start-time", "now", "--progress", "0"],
            env=p.svc["ingress"].env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while sim.poll() is None:
            for n in ORDER:
                load[n] = max(load[n], p.svc[n].rss_kb())
            time.sleep(0.5)
        for n in ORDER:
            print(f"rss {label} {n} idle_kb={idle[n]} load_kb={load[n]}", flush=True)
        print(f"rss {label} total idle_kb={sum(idle.values())} load_kb={sum(load.values())}",
              flush=True)
    finally:
        p.stop(10)


def main():
    builds = [a.split("=", 1) for a in sys.argv[1:]]
    with Broker() as b, Influx() as db:
        for label, d in builds:
            measure(label, d, b, db)


if __name__ == "__main__":
    main()
