"""Shared pieces of the screens: palette, panel frame, freshness badge and plain-dict plotly figures."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from dash import dcc, html

from dashboard.i18n import t
from layouts import ids
from layouts.el import Element, span

# Fixed meanings (DESIGN 3a): severity I red, II orange, III yellow, IV blue; green normal; grey stale/offline.
SEV_COLOURS: Final = {1: "#e53935", 2: "#fb8c00", 3: "#fdd835", 4: "#1e88e5"}
STATE_COLOURS: Final = {"normal": "#43b649", "warning": "#ffb300", "alarm": "#e53935", "silent": "#78909c"}
BAND_COLOURS: Final = {
    "smooth": "#43b649",
    "basically_smooth": "#9ccc65",
    "light": "#fdd835",
    "moderate": "#fb8c00",
    "severe": "#e53935",
}
# Occupancy and crowd levels reuse the state colours: full is an alarm, nearly full a warning.
CROWD_COLOURS: Final = {"low": "#43b649", "medium": "#9ccc65", "high": "#ffb300", "critical": "#e53935"}
GREY: Final = "#78909c"
TEXT: Final = "#e6edf7"
MUTED: Final = "#9aabc6"
DIM: Final = "#62739a"
ACCENT: Final = "#38bdf8"
GRID: Final = "rgba(154,171,198,0.14)"
FONT: Final = (
    '"Microsoft YaHei", "PingFang SC", "Noto Sans CJK SC", "Source Han Sans SC", "Noto Sans SC", '
    "Roboto, Arial, sans-serif"
)

# Charts on the wall: no toolbar, no hover (nobody touches it), static rendering is also cheaper.
GRAPH_CONFIG: Final[Any] = {"displayModeBar": False, "staticPlot": True, "responsive": True}

# Sizes are designed at 1080p and multiplied by the screen scale (height / 1080).
BASE_FONT_PX: Final = 18


def px(size: float, scale: float) -> float:
    """A 1080p pixel size scaled to the screen."""
    return round(size * scale, 1)


def ratio_colour(ratio: float | None) -> str:
    """Colour of an occupancy ratio: green, amber from 85 %, red from 95 %."""
    if ratio is None:
        return GREY
    if ratio >= 0.95:
        return STATE_COLOURS["alarm"]
    if ratio >= 0.85:
        return STATE_COLOURS["warning"]
    return STATE_COLOURS["normal"]


def aria(**attrs: str) -> dict[str, Any]:
    """aria-* attributes for a Dash html component: aria(label="…") -> {"aria-label": "…"}."""
    return {f"aria-{k}": v for k, v in attrs.items()}


def data_attrs(**attrs: str) -> dict[str, Any]:
    """HTML data-* attributes for a Dash component: data_attrs(sev="1") -> {"data-sev": "1"}."""
    return {f"data-{k.replace('_', '-')}": v for k, v in attrs.items()}


def freshness_badge(panel_id: str, lang: str) -> html.Span:
    """The "3 秒前" badge of a panel; the browser fills and colours it every second."""
    return html.Span(t("fresh.none", lang), id=ids.FRESHNESS[panel_id], className="freshness stale")


def panel(
    panel_id: str,
    title: str,
    body: Any,
    lang: str,
    *,
    extra: Any = None,
    size: str = "",
    body_class: str = "",
) -> html.Section:
    """A titled panel with its freshness badge; `extra` sits in the header between title and badge."""
    header: list[Any] = [html.H2(title, className="panel-title")]
    if extra is not None:
        header.append(html.Div(extra, className="panel-extra"))
    header.append(freshness_badge(panel_id, lang))
    return html.Section(
        [
            html.Header(header, className="panel-header"),
            html.Div(body, className=f"panel-body {body_class}".strip()),
        ],
        id=panel_id,
        className=f"panel {size}".strip(),
        **data_attrs(stale_label=t("fresh.stale_label", lang)),
    )


def summary_parts(text: str, sep: str = " · ", style: dict[str, Any] | None = None) -> list[Element]:
    """A header summary ("未结 3 · 超时 1 · 今日 12") as parts, most important first.

    In a `.panel-chip.chip-parts` the parts sit on one line and the ones that no longer fit drop out whole,
    last first, so the panel title is never cut and a number is never cut in half.
    """
    pieces = [p for p in text.split(sep) if p]
    return [span(p if i == 0 else [sep, p], "chip-part", style) for i, p in enumerate(pieces)]


def sub_title(text: str) -> html.Div:
    """A small heading inside a panel body."""
    return html.Div(text, className="sub-title")


def graph(graph_id: str, figure: dict[str, Any], class_name: str = "chart") -> dcc.Graph:
    """A chart filling its box; its figure is a plain dict that refreshes patch in place."""
    return dcc.Graph(
        id=graph_id,
        figure=figure,
        config=GRAPH_CONFIG,
        className=class_name,
        style={"height": "100%", "width": "100%"},
    )


def text_px(text: str, size: float) -> float:
    """Rough rendered width of a label: CJK glyphs are one em wide, Latin and digits about 0.6 em."""
    return sum(size if ord(ch) >= 0x2E80 else 0.6 * size for ch in text)


def label_margin(labels: Iterable[str], size: float) -> float:
    """A left margin that fits the longest of every label a chart can ever show.

    Margins are fixed rather than plotly's automargin: automargin re-lays the chart out over several
    frames after each update, so bars would jump sideways whenever a label changes.
    """
    return round(max((text_px(x, size) for x in labels), default=0.0) + size * 0.8, 1)


def axis(scale: float, **extra: Any) -> dict[str, Any]:
    """A quiet dark axis with readable tick labels."""
    base: dict[str, Any] = {
        "showgrid": False,
        "zeroline": False,
        "showline": False,
        "ticks": "",
        "tickfont": {"size": px(BASE_FONT_PX, scale), "color": MUTED},
        "automargin": False,
        "fixedrange": True,
    }
    base.update(extra)
    return base


def figure(scale: float, data: list[dict[str, Any]], **layout: Any) -> dict[str, Any]:
    """A plotly figure as a plain dict: transparent background, big CJK-capable fonts, no legend."""
    lay: dict[str, Any] = {
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "font": {"family": FONT, "size": px(BASE_FONT_PX, scale), "color": TEXT},
        "margin": {"l": px(8, scale), "r": px(12, scale), "t": px(6, scale), "b": px(6, scale), "pad": 0},
        "showlegend": False,
        "xaxis": axis(scale),
        "yaxis": axis(scale),
        "bargap": 0.28,
        "hovermode": False,
        "uirevision": "wall",
        "transition": {"duration": 0},
    }
    lay.update(layout)
    return {"data": data, "layout": lay}


def hbar_figure(scale: float, data: list[dict[str, Any]], labels: Iterable[str], **layout: Any) -> dict[str, Any]:
    """Horizontal bars read top-down: names on the left (18 px), no value axis, nothing zoomable."""
    size = px(18, scale)
    return figure(
        scale,
        data,
        bargap=0.3,
        margin={"l": label_margin(labels, size), "r": px(8, scale), "t": px(2, scale), "b": px(2, scale), "pad": 0},
        yaxis={
            "autorange": "reversed",
            "tickfont": {"size": size, "color": "#c9d6ea"},
            "automargin": False,
            "fixedrange": True,
            "ticksuffix": " ",
        },
        xaxis={"visible": False, "fixedrange": True, "rangemode": "tozero"},
        **layout,
    )


def logout_button(lang: str, class_name: str) -> html.Form:
    """Sign out: a form that POSTs /logout; assets/logout.js adds the session's CSRF token (without it the server
    asks again on its own page)."""
    return html.Form(
        html.Button(t("page.logout", lang), type="submit", className=f"{class_name} logout-button"),
        action="/logout",
        method="post",
        className="logout-form",
    )


def lang_switch(lang: str, path: str = "/wall") -> html.Div:
    """Two plain links: the /lang route stores the choice in the session and comes back."""
    return html.Div(
        [
            html.A(t("lang.zh", lang), href=f"/lang/zh?next={path}", className="active" if lang == "zh" else ""),
            html.A(t("lang.en", lang), href=f"/lang/en?next={path}", className="active" if lang == "en" else ""),
        ],
        id=ids.LANG_SWITCH,
        className="lang-switch",
    )
