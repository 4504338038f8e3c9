"""Ticker: the latest events."""

from __future__ import annotations

from typing import Any

from callbacks.section import Ctx, Section
from dashboard.domain import rules as c
from dashboard.live.keys import TickerData
from layouts import ids
from layouts import ticker as lay


def render(d: TickerData, ctx: Ctx, prev: Any) -> tuple[list[Any], Any]:
    """Newest first."""
    return [lay.items(d, ctx.lang)], None


SECTIONS = (Section("ticker", c.AGG_TICKER, ((ids.TICKER_ITEMS, "children"),), render),)
