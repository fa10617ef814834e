"""The WebSocket feed through the real weir-sink: Avro records produced to the
broker with fastavro (single-object framing) reach WebSocket clients
(Python `websockets`) as JSON, each client getting exactly what its
subscription asks for, on the path the pipeline spec names.  InfluxDB writes
are off here (sink.influx.enabled false): tests/integration/test_sink_influx.py
covers them.
"""
import asyncio
import io
import json
import os
import signal
import subprocess
import time
import urllib.request
import uuid

import fastavro
import websockets
from confluent_kafka import Producer

from conftest import REPO

SCHEMAS = REPO / "schemas"


def _load(name):
    return fastavro.parse_schema(json.loads((SCHEMAS / name).read_text()))


AGG = _load("aggregate_enriched.avsc")
ALERT = _load("alert_enriched.avsc")


def encode(schema, rec):
    fp = fastavro.schema.fingerprint(fastavro.schema.to_parsing_canonical_form(schema),
                                     "CRC-64-AVRO")
    b = io.BytesIO()
    fastavro.schemaless_writer(b, schema, rec)
    return b"\xc3\x01" + bytes.fromhex(fp) + b.getvalue()


def aggregate(i, now):
    key = f"k{i % 5}"
    return {
        "pipeline": "p", "key": key, "window": "1m", "window_start": now - 60000,
        "window_end": now, "count": 10 + i, "final": True, "emitted_at": now + 5,
        "fields": [{"name": "speed_kmh", "count": 10 + i, "sum": None, "min": 1.5,
                    "max": 99.25, "mean": 20.0 + i * 0.5, "variance": None, "stddev": 2.5,
                    "first": None, "last": None, "p50": None, "p90": None, "p95": 31.0,
                    "p99": None, "zscore": None}],
        "enriched": True, "attributes": {"name": f"Straße {i % 5}", "district": "north"},
    }


def alert(i, now):
    return {
        "pipeline": "p", "rule": "congestion", "key": f"k{i % 5}", "window": "1m",
        "window_start": now - 60000, "window_end": now,
        "state": "FIRING" if i % 2 == 0 else "RESOLVED",
        "severity": ["INFO", "WARNING", "CRITICAL"][i % 3], "expr": "mean(speed_kmh) < 20",
        "values": {"mean(speed_kmh)": 14.5 + i}, "labels": {"team": "roads"},
        "emitted_at": now + 5, "enriched": True, "attributes": {"district": "north"},
    }


from ports import free_port  # noqa: E402  (tests/harness/ports.py: why not bind(0))


def test_real_sink_pushes_kafka_records_to_filtered_clients(kafka, topic, weir_build, tmp_path):
    name = "ws" + uuid.uuid4().hex[:8]
    t_agg, t_alert, t_dlq = topic("agg", partitions=2), topic("alerts"), topic("dlq")
    spec = {
        "name": name,
        "input": {"topic": "unused.in", "schema": "weir.example.TrafficReading",
                  "key": "intersection_id"},
        "sink": {"input": {"aggregates": t_agg, "alerts": t_alert}, "dlq": t_dlq,
                 "influx": {"enabled": False},
                 "websocket": {"enabled": True, "path": "/live"}},
    }
    spec_path = tmp_path / "spec.json"
    spec_path.write_text(json.dumps(spec))
    port = free_port()
    log = tmp_path / "sink.log"
    env = dict(os.environ, PIPELINE_SPEC=str(spec_path), SCHEMA_DIR=str(SCHEMAS),
               ADMIN_PORT="0", KAFKA_BOOTSTRAP_SERVERS=kafka.bootstrap,
               SINK_HTTP_BIND="127.0.0.1", SINK_HTTP_PORT=str(port),
               KAFKA_STATISTICS_INTERVAL_MS="0")
    proc = subprocess.Popen([str(weir_build / "bin" / "weir-sink")], env=env, cwd=REPO,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=open(log, "w"))

    def tail():
        return "\n".join(log.read_text(errors="replace").splitlines()[-30:])

    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, f"weir-sink exited {proc.returncode}:\n{tail()}"
            try:
                page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read()
                break
            except OSError:
                assert time.monotonic() < deadline, f"no HTTP port:\n{tail()}"
                time.sleep(0.2)
        assert b'"/live"' in page  # the page opens the spec's path

        now = int(time.time() * 1000)
        aggs = [aggregate(i, now + i) for i in range(20)]
        alerts = [alert(i, now + 100 + i) for i in range(9)]
        filters = {
            "all": {},
            "keys": {"keys": ["k1", "k3"]},
            "critical_alerts": {"kinds": ["alert"], "min_severity": "CRITICAL"},
            "agg_topic_k0": {"topics": [t_agg], "keys": ["k0"]},
        }

        def expected(flt):
            out = []
            for kind, topic_name, recs in (("aggregate", t_agg, aggs), ("alert", t_alert, alerts)):
                for r in recs:
                    sev = r.get("severity") if kind == "alert" else None
                    if flt.get("kinds") and kind not in flt["kinds"]:
                        continue
                    if flt.get("topics") and topic_name not in flt["topics"]:
                        continue
                    if flt.get("keys") and r["key"] not in flt["keys"]:
                        continue
                    if sev and flt.get("min_severity") == "CRITICAL" and sev != "CRITICAL":
                        continue
                    out.append((kind, topic_name, r["key"], sev, r["window_end"], r))
            return sorted(out, key=lambda e: (e[0], e[2], e[4]))

        async def run():
            conns, got = {}, {n: [] for n in filters}
            for n, flt in filters.items():
                conns[n] = await websockets.connect(f"ws://127.0.0.1:{port}/live")
                await conns[n].send(json.dumps({"subscribe": flt}))
                assert "subscribed" in json.loads(await asyncio.wait_for(conns[n].recv(), 10))

            async def reader(n):
                try:
                    async for msg in conns[n]:
                        fr = json.loads(msg)
                        assert "dropped" not in fr
                        got[n].extend(fr["events"])
                except websockets.ConnectionClosed:
                    pass

            tasks = [asyncio.create_task(reader(n)) for n in filters]
            p = Producer({"bootstrap.servers": kafka.bootstrap, "linger.ms": 5})
            for r in aggs:
                p.produce(t_agg, key=r["key"].encode(), value=encode(AGG, r))
            for r in alerts:
                p.produce(t_alert, key=r["key"].encode(), value=encode(ALERT, r))
            assert p.flush(30) == 0
            want = {n: expected(f) for n, f in filters.items()}
            deadline = time.monotonic() + 60
            while (any(len(got[n]) < len(want[n]) for n in filters)
                   and time.monotonic() < deadline):
                assert proc.poll() is None, tail()
                await asyncio.sleep(0.2)
            await asyncio.sleep(0.5)
            for c in conns.values():
                await c.close()
            await asyncio.gather(*tasks)
            return got, want

        got, want = asyncio.run(run())
        assert len(want["all"]) == 29 and len(want["critical_alerts"]) == 3
        for n in filters:
            have = sorted(((e["kind"], e["topic"], e["key"], e.get("severity"), e["time"],
                            e["data"]) for e in got[n]), key=lambda e: (e[0], e[2], e[4]))
            assert have == want[n], f"client {n}: {len(have)} events, {len(want[n])} expected"
        assert proc.poll() is None, tail()
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    assert proc.returncode == 0, tail()
