#!/usr/bin/env python3
"""make bench-compute: weir-compute against the same topology in Kafka Streams,
on one real broker and one input, in one run.

    python3 tests/bench/compute/bench_compute.py [--events N] [--keys K] ...

Steps (tests/bench/bench-compute.sh builds the Kafka Streams jar first):
  1. start a single-node Apache Kafka broker (tests/harness/kafka.py);
  2. weir-sim writes --events readings (Avro single-object, key = intersection
     id, Kafka timestamp = event time, no disorder) to a --partitions topic,
     spanning a whole number of --window-ms windows, then one reading per
     partition --advance later so every window of the run can close;
  3. each side in turn — weir-compute (tests/bench/compute/pipeline.json)
     and the Kafka Streams application (tests/bench/kstreams/) — consumes the
     whole input from the start until a read_committed reader has seen every
     expected aggregate (keys x windows) on its output topic;
     Both run --threads processing threads (BENCH_THREADS, default 1:
     Kafka Streams' num.stream.threads default; weir-compute's
     COMPUTE_THREADS, whose default is 1 too since 23 Nov): the same
     parallelism on both sides;
  4. per side: CPU-seconds (utime+stime of the process tree, /proc) at that
     moment, per million events; peak RSS (VmHWM); wall time from start;
  5. both outputs are decoded with fastavro and compared per key and window:
     count exactly, mean to 1e-9, stddev to 1e-6 relative, p99 within twice
     the sketches' relative accuracy (each is within it of the true value).
The table goes to stdout; the last line is
    bench-compute cpu_ratio=<weir/kstreams> rss_ratio=<weir/kstreams>
"""
import argparse
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "tests" / "harness"))

import fastavro  # noqa: E402
from confluent_kafka import Consumer  # noqa: E402

import kafka as kafka_harness  # noqa: E402

CLK = os.sysconf("SC_CLK_TCK")
JAR = REPO / "tests" / ".cache" / "bench-kstreams" / "kstreams-bench.jar"
AGG_SCHEMA = fastavro.parse_schema(json.load(open(REPO / "schemas" / "aggregate.avsc")))
AGG_FP = bytes.fromhex(fastavro.schema.fingerprint(
    fastavro.schema.to_parsing_canonical_form(AGG_SCHEMA), "CRC-64-AVRO"))


def say(*a):
    print("bench-compute:", *a, file=sys.stderr, flush=True)


# ------------------------------------------------------------------ /proc
def _children(pid):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                rest = f.read().rsplit(")", 1)[1].split()
            if int(rest[1]) == pid:
                out.append(int(d))
        except (OSError, IndexError, ValueError):
            pass
    return out


def _tree(pid):
    """pid and its live descendants."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += _children(p)
    return out


def tree_cpu_seconds(pid):
    """utime+stime of pid and its live descendants, plus what their reaped
    children used (cutime+cstime)."""
    total = 0
    for p in _tree(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                rest = f.read().rsplit(")", 1)[1].split()
            # after the comm: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14)
            total += sum(int(x) for x in rest[11:15])
        except (OSError, IndexError, ValueError):
            pass
    return total / CLK


def peak_rss_mb(pid):
    """VmHWM of pid plus its live descendants, MiB."""
    total = 0
    for p in _tree(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                m = re.search(r"^VmHWM:\s+(\d+) kB", f.read(), re.M)
            total += int(m.group(1)) if m else 0
        except OSError:
            pass
    return total / 1024.0


# ------------------------------------------------------------------ output
def decode_aggregate(value):
    if value[:2] != b"\xc3\x01" or value[2:10] != AGG_FP:
        raise ValueError(f"not a single-object weir.Aggregate: {value[:10].hex()}")
    return fastavro.schemaless_reader(io.BytesIO(value[10:]), AGG_SCHEMA)


class OutputWatcher:
    """A read_committed reader of one output topic, counting records."""

    def __init__(self, bootstrap, topic):
        self.c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-watch-{topic}",
                           "auto.offset.reset": "earliest", "enable.auto.commit": False,
                           "isolation.level": "read_committed"})
        self.c.subscribe([topic])
        self.values = []

    def poll(self, seconds):
        for m in self.c.consume(num_messages=10000, timeout=seconds):
            if m.error() is None:
                self.values.append((m.key(), m.value()))
        return len(self.values)

    def close(self):
        self.c.close()


def run_side(name, cmd, env, bootstrap, out_topic, expected, timeout, logf):
    say(f"{name}: {' '.join(str(c) for c in cmd)}")
    w = OutputWatcher(bootstrap, out_topic)
    t0 = time.monotonic()
    proc = subprocess.Popen([str(c) for c in cmd], env=env, stdout=logf, stderr=logf,
                            stdin=subprocess.DEVNULL, cwd=REPO, start_new_session=True)
    cpu = rss = 0.0
    n = 0
    last_report = t0
    try:
        while True:
            n = w.poll(1.0)
            # Sampled every turn: the last sample before exit still counts
            # if the process dies.
            if proc.poll() is None:
                cpu, rss = tree_cpu_seconds(proc.pid), peak_rss_mb(proc.pid)
            if n >= expected:
                break
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode} after {n} of "
                                   f"{expected} aggregates (log: {logf.name})")
            if time.monotonic() - t0 > timeout:
                raise RuntimeError(f"{name}: {n} of {expected} aggregates after {timeout} s")
            if time.monotonic() - last_report > 15:
                last_report = time.monotonic()
                say(f"{name}: {n}/{expected} aggregates, {cpu:.1f} CPU-s so far")
        wall = time.monotonic() - t0
        cpu, rss = tree_cpu_seconds(proc.pid), peak_rss_mb(proc.pid)
        # Anything beyond the expected count would be a duplicate: wait a
        # moment for stragglers.
        w.poll(2.0)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        w.close()
    say(f"{name}: done in {wall:.1f} s, {cpu:.2f} CPU-s, peak RSS {rss:.1f} MiB")
    return {"wall": wall, "cpu": cpu, "rss": rss, "values": w.values}


def by_window(values):
    out = {}
    for key, v in values:
        a = decode_aggregate(v)
        fs = {f["name"]: f for f in a["fields"]}["speed_kmh"]
        start = a["window_start"]
        start = int(start.timestamp() * 1000) if hasattr(start, "timestamp") else start
        k = (a["key"], start)
        if k in out:
            raise RuntimeError(f"duplicate aggregate for {k}")
        out[k] = (a["count"], fs["mean"], fs["stddev"], fs["p99"])
    return out


def reference(sim_cmd, env, keys, window_ms):
    """The true count, mean, population stddev and p99 (x_k, k = floor(0.99 (n-1)))
    of speed_kmh per window for a few keys, from weir-sim --stdout with the
    same settings: the simulator is deterministic, so these are the very
    readings the broker got, computed here without Weir's or Kafka Streams'
    code."""
    want = {f'{{"key":"{k}",'.encode(): k for k in keys}
    vals = {}
    p = subprocess.Popen([str(c) for c in sim_cmd], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, cwd=REPO)
    for line in p.stdout:
        k = want.get(line[:line.find(b",") + 1])
        if k is None:
            continue
        v = json.loads(line)["value"]
        vals.setdefault((k, v["ts"] // window_ms * window_ms), []).append(v["speed_kmh"])
    p.wait()
    ref = {}
    for kw, xs in vals.items():
        n = len(xs)
        mean = sum(xs) / n
        var = sum((x - mean) ** 2 for x in xs) / n
        ref[kw] = (n, mean, var ** 0.5, sorted(xs)[int(0.99 * (n - 1))])
    return ref


def check_reference(name, got, ref, accuracy):
    for k, (n, mean, sd, p99) in ref.items():
        if k not in got:
            raise RuntimeError(f"{name}: no aggregate for {k}")
        c, m, s, q = got[k]
        if c != n or abs(m - mean) > 1e-9 * abs(mean) or abs(s - sd) > 1e-6 * max(sd, 1):
            raise RuntimeError(f"{name}: {k}: got count {c} mean {m} stddev {s}, "
                               f"true {n} {mean} {sd}")
        if abs(q - p99) > accuracy * abs(p99) * 1.001:
            raise RuntimeError(f"{name}: {k}: p99 {q}, true {p99}: beyond accuracy {accuracy}")


def compare(weir, ks, accuracy):
    if set(weir) != set(ks):
        only_w, only_k = set(weir) - set(ks), set(ks) - set(weir)
        raise RuntimeError(f"different windows: {len(only_w)} only in weir (e.g. "
                           f"{sorted(only_w)[:3]}), {len(only_k)} only in Kafka Streams "
                           f"(e.g. {sorted(only_k)[:3]})")
    worst_p99 = 0.0
    for k, (wc, wm, ws, wp) in weir.items():
        kc, km, kss, kp = ks[k]
        if wc != kc:
            raise RuntimeError(f"{k}: count {wc} (weir) != {kc} (Kafka Streams)")
        if abs(wm - km) > 1e-9 * max(1.0, abs(km)):
            raise RuntimeError(f"{k}: mean {wm} != {km}")
        if abs(ws - kss) > 1e-6 * max(1.0, abs(kss)):
            raise RuntimeError(f"{k}: stddev {ws} != {kss}")
        rel = abs(wp - kp) / max(abs(kp), 1e-12)
        worst_p99 = max(worst_p99, rel)
        if rel > 2 * accuracy + 1e-9:
            raise RuntimeError(f"{k}: p99 {wp} vs {kp}: beyond twice the accuracy {accuracy}")
    return worst_p99


# ------------------------------------------------------------------ main
def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=int, default=int(os.environ.get("BENCH_EVENTS", 2_000_000)))
    ap.add_argument("--keys", type=int, default=int(os.environ.get("BENCH_KEYS", 1000)))
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--window-ms", type=int, default=10_000)
    ap.add_argument("--grace-ms", type=int, default=1_000)
    ap.add_argument("--windows", type=int, default=20,
                    help="the input spans this many windows")
    ap.add_argument("--accuracy", type=float, default=0.01)
    ap.add_argument("--java-opts", default=os.environ.get("BENCH_JAVA_OPTS", "-Xmx256m"))
    ap.add_argument("--timeout", type=int, default=1200, help="per side, seconds")
    ap.add_argument("--threads", type=int, default=int(os.environ.get("BENCH_THREADS", 1)),
                    help="processing threads on both sides (COMPUTE_THREADS, num.stream.threads)")
    ap.add_argument("--skip-weir", action="store_true")
    ap.add_argument("--skip-kstreams", action="store_true")
    args = ap.parse_args()

    build = REPO / os.environ.get("WEIR_BUILD", "build/rel")
    sim = build / "bin" / "weir-sim"
    compute = build / "bin" / "weir-compute"
    if not sim.exists():
        sys.exit(f"bench-compute: {sim} missing (make all)")
    if not args.skip_kstreams and not JAR.exists():
        sys.exit(f"bench-compute: {JAR} missing (tests/bench/bench-compute.sh builds it)")
    if not args.skip_weir and not compute.exists():
        say(f"{compute} missing: Kafka Streams only")
        args.skip_weir = True

    # Readings span exactly --windows windows from an aligned start.
    rate = args.events * 1000.0 / (args.windows * args.window_ms)  # simulated clock
    start_ms = 1795420800000  # 2026-11-23T08:00:00Z, a window boundary
    expected = args.keys * args.windows
    work = Path(tempfile.mkdtemp(prefix="weir-bench-compute-"))
    run = time.strftime("%H%M%S")
    t_in, t_weir, t_ks = f"bench.{run}.input", f"bench.{run}.weir", f"bench.{run}.kstreams"

    broker = kafka_harness.Broker(heap="1g")
    results = {}
    try:
        broker.start()
        say(f"broker {broker.version_string} at {broker.bootstrap}")
        broker.create_topic(t_in, partitions=args.partitions, config={"retention.ms": "-1"})
        for t in (t_weir, t_ks, f"{t_weir}.alerts", f"{t_weir}.dlq"):
            broker.create_topic(t, partitions=args.partitions)
        broker.create_topic(f"{t_weir}.changelog", partitions=args.partitions,
                            config={"cleanup.policy": "compact"})

        env = dict(os.environ, KAFKA_BOOTSTRAP_SERVERS=broker.bootstrap, LOG_LEVEL="warn")
        cmd = [sim, "--topic", t_in, "--count", str(args.events), "--keys", str(args.keys),
               "--rate", f"{rate:.6f}", "--unpaced", "--seed", "1", "--start-time",
               str(start_ms), "--incident-every", "2m", "--incident-duration", "30s",
               "--advance", f"{args.window_ms + args.grace_ms + 1000}ms", "--progress", "0"]
        say(f"generating {args.events} readings for {args.keys} keys: weir-sim ...")
        t0 = time.monotonic()
        r = subprocess.run([str(c) for c in cmd], env=env, capture_output=True, text=True,
                           cwd=REPO)
        if r.returncode != 0:
            sys.exit(f"bench-compute: weir-sim failed: {r.stderr[-2000:]}")
        summ = r.stdout.strip().splitlines()[-1]
        say(f"{summ} ({time.monotonic() - t0:.1f} s)")
        m = dict(re.findall(r"(\w+)=([-\d.]+)", summ))
        first, last = int(m["first_ts"]), int(m["max_ts"])
        if (first // args.window_ms, last // args.window_ms) != (
                start_ms // args.window_ms, start_ms // args.window_ms + args.windows - 1):
            sys.exit(f"bench-compute: input spans {first}..{last}, not {args.windows} windows")
        sent = int(m["acked"])

        spec = json.load(open(REPO / "tests" / "bench" / "compute" / "pipeline.json"))
        spec["input"]["topic"] = t_in
        w = spec["compute"]["windows"][0]
        w["size"], w["grace"] = f"{args.window_ms}ms", f"{args.grace_ms}ms"
        spec["compute"]["quantile_accuracy"] = args.accuracy
        spec["compute"]["output"] = {"aggregates": t_weir, "alerts": f"{t_weir}.alerts",
                                     "dlq": f"{t_weir}.dlq", "changelog": f"{t_weir}.changelog"}
        spec_path = work / "pipeline.json"
        spec_path.write_text(json.dumps(spec, indent=1))

        if not args.skip_weir:
            wenv = dict(env, PIPELINE_SPEC=str(spec_path), SCHEMA_DIR=str(REPO / "schemas"),
                        ADMIN_PORT="0", KAFKA_GROUP_ID=f"bench-weir-{run}",
                        PROCESSING_GUARANTEE="exactly_once", COMMIT_INTERVAL="100ms",
                        COMPUTE_THREADS=str(args.threads))
            with open(work / "weir-compute.log", "w") as logf:
                try:
                    results["weir"] = run_side("weir-compute", [compute], wenv,
                                               broker.bootstrap, t_weir, expected,
                                               args.timeout, logf)
                except RuntimeError as e:
                    say(f"weir-compute FAILED: {e}")
                    keep = REPO / "tests" / ".cache" / "bench-compute-weir.log"
                    shutil.copy(work / "weir-compute.log", keep)
                    tail = keep.read_text()[-3000:]
                    say(f"weir-compute log ({keep}) tail:\n{tail}")
        if not args.skip_kstreams:
            java = shutil.which("java") or "java"
            kcmd = [java, *args.java_opts.split(), "-jar", JAR, f"bootstrap={broker.bootstrap}",
                    f"input={t_in}", f"output={t_ks}", f"window_ms={args.window_ms}",
                    f"grace_ms={args.grace_ms}", f"accuracy={args.accuracy}",
                    f"app_id=bench-kstreams-{run}", f"state_dir={work / 'kstreams-state'}",
                    "window_name=w", "pipeline=bench", "commit_ms=100", f"threads={args.threads}"]
            with open(work / "kstreams.log", "w") as logf:
                results["kstreams"] = run_side("kafka-streams", kcmd, env, broker.bootstrap,
                                               t_ks, expected, args.timeout, logf)
    finally:
        broker.close()

    # ---------------------------------------------------------- verify
    agg = {k: by_window(v["values"]) for k, v in results.items()}
    for k, a in agg.items():
        if len(a) != expected:
            sys.exit(f"bench-compute: {k} produced {len(a)} aggregates, expected {expected}")
        if sum(c for c, *_ in a.values()) != sent - args.partitions:
            sys.exit(f"bench-compute: {k} counted {sum(c for c, *_ in a.values())} readings "
                     f"in closed windows, expected {sent - args.partitions}")
    verdict = "not compared (one side only)"
    if len(agg) == 2:
        worst = compare(agg["weir"], agg["kstreams"], args.accuracy)
        verdict = (f"equal: {expected} aggregates, counts exact, mean/stddev equal, "
                   f"p99 within {worst * 100:.2f} % of each other")
    if agg:
        keys = ["x-0", f"x-{args.keys // 2}", f"x-{args.keys - 1}"]
        scmd = [c for c in cmd if c not in ("--advance", cmd[cmd.index("--advance") + 1])]
        ref = reference(scmd[:1] + ["--stdout"] + scmd[1:], env, keys, args.window_ms)
        for k, a in agg.items():
            check_reference(k, a, ref, args.accuracy)
        verdict += (f"; {len(ref)} aggregates of keys {', '.join(keys)} equal to a reference "
                    f"computed from the readings")
    say(f"outputs {verdict}")

    # ---------------------------------------------------------- report
    mevents = args.events / 1e6
    print()
    print(f"bench-compute: {args.events} events, {args.keys} keys, {args.partitions} "
          f"partitions, tumbling {args.window_ms} ms + {args.grace_ms} ms grace, "
          f"count/mean/stddev/p99 of speed_kmh, exactly-once v2 on both sides, "
          f"{args.threads} processing thread(s) each")
    print(f"outputs: {verdict}")
    print()
    print("| side | CPU-s | CPU-s per M events | peak RSS MiB | wall s | events/s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    names = {"weir": "weir-compute", "kstreams": f"Kafka Streams 3.9.1 ({args.java_opts})"}
    for k in ("weir", "kstreams"):
        if k in results:
            r = results[k]
            print(f"| {names[k]} | {r['cpu']:.2f} | {r['cpu'] / mevents:.2f} | {r['rss']:.1f} | "
                  f"{r['wall']:.1f} | {args.events / r['wall']:.0f} |")
    if "weir" in results and "kstreams" in results:
        cpu_ratio = results["weir"]["cpu"] / results["kstreams"]["cpu"]
        rss_ratio = results["weir"]["rss"] / results["kstreams"]["rss"]
        print(f"bench-compute cpu_ratio={cpu_ratio:.3f} rss_ratio={rss_ratio:.3f}")
    else:
        print("bench-compute cpu_ratio=n/a rss_ratio=n/a")
        shutil.rmtree(work, ignore_errors=True)
        return 1
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
