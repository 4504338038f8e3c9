"""Callbacks of the administrator's page (/admin): users, thresholds and deadlines, health, the audit log.

The role is checked on the server by EVERY callback here, whatever the router showed (dashboard/web/admin_guard.py):
a refusal is audited and answered with HTTP 403, and nothing changes. The service functions check again (defence
in depth). Refusals other than the
role's (409 last administrator, 422 invalid thresholds …) are said in a toast and beside the form, and are
audited by the service as well. A database failure rolls back, is logged and shown as "nothing was saved".

The Dash callbacks are thin wrappers around plain functions (users_view, user_panel, user_step, run_user_op,
settings_view, save_settings, health_view, audit_view) that the tests drive directly or over HTTP.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from dash import ALL, Input, Output, State, callback, clientside_callback, ctx, html, no_update
from dash.exceptions import PreventUpdate
from sqlalchemy.exc import SQLAlchemyError

from dashboard import store
from dashboard.domain import tunables
from dashboard.i18n import t
from dashboard.live import health
from dashboard.services import admin as svc
from dashboard.services import tunables as tuning
from dashboard.services.base import Actor, Refused
from dashboard.store.engine import session_scope
from dashboard.store.models import MAX_ID
from dashboard.store.outage import DATABASE
from dashboard.web import sessions
from dashboard.web.admin_guard import http_refusals, require_admin
from dashboard.web.auth import current_language
from dashboard.web.extensions import db_sessions, redis_client
from dashboard.web.table_callbacks import clicked_row, kept_on_failure, turned_page
from layouts import ids
from layouts.admin.audit import AUDIT_PAGE_SIZE, audit_count, audit_table
from layouts.admin.health import health_stamp, queues_view, sources_view, workers_view
from layouts.admin.parts import problems_list
from layouts.admin.settings import deadline_value, meta_text, threshold_values
from layouts.admin.users import confirm_text, user_title, users_table
from layouts.inputs import as_dict, as_id, as_int, as_str, as_token, audit_filters, bump, pattern_id

log = logging.getLogger(__name__)

ROW_PATTERN: Final = {"type": ids.ADMIN_USER_ROW, "index": ALL}
THRESHOLD_PATTERN: Final = {"type": ids.ADMIN_THRESHOLD, "sensor": ALL, "level": ALL}
DEADLINE_PATTERN: Final = {"type": ids.ADMIN_DEADLINE, "group": ALL, "key": ALL}
# User operations asked about first (they lock someone out or change what they may do).
CONFIRMED: Final = frozenset({svc.DISABLE, svc.CHANGE_ROLE, svc.RESET_PASSWORD})
TOAST_ICON: Final = {"ok": "success", "refused": "warning", "error": "danger"}
TOAST_MS: Final = {"ok": 5000, "refused": 8000}


def refused_text(exc: Refused, lang: str) -> str:
    """A refusal in `lang`: its code's sentence (field problems are listed beside the form)."""
    return t(f"admin.refused_{exc.code}", lang, **exc.params) if exc.params else t(f"admin.refused_{exc.code}", lang)


# --- plain core: users ------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What the administrator is told after an operation: kind ok / refused / error."""

    kind: str
    message: str
    status: int
    errors: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    user: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.kind == "ok"


def failed_outcome(exc: Refused | SQLAlchemyError, lang: str) -> Outcome:
    """What the administrator is told when an operation failed: the service's refusal with its field problems, or
    the database's failure (rolled back, noted as an outage). A refusal for the role is raised again: the callback
    answers it with 403 (http_refusals)."""
    if isinstance(exc, SQLAlchemyError):
        DATABASE.failed("admin action", exc)
        return Outcome("error", t("admin.db_failed", lang), 503)
    if exc.status == 403:
        raise exc
    return Outcome("refused", refused_text(exc, lang), exc.status, exc.problems)


def users_view(actor: Actor, lang: str, selected: int | None) -> Any:
    """The users table."""
    with session_scope(db_sessions()) as s:
        users = svc.list_users(s, actor)
    return users_table(users, lang, selected, actor.username)


def user_panel(actor: Actor, lang: str, selected: int | None) -> tuple[Any, ...]:
    """(title, role value, role disabled, role-save disabled, password disabled, password-save disabled,
    disable disabled, enable disabled) for the selected user."""
    u = None
    if selected is not None:
        with session_scope(db_sessions()) as s:
            u = svc.get_user(s, actor, selected)
    if u is None:
        return user_title(None, lang), None, True, True, True, True, True, True
    me = u["username"] == actor.username
    return (user_title(u, lang), u["role"], False, False, False, False, not u["active"] or me, bool(u["active"]))


def run_user_op(op: str, actor: Actor, lang: str, *, user_id: Any = None, role: Any = None, password: Any = None,
                new: Mapping[str, Any] | None = None) -> Outcome:
    """One user operation in a transaction of its own; a role refusal propagates (403), others are said."""
    try:
        with session_scope(db_sessions()) as s:
            if op == svc.CREATE:
                new = new or {}
                row = svc.create_user(s, actor, new.get("username"), new.get("display_name"), new.get("role"),
                                      new.get("password"))
            elif op in (svc.DISABLE, svc.ENABLE):
                row = svc.set_active(s, actor, user_id, op == svc.ENABLE)
            elif op == svc.CHANGE_ROLE:
                row = svc.change_role(s, actor, user_id, role)
            elif op == svc.RESET_PASSWORD:
                row = svc.reset_password(s, actor, user_id, password)
            else:
                raise ValueError(f"unknown user operation {op!r}")
    except (Refused, SQLAlchemyError) as exc:
        return failed_outcome(exc, lang)
    if op == svc.RESET_PASSWORD:
        # Whoever signed in with the old password signs in again (ASVS 3.3.3); the admin's own session stays.
        sessions.end_others(int(row["id"]), row["role"])
    elif op == svc.DISABLE:
        sessions.end_user(int(row["id"]), row["role"])  # refused at their next request, whatever they cached
    elif op == svc.CHANGE_ROLE:
        sessions.user_changed(int(row["id"]))  # their next request reloads them with the new role
    return Outcome("ok", t(f"admin.done_{op}", lang, user=row["username"]), 200, user=row)


@dataclass
class Step:
    """The outcome of a click: an operation waiting for confirmation, or the outcome of one done."""

    pending: dict[str, Any] | None = None
    confirm: list[Any] | None = None
    outcome: Outcome | None = None


def user_step(op: str, actor: Actor, lang: str, user_id: Any, role: Any = None, password: Any = None) -> Step:
    """A click on one of the edit panel's buttons: ask first for the risky ones, act at once otherwise."""
    if op in CONFIRMED:
        with session_scope(db_sessions()) as s:
            u = svc.get_user(s, actor, user_id)
        # What is refused anyway (a short password, the same role, oneself) is refused now, not after asking.
        doomed = u is None or (op == svc.RESET_PASSWORD and svc.password_problem(password) is not None) or (
            op == svc.CHANGE_ROLE and role == u["role"]) or (op == svc.DISABLE and u["username"] == actor.username)
        if doomed or u is None:
            return Step(outcome=run_user_op(op, actor, lang, user_id=user_id, role=role, password=password))
        # The password stays in its field (never in a store); the dialog only names the operation.
        pending = {"op": op, "user": user_id, "role": role}
        return Step(pending=pending, confirm=confirm_text(op, u, lang, role))
    return Step(outcome=run_user_op(op, actor, lang, user_id=user_id, role=role, password=password))


# --- plain core: settings ---------------------------------------------------------------------------


def settings_view(actor: Actor, lang: str, threshold_ids: list[Mapping[str, Any]],
                  deadline_ids: list[Mapping[str, Any]]) -> tuple[Any, ...]:
    """(threshold values, deadline values, thresholds meta, deadlines meta, versions) in force now."""
    with session_scope(db_sessions()) as s:
        cur = tuning.current(s, actor)
    meta = cur["meta"]
    d: tunables.Deadlines = cur["deadlines"]
    return (
        threshold_values(cur["thresholds"], threshold_ids),
        [deadline_value(d, str(i["group"]), str(i["key"])) for i in deadline_ids],
        meta_text(meta[tunables.THRESHOLDS_KEY], lang),
        meta_text(meta[tunables.DEADLINES_KEY], lang),
        {k: v["version"] for k, v in meta.items()},
    )


def thresholds_doc(values: list[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """{type: {warn, alarm}} from Dash's list of the threshold inputs' states."""
    out: dict[str, dict[str, Any]] = {}
    for v in values:
        i = v.get("id") or {}
        out.setdefault(str(i.get("sensor")), {})[str(i.get("level"))] = v.get("value")
    return out


def deadlines_doc(values: list[Mapping[str, Any]]) -> dict[str, Any]:
    """The deadlines document from Dash's list of the deadline inputs' states."""
    out: dict[str, Any] = {"incident_min": {}, "hotline_h": {}}
    for v in values:
        i = v.get("id") or {}
        group, key = str(i.get("group")), str(i.get("key"))
        if group == "summons_min":
            out["summons_min"] = v.get("value")
        elif group in out:
            out[group][key] = v.get("value")
    return out


def save_settings(kind: str, raw: Mapping[str, Any], version: Any, actor: Actor, lang: str) -> Outcome:
    """Save thresholds or deadlines in a transaction of their own; refusals are said, with field problems."""
    expected = version if type(version) is int else None
    try:
        with session_scope(db_sessions()) as s:
            if kind == tunables.THRESHOLDS_KEY:
                tuning.save_thresholds(s, actor, raw, expected)
            else:
                tuning.save_deadlines(s, actor, raw, expected)
    except (Refused, SQLAlchemyError) as exc:
        return failed_outcome(exc, lang)
    return Outcome("ok", t(f"admin.done_{kind}", lang), 200)


# --- plain core: health and audit -------------------------------------------------------------------


def health_view(lang: str, now: float | None = None) -> tuple[Any, ...]:
    """(sources, queues, workers, stamp) from Redis and RQ's registries."""
    now = now or time.time()
    h = health.system(redis_client(), now)
    if not h["ok"]:
        down = html.Div(t("admin.redis_down", lang, error=h["error"]), className="adm-empty adm-bad")
        return down, down, down, ""
    return (sources_view(h["sources"], lang), queues_view(h["queues"], lang),
            workers_view(h["workers"], lang), health_stamp(h, lang, now))


def audit_view(actor: Actor, lang: str, filters: Mapping[str, Any], page: int) -> tuple[Any, str, int]:
    """(table, count text, page actually shown) of one page of the audit log, newest first."""
    with session_scope(db_sessions()) as s:
        svc.check_admin(s, actor, "audit_view")
        rows, total = store.audit_log.query(s, **filters, limit=AUDIT_PAGE_SIZE, offset=page * AUDIT_PAGE_SIZE)
        if not rows and page > 0 and total:
            page = max(0, (total - 1) // AUDIT_PAGE_SIZE)
            rows, total = store.audit_log.query(s, **filters, limit=AUDIT_PAGE_SIZE, offset=page * AUDIT_PAGE_SIZE)
        table = audit_table(rows, lang)
    return table, audit_count(total, page, lang), page


# --- Dash wiring ------------------------------------------------------------------------------------

# The open section is pure presentation (no data): switched in the browser.
clientside_callback(
    "function(tab) { return 'admin adm-tab-' + (tab || 'users'); }",
    Output(ids.ADMIN, "className"),
    Input(ids.ADMIN_TABS, "value"),
)

TOAST_OUTPUTS: Final = (
    Output(ids.ADMIN_TOAST, "is_open", allow_duplicate=True),
    Output(ids.ADMIN_TOAST, "header", allow_duplicate=True),
    Output(ids.ADMIN_TOAST, "children", allow_duplicate=True),
    Output(ids.ADMIN_TOAST, "icon", allow_duplicate=True),
    Output(ids.ADMIN_TOAST, "duration", allow_duplicate=True),
)
NO_TOAST: Final = (no_update,) * 5


def toast(o: Outcome, lang: str) -> tuple[Any, ...]:
    """The toast's is_open, header, body, icon and duration (errors stay until dismissed)."""
    header = t("admin.toast_ok" if o.ok else "admin.toast_error" if o.kind == "error" else "admin.toast_refused",
               lang)
    return True, header, o.message, TOAST_ICON.get(o.kind, "secondary"), TOAST_MS.get(o.kind)


def _errors(o: Outcome, lang: str) -> Any:
    return html.Ul(problems_list(o.errors, lang)) if o.errors else ""


@callback(Output(ids.ADMIN_USERS, "children"), Input(ids.ADMIN_REFRESH, "data"), Input(ids.ADMIN_USER_SELECTED, "data"))
@http_refusals
def _users(_refresh: Any, selected: Any) -> Any:
    actor = require_admin("users_view")
    with kept_on_failure("admin read"):
        return users_view(actor, current_language(), as_id(selected))


@callback(Output(ids.ADMIN_USER_SELECTED, "data"), Input(ROW_PATTERN, "n_clicks"), prevent_initial_call=True)
@http_refusals
def _select(_clicks: list[Any]) -> int:
    require_admin("users_view")
    return clicked_row()


@callback(
    Output(ids.ADMIN_USER_TITLE, "children"),
    Output(ids.ADMIN_USER_ROLE, "value"),
    Output(ids.ADMIN_USER_ROLE, "disabled"),
    Output(ids.ADMIN_USER_ROLE_SAVE, "disabled"),
    Output(ids.ADMIN_USER_PASSWORD, "disabled"),
    Output(ids.ADMIN_USER_PASSWORD_SAVE, "disabled"),
    Output(ids.ADMIN_USER_DISABLE, "disabled"),
    Output(ids.ADMIN_USER_ENABLE, "disabled"),
    Input(ids.ADMIN_USER_SELECTED, "data"),
    Input(ids.ADMIN_REFRESH, "data"),
)
@http_refusals
def _user_panel(selected: Any, _refresh: Any) -> tuple[Any, ...]:
    actor = require_admin("users_view")
    with kept_on_failure("admin read"):
        return user_panel(actor, current_language(), as_id(selected))


# Which button asks for which operation.
_BUTTON_OP: Final = {
    ids.ADMIN_NEW_SUBMIT: svc.CREATE,
    ids.ADMIN_USER_ROLE_SAVE: svc.CHANGE_ROLE,
    ids.ADMIN_USER_PASSWORD_SAVE: svc.RESET_PASSWORD,
    ids.ADMIN_USER_DISABLE: svc.DISABLE,
    ids.ADMIN_USER_ENABLE: svc.ENABLE,
}


# The outputs of _user_act by name, in their order after the toast's five.
USER_ACT_OUTPUTS: Final = ("toast", "refresh", "pending", "confirm", "confirm_body", "new_error", "user_error",
                           "new_username", "new_display", "new_password", "user_password", "selected")


def _user_act_result(out: dict[str, Any]) -> tuple[Any, ...]:
    """_user_act's outputs in order (the toast's five first)."""
    t5 = out["toast"] if out["toast"] is not no_update else NO_TOAST
    return (*t5, *(out[k] for k in USER_ACT_OUTPUTS[1:]))


@callback(
    *TOAST_OUTPUTS,
    Output(ids.ADMIN_REFRESH, "data", allow_duplicate=True),
    Output(ids.ADMIN_PENDING, "data"),
    Output(ids.ADMIN_CONFIRM, "is_open"),
    Output(ids.ADMIN_CONFIRM_BODY, "children"),
    Output(ids.ADMIN_NEW_ERROR, "children"),
    Output(ids.ADMIN_USER_ERROR, "children"),
    Output(ids.ADMIN_NEW_USERNAME, "value"),
    Output(ids.ADMIN_NEW_DISPLAY, "value"),
    Output(ids.ADMIN_NEW_PASSWORD, "value"),
    Output(ids.ADMIN_USER_PASSWORD, "value"),
    Output(ids.ADMIN_USER_SELECTED, "data", allow_duplicate=True),
    Input(ids.ADMIN_NEW_SUBMIT, "n_clicks"),
    Input(ids.ADMIN_USER_ROLE_SAVE, "n_clicks"),
    Input(ids.ADMIN_USER_PASSWORD_SAVE, "n_clicks"),
    Input(ids.ADMIN_USER_DISABLE, "n_clicks"),
    Input(ids.ADMIN_USER_ENABLE, "n_clicks"),
    Input(ids.ADMIN_CONFIRM_OK, "n_clicks"),
    Input(ids.ADMIN_CONFIRM_CANCEL, "n_clicks"),
    State(ids.ADMIN_NEW_USERNAME, "value"),
    State(ids.ADMIN_NEW_DISPLAY, "value"),
    State(ids.ADMIN_NEW_ROLE, "value"),
    State(ids.ADMIN_NEW_PASSWORD, "value"),
    State(ids.ADMIN_USER_SELECTED, "data"),
    State(ids.ADMIN_USER_ROLE, "value"),
    State(ids.ADMIN_USER_PASSWORD, "value"),
    State(ids.ADMIN_PENDING, "data"),
    State(ids.ADMIN_REFRESH, "data"),
    prevent_initial_call=True,
)
@http_refusals
def _user_act(_new: Any, _role: Any, _pw: Any, _dis: Any, _en: Any, _ok: Any, _back: Any, raw_username: Any,
              raw_display: Any, raw_new_role: Any, raw_new_password: Any, raw_selected: Any, raw_role: Any,
              raw_password: Any, raw_pending: Any, refresh: Any) -> tuple[Any, ...]:
    lang = current_language()
    # What cannot be the field's value is as good as an empty field: the service then says what is missing.
    username, display, new_role = as_str(raw_username), as_str(raw_display), as_token(raw_new_role)
    new_password, password, role = as_str(raw_new_password), as_str(raw_password), as_token(raw_role)
    selected = as_id(raw_selected)
    pending = pending_user_op(raw_pending)
    trig = ctx.triggered_id
    out: dict[str, Any] = dict.fromkeys(USER_ACT_OUTPUTS, no_update)
    if trig == ids.ADMIN_CONFIRM_CANCEL:
        out.update(pending=None, confirm=False)
        return _user_act_result(out)
    if not (ctx.triggered and ctx.triggered[0].get("value")):
        raise PreventUpdate  # a button re-rendered, not clicked
    after = bump(refresh)
    if trig == ids.ADMIN_CONFIRM_OK:
        if not pending:
            raise PreventUpdate
        op = str(pending.get("op"))
        actor = require_admin(f"user_{op}", "user", str(pending.get("user")))
        o = run_user_op(op, actor, lang, user_id=pending.get("user"), role=pending.get("role"), password=password)
        out.update(toast=toast(o, lang), refresh=after, pending=None, confirm=False, user_error=_errors(o, lang))
        if o.ok:
            out["user_password"] = ""
        return _user_act_result(out)
    button_op = _BUTTON_OP.get(str(trig))
    if button_op is None:
        raise PreventUpdate
    op = button_op
    target = str(selected) if op != svc.CREATE else str(username or "")
    actor = require_admin(f"user_{op}", "user", target)
    if op == svc.CREATE:
        o = run_user_op(op, actor, lang, new={"username": username, "display_name": display, "role": new_role,
                                                "password": new_password})
        out.update(toast=toast(o, lang), new_error=_errors(o, lang))
        if o.ok:
            assert o.user is not None
            out.update(refresh=after, new_username="", new_display="", new_password="", selected=o.user["id"])
        return _user_act_result(out)
    step = user_step(op, actor, lang, selected, role, password)
    if step.pending is not None:
        out.update(pending=step.pending, confirm=True, confirm_body=step.confirm, user_error="")
        return _user_act_result(out)
    assert step.outcome is not None
    o = step.outcome
    out.update(toast=toast(o, lang), user_error=_errors(o, lang))
    if o.ok:
        out["refresh"] = after
    return _user_act_result(out)


def pending_user_op(pending: Any) -> dict[str, Any] | None:
    """The operation waiting in the confirmation dialog (the ADMIN_PENDING store, as user_step wrote it), or None
    when the store holds anything else."""
    p = pattern_id(pending, op=lambda v: v if v in CONFIRMED else None, user=as_id)
    if p is None:
        return None
    return {"op": p["op"], "user": p["user"], "role": as_token(p.get("role"))}


@callback(
    Output(THRESHOLD_PATTERN, "value"),
    Output(DEADLINE_PATTERN, "value"),
    Output(ids.ADMIN_THRESHOLDS_META, "children"),
    Output(ids.ADMIN_DEADLINES_META, "children"),
    Output(ids.ADMIN_SETTINGS_VERSIONS, "data"),
    Input(ids.ADMIN_REFRESH, "data"),
)
@http_refusals
def _settings(_refresh: Any) -> tuple[Any, ...]:
    actor = require_admin("settings_view")
    outputs = ctx.outputs_list
    threshold_ids = [o["id"] for o in outputs[0]]
    deadline_ids = [o["id"] for o in outputs[1]]
    with kept_on_failure("admin read"):
        return settings_view(actor, current_language(), threshold_ids, deadline_ids)


@callback(
    *TOAST_OUTPUTS,
    Output(THRESHOLD_PATTERN, "invalid"),
    Output(DEADLINE_PATTERN, "invalid"),
    Output(ids.ADMIN_THRESHOLDS_ERROR, "children"),
    Output(ids.ADMIN_DEADLINES_ERROR, "children"),
    Output(ids.ADMIN_REFRESH, "data", allow_duplicate=True),
    Input(ids.ADMIN_THRESHOLDS_SAVE, "n_clicks"),
    Input(ids.ADMIN_DEADLINES_SAVE, "n_clicks"),
    State(THRESHOLD_PATTERN, "value"),
    State(DEADLINE_PATTERN, "value"),
    State(ids.ADMIN_SETTINGS_VERSIONS, "data"),
    State(ids.ADMIN_REFRESH, "data"),
    prevent_initial_call=True,
)
@http_refusals
def _save_settings(_thr: Any, _dl: Any, _tv: list[Any], _dv: list[Any], versions: Any,
                   refresh: Any) -> tuple[Any, ...]:
    if not (ctx.triggered and ctx.triggered[0].get("value")):
        raise PreventUpdate
    kind = tunables.THRESHOLDS_KEY if ctx.triggered_id == ids.ADMIN_THRESHOLDS_SAVE else tunables.DEADLINES_KEY
    actor = require_admin(kind.removeprefix("sensor_"), "setting", kind)
    lang = current_language()
    thr_states, dl_states = ctx.states_list[0], ctx.states_list[1]
    raw = thresholds_doc(thr_states) if kind == tunables.THRESHOLDS_KEY else deadlines_doc(dl_states)
    o = save_settings(kind, raw, as_int(as_dict(versions).get(kind), 0, MAX_ID), actor, lang)

    def bad(s: Mapping[str, Any]) -> bool:
        i = s["id"]
        name = f"{i['sensor']}.{i['level']}" if "sensor" in i else (
            i["group"] if i["group"] == "summons_min" else f"{i['group']}.{i['key']}")
        return name in o.errors

    # One answer per input the request names as an output (the same inputs as its states, from the browser).
    thr_outputs, dl_outputs = ctx.outputs_list[5], ctx.outputs_list[6]
    thr_invalid = [bad(s) for s in thr_outputs] if kind == tunables.THRESHOLDS_KEY else [no_update] * len(thr_outputs)
    dl_invalid = [bad(s) for s in dl_outputs] if kind == tunables.DEADLINES_KEY else [no_update] * len(dl_outputs)
    errors = _errors(o, lang) if o.errors else (o.message if not o.ok else "")
    thr_error = errors if kind == tunables.THRESHOLDS_KEY else no_update
    dl_error = errors if kind == tunables.DEADLINES_KEY else no_update
    # A stale save re-reads what is stored now; a valid one shows what was stored.
    refreshed = bump(refresh) if o.ok or o.status == 409 else no_update
    return (*toast(o, lang), thr_invalid, dl_invalid, thr_error, dl_error, refreshed)


@callback(
    Output(ids.ADMIN_SOURCES, "children"),
    Output(ids.ADMIN_QUEUES, "children"),
    Output(ids.ADMIN_WORKERS, "children"),
    Output(ids.ADMIN_HEALTH_STAMP, "children"),
    Input(ids.ADMIN_TICK, "n_intervals"),
    Input(ids.ADMIN_TABS, "value"),
)
@http_refusals
def _health(_n: Any, tab: str | None) -> tuple[Any, ...]:
    require_admin("health_view")
    if tab != "health":
        raise PreventUpdate  # read Redis and RQ only while the section is open
    return health_view(current_language())


@callback(
    Output(ids.ADMIN_AUDIT_TABLE, "children"),
    Output(ids.ADMIN_AUDIT_COUNT, "children"),
    Output(ids.ADMIN_AUDIT_PAGE, "data"),
    Input(ids.ADMIN_AUDIT_APPLY, "n_clicks"),
    Input(ids.ADMIN_AUDIT_PREV, "n_clicks"),
    Input(ids.ADMIN_AUDIT_NEXT, "n_clicks"),
    Input(ids.ADMIN_TABS, "value"),
    Input(ids.ADMIN_REFRESH, "data"),
    State(ids.ADMIN_AUDIT_ACTOR, "value"),
    State(ids.ADMIN_AUDIT_ACTION, "value"),
    State(ids.ADMIN_AUDIT_OUTCOME, "value"),
    State(ids.ADMIN_AUDIT_TARGET, "value"),
    State(ids.ADMIN_AUDIT_SINCE, "value"),
    State(ids.ADMIN_AUDIT_UNTIL, "value"),
    State(ids.ADMIN_AUDIT_PAGE, "data"),
)
@http_refusals
def _audit(_apply: Any, _prev: Any, _next: Any, tab: str | None, _refresh: Any, actor_f: Any, action: Any,
           outcome: Any, target: Any, since: Any, until: Any, raw_page: Any) -> tuple[Any, ...]:
    actor = require_admin("audit_view")
    if tab != "audit":
        raise PreventUpdate
    page = turned_page(raw_page, 0, ids.ADMIN_AUDIT_PREV, ids.ADMIN_AUDIT_NEXT, ids.ADMIN_AUDIT_APPLY)
    with kept_on_failure("admin read"):
        return audit_view(actor, current_language(), audit_filters(actor_f, action, outcome, target, since, until),
                          page)
