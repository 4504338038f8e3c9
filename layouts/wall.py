"""The duty officer's wall (DESIGN 3a): one screen, KPI strip on top, map in the middle, panels both sides."""

from __future__ import annotations

from typing import Any, Final

from dash import dcc, html

from dashboard.domain.tiles import NO_TILES, TileSource
from dashboard.i18n import js_strings, t
from dashboard.live.schema import (
    AGG_CROWD,
    AGG_HOTLINE,
    AGG_INCIDENTS,
    AGG_KPI,
    AGG_PARKING,
    AGG_SENSORS,
    AGG_STALE_AFTER_S,
    AGG_TICKER,
    AGG_TRAFFIC,
)
from layouts import ids
from layouts.alarm import alarm_banner
from layouts.common import aria, data_attrs, freshness_badge, lang_switch
from layouts.hotline import hotline_panel
from layouts.incidents import incidents_panel
from layouts.kpi import kpi_strip
from layouts.map.panel import map_panel
from layouts.sensors import sensors_panel
from layouts.tablet import SLIDER_MIN, SLIDER_STEP, SLIDER_TOOLTIP
from layouts.ticker import ticker
from layouts.traffic import traffic_panel

# Which aggregates each panel shows: its freshness is the age of the oldest of them.
PANEL_AGGS: Final[dict[str, tuple[str, ...]]] = {
    ids.PANEL_KPI: (AGG_KPI,),
    ids.PANEL_MAP: (AGG_SENSORS, AGG_INCIDENTS, AGG_TRAFFIC, AGG_HOTLINE, AGG_PARKING, AGG_CROWD),
    ids.PANEL_SENSORS: (AGG_SENSORS,),
    ids.PANEL_INCIDENTS: (AGG_INCIDENTS,),
    ids.PANEL_TRAFFIC: (AGG_TRAFFIC, AGG_PARKING),
    ids.PANEL_HOTLINE: (AGG_HOTLINE,),
    ids.PANEL_TICKER: (AGG_TICKER,),
}
# The class each panel container has when fresh; the browser appends " stale" when late.
PANEL_CLASS: Final[dict[str, str]] = {
    ids.PANEL_KPI: "kpi-strip",
    ids.PANEL_MAP: "map-wrap",
    ids.PANEL_SENSORS: "panel",
    ids.PANEL_INCIDENTS: "panel panel-lg",
    ids.PANEL_TRAFFIC: "panel panel-lg",
    ids.PANEL_HOTLINE: "panel panel-lg",
    ids.PANEL_TICKER: "ticker",
}
REFRESH_MS: Final = 1000


# The replay arrows' step, in minutes.
REPLAY_STEP_MIN: Final = 10


def stepped(offset: int, step: int) -> int:
    """The slider's offset (minutes before now, 0 = live) moved by `step` minutes, kept within the last 24 h."""
    return max(SLIDER_MIN, min(0, offset + step))


def replay_control(lang: str) -> html.Div:
    """The last 24 hours on a slider (history snapshots): the panels and the map replay the time picked, the badge
    says "回放 14:05", and "实时" (or five minutes without a touch) returns to live. Alarms stay live."""
    return html.Div(
        [
            html.Span(t("tab.live", lang), id=ids.WALL_MODE, className="wall-mode live"),
            # A pixel of the track is three or four minutes: the arrows step by REPLAY_STEP_MIN exactly.
            html.Button("◀", id=ids.WALL_EARLIER, className="wall-step", n_clicks=0,
                        title=t("wall.earlier", lang, n=REPLAY_STEP_MIN),
                        **aria(label=t("wall.earlier", lang, n=REPLAY_STEP_MIN))),
            html.Div(
                dcc.Slider(id=ids.WALL_SLIDER, min=SLIDER_MIN, max=0, step=SLIDER_STEP, value=0,
                           marks={SLIDER_MIN: t("tab.hours_ago", lang, n=24), 0: t("tab.now", lang)},
                           updatemode="mouseup", included=False, allow_direct_input=False,
                           tooltip=SLIDER_TOOLTIP),
                className="wall-slider",
            ),
            html.Button("▶", id=ids.WALL_LATER, className="wall-step", n_clicks=0,
                        title=t("wall.later", lang, n=REPLAY_STEP_MIN),
                        **aria(label=t("wall.later", lang, n=REPLAY_STEP_MIN))),
            html.Button(t("tab.now", lang), id=ids.WALL_LIVE, className="wall-live", n_clicks=0),
        ],
        className="wall-replay",
    )


def topbar(lang: str) -> html.Header:
    """Title, the replay slider, the KPI strip's freshness, the Beijing-time clock and the language switch."""
    return html.Header(
        [
            html.H1([t("app.title", lang), html.Small(t("app.subtitle", lang))], className="wall-title"),
            replay_control(lang),
            freshness_badge(ids.PANEL_KPI, lang),
            # The zone is said beside the time: a visitor, or a device set to another zone, reads every time on
            # the wall as Beijing time.
            html.Div(
                [
                    html.Span([html.Span(t("wall.timezone", lang), id=ids.CLOCK_ZONE, className="clock-zone"),
                               html.Span(id=ids.CLOCK_DATE, className="clock-date")], className="clock-meta"),
                    html.Span("--:--:--", id=ids.CLOCK),
                ],
                className="clock",
            ),
            lang_switch(lang),
        ],
        className="topbar",
    )


def session_banner(lang: str) -> html.Div:
    """Hidden until assets/wall.js finds the session gone (401): says so in both languages, then counts down
    to the login page, which brings the wall back after the next login (a wall nobody touches recovers)."""
    other = "en" if lang == "zh" else "zh"
    return html.Div(
        [
            html.Div(t("session.expired", lang), className="session-main"),
            html.Div(t("session.expired", other), className="session-other", lang="en" if other == "en" else "zh-CN"),
            html.Div(className="session-countdown"),
        ],
        id=ids.SESSION_BANNER,
        className="session-banner",
        role="alert",
        **data_attrs(redirect=t("session.redirect", lang)),
    )


def client_strings(lang: str) -> dict[str, Any]:
    """What the browser needs to render freshness: templates, panel → aggregates, base classes, threshold, and the
    top bar's live badge in its live, delayed and down states."""
    return js_strings(lang) | {
        "wall.live": t("tab.live", lang),
        "wall.delayed": t("wall.delayed", lang),
        "wall.down": t("wall.down", lang),
        "order": list(PANEL_AGGS),
        "panels": {p: list(aggs) for p, aggs in PANEL_AGGS.items()},
        "classes": PANEL_CLASS,
        "badges": {p: ids.FRESHNESS[p] for p in PANEL_AGGS},
        "stale_after": AGG_STALE_AFTER_S,
    }


def wall(lang: str, scale: float = 1.0, tiles: TileSource = NO_TILES) -> html.Div:
    """The whole wall; values arrive with the first refresh, about a second after load."""
    return html.Div(
        [
            topbar(lang),
            kpi_strip(lang),
            html.Div([sensors_panel(lang, scale), incidents_panel(lang)], className="wall-left"),
            map_panel(lang, tiles, scale),
            html.Div([traffic_panel(lang, scale), hotline_panel(lang, scale)], className="wall-right"),
            ticker(lang),
            session_banner(lang),
            alarm_banner(lang),
            # The one timer: drives the server refresh and the clientside freshness and clock.
            dcc.Interval(id=ids.TICK, interval=REFRESH_MS),
            # A pushed change (assets/push.js) refreshes at once; the interval is the fallback when push is down.
            dcc.Store(id=ids.PUSH),
            dcc.Store(id=ids.VERSIONS, data={}),
            dcc.Store(id=ids.META, data={}),
            dcc.Store(id=ids.STRINGS, data=client_strings(lang)),
        ],
        id=ids.WALL,
        className="wall",
        lang="en" if lang == "en" else "zh-CN",
        **data_attrs(lang=lang),
    )
