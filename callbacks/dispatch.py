"""Callbacks of the dispatcher's console (/dispatch): the queue, the detail and the actions (the new-incident form:
callbacks/dispatch_form.py).

Only the service functions of dashboard.services.incidents touch the database (no SQL here), exactly as the REST
API (dashboard.web.api.incidents) calls them:

- the role is checked by the service for every action, whatever buttons the screen showed: a refused action
  gets the service's status and reason (403/404/409/422) and is already audited by the service;
- the idempotency key of a click is the key rendered into the button (layouts/dispatch/actions.py), scoped to the user
  ("console:<user id>:<key>") so that two users' keys never collide; the same click sent twice acts once;
- `expected_version` is the version of the incident the button was rendered for: a stale screen gets 409;
- a click acts only on the incident the console shows open (selected, and its detail rendered) while the
  new-incident form is closed: a button left on screen for another incident (an old detail, a form opened over it)
  is refused with a message before anything reaches the service (OnScreen); while that form is open a click on a
  queue row opens nothing either, and says so (select_row): the selection never changes unseen behind the form;
- a unit sent within seconds of another to the same incident is held by the service (SecondUnit, decided under
  the incident's lock, so a fast double click cannot slip past it) and sent only after a confirmation that names
  it; the suggested units hold still while the pointer is in their list (layouts/hold.py);
- a database failure rolls back (session_scope), is logged and shown as "nothing was saved — retry";
- after the commit `notify_change` tells open screens (a Redis failure is logged, never fails the action), and
  the queue and the detail refresh at once.

The Dash callbacks are thin wrappers around plain functions (handle_click, confirm, queue_view, detail_update) that
the tests drive directly.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import redis
from dash import ALL, Input, Output, State, callback, ctx, html, no_update
from dash.exceptions import PreventUpdate
from flask_login import current_user
from sqlalchemy.exc import SQLAlchemyError

from dashboard.domain import lifecycle
from dashboard.domain import rules as c
from dashboard.i18n import t
from dashboard.i18n.refusals import refusal_errors, refusal_text
from dashboard.live.publish import notify_change
from dashboard.services.base import Actor, Refused
from dashboard.services.incident_reads import get_incident, list_incidents, suggest_units
from dashboard.services.incidents import ActionRequest, SecondUnit, perform_action
from dashboard.store.engine import session_scope
from dashboard.store.models import utcnow
from dashboard.store.outage import DATABASE
from dashboard.web.auth import current_language
from dashboard.web.extensions import current_config, db_sessions, redis_client
from dashboard.web.table_callbacks import clicked_row, kept_on_failure
from layouts import ids
from layouts.common import data_attrs
from layouts.dispatch.actions import CONFIRM, FIELD_DEPARTMENTS, FIELD_REASON, FIELD_SEVERITY, FORM_ACTIONS
from layouts.dispatch.confirm import confirm_text, reason_placeholder
from layouts.dispatch.detail import detail_view
from layouts.dispatch.form import form_is_open
from layouts.dispatch.map import focus_viewport, incident_geojson, units_geojson
from layouts.dispatch.parts import KeyGen, action_label, department_name, new_key
from layouts.dispatch.queue import QUEUE_LIMIT, STATE_ANY, STATE_OPEN, queue_rows
from layouts.dispatch.suggest import (
    ROW_FREE,
    SUGGEST_POOL,
    rank_suggestions,
    remembered,
    suggest_view,
    suggestion_rows,
)
from layouts.hold import HOLD_SUGGEST
from layouts.inputs import (
    action_button,
    as_dict,
    as_id,
    as_int,
    as_list,
    as_str,
    as_token,
    bump,
    pending_action,
)
from layouts.map.geometry import feature_collection

log = logging.getLogger(__name__)

KEY_PREFIX: Final = "console"
ACTION_PATTERN: Final = {"type": ids.DISPATCH_ACTION, "action": ALL, "arg": ALL, "key": ALL, "incident": ALL,
                         "version": ALL}
FIELD_PATTERN: Final = {"type": ids.DISPATCH_FIELD, "field": ALL}
FORM_ERROR_PATTERN: Final = {"type": ids.DISPATCH_FORM_ERROR, "action": ALL}
ROW_PATTERN: Final = {"type": ids.DISPATCH_ROW, "index": ALL}
TOAST_MS: Final = {"ok": 5000, "replayed": 6000}
# Actions whose reason comes from the confirmation dialog.
CONFIRMED: Final = tuple(sorted(CONFIRM))
TOAST_ICON: Final = {"ok": "success", "replayed": "info", "refused": "warning", "stale": "warning",
                     "forbidden": "danger", "error": "danger"}


# --- plain core -----------------------------------------------------------------------------------


@dataclass
class Feedback:
    """What the user is told after an action: kind ok / replayed / refused / stale / forbidden / error."""

    kind: str
    message: str
    status: int | None = None
    incident_id: int | None = None
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.kind in ("ok", "replayed")

    def header(self, lang: str) -> str:
        if self.ok:
            return t("dsp.toast_ok", lang)
        return t("dsp.toast_error" if self.kind == "error" else "dsp.toast_refused", lang)


def current_actor() -> Actor:
    """The signed-in user as the service's Actor."""
    return Actor(id=int(current_user.id), username=str(current_user.username), role=str(current_user.role))


def scoped_key(actor: Actor, key: str) -> str:
    """The idempotency key of a console click, scoped to the user (like the API's "api:<user>:<key>")."""
    return f"{KEY_PREFIX}:{actor.id}:{key}"


def notify(incident_id: int, action: str) -> None:
    """After the commit: tell open screens; a Redis failure loses only the push (screens also poll)."""
    try:
        notify_change(redis_client(), incident_id, action)
    except redis.RedisError as exc:
        log.warning("push for incident %s (%s) failed: %s", incident_id, action, exc)


def db_failed_feedback(exc: SQLAlchemyError, lang: str, incident_id: int | None = None) -> Feedback:
    """A console action the database failed (rolled back): the outage noted for the page's notice, and said."""
    DATABASE.failed("console action", exc)
    return Feedback("error", t("dsp.db_failed", lang), 503, incident_id)


def refusal_feedback(exc: Refused, lang: str, incident_id: int | None) -> Feedback:
    """The service's refusal as a message in `lang` (it has rolled back and audited it already); `errors` keep
    the service's field names, with the problems in `lang`."""
    text = refusal_text(exc, lang)
    if exc.status == 403:
        return Feedback("forbidden", t("dsp.forbidden", lang) + t("refusal.aside", lang, text=text), 403, incident_id)
    if exc.status == 409 and exc.code == "stale":
        return Feedback("stale", t("dsp.stale", lang) + t("refusal.aside", lang, text=text), 409, incident_id)
    return Feedback("refused", text, exc.status, incident_id, refusal_errors(exc, lang))


def beside_form(fb: Feedback, action: str) -> bool:
    """Whether a click's outcome is said beside its action's form rather than in a toast: a field of that form
    missing or invalid (a 422 naming the field) is for the person at the console to fix, not news of the incident
    (the service has audited it; the incident's timeline leaves it out: lifecycle.in_timeline)."""
    return action in FORM_ACTIONS and fb.kind == "refused" and fb.status == 422 and bool(fb.errors)


def form_errors(forms: list[Any], action: str, fb: Feedback | None) -> list[str]:
    """The text beside each action form on screen (`forms`: their ids, as Dash lists them) after a click on
    `action`: the refusal beside its own form when it is one for the form (beside_form), nothing beside the
    others (a new click makes an earlier line stale)."""
    said = fb.message if fb is not None and beside_form(fb, action) else ""
    return [said if isinstance(f, dict) and as_dict(f.get("id")).get("action") == action else "" for f in forms]


def clean_text(text: Any) -> str | None:
    """Typed text, or None when empty (the service refuses an empty reason as missing)."""
    if not isinstance(text, str) or not text.strip():
        return None
    return text.strip()


def build_request(action: str, arg: str, fields: dict[str, Any], version: int | None,
                  confirmed: bool = False) -> ActionRequest:
    """The ActionRequest of a click: the button's action and argument, the forms' fields, the shown version.

    Anything missing is left for the service to refuse (422, audited): the screen never decides alone. A dispatch
    not yet confirmed asks the service to hold a second unit; `confirmed` (from the dialog) sends it, with the
    dialog's reason.
    """
    req = ActionRequest(action=action, expected_version=version, reason=clean_text(fields.get(FIELD_REASON)))
    if action in lifecycle.NEEDS_UNIT:
        req.unit_id = int(arg) if arg.isdigit() else None
    elif action == lifecycle.ACKNOWLEDGE_SUMMONS:
        req.department = arg or None
    elif action == lifecycle.CHANGE_SEVERITY:
        sev = fields.get(FIELD_SEVERITY)
        req.severity = int(sev) if isinstance(sev, int | str) and str(sev).isdigit() else None
    elif action == lifecycle.WHISTLE:
        deps = fields.get(FIELD_DEPARTMENTS)
        req.departments = [str(d) for d in deps] if isinstance(deps, list) and deps else None
    if action == lifecycle.DISPATCH and not confirmed:
        req.hold_second_unit = True
    if action not in (lifecycle.CHANGE_SEVERITY, *CONFIRMED) and not confirmed:
        req.reason = None  # the reason box belongs to the severity form and the confirmation
    return req


def run_action(incident_id: int, req: ActionRequest, key: str, actor: Actor, lang: str) -> Feedback:
    """Take one action through the service in a transaction of its own, then notify; raises only SecondUnit (a
    dispatch held for confirmation: nothing was done)."""
    try:
        with session_scope(db_sessions()) as s:
            result = perform_action(s, incident_id, req, actor, scoped_key(actor, key))
    except SecondUnit:
        raise
    except Refused as exc:
        return refusal_feedback(exc, lang, incident_id)
    except SQLAlchemyError as exc:
        return db_failed_feedback(exc, lang, incident_id)
    label = action_label(req.action, lang)
    if req.unit_id is not None:
        code = next((u["code"] for u in result.incident.get("units", []) if u["id"] == req.unit_id), None)
        label = f"{label} {code}" if code else label
    elif req.department:
        label = f"{label} · {department_name(req.department, lang)}"
    if result.replayed:
        return Feedback("replayed", t("dsp.replayed", lang), 200, incident_id)
    notify(incident_id, req.action)
    return Feedback("ok", t("dsp.done", lang, action=label, id=incident_id), 200, incident_id)


@dataclass
class Step:
    """The outcome of a click: an action waiting for confirmation, or the feedback of an action taken."""

    pending: dict[str, Any] | None = None
    feedback: Feedback | None = None


def needs_confirmation(action: str, arg: str, fields: dict[str, Any]) -> bool:
    """Cancel, close, resolve and reopen always; a change of severity when it lowers it (III → IV)."""
    if action in CONFIRM:
        return True
    if action == lifecycle.CHANGE_SEVERITY:
        new = fields.get(FIELD_SEVERITY)
        return isinstance(new, int) and arg.isdigit() and new > int(arg)
    return False


@dataclass(frozen=True)
class OnScreen:
    """What the console shows when a button is clicked: the incident open in its detail (None: none) and whether
    the new-incident form is open over it."""

    incident: int | None
    form_open: bool = False

    def refusal(self, incident_id: int, lang: str) -> Feedback | None:
        """Why a click for `incident_id` must not act (None: it may): while the form is open nothing is acted on,
        and otherwise only the incident open in the detail is."""
        if self.form_open:
            return Feedback("refused", t("dsp.not_open_form", lang, id=incident_id), 409, incident_id)
        if self.incident != incident_id:
            return Feedback("refused", t("dsp.not_open", lang, id=incident_id), 409, incident_id)
        return None


def on_screen(selected: Any, shown: Any, form_class: Any) -> OnScreen:
    """The incident the console shows open: the one selected whose detail is rendered (the DISPATCH_SHOWN store
    says which), so that a click racing a change of selection acts on neither."""
    sel = as_id(selected)
    rendered = as_dict(shown).get("id")
    return OnScreen(sel if sel is not None and rendered == sel else None, form_is_open(form_class))


def handle_click(button: dict[str, Any], fields: dict[str, Any], actor: Actor, lang: str, screen: OnScreen) -> Step:
    """A click on an action button (its pattern-matching id): refused unless its incident is the one on `screen`,
    then confirm first or act now."""
    action = str(button.get("action", ""))
    arg = str(button.get("arg", ""))
    incident_id = int(button["incident"])
    refused = screen.refusal(incident_id, lang)
    if refused is not None:
        log.warning("console click by %s for incident %s refused: the console shows %s (form open: %s)",
                    actor.username, incident_id, screen.incident, screen.form_open)
        return Step(feedback=refused)
    version = int(button["version"])
    key = str(button["key"])
    pending = {"action": action, "arg": arg, "incident": incident_id, "version": version, "key": key,
               "fields": {k: v for k, v in fields.items() if k in (FIELD_SEVERITY, FIELD_REASON)}}
    if needs_confirmation(action, arg, fields):
        return Step(pending=pending)
    try:
        return Step(feedback=run_action(incident_id, build_request(action, arg, fields, version), key, actor, lang))
    except SecondUnit as held:
        # Asked again with the unit named; the same key, unused so far, then sends it once.
        return Step(pending={**pending, "fields": {}, "second": dict(held.params)})


def confirm(pending: dict[str, Any], reason: str | None, actor: Actor, lang: str, screen: OnScreen) -> Feedback:
    """The confirmed action, with the reason typed in the dialog, under the key of the original click; refused like
    a click when its incident is no longer the one on `screen`."""
    refused = screen.refusal(int(pending["incident"]), lang)
    if refused is not None:
        return refused
    fields = dict(pending.get("fields") or {})
    fields[FIELD_REASON] = reason
    req = build_request(str(pending["action"]), str(pending.get("arg", "")), fields, int(pending["version"]),
                        confirmed=True)
    return run_action(int(pending["incident"]), req, str(pending["key"]), actor, lang)


def queue_filters(state: Any, severities: Any, subdistrict: Any) -> dict[str, Any]:
    """The queue's filters as list_incidents arguments (a value no filter offers filters nothing)."""
    state = as_token(state)
    subdistrict = as_token(subdistrict)
    if state in (None, STATE_OPEN):
        states: list[str] | None = list(lifecycle.OPEN_STATES)
    elif state == STATE_ANY:
        states = None
    else:
        states = [state] if state in lifecycle.STATES else list(lifecycle.OPEN_STATES)
    sevs = [int(s) for s in as_list(severities) if as_int(s) in c.SEVERITIES]
    return {"states": states, "severities": sevs or None, "subdistrict": subdistrict or None}


def marked_row(selected: Any, form_class: Any) -> int | None:
    """The queue row marked selected: the incident selected, but none while the new-incident form is open (its
    actions are paused then); it is marked again when the form closes without creating one."""
    return None if form_is_open(form_class) else as_id(selected)


def queue_view(filters: dict[str, Any], selected: int | None, lang: str,
               now: datetime | None = None, locked: bool = False) -> tuple[list[Any], str]:
    """The queue's rows and its count chip: one bounded query, most severe then newest first; the rows `locked`
    while the new-incident form is open."""
    now = now or utcnow()
    with session_scope(db_sessions()) as s:
        items = list_incidents(s, limit=QUEUE_LIMIT, now=now, **filters)
    count = t("dsp.queue_count", lang, n=len(items) if len(items) < QUEUE_LIMIT else f"{QUEUE_LIMIT}+")
    # The server's clock, for the browser's ticking ages and deadline clocks.
    clock = html.Span(className="dsp-now", hidden=True, **data_attrs(now=str(now.timestamp())))
    return [clock, *queue_rows(items, lang, now, selected, locked)], count


def _detail_sig(d: dict[str, Any], role: str, lang: str) -> str:
    """What the detail shows, except the clocks (they tick in the browser): unchanged → not re-rendered, so
    what the user typed stays and the buttons keep their keys."""
    return json.dumps(
        [d["version"], d["state"], d["overdue"], role, lang, len(d.get("timeline", [])),
         [(u["id"], u["status"]) for u in d.get("units", [])],
         [(sm["department"], str(sm["acknowledged_at"]), str(sm["escalated_at"]), sm["overdue"])
          for sm in d.get("summons", [])]],
        default=str,
    )


def _suggest_sig(d: dict[str, Any], rows: list[dict[str, Any]], role: str, waiting: bool) -> str:
    return json.dumps([d["id"], d["version"], role, waiting,
                       [(u["id"], u["row"], round(u["distance_km"], 1)) for u in rows]])


def load_incident(incident_id: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The incident (get_incident) and the free units suited to it, nearest first within the best-suited kind
    (SUGGEST_POOL of them; rank_suggestions picks the list), in one read transaction."""
    with session_scope(db_sessions()) as s:
        d = get_incident(s, incident_id)
        pool = suggest_units(s, incident_id, SUGGEST_POOL)
    return d, pool


def nothing_open(lang: str, note: str, shown: dict[str, Any]) -> tuple[Any, ...]:
    """The detail, suggestions and map with no incident open (`note` in the suggestions' place): no button of any
    incident is left on screen."""
    empty = feature_collection([])
    return ([html.Div(t("dsp.none_selected", lang), className="dsp-empty")],
            [html.Div(t(note, lang), className="dsp-empty")], empty, empty, no_update, shown)


def detail_update(selected: int | None, shown: dict[str, Any] | None, role: str, lang: str,
                  keygen: KeyGen = new_key, now: datetime | None = None, held: bool = False,
                  form_open: bool = False) -> tuple[Any, ...]:
    """(detail, suggestions, incident layer, units layer, map viewport, shown): only what changed.

    `held`: the dispatcher works in the suggested units (the pointer is in the list), so its rows keep their
    places (layouts/dispatch/suggest.py: suggestion_rows); otherwise they are ranked afresh. `form_open`: the
    new-incident form takes the console, so no incident is shown open (the selection returns when it closes).
    """
    shown = shown or {}
    if form_open:
        if shown.get("form"):
            raise PreventUpdate
        return nothing_open(lang, "dsp.suggest_form_open", {"form": True})
    if selected is None:
        if not shown:
            raise PreventUpdate  # the page as built says so already
        return nothing_open(lang, "dsp.suggest_pick", {})
    now = now or utcnow()
    moved = shown.get("id") != selected
    try:
        d, pool = load_incident(int(selected))
    except Refused:
        empty = feature_collection([])
        return ([html.Div(t("dsp.not_found", lang, id=selected), className="dsp-empty")], [], empty, empty,
                no_update, {"id": selected})
    except SQLAlchemyError as exc:
        # The detail shown stays, and the page's notice says the database is unavailable (callbacks/database.py).
        DATABASE.failed("console read", exc)
        raise PreventUpdate from None
    ranked = rank_suggestions(d["category"], pool)
    before = shown.get("rows") if isinstance(shown.get("rows"), list) else None
    rows = suggestion_rows(ranked, pool, {u["id"] for u in d.get("units", [])}, before, held and not moved)
    waiting = [u["id"] for u in rows] != [u["id"] for u in ranked]
    dsig = _detail_sig(d, role, lang)
    ssig = _suggest_sig(d, rows, role, waiting)
    detail_changed = moved or dsig != shown.get("dsig")
    suggest_changed = moved or detail_changed or ssig != shown.get("ssig")
    if not detail_changed and not suggest_changed:
        raise PreventUpdate
    new_shown = {"id": selected, "dsig": dsig, "ssig": ssig, "title": d["title"], "version": d["version"],
                 "rows": remembered(rows)}
    return (
        detail_view(d, role, lang, now, keygen) if detail_changed else no_update,
        suggest_view(d, rows, role, lang, keygen, waiting) if suggest_changed else no_update,
        incident_geojson(d, lang) if detail_changed else no_update,
        units_geojson(d, rows, lang) if suggest_changed else no_update,
        focus_viewport(d, [u for u in rows if u["row"] == ROW_FREE], current_config().tiles) if moved else no_update,
        new_shown,
    )


def fields_by_name(states: list[dict[str, Any]]) -> dict[str, Any]:
    """The values of the detail's form fields from Dash's list of pattern-matching states (typed text that cannot be
    stored is no text)."""
    out: dict[str, Any] = {}
    for s in states:
        sid = s.get("id")
        if isinstance(sid, dict) and "field" in sid:
            value = s.get("value")
            out[str(sid["field"])] = as_str(value) if isinstance(value, str) else value
    return out


# --- Dash wiring ----------------------------------------------------------------------------------


TOAST_OUTPUTS: Final = (
    Output(ids.DISPATCH_TOAST, "is_open", allow_duplicate=True),
    Output(ids.DISPATCH_TOAST, "header", allow_duplicate=True),
    Output(ids.DISPATCH_TOAST, "children", allow_duplicate=True),
    Output(ids.DISPATCH_TOAST, "icon", allow_duplicate=True),
    Output(ids.DISPATCH_TOAST, "duration", allow_duplicate=True),
)


def toast(fb: Feedback, lang: str) -> tuple[Any, ...]:
    """The toast's is_open, header, body, icon and duration (errors stay until dismissed)."""
    return True, fb.header(lang), fb.message, TOAST_ICON.get(fb.kind, "secondary"), TOAST_MS.get(fb.kind)


NO_TOAST: Final = (no_update,) * 5


def current_role() -> str:
    """The signed-in user's role ("" when nobody is)."""
    return str(current_user.role) if current_user.is_authenticated else ""


@callback(
    Output(ids.DISPATCH_QUEUE, "children"),
    Output(ids.DISPATCH_QUEUE_COUNT, "children"),
    Input(ids.DISPATCH_TICK, "n_intervals"),
    Input(ids.DISPATCH_FILTER_STATE, "value"),
    Input(ids.DISPATCH_FILTER_SEVERITY, "value"),
    Input(ids.DISPATCH_FILTER_SUBDISTRICT, "value"),
    Input(ids.DISPATCH_SELECTED, "data"),
    Input(ids.DISPATCH_REFRESH, "data"),
    Input(ids.DISPATCH_CREATE, "className"),
)
def _queue(_n: Any, state: Any, sevs: Any, sub: Any, selected: Any, _refresh: Any,
           form_class: Any) -> tuple[list[Any], str]:
    with kept_on_failure("console read"):
        return queue_view(queue_filters(state, sevs, sub), marked_row(selected, form_class), current_language(),
                          locked=form_is_open(form_class))


def select_row(row: int, form_open: bool, lang: str) -> Feedback | None:
    """Why a click on the queue row of incident `row` opens nothing (None: it opens it): while the new-incident
    form is open it takes the console, so the selection stays (it returns when the form closes) and the dispatcher
    is told, rather than the selection changing unseen behind the form."""
    if form_open:
        return Feedback("refused", t("dsp.select_form_open", lang, id=row), 409, row)
    return None


@callback(
    Output(ids.DISPATCH_SELECTED, "data"),
    *TOAST_OUTPUTS,
    Input(ROW_PATTERN, "n_clicks"),
    State(ids.DISPATCH_CREATE, "className"),
    prevent_initial_call=True,
)
def _select(_clicks: list[Any], form_class: Any) -> tuple[Any, ...]:
    row = clicked_row()
    lang = current_language()
    refused = select_row(row, form_is_open(form_class), lang)
    if refused is not None:
        return (no_update, *toast(refused, lang))
    return (row, *NO_TOAST)


@callback(
    Output(ids.DISPATCH_DETAIL, "children"),
    Output(ids.DISPATCH_SUGGEST, "children"),
    Output(ids.DISPATCH_MAP_INCIDENT, "data"),
    Output(ids.DISPATCH_MAP_UNITS, "data"),
    Output(ids.DISPATCH_MAP, "viewport"),
    Output(ids.DISPATCH_SHOWN, "data"),
    Input(ids.DISPATCH_SELECTED, "data"),
    Input(ids.DISPATCH_TICK, "n_intervals"),
    Input(ids.DISPATCH_REFRESH, "data"),
    Input(ids.DISPATCH_HOLD, "data"),
    Input(ids.DISPATCH_SUGGEST_RESORT, "n_clicks"),
    Input(ids.DISPATCH_CREATE, "className"),
    State(ids.DISPATCH_SHOWN, "data"),
)
def _detail(selected: Any, _n: Any, _refresh: Any, hold: Any, _resort: Any, form_class: Any,
            shown: Any) -> tuple[Any, ...]:
    fired = {p.split(".", 1)[0] for p in ctx.triggered_prop_ids}
    if fired == {ids.DISPATCH_HOLD} and hold == HOLD_SUGGEST:
        raise PreventUpdate  # the pointer came into the list: it holds as it is
    # Leaving the list, or asking for a fresh one (the Re-sort button), ranks it afresh.
    held = hold == HOLD_SUGGEST and ids.DISPATCH_SUGGEST_RESORT not in fired
    return detail_update(as_id(selected), as_dict(shown), current_role(), current_language(), held=held,
                         form_open=form_is_open(form_class))


@callback(
    *TOAST_OUTPUTS,
    Output(ids.DISPATCH_REFRESH, "data", allow_duplicate=True),
    Output(ids.DISPATCH_PENDING, "data"),
    Output(ids.DISPATCH_CONFIRM, "is_open"),
    Output(ids.DISPATCH_CONFIRM_BODY, "children"),
    Output(ids.DISPATCH_CONFIRM_REASON, "value"),
    Output(ids.DISPATCH_CONFIRM_REASON, "placeholder"),
    Output(FORM_ERROR_PATTERN, "children"),
    Input(ACTION_PATTERN, "n_clicks"),
    Input(ids.DISPATCH_CONFIRM_OK, "n_clicks"),
    Input(ids.DISPATCH_CONFIRM_CANCEL, "n_clicks"),
    State(FIELD_PATTERN, "value"),
    State(ids.DISPATCH_PENDING, "data"),
    State(ids.DISPATCH_CONFIRM_REASON, "value"),
    State(ids.DISPATCH_REFRESH, "data"),
    State(ids.DISPATCH_SHOWN, "data"),
    State(ids.DISPATCH_SELECTED, "data"),
    State(ids.DISPATCH_CREATE, "className"),
    prevent_initial_call=True,
)
def _act(_clicks: list[Any], _ok: Any, _back: Any, _fields: list[Any], raw_pending: Any, raw_reason: Any,
         refresh: Any, raw_shown: Any, selected: Any, form_class: Any) -> tuple[Any, ...]:
    lang = current_language()
    screen = on_screen(selected, raw_shown, form_class)
    trig = ctx.triggered_id
    value = ctx.triggered[0].get("value") if ctx.triggered else None
    after = bump(refresh)
    forms = as_list(ctx.outputs_list[-1]) if ctx.outputs_list else []
    if trig == ids.DISPATCH_CONFIRM_CANCEL:
        # A wildcard output takes one value per matched component, never a bare no_update.
        return (*NO_TOAST, no_update, None, False, no_update, no_update, no_update, [no_update] * len(forms))
    if trig == ids.DISPATCH_CONFIRM_OK:
        pending = pending_action(raw_pending)
        if not pending or not value:
            raise PreventUpdate
        fb = confirm(pending, as_str(raw_reason), current_actor(), lang, screen)
        # A refusal that a reason would fix keeps the dialog open; anything else closes it.
        keep = fb.kind == "refused" and fb.status == 422 and "reason" in fb.errors
        return (*toast(fb, lang), after, pending if keep else None, keep, no_update, no_update, no_update,
                form_errors(forms, "", None))
    button = action_button(trig)
    if button is None or not value:
        raise PreventUpdate  # buttons re-rendered, not clicked
    fields = fields_by_name(ctx.states_list[0] if ctx.states_list else [])
    step = handle_click(button, fields, current_actor(), lang, screen)
    action = str(button.get("action", ""))
    if step.pending is not None:
        shown = as_dict(raw_shown)
        title = shown.get("title", "") if shown.get("id") == step.pending["incident"] else ""
        return (*NO_TOAST, no_update, step.pending, True, confirm_text(step.pending, str(title), lang),
                step.pending["fields"].get(FIELD_REASON) or "", reason_placeholder(step.pending["action"], lang),
                form_errors(forms, action, None))
    done = step.feedback
    assert done is not None
    if beside_form(done, action):
        # Said beside the form; nothing changed, so nothing is refreshed.
        return (*NO_TOAST, no_update, no_update, no_update, no_update, no_update, no_update,
                form_errors(forms, action, done))
    return (*toast(done, lang), after, no_update, no_update, no_update, no_update, no_update,
            form_errors(forms, action, done))
