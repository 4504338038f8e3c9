"""The dispatcher's console, /dispatch (issue 3, item 5): queue on the left, the incident in the centre, the map
focused on it with the suggested units on the right.

Desk PC (1920×1080), mouse and keyboard. Everything here is pure: a page frame, and functions from the service's
dicts (dashboard.services.incidents) to components, so the views are testable without a server.

Every action button carries, in its pattern-matching id, the incident, the version of the incident it was
rendered for and an idempotency key made fresh for that render: a double-click or a retried request sends the
same key (the service then acts once), and a screen older than the incident gets a clear 409 instead of acting
on old data (callbacks/dispatch.py).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, Final

import dash_bootstrap_components as dbc
import dash_leaflet as dl
from dash import dcc, html

from dashboard.domain import geo, lifecycle
from dashboard.domain import rules as c
from dashboard.domain.beijing import BEIJING
from dashboard.i18n import fmt_age, fmt_duration, name, t
from layouts import ids, names
from layouts.common import data_attrs
from layouts.map.geometry import PANES, bounds, feature_collection, fn, labels_geojson, point
from layouts.wall import lang_switch

# The queue and the detail poll every REFRESH_MS (cheap: one bounded list query and one incident).
REFRESH_MS: Final = 2000
QUEUE_LIMIT: Final = 150
SUGGEST_LIMIT: Final = 6
# Suggestions asked of the service, before choosing SUGGEST_LIMIT of them by kind (rank_suggestions).
SUGGEST_POOL: Final = 40
# How many units of the best-suited kind, and of each other suitable kind, the console suggests at most.
SUGGEST_PRIMARY: Final = 3
SUGGEST_OTHER: Final = 2
# An incident younger than this is marked new in the queue.
NEW_S: Final = 60
# Queue filter values besides the states themselves.
STATE_OPEN: Final = "open"
STATE_ANY: Final = "any"
# Zoom when the map centres on an incident without units around it.
FOCUS_ZOOM: Final = 15.5
# Actions shown as plain buttons in the action bar (the others live beside their unit, department or form).
BAR_ACTIONS: Final = (
    lifecycle.ACKNOWLEDGE,
    lifecycle.RESOLVE,
    lifecycle.CLOSE,
    lifecycle.REOPEN,
    lifecycle.ESCALATE,
    lifecycle.CANCEL,
)
# Actions that ask for confirmation first (they end or undo work); lowering the severity does too.
CONFIRM: Final = frozenset(lifecycle.DESTRUCTIVE | {lifecycle.CANCEL, lifecycle.CLOSE})
# Bootstrap colour of each action button.
ACTION_COLOUR: Final = {
    lifecycle.ACKNOWLEDGE: "primary",
    lifecycle.DISPATCH: "primary",
    lifecycle.ARRIVE: "info",
    lifecycle.RESOLVE: "success",
    lifecycle.CLOSE: "secondary",
    lifecycle.CANCEL: "danger",
    lifecycle.REOPEN: "warning",
    lifecycle.CHANGE_SEVERITY: "warning",
    lifecycle.WHISTLE: "warning",
    lifecycle.ACKNOWLEDGE_SUMMONS: "info",
    lifecycle.ESCALATE: "danger",
}
# Bootstrap icon of each action.
ACTION_ICON: Final = {
    lifecycle.ACKNOWLEDGE: "bi-check2-circle",
    lifecycle.DISPATCH: "bi-send",
    lifecycle.ARRIVE: "bi-geo-alt",
    lifecycle.RESOLVE: "bi-check2-all",
    lifecycle.CLOSE: "bi-archive",
    lifecycle.CANCEL: "bi-x-octagon",
    lifecycle.REOPEN: "bi-arrow-counterclockwise",
    lifecycle.CHANGE_SEVERITY: "bi-arrow-down-up",
    lifecycle.WHISTLE: "bi-megaphone",
    lifecycle.ACKNOWLEDGE_SUMMONS: "bi-person-check",
    lifecycle.ESCALATE: "bi-arrow-up-right-circle",
}
# Which state colour class each incident state gets.
STATE_CLASS: Final = {
    "new": "st-new",
    "acknowledged": "st-ack",
    "dispatched": "st-dispatched",
    "on_scene": "st-onscene",
    "resolved": "st-resolved",
    "closed": "st-closed",
    "cancelled": "st-cancelled",
}

KeyGen = Callable[[], str]


def aria(**attrs: str) -> dict[str, Any]:
    """aria-* attributes for a Dash html component: aria(label="…") -> {"aria-label": "…"}."""
    return {f"aria-{k}": v for k, v in attrs.items()}


def new_key() -> str:
    """A fresh idempotency key for one rendered button."""
    return uuid.uuid4().hex


def action_label(action: str, lang: str) -> str:
    """"派遣" / "Dispatch"; unknown timeline actions show their own name."""
    return name("act", action, lang)


def role_label(role: str, lang: str) -> str:
    return name("role", role, lang)


def fmt_when(dt: datetime | None, lang: str, now: datetime) -> str:
    """Beijing time: "14:05:09" today, "3月4日 14:05" / "4 Mar 14:05" another day; "—" for none."""
    if dt is None:
        return "—"
    local = dt.astimezone(BEIJING)
    if local.date() == now.astimezone(BEIJING).date():
        return local.strftime("%H:%M:%S")
    if lang == "en":
        return local.strftime("%-d %b %H:%M")
    return f"{local.month}月{local.day}日 {local.strftime('%H:%M')}"


def clock_text(deadline: datetime, now: datetime, lang: str) -> str:
    """"剩 12:30" / "超时 03:10": the first text of a deadline clock that assets/dispatch.js then ticks."""
    rem = (deadline - now).total_seconds()
    return t("inc.due_in" if rem >= 0 else "inc.overdue", lang, t=fmt_duration(rem, lang))


def deadline_clock(deadline: datetime, now: datetime, lang: str, done: bool = False) -> html.Span:
    """A deadline clock; red when overdue. `done`: the thing was done, the clock stops (no data-deadline)."""
    rem = (deadline - now).total_seconds()
    cls = "dsp-clock" + (" overdue" if rem < 0 and not done else " due-soon" if 0 <= rem < 600 and not done else "")
    attrs = {} if done else data_attrs(deadline=str(deadline.timestamp()))
    return html.Span(clock_text(deadline, now, lang) if not done else "—", className=cls, **attrs)


def sev_badge(sev: int, full: bool = False, lang: str = "zh") -> html.Span:
    """The severity badge, I red / II orange / III yellow / IV blue."""
    text = name("sev", sev, lang) if full else c.SEVERITY_ROMAN.get(sev, "?")
    return html.Span(text, className=f"sev-bg-{sev} dsp-sev")


def state_badge(state: str, lang: str) -> html.Span:
    return html.Span(name("inc_state", state, lang), className=f"dsp-state {STATE_CLASS.get(state, '')}".strip())


def unit_name(u: dict[str, Any], lang: str) -> str:
    return f"{u['code']} · {u['name']}" if u.get("name") and u["name"] != u["code"] else str(u["code"])


# --- the page frame ---------------------------------------------------------------------------


def _filters(lang: str) -> html.Div:
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
            html.A(t("page.logout", lang), href="/logout", className="dsp-link"),
        ],
        className="dsp-top",
    )


def _panel(title: Any, body: Any, cls: str = "", extra: Any = None, body_id: str | None = None) -> html.Section:
    header = [html.H2(title, className="dsp-panel-title")]
    if extra is not None:
        header.append(extra)
    body_kwargs: dict[str, Any] = {"id": body_id} if body_id else {}
    return html.Section(
        [html.Header(header, className="dsp-panel-header"), html.Div(body, className="dsp-panel-body", **body_kwargs)],
        className=f"dsp-panel {cls}".strip(),
    )


def console_map(lang: str, tile_url: str | None = None) -> dl.Map:
    """The wall's base map (district, subdistricts, names from local GeoJSON; tiles only when configured) with
    the incident, the units and the point picked for a new incident."""
    layers: list[Any] = [dl.Pane(name=n, style={"zIndex": z}) for n, z in PANES]
    if tile_url:
        layers.append(dl.TileLayer(url=tile_url, maxZoom=19))
    layers += [
        dl.GeoJSON(data=geo.subdistricts_geojson(), style=fn("subdistrictStyle"), pane="dc-base",
                   hideout={"tiles": bool(tile_url)}, interactive=False),
        dl.GeoJSON(data=geo.boundary_geojson(), style=fn("boundaryStyle"), pane="dc-base", interactive=False),
        dl.GeoJSON(data=labels_geojson(lang), pointToLayer=fn("labelPoint"), pane="dc-labels", interactive=False),
        dl.GeoJSON(id=ids.DISPATCH_MAP_UNITS, data=feature_collection([]),
                   pointToLayer={"variable": "dashExtensions.dcd.unitPoint"}),
        dl.GeoJSON(id=ids.DISPATCH_MAP_INCIDENT, data=feature_collection([]), pointToLayer=fn("incidentPoint")),
        dl.GeoJSON(id=ids.DISPATCH_MAP_PICK, data=feature_collection([]),
                   pointToLayer={"variable": "dashExtensions.dcd.pickPoint"}),
    ]
    return dl.Map(
        layers,
        id=ids.DISPATCH_MAP,
        # The whole district until an incident is opened; then the map flies to it (focus_viewport).
        bounds=bounds(),
        boundsOptions={"padding": [8, 8]},
        zoomSnap=0.25,
        minZoom=11,
        maxZoom=18,
        attributionControl=bool(tile_url),
        trackViewport=False,
        style={"width": "100%", "height": "100%"},
    )


def create_form(lang: str) -> html.Section:
    """The new-incident form; it takes the centre column while open, so the map stays clickable beside it."""
    cats = [{"label": name("inc_cat", k, lang), "value": k} for k in c.INCIDENT_CATEGORIES]
    sevs = [{"label": name("sev", s, lang), "value": s} for s in c.SEVERITIES]

    def row(label: str, control: Any) -> html.Div:
        return html.Div([html.Label(label, className="dsp-form-label"), control], className="dsp-form-row")

    body = html.Div(
        [
            html.P([html.I(className="bi bi-crosshair"), " ", t("dsp.create_hint", lang)], className="dsp-form-hint"),
            row(t("dsp.category", lang), dcc.Dropdown(id=ids.DISPATCH_CREATE_CATEGORY, options=cats,
                                                      value=None, clearable=False)),
            row(t("dsp.severity", lang), dcc.Dropdown(id=ids.DISPATCH_CREATE_SEVERITY, options=sevs, value=4,
                                                      clearable=False, searchable=False)),
            row(t("dsp.title", lang), dbc.Input(id=ids.DISPATCH_CREATE_TITLE, type="text", maxLength=200)),
            row(t("dsp.description", lang), dbc.Textarea(id=ids.DISPATCH_CREATE_DESCRIPTION, maxLength=2000,
                                                         rows=2)),
            html.Div(
                [
                    row(t("dsp.lon", lang), dbc.Input(id=ids.DISPATCH_CREATE_LON, type="number", step="any")),
                    row(t("dsp.lat", lang), dbc.Input(id=ids.DISPATCH_CREATE_LAT, type="number", step="any")),
                ],
                className="dsp-form-pair",
            ),
            html.Div(id=ids.DISPATCH_CREATE_ERROR, className="dsp-form-error", role="alert"),
            html.Div(
                [
                    dbc.Button([html.I(className="bi bi-plus-lg"), " ", t("dsp.create_submit", lang)],
                               id=ids.DISPATCH_CREATE_SUBMIT, color="primary", n_clicks=0),
                    dbc.Button(t("dsp.create_close", lang), id=ids.DISPATCH_CREATE_CLOSE, color="secondary",
                               n_clicks=0),
                ],
                className="dsp-form-buttons",
            ),
        ],
        className="dsp-form",
    )
    return html.Section(
        [html.Header(html.H2(t("dsp.create_title", lang), className="dsp-panel-title"),
                     className="dsp-panel-header"),
         html.Div(body, className="dsp-panel-body")],
        id=ids.DISPATCH_CREATE,
        className="dsp-panel dsp-create hidden",
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


def dispatch_page(lang: str, role: str, user: str = "", tile_url: str | None = None) -> html.Div:
    """The whole console; the queue and the detail arrive with the first poll."""
    queue_extra = html.Span(id=ids.DISPATCH_QUEUE_COUNT, className="dsp-chip")
    left = _panel(
        t("dsp.queue", lang),
        [
            # 未诉先办 / 热线+网格 proposals (callbacks/proposals.py); empty, and so invisible, without any.
            html.Div(id=ids.DISPATCH_PROPOSALS, className="dsp-proposals", role="region",
                     **aria(label=t("prop.title", lang))),
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
            html.Section(console_map(lang, tile_url), className="dsp-panel dsp-map"),
            _panel(t("dsp.suggest", lang), html.Div(className="dsp-empty"), "dsp-suggest",
                   html.Span(t("dsp.suggest_note", lang), className="dsp-note"), body_id=ids.DISPATCH_SUGGEST),
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
            dcc.Store(id=ids.DISPATCH_CREATE_KEY, data=None),
        ],
        id=ids.DISPATCH,
        className="dispatch",
        lang="en" if lang == "en" else "zh-CN",
        **js_strings(lang),
    )


# --- the queue --------------------------------------------------------------------------------


def queue_row(it: dict[str, Any], lang: str, now: datetime, selected: bool) -> html.Div:
    """One incident of the queue: severity badge, title, state · category · place, age and deadline clock."""
    sev = int(it["severity"])
    created = it["created_at"]
    meta = " · ".join(x for x in (name("inc_cat", it["category"], lang), names.subdistrict(it["subdistrict"], lang))
                      if x)
    is_open = it["state"] in lifecycle.OPEN_STATES
    age_s = (now - created).total_seconds()
    cls = "dsp-row" + (" selected" if selected else "") + (" new" if age_s < NEW_S and is_open else "")
    cls += "" if is_open else " ended"
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
        **aria(selected="true" if selected else "false"),
        **data_attrs(id=str(it["id"]), sev=str(sev)),
    )


def queue_rows(items: list[dict[str, Any]], lang: str, now: datetime, selected: int | None) -> list[Any]:
    """The queue in the service's order (most severe, then newest first), or a line saying it is empty."""
    if not items:
        return [html.Div(t("dsp.queue_empty", lang), className="dsp-empty")]
    return [queue_row(it, lang, now, it["id"] == selected) for it in items]


# --- the detail -------------------------------------------------------------------------------


def action_id(action: str, incident: dict[str, Any], key: str, arg: object = "") -> dict[str, Any]:
    """The pattern-matching id of one action button (see the module docstring)."""
    return {
        "type": ids.DISPATCH_ACTION,
        "action": action,
        "arg": "" if arg is None else str(arg),
        "key": key,
        "incident": int(incident["id"]),
        "version": int(incident["version"]),
    }


def field_id(field: str) -> dict[str, str]:
    return {"type": ids.DISPATCH_FIELD, "field": field}


def action_button(action: str, incident: dict[str, Any], lang: str, keygen: KeyGen, arg: object = "",
                  label: str | None = None, size: str | None = None) -> dbc.Button:
    return dbc.Button(
        [html.I(className=f"bi {ACTION_ICON.get(action, 'bi-lightning')}"), " ", label or action_label(action, lang)],
        id=action_id(action, incident, keygen(), arg),
        color=ACTION_COLOUR.get(action, "secondary"),
        size=size,
        n_clicks=0,
        className=f"dsp-act dsp-act-{action}",
    )


def _persist(incident: dict[str, Any]) -> dict[str, Any]:
    """Form fields keep what was typed across re-renders of the same incident version (not to another one)."""
    return {"persistence": f"{incident['id']}-{incident['version']}", "persistence_type": "memory"}


def actions_bar(d: dict[str, Any], role: str, lang: str, keygen: KeyGen) -> html.Div:
    """The buttons that fit the incident's state and the user's role (lifecycle.allowed_actions)."""
    allowed = lifecycle.allowed_actions(d["state"], role)
    buttons = [action_button(a, d, lang, keygen) for a in BAR_ACTIONS if a in allowed]
    forms: list[Any] = []
    if lifecycle.CHANGE_SEVERITY in allowed:
        options = [{"label": name("sev", s, lang), "value": s} for s in c.SEVERITIES if s != d["severity"]]
        forms.append(
            html.Div(
                [
                    dcc.Dropdown(id=field_id("severity"), options=options, value=None, clearable=False,
                                 searchable=False, placeholder=t("dsp.new_severity", lang), className="dsp-sev-pick",
                                 **_persist(d)),
                    dbc.Input(id=field_id("reason"), placeholder=t("dsp.reason_required", lang), maxLength=2000,
                              className="dsp-reason", **_persist(d)),
                    action_button(lifecycle.CHANGE_SEVERITY, d, lang, keygen, arg=d["severity"]),
                ],
                className="dsp-form-inline",
            )
        )
    if lifecycle.WHISTLE in allowed:
        summoned = {s["department"] for s in d.get("summons", [])}
        options = [
            {"label": (c.DEPARTMENT_NAMES[dep][1] if lang == "en" else c.DEPARTMENT_NAMES[dep][0]), "value": dep}
            for dep in c.DEPARTMENTS
            if dep not in summoned
        ]
        if options:
            forms.append(
                html.Div(
                    [
                        html.Span(t("dsp.departments", lang), className="dsp-form-label"),
                        dbc.Checklist(id=field_id("departments"), options=options, value=[], inline=True,
                                      className="dsp-deps", **_persist(d)),
                        action_button(lifecycle.WHISTLE, d, lang, keygen),
                    ],
                    className="dsp-form-inline dsp-whistle",
                )
            )
    hint: list[Any] = []
    if lifecycle.DISPATCH in allowed:
        hint = [html.Div([html.I(className="bi bi-arrow-right-circle"), " ", t("dsp.suggest", lang), " →"],
                         className="dsp-hint")]
    if not buttons and not forms and not hint:
        return html.Div(t("dsp.no_actions", lang), className="dsp-empty dsp-actions")
    return html.Div([html.Div([*buttons, *hint], className="dsp-buttons"), *forms], className="dsp-actions")


def _timeline_text(e: dict[str, Any], lang: str, units: dict[int, str]) -> str:
    """What an entry did beyond its name: the move, the unit, the departments, the severity, the reason."""
    d = e.get("detail") or {}
    parts: list[str] = []
    if d.get("from") and d.get("to") and d["from"] != d["to"]:
        parts.append(f"{name('inc_state', d['from'], lang)} → {name('inc_state', d['to'], lang)}")
    if d.get("unit"):
        parts.append(str(d["unit"]))
    elif e.get("unit_id") in units:
        parts.append(units[e["unit_id"]])
    if d.get("departments"):
        parts.append("、".join(department_name(x, lang) for x in d["departments"]))
    elif d.get("department"):
        parts.append(department_name(d["department"], lang))
    if d.get("from_severity") and d.get("to_severity"):
        parts.append(f"{c.SEVERITY_ROMAN.get(d['from_severity'], '?')} → {c.SEVERITY_ROMAN.get(d['to_severity'], '?')}")
    if d.get("released_units"):
        released = d["released_units"]
        parts.append("↩ " + ", ".join(map(str, released)) if isinstance(released, list) else str(released))
    return " · ".join(parts)


def department_name(dep: str, lang: str) -> str:
    zh, en = c.DEPARTMENT_NAMES.get(dep, (dep, dep))
    return en if lang == "en" else zh


def timeline_view(d: dict[str, Any], lang: str, now: datetime) -> html.Ol:
    """Every action on the incident, newest first: when, who, what, and the reason or note."""
    units = {u["id"]: u["code"] for u in d.get("units", [])}
    items = []
    for e in reversed(d.get("timeline", [])):
        detail = e.get("detail") or {}
        refused = e.get("outcome") == "refused"
        note = detail.get("reason") if refused else (detail.get("reason") or detail.get("note"))
        text = _timeline_text(e, lang, units)
        items.append(
            html.Li(
                [
                    html.Span(fmt_when(e["at"], lang, now), className="dsp-tl-time"),
                    html.Span(str(e.get("actor", "")), className="dsp-tl-actor"),
                    html.Span(
                        [action_label(str(e.get("action", "")), lang)]
                        + ([html.Span(t("dsp.refused", lang), className="dsp-tl-refused")] if refused else []),
                        className="dsp-tl-action",
                    ),
                    html.Span(text, className="dsp-tl-text") if text else None,
                    html.Div(str(note), className="dsp-tl-note") if note else None,
                ],
                className="dsp-tl-item refused" if refused else "dsp-tl-item",
            )
        )
    return html.Ol(items, className="dsp-timeline")


def summons_view(d: dict[str, Any], role: str, lang: str, now: datetime, keygen: KeyGen) -> html.Div:
    """吹哨报到: each summoned department with its acknowledgement or its deadline clock (overdue in red)."""
    summons = d.get("summons", [])
    if not summons:
        return html.Div(t("dsp.summons_none", lang), className="dsp-empty")
    may_ack = lifecycle.ACKNOWLEDGE_SUMMONS in lifecycle.allowed_actions(d["state"], role)
    rows = []
    for sm in summons:
        acked = sm.get("acknowledged_at") is not None
        if acked:
            status: Any = html.Span(t("dsp.summons_ack", lang, who=sm.get("acknowledged_by") or "?",
                                      t=fmt_when(sm["acknowledged_at"], lang, now)), className="dsp-ok")
        else:
            status = deadline_clock(sm["deadline_at"], now, lang)
        button = (
            action_button(lifecycle.ACKNOWLEDGE_SUMMONS, d, lang, keygen, arg=sm["department"], size="sm")
            if may_ack and not acked and d["state"] in lifecycle.OPEN_STATES
            else None
        )
        rows.append(
            html.Div(
                [
                    html.Span(sm["department_en"] if lang == "en" else sm["department_zh"], className="dsp-dep"),
                    html.Span(fmt_when(sm["summoned_at"], lang, now), className="dsp-dim"),
                    status,
                    html.Span("⚑", className="dsp-escalated", title=t("dsp.escalated", lang))
                    if sm.get("escalated_at") else None,
                    button,
                ],
                className="dsp-summons-row" + (" overdue" if sm.get("overdue") else "") + (" acked" if acked else ""),
                **data_attrs(department=sm["department"]),
            )
        )
    return html.Div(rows, className="dsp-summons")


def units_view(d: dict[str, Any], role: str, lang: str, keygen: KeyGen) -> html.Div:
    """The units assigned now, with an "arrived" button for those not on scene yet."""
    units = d.get("units", [])
    if not units:
        return html.Div(t("dsp.units_none", lang), className="dsp-empty")
    may_arrive = lifecycle.ARRIVE in lifecycle.allowed_actions(d["state"], role)
    rows = []
    for u in units:
        rows.append(
            html.Div(
                [
                    html.Span(name("unit_kind", u["kind"], lang), className=f"dsp-kind kind-{u['kind']}"),
                    html.Span(unit_name(u, lang), className="dsp-unit-name", title=unit_name(u, lang)),
                    html.Span(name("unit_status", u["status"], lang), className=f"dsp-unit-status us-{u['status']}"),
                    action_button(lifecycle.ARRIVE, d, lang, keygen, arg=u["id"], size="sm")
                    if may_arrive and u["status"] != "on_scene" else None,
                ],
                className="dsp-unit-row",
                **data_attrs(unit=str(u["code"])),
            )
        )
    return html.Div(rows, className="dsp-units")


def _fact(label: str, value: Any) -> html.Div:
    return html.Div([html.Dt(label), html.Dd(value)], className="dsp-fact")


def detail_view(d: dict[str, Any], role: str, lang: str, now: datetime, keygen: KeyGen = new_key) -> list[Any]:
    """The centre column for one incident (a get_incident dict)."""
    is_open = d["state"] in lifecycle.OPEN_STATES
    flags: list[Any] = []
    if d.get("overdue"):
        flags.append(html.Span(t("dsp.overdue_flag", lang), className="dsp-flag overdue"))
    if d.get("escalated_at"):
        flags.append(html.Span(t("dsp.escalated", lang), className="dsp-flag escalated"))
    header = html.Div(
        [
            sev_badge(int(d["severity"]), True, lang),
            html.H3([html.Span(f"#{d['id']}", className="dsp-id"), d["title"]], className="dsp-detail-title"),
            state_badge(d["state"], lang),
            *flags,
        ],
        className="dsp-detail-head",
        **data_attrs(incident=str(d["id"]), state=d["state"], version=str(d["version"])),
    )
    facts = [
        _fact(t("dsp.category", lang), name("inc_cat", d["category"], lang)),
        _fact(t("dsp.subdistrict", lang), names.subdistrict(d["subdistrict"], lang) or "—"),
        _fact(t("dsp.reported", lang), fmt_when(d["reported_at"], lang, now)),
        _fact(t("dsp.deadline", lang),
              [fmt_when(d["deadline_at"], lang, now), " ", deadline_clock(d["deadline_at"], now, lang)]
              if is_open else fmt_when(d["deadline_at"], lang, now)),
        _fact(t("dsp.acknowledged", lang), fmt_when(d.get("acknowledged_at"), lang, now)),
        _fact(t("dsp.source", lang), name("src", d["source"], lang) if d.get("source") else "—"),
        _fact(t("dsp.location", lang), f"{d['lon']:.5f}, {d['lat']:.5f}"),
    ]
    if d.get("resolved_at"):
        facts.append(_fact(t("dsp.resolved", lang), fmt_when(d["resolved_at"], lang, now)))
    if d.get("closed_at"):
        facts.append(_fact(t("dsp.closed", lang), fmt_when(d["closed_at"], lang, now)))
    body = [
        header,
        html.P(d["description"], className="dsp-desc") if d.get("description") else None,
        html.Dl(facts, className="dsp-facts"),
        html.H4(t("dsp.actions", lang), className="dsp-sub"),
        actions_bar(d, role, lang, keygen),
        html.Div(
            [
                html.Div(
                    [
                        html.H4(t("dsp.units", lang), className="dsp-sub"),
                        units_view(d, role, lang, keygen),
                        html.H4(t("dsp.summons", lang), className="dsp-sub"),
                        summons_view(d, role, lang, now, keygen),
                    ],
                    className="dsp-col",
                ),
                html.Div([html.H4(t("dsp.timeline", lang), className="dsp-sub"), timeline_view(d, lang, now)],
                         className="dsp-col dsp-col-tl"),
            ],
            className="dsp-detail-cols",
        ),
    ]
    return [b for b in body if b is not None]


def suggest_view(d: dict[str, Any], suggestions: list[dict[str, Any]], role: str, lang: str,
                 keygen: KeyGen = new_key) -> list[Any]:
    """The nearest available suitable units, each with its straight-line distance and a Dispatch button."""
    if not lifecycle.is_legal(d["state"], lifecycle.DISPATCH):
        return [html.Div(t("dsp.suggest_closed", lang), className="dsp-empty")]
    if not suggestions:
        return [html.Div(t("dsp.suggest_none", lang), className="dsp-empty")]
    may = lifecycle.DISPATCH in lifecycle.allowed_actions(d["state"], role)
    rows = [
        html.Div(
            [
                html.Span(str(i + 1), className="dsp-rank"),
                html.Span(name("unit_kind", u["kind"], lang), className=f"dsp-kind kind-{u['kind']}"),
                html.Span(unit_name(u, lang), className="dsp-unit-name", title=unit_name(u, lang)),
                html.Span(_km(u, lang), className="dsp-km"),
                action_button(lifecycle.DISPATCH, d, lang, keygen, arg=u["id"], size="sm") if may else None,
            ],
            className="dsp-suggest-row",
            **data_attrs(unit=str(u["code"])),
        )
        for i, u in enumerate(suggestions)
    ]
    if not may:
        rows.append(html.Div(t("dsp.suggest_readonly", lang), className="dsp-note"))
    return rows


def rank_suggestions(category: str, units: list[dict[str, Any]], limit: int = SUGGEST_LIMIT) -> list[dict[str, Any]]:
    """The units to suggest: the kinds suited to the category in their order of preference
    (constants.CATEGORY_UNIT_KINDS: fire engines before ambulances for a fire), nearest first within a kind.

    suggest_units already ranks them so; this keeps the console's short list varied: at most SUGGEST_PRIMARY of
    the best-suited kind and SUGGEST_OTHER of each other kind, `limit` in all.
    """
    kinds = c.CATEGORY_UNIT_KINDS.get(category, c.UNIT_KINDS)
    order = {k: i for i, k in enumerate(kinds)}
    out: list[dict[str, Any]] = []
    taken: dict[str, int] = {}
    for u in sorted((u for u in units if u["kind"] in order), key=lambda u: (order[u["kind"]], u["distance_km"],
                                                                          u["code"])):
        cap = SUGGEST_PRIMARY if order[u["kind"]] == 0 else SUGGEST_OTHER
        if taken.get(u["kind"], 0) < cap:
            taken[u["kind"]] = taken.get(u["kind"], 0) + 1
            out.append(u)
    return out[:limit]


# --- the map's layers -------------------------------------------------------------------------


def incident_geojson(d: dict[str, Any], lang: str) -> dict[str, Any]:
    """The incident as one point (drawn like on the wall: a severity-coloured marker)."""
    tip = f"{c.SEVERITY_ROMAN.get(d['severity'], '')} · {name('inc_cat', d['category'], lang)} · {d['title']}"
    return feature_collection(
        [point(f"i{d['id']}", d["lon"], d["lat"], {"sev": d["severity"], "ts": d["created_at"].timestamp(),
                                                   "tip": tip})]
    )


def _km(u: dict[str, Any], lang: str) -> str:
    return t("dsp.km", lang, d=f"{u['distance_km']:.1f}")


def units_geojson(d: dict[str, Any], suggestions: Iterable[dict[str, Any]], lang: str) -> dict[str, Any]:
    """Assigned units (role "a") and suggested ones (role "s", numbered as in the list) as points."""
    feats = []
    for u in d.get("units", []):
        tip = f"{unit_name(u, lang)} · {name('unit_status', u['status'], lang)}"
        feats.append(point(f"u{u['id']}", u["lon"], u["lat"], {"r": "a", "k": u["kind"], "label": u["code"],
                                                               "tip": tip}))
    for i, u in enumerate(suggestions):
        tip = f"{i + 1}. {unit_name(u, lang)} · {_km(u, lang)}"
        feats.append(point(f"u{u['id']}", u["lon"], u["lat"], {"r": "s", "k": u["kind"], "label": str(i + 1),
                                                               "tip": tip}))
    return feature_collection(feats)


def focus_viewport(d: dict[str, Any], suggestions: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Centre the map on the incident, wide enough to show the nearest suggested units (at most ~2 km away)."""
    pts = [(d["lon"], d["lat"])]
    pts += [(u["lon"], u["lat"]) for u in list(suggestions)[:3] if u.get("distance_km", 99) < 2.5]
    pts += [(u["lon"], u["lat"]) for u in d.get("units", [])]
    if len(pts) == 1:
        return {"center": [d["lat"], d["lon"]], "zoom": FOCUS_ZOOM, "transition": "flyTo"}
    # Symmetric around the incident, so it stays in the centre.
    dx = max(abs(x - d["lon"]) for x, _ in pts) + 0.002
    dy = max(abs(y - d["lat"]) for _, y in pts) + 0.0015
    return {
        "bounds": [[d["lat"] - dy, d["lon"] - dx], [d["lat"] + dy, d["lon"] + dx]],
        "transition": "flyToBounds",
        "options": {"maxZoom": FOCUS_ZOOM, "padding": [36, 36], "duration": 0.6},
    }


def pick_geojson(lon: float | None, lat: float | None) -> dict[str, Any]:
    """The point picked for a new incident (none until one is picked)."""
    if lon is None or lat is None:
        return feature_collection([])
    return feature_collection([point("pick", lon, lat, {})])
