"""The alarm takeover: which incidents alarm (select_alarms) and the full-width banner over the wall's top bar for a new
severity I/II incident (never over a panel), with a big acknowledge button. The wall's frame carries the banner
(dashboard/frames/cache.py), callbacks/alarm.py acknowledges, and assets/alarm.js plays the sound, flies the map to
the alarm and pulses the banner a few times when the alarm is new."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from dash import dcc, html

from dashboard.domain import geo
from dashboard.domain import rules as c
from dashboard.i18n import fmt_num, fmt_time, t
from layouts import ids, names

HIDDEN = "alarm-banner"
SHOWN = "alarm-banner alarm-on"

ALARM_MAX_SEVERITY: Final = 2  # I and II
# A road further than this from the alarm is not named as where it is.
NEAR_ROAD_KM: Final = 0.6
ALARM_STATE: Final = "new"
FIELDS: Final = ("id", "title", "severity", "subdistrict", "lon", "lat", "created_at", "sensor_id")


def select_alarms(items: Iterable[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    """The items that alarm (severity <= 2 and state "new"), most severe first, then newest first."""
    out: list[tuple[int, float, dict[str, Any]]] = []
    for it in items or ():
        try:
            sev = int(it["severity"])
        except (KeyError, TypeError, ValueError):
            continue
        if sev <= ALARM_MAX_SEVERITY and it.get("state") == ALARM_STATE and it.get("id") is not None:
            alarm: dict[str, Any] = {k: it.get(k) for k in FIELDS}
            alarm["severity"] = sev
            out.append((sev, -float(it.get("created_at") or 0.0), alarm))
    out.sort(key=lambda x: (x[0], x[1]))
    return [a for _, _, a in out]


def signature(alarms: list[dict[str, Any]]) -> str:
    """Which alarms, in which order: the banner is re-sent only when this changes."""
    return ",".join(f"{a['id']}:{a['severity']}" for a in alarms)


def banner_class(alarms: list[dict[str, Any]]) -> str:
    """The banner's class: hidden without alarms, in the most urgent alarm's severity colour with one."""
    if not alarms:
        return HIDDEN
    return f"{SHOWN} alarm-sev-{alarms[0]['severity']}"


def banner_content(alarms: list[dict[str, Any]], lang: str) -> list[Any]:
    """Severity, title, subdistrict and time of the most urgent alarm, and how many more there are."""
    if not alarms:
        return []
    a = alarms[0]
    sev = int(a["severity"])
    out: list[Any] = [
        html.Div(
            [html.Span(t("alarm.label", lang), className="alarm-label"),
             html.Span(c.SEVERITY_ROMAN.get(sev, str(sev)), className="alarm-sev")],
            className="alarm-badge",
        ),
        html.Div(
            [
                html.Div(
                    [*([html.Span(t("inc.sensor", lang), className="alarm-tag")] if a.get("sensor_id") else []),
                     str(a["title"])],
                    className="alarm-title",
                ),
                html.Div(
                    [
                        html.Span(names.subdistrict(a.get("subdistrict"), lang), className="alarm-sub"),
                        html.Span(fmt_time(a.get("created_at"), lang), className="alarm-time"),
                        html.Span(f"#{a['id']}", className="alarm-id"),
                        *where(a, lang),
                    ],
                    className="alarm-meta",
                ),
            ],
            className="alarm-text",
        ),
    ]
    if len(alarms) > 1:
        out.append(html.Div(t("alarm.more", lang, n=len(alarms) - 1), className="alarm-more"))
    return out


def where(a: Mapping[str, Any], lang: str) -> list[html.Span]:
    """Where the alarm is, for a map that shows little at street level: the nearest road and the nearest
    hospital with its distance (the district's own data; nothing when the alarm has no position)."""
    try:
        lon, lat = float(a["lon"]), float(a["lat"])
    except (KeyError, TypeError, ValueError):
        return []
    out: list[html.Span] = []
    road = geo.nearest_corridor(lon, lat)
    if road is not None and road[1] <= NEAR_ROAD_KM:
        # Short names: the banner's line must still hold the hospital after the road (a corridor's full name is the
        # chain of every street along it).
        full = road[0].name_en if lang == "en" else road[0].name_zh
        out.append(html.Span(t("alarm.near_road", lang, road=names.short(full)), className="alarm-road"))
    hospital = geo.nearest_place(lon, lat, "hospital")
    if hospital is not None:
        place, km = hospital
        label = names.short(place.name_en if lang == "en" else place.name_zh)
        out.append(html.Span(t("alarm.hospital", lang, name=label, km=fmt_num(km, lang, 1)),
                             className="alarm-hospital"))
    return out


def alarm_banner(lang: str) -> html.Div:
    """The banner (hidden until an alarm arrives), its store and the clientside callback's dummy output."""
    return html.Div(
        [
            html.Div(id=ids.ALARM_CONTENT, className="alarm-content"),
            html.Div(
                [
                    html.Button(t("alarm.ack", lang), id=ids.ALARM_ACK, className="alarm-ack", n_clicks=0),
                    html.Div(id=ids.ALARM_MSG, className="alarm-msg", role="status"),
                ],
                className="alarm-actions",
            ),
            html.Div(f"{t('alarm.hint', 'zh')} / {t('alarm.hint', 'en')}", id=ids.ALARM_HINT,
                     className="alarm-hint"),
            dcc.Store(id=ids.ALARM_STORE, data={"sig": "", "alarms": []}),
            dcc.Store(id=ids.ALARM_JS),
        ],
        id=ids.ALARM_BANNER,
        className=HIDDEN,
        role="alert",
    )
