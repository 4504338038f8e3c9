"""Traffic panel: 3-hour series, worst corridors, summary; parking list from its own aggregate."""

from __future__ import annotations

from typing import Any

from callbacks.section import Ctx, Section, dedupe
from dashboard.domain import rules as c
from dashboard.live.keys import ParkingData, TrafficData
from layouts import ids
from layouts import traffic as lay


def render(d: TrafficData, ctx: Ctx, prev: Any) -> tuple[list[Any], Any]:
    """The series only moves once a minute; corridors and the summary every tick."""
    series = d["series"]
    # The chart shows one decimal; the last minute's value wobbles below that every second.
    series_sig = f"{len(series)}:{series[0][0] if series else ''}:{round(series[-1][1], 1) if series else ''}"
    cors = repr([(x["id"], round(x["index"], 1), x["band"]) for x in d["corridors"][: lay.MAX_CORRIDORS]])
    return dedupe(
        [
            (lambda: lay.series_patch(d), series_sig),
            (lambda: lay.corridor_rows(d, ctx.lang), cors),
            (lambda: lay.summary(d, ctx.lang), f"{d['district_index']:.1f}{d['band']}"),
        ],
        prev,
    )


def render_parking(d: ParkingData, ctx: Ctx, prev: Any) -> tuple[list[Any], Any]:
    """The fullest hospital car parks, when what they show changed."""
    sig = repr([(lot["id"], round(lot["ratio"], 2), lot["capacity"] - lot["occupied"]) for lot in d["lots"]])
    return dedupe([(lambda: lay.parking_rows(d, ctx.lang), sig)], prev)


SECTIONS = (
    Section(
        "traffic",
        c.AGG_TRAFFIC,
        ((ids.TRAFFIC_SERIES, "figure"), (ids.TRAFFIC_CORRIDORS, "children"), (ids.TRAFFIC_SUMMARY, "children")),
        render,
    ),
    Section("parking", c.AGG_PARKING, ((ids.TRAFFIC_PARKING, "children"),), render_parking),
)
