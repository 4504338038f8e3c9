"""What the live system says of its own time, as the benchmarks read it: gunicorn's access log (the request time of
each request a benchmark made, tagged by its X-Bench-Id header) and the histograms of the web's /metrics."""

from __future__ import annotations

import http.client
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from bench.common import percentile, warn

PUSH_FRAME_METRIC = "dongcheng_push_frame_duration_seconds"
PUSH_PHASE_METRIC = "dongcheng_push_frame_phase_duration_seconds"
PUSH_PHASES = ("wait", "heads", "frame", "hand")


def log_size(path: Path) -> int:
    """The access log's size now (what is appended after it is the window's)."""
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def scrape(port: int) -> str:
    """The web's /metrics as text (the demo lets this machine scrape it); "" when it cannot be read."""
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/metrics")
        resp = conn.getresponse()
        text = resp.read().decode(errors="replace")
        conn.close()
    except OSError as exc:
        warn(f"/metrics not read: {exc}")
        return ""
    return text if resp.status == 200 else ""


def scrape_counter(port: int, name: str, labels: dict[str, str] | None = None) -> float | None:
    """The value of counter `name` (its series with `labels`) on the web's /metrics; None when it has no such
    counter (an older release)."""
    want = labels or {}
    found: float | None = None
    for family in text_string_to_metric_families(scrape(port)):
        if family.name != name:
            continue
        for sample in family.samples:
            if sample.name == f"{name}_total" and sample.labels == want:
                found = (found or 0.0) + float(sample.value)
    return found


def scrape_histogram(port: int, name: str, labels: dict[str, str] | None = None) -> dict[float, float]:
    """The cumulative buckets {le: count} of histogram `name` (its series with `labels`) on the web's /metrics; {}
    when the release has no such metric."""
    text = scrape(port)
    want = labels or {}
    out: dict[float, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name != name:
            continue
        for sample in family.samples:
            if sample.name != f"{name}_bucket":
                continue
            got = {k: v for k, v in sample.labels.items() if k != "le"}
            if got == want:
                le = float(sample.labels["le"])
                out[le] = out.get(le, 0.0) + float(sample.value)
    return out


def histogram_delta(before: dict[float, float], after: dict[float, float]) -> dict[float, float]:
    """The buckets' counts over the window."""
    return {le: n - before.get(le, 0.0) for le, n in after.items()}


def histogram_quantile(buckets: dict[float, float], q: float) -> float | None:
    """Quantile `q` in ms of cumulative buckets, interpolated within its bucket as Prometheus's histogram_quantile."""
    total = buckets.get(float("inf"), 0.0)
    if total <= 0:
        return None
    rank, lower, below = q * total, 0.0, 0.0
    for le in sorted(buckets):
        n = buckets[le]
        if n >= rank:
            if le == float("inf"):
                return round(lower * 1000, 1)
            return round((lower + (le - lower) * (rank - below) / max(n - below, 1e-9)) * 1000, 1)
        lower, below = le, n
    return None


def worst(*values: float | None) -> float | None:
    """The largest of the figures that exist."""
    known = [v for v in values if v is not None]
    return round(max(known), 1) if known else None


def server_times(path: Path, kind: str, since: int = 0) -> dict[str, list[float]]:
    """The server's request times (ms) of the screens' refreshes, and of all their requests (from byte `since`)."""
    out: dict[str, list[float]] = {"refresh": [], "all": []}
    try:
        with path.open("rb") as f:
            f.seek(since)
            lines = f.read().decode(errors="replace").splitlines()
    except FileNotFoundError:
        warn(f"no access log at {path}")
        return out
    for line in lines:
        parts = line.split()
        if len(parts) < 6 or not parts[0].startswith("scr-") or parts[1] != "200":
            continue
        ms = int(parts[2]) / 1000
        out["all"].append(ms)
        if parts[0].startswith("scr-r-"):
            out["refresh"].append(ms)
    return out


def push_frame_histograms(port: int) -> dict[str, dict[float, float]]:
    """The pushed frame's histogram ("total") and its phases', as the web's /metrics has them now."""
    out = {"total": scrape_histogram(port, PUSH_FRAME_METRIC)}
    for ph in PUSH_PHASES:
        out[ph] = scrape_histogram(port, PUSH_PHASE_METRIC, {"phase": ph})
    return out


def refresh_figures(before: dict[str, dict[float, float]], after: dict[str, dict[float, float]],
                    requests_ms: list[float]) -> dict[str, Any]:
    """A wall's refresh at the server over a window: the worse of the pushed frames' quantile (their histogram's
    change from `before` to `after`) and the refresh requests' (`requests_ms`); and the pushed frames apart."""
    d = {name: histogram_delta(before.get(name, {}), b) for name, b in after.items()}
    pushed = d.get("total", {})
    return {
        "refresh_server_ms": {f"p{q}": worst(histogram_quantile(pushed, q / 100), percentile(requests_ms, q))
                              for q in (50, 99)},
        "pushed_frame_server_ms": {"count": int(pushed.get(float("inf"), 0)), "p50": histogram_quantile(pushed, 0.5),
                                   "p99": histogram_quantile(pushed, 0.99)},
        "pushed_frame_phases_ms": {ph: {"p50": histogram_quantile(d.get(ph, {}), 0.5),
                                        "p99": histogram_quantile(d.get(ph, {}), 0.99)} for ph in PUSH_PHASES},
    }
