#!/usr/bin/env python3
"""Slowloris on ingress: hundreds of connections trickling request headers
or a body a byte a second; meanwhile another client's produce requests are
all answered 200, promptly, and ingress stays ready."""
import json
import socket
import tempfile
import threading
import time
import urllib.request

from lib import SHORT, BUILD, Broker, Pipeline, check, run

SLOW = 200 if SHORT else 400
SECONDS = 10 if SHORT else 20


def record(i):
    return {"key": f"x-{i % 12}", "value": {
        "sensor_id": "s", "intersection_id": f"x-{i % 12}", "ts": 1795402800000 + i,
        "speed_kmh": 40.0, "vehicle_count": 1, "occupancy_pct": 10.0, "lane": None}}


def body():
    with Broker() as b:
        p = Pipeline(BUILD, b, tempfile.mkdtemp(prefix="chaos-sl-"))
        socks, stop = [], threading.Event()
        try:
            p.start(("ingress",))
            topic = p.topics["readings"]
            for i in range(SLOW):
                s = socket.create_connection(("127.0.0.1", p.http_port), timeout=5)
                if i % 2:  # slow headers
                    s.sendall(f"POST /topics/{topic} HTTP/1.1\r\nHost: x\r\n".encode())
                else:  # complete headers, slow body
                    s.sendall(f"POST /topics/{topic} HTTP/1.1\r\nHost: x\r\nContent-Type: "
                              f"application/vnd.kafka.json.v2+json\r\nContent-Length: 100000"
                              f"\r\n\r\n{{".encode())
                socks.append(s)

            def trickle():
                while not stop.is_set():
                    for s in socks:
                        try:
                            s.send(b"a")
                        except OSError:
                            pass
                    stop.wait(1.0)

            t = threading.Thread(target=trickle, daemon=True)
            t.start()
            lat, errors, n = [], [], 0
            t_end = time.monotonic() + SECONDS
            while time.monotonic() < t_end:
                recs = [record(n * 50 + i) for i in range(50)]
                t0 = time.monotonic()
                try:
                    r = p.post(recs)
                    if len(r.get("offsets", [])) != 50 or any(o.get("error_code") for o in r["offsets"]):
                        errors.append(str(r)[:200])
                except Exception as e:
                    errors.append(repr(e)[:200])
                lat.append(time.monotonic() - t0)
                n += 1
                time.sleep(0.05)
            check(p.svc["ingress"].ready(), "ingress not ready under slowloris")
            stop.set()
            check(not errors, f"{len(errors)} of {n} requests failed: {errors[:2]}")
            lat.sort()
            worst = lat[-1]
            check(worst < 5.0, f"slowest request {worst:.2f} s")
            conns = p.svc["ingress"].metric("weir_ingress_connections")
            # The attackers leave: ingress must notice (their half-sent
            # requests end); then SIGTERM drains at once (an unfinished
            # upload would hold it for the whole INGRESS_SHUTDOWN_GRACE,
            # 25 s, as any in-flight request does).
            for s in socks:
                s.close()
            t0, left = time.monotonic(), None
            while time.monotonic() - t0 < 40:  # past INGRESS_IDLE_TIMEOUT (30 s)
                left = p.svc["ingress"].metric("weir_ingress_active_requests")
                if left == 0:
                    break
                time.sleep(0.1)
            noticed = time.monotonic() - t0
            check(left == 0, f"{left:.0f} requests still open 40 s after their clients closed")
            t0 = time.monotonic()
            rc = p.stop()
            took = time.monotonic() - t0
            check(rc["ingress"] == 0, f"ingress exit status {rc}")
            check(took < 5, f"ingress took {took:.1f} s to stop with no request open")
            detail = (f"{SLOW} slow connections for {SECONDS} s; {n} requests all 200, "
                      f"p50 {lat[len(lat) // 2] * 1000:.0f} ms, max {worst * 1000:.0f} ms"
                      + (f", {conns:.0f} open" if conns else "")
                      + f"; their end noticed in {noticed:.1f} s, stopped in {took:.1f} s")
            # Noticed only by the idle timeout: libmicrohttpd missed the
            # clients' FIN (seen once in CI, 6 Dec 2026); shown, not failed.
            return (detail, noticed > 5)
        finally:
            stop.set()
            for s in socks:
                s.close()
            p.stop(10)


run("slowloris on ingress", body)
