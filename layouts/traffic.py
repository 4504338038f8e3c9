"""Traffic panel: district index over the last 3 h, the worst corridors by band, parking near hospitals; the
frame, the renderers and the two sections (traffic, parking) of the wall's refresh."""

from __future__ import annotations

from typing import Any, Final

from dash import Patch, html

from dashboard.domain import geo
from dashboard.domain.rules import TRAFFIC_BANDS
from dashboard.i18n import fmt_int, fmt_num, fmt_pct, name, t, to_beijing
from dashboard.live.schema import AGG_PARKING, AGG_TRAFFIC, LotStatus, ParkingData, TrafficData
from layouts import ids, names
from layouts.common import (
    BAND_COLOURS,
    GREY,
    GRID,
    MUTED,
    figure,
    graph,
    panel,
    px,
    ratio_colour,
    sub_title,
    summary_parts,
)
from layouts.el import Element, div, span
from layouts.section import Ctx, Section, dedupe

MAX_CORRIDORS: Final = 4
MAX_LOTS: Final = 3


def series_chart(lang: str, scale: float) -> dict[str, Any]:
    """The district index line over the last 3 hours, with faint band edges."""
    shapes = [
        {
            "type": "line",
            "xref": "paper",
            "x0": 0,
            "x1": 1,
            "y0": upper,
            "y1": upper,
            "line": {"color": BAND_COLOURS[label], "width": 1, "dash": "dot"},
            "opacity": 0.45,
        }
        for upper, label in TRAFFIC_BANDS[:-1]
    ]
    data = [
        {
            "type": "scatter",
            "mode": "lines",
            "x": [],
            "y": [],
            "line": {"color": "#38bdf8", "width": px(3, scale), "shape": "spline", "smoothing": 0.6},
            "fill": "tozeroy",
            "fillcolor": "rgba(56,189,248,0.12)",
        }
    ]
    return figure(
        scale,
        data,
        shapes=shapes,
        # Room on the right for the last time label, which plotly centres on its tick.
        margin={"l": px(30, scale), "r": px(26, scale), "t": px(4, scale), "b": px(26, scale), "pad": 0},
        xaxis={
            "type": "category",
            "nticks": 4,
            "ticklen": 0,
            "tickfont": {"size": px(18, scale), "color": MUTED},
            "showgrid": False,
            "fixedrange": True,
            "automargin": False,
        },
        yaxis={
            "range": [0, 10],
            "tickvals": [0, 5, 10],
            "tickfont": {"size": px(18, scale), "color": MUTED},
            "gridcolor": GRID,
            "showgrid": False,
            "fixedrange": True,
            "automargin": False,
        },
    )


def traffic_panel(lang: str, scale: float) -> html.Section:
    """The panel frame: series, corridors, parking."""
    body = html.Div(
        [
            sub_title(t("tra.series", lang)),
            html.Div(graph(ids.TRAFFIC_SERIES, series_chart(lang, scale)), className="traffic-series"),
            sub_title(t("tra.corridors", lang)),
            html.Div(id=ids.TRAFFIC_CORRIDORS, className="row-list corridor-list"),
            sub_title(t("tra.parking", lang)),
            html.Div(id=ids.TRAFFIC_PARKING, className="row-list parking-list"),
        ],
        className="stack",
    )
    summary = html.Span(id=ids.TRAFFIC_SUMMARY, className="panel-chip chip-parts")
    return panel(ids.PANEL_TRAFFIC, t("panel.traffic", lang), body, lang, extra=summary, size="panel-lg")


def series_patch(d: TrafficData) -> Patch:
    """New x (Beijing HH:MM) and y of the 3-hour line."""
    p = Patch()
    series = d["series"]
    # The epoch second each minute starts at (workers/traffic.py) → Beijing clock labels; a category axis keeps
    # plotly from parsing dates in the browser.
    p["data"][0]["x"] = [to_beijing(m).strftime("%H:%M") for m, _ in series]
    p["data"][0]["y"] = [round(v, 1) for _, v in series]
    return p


def _meter_row(label: str, ratio: float, colour: str, value: str, extra: str, extra_colour: str | None) -> Element:
    """Name, a bar filled to `ratio` in `colour`, the value and a note."""
    return div(
        [
            span(label, "row-main"),
            span(span(None, style={"width": f"{min(100.0, max(0.0, ratio * 100)):.0f}%", "background": colour}),
                 "meter"),
            span(value, "row-value", {"color": colour}),
            span(extra, "row-place", {"color": extra_colour} if extra_colour else None),
        ],
        "list-row meter-row",
    )


def corridor_rows(d: TrafficData, lang: str) -> list[Element]:
    """Worst corridors first: name, a bar of the 0–10 index in its band colour, the index and band."""
    out = []
    for cor in d["corridors"][:MAX_CORRIDORS]:
        colour = BAND_COLOURS.get(cor["band"], GREY)
        label = names.short(cor["name_en"] if lang == "en" else cor["name_zh"])
        band = name("band", cor["band"], lang)
        out.append(_meter_row(label, cor["index"] / 10, colour, fmt_num(cor["index"], lang), band, colour))
    return out or [div(t("panel.empty", lang), "list-empty")]


def hospital_lots(d: ParkingData) -> list[LotStatus]:
    """The car parks at hospitals, fullest first (the map shows every car park: schools and stations too)."""
    places = geo.place_by_id()
    lots = [lot for lot in d["lots"] if getattr(places.get(lot["id"]), "type", None) == "hospital"]
    return sorted(lots, key=lambda lot: -lot["ratio"])


def parking_rows(d: ParkingData, lang: str) -> list[Element]:
    """Fullest hospital car parks first: name, occupancy bar, percentage and free spaces."""
    out = []
    for lot in hospital_lots(d)[:MAX_LOTS]:
        label = names.short(lot["name_en"] if lang == "en" else lot["name_zh"])
        free = t("tra.free", lang, n=fmt_int(max(0, lot["capacity"] - lot["occupied"])))
        pct = fmt_pct(lot["ratio"], lang, 0)
        out.append(_meter_row(label, lot["ratio"], ratio_colour(lot["ratio"]), pct, free, None))
    return out or [div(t("panel.empty", lang), "list-empty")]


def summary(d: TrafficData, lang: str) -> list[Element]:
    """"指数 5.3 · 轻度拥堵" in the band colour; the band name gives way first when the header is tight."""
    return summary_parts(
        f"{t('tra.index', lang)} {fmt_num(d['district_index'], lang)} · {name('band', d['band'], lang)}",
        style={"color": BAND_COLOURS.get(d["band"], GREY)},
    )


# --- the wall refresh's sections (callbacks/refresh.py): this panel's outputs from its aggregate ---------


def render(d: TrafficData, ctx: Ctx, prev: Any) -> tuple[list[Any], Any]:
    """The series only moves once a minute; corridors and the summary every tick."""
    series = d["series"]
    # The chart shows one decimal; the last minute's value wobbles below that every second.
    series_sig = f"{len(series)}:{series[0][0] if series else ''}:{round(series[-1][1], 1) if series else ''}"
    cors = repr([(x["id"], round(x["index"], 1), x["band"]) for x in d["corridors"][:MAX_CORRIDORS]])
    return dedupe(
        [
            (lambda: series_patch(d), series_sig),
            (lambda: corridor_rows(d, ctx.lang), cors),
            (lambda: summary(d, ctx.lang), f"{d['district_index']:.1f}{d['band']}"),
        ],
        prev,
    )


def render_parking(d: ParkingData, ctx: Ctx, prev: Any) -> tuple[list[Any], Any]:
    """The fullest hospital car parks, when what they show changed."""
    sig = repr([(lot["id"], round(lot["ratio"], 2), lot["capacity"] - lot["occupied"]) for lot in d["lots"]])
    return dedupe([(lambda: parking_rows(d, ctx.lang), sig)], prev)


SECTIONS = (
    Section(
        "traffic",
        AGG_TRAFFIC,
        ((ids.TRAFFIC_SERIES, "figure"), (ids.TRAFFIC_CORRIDORS, "children"), (ids.TRAFFIC_SUMMARY, "children")),
        render,
    ),
    Section("parking", AGG_PARKING, ((ids.TRAFFIC_PARKING, "children"),), render_parking),
)
