#!/usr/bin/env python3
"""make bench-scale: weir-compute with many keys — memory, state, restore and
restart, on one real broker.

    python3 tests/bench/scale/bench_scale.py [--keys 10000,100000,1000000]

Per size K (the bench-compute pipeline, tests/bench/compute/pipeline.json:
tumbling 10 s windows + 1 s grace, count/mean/stddev/p99 of one field,
exactly-once, one worker thread, 4 partitions):
  1. weir-sim writes 10 x K readings for K keys, all in one window;
  2. weir-compute (static membership on) consumes them: with every record
     in and every key's window open, weir_compute_state_bytes over
     weir_compute_state_keys is the state per key with its window open;
     then weir-sim writes one reading a window later and one per partition
     past its close (every key's window closes, a few new ones open: the
     issue's "backlog drained, 4 windows open"), and once a read_committed
     reader has seen K aggregates: CPU-s per million records, peak RSS
     (VmHWM);
  3. the drain: after the windows closed, RSS is sampled for up to 60 s;
     RSS after drain / (live state + idle RSS) is drain_ratio, where idle
     RSS is a weir-compute on an empty topic, ready and idle;
  4. changelog bytes per key: the latest record per key (what compaction
     keeps), key + value bytes;
  5. SIGTERM and restart: time to /readyz 200 and restore records/s
     (weir_compute_restored_records_total / restore duration);
  6. SIGKILL and restart at once: time to /readyz 200.
Kafka Streams (the bench-compute application, tests/bench/kstreams/, RocksDB
store, exactly_once_v2, one stream thread, static membership) runs at 100k
keys (--kstreams-keys) in the same run, on its own copy of the same readings:
CPU-s per million, peak RSS, RSS with every window open (its group
committed every record), the state directory per key after a clean stop
(RocksDB flushes its memtables then; while running, the windows are in
memory), changelog bytes per key (the latest record per key and window of
every changelog topic of the application: Kafka Streams keeps a closed
window's aggregate until its retention passes, where weir-compute's
changelog then holds only the baseline), and ready time (state RUNNING,
after its restore) after SIGTERM and SIGKILL.
The last line is
    bench-scale bytes_per_key=<n> drain_ratio=<n> kill9_ready_s=<n> restore_krec_s=<n>
with bytes_per_key the peak state per key with windows open at the largest
size, drain_ratio the worst over sizes, kill9_ready_s at 100k keys (or the
nearest size run) and restore_krec_s at the largest size.
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "tests" / "harness"))
sys.path.insert(0, str(REPO / "tests" / "bench" / "compute"))

from confluent_kafka import Consumer, TopicPartition  # noqa: E402

import admin  # noqa: E402
import bench_compute as bc  # noqa: E402
import kafka as kafka_harness  # noqa: E402

WINDOW_MS, GRACE_MS, PARTS = 10_000, 1_000, 4
START_MS = 1795420800000
KS_JAR = Path(os.environ.get("KSTREAMS_JAR", REPO / "tests" / ".cache" / "bench-kstreams" /
                             "kstreams-bench.jar"))


def say(*a):
    print("bench-scale:", *a, file=sys.stderr, flush=True)


from ports import free_port  # noqa: E402  (tests/harness/ports.py: why not bind(0))


def rss_mb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            m = re.search(r"^VmRSS:\s+(\d+) kB", f.read(), re.M)
        return int(m.group(1)) / 1024.0 if m else 0.0
    except OSError:
        return 0.0


class Compute:
    def __init__(self, exe, env, logpath):
        self.exe, self.env, self.logpath = exe, env, logpath
        self.proc = None

    def start(self):
        self.port = free_port()
        env = dict(self.env, ADMIN_PORT=str(self.port), ADMIN_BIND="127.0.0.1")
        self.log = open(self.logpath, "a")
        self.proc = subprocess.Popen([str(self.exe)], env=env, stdout=self.log,
                                     stderr=self.log, stdin=subprocess.DEVNULL, cwd=REPO)
        self.t0 = time.monotonic()
        return self

    def get(self, path):
        return admin.get(self.port, path)

    def metric(self, name):
        st, text = self.get("/metrics")
        return admin.metric(text, name) if st == 200 else None

    def wait_ready(self, timeout=600):
        while time.monotonic() - self.t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"weir-compute exited {self.proc.returncode} ({self.logpath})")
            if self.get("/readyz")[0] == 200:
                return time.monotonic() - self.t0
            time.sleep(0.05)
        raise RuntimeError(f"weir-compute not ready in {timeout} s ({self.logpath})")

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(60)
        self.log.close()


def changelog_bytes(bootstrap, topic):
    """Key + value bytes of the latest record per key (what compaction keeps)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-scale-cl-{topic}",
                  "enable.auto.commit": False, "isolation.level": "read_committed"})
    latest = {}
    for p in range(PARTS):
        lo, hi = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
        if hi <= lo:
            continue
        c.assign([TopicPartition(topic, p, lo)])
        pos = lo
        while pos < hi:
            ms = c.consume(num_messages=10000, timeout=5)
            if not ms:
                break
            for m in ms:
                if m.error() is None:
                    latest[m.key()] = len(m.key()) + len(m.value() or b"") if m.value() else 0
                    pos = m.offset() + 1
    c.close()
    keys = [k for k, v in latest.items() if v and k != b"M"]
    return sum(latest[k] for k in keys), len(keys)


def idle_rss(broker, exe, base_env, work):
    t = f"bench.scale.idle.{int(time.time())}"
    broker.create_topic(t, partitions=PARTS)
    spec = json.load(open(work / "pipeline.json"))
    spec["input"]["topic"] = t
    spec["compute"]["output"] = {k: f"{t}.{k}" for k in ("aggregates", "alerts", "dlq",
                                                          "changelog")}
    for k in ("aggregates", "alerts", "dlq"):
        broker.create_topic(f"{t}.{k}", partitions=PARTS)
    broker.create_topic(f"{t}.changelog", partitions=PARTS, config={"cleanup.policy": "compact"})
    p = work / "idle.json"
    p.write_text(json.dumps(spec))
    c = Compute(exe, dict(base_env, PIPELINE_SPEC=str(p), KAFKA_GROUP_ID=f"{t}.g"),
                work / "idle.log").start()
    try:
        c.wait_ready()
        time.sleep(5)
        return rss_mb(c.proc.pid)
    finally:
        c.stop()


def sim_cmds(sim, t, keys):
    """The readings (10 per key, all in one window), and what closes it: one
    reading a window later and one per partition past its close."""
    n = keys * 10
    rate = n * 1000.0 / WINDOW_MS
    cmd = [sim, "--topic", t, "--count", str(n), "--keys", str(keys), "--rate", f"{rate:.6f}",
           "--unpaced", "--seed", "1", "--start-time", str(START_MS), "--progress", "0"]
    close_cmd = [sim, "--topic", t, "--count", "1", "--keys", str(keys), "--seed", "2",
                 "--unpaced", "--start-time", str(START_MS + 2 * WINDOW_MS), "--advance",
                 f"{WINDOW_MS + GRACE_MS + 1000}ms", "--progress", "0"]
    return cmd, close_cmd


def sim_run(c, env):
    r = subprocess.run([str(x) for x in c], env=env, capture_output=True, text=True, cwd=REPO)
    if r.returncode != 0:
        raise RuntimeError(f"weir-sim failed: {r.stderr[-2000:]}")


def run_size(broker, keys, exe, sim, base_env, work, idle_mb):
    n = keys * 10
    t = f"bench.scale.{keys}.{int(time.time())}"
    broker.create_topic(t, partitions=PARTS, config={"retention.ms": "-1"})
    for k in ("aggregates", "alerts", "dlq"):
        broker.create_topic(f"{t}.{k}", partitions=PARTS)
    broker.create_topic(f"{t}.changelog", partitions=PARTS, config={"cleanup.policy": "compact"})
    cmd, close_cmd = sim_cmds(sim, t, keys)
    say(f"{keys} keys: writing {n} readings")
    sim_run(cmd, base_env)
    spec = json.load(open(work / "pipeline.json"))
    spec["input"]["topic"] = t
    spec["compute"]["output"] = {k: f"{t}.{k}" for k in ("aggregates", "alerts", "dlq",
                                                          "changelog")}
    sp = work / f"pipeline-{keys}.json"
    sp.write_text(json.dumps(spec))
    env = dict(base_env, PIPELINE_SPEC=str(sp), KAFKA_GROUP_ID=f"{t}.g",
               GROUP_INSTANCE_ID=f"bench-scale-{keys}")
    res = {"keys": keys, "records": n}
    w = bc.OutputWatcher(broker.bootstrap, f"{t}.aggregates")
    c = Compute(exe, env, work / f"compute-{keys}.log").start()
    try:
        c.wait_ready()
        # every record in, every key's window open: the state gauges are
        # updated once a second
        while (c.metric("weir_compute_records_in_total") or 0) < n:
            if time.monotonic() - c.t0 > 1800 or c.proc.poll() is not None:
                raise RuntimeError(f"{keys} keys: records not consumed ({c.logpath})")
            time.sleep(0.5)
        time.sleep(2.5)
        open_keys = c.metric("weir_compute_state_keys") or 1
        res["peak_state_per_key"] = (c.metric("weir_compute_state_bytes") or 0) / open_keys
        res["open_windows_at_peak"] = c.metric("weir_compute_open_windows") or 0
        sim_run(close_cmd, base_env)
        while w.poll(0.5) < keys:
            if time.monotonic() - c.t0 > 1800:
                raise RuntimeError(f"{keys} keys: aggregates incomplete after 1800 s")
            if c.proc.poll() is not None:
                raise RuntimeError(f"weir-compute exited ({c.logpath})")
        res["cpu_s"] = bc.tree_cpu_seconds(c.proc.pid)
        res["wall_s"] = time.monotonic() - c.t0
        res["peak_rss_mb"] = bc.peak_rss_mb(c.proc.pid)
        # the drain: RSS for up to 60 s after the windows closed
        t_drain = time.monotonic()
        drained = rss_mb(c.proc.pid)
        while time.monotonic() - t_drain < 60:
            time.sleep(2)
            drained = rss_mb(c.proc.pid)
            live = (c.metric("weir_compute_state_bytes") or 0) / 2**20
            if drained <= 1.5 * (live + idle_mb):
                break
        res["drain_s"] = time.monotonic() - t_drain
        res["rss_drained_mb"] = drained
        res["live_state_mb"] = (c.metric("weir_compute_state_bytes") or 0) / 2**20
        res["live_keys"] = c.metric("weir_compute_state_keys") or 0
        res["open_windows"] = c.metric("weir_compute_open_windows") or 0
        res["drain_ratio"] = drained / (res["live_state_mb"] + idle_mb)
        res["live_bytes_per_key"] = res["live_state_mb"] * 2**20 / max(res["live_keys"], 1)
        time.sleep(3)  # the last state flush committed
        c.stop(signal.SIGTERM)
        # SIGTERM restart
        c = Compute(exe, env, work / f"compute-{keys}.log").start()
        res["sigterm_ready_s"] = c.wait_ready()
        restored = c.metric("weir_compute_restored_records_total") or 0
        took = c.metric("weir_compute_restore_duration_seconds_sum") or 0
        res["restored"] = restored
        res["restore_s"] = took
        res["restore_krec_s"] = restored / took / 1000 if took > 0 else 0
        res["restored_bytes_per_key"] = ((c.metric("weir_compute_state_bytes") or 0) /
                                         max(c.metric("weir_compute_state_keys") or 1, 1))
        time.sleep(3)
        c.proc.kill()
        c.proc.wait()
        c.log.close()
        c = Compute(exe, env, work / f"compute-{keys}.log").start()
        res["kill9_ready_s"] = c.wait_ready()
        res["kill9_restore_s"] = c.metric("weir_compute_restore_duration_seconds_sum") or 0
    finally:
        c.stop()
        w.close()
    clb, clk = changelog_bytes(broker.bootstrap, f"{t}.changelog")
    res["changelog_bytes_per_key"] = clb / max(clk, 1)
    res["cpu_s_per_m"] = res["cpu_s"] / (n / 1e6)
    say(json.dumps(res))
    return res


class KStreams:
    """The Kafka Streams bench application; ready = its "ready" line (state
    RUNNING)."""

    def __init__(self, cmd, logpath):
        self.cmd, self.logpath = cmd, logpath

    def start(self):
        self.log = open(self.logpath, "a")
        self.ready = threading.Event()
        self.proc = subprocess.Popen([str(c) for c in self.cmd], stdout=subprocess.PIPE,
                                     stderr=self.log, stdin=subprocess.DEVNULL, cwd=REPO,
                                     text=True)
        self.t0 = time.monotonic()

        def read():
            for line in self.proc.stdout:
                if line.strip() == "ready" and not self.ready.is_set():
                    self.ready_s = time.monotonic() - self.t0
                    self.ready.set()
        threading.Thread(target=read, daemon=True).start()
        return self

    def wait_ready(self, timeout=600):
        while not self.ready.wait(0.05):
            if self.proc.poll() is not None:
                raise RuntimeError(f"Kafka Streams exited {self.proc.returncode} ({self.logpath})")
            if time.monotonic() - self.t0 > timeout:
                raise RuntimeError(f"Kafka Streams not ready in {timeout} s ({self.logpath})")
        return self.ready_s

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def dir_bytes(path):
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_size
            except OSError:
                pass
    return total


def committed(bootstrap, group, topic):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                  "enable.auto.commit": False})
    try:
        offs = c.committed([TopicPartition(topic, p) for p in range(PARTS)], timeout=10)
        return sum(max(o.offset, 0) for o in offs)
    except Exception:  # the group's coordinator not there yet
        return 0
    finally:
        c.close()


def run_kstreams(broker, keys, sim, base_env, work, java_opts):
    """The same readings through Kafka Streams (see the module docstring)."""
    n = keys * 10
    t = f"bench.scale.ks.{keys}.{int(time.time())}"
    broker.create_topic(t, partitions=PARTS, config={"retention.ms": "-1"})
    broker.create_topic(f"{t}.out", partitions=PARTS)
    cmd, close_cmd = sim_cmds(sim, t, keys)
    say(f"Kafka Streams, {keys} keys: writing {n} readings")
    sim_run(cmd, base_env)
    app = f"bench-scale-ks-{keys}-{int(time.time())}"
    state = work / f"ks-state-{keys}"
    java = shutil.which("java") or "java"
    kcmd = [java, *java_opts.split(), "-jar", KS_JAR, f"bootstrap={broker.bootstrap}",
            f"input={t}", f"output={t}.out", f"window_ms={WINDOW_MS}", f"grace_ms={GRACE_MS}",
            "accuracy=0.01", f"app_id={app}", f"state_dir={state}", "window_name=w",
            "pipeline=bench", "commit_ms=100", "threads=1", f"instance_id={app}-0"]
    res = {"keys": keys, "records": n}
    w = bc.OutputWatcher(broker.bootstrap, f"{t}.out")
    logp = work / f"kstreams-{keys}.log"
    k = KStreams(kcmd, logp).start()
    try:
        k.wait_ready()
        while committed(broker.bootstrap, app, t) < n:
            if time.monotonic() - k.t0 > 1800 or k.proc.poll() is not None:
                raise RuntimeError(f"Kafka Streams: records not consumed ({logp})")
            time.sleep(1)
        time.sleep(2.5)
        res["rss_open_mb"] = rss_mb(k.proc.pid)
        sim_run(close_cmd, base_env)
        while w.poll(0.5) < keys:
            if time.monotonic() - k.t0 > 1800 or k.proc.poll() is not None:
                raise RuntimeError(f"Kafka Streams: aggregates incomplete ({logp})")
        res["cpu_s"] = bc.tree_cpu_seconds(k.proc.pid)
        res["peak_rss_mb"] = bc.peak_rss_mb(k.proc.pid)
        time.sleep(3)
        k.stop(signal.SIGTERM)
        res["disk_per_key"] = dir_bytes(state) / keys
        k = KStreams(kcmd, logp).start()
        res["sigterm_ready_s"] = k.wait_ready()
        time.sleep(3)
        k.proc.kill()
        k.proc.wait()
        k.log.close()
        k = KStreams(kcmd, logp).start()
        res["kill9_ready_s"] = k.wait_ready()
    finally:
        k.stop()
        w.close()
    cl = [x for x in broker.admin().list_topics(timeout=10).topics
          if x.startswith(app) and x.endswith("-changelog")]
    clb = clk = 0
    for x in cl:
        b, nk = changelog_bytes(broker.bootstrap, x)
        clb += b
        clk = max(clk, nk)
    res["changelog_bytes_per_key"] = clb / keys
    res["cpu_s_per_m"] = res["cpu_s"] / (n / 1e6)
    say("kstreams " + json.dumps(res))
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--keys", default=os.environ.get("BENCH_SCALE_KEYS", "10000,100000,1000000"))
    ap.add_argument("--kstreams-keys", type=int,
                    default=int(os.environ.get("BENCH_SCALE_KSTREAMS_KEYS", 100000)),
                    help="keys for the Kafka Streams run (0: none)")
    ap.add_argument("--java-opts", default=os.environ.get("BENCH_JAVA_OPTS", "-Xmx512m"))
    args = ap.parse_args()
    sizes = [int(x) for x in args.keys.split(",") if x]
    build = REPO / os.environ.get("WEIR_BUILD", "build/rel")
    exe, sim = build / "bin" / "weir-compute", build / "bin" / "weir-sim"
    for b in (exe, sim):
        if not b.exists():
            sys.exit(f"bench-scale: {b} missing (make all)")
    work = Path(tempfile.mkdtemp(prefix="weir-bench-scale-"))
    spec = json.load(open(REPO / "tests" / "bench" / "compute" / "pipeline.json"))
    (work / "pipeline.json").write_text(json.dumps(spec))
    broker = kafka_harness.Broker(heap="1g")
    results = []
    ks = None
    try:
        broker.start()
        say(f"broker {broker.version_string} at {broker.bootstrap}; logs in {work}")
        base_env = dict(os.environ, KAFKA_BOOTSTRAP_SERVERS=broker.bootstrap, LOG_LEVEL="info",
                        SCHEMA_DIR=str(REPO / "schemas"), PROCESSING_GUARANTEE="exactly_once",
                        COMMIT_INTERVAL="100ms", COMPUTE_THREADS="1")
        idle_mb = idle_rss(broker, exe, base_env, work)
        say(f"idle RSS {idle_mb:.1f} MiB")
        for k in sizes:
            results.append(run_size(broker, k, exe, sim, base_env, work, idle_mb))
        if args.kstreams_keys:
            if KS_JAR.exists():
                try:
                    ks = run_kstreams(broker, args.kstreams_keys, sim, base_env, work,
                                      args.java_opts)
                except RuntimeError as e:
                    say(f"Kafka Streams FAILED: {e}")
            else:
                say(f"{KS_JAR} missing (tests/bench/bench-compute.sh builds it): no Kafka "
                    f"Streams run")
    finally:
        broker.close()
    print()
    print(f"bench-scale: weir-compute, bench-compute pipeline, 10 records per key in one "
          f"window, {PARTS} partitions, 1 worker thread, exactly-once; idle RSS "
          f"{idle_mb:.1f} MiB")
    print()
    print("| keys | records | CPU-s per M | peak RSS MiB | state B/key, windows open | "
          "RSS after drain MiB | live state MiB | drain ratio | live B/key | "
          "changelog B/key | restore krec/s | restored B/key | SIGTERM ready s | "
          "kill -9 ready s |")
    print("| ---: " * 14 + "|")
    for r in results:
        print(f"| {r['keys']} | {r['records']} | {r['cpu_s_per_m']:.2f} | "
              f"{r['peak_rss_mb']:.1f} | {r['peak_state_per_key']:.0f} | "
              f"{r['rss_drained_mb']:.1f} | {r['live_state_mb']:.1f} | "
              f"{r['drain_ratio']:.2f} | {r['live_bytes_per_key']:.0f} | "
              f"{r['changelog_bytes_per_key']:.0f} | {r['restore_krec_s']:.1f} | "
              f"{r['restored_bytes_per_key']:.0f} | {r['sigterm_ready_s']:.2f} | "
              f"{r['kill9_ready_s']:.2f} |")
    if ks:
        print()
        print(f"Kafka Streams 3.9.1 ({args.java_opts}), the same readings, RocksDB store, "
              f"exactly_once_v2, 1 stream thread, static membership:")
        print()
        print("| keys | records | CPU-s per M | peak RSS MiB | RSS, windows open MiB | "
              "state dir B/key after a clean stop | changelog B/key | SIGTERM ready s | "
              "kill -9 ready s |")
        print("| ---: " * 9 + "|")
        print(f"| {ks['keys']} | {ks['records']} | {ks['cpu_s_per_m']:.2f} | "
              f"{ks['peak_rss_mb']:.1f} | {ks['rss_open_mb']:.1f} | {ks['disk_per_key']:.0f} | "
              f"{ks['changelog_bytes_per_key']:.0f} | {ks['sigterm_ready_s']:.2f} | "
              f"{ks['kill9_ready_s']:.2f} |")
        print()
    big = results[-1]
    near = min(results, key=lambda r: abs(r["keys"] - 100_000))
    if near["keys"] != 100_000:
        say(f"kill9_ready_s below is at {near['keys']} keys (100000 not run)")
    print(f"bench-scale bytes_per_key={big['peak_state_per_key']:.0f} "
          f"drain_ratio={max(r['drain_ratio'] for r in results):.2f} "
          f"kill9_ready_s={near['kill9_ready_s']:.2f} "
          f"restore_krec_s={big['restore_krec_s']:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
