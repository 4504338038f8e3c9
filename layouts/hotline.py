"""Hotline panel (接诉即办 · 12345): tickets by category and subdistrict, today vs yesterday, overdue, rates; the
frame, the renderers and its section of the wall's refresh."""

from __future__ import annotations

from typing import Any, Final

from dash import Patch, html

from dashboard.domain import rules as c
from dashboard.i18n import fmt_int, fmt_pct, name, t
from dashboard.live.schema import AGG_HOTLINE, HotlineData
from layouts import ids, names
from layouts.common import ACCENT, DIM, MUTED, STATE_COLOURS, figure, graph, hbar_figure, panel, px, sub_title
from layouts.el import Element, el, span
from layouts.section import Ctx, Section, dedupe

MAX_CATEGORIES: Final = 6
MAX_SUBDISTRICTS: Final = 4
HOUR_TICKS: Final = (0, 6, 12, 18, 23)
# Ticket counts in the heatmap's violet: volume, not a state, so none of the meaning colours.
BAR: Final = "#8b7cf6"


def category_label(key: str, lang: str) -> str:
    """A category as the chart names it: the full English names ("Public services") would take the column's width
    from the bars (the chart's margin fits the longest name it can ever show), so one short word each."""
    return name("hl_short", key, lang)


def _hbar(scale: float, colour: str, labels: list[str]) -> dict[str, Any]:
    """A horizontal bar chart with names on the left and counts at the bar ends (values patched in)."""
    data = [
        {
            "type": "bar",
            "orientation": "h",
            "y": [],
            "x": [],
            "marker": {"color": colour, "line": {"width": 0}},
            "text": [],
            # A count sits inside the end of a long bar and after a short one: with long English names the plot
            # is narrow, and a count after the longest bar would be cut at the panel's edge.
            "textposition": "auto",
            "insidetextanchor": "end",
            "cliponaxis": False,
            # Never shrink the counts: the x range leaves room for the ones after their bars (see _bars_patch).
            "constraintext": "none",
            "textangle": 0,
            "textfont": {"size": px(18, scale), "color": "#e6edf7"},
            "insidetextfont": {"size": px(18, scale), "color": "#0b1020"},
            "outsidetextfont": {"size": px(18, scale), "color": "#e6edf7"},
        }
    ]
    return hbar_figure(scale, data, labels)


def categories_chart(lang: str, scale: float) -> dict[str, Any]:
    """Tickets today by category (bars patched in), its margin fitting the longest name a category can have."""
    return _hbar(scale, BAR, [category_label(k, lang) for k in c.HOTLINE_CATEGORIES])


def hourly_chart(lang: str, scale: float) -> dict[str, Any]:
    """Tickets per Beijing hour: today as bars, yesterday as a grey line for comparison."""
    hours = list(range(24))
    data = [
        {
            "type": "scatter",
            "mode": "lines",
            "x": hours,
            "y": [0] * 24,
            "name": t("hot.yesterday", lang),
            "line": {"color": DIM, "width": px(2.5, scale), "shape": "hv"},
        },
        {
            "type": "bar",
            "x": hours,
            "y": [0] * 24,
            "name": t("hot.today", lang),
            "marker": {"color": ACCENT, "line": {"width": 0}},
        },
    ]
    return figure(
        scale,
        data,
        bargap=0.2,
        showlegend=True,
        legend={
            "orientation": "h",
            "x": 0,
            "y": 1.02,
            "yanchor": "bottom",
            "font": {"size": px(18, scale), "color": MUTED},
            "bgcolor": "rgba(0,0,0,0)",
        },
        margin={"l": px(4, scale), "r": px(10, scale), "t": px(26, scale), "b": px(24, scale), "pad": 0},
        xaxis={
            # The hours of the Beijing day (the heading says "hourly": a unit on each tick does not fit the column).
            "tickvals": list(HOUR_TICKS),
            "ticktext": [str(h) for h in HOUR_TICKS],
            "tickfont": {"size": px(18, scale), "color": MUTED},
            "fixedrange": True,
            "automargin": False,
            "range": [-0.6, 23.6],
        },
        yaxis={"visible": False, "fixedrange": True, "rangemode": "tozero"},
        # Shown while yesterday has no tickets, at the top right where the hours still to come leave room (a longer
        # legend entry would not fit the column beside today's).
        annotations=[{"text": t("hot.yesterday_none", lang), "visible": False, "showarrow": False, "xref": "paper",
                      "yref": "paper", "x": 1, "y": 1, "xanchor": "right", "yanchor": "top",
                      "font": {"size": px(16, scale), "color": MUTED}, "bgcolor": "rgba(11, 18, 32, 0.8)"}],
    )


def hotline_panel(lang: str, scale: float) -> html.Section:
    """The panel frame: categories on the left, hourly and subdistricts on the right, rates below."""
    body = html.Div(
        [
            html.Div(id=ids.HOTLINE_SUMMARY, className="rates-row"),
            html.Div(
                [
                    html.Div(
                        [
                            sub_title(t("hot.by_category", lang)),
                            html.Div(
                                graph(
                                    ids.HOTLINE_CATEGORIES,
                                    categories_chart(lang, scale),
                                ), className="grow"
                            ),
                        ],
                        className="stack",
                    ),
                    html.Div(
                        [
                            sub_title(t("hot.hourly", lang)),
                            html.Div(graph(ids.HOTLINE_HOURLY, hourly_chart(lang, scale)), className="grow"),
                            sub_title(t("hot.by_subdistrict", lang)),
                            html.Div(
                                graph(
                                    ids.HOTLINE_SUBDISTRICTS,
                                    _hbar(scale, BAR, [names.subdistrict(k, lang) for k in names.subdistrict_codes()]),
                                ), className="grow"
                            ),
                        ],
                        className="stack",
                    ),
                ],
                className="two-col",
            ),
        ],
        className="stack",
    )
    return panel(ids.PANEL_HOTLINE, t("panel.hotline", lang), body, lang, size="panel-lg")


def _top(counts: dict[str, int], n: int) -> list[tuple[str, int]]:
    """The n largest counts, largest first (ties by key so the order is stable)."""
    return sorted(((k, v) for k, v in counts.items() if v), key=lambda kv: (-kv[1], kv[0]))[:n]


def _bars_patch(labels: list[str], values: list[int], lang: str) -> Patch:
    """Bars, their count labels and an x range with room for the labels."""
    p = Patch()
    p["data"][0]["y"] = labels
    p["data"][0]["x"] = values
    p["data"][0]["text"] = [fmt_int(v) for v in values]
    p["layout"]["xaxis"]["range"] = [0, max(values, default=1) * 1.3]
    return p


def categories_patch(d: HotlineData, lang: str) -> Patch:
    """Tickets today by category, largest first."""
    top = _top(d["by_category"], MAX_CATEGORIES)
    return _bars_patch([category_label(k, lang) for k, _ in top], [v for _, v in top], lang)


def subdistricts_patch(d: HotlineData, lang: str) -> Patch:
    """Tickets today by subdistrict, largest first."""
    top = _top(d["by_subdistrict"], MAX_SUBDISTRICTS)
    return _bars_patch([names.subdistrict(k, lang) for k, _ in top], [v for _, v in top], lang)


def hourly_patch(d: HotlineData) -> Patch:
    """Today's and yesterday's hourly counts, and a note while yesterday has none (a legend entry with no line would
    read as a line hidden somewhere)."""
    p = Patch()
    p["data"][0]["y"] = list(d["hourly_yesterday"])
    p["data"][1]["y"] = list(d["hourly"])
    p["layout"]["annotations"][0]["visible"] = not any(d["hourly_yesterday"])
    return p


def rates_row(d: HotlineData, lang: str) -> list[Element]:
    """Overdue tickets (red when any) and the three 接诉即办 rates."""
    overdue = d["overdue"]

    def rate(key: str, value: float | None) -> Element:
        return span([span(t(key, lang), "rate-label"), el("B", fmt_pct(value, lang))], "rate")

    return [
        span(
            t("hot.overdue", lang, n=fmt_int(overdue)),
            "overdue-chip",
            {"color": STATE_COLOURS[c.STATE_ALARM] if overdue else STATE_COLOURS[c.STATE_NORMAL]},
        ),
        rate("hot.response", d["response_rate"]),
        rate("hot.resolution", d["resolution_rate"]),
        rate("hot.satisfaction", d["satisfaction_rate"]),
    ]


# --- the wall refresh's sections (callbacks/refresh.py): this panel's outputs from its aggregate ---------


def render(d: HotlineData, ctx: Ctx, prev: Any) -> tuple[list[Any], Any]:
    """Each chart is sent only when its own counts changed."""
    rates = (d["overdue"], d["response_rate"], d["resolution_rate"], d["satisfaction_rate"])
    return dedupe(
        [
            (lambda: categories_patch(d, ctx.lang), repr(sorted(d["by_category"].items()))),
            (lambda: subdistricts_patch(d, ctx.lang), repr(sorted(d["by_subdistrict"].items()))),
            (lambda: hourly_patch(d), repr((d["hourly"], d["hourly_yesterday"]))),
            (lambda: rates_row(d, ctx.lang), repr(rates)),
        ],
        prev,
    )


SECTIONS = (
    Section(
        "hotline",
        AGG_HOTLINE,
        (
            (ids.HOTLINE_CATEGORIES, "figure"),
            (ids.HOTLINE_SUBDISTRICTS, "figure"),
            (ids.HOTLINE_HOURLY, "figure"),
            (ids.HOTLINE_SUMMARY, "children"),
        ),
        render,
    ),
)
