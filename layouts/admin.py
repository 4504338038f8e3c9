"""The administrator's page, /admin (issue 4, item 4): users and roles, alarm thresholds and deadlines, the
health of data sources, workers and queues, and the audit log.

Desk PC (1920×1080), mouse and keyboard, on the wall's dark theme (assets/admin.css). Four sections behind one
switch at the top; only the open one is shown. Everything here is pure: the page frame, and functions from
the plain dicts of dashboard.services.admin / tunables, dashboard.live.health and dashboard.store to components, so
the views are testable without a server. The callbacks (callbacks/admin.py) check the role on the server for every
request.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Final

import dash_bootstrap_components as dbc
from dash import dcc, html

from dashboard.domain import rules as c
from dashboard.domain import tunables
from dashboard.i18n import fmt_age, fmt_int, name, t, to_beijing
from layouts import ids
from layouts.common import data_attrs
from layouts.wall import lang_switch

TABS: Final = ("users", "settings", "health", "audit")
# The health section re-reads Redis and RQ this often while it is open.
HEALTH_MS: Final = 5000
AUDIT_PAGE_SIZE: Final = 50
# Audit outcomes offered in the filter ("" = any).
OUTCOMES: Final = ("ok", "refused")
DETAIL_MAX: Final = 160
STATE_COLOUR: Final = {"live": "success", "quiet": "warning", "silent": "danger", "never": "secondary"}
# Deadline groups: (group, keys, unit, bounds).
DEADLINE_GROUPS: Final = (
    ("incident_min", tuple(str(s) for s in c.SEVERITIES), "min", tunables.INCIDENT_MIN_BOUNDS),
    ("hotline_h", c.HOTLINE_CATEGORIES, "h", tunables.HOTLINE_H_BOUNDS),
    ("summons_min", ("",), "min", tunables.SUMMONS_MIN_BOUNDS),
)


def threshold_id(sensor: str, level: str) -> dict[str, str]:
    """The pattern-matching id of one threshold input."""
    return {"type": ids.ADMIN_THRESHOLD, "sensor": sensor, "level": level}


def deadline_id(group: str, key: str) -> dict[str, str]:
    """The pattern-matching id of one deadline input ("summons_min" has the key "")."""
    return {"type": ids.ADMIN_DEADLINE, "group": group, "key": key}


def fmt_dt(when: datetime | float | None, lang: str) -> str:
    """Beijing date and time, "2026-11-25 09:30:05" (the same in both languages); "—" for none."""
    if when is None:
        return "—"
    epoch = when.timestamp() if isinstance(when, datetime) else float(when)
    return to_beijing(epoch).strftime("%Y-%m-%d %H:%M:%S")


def fmt_value(v: float | int | str | None) -> str:
    """A threshold as people write it: 15, 7.5, -12."""
    if v is None:
        return "—"
    f = float(v)
    return str(int(f)) if f == int(f) else f"{f:g}"


def problem_text(code: str, params: Mapping[str, Any], lang: str) -> str:
    """One field's problem in `lang` (codes of services.tunables and services.admin); deadline units said too."""
    if params.get("unit") in ("min", "h"):
        params = {**params, "unit": t(f"admin.unit_{params['unit']}", lang)}
    return t(f"admin.err_{code}", lang, **params) if params else t(f"admin.err_{code}", lang)


def field_label(field: str, lang: str) -> str:
    """"PM2.5 预警值", "II 级事件时限", "供暖 办理时限" … for a field name of a settings problem."""
    group, _, key = field.partition(".")
    if group in c.SENSOR_TYPES:
        return t("admin.field_threshold", lang, sensor=name("sensor", group, lang), level=t(f"admin.{key}", lang))
    if group == "incident_min":
        return t("admin.field_incident", lang, sev=c.SEVERITY_ROMAN.get(int(key), key) if key.isdigit() else key)
    if group == "hotline_h":
        return t("admin.field_hotline", lang, cat=name("hl_cat", key, lang))
    if group == "summons_min":
        return t("admin.summons", lang)
    return t(f"admin.field_{group}", lang)


def problems_list(problems: Mapping[str, tuple[str, Mapping[str, Any]]], lang: str) -> list[Any]:
    """The problems of a refused form, one line per field, in form order."""
    return [html.Li(f"{field_label(f, lang)}：{problem_text(code, params, lang)}" if lang == "zh"
                    else f"{field_label(f, lang)}: {problem_text(code, params, lang)}")
            for f, (code, params) in problems.items()]


# --- the page frame ---------------------------------------------------------------------------


def _topbar(lang: str, user: str) -> html.Header:
    return html.Header(
        [
            html.H1([t("page.admin", lang), html.Small(t("app.title", lang))], className="adm-title"),
            dbc.RadioItems(
                id=ids.ADMIN_TABS,
                options=[{"label": t(f"admin.tab_{tab}", lang), "value": tab} for tab in TABS],
                value=TABS[0],
                inline=True,
                className="adm-tabs btn-group",
                inputClassName="btn-check",
                labelClassName="btn btn-outline-info",
                labelCheckedClassName="active",
                persistence=True,
                persistence_type="session",
            ),
            html.Div(className="adm-spacer"),
            html.A([html.I(className="bi bi-display"), " ", t("page.wall", lang)], href="/wall", className="adm-link"),
            html.A([html.I(className="bi bi-kanban"), " ", t("page.dispatch", lang)], href="/dispatch",
                   className="adm-link"),
            html.Span([html.I(className="bi bi-person-circle"), " ", t("admin.signed_in", lang, user=user)],
                      className="adm-user"),
            lang_switch(lang, "/admin"),
            html.A(t("page.logout", lang), href="/logout", className="adm-link"),
        ],
        className="adm-top",
    )


def _panel(title: Any, body: Any, cls: str = "", extra: Any = None) -> html.Section:
    header: list[Any] = [html.H2(title, className="adm-panel-title")]
    if extra is not None:
        header.append(extra)
    return html.Section(
        [html.Header(header, className="adm-panel-header"), html.Div(body, className="adm-panel-body")],
        className=f"adm-panel {cls}".strip(),
    )


def _row(label: str, control: Any, hint: str | None = None) -> html.Div:
    parts: list[Any] = [html.Label(label, className="adm-label"), control]
    if hint:
        parts.append(html.Small(hint, className="adm-hint"))
    return html.Div(parts, className="adm-form-row")


def _role_options(lang: str) -> list[dict[str, str]]:
    return [{"label": name("role", r, lang), "value": r} for r in c.ROLES]


def users_section(lang: str) -> html.Div:
    """The users table on the left; the selected user and the new-user form on the right."""
    edit = html.Div(
        [
            html.Div(t("admin.pick_user", lang), id=ids.ADMIN_USER_TITLE, className="adm-user-title"),
            _row(t("admin.role", lang), html.Div([
                dcc.Dropdown(id=ids.ADMIN_USER_ROLE, options=_role_options(lang), value=None, clearable=False,
                             searchable=False, disabled=True, className="adm-grow"),
                dbc.Button(t("admin.change_role", lang), id=ids.ADMIN_USER_ROLE_SAVE, color="warning", n_clicks=0,
                           disabled=True),
            ], className="adm-inline")),
            _row(t("admin.new_password", lang), html.Div([
                dbc.Input(id=ids.ADMIN_USER_PASSWORD, type="password", autoComplete="new-password", maxLength=256,
                          disabled=True, className="adm-grow"),
                dbc.Button(t("admin.reset_password", lang), id=ids.ADMIN_USER_PASSWORD_SAVE, color="warning",
                           n_clicks=0, disabled=True),
            ], className="adm-inline"), t("admin.password_hint", lang, min=8)),
            html.Div([
                dbc.Button([html.I(className="bi bi-person-slash"), " ", t("admin.disable", lang)],
                           id=ids.ADMIN_USER_DISABLE, color="danger", n_clicks=0, disabled=True),
                dbc.Button([html.I(className="bi bi-person-check"), " ", t("admin.enable", lang)],
                           id=ids.ADMIN_USER_ENABLE, color="success", n_clicks=0, disabled=True),
            ], className="adm-buttons"),
            html.P(t("admin.effective_hint", lang), className="adm-hint"),
            html.Div(id=ids.ADMIN_USER_ERROR, className="adm-error", role="alert"),
        ],
        className="adm-form",
    )
    create = html.Div(
        [
            _row(t("admin.username", lang), dbc.Input(id=ids.ADMIN_NEW_USERNAME, type="text", maxLength=64,
                                                     autoComplete="off"), t("admin.username_hint", lang)),
            _row(t("admin.display_name", lang), dbc.Input(id=ids.ADMIN_NEW_DISPLAY, type="text", maxLength=128,
                                                         autoComplete="off")),
            _row(t("admin.role", lang), dcc.Dropdown(id=ids.ADMIN_NEW_ROLE, options=_role_options(lang),
                                                     value="duty", clearable=False, searchable=False)),
            _row(t("admin.password", lang), dbc.Input(id=ids.ADMIN_NEW_PASSWORD, type="password", maxLength=256,
                                                     autoComplete="new-password"), t("admin.password_hint", lang,
                                                                                     min=8)),
            html.Div(id=ids.ADMIN_NEW_ERROR, className="adm-error", role="alert"),
            html.Div(dbc.Button([html.I(className="bi bi-person-plus"), " ", t("admin.create", lang)],
                                id=ids.ADMIN_NEW_SUBMIT, color="primary", n_clicks=0), className="adm-buttons"),
        ],
        className="adm-form",
    )
    return html.Div(
        [
            _panel(t("admin.users", lang), html.Div(id=ids.ADMIN_USERS, className="adm-table-wrap"), "adm-users"),
            html.Div([_panel(t("admin.edit_user", lang), edit), _panel(t("admin.new_user", lang), create)],
                     className="adm-side"),
        ],
        className="adm-section adm-sec-users",
    )


def _number_input(cid: dict[str, str], step: str) -> dbc.Input:
    return dbc.Input(id=cid, type="number", step=step, className="adm-num", size="sm")


def thresholds_form(lang: str) -> html.Div:
    """One row per sensor type: range, warning and alarm inputs, the default."""
    head = html.Tr([html.Th(t(k, lang)) for k in ("admin.sensor", "admin.unit", "admin.range", "admin.warn_head",
                                                   "admin.alarm_head", "admin.default")])
    rows = []
    for stype, spec in c.SENSOR_TYPES.items():
        rows.append(html.Tr([
            html.Td(name("sensor", stype, lang)),
            html.Td(str(spec["unit"]), className="adm-dim"),
            html.Td(f"{fmt_value(spec['min'])} – {fmt_value(spec['max'])}", className="adm-dim adm-numcell"),
            html.Td(_number_input(threshold_id(stype, "warn"), "any")),
            html.Td(_number_input(threshold_id(stype, "alarm"), "any")),
            html.Td(f"{fmt_value(spec['warn'])} / {fmt_value(spec['alarm'])}", className="adm-dim adm-numcell"),
        ], **data_attrs(sensor=stype)))
    return html.Div(
        [
            html.Table([html.Thead(head), html.Tbody(rows)], className="adm-table adm-thresholds"),
            html.P(t("admin.threshold_hint", lang), className="adm-hint"),
            html.Div(id=ids.ADMIN_THRESHOLDS_ERROR, className="adm-error", role="alert"),
            html.Div(
                [
                    html.Span(id=ids.ADMIN_THRESHOLDS_META, className="adm-meta"),
                    dbc.Button([html.I(className="bi bi-save"), " ", t("admin.save_thresholds", lang)],
                               id=ids.ADMIN_THRESHOLDS_SAVE, color="primary", n_clicks=0),
                ],
                className="adm-buttons adm-save-row",
            ),
        ]
    )


def _deadline_label(group: str, key: str, lang: str) -> str:
    if group == "incident_min":
        return name("sev", int(key), lang)
    if group == "hotline_h":
        return name("hl_cat", key, lang)
    return t("admin.summons", lang)


def deadlines_form(lang: str) -> html.Div:
    """Incident deadlines by severity, hotline deadlines by category, the time to report when summoned."""
    defaults = tunables.default_deadlines().as_doc()
    blocks = []
    for group, keys_, unit, (lo, hi) in DEADLINE_GROUPS:
        rows = []
        for key in keys_:
            default = defaults[group] if group == "summons_min" else defaults[group][key]
            rows.append(html.Tr([
                html.Td(_deadline_label(group, key, lang)),
                html.Td(_number_input(deadline_id(group, key), "1")),
                html.Td(t(f"admin.unit_{unit}", lang), className="adm-dim"),
                html.Td(t("admin.default_is", lang, n=default), className="adm-dim adm-numcell"),
            ]))
        blocks.append(html.Div(
            [
                html.H3([t(f"admin.group_{group}", lang),
                         html.Small(t("admin.bounds", lang, lo=lo, hi=hi, unit=t(f"admin.unit_{unit}", lang)))],
                        className="adm-subtitle"),
                html.Table(html.Tbody(rows), className="adm-table adm-deadlines"),
            ],
            className=f"adm-deadline-group adm-dl-{group}",
        ))
    return html.Div(
        [
            html.Div(blocks, className="adm-deadline-grid"),
            html.P(t("admin.deadline_hint", lang), className="adm-hint"),
            html.Div(id=ids.ADMIN_DEADLINES_ERROR, className="adm-error", role="alert"),
            html.Div(
                [
                    html.Span(id=ids.ADMIN_DEADLINES_META, className="adm-meta"),
                    dbc.Button([html.I(className="bi bi-save"), " ", t("admin.save_deadlines", lang)],
                               id=ids.ADMIN_DEADLINES_SAVE, color="primary", n_clicks=0),
                ],
                className="adm-buttons adm-save-row",
            ),
        ]
    )


def settings_section(lang: str) -> html.Div:
    """Thresholds on the left, deadlines on the right."""
    return html.Div(
        [
            _panel(t("admin.thresholds", lang), thresholds_form(lang), "adm-thresholds-panel"),
            _panel(t("admin.deadlines", lang), deadlines_form(lang), "adm-deadlines-panel"),
        ],
        className="adm-section adm-sec-settings",
    )


def health_section(lang: str) -> html.Div:
    """Data sources across the top; queues and workers below."""
    return html.Div(
        [
            _panel(t("admin.sources", lang), html.Div(id=ids.ADMIN_SOURCES, className="adm-table-wrap"),
                   "adm-sources-panel", html.Span(id=ids.ADMIN_HEALTH_STAMP, className="adm-meta")),
            _panel(t("admin.queues", lang), html.Div(id=ids.ADMIN_QUEUES, className="adm-table-wrap"),
                   "adm-queues-panel"),
            _panel(t("admin.workers", lang), html.Div(id=ids.ADMIN_WORKERS, className="adm-table-wrap"),
                   "adm-workers-panel"),
        ],
        className="adm-section adm-sec-health",
    )


def audit_filters(lang: str) -> html.Div:
    """Actor, action, outcome, target and time range (Beijing time), applied with one button."""
    outcomes = [{"label": t("admin.any_outcome", lang), "value": ""}]
    outcomes += [{"label": t(f"admin.outcome_{o}", lang), "value": o} for o in OUTCOMES]

    def field(label: str, control: Any) -> html.Div:
        return html.Div([html.Label(label, className="adm-label"), control], className="adm-filter")

    return html.Div(
        [
            field(t("admin.actor", lang), dbc.Input(id=ids.ADMIN_AUDIT_ACTOR, type="text", size="sm",
                                                    placeholder=t("admin.actor_ph", lang))),
            field(t("admin.action", lang), dbc.Input(id=ids.ADMIN_AUDIT_ACTION, type="text", size="sm",
                                                     placeholder=t("admin.action_ph", lang))),
            field(t("admin.outcome", lang), dcc.Dropdown(id=ids.ADMIN_AUDIT_OUTCOME, options=outcomes, value="",
                                                         clearable=False, searchable=False)),
            field(t("admin.target", lang), dbc.Input(id=ids.ADMIN_AUDIT_TARGET, type="text", size="sm",
                                                     placeholder=t("admin.target_ph", lang))),
            field(t("admin.since", lang), dbc.Input(id=ids.ADMIN_AUDIT_SINCE, type="datetime-local", size="sm")),
            field(t("admin.until", lang), dbc.Input(id=ids.ADMIN_AUDIT_UNTIL, type="datetime-local", size="sm")),
            dbc.Button([html.I(className="bi bi-funnel"), " ", t("admin.apply", lang)], id=ids.ADMIN_AUDIT_APPLY,
                       color="primary", size="sm", n_clicks=0, className="adm-apply"),
        ],
        className="adm-filters",
    )


def audit_section(lang: str) -> html.Div:
    """Filters, the newest entries first, and the pager."""
    pager = html.Div(
        [
            dbc.Button([html.I(className="bi bi-chevron-left"), " ", t("admin.newer", lang)], id=ids.ADMIN_AUDIT_PREV,
                       color="secondary", size="sm", n_clicks=0),
            html.Span(id=ids.ADMIN_AUDIT_COUNT, className="adm-meta"),
            dbc.Button([t("admin.older", lang), " ", html.I(className="bi bi-chevron-right")],
                       id=ids.ADMIN_AUDIT_NEXT, color="secondary", size="sm", n_clicks=0),
        ],
        className="adm-pager",
    )
    return html.Div(
        _panel(t("admin.audit", lang),
               [audit_filters(lang), html.Div(id=ids.ADMIN_AUDIT_TABLE, className="adm-table-wrap adm-audit-wrap"),
                pager],
               "adm-audit-panel", html.Span(t("admin.audit_readonly", lang), className="adm-meta")),
        className="adm-section adm-sec-audit",
    )


def confirm_modal(lang: str) -> dbc.Modal:
    """Asks before disabling a user, changing a role or resetting a password."""
    return dbc.Modal(
        [
            dbc.ModalHeader(dbc.ModalTitle(t("admin.confirm_title", lang))),
            dbc.ModalBody(html.Div(id=ids.ADMIN_CONFIRM_BODY)),
            dbc.ModalFooter([
                dbc.Button(t("admin.confirm_back", lang), id=ids.ADMIN_CONFIRM_CANCEL, color="secondary", n_clicks=0),
                dbc.Button(t("admin.confirm_ok", lang), id=ids.ADMIN_CONFIRM_OK, color="danger", n_clicks=0),
            ]),
        ],
        id=ids.ADMIN_CONFIRM,
        is_open=False,
        centered=True,
        className="adm-modal",
    )


def tab_class(tab: str | None) -> str:
    """The page root's className for the open section (the others are hidden by assets/admin.css)."""
    return f"admin adm-tab-{tab if tab in TABS else TABS[0]}"


def admin_page(lang: str, user: str = "") -> html.Div:
    """The whole page; every section's data arrives with its first callback."""
    return html.Div(
        [
            _topbar(lang, user),
            users_section(lang),
            settings_section(lang),
            health_section(lang),
            audit_section(lang),
            confirm_modal(lang),
            dbc.Toast(id=ids.ADMIN_TOAST, is_open=False, dismissable=True, duration=6000, className="adm-toast",
                      header=""),
            dcc.Interval(id=ids.ADMIN_TICK, interval=HEALTH_MS),
            dcc.Store(id=ids.ADMIN_REFRESH, data=0),
            dcc.Store(id=ids.ADMIN_USER_SELECTED, data=None),
            dcc.Store(id=ids.ADMIN_PENDING, data=None),
            dcc.Store(id=ids.ADMIN_SETTINGS_VERSIONS, data={}),
            dcc.Store(id=ids.ADMIN_AUDIT_PAGE, data=0),
        ],
        id=ids.ADMIN,
        className=tab_class(TABS[0]),
        lang="en" if lang == "en" else "zh-CN",
    )


# --- users ------------------------------------------------------------------------------------


def users_table(users: Iterable[Mapping[str, Any]], lang: str, selected: int | None, me: str = "") -> html.Table:
    """Every user: name, display name, role, state, created; the selected one marked, disabled ones dimmed."""
    head = html.Tr([html.Th(t(k, lang)) for k in ("admin.username", "admin.display_name", "admin.role",
                                                   "admin.state", "admin.created")])
    rows = []
    for u in users:
        cls = "adm-user-row"
        if u["id"] == selected:
            cls += " selected"
        if not u["active"]:
            cls += " disabled"
        who: list[Any] = [u["username"]]
        if u["username"] == me:
            who.append(html.Span(t("admin.you", lang), className="adm-chip"))
        rows.append(html.Tr(
            [
                html.Td(who),
                html.Td(u["display_name"]),
                html.Td(name("role", u["role"], lang)),
                html.Td(html.Span(t("admin.active" if u["active"] else "admin.disabled", lang),
                                  className=f"badge text-bg-{'success' if u['active'] else 'secondary'}")),
                html.Td(fmt_dt(u.get("created_at"), lang), className="adm-dim adm-numcell"),
            ],
            id={"type": ids.ADMIN_USER_ROW, "index": u["id"]},
            n_clicks=0,
            className=cls,
            **data_attrs(user=str(u["username"])),
        ))
    return html.Table([html.Thead(head), html.Tbody(rows)], className="adm-table adm-clickable")


def user_title(u: Mapping[str, Any] | None, lang: str) -> Any:
    """The edit panel's heading for the selected user."""
    if u is None:
        return t("admin.pick_user", lang)
    state = t("admin.active" if u["active"] else "admin.disabled", lang)
    return [html.Strong(f"{u['display_name']} ({u['username']})"), html.Span(
        f" · {name('role', u['role'], lang)} · {state}", className="adm-dim")]


def confirm_text(op: str, u: Mapping[str, Any], lang: str, role: str | None = None) -> list[Any]:
    """The question of the confirmation dialog for a user operation."""
    who = f"{u['display_name']} ({u['username']})"
    if op == "change_role":
        return [html.P(t("admin.confirm_role", lang, user=who, a=name("role", u["role"], lang),
                         b=name("role", role or "", lang)))]
    return [html.P(t(f"admin.confirm_{op}", lang, user=who))]


# --- settings ---------------------------------------------------------------------------------


def threshold_values(thresholds: Mapping[str, Mapping[str, Any]], input_ids: Iterable[Mapping[str, Any]]) -> list[Any]:
    """The value of each threshold input, in the order Dash lists the inputs."""
    return [thresholds.get(i["sensor"], {}).get(i["level"]) for i in input_ids]


def deadline_value(d: tunables.Deadlines, group: str, key: str) -> int | None:
    """One deadline of the document for its input."""
    if group == "incident_min":
        return d.incident_min.get(int(key)) if key.isdigit() else None
    if group == "hotline_h":
        return d.hotline_h.get(key)
    return d.summons_min


def meta_text(meta: Mapping[str, Any], lang: str) -> str:
    """"Saved by admin at …, version 3" or "Defaults (never changed)"."""
    if not meta.get("version"):
        return t("admin.never_saved", lang)
    return t("admin.saved_by", lang, user=meta.get("updated_by") or "?", at=fmt_dt(meta.get("updated_at"), lang),
             version=meta["version"])


# --- health -----------------------------------------------------------------------------------


def _rejection_text(rej: Mapping[str, Any], lang: str) -> str:
    errors = rej.get("errors") or {}
    reasons = "; ".join(f"{k}: {v}" for k, v in errors.items()) if isinstance(errors, dict) else str(errors)
    return f"{fmt_dt(rej.get('at'), lang)} · #{rej.get('index')} {rej.get('event_id') or '—'} · {reasons}"


def sources_view(sources: list[Mapping[str, Any]], lang: str) -> Any:
    """One row per data source: state, last event, events per minute, counters, latest rejections."""
    if not sources:
        return html.Div(t("admin.no_sources", lang), className="adm-empty")
    head = html.Tr([html.Th(t(k, lang)) for k in ("admin.source", "admin.state", "admin.last_event",
                                                   "admin.per_minute", "admin.accepted", "admin.rejected",
                                                   "admin.rejections")])
    rows = []
    for s in sources:
        rejections = s.get("rejections") or []
        latest: Any = html.Span("—", className="adm-dim")
        if rejections:
            latest = html.Details([
                html.Summary(t("admin.latest_rejections", lang, n=len(rejections))),
                html.Ul([html.Li(_rejection_text(rej, lang)) for rej in rejections], className="adm-rejections"),
            ])
        age = s.get("age_s")
        rows.append(html.Tr([
            html.Td(html.Code(s["source"])),
            html.Td(html.Span(t(f"admin.source_{s['state']}", lang),
                              className=f"badge text-bg-{STATE_COLOUR.get(s['state'], 'secondary')}")),
            html.Td([fmt_dt(s.get("last_at"), lang),
                     html.Span(f" · {fmt_age(age, lang)}" if age is not None else "", className="adm-dim")],
                    className="adm-numcell"),
            html.Td(fmt_value(s.get("per_minute")), className="adm-numcell"),
            html.Td(fmt_int(s.get("accepted")), className="adm-numcell"),
            html.Td(fmt_int(s.get("rejected")), className="adm-numcell" + (" adm-bad" if s.get("rejected") else "")),
            html.Td(latest),
        ], **data_attrs(source=str(s["source"]))))
    return html.Table([html.Thead(head), html.Tbody(rows)], className="adm-table")


COUNT_COLUMNS: Final = ("queued", "started", "failed", "finished", "deferred", "scheduled")


def queues_view(queues: list[Mapping[str, Any]], lang: str) -> Any:
    """One row per RQ queue with its registries' counts; the latest failed jobs under the table."""
    head = html.Tr([html.Th(t("admin.queue", lang))] + [html.Th(t(f"admin.q_{k}", lang)) for k in COUNT_COLUMNS])
    rows = [html.Tr([html.Td(html.Code(q["name"]))] + [
        html.Td(fmt_int(q[k]), className="adm-numcell" + (" adm-bad" if k == "failed" and q[k] else ""))
        for k in COUNT_COLUMNS], **data_attrs(queue=str(q["name"]))) for q in queues]
    failed = [(q["name"], j) for q in queues for j in q.get("failed_jobs") or []]
    out: list[Any] = [html.Table([html.Thead(head), html.Tbody(rows)], className="adm-table")]
    if failed:
        out.append(html.H3(t("admin.failed_jobs", lang), className="adm-subtitle"))
        out.append(html.Ul([html.Li([html.Code(qn), f" · {fmt_dt(j.get('ended_at'), lang)} · {j.get('func') or '?'}",
                                     html.Div(j.get("error") or "", className="adm-dim adm-error-line")])
                            for qn, j in failed], className="adm-failed"))
    return out


WORKER_STATES: Final = ("busy", "idle", "started", "suspended")


def workers_view(workers: list[Mapping[str, Any]], lang: str) -> Any:
    """One row per RQ worker: state, queues, current job, heartbeat, jobs done and failed."""
    if not workers:
        return html.Div(t("admin.no_workers", lang), className="adm-empty adm-bad")
    head = html.Tr([html.Th(t(k, lang)) for k in ("admin.worker", "admin.state", "admin.queues_of",
                                                   "admin.current_job", "admin.heartbeat", "admin.successful",
                                                   "admin.q_failed")])
    rows = []
    for w in workers:
        state = str(w.get("state") or "?")
        label = t(f"admin.worker_{state}", lang) if state in WORKER_STATES else state
        colour = "danger" if w.get("late") else "success" if state == "busy" else "info"
        late = " adm-bad" if w.get("late") else ""
        rows.append(html.Tr([
            html.Td(html.Code(w["name"])),
            html.Td(html.Span(label, className=f"badge text-bg-{colour}")),
            html.Td(", ".join(w.get("queues") or []), className="adm-dim"),
            html.Td(html.Code(w.get("current_job") or "—")),
            html.Td(fmt_age(w.get("heartbeat_age_s"), lang), className="adm-numcell" + late),
            html.Td(fmt_int(w.get("successful")), className="adm-numcell"),
            html.Td(fmt_int(w.get("failed")), className="adm-numcell" + (" adm-bad" if w.get("failed") else "")),
        ]))
    return html.Table([html.Thead(head), html.Tbody(rows)], className="adm-table")


def health_stamp(h: Mapping[str, Any], lang: str, now: float) -> str:
    """Tick heartbeat, schedulers and when this was read."""
    tick = fmt_age(h.get("tick_age_s"), lang) if h.get("tick_age_s") is not None else "—"
    return t("admin.health_stamp", lang, tick=tick, n=len(h.get("schedulers") or []), at=fmt_dt(now, lang))


# --- audit ------------------------------------------------------------------------------------


def _detail(detail: Any) -> tuple[str, str]:
    """(short, full) JSON of an audit entry's detail."""
    if detail in (None, {}, []):
        return "", ""
    full = json.dumps(detail, ensure_ascii=False, default=str, separators=(",", ":"))
    return (full if len(full) <= DETAIL_MAX else full[: DETAIL_MAX - 1] + "…"), full


def audit_table(rows: Iterable[Any], lang: str) -> Any:
    """The audit entries, newest first (read-only)."""
    rows = list(rows)
    if not rows:
        return html.Div(t("admin.no_entries", lang), className="adm-empty")
    head = html.Tr([html.Th(t(k, lang)) for k in ("admin.at", "admin.actor", "admin.action", "admin.target",
                                                   "admin.outcome", "admin.detail")])
    body = []
    for e in rows:
        short, full = _detail(e.detail)
        target = f"{e.target_type}:{e.target_id}" if e.target_type and e.target_id else (e.target_type or e.target_id
                                                                                          or "—")
        body.append(html.Tr([
            html.Td(fmt_dt(e.at, lang), className="adm-numcell"),
            html.Td(e.actor),
            html.Td(html.Code(e.action)),
            html.Td(target),
            html.Td(html.Span(t(f"admin.outcome_{e.outcome}", lang) if e.outcome in OUTCOMES else e.outcome,
                              className=f"badge text-bg-{'success' if e.outcome == 'ok' else 'warning'}")),
            html.Td(short, title=full, className="adm-detail"),
        ], className=f"adm-audit-row adm-outcome-{e.outcome}"))
    return html.Table([html.Thead(head), html.Tbody(body)], className="adm-table adm-audit")


def audit_count(total: int, page: int, lang: str, size: int = AUDIT_PAGE_SIZE) -> str:
    """"第 1 / 3 页，共 120 条" / "Page 1 of 3 · 120 entries"."""
    pages = max(1, -(-total // size))
    return t("admin.audit_count", lang, page=min(page, pages - 1) + 1, pages=pages, n=fmt_int(total))
