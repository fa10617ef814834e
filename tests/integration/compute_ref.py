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
    """The interval a sketch with relative accuracy `alpha` may answer for
    quantile q: within alpha of the exact order statistic, where "the"
    order statistic may be any of the ranks the usual definitions pick
    (q*(n-1) rounded either way, or the nearest rank ceil(q*n)-1)."""
    n = len(sorted_xs)
    ranks = {math.floor(q * (n - 1)), math.ceil(q * (n - 1)), max(0, math.ceil(q * n) - 1)}
    lo = min(sorted_xs[r] for r in ranks)
    hi = max(sorted_xs[r] for r in ranks)
    return lo * (1 - alpha) if lo >= 0 else lo * (1 + alpha), \
        hi * (1 + alpha) if hi >= 0 else hi * (1 - alpha)


def close(a, b, rel=1e-9):
    """Floats equal to `rel` relative (with the same as an absolute floor,
    for values near zero such as the stddev of a constant series)."""
    return math.isclose(a, b, rel_tol=rel, abs_tol=rel)
