"""Live sensor panel (一杆多感): counts by type and state, the alarm list and the silent sensors;
the frame, the renderers and its section of the wall's refresh."""

from __future__ import annotations

from collections import Counter
from typing import Any, Final

from dash import Patch, html

from dashboard.domain import rules as c
from dashboard.i18n import fmt_int, fmt_num, name, t
from dashboard.live.schema import AGG_SENSORS, SensorPoint, SensorsData
from layouts import ids, names
from layouts.common import STATE_COLOURS, graph, hbar_figure, panel, px, sub_title
from layouts.el import Element, div, span
from layouts.section import Ctx, Section, dedupe

# The chart shows what needs attention: per type, sensors in alarm, warning and silent (the normal ones
# are the rest of the header's "在线" count; as a bar they would dwarf the few that matter).
# The trace order is fixed so that refreshes can patch x.
STATES: Final = (c.STATE_ALARM, c.STATE_WARNING, c.STATE_SILENT)
TYPES: Final = tuple(c.SENSOR_TYPES)
MAX_ALARMS: Final = 8
MAX_SILENT: Final = 6


def chart(lang: str, scale: float) -> dict[str, Any]:
    """Horizontal stacked bars: one row per sensor type, one colour per state (values patched in)."""
    ys = [name("sensor", ty, lang) for ty in TYPES]
    data = [
        {
            "type": "bar",
            "orientation": "h",
            "y": ys,
            "x": [0] * len(ys),
            "name": name("state", st, lang),
            "marker": {"color": STATE_COLOURS[st], "line": {"width": 0}},
            "text": [""] * len(ys),
            "textposition": "inside",
            "insidetextanchor": "middle",
            "constraintext": "none",
            "textangle": 0,
            "textfont": {"size": px(18, scale), "color": "#0b1220" if st != c.STATE_ALARM else "#ffffff"},
        }
        for st in STATES
    ]
    return hbar_figure(scale, data, ys, barmode="stack")


def chart_key(lang: str) -> html.Div:
    """The chart's heading with its colour key: the bars' colours are the states', named here."""
    key = [html.Span([html.Span(className=f"legend-swatch bar {st}"), name("state", st, lang)], className="key-item")
           for st in STATES]
    return html.Div([html.Span(t("sen.by_type", lang)), html.Span(key, className="chart-key")],
                    className="sub-title with-key")


def sensors_panel(lang: str, scale: float) -> html.Section:
    """The panel frame; every value arrives with the refresh."""
    body = html.Div(
        [
            chart_key(lang),
            html.Div(graph(ids.SENSORS_CHART, chart(lang, scale)), className="sensors-chart"),
            sub_title(t("sen.alarms", lang)),
            html.Div(id=ids.SENSORS_ALARMS, className="row-list alarm-list"),
            html.Div(id=ids.SENSORS_SILENT, className="silent-line"),
        ],
        className="stack",
    )
    summary = html.Span(id=ids.SENSORS_SUMMARY, className="panel-chip")
    return panel(ids.PANEL_SENSORS, t("panel.sensors", lang), body, lang, extra=summary)


def chart_patch(d: SensorsData) -> Patch:
    """Only the bar lengths and their counts change between refreshes."""
    p = Patch()
    totals = [0] * len(TYPES)
    for i, st in enumerate(STATES):
        xs = [int(d["by_type"].get(ty, {}).get(st, 0)) for ty in TYPES]
        totals = [a + b for a, b in zip(totals, xs, strict=True)]
        p["data"][i]["x"] = xs
        p["data"][i]["text"] = [str(x) if x else "" for x in xs]
    # At least 5 wide, so that one alarm is a short bar, not the full width.
    p["layout"]["xaxis"]["range"] = [0, max(5, *totals) * 1.05]
    return p


def _value(pt: SensorPoint) -> str:
    """Reading with its unit."""
    spec = c.SENSOR_TYPES.get(pt["type"], {})
    return f"{fmt_num(pt['value'], digits=1)} {spec.get('unit', '')}".strip()


def alarm_rows(points: list[SensorPoint], lang: str) -> list[Element]:
    """Alarms first, then warnings: state, type, reading and place."""
    rows = [
        div(
            [
                span(name("state", pt["state"], lang), f"state-tag tag-{pt['state']}"),
                span(name("sensor", pt["type"], lang), "row-main"),
                span(_value(pt), f"row-value state-{pt['state']}"),
                span(names.subdistrict(pt["subdistrict"], lang), "row-place"),
            ],
            "list-row",
        )
        for pt in points[:MAX_ALARMS]
    ]
    if not rows:
        rows.append(div(t("sen.none_alarm", lang), "list-empty state-normal"))
    return rows


def silent_line(d: SensorsData, lang: str) -> list[Element]:
    """"离线传感器 4: 噪声·东华门 ×2, PM2.5·天坛, …" in grey: sensors of one type in one place are counted once, so
    that two names alike never read as one sensor said twice."""
    silent = d["silent"]
    n = d["by_state"].get(c.STATE_SILENT, len(silent))
    if not n:
        return [span(t("sen.silent", lang), "silent-label"), span(t("sen.none_silent", lang))]
    alike = Counter(f"{name('sensor', p['type'], lang)}·{names.subdistrict(p['subdistrict'], lang)}" for p in silent)
    items = [label if k == 1 else f"{label} ×{fmt_int(k)}" for label, k in list(alike.items())[:MAX_SILENT]]
    return [
        span(f"{t('sen.silent', lang)} {fmt_int(n)}", "silent-label"),
        span("，".join(items) if lang == "zh" else ", ".join(items), "silent-items"),
    ]


def summary(d: SensorsData, lang: str) -> str:
    """"在线 296/300" in the header."""
    return t("sen.summary", lang, o=fmt_int(d["online"]), n=fmt_int(d["total"]))


# --- the wall refresh's sections (callbacks/refresh.py): this panel's outputs from its aggregate ---------


def render(d: SensorsData, ctx: Ctx, prev: Any) -> tuple[list[Any], Any]:
    """Each part is sent only when its own inputs changed (readings change every second, counts rarely)."""
    by_type = repr(sorted((k, sorted(v.items())) for k, v in d["by_type"].items()))
    alarms = repr([(p["id"], p["state"], p["value"]) for p in d["alarms"][:MAX_ALARMS]])
    silent = repr((d["by_state"].get(c.STATE_SILENT), [p["id"] for p in d["silent"]]))
    return dedupe(
        [
            (lambda: chart_patch(d), by_type),
            (lambda: alarm_rows(d["alarms"], ctx.lang), alarms),
            (lambda: silent_line(d, ctx.lang), silent),
            (lambda: summary(d, ctx.lang), f"{d['online']}/{d['total']}"),
        ],
        prev,
    )


SECTIONS = (
    Section(
        "sensors",
        AGG_SENSORS,
        (
            (ids.SENSORS_CHART, "figure"),
            (ids.SENSORS_ALARMS, "children"),
            (ids.SENSORS_SILENT, "children"),
            (ids.SENSORS_SUMMARY, "children"),
        ),
        render,
    ),
)
