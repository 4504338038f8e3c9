"""The leaders' tablet (/tablet): the district's state in ten seconds, for touch at 1024×768 to 1366×1024.

KPI cards with the change against the same hour yesterday (an arrow, green when the change is good, red when it
is bad), the district map, a drill-down into one subdistrict (tap it on the map or pick it from the list), the
last 24 hours on a time slider (map and KPIs move with it; "实时" returns to now), and today-against-yesterday
trend charts. Every control is a tap target of at least 44 px; nothing needs hover. Figures that are late by the
wall's rule are never shown as live: the badge turns from "实时" to a grey "数据延迟 · 2 分钟前", and to
"数据中断 · 12 秒前" when the server has not answered for as long (assets/tablet.js); a replayed time history holds
nothing of says so ("该时刻没有历史数据"), with its day when it is not today ("昨日 12:40").

The builders here are pure (aggregate data in, components out); callbacks/tablet.py reads the aggregates (live,
or a history snapshot when the slider is in the past) and calls them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final, NamedTuple

from dash import dcc, html

from dashboard.domain import geo
from dashboard.domain import rules as c
from dashboard.domain.tiles import NO_TILES, TileSource
from dashboard.i18n import fmt_age, fmt_int, fmt_num, fmt_pct, fmt_time, fmt_when, js_strings, name, t
from dashboard.live.schema import (
    AGG_HOTLINE,
    AGG_INCIDENTS,
    AGG_SENSORS,
    AGG_STALE_AFTER_S,
    AGG_TICKER,
    AGG_TRAFFIC,
    AGGREGATES,
    is_stale,
)
from layouts import ids, names
from layouts.common import BAND_COLOURS, data_attrs, lang_switch, logout_button
from layouts.el import Element, div, el, span
from layouts.map.geometry import bounds
from layouts.map.panel import district_map, tiles_crs

# The slider: minutes before now, in steps of one (history keeps a snapshot a minute for 24 h).
SLIDER_MIN: Final = -24 * 60
SLIDER_STEP: Final = 1
# While a replay slider is held, the time it is at (assets/clocks.js dcReplayTime): a minute is a pixel or less.
SLIDER_TOOLTIP: Final = {"placement": "bottom", "transform": "dcReplayTime", "always_visible": False}
REFRESH_MS: Final = 2000
# Drill-down lists: the rows a tablet shows without scrolling the card.
DRILL_ROWS: Final = 8
# Height of a trend chart in the column beside the map.
TREND_HEIGHT_PX: Final = 180
# Open incidents listed by name on the tablet (the count by severity covers them all).
OPEN_ROWS: Final = 5
# The aggregates whose figures the tablet shows (the wall's ticker is not on it): their freshness is the tablet's.
TABLET_AGGS: Final = tuple(a for a in AGGREGATES if a != AGG_TICKER)


def slider_time(offset_min: Any, now: float) -> float | None:
    """The slider's value (minutes before now) as a time, or None for live (0, missing or nonsense)."""
    if offset_min is None:
        return None  # live, as every wall asks each second: no exception to raise and catch
    try:
        m = int(offset_min)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an infinite float
        return None
    if m >= 0:
        return None
    return now + max(SLIDER_MIN, m) * 60.0


class Metric(NamedTuple):
    """One KPI card of the tablet: the KpiData field, its label, its format, and which direction is good."""

    field: str
    label: str
    kind: str  # "int" | "num" | "pct"
    lower_is_better: bool


METRICS: Final = (
    Metric("incidents_open", "kpi.incidents", "int", True),
    Metric("incidents_overdue", "tab.overdue", "int", True),
    Metric("units_available", "kpi.units", "int", False),
    Metric("sensors_alarming", "tab.sensor_alarms", "int", True),
    Metric("traffic_index", "kpi.traffic", "num", True),
    Metric("hotline_today", "kpi.hotline", "int", True),
    Metric("response_rate", "kpi.response", "pct", False),
    Metric("resolution_rate", "kpi.resolution", "pct", False),
    Metric("satisfaction_rate", "kpi.satisfaction", "pct", False),
)
# A change smaller than this is "持平" (the same): rates in points, the traffic index in index points.
SAME: Final = {"int": 0.5, "num": 0.05, "pct": 0.0005}


def fmt_value(kind: str, v: float | None, lang: str) -> str:
    """A KPI value as shown."""
    if v is None:
        return t("kpi.none", lang)
    if kind == "pct":
        return fmt_pct(v, lang, 1)
    if kind == "num":
        return fmt_num(v, lang, 1)
    return fmt_int(v, lang)


def delta(metric: Metric, now: float | None, then: float | None, lang: str) -> tuple[str, str]:
    """(text, class) of the change against yesterday: "▲ 3" good/bad/same, or "昨日同期无数据"."""
    if now is None or then is None:
        return t("tab.no_yesterday", lang), "delta none"
    d = float(now) - float(then)
    if abs(d) < SAME[metric.kind]:
        return t("tab.same", lang), "delta same"
    arrow = "▲" if d > 0 else "▼"
    good = (d < 0) == metric.lower_is_better
    if metric.kind == "pct":
        amount = t("tab.points", lang, n=fmt_num(abs(d) * 100, lang, 1))
    elif metric.kind == "num":
        amount = fmt_num(abs(d), lang, 1)
    else:
        amount = fmt_int(abs(d), lang)
    return f"{arrow} {amount}", "delta good" if good else "delta bad"


def kpi_cards(kpi: Mapping[str, Any] | None, yesterday: Mapping[str, Any] | None, lang: str) -> list[Element]:
    """One card per metric: label, value, and the change against the same hour yesterday."""
    cards = []
    for m in METRICS:
        now_v = None if kpi is None else kpi.get(m.field)
        then_v = None if yesterday is None else yesterday.get(m.field)
        text, cls = delta(m, now_v, then_v, lang)
        # "较昨日同期 ▲ 3"; without yesterday's figure only "昨日同期无数据".
        line = [span(text, cls)] if cls == "delta none" else [span(t("tab.vs_yesterday", lang), "delta-label"),
                                                              span(text, cls)]
        cards.append(
            el(
                "Div",
                [
                    div(t(m.label, lang), "tab-kpi-label"),
                    div(fmt_value(m.kind, now_v, lang), "tab-kpi-value"),
                    div(line, "tab-kpi-delta"),
                ],
                cls="tab-kpi",
                data={"metric": m.field},
            )
        )
    return cards


# --- freshness: a leader never reads late figures as live ---------------------------------------------


class Freshness(NamedTuple):
    """How fresh the live figures are: stale by the wall's rule, and since when (the oldest computed_at; None when
    an aggregate has never been computed)."""

    stale: bool
    since: float | None


def freshness(computed_at: Mapping[str, float | None], now: float) -> Freshness:
    """The freshness of the whole view: as late as its latest aggregate (the wall turns each panel by the same
    rule, schema.is_stale)."""
    ats = [computed_at.get(a) for a in TABLET_AGGS]
    known = [a for a in ats if a is not None]
    since = min(known) if len(known) == len(ats) else None
    return Freshness(is_stale(since, now), since)


def stale_badge(fresh: Freshness, now: float, lang: str) -> list[Element]:
    """"数据延迟 · 2 分钟前": the age is ticked in the browser from `since` (assets/tablet.js), since the refresh
    answers "nothing changed" while the workers stay away."""
    if fresh.since is None:
        return [span(t("tab.stale", lang)), span(" · ", "tab-sep"), span(t("fresh.none", lang), "tab-age")]
    age = el("Span", fmt_age(now - fresh.since, lang), cls="tab-age",
             data={"since": f"{fresh.since:.3f}", "now": f"{now:.3f}"})
    # Since when, to the second, for a finger held on the badge.
    age["props"]["title"] = t("tab.stale_since", lang, t=fmt_time(fresh.since, lang))
    return [span(t("tab.stale", lang)), span(" · ", "tab-sep"), age]


# --- escalations: what went to the leader ------------------------------------------------------------


def escalations(datas: Mapping[str, Any], lang: str) -> list[Element]:
    """Open incidents escalated to the leader (deadline passed, or a summoned department did not report), with
    why; nothing at all when there is none (the card hides)."""
    items = [i for i in (datas.get(AGG_INCIDENTS) or {}).get("items", []) if i.get("escalated")]
    if not items:
        return []
    rows = []
    for i in items[:DRILL_ROWS]:
        late = [sm["department"] for sm in i.get("summons", []) if sm.get("escalated")]
        why = []
        if i.get("overdue"):
            why.append(t("map.overdue", lang))
        if late:
            names_ = [c.DEPARTMENT_NAMES.get(d, (d, d))[1 if lang == "en" else 0] for d in late]
            why.append(t("tab.not_reported", lang, d="、".join(names_) if lang == "zh" else ", ".join(names_)))
        rows.append(
            div(
                [
                    span(c.SEVERITY_ROMAN.get(i["severity"], "?"), f"sev-bg-{i['severity']} tab-sev"),
                    span(i["title"], "tab-row-title"),
                    span(" · ".join(why) or t("inc.escalated", lang), "tab-row-flag"),
                ],
                "tab-row",
            )
        )
    return [
        div([span(t("tab.escalations", lang), "tab-sec-title"),
             span(t("tab.count", lang, n=fmt_int(len(items), lang)), "tab-sec-extra")], "tab-sec-head"),
        *rows,
    ]


# --- what is open: the leader's first question ------------------------------------------------------------


def open_incidents(datas: Mapping[str, Any], lang: str, rows: int = OPEN_ROWS, missing: bool = False) -> list[Element]:
    """The open incidents: how many of each severity, and the most severe (then newest) with where they are,
    their state and whether they are overdue or went to the leader; "另有 N 起" for the rest. `missing`: a replayed
    time history holds nothing of, said as such (no zero counts that read as "all clear")."""
    if missing:
        return [div([span(t("tab.open", lang), "tab-sec-title")], "tab-sec-head"),
                div(t("tab.no_history", lang), "tab-none tab-no-data")]
    inc: Mapping[str, Any] = datas.get(AGG_INCIDENTS) or {}
    items = sorted(inc.get("items", []), key=lambda i: (i["severity"], -i["created_at"]))
    total = int(inc.get("open_total", len(items)))
    by_sev = inc.get("open_by_severity") or {}
    chips = [
        span([span(c.SEVERITY_ROMAN[s], f"sev-bg-{s} tab-sev"), span(fmt_int(int(by_sev.get(str(s), 0)), lang),
                                                                         "tab-sev-n")],
             "tab-sev-chip" + ("" if by_sev.get(str(s)) else " zero"))
        for s in (1, 2, 3, 4)
    ]
    head = div([span(t("tab.open", lang), "tab-sec-title"), span(chips, "tab-sev-chips")], "tab-sec-head")
    if not items:
        return [head, div(t("inc.none", lang), "tab-none")]
    out: list[Any] = [head]
    for i in items[:rows]:
        flag = (t("map.overdue", lang) if i.get("overdue") else t("inc.escalated", lang) if i.get("escalated")
                else None)
        out.append(el(
            "Div",
            [
                span(c.SEVERITY_ROMAN.get(i["severity"], "?"), f"sev-bg-{i['severity']} tab-sev"),
                span(i["title"], "tab-row-title"),
                span(names.subdistrict(i["subdistrict"], lang) or "", "tab-row-meta"),
                span(flag, "tab-row-flag") if flag else span(name("inc_state", i["state"], lang), "tab-row-meta"),
            ],
            cls="tab-row",
            data={"sev": str(i["severity"])},
        ))
    rest = total - min(rows, len(items))
    if rest > 0:
        out.append(div(t("inc.more", lang, n=fmt_int(rest, lang)), "tab-none"))
    return out


# --- drill-down -------------------------------------------------------------------------------------


def subdistrict_options(lang: str) -> list[dict[str, str]]:
    """The 17 subdistricts for the picker, in code order."""
    return [{"label": names.subdistrict(s.code, lang), "value": s.code} for s in geo.subdistricts()]


def _section(title: str, body: list[Any], extra: str | None = None) -> Element:
    head = [span(title, "tab-sec-title")]
    if extra:
        head.append(span(extra, "tab-sec-extra"))
    return el("Section", [div(head, "tab-sec-head"), *body], cls="tab-sec")


def _bars(rows: list[tuple[str, float, str, str | None]]) -> list[Element]:
    """Label, share of the widest (0–1), value text, colour: one bar row each."""
    return [
        div(
            [
                span(label, "bar-label"),
                span(span(None, style={"width": f"{round(max(0.0, min(1.0, share)) * 100)}%",
                                       **({"background": colour} if colour else {})}), "bar-track"),
                span(value, "bar-value"),
            ],
            "tab-bar",
        )
        for label, share, value, colour in rows
    ]


def drill(code: str | None, datas: Mapping[str, Any], lang: str, missing: bool = False) -> list[Element]:
    """One subdistrict: its open incidents, hotline tickets by category, sensor alarms and corridors (`missing`: a
    replayed time history holds nothing of)."""
    sub = geo.subdistrict_by_code().get(code or "")
    if sub is None:
        return [div(t("tab.pick_hint", lang), "tab-empty")]
    head = div([span(names.subdistrict(sub.code, lang), "tab-drill-name"),
                span(t("tab.population", lang, n=fmt_int(sub.population, lang)), "tab-drill-pop")], "tab-drill-head")
    if missing:
        return [head, div(t("tab.no_history", lang), "tab-empty tab-no-data")]
    # Plain mappings: a replayed snapshot may lack fields a live aggregate has.
    inc: Mapping[str, Any] = datas.get(AGG_INCIDENTS) or {}
    hot: Mapping[str, Any] = datas.get(AGG_HOTLINE) or {}
    sen: Mapping[str, Any] = datas.get(AGG_SENSORS) or {}
    tra: Mapping[str, Any] = datas.get(AGG_TRAFFIC) or {}

    items = [i for i in inc.get("items", []) if i.get("subdistrict") == sub.code]
    inc_rows: list[Any] = [
        div(
            [
                span(c.SEVERITY_ROMAN.get(i["severity"], "?"), f"sev-bg-{i['severity']} tab-sev"),
                span(i["title"], "tab-row-title"),
                span(name("inc_state", i["state"], lang), "tab-row-meta"),
                span(t("map.overdue", lang), "tab-row-flag") if i.get("overdue") else None,
            ],
            "tab-row",
        )
        for i in items[:DRILL_ROWS]
    ] or [div(t("inc.none", lang), "tab-none")]

    cats = hot.get("by_subdistrict_category", {}).get(sub.code, {})
    top = sorted(cats.items(), key=lambda kv: (-kv[1], kv[0]))[:DRILL_ROWS]
    widest = max((n for _, n in top), default=0) or 1
    hot_rows: list[Any] = _bars([(name("hl_cat", k, lang), n / widest, fmt_int(n, lang), None) for k, n in top]) \
        or [div(t("tab.no_tickets", lang), "tab-none")]

    alarms = [p for p in sen.get("alarms", []) if p.get("subdistrict") == sub.code]
    sen_rows: list[Any] = [
        div(
            [
                span(name("state", p["state"], lang), f"tab-state {p['state']}"),
                span(name("sensor", p["type"], lang), "tab-row-title"),
                span(f"{fmt_num(p['value'], lang, 1)} {c.SENSOR_TYPES.get(p['type'], {}).get('unit', '')}",
                     "tab-row-meta"),
            ],
            "tab-row",
        )
        for p in alarms[:DRILL_ROWS]
    ] or [div(t("tab.no_alarms", lang), "tab-none state-normal")]

    mine = set(geo.corridors_by_subdistrict().get(sub.code, ()))
    cors = [cor for cor in tra.get("corridors", []) if cor["id"] in mine]
    tra_rows: list[Any] = _bars(
        [(names.short(cor["name_en"] if lang == "en" else cor["name_zh"]), cor["index"] / 10,
          fmt_num(cor["index"], lang, 1), BAND_COLOURS.get(cor["band"])) for cor in cors]
    ) or [div(t("tab.no_corridors", lang), "tab-none")]

    return [
        head,
        _section(t("panel.incidents", lang), inc_rows, t("tab.count", lang, n=fmt_int(len(items), lang))),
        _section(t("tab.tickets_by_category", lang), hot_rows,
                 t("tab.count", lang, n=fmt_int(hot.get("by_subdistrict", {}).get(sub.code, 0), lang))),
        _section(t("tab.sensor_alarms", lang), sen_rows, t("tab.count", lang, n=fmt_int(len(alarms), lang))),
        _section(t("panel.traffic", lang), tra_rows),
    ]


# --- time slider and trends ---------------------------------------------------------------------------


def slider_marks(lang: str) -> dict[int, str]:
    """Every three hours back from now, and "now"."""
    marks = {m: t("tab.hours_ago", lang, n=-m // 60) for m in range(SLIDER_MIN, 0, 180)}
    marks[0] = t("tab.now", lang)
    return marks


def replay_label(at: float | None, lang: str, found: float | None = None, now: float | None = None
                 ) -> tuple[str, str]:
    """(text, class) of the mode badge: "实时" live, or "回放 14:05" with the snapshot's time ("昨日 14:05" when it
    is not today's, `now` given)."""
    if at is None:
        return t("tab.live", lang), "tab-mode live"
    shown = found if found is not None else at
    text = fmt_time(shown, lang, seconds=False) if now is None else fmt_when(shown, now, lang)
    if found is None:
        return t("tab.no_snapshot", lang, t=text), "tab-mode replay missing"
    return t("tab.replay", lang, t=text), "tab-mode replay"


def trend_figure(title: str, today: list[float | None], yesterday: list[float | None], lang: str,
                 hour_now: int, minute_now: int | None = None, empty_note: str | None = None) -> dict[str, Any]:
    """Today (to the current hour) against yesterday, by Beijing hour, as a plotly figure dict.

    The current hour has only run `minute_now` minutes: its count is drawn apart (a dashed step to an open point,
    "截至 HH:MM"), so a line that falls at its end is not read as the evening calming down. A chart with no value
    at all says `empty_note` across it, when given, rather than stay blank."""
    hours = list(range(24))
    partial = minute_now is not None and minute_now < 59 and hour_now > 0
    whole = hour_now if partial else hour_now + 1
    data: list[dict[str, Any]] = [
        {"type": "scatter", "mode": "lines", "name": t("hot.yesterday", lang), "x": hours, "y": yesterday,
         "line": {"color": "#7b8bb0", "width": 2, "dash": "dot"}, "hoverinfo": "skip"},
        {"type": "scatter", "mode": "lines+markers", "name": t("hot.today", lang), "x": hours[:whole],
         "y": today[:whole], "line": {"color": "#38bdf8", "width": 3}, "marker": {"size": 6}},
    ]
    annotations: list[dict[str, Any]] = []
    if partial and hour_now < len(today):
        so_far = t("tab.so_far", lang, time=f"{hour_now:02d}:{minute_now:02d}")
        data.append({"type": "scatter", "mode": "lines+markers", "name": so_far, "showlegend": False,
                     "x": [hour_now - 1, hour_now], "y": [today[hour_now - 1], today[hour_now]],
                     "line": {"color": "#38bdf8", "width": 2, "dash": "dash"},
                     "marker": {"size": [0, 9], "symbol": "circle-open", "line": {"width": 2}}})
        if today[hour_now] is not None:
            annotations.append({"x": hour_now, "y": today[hour_now], "text": so_far, "showarrow": False,
                                "yshift": 14, "xanchor": "right" if hour_now > 18 else "center",
                                "font": {"size": 12, "color": "#c9d6f0"}})
    if empty_note and all(v is None for v in [*today, *yesterday]):
        annotations.append({"text": empty_note, "showarrow": False, "xref": "paper", "yref": "paper", "x": 0.5,
                            "y": 0.45, "font": {"size": 15, "color": "#9aabc6"}})
    return {
        "data": data,
        "layout": {
            "title": {"text": title, "font": {"size": 16, "color": "#c9d6f0"}, "x": 0.01},
            "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)",
            "font": {"color": "#c9d6f0", "size": 14},
            "margin": {"l": 40, "r": 10, "t": 34, "b": 28}, "height": TREND_HEIGHT_PX,
            "legend": {"orientation": "h", "x": 1, "xanchor": "right", "y": 1.18},
            "xaxis": {"range": [-0.3, 23.3], "dtick": 3, "gridcolor": "rgba(255,255,255,.08)", "fixedrange": True},
            "yaxis": {"gridcolor": "rgba(255,255,255,.08)", "rangemode": "tozero", "fixedrange": True},
            "annotations": annotations,
        },
    }


# A leader reads incidents, crowds and the subdistricts' names on a small screen: parking and the sensors' bins
# would cover the names, so they start off (a tap on the layer button shows them).
TABLET_HIDDEN_LAYERS: Final = frozenset({ids.TABLET_MAP.parking, ids.TABLET_MAP.sensors})


# --- the page ---------------------------------------------------------------------------------------


def silent_badge(lang: str) -> html.Span:
    """"数据中断 · 12 秒前", hidden: assets/tablet.js shows it in the mode badge's place while no refresh has been
    answered for longer than the wall's threshold (the network, or the server, is gone), and hides it again on the
    next answer. No callback writes it: the server's picture of what the tablet shows stays true meanwhile."""
    return html.Span(
        [html.Span(t("fresh.down", lang)), html.Span(" · ", className="tab-sep"), html.Span(className="tab-age")],
        id=ids.TABLET_SILENT, className="tab-mode live stale down tab-silent", role="status",
    )


def tablet_page(lang: str, tiles: TileSource = NO_TILES, report_url: str | None = None) -> html.Div:
    """The whole tablet page; values arrive with the first refresh."""
    header = html.Header(
        [
            html.H1([t("app.title", lang), html.Small(t("page.tablet", lang))], className="tab-title"),
            html.Span(t("tab.live", lang), id=ids.TABLET_MODE, className="tab-mode live"),
            silent_badge(lang),
            *([html.A(t("tab.report", lang), href=report_url, className="tab-btn", id=ids.TABLET_REPORT)]
              if report_url else []),
            lang_switch(lang, "/tablet"),
            logout_button(lang, "tab-btn tab-logout"),
        ],
        className="tab-header",
    )
    slider = html.Div(
        [
            html.Div(
                dcc.Slider(id=ids.TABLET_SLIDER, min=SLIDER_MIN, max=0, step=SLIDER_STEP, value=0,
                           marks=slider_marks(lang), updatemode="mouseup", included=False, tooltip=SLIDER_TOOLTIP,
                           # A number box beside the track means nothing to a leader ("-132"?): the marks do.
                           allow_direct_input=False),
                className="tab-slider-track",
            ),
            html.Button(t("tab.back_live", lang), id=ids.TABLET_LIVE, className="tab-btn tab-live", n_clicks=0),
        ],
        className="tab-slider",
    )
    return html.Div(
        [
            header,
            html.Div(id=ids.TABLET_KPIS, className="tab-kpis"),
            slider,
            html.Div(
                [
                    html.Div(district_map(lang, tiles, 1.0, ids.TABLET_MAP, TABLET_HIDDEN_LAYERS, collapsed=True),
                             className="map-wrap tab-map",
                             **data_attrs(fit=json.dumps(bounds(tiles)), crs=tiles_crs(tiles))),
                    # Beside the map, in one column that scrolls by itself (the page never does in landscape):
                    # what went to the leader, what is open, a subdistrict's details, and today against yesterday.
                    html.Div(
                        [
                            html.Div(id=ids.TABLET_ESCALATIONS, className="tab-escalations", role="status"),
                            html.Div(id=ids.TABLET_OPEN, className="tab-sec tab-open"),
                            dcc.Dropdown(id=ids.TABLET_SUBDISTRICT, options=subdistrict_options(lang),
                                         placeholder=t("tab.pick", lang), searchable=False, clearable=True,
                                         className="tab-picker"),
                            html.Div(id=ids.TABLET_DRILL, className="tab-drill"),
                            html.Div(
                                [
                                    dcc.Graph(id=ids.TABLET_TREND_HOTLINE, config={"displayModeBar": False},
                                              className="tab-chart"),
                                    dcc.Graph(id=ids.TABLET_TREND_INCIDENTS, config={"displayModeBar": False},
                                              className="tab-chart"),
                                ],
                                className="tab-trends",
                            ),
                        ],
                        className="tab-side",
                    ),
                ],
                className="tab-main",
            ),
            dcc.Interval(id=ids.TABLET_TICK, interval=REFRESH_MS),
            dcc.Store(id=ids.TABLET_STATE, data={}),
        ],
        id=ids.TABLET,
        className="tablet",
        lang="en" if lang == "en" else "zh-CN",
        # The templates assets/tablet.js ticks the age of late data with, and the wall's threshold of a silent server.
        **data_attrs(lang=lang, strings=json.dumps(js_strings(lang), ensure_ascii=False),
                     silent_after=f"{AGG_STALE_AFTER_S:g}"),
    )


