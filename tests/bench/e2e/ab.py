#!/usr/bin/env python3
"""A/B of builds or settings on bench-e2e's at-least-once row.

    VARIANTS='{"before": {"_build": "/path/to/old/build/rel"}, "after": {}}' \\
        ROUNDS=6 python3 tests/bench/e2e/ab.py

One broker and one influxd; a pipeline per variant (bench.py's ALO settings,
then the variant's {service: {VAR: value}}, "_build" its build directory:
its services and its weir-sim; default WEIR_BUILD), all started first; then
ROUNDS rounds, each a row per variant in turn (bench.py's load_with_floor,
"alo": 20 s at 20k readings/s with floor.c at least once alongside).  Rows
alternate so that a noisy minute hits both variants.  Prints one line per
row and, per variant, its ratios (Weir p99 / floor.c p99) sorted and their
median.  A diagnostic beside `make bench-e2e`, not part of it.
"""
import copy
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench  # noqa: E402
from bench import (BUILD, COMPUTE, ORDER, Broker, Feed, Influx, Pipeline,  # noqa: E402
                   load_with_floor)

VARIANTS = json.loads(os.environ.get("VARIANTS", '{"a": {}, "b": {}}'))
ROUNDS = int(os.environ.get("ROUNDS", "3"))
RATE = int(os.environ.get("BENCH_RATE", "20000"))


def main():
    with Broker() as b, Influx() as db:
        pipes = {}
        try:
            for name, v in VARIANTS.items():
                env = copy.deepcopy(bench.ALO)
                v = dict(v)
                build = v.pop("_build", str(BUILD))
                for svc, kv in v.items():
                    env.setdefault(svc, {}).update(kv)
                q = Pipeline(build, b, tempfile.mkdtemp(prefix=f"bench-ab-{name}-"),
                             influx_url=db.url, compute=COMPUTE, extra_env={"LOG_LEVEL": "warn"},
                             service_env=env)
                db.create_database(q.influx_db)
                q.start()
                pipes[name] = (q, Feed(q.ws_url))
            ratios = {n: [] for n in VARIANTS}
            for i in range(ROUNDS):
                for name, (q, feed) in pipes.items():
                    r = load_with_floor(q, b, feed, RATE, {n: 0 for n in ORDER}, "alo")
                    f, f3 = r["floor_c"], r["floor_c3"]
                    ratio = r["p99_ms"] / f["p99_ms"] if f["samples"] else float("nan")
                    ratio3 = r["p99_ms"] / f3["p99_ms"] if f3["samples"] else float("nan")
                    ratios[name].append(ratio)
                    print(f"ab {name} round={i + 1} weir_p50_ms={r['p50_ms']} "
                          f"weir_p99_ms={r['p99_ms']} floor_p50_ms={f['p50_ms']} "
                          f"floor_p99_ms={f['p99_ms']} ratio={ratio:.2f} "
                          f"floor3_p50_ms={f3['p50_ms']} floor3_p99_ms={f3['p99_ms']} "
                          f"ratio3={ratio3:.2f} "
                          f"load={open('/proc/loadavg').read().split()[0]}", flush=True)
            for n, xs in ratios.items():
                xs = sorted(xs)
                k = len(xs) // 2  # an even count: the mean of the middle two
                med = xs[k] if len(xs) % 2 else (xs[k - 1] + xs[k]) / 2
                print(f"ab {n} ratios={[round(x, 2) for x in xs]} median={med:.2f}")
        finally:
            for q, feed in pipes.values():
                feed.stop = True
                q.stop(10)


if __name__ == "__main__":
    main()
