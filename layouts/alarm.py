"""The alarm takeover: a full-width banner over the top of the wall for a new severity I/II
incident, with a big acknowledge button. callbacks/alarm.py fills it; assets/alarm.js plays the sound, flies the
map to the alarm and pulses the banner a few times when the alarm is new."""

from __future__ import annotations

from typing import Any

from dash import dcc, html

from dashboard.domain import rules as c
from dashboard.i18n import fmt_time, t
from layouts import ids, names

HIDDEN = "alarm-banner"
SHOWN = "alarm-banner alarm-on"


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
