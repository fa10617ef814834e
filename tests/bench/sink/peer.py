#!/usr/bin/env python3
"""The benchmark's peer for weir-sink: the same job written plainly in
Python — consume weir.EnrichedAggregate records (single-object Avro) in a
consumer group, map each to the same line-protocol point (measurement
traffic, tags district/intersection_id/window sorted, fields count,
<field>_count and every computed <field>_<op>, timestamp = window end in ms),
write batches of 5000 lines gzip-compressed to InfluxDB 1.x /write, commit
the offsets after each acknowledged batch.

usage: peer.py BOOTSTRAP TOPIC GROUP INFLUX_URL DB
"""
import gzip
import io
import json
import signal
import sys
import time
from pathlib import Path

import fastavro
import requests
from confluent_kafka import Consumer

REPO = Path(__file__).resolve().parents[3]


def _plain(node):
    """The schema without logical types: timestamps stay integers (ms)."""
    if isinstance(node, dict):
        return {k: _plain(v) for k, v in node.items() if k != "logicalType"}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


SCHEMA = fastavro.parse_schema(
    _plain(json.loads((REPO / "schemas/aggregate_enriched.avsc").read_text())))
OPS = ("sum", "min", "max", "mean", "variance", "stddev", "first", "last", "p50", "p90", "p95",
       "p99", "zscore")
BATCH, INTERVAL = 5000, 1.0


def esc(s):
    return s.replace(",", r"\,").replace("=", r"\=").replace(" ", r"\ ")


def line(r):
    tags = {"intersection_id": r["key"], "window": r["window"]}
    if r["attributes"].get("district"):
        tags["district"] = r["attributes"]["district"]
    fields = [f"count={r['count']}i"]
    for fs in r["fields"]:
        fields.append(f"{esc(fs['name'])}_count={fs['count']}i")
        for op in OPS:
            v = fs[op]
            if v is not None:
                fields.append(f"{esc(fs['name'])}_{op}={v!r}")
    t = ",".join(f"{k}={esc(v)}" for k, v in sorted(tags.items()))
    return f"traffic,{t} {','.join(fields)} {r['window_end']}"


def main():
    bootstrap, topic, group, url, db = sys.argv[1:6]
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                  "auto.offset.reset": "earliest", "enable.auto.commit": False,
                  "isolation.level": "read_committed"})
    c.subscribe([topic])
    http = requests.Session()
    lines, first = [], None
    while not stop:
        for m in c.consume(1000, 0.1):
            if m.error():
                print(f"peer: {m.error()}", file=sys.stderr)
                continue
            rec = fastavro.schemaless_reader(io.BytesIO(m.value()[10:]), SCHEMA, SCHEMA)
            lines.append(line(rec))
            first = first or time.time()
        if lines and (len(lines) >= BATCH or time.time() - first >= INTERVAL):
            body = gzip.compress(("\n".join(lines) + "\n").encode())
            while not stop:
                r = http.post(f"{url}/write", params={"db": db, "precision": "ms"}, data=body,
                              headers={"Content-Encoding": "gzip"})
                if r.status_code == 204:
                    break
                print(f"peer: write answered {r.status_code}: {r.text[:300]}", file=sys.stderr)
                time.sleep(0.5)
            c.commit(asynchronous=False)
            lines, first = [], None
    c.close()


if __name__ == "__main__":
    main()
