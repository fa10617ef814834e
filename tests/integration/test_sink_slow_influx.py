"""weir-sink while InfluxDB is slow: the WebSocket feed does not wait for the
database.  A loopback HTTP proxy in front of the real influxd
(tests/harness/influx.py) holds every write for 1.5 s; records produced one
by one meanwhile reach a WebSocket subscriber within a few hundred ms (the
write runs in the sink's writer thread while its loop consumes on), the
offsets committed never run ahead of the points InfluxDB holds, and once
the proxy is fast again every record is in InfluxDB exactly as written
without the proxy, every offset committed.
"""
import http.client
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import influx as influx_harness  # tests/harness is on sys.path (conftest)
import test_sink_influx as si  # its helpers (records, sink process, checks)

influx = si.influx
pipeline = si.pipeline


class SlowProxy:
    """Forwards HTTP requests to `target` (host, port), holding each POST
    for `delay` seconds first; keep-alive on both sides."""

    def __init__(self, target, delay):
        self.delay = delay
        self.writes = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                time.sleep(proxy.delay)
                c = http.client.HTTPConnection(*target, timeout=30)
                hdrs = {k: v for k, v in self.headers.items()
                        if k.lower() in ("content-type", "content-encoding", "authorization")}
                c.request("POST", self.path, body=body, headers=hdrs)
                r = c.getresponse()
                data = r.read()
                c.close()
                proxy.writes += 1
                self.send_response(r.status)
                for k, v in r.getheaders():
                    if k.lower() in ("content-type", "retry-after"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def test_websocket_feed_keeps_up_while_influxdb_is_slow(kafka, influx, pipeline, tmp_path,
                                                        weir_build):
    from confluent_kafka import Producer
    from websockets.sync.client import connect

    p = pipeline
    influx.create_database(p["name"])
    proxy = SlowProxy(("127.0.0.1", influx.port), delay=1.5)
    port = influx_harness.free_port()
    spec = {"name": p["name"],
            "input": {"topic": "unused.in", "schema": "weir.example.TrafficReading",
                      "key": "intersection_id"},
            "sink": {"input": {"aggregates": p["aggregates"], "alerts": p["alerts"]},
                     "dlq": p["dlq"],
                     "influx": {"measurement": "traffic", "tags": ["district"],
                                "precision": "ms"},
                     "websocket": {"enabled": True, "path": "/live"}}}
    sink = si.Sink(weir_build, tmp_path, kafka.bootstrap, spec,
                   {"INFLUX_URL": proxy.url, "INFLUX_DB": p["name"],
                    "SINK_HTTP_PORT": str(port), "SINK_HTTP_BIND": "127.0.0.1",
                    "INFLUX_TIMEOUT": "10s"}).start()
    try:
        def listening():
            sink.alive()
            with socket.socket() as c:
                return c.connect_ex(("127.0.0.1", port)) == 0
        si.wait_for(listening, 30, "the WebSocket endpoint")
        n = 40
        recs = [si.aggregate(i) for i in range(n + 1)]  # the last one: a warm-up
        sent, got = {}, {}
        prod = Producer({"bootstrap.servers": kafka.bootstrap, "linger.ms": 0})
        ahead = []  # (committed, points) while slow: committed never ahead
        with connect(f"ws://127.0.0.1:{port}/live", open_timeout=10) as ws:
            ws.send(json.dumps({"subscribe": {}}))
            assert "subscribed" in json.loads(ws.recv(timeout=10))

            def reader():
                while len(got) < n + 1:
                    try:
                        frame = json.loads(ws.recv(timeout=30))
                    except TimeoutError:
                        return
                    now = time.monotonic()
                    for e in frame.get("events", []):
                        got.setdefault(e["data"]["count"] - 10, now)
            # Warm-up: the sink has its partitions and fetches.
            warm = recs[n]
            prod.produce(p["aggregates"], key=warm["key"].encode(),
                         value=si.encode(si.AGG, warm))
            prod.flush(10)
            deadline = time.time() + 60
            while n not in got and time.time() < deadline:
                for e in json.loads(ws.recv(timeout=60)).get("events", []):
                    got[e["data"]["count"] - 10] = time.monotonic()
            assert n in got, "the warm-up record never reached the WebSocket client"
            rt = threading.Thread(target=reader, daemon=True)
            rt.start()
            # One record every 100 ms for 4 s: while each 1.5 s write is
            # held by the proxy, records keep arriving.
            for i, r in enumerate(recs[:n]):
                sent[i] = time.monotonic()
                prod.produce(p["aggregates"], key=r["key"].encode(),
                             value=si.encode(si.AGG, r))
                prod.flush(10)
                if i % 10 == 9:
                    c = sum(si.committed(kafka.bootstrap, p["group"], p["aggregates"], 2))
                    ahead.append((c, len(si.points(influx, p["name"]))))
                time.sleep(max(0.0, sent[i] + 0.1 - time.monotonic()))
            rt.join(30)
        sink.alive()
        missing = sorted(set(range(n)) - set(got))
        assert not missing, f"records never reached the WebSocket client: {missing}"
        lat = [(got[i] - sent[i]) * 1000 for i in range(n)]
        p50, p90, mx = pct(lat, 50), pct(lat, 90), max(lat)
        print(f"WebSocket latency while each write takes 1.5 s: p50 {p50:.0f} ms, "
              f"p90 {p90:.0f} ms, max {mx:.0f} ms ({proxy.writes} writes done)")
        assert proxy.writes >= 1, "no write went through the slow proxy"
        assert p90 < 400 and p50 < 250, \
            f"the feed waited for InfluxDB: p50 {p50:.0f} ms, p90 {p90:.0f} ms, max {mx:.0f} ms"
        for c, pts in ahead:
            assert c <= pts, f"offsets committed ({c}) ahead of the points written ({pts})"

        # The proxy recovers: every record in InfluxDB, every offset committed.
        proxy.delay = 0
        si.wait_for(lambda: len(si.points(influx, p["name"])) >= n + 1 or sink.alive(), 60,
                    "every point")
        si.check_points_equal(si.points(influx, p["name"]), recs)
        si.wait_for(lambda: sum(si.committed(kafka.bootstrap, p["group"], p["aggregates"], 2))
                    == n + 1, 30, "every offset committed")
        assert sink.metric("weir_sink_points_written_total", kind="aggregate") == n + 1
        assert sink.metric("weir_sink_end_to_end_latency_seconds_count") == n + 1
        assert sink.stop() == 0, sink.tail()
    finally:
        sink.stop()
        proxy.close()
