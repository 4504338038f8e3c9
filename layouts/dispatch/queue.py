"""The console's incident queue: one row per incident, most severe then newest first."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from dash import html

from dashboard.domain import lifecycle
from dashboard.i18n import fmt_age, name, t
from layouts import ids, names
from layouts.common import aria, data_attrs
from layouts.dispatch.parts import deadline_clock, sev_badge, state_badge

QUEUE_LIMIT: Final = 150


# An incident younger than this is marked new in the queue.
NEW_S: Final = 60


# Queue filter values besides the states themselves.
STATE_OPEN: Final = "open"


STATE_ANY: Final = "any"


def queue_row(it: dict[str, Any], lang: str, now: datetime, selected: bool, locked: bool = False) -> html.Div:
    """One incident of the queue: severity badge, title, state · category · place, age and deadline clock;
    `locked` while the new-incident form is open (a click then opens nothing, and the row says why on hover)."""
    sev = int(it["severity"])
    created = it["created_at"]
    meta = " · ".join(x for x in (name("inc_cat", it["category"], lang), names.subdistrict(it["subdistrict"], lang))
                      if x)
    is_open = it["state"] in lifecycle.OPEN_STATES
    age_s = (now - created).total_seconds()
    cls = "dsp-row" + (" selected" if selected else "") + (" new" if age_s < NEW_S and is_open else "")
    cls += "" if is_open else " ended"
    cls += " locked" if locked else ""
    return html.Div(
        [
            sev_badge(sev),
            html.Div(
                [
                    html.Div([html.Span(f"#{it['id']}", className="dsp-id"), it["title"]], className="dsp-row-title"),
                    html.Div([state_badge(it["state"], lang), html.Span(meta, className="dsp-row-meta")],
                             className="dsp-row-sub"),
                ],
                className="dsp-row-main",
            ),
            html.Div(
                [
                    html.Span(fmt_age(age_s, lang), className="dsp-age",
                              **data_attrs(since=str(created.timestamp()))),
                    deadline_clock(it["deadline_at"], now, lang) if is_open else html.Span("", className="dsp-clock"),
                ],
                className="dsp-row-times",
            ),
        ],
        id={"type": ids.DISPATCH_ROW, "index": int(it["id"])},
        className=cls,
        role="option",
        n_clicks=0,
        title=t("dsp.row_form_open", lang) if locked else None,
        **aria(selected="true" if selected else "false", disabled="true" if locked else "false"),
        **data_attrs(id=str(it["id"]), sev=str(sev)),
    )


def queue_rows(items: list[dict[str, Any]], lang: str, now: datetime, selected: int | None,
               locked: bool = False) -> list[Any]:
    """The queue in the service's order (most severe, then newest first), or a line saying it is empty; every row
    `locked` while the new-incident form is open."""
    if not items:
        return [html.Div(t("dsp.queue_empty", lang), className="dsp-empty")]
    return [queue_row(it, lang, now, it["id"] == selected, locked) for it in items]
