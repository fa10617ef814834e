"""An independent reference for compute's answers, in plain Python: which
windows an event falls in, and the aggregates of a window computed two-pass
over the exact values (math.fsum).  Nothing here uses Weir's code; the
integration tests compare what weir-compute writes against it.

Window semantics (SPEC §4, docs/pipeline-spec.md): windows are aligned to
the epoch; a tumbling window of `size` covers [k*size, (k+1)*size); hopping
windows of `size` start every `advance` at multiples of `advance`.  The
tests keep event times far from the epoch and their disorder well inside the
grace period, so no boundary convention of closing or lateness changes the
expected answer.
"""
import math


def tumbling(ts, size):
    start = ts - ts % size
    return [(start, start + size)]


def hopping(ts, size, advance):
    """Every [s, s+size) with s a multiple of advance and s <= ts < s+size."""
    first = ts - ts % advance          # the latest start at or before ts
    out = []
    s = first
    while s > ts - size:
        out.append((s, s + size))
        s -= advance
    return sorted(out)


def windows_of(ts, w):
    if w["type"] == "tumbling":
        return tumbling(ts, w["size_ms"])
    if w["type"] == "hopping":
        return hopping(ts, w["size_ms"], w["advance_ms"])
    raise ValueError(f"reference has no {w['type']} windows")


def stats(xs, full=True):
    """Exact statistics of one field's values in one window (two-pass);
    without `full`, only count, sum and mean."""
    n = len(xs)
    if n == 0:
        return {"count": 0}
    if not full:
        total = math.fsum(xs)
        return {"count": n, "sum": total, "mean": total / n}
    xs = sorted(xs)
    total = math.fsum(xs)
    mean = total / n
    var = math.fsum([(x - mean) ** 2 for x in xs]) / n
    return {"count": n, "sum": total, "min": xs[0], "max": xs[-1], "mean": mean,
            "variance": var, "stddev": math.sqrt(var), "sorted": xs}


def expected_aggregates(events, windows, fields, full=None):
    """events: iterable of (key, ts_ms, values) with values a tuple aligned
    with `fields` (None = absent); windows: list of {"name", "type",
    "size_ms", "advance_ms"} (tumbling: advance = size); full: the fields
    needing every statistic (default all, see stats()).  Returns
    {(key, window_name, start): {"end", "count", "fields": {field: stats}}}.

    Every window is a run of buckets of g = gcd of all sizes and advances,
    so each event is filed once, in its bucket, and a window's values are
    its buckets' values."""
    g = 0
    for w in windows:
        g = math.gcd(g, w["size_ms"], w["advance_ms"])
    nf = len(fields)
    full = [full is None or f in full for f in fields]
    buckets = {}  # key -> {bucket: [count, [values of field i]...]}
    for key, ts, vals in events:
        kb = buckets.get(key)
        if kb is None:
            kb = buckets[key] = {}
        b = kb.get(ts // g)
        if b is None:
            b = kb[ts // g] = [0] + [[] for _ in range(nf)]
        b[0] += 1
        for i in range(nf):
            if vals[i] is not None:
                b[i + 1].append(float(vals[i]))
    res = {}
    for key, kb in buckets.items():
        for w in windows:
            size, adv = w["size_ms"], w["advance_ms"]
            starts = set()
            for bi in kb:
                for start, _ in windows_of(bi * g, w):
                    starts.add(start)
            for start in starts:
                parts = [kb[bi] for bi in range(start // g, (start + size) // g) if bi in kb]
                vals = [[x for p in parts for x in p[i + 1]] for i in range(nf)]
                res[(key, w["name"], start)] = {
                    "end": start + size, "count": sum(p[0] for p in parts),
                    "fields": {f: stats(vals[i], full[i]) for i, f in enumerate(fields)}}
    return res


def quantile_bounds(sorted_xs, q, alpha):
    """The interval the sketch may answer for quantile q (docs/compute.md,
    "Quantile sketch and its bound"): within alpha·|x_k| of x_k, k =
    floor(q·(n − 1)) — widened by 1e-12 relative for the rounding of the
    sketch's own arithmetic."""
    x = sorted_xs[math.floor(q * (len(sorted_xs) - 1))]
    slack = abs(x) * (alpha + 1e-12)
    return x - slack, x + slack


def zscores(want, window, field, alpha, min_windows):
    """The z-score of each window's mean of `field` against the key's EWMA
    baseline of earlier windows of the same definition (docs/compute.md,
    "Anomaly scores"): d = x − mean; mean += α·d; var = (1 − α)(var + α·d²);
    first window: mean = x, var = 0; the score, taken before the update,
    exists from the min_windows-th earlier window on when var > 0.
    Returns {(key, window, start): zscore or None}."""
    per_key = {}
    for (key, w, start), e in want.items():
        if w == window:
            per_key.setdefault(key, []).append((start, e["fields"][field]))
    out = {}
    for key, wins in per_key.items():
        n, mean, var = 0, 0.0, 0.0
        for start, st in sorted(wins, key=lambda t: t[0]):
            if st["count"] == 0:
                out[(key, window, start)] = None
                continue
            x = st["mean"]
            z = (x - mean) / math.sqrt(var) if n >= min_windows and var > 0 else None
            out[(key, window, start)] = z
            if n == 0:
                mean, var = x, 0.0
            else:
                d = x - mean
                mean += alpha * d
                var = (1 - alpha) * (var + alpha * d * d)
            n += 1
    return out


def close(a, b, rel=1e-9):
    """Floats equal to `rel` relative (with the same as an absolute floor,
    for values near zero such as the stddev of a constant series)."""
    return math.isclose(a, b, rel_tol=rel, abs_tol=rel)
