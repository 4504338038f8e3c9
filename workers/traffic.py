"""Traffic aggregate: congestion per corridor and the district index on Beijing's 0–10 scale (the index itself is
dashboard.domain.traffic's, shared with the daily report)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from dashboard.domain import geo
from dashboard.domain.events import Event
from dashboard.domain.traffic import (
    CORRIDOR_STALE_AFTER_S,
    band_of,
    corridor_index,
    district_index,
    free_flow,
)
from dashboard.live.schema import CorridorStatus, TrafficData

# The per-minute district-index series covers this many seconds.
SERIES_WINDOW_S: Final = 3 * 3600


def fold_speed(state: dict[str, Any], ev: Event) -> None:
    """Fold one traffic_speed event into the state (in place), closing the per-minute series as time moves.

    A minute's series value is the district index once every event stamped in that minute has been folded,
    so it is recorded when the first event of a later minute arrives; the still-open minute is added by
    compute_traffic. This keeps the fold a pure sequence: folding in chunks equals folding all at once.
    """
    minute = int(ev["ts"] // 60) * 60
    open_minute = state["minute"]
    if open_minute is None:
        state["minute"] = minute
    elif minute > open_minute:
        series: list[list[float]] = state["series"]
        series.append([open_minute, district_index(state["corridors"], open_minute + 60)])
        cutoff = minute - SERIES_WINDOW_S
        while series and series[0][0] < cutoff:
            series.pop(0)
        state["minute"] = minute
    corridors: dict[str, dict[str, Any]] = state["corridors"]
    prev = corridors.get(ev["corridor_id"])
    if prev is None or ev["ts"] >= prev["ts"]:
        corridors[ev["corridor_id"]] = {"speed": ev["speed_kmh"], "ts": ev["ts"]}


def compute_traffic(state: Mapping[str, Any], now: float) -> TrafficData:
    """The `traffic` aggregate: corridors worst first, district index and band, the 3-hour series."""
    obs: Mapping[str, Mapping[str, Any]] = state["corridors"]
    items: list[CorridorStatus] = []
    for cor in geo.corridors():
        o = obs.get(cor.id)
        fresh = o is not None and now - o["ts"] <= CORRIDOR_STALE_AFTER_S
        speed = float(o["speed"]) if o is not None and fresh else None
        ff = free_flow(cor.id)
        idx = corridor_index(speed, ff) if speed is not None else 0.0
        items.append(
            CorridorStatus(
                id=cor.id,
                name_zh=cor.name_zh,
                name_en=cor.name_en,
                speed_kmh=None if speed is None else round(speed, 1),
                free_flow_kmh=ff,
                index=idx,
                band=band_of(idx),
            )
        )
    # Worst first; corridors without a current speed go last.
    items.sort(key=lambda s: (s["speed_kmh"] is None, -s["index"], s["id"]))
    d_idx = district_index(obs, now)
    cutoff = now - SERIES_WINDOW_S
    series = [[float(m), float(v)] for m, v in state["series"] if m >= cutoff]
    if state["minute"] is not None and state["minute"] >= cutoff:
        series.append([float(state["minute"]), d_idx])
    return TrafficData(district_index=d_idx, band=band_of(d_idx), corridors=items, series=series)
