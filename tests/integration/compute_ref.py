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


class Acc:
    """All values of one field in one window, kept exactly."""
    __slots__ = ("values",)

    def __init__(self):
        self.values = []

    def add(self, v):
        self.values.append(v)

    def stats(self):
        xs = self.values
        n = len(xs)
        if n == 0:
            return {"count": 0}
        total = math.fsum(xs)
        mean = total / n
        var = math.fsum((x - mean) ** 2 for x in xs) / n
        return {"count": n, "sum": total, "min": min(xs), "max": max(xs), "mean": mean,
                "variance": var, "stddev": math.sqrt(var), "sorted": sorted(xs)}


def expected_aggregates(events, windows, fields):
    """events: iterable of (key, ts_ms, {field: value}); windows: list of
    {"name", "type", "size_ms", "advance_ms"}; fields: names to aggregate.
    Returns {(key, window_name, start): {"end", "count", field: stats}}."""
    res = {}
    for key, ts, vals in events:
        for w in windows:
            for start, end in windows_of(ts, w):
                k = (key, w["name"], start)
                e = res.get(k)
                if e is None:
                    e = res[k] = {"end": end, "count": 0, "fields": {f: Acc() for f in fields}}
                e["count"] += 1
                for f in fields:
                    v = vals.get(f)
                    if v is not None:
                        e["fields"][f].add(float(v))
    return {k: {"end": e["end"], "count": e["count"],
                "fields": {f: a.stats() for f, a in e["fields"].items()}}
            for k, e in res.items()}


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
