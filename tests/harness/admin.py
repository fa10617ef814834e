"""A Weir service's admin server as the tests and benchmarks see it: one GET,
and the Prometheus text of /metrics parsed and summed.  Shared so that every
test reads a metric the same way (sum over the series whose labels include
the ones asked for, None when the family has no series at all).

    status, body = admin.get(port, "/readyz")      # (None, "") when down
    admin.metric(admin.get(port, "/metrics")[1], "weir_x_total", result="ok")
"""

from __future__ import annotations

import re
import urllib.error
import urllib.request

_METRIC = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def get(port: int, path: str, timeout: float = 5.0) -> tuple[int | None, str]:
    """(HTTP status, body) of GET http://127.0.0.1:port/path; an error status
    comes with its body; (None, "") when nothing answers."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
            return r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")
    except OSError:
        return None, ""


def parse_metrics(text: str) -> list[tuple[str, dict, float]]:
    """Every sample of a Prometheus text exposition as (name, labels, value);
    comments and exemplars (after " # ") are skipped."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _METRIC.match(line)
        if m:
            try:
                out.append((m.group(1), dict(_LABEL.findall(m.group(3) or "")),
                            float(m.group(4))))
            except ValueError:
                pass
    return out


def metric(text: str, name: str, **labels) -> float | None:
    """Sum of every sample of `name` whose labels include `labels`, or None
    when there is none."""
    vals = [v for n, lb, v in parse_metrics(text)
            if n == name and all(lb.get(k) == str(x) for k, x in labels.items())]
    return sum(vals) if vals else None
