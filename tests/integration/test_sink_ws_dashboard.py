"""The dashboard page opened AFTER events flowed, in headless Chromium at a
desktop (1400x900) and a phone (390x844) size: the snapshot (values per key
and window, sorted by key, and the firing alerts) is on the page within one
second of opening it, with units, a chart per row, a map of the keys that
have lat/lon attributes coloured by alert state, and the note that window
ends are event time.  Then live windows fill the charts and a screenshot is
taken: build/results/dashboard-{desktop,phone}.png, or docs/img/ with
DASHBOARD_SCREENSHOTS=docs/img (`make screenshots`).

The server is tests/tools/ws_feed (the sink's own ws_ code, events from
stdin), so no broker is needed; tests/integration/test_sink_ws_snapshot.py
checks the snapshot through the real weir-sink and Kafka.
"""
import json
import math
import os
import shutil
import subprocess
import threading
import time

import pytest

from test_sink_ws import REPO, feed, wait_for  # noqa: F401  (feed is a fixture)

PLACES = json.loads((REPO / "docs" / "examples" / "intersections.json").read_text())
# Simulated event time, as in the demo: ahead of the wall clock.
T0 = 1796551200000  # 2026-12-06 09:00 UTC
WINDOWS = {"1m": 60000, "5m": 300000}
FIRING = [("speed_drop", "x-5", "CRITICAL"), ("congestion", "x-3", "WARNING"),
          ("congestion", "x-7", "WARNING")]  # worst first, then by key
RESOLVED = ("congestion", "x-1")


def speed(i, n):
    return 42 + 12 * math.sin(n / 3 + i) - (25 if f"x-{i}" in ("x-3", "x-5", "x-7") and n > 8 else 0)


def aggregate(p, i, window, n):
    end = T0 + (n + 1) * WINDOWS[window]
    sp = speed(i, n)
    occ = min(95.0, 100 - 1.6 * sp)
    stats = {"sum": None, "min": None, "max": None, "mean": None, "variance": None,
             "stddev": None, "first": None, "last": None, "p50": None, "p90": None,
             "p95": None, "p99": None, "zscore": None}
    return {"kind": "aggregate", "topic": "aggregates.enriched", "key": p["intersection_id"],
            "time": end, "data": {
                "pipeline": "traffic", "key": p["intersection_id"], "window": window,
                "window_start": end - WINDOWS[window], "window_end": end,
                "count": 118 + (n * 7 + i) % 9, "final": True, "emitted_at": end + 20,
                "fields": [
                    dict(stats, name="speed_kmh", count=120, mean=round(sp, 3),
                         stddev=4.2, p50=round(sp + 0.4, 3), p95=round(sp + 9, 3),
                         p99=round(sp + 13, 3)),
                    dict(stats, name="vehicle_count", count=120, sum=float(600 + 13 * i + n),
                         mean=round(5 + (i + n) % 4 * 0.25, 3)),
                    dict(stats, name="occupancy_pct", count=120, max=round(occ + 4, 3),
                         mean=round(occ, 3)),
                ],
                "enriched": True,
                "attributes": {"name": p["name"], "district": p["district"],
                               "lat": str(p["lat"]), "lon": str(p["lon"])}}}


def alert(rule, key, sev, state, n):
    p = next(x for x in PLACES if x["intersection_id"] == key)
    window = "1m" if rule == "congestion" else "5m"
    end = T0 + (n + 1) * WINDOWS[window]
    term = "mean(speed_kmh)" if rule == "congestion" else "zscore(mean(speed_kmh))"
    return {"kind": "alert", "topic": "alerts.enriched", "key": key, "severity": sev,
            "time": end, "data": {
                "pipeline": "traffic", "rule": rule, "key": key, "window": window,
                "window_start": end - WINDOWS[window], "window_end": end, "state": state,
                "severity": sev, "expr": "mean(speed_kmh) < 20 and count() >= 10",
                "values": {term: 14.2 if rule == "congestion" else -3.4, "count()": 120.0},
                "labels": {"team": "traffic-ops"}, "emitted_at": end + 20, "enriched": True,
                "attributes": {"name": p["name"], "district": p["district"],
                               "lat": str(p["lat"]), "lon": str(p["lon"])}}}


def windows(n):
    return [aggregate(p, i, w, n) for i, p in enumerate(PLACES) for w in ("1m", "5m")]


@pytest.mark.parametrize("name,viewport", [("desktop", "1400x900"), ("phone", "390x844")])
def test_dashboard_shows_the_snapshot_within_a_second(feed, name, viewport):  # noqa: F811
    node, chromium = shutil.which("node"), shutil.which("chromium")
    modules = REPO / "tests" / ".cache" / "browser" / "node_modules"
    assert node and chromium and (modules / "playwright-core").is_dir(), \
        "run tests/harness/deps.sh (deps.d/browser.sh installs chromium and playwright-core)"
    out_dir = REPO / os.environ.get("DASHBOARD_SCREENSHOTS", "build/results")
    out_dir.mkdir(parents=True, exist_ok=True)
    shot = out_dir / f"dashboard-{name}.png"
    if shot.exists():
        shot.unlink()
    f = feed()
    # What flowed before anyone looked: 12 windows per key, alerts that fired
    # (one of them resolved since).
    n = 12
    for k in range(n):
        f.publish(*windows(k))
    f.publish(alert(*RESOLVED, "WARNING", "FIRING", 6))
    f.publish(*[alert(r, k, s, "FIRING", 10) for r, k, s in FIRING])
    f.publish(alert(*RESOLVED, "WARNING", "RESOLVED", 9))
    f.proc.stdin.write(b"FLUSH\n")
    f.proc.stdin.flush()
    total = n * len(PLACES) * 2 + 2 + len(FIRING)
    wait_for(lambda: f.metrics().get("weir_sink_ws_events_published_total") == total, 10,
             f"{total} events published")
    time.sleep(0.2)  # through the inbox (SINK_WS_BATCH 5 ms)

    rows = sorted(((p["intersection_id"], w) for p in PLACES for w in WINDOWS),
                  key=lambda r: (int(r[0].split("-")[1]), r[1]))
    expect = {"rows": rows, "firing": FIRING, "resolved": RESOLVED, "points": len(PLACES),
              "chart": 13}
    env = dict(os.environ, NODE_PATH=str(modules), CHROMIUM=chromium, VIEWPORT=viewport,
               URL=f"http://127.0.0.1:{f.port}/", SCREENSHOT=str(shot), EXPECT=json.dumps(expect))
    p = subprocess.Popen([node, str(REPO / "tests" / "browser" / "snapshot.cjs")],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
    stop = threading.Event()

    def live():  # the windows that close while the page is open
        k = n
        while not stop.is_set() and k < n + 12:
            f.publish(*windows(k))
            f.proc.stdin.write(b"FLUSH\n")
            f.proc.stdin.flush()
            k += 1
            stop.wait(0.15)

    th = threading.Thread(target=live, daemon=True)
    out = []
    try:
        deadline = time.monotonic() + 90
        for line in p.stdout:
            out.append(line)
            if line.startswith("SNAPSHOT"):
                th.start()
            if time.monotonic() > deadline:
                break
        rc = p.wait(30)
    finally:
        stop.set()
        if th.is_alive():
            th.join()
        if p.poll() is None:
            p.kill()
    text = "".join(out)
    print(text)
    assert rc == 0 and "OK" in text, text
    assert shot.exists() and shot.stat().st_size > 10000
