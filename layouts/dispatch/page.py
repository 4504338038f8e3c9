"""The console's page frame: top bar, queue filters, the three columns' panels, the confirmation dialog, the toast,
the poll and the stores; the queue and the detail arrive with the first poll."""

from __future__ import annotations

import json
from typing import Any, Final

import dash_bootstrap_components as dbc
from dash import dcc, html

from dashboard.domain import lifecycle
from dashboard.domain import rules as c
from dashboard.domain.tiles import NO_TILES, TileSource
from dashboard.i18n import name, t
from layouts import ids, names
from layouts.common import aria, data_attrs, lang_switch, logout_button
from layouts.dispatch.form import create_form
from layouts.dispatch.map import console_map
from layouts.dispatch.parts import role_label
from layouts.dispatch.queue import STATE_ANY, STATE_OPEN
from layouts.hold import HOLD_PROPOSALS, HOLD_SUGGEST

# The queue and the detail poll every REFRESH_MS (cheap: one bounded list query and one incident).
REFRESH_MS: Final = 2000


def _filters(lang: str) -> html.Div:
    """The queue's filters: state, severities, subdistrict (kept for the browser session)."""
    states = [{"label": t("dsp.state_open", lang), "value": STATE_OPEN},
              {"label": t("dsp.state_any", lang), "value": STATE_ANY}]
    states += [{"label": name("inc_state", s, lang), "value": s} for s in lifecycle.STATES]
    sevs = [{"label": name("sev", s, lang), "value": s} for s in c.SEVERITIES]
    subs = [{"label": names.subdistrict(code, lang), "value": code} for code in names.subdistrict_codes()]
    return html.Div(
        [
            dcc.Dropdown(id=ids.DISPATCH_FILTER_STATE, options=states, value=STATE_OPEN, clearable=False,
                         searchable=False, className="dsp-filter", persistence=True,
                         persistence_type="session"),
            dcc.Dropdown(id=ids.DISPATCH_FILTER_SEVERITY, options=sevs, value=[], multi=True,
                         placeholder=t("dsp.sev_any", lang), searchable=False, className="dsp-filter",
                         persistence=True, persistence_type="session"),
            dcc.Dropdown(id=ids.DISPATCH_FILTER_SUBDISTRICT, options=subs, value=None,
                         placeholder=t("dsp.sub_any", lang), className="dsp-filter", persistence=True,
                         persistence_type="session"),
        ],
        className="dsp-filters",
    )


def _topbar(lang: str, role: str, user: str) -> html.Header:
    """The console's top bar: title, new-incident button, links, the user, the clock, the language."""
    return html.Header(
        [
            html.H1([t("page.dispatch", lang), html.Small(t("app.title", lang))], className="dsp-title"),
            dbc.Button([html.I(className="bi bi-plus-lg"), " ", t("dsp.new", lang)], id=ids.DISPATCH_NEW_BUTTON,
                       color="primary", className="dsp-new", n_clicks=0, title="N"),
            html.Div(className="dsp-spacer"),
            html.A([html.I(className="bi bi-display"), " ", t("page.wall", lang)], href="/wall",
                   className="dsp-link"),
            html.Span([html.I(className="bi bi-person-circle"), " ",
                       t("dsp.signed_in", lang, user=user, role=role_label(role, lang))], className="dsp-user"),
            html.Span("--:--:--", id=ids.DISPATCH_CLOCK, className="dsp-clock-now"),
            lang_switch(lang, "/dispatch"),
            logout_button(lang, "dsp-link"),
        ],
        className="dsp-top",
    )


def _panel(title: Any, body: Any, cls: str = "", extra: Any = None, body_id: str | None = None,
           hold: str | None = None) -> html.Section:
    """One titled panel of the console (`extra` beside the title, `body_id` on the body; `hold`: the panel is a
    list of action buttons that holds still under the pointer, layouts/hold.py)."""
    header = [html.H2(title, className="dsp-panel-title")]
    if extra is not None:
        header.extend(extra if isinstance(extra, list) else [extra])
    body_kwargs: dict[str, Any] = {"id": body_id} if body_id else {}
    return html.Section(
        [html.Header(header, className="dsp-panel-header"), html.Div(body, className="dsp-panel-body", **body_kwargs)],
        className=f"dsp-panel {cls}".strip(),
        **(data_attrs(hold=hold) if hold else {}),
    )


def confirm_modal(lang: str) -> dbc.Modal:
    """Asks before a destructive action; the reason goes on record with it."""
    return dbc.Modal(
        [
            dbc.ModalHeader(dbc.ModalTitle(t("dsp.confirm_title", lang))),
            dbc.ModalBody(
                [
                    html.Div(id=ids.DISPATCH_CONFIRM_BODY, className="dsp-confirm-text"),
                    dbc.Textarea(id=ids.DISPATCH_CONFIRM_REASON, rows=2, maxLength=2000,
                                 placeholder=t("dsp.reason_optional", lang)),
                ]
            ),
            dbc.ModalFooter(
                [
                    dbc.Button(t("dsp.confirm_back", lang), id=ids.DISPATCH_CONFIRM_CANCEL, color="secondary",
                               n_clicks=0),
                    dbc.Button(t("dsp.confirm_ok", lang), id=ids.DISPATCH_CONFIRM_OK, color="danger", n_clicks=0),
                ]
            ),
        ],
        id=ids.DISPATCH_CONFIRM,
        is_open=False,
        centered=True,
        className="dsp-modal",
    )


def js_strings(lang: str) -> dict[str, Any]:
    """The templates assets/dispatch.js needs to tick ages and deadline clocks, as data-* attributes."""
    keys = ("fresh.ago_s", "fresh.ago_m", "fresh.ago_h", "inc.due_in", "inc.overdue")
    return data_attrs(strings=json.dumps({k: t(k, lang) for k in keys} | {"lang": lang}, ensure_ascii=False))


def dispatch_page(lang: str, role: str, user: str = "", tiles: TileSource = NO_TILES) -> html.Div:
    """The whole console; the queue and the detail arrive with the first poll."""
    queue_extra = html.Span(id=ids.DISPATCH_QUEUE_COUNT, className="dsp-chip")
    left = _panel(
        t("dsp.queue", lang),
        [
            # 未诉先办 / 热线+网格 proposals (callbacks/proposals.py); empty, and so invisible, without any.
            html.Div(id=ids.DISPATCH_PROPOSALS, className="dsp-proposals", role="region",
                     **aria(label=t("prop.title", lang)), **data_attrs(hold=HOLD_PROPOSALS)),
            _filters(lang),
            html.Div(id=ids.DISPATCH_QUEUE, className="dsp-queue", role="listbox", tabIndex="0",
                     **aria(label=t("dsp.queue", lang))),
            html.Div(t("dsp.keys_hint", lang), className="dsp-keys"),
        ],
        "dsp-left",
        queue_extra,
    )
    centre = html.Div(
        [
            _panel(t("dsp.detail", lang),
                   html.Div(t("dsp.none_selected", lang), className="dsp-empty"),
                   "dsp-detail", body_id=ids.DISPATCH_DETAIL),
            create_form(lang),
        ],
        className="dsp-centre",
    )
    right = html.Div(
        [
            html.Section(console_map(lang, tiles), className="dsp-panel dsp-map"),
            _panel(t("dsp.suggest", lang), html.Div(t("dsp.suggest_pick", lang), className="dsp-empty"), "dsp-suggest",
                   [html.Span(t("dsp.suggest_note", lang), className="dsp-note"),
                    dbc.Button([html.I(className="bi bi-arrow-down-up"), " ", t("dsp.suggest_resort", lang)],
                               id=ids.DISPATCH_SUGGEST_RESORT, n_clicks=0, size="sm", color="secondary",
                               outline=True, className="dsp-resort", title=t("dsp.suggest_resort_tip", lang))],
                   body_id=ids.DISPATCH_SUGGEST, hold=HOLD_SUGGEST),
        ],
        className="dsp-right",
    )
    return html.Div(
        [
            _topbar(lang, role, user),
            left,
            centre,
            right,
            confirm_modal(lang),
            dbc.Toast(id=ids.DISPATCH_TOAST, is_open=False, dismissable=True, duration=6000,
                      className="dsp-toast", header=""),
            dcc.Interval(id=ids.DISPATCH_TICK, interval=REFRESH_MS),
            dcc.Store(id=ids.DISPATCH_SELECTED, data=None),
            dcc.Store(id=ids.DISPATCH_SHOWN, data={}),
            dcc.Store(id=ids.DISPATCH_REFRESH, data=0),
            dcc.Store(id=ids.DISPATCH_PENDING, data=None),
            dcc.Store(id=ids.DISPATCH_HOLD, data=None),
            dcc.Store(id=ids.DISPATCH_PROPOSALS_SHOWN, data=None),
            dcc.Store(id=ids.DISPATCH_CREATE_KEY, data=None),
        ],
        id=ids.DISPATCH,
        className="dispatch",
        lang="en" if lang == "en" else "zh-CN",
        **js_strings(lang),
    )
