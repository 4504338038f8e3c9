"""Sensor panel: chart patch, alarm list, silent sensors, header summary."""

from __future__ import annotations

from typing import Any

from callbacks.section import Ctx, Section, dedupe
from dashboard.domain import rules as c
from dashboard.live.keys import SensorsData
from layouts import ids
from layouts import sensors as lay


def render(d: SensorsData, ctx: Ctx, prev: Any) -> tuple[list[Any], Any]:
    """Each part is sent only when its own inputs changed (readings change every second, counts rarely)."""
    by_type = repr(sorted((k, sorted(v.items())) for k, v in d["by_type"].items()))
    alarms = repr([(p["id"], p["state"], p["value"]) for p in d["alarms"][: lay.MAX_ALARMS]])
    silent = repr((d["by_state"].get(c.STATE_SILENT), [p["id"] for p in d["silent"][: lay.MAX_SILENT]]))
    return dedupe(
        [
            (lambda: lay.chart_patch(d), by_type),
            (lambda: lay.alarm_rows(d["alarms"], ctx.lang), alarms),
            (lambda: lay.silent_line(d, ctx.lang), silent),
            (lambda: lay.summary(d, ctx.lang), f"{d['online']}/{d['total']}"),
        ],
        prev,
    )


SECTIONS = (
    Section(
        "sensors",
        c.AGG_SENSORS,
        (
            (ids.SENSORS_CHART, "figure"),
            (ids.SENSORS_ALARMS, "children"),
            (ids.SENSORS_SILENT, "children"),
            (ids.SENSORS_SUMMARY, "children"),
        ),
        render,
    ),
)
