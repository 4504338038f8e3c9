"""Incidents panel: the sorted list and the header summary."""

from __future__ import annotations

from typing import Any

from callbacks.section import Ctx, Section
from dashboard.domain import rules as c
from dashboard.live.keys import IncidentsData
from layouts import ids
from layouts import incidents as lay


def render(d: IncidentsData, ctx: Ctx, prev: Any) -> tuple[list[Any], Any]:
    """Rows and summary (the aggregate changes only when an incident does, so both are sent)."""
    return [lay.rows(d, ctx.lang, ctx.now), lay.summary(d, ctx.lang)], None


SECTIONS = (
    Section(
        "incidents",
        c.AGG_INCIDENTS,
        ((ids.INCIDENTS_LIST, "children"), (ids.INCIDENTS_SUMMARY, "children")),
        render,
    ),
)
