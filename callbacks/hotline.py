"""Hotline panel: categories, subdistricts, hourly today vs yesterday, overdue and rates."""

from __future__ import annotations

from typing import Any

from callbacks.section import Ctx, Section, dedupe
from dashboard.domain import rules as c
from dashboard.live.keys import HotlineData
from layouts import hotline as lay
from layouts import ids


def render(d: HotlineData, ctx: Ctx, prev: Any) -> tuple[list[Any], Any]:
    """Each chart is sent only when its own counts changed."""
    rates = (d["overdue"], d["response_rate"], d["resolution_rate"], d["satisfaction_rate"])
    return dedupe(
        [
            (lambda: lay.categories_patch(d, ctx.lang), repr(sorted(d["by_category"].items()))),
            (lambda: lay.subdistricts_patch(d, ctx.lang), repr(sorted(d["by_subdistrict"].items()))),
            (lambda: lay.hourly_patch(d), repr((d["hourly"], d["hourly_yesterday"]))),
            (lambda: lay.rates_row(d, ctx.lang), repr(rates)),
        ],
        prev,
    )


SECTIONS = (
    Section(
        "hotline",
        c.AGG_HOTLINE,
        (
            (ids.HOTLINE_CATEGORIES, "figure"),
            (ids.HOTLINE_SUBDISTRICTS, "figure"),
            (ids.HOTLINE_HOURLY, "figure"),
            (ids.HOTLINE_SUMMARY, "children"),
        ),
        render,
    ),
)
