"""The sink's WebSocket feed and dashboard page, through real clients.

The server under test is tests/tools/ws_feed: the sink's own ws_ code
(libweir-sink.a) with events fed from its stdin or a synthetic generator, so
these tests need no Kafka.  Clients: Python `websockets`, hand-made raw
sockets where a test needs a client that misbehaves (never reads, never
answers pings), and headless Chromium driven by playwright-core for the page.

Figures these tests print (run with -s to see them): RSS of the server with
500 clients, and a fast client's push latency before and while a client that
never reads is being dropped.
"""

import asyncio
import base64
import json
import os
import random
import select
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import websockets

REPO = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------- harness

class Feed:
    """A running ws_feed: .port (HTTP/WebSocket), .admin (metrics)."""

    def __init__(self, build, *args, env=None):
        exe = Path(build) / "tools" / "ws_feed"
        e = dict(os.environ)
        e.update({"SINK_HTTP_BIND": "127.0.0.1", "LOG_LEVEL": "warn"})
        e.update(env or {})
        self.err = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([str(exe), "--port", "0", "--admin-port", "0", *args],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.err, env=e)
        r, _, _ = select.select([self.proc.stdout], [], [], 20)
        line = self.proc.stdout.readline().decode() if r else ""
        if not line.startswith("READY"):
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"ws_feed did not start: {line!r} {self.stderr()}")
        f = dict(kv.split("=") for kv in line.split()[1:])
        self.port, self.admin = int(f["port"]), int(f["admin"])
        self.url = f"ws://127.0.0.1:{self.port}"

    def stderr(self):
        self.err.seek(0)
        return self.err.read().decode(errors="replace")[-4000:]

    def publish(self, *events):
        self.proc.stdin.write(b"".join(json.dumps(e).encode() + b"\n" for e in events))
        self.proc.stdin.flush()

    def metrics(self):
        text = urllib.request.urlopen(f"http://127.0.0.1:{self.admin}/metrics",
                                      timeout=10).read().decode()
        out = {}
        for ln in text.splitlines():
            if ln and not ln.startswith("#"):
                name, val = ln.rsplit(" ", 1)
                out[name] = float(val)
        return out

    def rss_kib(self):
        for ln in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if ln.startswith("VmRSS:"):
                return int(ln.split()[1])
        raise AssertionError("no VmRSS")

    def close(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("ws_feed did not stop on SIGTERM")
            assert rc == 0, f"ws_feed exited {rc}: {self.stderr()}"


@pytest.fixture
def feed(weir_build):
    made = []

    def start(*args, env=None):
        f = Feed(weir_build, *args, env=env)
        made.append(f)
        return f

    yield start
    for f in made:
        f.close()


def wait_for(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


async def subscribe(url, flt, **kw):
    ws = await websockets.connect(url, **kw)
    await ws.send(json.dumps({"subscribe": flt}))
    ack = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert "subscribed" in ack, ack
    return ws, ack["subscribed"]


def raw_ws(port, path="/ws", rcvbuf=None):
    """A hand-made WebSocket client socket, after a 101 handshake."""
    s = socket.socket()
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
               "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(1)
        assert chunk, f"closed during the handshake: {head!r}"
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head
    return s


def raw_send_text(s, text):
    data = text.encode()
    mask = os.urandom(4)
    assert len(data) < 126
    s.sendall(bytes([0x81, 0x80 | len(data)]) + mask +
              bytes(b ^ mask[i % 4] for i, b in enumerate(data)))


def raw_recv_frame(s):
    """(opcode, payload) of the next frame, or None at EOF."""
    def need(n):
        b = b""
        while len(b) < n:
            c = s.recv(n - len(b))
            if not c:
                return None
            b += c
        return b
    h = need(2)
    if h is None:
        return None
    n = h[1] & 0x7F
    if n == 126:
        n = struct.unpack(">H", need(2))[0]
    elif n == 127:
        n = struct.unpack(">Q", need(8))[0]
    return h[0] & 0x0F, need(n)


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))]


# ---------------------------------------------------------------- tests

SEV = {"INFO": 0, "WARNING": 1, "CRITICAL": 2}


def reference_match(f, ev):
    """The filter semantics of docs/sink.md, written independently."""
    for field, name in (("kinds", "kind"), ("topics", "topic"), ("keys", "key")):
        if f.get(field) and ev[name] not in f[field]:
            return False
    sev = ev.get("severity")
    if sev is not None:
        if "min_severity" in f and SEV[sev] < SEV[f["min_severity"]]:
            return False
        if f.get("severity") and sev not in f["severity"]:
            return False
    return True


def known_events():
    keys = ["k1", "k2", "k3", "k4", "ключ-é"]
    t0 = int(time.time() * 1000)
    evs = []
    for i in range(40):
        k = keys[i % 5]
        evs.append({"kind": "aggregate", "topic": "aggregates.enriched", "key": k,
                    "time": t0 + i, "data": {"key": k, "n": i, "mean": i * 1.5,
                                             "attributes": {"name": "Straße \"" + k + "\""}}})
    for i in range(15):
        k, s = keys[i % 5], ["INFO", "WARNING", "CRITICAL"][i % 3]
        evs.append({"kind": "alert", "topic": "alerts.enriched", "key": k, "severity": s,
                    "time": t0 + 100 + i,
                    "data": {"rule": f"r{i % 2}", "state": "FIRING" if i % 2 == 0 else "RESOLVED",
                             "severity": s, "n": i}})
    for i in range(5):
        evs.append({"kind": "aggregate", "topic": "other.topic", "key": keys[i],
                    "time": t0 + 200 + i, "data": [i, None, True]})
    random.Random(7).shuffle(evs)
    return evs


def test_clients_receive_exactly_their_filtered_updates(feed):
    f = feed()
    filters = {
        "all": {},
        "keys": {"keys": ["k1", "ключ-é"]},
        "alerts_min_warning": {"kinds": ["alert"], "min_severity": "WARNING"},
        "topic_and_keys": {"topics": ["aggregates.enriched"], "keys": ["k2", "k4"]},
        "severity_set": {"topics": ["alerts.enriched"], "severity": ["INFO", "CRITICAL"]},
        "none": {"keys": ["nobody"]},
    }
    evs = known_events()
    expected = {n: [e for e in evs if reference_match(flt, e)] for n, flt in filters.items()}
    assert len(expected["all"]) == 60 and expected["none"] == []
    assert 0 < len(expected["alerts_min_warning"]) < 15

    async def run():
        conns = {}
        for name, flt in filters.items():
            conns[name], ack = await subscribe(f.url + "/ws", flt)
            if name == "keys":
                assert sorted(ack["keys"]) == ["k1", "ключ-é"]
        silent = await websockets.connect(f.url + "/ws")  # never subscribes
        got = {n: [] for n in filters}
        frames = {n: [] for n in filters}

        async def reader(name):
            try:
                async for msg in conns[name]:
                    fr = json.loads(msg)
                    frames[name].append(fr)
                    got[name].extend(fr["events"])
            except websockets.ConnectionClosed:
                pass

        tasks = [asyncio.create_task(reader(n)) for n in filters]
        for i in range(0, len(evs), 15):  # several frames' worth
            f.publish(*evs[i:i + 15])
            await asyncio.sleep(0.15)
        deadline = time.monotonic() + 20
        while (any(len(got[n]) < len(expected[n]) for n in filters)
               and time.monotonic() < deadline):
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.6)  # room for anything extra to show up
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(silent.recv(), 0.3)
        for c in list(conns.values()) + [silent]:
            await c.close()
        await asyncio.gather(*tasks)
        return got, frames

    got, frames = asyncio.run(run())
    for name in filters:
        want = [(e["kind"], e["topic"], e["key"], e.get("severity"), e["time"], e["data"])
                for e in expected[name]]
        have = [(e["kind"], e["topic"], e["key"], e.get("severity"), e["time"], e["data"])
                for e in got[name]]
        assert have == want, f"client {name}"
        seqs = [fr["seq"] for fr in frames[name]]
        assert seqs == list(range(1, len(seqs) + 1)), f"client {name}: seq {seqs}"
        assert not any("dropped" in fr for fr in frames[name])
    assert len(frames["all"]) >= 2  # the events were micro-batched, not one frame each
    assert len(frames["all"]) < 60


def test_a_frame_waits_sink_ws_batch_after_its_first_event(feed):
    """SINK_WS_BATCH is a linger: the first event into an empty inbox wakes
    the server, and the frame leaves SINK_WS_BATCH later with whatever came
    meanwhile; nothing waits for a fixed tick."""
    f = feed(env={"SINK_WS_BATCH": "1500ms"})
    evs = known_events()[:2]

    async def run():
        ws, _ = await subscribe(f.url + "/ws", {})
        arrivals = []
        for _ in range(2):  # twice: the second batch must arm a new flush
            t0 = time.monotonic()
            f.publish(evs[0])
            await asyncio.sleep(0.5)
            f.publish(evs[1])
            fr = json.loads(await asyncio.wait_for(ws.recv(), 10))
            arrivals.append((time.monotonic() - t0, len(fr["events"])))
        await ws.close()
        return arrivals

    for waited, n in asyncio.run(run()):
        assert n == 2, "the event published during the linger shares the frame"
        assert 1.3 <= waited < 4.5, f"frame after {waited:.2f} s, SINK_WS_BATCH=1500ms"


def test_a_drained_publisher_sends_at_once(feed):
    """ws_server_flush() (the sink calls it once its consumer has nothing
    more queued) sends what was published without waiting out
    SINK_WS_BATCH, all of it in one frame; the next event lingers again."""
    f = feed(env={"SINK_WS_BATCH": "5s"})
    evs = known_events()[:3]

    async def run():
        ws, _ = await subscribe(f.url + "/ws", {})
        t0 = time.monotonic()
        f.publish(evs[0], evs[1])
        f.proc.stdin.write(b"FLUSH\n")
        f.proc.stdin.flush()
        fr = json.loads(await asyncio.wait_for(ws.recv(), 10))
        flushed = (time.monotonic() - t0, len(fr["events"]))
        t0 = time.monotonic()
        f.publish(evs[2])
        fr = json.loads(await asyncio.wait_for(ws.recv(), 15))
        lingered = (time.monotonic() - t0, len(fr["events"]))
        await ws.close()
        return flushed, lingered

    (waited, n), (lingered, n2) = asyncio.run(run())
    assert n == 2, "both events published before the flush share its frame"
    assert waited < 2.5, f"frame {waited:.2f} s after a flush, SINK_WS_BATCH=5s"
    assert n2 == 1 and 4.5 <= lingered < 9, f"next frame after {lingered:.2f} s"


def test_invalid_messages_closed_with_rfc6455_codes(feed):
    f = feed(env={"SINK_WS_MAX_MESSAGE": "4KiB"})

    async def closed_with(payload, **send_kw):
        async with websockets.connect(f.url + "/ws", max_size=None) as ws:
            await ws.send(payload, **send_kw)
            with pytest.raises(websockets.ConnectionClosed) as e:
                for _ in range(3):
                    await asyncio.wait_for(ws.recv(), 10)
            return e.value.rcvd.code, e.value.rcvd.reason

    async def run():
        good, _ = await subscribe(f.url + "/ws", {})
        cases = {
            "not json": (await closed_with("hello"), 1007, "not JSON"),
            "wrong shape": (await closed_with('{"subscribe": {"keys": "k1"}}'), 1007,
                            "$.subscribe.keys: expected an array"),
            "unknown member": (await closed_with('{"unsubscribe": {}}'), 1007, "$: expected"),
            "binary": (await closed_with(b'{"subscribe": {}}'), 1003, "binary"),
            "invalid utf-8": (await closed_with(b"\xff\xfe{}", text=True), 1007, None),
            "oversized": (await closed_with("x" * 5000), 1009, "larger than 4096"),
            "oversized in fragments": (await closed_with(["a" * 3000, "b" * 3000]), 1009, None),
        }
        for name, ((code, reason), want_code, want_reason) in cases.items():
            assert code == want_code, f"{name}: closed with {code} {reason!r}"
            if want_reason:
                assert want_reason in reason, f"{name}: reason {reason!r}"
        # a subscription split over fragments is one message, and fine
        async with websockets.connect(f.url + "/ws") as ws:
            await ws.send(['{"subscribe":', ' {"keys": ["fragmented"]}}'])
            ack = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert ack["subscribed"]["keys"] == ["fragmented"]
        # the well-behaved client was not disturbed
        f.publish({"kind": "aggregate", "topic": "t", "key": "after", "data": {}})
        fr = json.loads(await asyncio.wait_for(good.recv(), 10))
        assert [e["key"] for e in fr["events"]] == ["after"] and fr["seq"] == 1
        await good.close()
        # other paths are not WebSocket endpoints
        with pytest.raises(websockets.InvalidHandshake):
            await websockets.connect(f.url + "/other")

    asyncio.run(run())
    m = f.metrics()
    # invalid UTF-8 is caught (and closed 1007) by libwebsockets itself: "other"
    assert m['weir_sink_ws_closed_total{reason="bad_message"}'] == 6


def test_max_clients_refused_at_handshake(feed):
    f = feed(env={"SINK_WS_MAX_CLIENTS": "2"})

    async def run():
        a, _ = await subscribe(f.url + "/ws", {})
        b, _ = await subscribe(f.url + "/ws", {})
        with pytest.raises(websockets.InvalidHandshake):
            await websockets.connect(f.url + "/ws")
        await a.close()
        wait_for(lambda: f.metrics()["weir_sink_ws_clients"] == 1, 10, "a client to leave")
        c, _ = await subscribe(f.url + "/ws", {})  # room again
        await b.close()
        await c.close()

    asyncio.run(run())
    assert f.metrics()['weir_sink_ws_closed_total{reason="max_clients"}'] == 1


def test_shutdown_closes_clients_with_1001(feed):
    f = feed()

    async def run():
        ws, _ = await subscribe(f.url + "/ws", {})
        f.proc.send_signal(signal.SIGTERM)
        with pytest.raises(websockets.ConnectionClosed) as e:
            await asyncio.wait_for(ws.recv(), 15)
        return e.value.rcvd

    rcvd = asyncio.run(run())
    assert rcvd is not None and rcvd.code == 1001, rcvd
    assert f.proc.wait(15) == 0, f.stderr()


def test_500_idle_clients_keep_memory_bounded(feed):
    n = 500
    f = feed("--rate", "10", "--keys", "50", env={"SINK_WS_MAX_CLIENTS": "1000"})
    time.sleep(0.5)
    rss0 = f.rss_kib()

    async def run():
        conns = []
        for i in range(0, n, 50):
            conns += [c for c, _ in await asyncio.gather(
                *(subscribe(f.url + "/ws", {}) for _ in range(50)))]
        counts = [0] * n

        async def reader(i):
            try:
                async for _ in conns[i]:
                    counts[i] += 1
            except websockets.ConnectionClosed:
                pass

        tasks = [asyncio.create_task(reader(i)) for i in range(n)]
        assert f.metrics()["weir_sink_ws_clients"] == n
        await asyncio.sleep(4)  # events flowing to every client
        rss1 = f.rss_kib()
        assert min(counts) > 0, "every client got frames"
        await asyncio.gather(*(c.close() for c in conns))
        await asyncio.gather(*tasks)
        return rss1

    rss1 = asyncio.run(run())
    wait_for(lambda: f.metrics()["weir_sink_ws_clients"] == 0, 15, "clients to be gone")
    rss2 = f.rss_kib()
    grow = rss1 - rss0
    print(f"\nws_feed RSS: {rss0 / 1024:.1f} MiB before, {rss1 / 1024:.1f} MiB with {n} "
          f"subscribed clients ({grow / n:.1f} KiB per client), {rss2 / 1024:.1f} MiB after "
          "they left")
    assert grow < 64 * 1024, f"{grow} KiB for {n} clients"
    m = f.metrics()
    assert m['weir_sink_ws_events_dropped_total{reason="slow_client"}'] == 0


def test_client_that_never_reads_is_dropped_without_slowing_another(feed):
    f = feed("--rate", "1000", "--keys", "100", "--pad", "1000",
             env={"SINK_WS_CLIENT_QUEUE": "1MiB", "SINK_WS_SLOW_TIMEOUT": "3s",
                  "SINK_WS_IDLE_TIMEOUT": "5m"})
    lat = {"baseline": [], "while slow": []}
    phase = ["baseline"]
    gaps = []

    async def run():
        fast, _ = await subscribe(f.url + "/ws", {}, max_size=None)
        done = asyncio.Event()

        async def reader():
            last = 0
            async for msg in fast:
                now = time.time() * 1000
                fr = json.loads(msg)
                if fr["seq"] != last + 1 or "dropped" in fr:
                    gaps.append(fr["seq"])
                last = fr["seq"]
                lat[phase[0]].extend((now - e["time"]) / 1000 for e in fr["events"])
                if done.is_set():
                    return

        task = asyncio.create_task(reader())
        await asyncio.sleep(4)
        phase[0] = "while slow"
        slow = raw_ws(f.port, rcvbuf=4096)
        raw_send_text(slow, json.dumps({"subscribe": {}}))
        t0 = time.monotonic()
        deadline = t0 + 60
        while time.monotonic() < deadline:
            m = await asyncio.to_thread(f.metrics)
            if m['weir_sink_ws_closed_total{reason="slow_client"}'] >= 1:
                break
            await asyncio.sleep(0.25)
        took = time.monotonic() - t0
        await asyncio.sleep(0.5)
        done.set()
        await asyncio.wait_for(task, 10)
        await fast.close()
        return slow, took, m

    slow, took, m = asyncio.run(run())
    assert m['weir_sink_ws_closed_total{reason="slow_client"}'] == 1, \
        f"the slow client was not dropped within 60 s: {m}"
    assert m['weir_sink_ws_events_dropped_total{reason="slow_client"}'] > 0
    # The slow client's socket ends (after what was already in flight).
    slow.settimeout(15)
    try:
        while slow.recv(65536):
            pass
    except (ConnectionResetError, BrokenPipeError):
        pass
    slow.close()
    b, s = lat["baseline"], lat["while slow"]
    assert len(b) > 1000 and len(s) > 1000
    print(f"\nfast client push latency (event time -> received), {len(b)} events alone: "
          f"p50 {pct(b, .5) * 1000:.0f} ms p99 {pct(b, .99) * 1000:.0f} ms; {len(s)} events "
          f"while a never-reading client filled its queue and was dropped after {took:.1f} s: "
          f"p50 {pct(s, .5) * 1000:.0f} ms p99 {pct(s, .99) * 1000:.0f} ms, "
          f"max {max(s) * 1000:.0f} ms")
    assert gaps == [], "the fast client lost frames"
    # Generous: a loaded 2-core machine jitters, a blocked feed would add seconds.
    assert pct(s, .99) < max(1.0, 5 * pct(b, .99))
    assert statistics.median(s) < max(0.5, 3 * statistics.median(b))


def test_ping_keeps_live_clients_and_idle_timeout_drops_silent_ones(feed):
    f = feed(env={"SINK_WS_PING_INTERVAL": "1s", "SINK_WS_IDLE_TIMEOUT": "3s"})

    async def run():
        live, _ = await subscribe(f.url + "/ws", {})  # websockets answers pings itself
        silent = raw_ws(f.port)
        t0 = time.monotonic()
        ops = []
        while True:
            fr = await asyncio.to_thread(raw_recv_frame, silent)
            if fr is None:
                break
            ops.append(fr[0])
            assert time.monotonic() - t0 < 20, "silent client not dropped"
        took = time.monotonic() - t0
        silent.close()
        assert 0x9 in ops, f"no PING seen: opcodes {ops}"
        assert 2 <= took < 15, took
        await asyncio.sleep(max(0, 5 - took))  # the live one outlives several timeouts
        f.publish({"kind": "aggregate", "topic": "t", "key": "still-here", "data": 1})
        fr = json.loads(await asyncio.wait_for(live.recv(), 10))
        assert fr["events"][0]["key"] == "still-here"
        await live.close()

    asyncio.run(run())


def http_get(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.headers.get("Content-Type"), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, None, ""


def test_dashboard_page_served_on_the_same_port(feed):
    f = feed("--path", "/live")
    for path in ("/", "/dashboard"):
        status, ctype, body = http_get(f"http://127.0.0.1:{f.port}{path}")
        assert status == 200 and ctype.startswith("text/html")
        assert '"/live"' in body and "{{WS_PATH}}" not in body and "</html>" in body
    status, _, body = http_get(f"http://127.0.0.1:{f.port}/?keys=a,b&min_severity=WARNING")
    assert status == 200 and '"/live"' in body
    assert http_get(f"http://127.0.0.1:{f.port}/nope")[0] == 404
    assert http_get(f"http://127.0.0.1:{f.port}/live")[0] == 404  # a plain GET, no upgrade
    g = feed(env={"SINK_DASHBOARD": "off"})
    assert http_get(f"http://127.0.0.1:{g.port}/")[0] == 404


# int-3's name is markup: the page must show it as text and run none of it.
NAMES = {"int-1": "Main St & int-1", "int-2": "Main St & int-2",
         "int-3": '<b>x</b><img src=x onerror="window.pwned=1">'}


def test_dashboard_in_headless_chromium(feed):
    node, chromium = shutil.which("node"), shutil.which("chromium")
    modules = REPO / "tests" / ".cache" / "browser" / "node_modules"
    assert node and chromium and (modules / "playwright-core").is_dir(), \
        "run tests/harness/deps.sh (deps.d/browser.sh installs chromium and playwright-core)"
    f = feed()
    shot = REPO / "build" / "results" / "dashboard.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    if shot.exists():
        shot.unlink()
    stop = threading.Event()
    resolved = threading.Event()

    def publisher():
        i = 0
        while not stop.is_set():
            now = int(time.time() * 1000)
            evs = [{"kind": "aggregate", "topic": "aggregates.enriched", "key": k, "time": now,
                    "data": {"pipeline": "traffic", "key": k, "window": "1m",
                             "window_start": now - 60000, "window_end": now, "count": 10 + i,
                             "final": True, "emitted_at": now,
                             "fields": [{"name": "speed_kmh", "count": 10, "mean": 30.0 + i,
                                         "p95": 50.0}],
                             "enriched": True, "attributes": {"name": NAMES[k]}}}
                   for k in ("int-1", "int-2", "int-3")]
            state = "RESOLVED" if resolved.is_set() else "FIRING"
            evs.append({"kind": "alert", "topic": "alerts.enriched", "key": "int-2",
                        "severity": "CRITICAL", "time": now,
                        "data": {"pipeline": "traffic", "rule": "congestion", "key": "int-2",
                                 "window": "1m", "window_end": now, "state": state,
                                 "severity": "CRITICAL", "expr": "mean(speed_kmh) < 20",
                                 "values": {"mean(speed_kmh)": 14.2},
                                 "attributes": {"name": "Main St & int-2"}}})
            f.publish(*evs)
            i += 1
            stop.wait(0.3)

    th = threading.Thread(target=publisher, daemon=True)
    th.start()
    env = dict(os.environ, NODE_PATH=str(modules), CHROMIUM=chromium,
               URL=f"http://127.0.0.1:{f.port}/", SCREENSHOT=str(shot))
    p = subprocess.Popen([node, str(REPO / "tests" / "browser" / "dashboard.cjs")],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         env=env, text=True)
    out = []
    try:
        deadline = time.monotonic() + 90
        for line in p.stdout:
            out.append(line)
            if line.startswith("RESOLVE"):  # the page showed the alert firing
                resolved.set()
            if time.monotonic() > deadline:
                break
        rc = p.wait(30)
    finally:
        stop.set()
        th.join()
        if p.poll() is None:
            p.kill()
    text = "".join(out)
    print(text)
    assert rc == 0, text
    assert "OK" in text
    assert shot.exists() and shot.stat().st_size > 5000
