"""未诉先办 early warning: the detector, which scores every grid cell and subdistrict from the sensor conditions,
the recent tickets against the seasonal baseline, and bursts of alarms.

Every grid cell and every 2×2 block of cells, and every subdistrict, is scanned over the last 30 and 60 minutes
per category: the anomaly is the Poisson tail probability P(N ≥ n) of the count n observed given the count expected
(workers/early_warning/baseline.py); below `P_WARN` (cells) or `P_WARN_SUBDISTRICT` it warns. A warning's score is
``1 − Π(1 − s)`` over its pieces of evidence; tickets near a sensor warning of the category it predicts support it
instead of warning twice, and a subdistrict warns only where no cell of it already does. `compute_warnings` is pure;
the tick (workers/tick.py) calls it among its aggregates.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from dashboard.domain import geo
from dashboard.domain import rules as c
from dashboard.i18n.evidence import ticket_reason
from dashboard.live.schema import WarningItem, WarningsData
from workers.early_warning.baseline import (
    BASELINE_VERSION,
    Baseline,
    district_volume,
    expected,
    learn_baseline,
    place_share,
    regions,
)
from workers.early_warning.book import TicketBook
from workers.early_warning.rules import (
    ALARM_BURST_MIN,
    ALARM_BURST_S,
    CATEGORY_KIND,
    CHAIN_GAP_S,
    CROWD_RISE,
    FRESH_S,
    KIND_CATEGORY,
    LAMBDA_FLOOR,
    LOOKBACK_S,
    MAX_WARNINGS,
    MIN_TICKETS,
    NOISE_NIGHT_DB,
    P_WARN,
    P_WARN_SUBDISTRICT,
    SERIES_MIN,
    SUPPORT_WINDOW_S,
    TICKET_WINDOWS_S,
    TILT_NEAR_KM,
    WATER_RISE_MIN,
    as_epoch,
    cell_centre,
    cells_around,
    near_cells,
    poisson_sf,
    poisson_sf_below,
    series_fall,
    series_rise,
)


def _combine(scores: Iterable[float]) -> float:
    """1 − Π(1 − s): independent pieces of evidence, each in 0–1."""
    left = 1.0
    for s in scores:
        left *= 1.0 - max(0.0, min(1.0, s))
    return round(1.0 - left, 3)


def _ticket_score(p: float) -> float:
    """Score of a Poisson tail probability: 0 at 1e-3, 0.4 at 1e-5, 1 at 1e-8 and below."""
    return max(0.0, min(1.0, (-math.log10(max(p, 1e-300)) - 3.0) / 5.0))


def _sub_names(code: str) -> tuple[str, str]:
    """Chinese and English name of a subdistrict."""
    sub = geo.subdistrict_by_code().get(code)
    return (sub.name_zh, sub.name_en) if sub is not None else (code, code)


# --- the warnings ------------------------------------------------------------------------------------------------


class _Warning:
    """A warning being assembled: where, what, since when, and its pieces of evidence."""

    __slots__ = ("category", "cell", "evidence", "kind", "lat", "level", "lon", "reasons_en", "reasons_zh",
                 "scores", "since", "subdistrict")  # fmt: skip

    def __init__(
        self, level: str, kind: str, category: str, cell: str | None, sub: str, lon: float, lat: float, since: float
    ) -> None:
        self.level, self.kind, self.category, self.cell, self.subdistrict = level, kind, category, cell, sub
        self.lon, self.lat, self.since = lon, lat, since
        self.scores: list[float] = []
        self.reasons_zh: list[str] = []
        self.reasons_en: list[str] = []
        self.evidence: list[dict[str, Any]] = []

    def add(self, score: float, zh: str, en: str, evidence: dict[str, Any]) -> None:
        """One piece of evidence."""
        self.scores.append(score)
        self.reasons_zh.append(zh)
        self.reasons_en.append(en)
        self.evidence.append(evidence)

    def item(self) -> WarningItem:
        """The aggregate's item."""
        where = self.cell if self.level == "cell" else self.subdistrict
        return WarningItem(
            id=f"{self.kind}:{where}:{int(self.since // 60)}",
            level=self.level,
            cell=self.cell,
            subdistrict=self.subdistrict,
            lon=round(self.lon, 6),
            lat=round(self.lat, 6),
            kind=self.kind,
            category=self.category,
            score=_combine(self.scores),
            since=round(self.since, 3),
            reasons_zh=self.reasons_zh,
            reasons_en=self.reasons_en,
            evidence=self.evidence,
        )


def _sensor_warnings(state: Mapping[str, Any], now: float) -> list[_Warning]:
    """The warnings of the sensor conditions holding (or held within rules.HOLD_S: see `track`)."""
    ew = state.get("ew") or {}
    sensors: Mapping[str, Mapping[str, Any]] = state.get("sensors") or {}
    spots: Mapping[str, Mapping[str, Any]] = state.get("spots") or {}
    out: list[_Warning] = []
    tilts = [(sid, rd) for sid, rd in sensors.items() if rd.get("type") == "manhole_tilt"]
    tilt_warn = float(c.SENSOR_TYPES["manhole_tilt"]["warn"])
    for key, (since, _last, ref) in sorted((ew.get("on") or {}).items()):
        kind, _, ident = key.partition(":")
        rd = (spots if kind == "crowd" else sensors).get(ident)
        if rd is None or kind not in KIND_CATEGORY:
            continue
        place = geo.place_by_id().get(ident) if kind == "crowd" else None
        lon, lat = (place.lon, place.lat) if place else (float(rd["lon"]), float(rd["lat"]))
        sub = geo.subdistrict_of(lon, lat) or str(rd.get("sd") or "")
        w = _Warning("cell", kind, KIND_CATEGORY[kind], geo.grid_cell(lon, lat), sub, lon, lat, since)
        if kind == "water_main":
            v = float(rd["value"])
            rise = series_rise(ew.get("wl", {}).get(ident), v, WATER_RISE_MIN)
            up = max(rise, 0.0)
            w.add(1 - math.exp(-v / 12),
                  f"积水监测 {ident} 水位 {v:.1f} 厘米，{WATER_RISE_MIN} 分钟内上涨 {up:.1f} 厘米",
                  f"water gauge {ident} at {v:.1f} cm, up {up:.1f} cm in {WATER_RISE_MIN} min",
                  {"type": "sensor", "sensor_id": ident, "sensor_type": "water_level", "value": v,
                   "rise": round(rise, 1)})  # fmt: skip
            w.add(0.3, "其他积水点无积水（非降雨），疑似供水管线破裂",
                  "the other gauges are dry (not rain): a burst main?", {"type": "dry_elsewhere"})  # fmt: skip
            for tid, trd in tilts:
                dist = geo.distance_km(lon, lat, float(trd["lon"]), float(trd["lat"]))
                tv = float(trd["value"])
                if dist <= TILT_NEAR_KM and tv >= tilt_warn and now - float(trd["ts"]) <= FRESH_S:
                    w.add(0.3, f"附近井盖 {tid} 倾斜 {tv:.0f}°（{dist * 1000:.0f} 米）",
                          f"manhole cover {tid} {dist * 1000:.0f} m away tilted {tv:.0f}°",
                          {"type": "sensor", "sensor_id": tid, "sensor_type": "manhole_tilt", "value": tv})  # fmt: skip
        elif kind == "heating":
            v = float(rd["value"])
            fall = max(series_fall(ew.get("hs", {}).get(ident), v, SERIES_MIN), 0.0)
            w.add(min(1.0, 0.5 + fall / 30),
                  f"换热站 {ident} 供水温度降至 {v:.1f} °C，{SERIES_MIN} 分钟内下降 {fall:.1f} °C（供暖季），"
                  "小区可能即将停暖",
                  f"heat-exchange station {ident} supply water down to {v:.1f} °C, {fall:.1f} °C lower within "
                  f"{SERIES_MIN} min (heating season): its estate is about to go cold",
                  {"type": "sensor", "sensor_id": ident, "sensor_type": "heat_supply_temp", "value": v,
                   "fall": round(fall, 1)})  # fmt: skip
        elif kind == "noise":
            v = float(rd["value"])
            minutes = max(0, round((now - float((ew.get("loud") or {}).get(ident, since))) / 60))
            w.add(min(1.0, 0.4 + max(0.0, v - NOISE_NIGHT_DB) / 30 + min(0.3, minutes / 60)),
                  f"噪声监测 {ident} 夜间 {v:.0f} dB(A)，已持续 {minutes} 分钟（22:00–06:00 禁止施工）",
                  f"noise pole {ident} at {v:.0f} dB(A) at night for {minutes} min (no construction 22:00–06:00)",
                  {"type": "sensor", "sensor_id": ident, "sensor_type": "noise", "value": v,
                   "minutes": minutes})  # fmt: skip
        else:
            ratio = rd["count"] / rd["capacity"] if rd.get("capacity") else 0.0
            rise = max(series_rise(ew.get("cr", {}).get(ident), ratio, SERIES_MIN), ratio - float(ref) + CROWD_RISE)
            zh_name, en_name = (place.name_zh, place.name_en) if place else (ident, ident)
            w.add(min(1.0, 0.3 + 2 * max(0.0, rise - CROWD_RISE) + max(0.0, ratio - 0.75)),
                  f"{zh_name} 客流达容量的 {ratio:.0%}，{SERIES_MIN} 分钟内上升 {rise * 100:.0f} 个百分点",
                  f"{en_name} at {ratio:.0%} of capacity, up {rise * 100:.0f} points within {SERIES_MIN} min",
                  {"type": "crowd", "spot_id": ident, "ratio": round(ratio, 3), "rise": round(rise, 3)})  # fmt: skip
        out.append(w)
    return _merge_same_cell(out)


def _merge_same_cell(warnings: list[_Warning]) -> list[_Warning]:
    """One warning per kind and cell: two loud poles in one cell are one construction site."""
    by: dict[tuple[str, str | None], _Warning] = {}
    for w in warnings:
        prev = by.get((w.kind, w.cell))
        if prev is None:
            by[(w.kind, w.cell)] = w
            continue
        prev.since = min(prev.since, w.since)
        for s, zh, en, ev in zip(w.scores, w.reasons_zh, w.reasons_en, w.evidence, strict=True):
            prev.add(s, zh, en, ev)
    return list(by.values())


def _chain_since(times: Sequence[float], now: float) -> float:
    """The first ticket of the burst that ends with the latest of `times` (gaps ≤ CHAIN_GAP_S)."""
    ordered = sorted(t for t in times if t <= now)
    if not ordered:
        return now
    since = ordered[-1]
    for t in reversed(ordered[:-1]):
        if since - t > CHAIN_GAP_S:
            break
        since = t
    return since


def _ticket_reason(
    n: int, lam: float, p: float, category: str, window_s: float, where_zh: str, where_en: str
) -> tuple[str, str, dict[str, Any]]:
    """Chinese and English reason of a ticket count in plain words (dashboard/i18n/evidence.py: duty officers are
    not statisticians), with its fields; the figures stay in the fields, for the reason's tooltip."""
    ev: dict[str, Any] = {"type": "tickets", "category": category, "observed": n, "expected": round(lam, 3),
                          "window_min": round(window_s / 60), "p": float(f"{p:.3g}")}
    return ticket_reason(ev, where_zh, "zh"), ticket_reason(ev, where_en, "en"), ev


class _RowTickets:
    """The detector's questions answered from ticket rows (counted afresh each time): what the tests and a tick
    without a kept book give it."""

    def __init__(self, recent: Iterable[tuple[str, str, str, float]], now: float) -> None:
        """From (category, subdistrict, cell, received) rows received in [now - LOOKBACK_S, now]."""
        self.now = now
        self.by_cat: dict[str, list[tuple[float, str, str]]] = {}
        for cat, sub, cell, ts in recent:
            self.by_cat.setdefault(cat, []).append((ts, cell, sub))

    def categories(self) -> list[str]:
        """The categories with tickets, in order."""
        return sorted(self.by_cat)

    def total(self, category: str, span: float) -> int:
        """Tickets of `category` in the last `span` seconds."""
        lo = self.now - span
        return sum(1 for ts, _, _ in self.by_cat.get(category) or () if ts >= lo)

    def hot_regions(self, category: str, span: float) -> Mapping[tuple[str, ...], int]:
        """The cells and 2×2 blocks holding at least MIN_TICKETS of `category` in the window."""
        lo = self.now - span
        return dict(regions(Counter(cell for ts, cell, _ in self.by_cat.get(category) or () if ts >= lo)))

    def count_in(self, category: str, cells: Iterable[str], span: float) -> int:
        """Tickets of `category` in these cells in the window."""
        lo, around = self.now - span, set(cells)
        return sum(1 for ts, cell, _ in self.by_cat.get(category) or () if ts >= lo and cell in around)

    def sub_counts(self, category: str, span: float) -> Mapping[str, int]:
        """Tickets of `category` per subdistrict in the window."""
        lo = self.now - span
        return Counter(sub for ts, _, sub in self.by_cat.get(category) or () if ts >= lo)

    def region_tickets(self, category: str, cells: Iterable[str]) -> Iterable[tuple[float, str, str]]:
        """(received, cell, subdistrict) of the tickets of `category` in these cells."""
        region = set(cells)
        return [item for item in self.by_cat.get(category) or () if item[1] in region]

    def sub_times(self, category: str, sub: str) -> list[float]:
        """The instants of the tickets of `category` in subdistrict `sub`."""
        return [ts for ts, _, s in self.by_cat.get(category) or () if s == sub]

    def share_sums(self, baseline: Baseline) -> dict[tuple[str, tuple[str, ...]], float]:
        """A memo of the regions' shares: a new one each time (the rows are counted afresh anyway)."""
        return {}


class _Tickets(Protocol):
    """What the detector asks of the recent tickets (_RowTickets, or the kept TicketBook)."""

    def categories(self) -> list[str]: ...
    def total(self, category: str, span: float) -> int: ...
    def hot_regions(self, category: str, span: float) -> Mapping[tuple[str, ...], int]: ...
    def count_in(self, category: str, cells: Iterable[str], span: float) -> int: ...
    def sub_counts(self, category: str, span: float) -> Mapping[str, int]: ...
    def region_tickets(self, category: str, cells: Iterable[str]) -> Iterable[tuple[float, str, str]]: ...
    def sub_times(self, category: str, sub: str) -> list[float]: ...
    def share_sums(self, baseline: Baseline) -> dict[tuple[str, tuple[str, ...]], float]: ...


def compute_warnings(
    state: Mapping[str, Any],
    tickets: Iterable[Sequence[Any]],
    baseline: Baseline | None,
    now: float,
    max_warnings: int = MAX_WARNINGS,
) -> WarningsData:
    """The `warnings` aggregate from the fold state (with `track`'s memory), the tickets of the last hours as
    store.tickets.tickets_since rows (category, subdistrict, cell, received_at, …) and the baseline (None: learned on
    the spot from those of these tickets older than LOOKBACK_S, and the priors); most severe first."""
    recent: list[tuple[str, str, str, float]] = []
    older: list[tuple[str, str, str, float]] = []
    for row in tickets:
        ts = as_epoch(row[3])
        if now - LOOKBACK_S <= ts <= now:
            recent.append((str(row[0]), str(row[1]), str(row[2]), ts))
        elif ts < now - LOOKBACK_S:
            older.append((str(row[2]), str(row[1]), str(row[0]), ts))
    if baseline is None or baseline.get("v") != BASELINE_VERSION:
        # Never learned from the tickets being judged: a burst would explain itself away.
        baseline = learn_baseline(older, now - LOOKBACK_S)
    return _detect(state, _RowTickets(recent, now), baseline, now, max_warnings)


def compute_warnings_kept(
    state: Mapping[str, Any], book: TicketBook, baseline: Baseline, now: float, max_warnings: int = MAX_WARNINGS
) -> WarningsData:
    """compute_warnings from the kept recent tickets (workers/early_warning/book.py), its windows brought to `now`
    first, and a learned baseline: the same aggregate as from the book's rows, at a cost that follows the places
    with tickets in the windows."""
    book.move(now)
    return _detect(state, book, baseline, now, max_warnings)


def _detect(
    state: Mapping[str, Any], tickets: _Tickets, baseline: Baseline, now: float, max_warnings: int
) -> WarningsData:
    """The warnings from the sensor conditions, the recent tickets and the baseline."""
    cells_w = _sensor_warnings(state, now)

    # Tickets near each sensor warning, of the category it predicts, support it.
    for w in cells_w:
        around = set(cells_around(w.cell or ""))
        lo = now - SUPPORT_WINDOW_S
        n = tickets.count_in(w.category, around, SUPPORT_WINDOW_S)
        if n:
            lam = max(LAMBDA_FLOOR, expected(baseline, "cell", around, w.category, lo, now))
            p = poisson_sf(n, lam)
            zh, en, ev = _ticket_reason(n, lam, p, w.category, SUPPORT_WINDOW_S, "附近", "nearby")
            w.add(_ticket_score(p), zh, en, ev)

    categories = tickets.categories()
    shares = tickets.share_sums(baseline)  # (category, region) -> the sum of its cells' shares
    # Bursts of tickets: every cell and 2×2 block, per category and window; the most anomalous first.
    for cat in categories:
        candidates: list[tuple[float, tuple[str, ...], int, int, float]] = []
        share = place_share(baseline, "cell", cat)
        for window in TICKET_WINDOWS_S:
            lo = now - window
            if tickets.total(cat, window) < MIN_TICKETS:
                continue
            # The expected count of a region is the same rate times its cells' shares: the rate once a window.
            rate = district_volume(baseline, lo, now) * float(baseline["cat"].get(cat, 0.0))
            for region, n in tickets.hot_regions(cat, window).items():
                known = shares.get((cat, region))
                region_share = known if known is not None else sum(share(x) for x in region)
                shares[cat, region] = region_share
                lam = max(LAMBDA_FLOOR, rate * region_share)
                tail = poisson_sf_below(n, lam, P_WARN)
                if tail is not None:
                    candidates.append((tail, region, window, n, lam))
        candidates.sort(key=lambda x: (x[0], len(x[1]), x[1]))
        taken: set[str] = set()
        for p, region, window, n, lam in candidates:
            if taken & set(region):
                continue
            taken |= set(region)
            if any(w.category == cat and any(near_cells(w.cell or "", x) for x in region) for w in cells_w
                   if w.kind in KIND_CATEGORY):  # fmt: skip
                continue  # already the support of a sensor warning
            burst = list(tickets.region_tickets(cat, region))
            since = _chain_since([ts for ts, _, _ in burst], now)
            first = min((b for b in burst if b[0] >= since), key=lambda b: b[0])
            lon, lat = cell_centre(first[1])
            w = _Warning("cell", CATEGORY_KIND.get(cat, "complaints"), cat, first[1], first[2], lon, lat, since)
            here = "本网格" if len(region) == 1 else "相邻网格"
            zh, en, ev = _ticket_reason(n, lam, p, cat, window, here, "in this grid cell" if len(region) == 1
                                        else "in these grid cells")  # fmt: skip
            ev["cells"] = list(region)
            w.add(_ticket_score(p), zh, en, ev)
            cells_w.append(w)

    # Subdistricts, where no cell of them already warns of that category.
    subs_w: list[_Warning] = []
    for cat in categories:
        best: dict[str, tuple[float, int, int, float]] = {}
        sub_share = place_share(baseline, "sub", cat)
        for window in TICKET_WINDOWS_S:
            lo = now - window
            # expected(baseline, "sub", [sub], cat, lo, now), its first two factors once a window.
            volume = district_volume(baseline, lo, now) * float(baseline["cat"].get(cat, 0.0))
            for sub, n in tickets.sub_counts(cat, window).items():
                if n < MIN_TICKETS:
                    continue
                lam = max(LAMBDA_FLOOR, volume * sub_share(sub))
                tail = poisson_sf_below(n, lam, P_WARN_SUBDISTRICT)
                if tail is not None and (sub not in best or tail < best[sub][0]):
                    best[sub] = (tail, window, n, lam)
        for sub, (p, window, n, lam) in sorted(best.items()):
            if any(w.category == cat and w.subdistrict == sub for w in cells_w):
                continue
            since = _chain_since(tickets.sub_times(cat, sub), now)
            s_obj = geo.subdistrict_by_code().get(sub)
            lon, lat = s_obj.label if s_obj is not None else cell_centre("")
            w = _Warning("subdistrict", CATEGORY_KIND.get(cat, "complaints"), cat, None, sub, lon, lat, since)
            zh_name, en_name = _sub_names(sub)
            zh, en, ev = _ticket_reason(n, lam, p, cat, window, f"{zh_name}", f"in {en_name}")
            w.add(_ticket_score(p), zh, en, ev)
            subs_w.append(w)

    # Alarm bursts in a warning's subdistrict add to it.
    alarms = [a for a in (state.get("alarm_log") or []) if now - float(a.get("ts", 0)) <= ALARM_BURST_S]
    warnings = cells_w + subs_w
    for w in warnings:
        k = len({a.get("id") for a in alarms if a.get("sd") == w.subdistrict})
        if k >= ALARM_BURST_MIN:
            w.add(min(0.3, 0.1 * (k - 1)), f"本街道 30 分钟内 {k} 个传感器报警",
                  f"{k} sensors alarmed in this subdistrict in 30 min", {"type": "alarms", "count": k})  # fmt: skip
    items_out = [w.item() for w in warnings]
    items_out.sort(key=lambda x: (-x["score"], x["since"], x["id"]))
    return WarningsData(warnings=items_out[:max_warnings], count=len(items_out))
