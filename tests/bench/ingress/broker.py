#!/usr/bin/env python3
"""A private Kafka broker for running weir-ingress by hand (profiling with
perf, trying the load client; bench.py starts its own in-process):
starts one (tests/harness/kafka.py), creates the topics named on the command
line (name[:partitions]), prints `bootstrap=<host:port>` and `pid=<broker
pid>` on stdout, then waits until stdin closes or SIGTERM, and stops it.

    python3 tests/bench/ingress/broker.py traffic.readings:3 kcat.bench:3
"""
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "harness"))
import kafka  # noqa: E402


def main() -> int:
    b = kafka.Broker()

    def _term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _term)
    try:
        b.start()
        for spec in sys.argv[1:]:
            name, _, parts = spec.partition(":")
            b.create_topic(name, partitions=int(parts or 1))
        print(f"bootstrap={b.bootstrap}", flush=True)
        print(f"pid={b.pid}", flush=True)
        try:
            sys.stdin.read()
        except KeyboardInterrupt:
            pass
    finally:
        b.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
