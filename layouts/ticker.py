"""The thin ticker of the latest events along the bottom of the wall (one line, no scrolling motion), and its
section of the wall's refresh."""

from __future__ import annotations

from typing import Any, Final

from dash import html

from dashboard.domain.rules import SEVERITY_ROMAN
from dashboard.i18n import fmt_time, t
from dashboard.live.schema import AGG_TICKER, TickerData
from layouts import ids
from layouts.common import data_attrs, freshness_badge
from layouts.el import Element, span
from layouts.section import Ctx, Section

# More than fit on one line at 1080p; the line is clipped, newest first, so the newest are always seen.
MAX_ITEMS: Final = 12


def ticker(lang: str) -> html.Div:
    """The bar: label, items, freshness."""
    return html.Div(
        [
            html.Span(t("tick.label", lang), className="ticker-label"),
            html.Div(id=ids.TICKER_ITEMS, className="ticker-items"),
            freshness_badge(ids.PANEL_TICKER, lang),
        ],
        id=ids.PANEL_TICKER,
        className="ticker",
        **data_attrs(stale_label=t("fresh.stale_label", lang)),
    )


def items(d: TickerData, lang: str) -> list[Element]:
    """Newest first: Beijing time, a severity badge for incidents, the text in the UI language."""
    out: list[Element] = []
    for it in d["items"][:MAX_ITEMS]:
        parts: list[Any] = [span(fmt_time(it["ts"], lang, seconds=False), "ticker-time")]
        sev = it.get("severity")
        if sev:
            parts.append(span(SEVERITY_ROMAN.get(sev, str(sev)), f"sev-bg-{sev}"))
        parts.append(it["text_en"] if lang == "en" else it["text_zh"])
        out.append(span(parts, "ticker-item"))
    return out or [span(t("tick.none", lang), "ticker-item")]


# --- the wall refresh's sections (callbacks/refresh.py): this panel's outputs from its aggregate ---------


def render(d: TickerData, ctx: Ctx, prev: Any) -> tuple[list[Any], Any]:
    """Newest first."""
    return [items(d, ctx.lang)], None


SECTIONS = (Section("ticker", AGG_TICKER, ((ids.TICKER_ITEMS, "children"),), render),)
