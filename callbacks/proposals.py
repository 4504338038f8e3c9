"""The console's proposals: 未诉先办 warnings (from the precomputed `warnings` aggregate) turned into incidents, and
热线+网格 links between tickets (dashboard/services/cases.py) confirmed or split.

Turning a warning into an incident goes through the incident service like any hand-made incident (role check,
audit), with an idempotency key and external id naming the warning: two dispatchers clicking the same warning,
or one double click, make one incident, and the card then shows which. While the pointer is in the proposals they
hold still (layouts/hold.py): the cards stay in their places until it leaves.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Final

import redis
from dash import ALL, Input, Output, State, callback, ctx, no_update
from dash.exceptions import PreventUpdate
from sqlalchemy.exc import SQLAlchemyError

from callbacks.dispatch import (
    TOAST_OUTPUTS,
    Feedback,
    current_actor,
    current_role,
    db_failed_feedback,
    notify,
    refusal_feedback,
    select_row,
    toast,
)
from dashboard import store
from dashboard.domain import lifecycle
from dashboard.domain import rules as c
from dashboard.i18n import t
from dashboard.live.aggregates import read_aggregates
from dashboard.live.schema import AGG_WARNINGS
from dashboard.services import cases as case_service
from dashboard.services.base import Refused
from dashboard.services.incidents import create_incident
from dashboard.store.engine import session_scope
from dashboard.store.outage import DATABASE
from dashboard.web.auth import current_language
from dashboard.web.extensions import db_sessions, redis_client
from layouts import ids
from layouts import proposals as lay
from layouts.dispatch.form import form_is_open
from layouts.hold import HOLD_PROPOSALS
from layouts.inputs import MAX_EPOCH_S, as_float, as_id, as_int, as_list, as_token, bump

log = logging.getLogger(__name__)

ACTION_PATTERN: Final = {"type": ids.PROPOSAL_ACTION, "kind": ALL, "ref": ALL, "arg": ALL}
# Cases read for the proposals (those with links still to decide are shown, MAX_CASES of them).
CASES_LISTED: Final = 50


def warning_key(warning_id: str) -> str:
    """The idempotency key (and external id) of the incident opened from a warning: one per warning."""
    return f"warning:{warning_id}"[:128]


def read_warnings(r: redis.Redis) -> list[dict[str, Any]]:
    """The current early warnings, most severe first (empty when the aggregate is missing)."""
    env = read_aggregates(r, [AGG_WARNINGS]).get(AGG_WARNINGS)
    return [] if env is None else list(env["data"].get("warnings") or [])


def proposals_state(role: str, lang: str, held: Mapping[str, Any] | None = None) -> tuple[list[Any], dict[str, Any]]:
    """The proposals block (warnings, and which of them are incidents already, then cases to decide) and what it
    shows; `held`: what was shown, kept in place (the pointer is in the proposals)."""
    warnings = read_warnings(redis_client())
    ids_ = {str(w["id"]) for w in warnings} | {str(w.get("id")) for w in (held or {}).get("warnings") or []}
    keys = {i: warning_key(i) for i in ids_}
    with db_sessions()() as s:
        made = store.incidents.incidents_by_external_id(s, c.WARNING_SOURCE, keys.values())
        cases = case_service.list_cases(s, CASES_LISTED)
    created = {i: made[k] for i, k in keys.items() if k in made}
    view = [*lay.warnings_block(warnings, created, role, lang, held), *lay.cases_block(cases, role, lang, held)]
    return view, lay.remember_proposals(warnings, cases, held)


def proposals_view(role: str, lang: str) -> list[Any]:
    """The proposals block as it is now (not held)."""
    return proposals_state(role, lang)[0]


def decide(ref: str, decision: str, lang: str) -> Feedback:
    """Confirm or split one link ("<case id>:<link id>") as the signed-in user (the service checks the role)."""
    actor = current_actor()
    case_ref, _, link_ref = ref.partition(":")
    case_id, link_id = as_id(case_ref), as_id(link_ref)
    if case_id is None or link_id is None:
        return Feedback("refused", t("prop.gone", lang), 422)
    key = f"console:{actor.id}:case:{link_id}:{decision}"
    try:
        with session_scope(db_sessions()) as s:
            result = case_service.decide_link(s, case_id, link_id, decision, actor, key)
    except Refused as exc:
        return Feedback("refused", case_service.case_refusal_text(exc, lang), exc.status)
    except SQLAlchemyError as exc:
        return db_failed_feedback(exc, lang)
    kind = "replayed" if result.replayed else "ok"
    return Feedback(kind, t(f"prop.done_{decision}", lang), 200)


def open_from_warning(warning_id: str, lang: str) -> Feedback:
    """Open the incident for a warning as the signed-in user (refused by the service for roles that may not)."""
    actor = current_actor()
    warning = next((w for w in read_warnings(redis_client()) if str(w["id"]) == warning_id), None)
    if warning is None:
        return Feedback("refused", t("prop.gone", lang), 404)
    category = c.WARNING_INCIDENT_CATEGORY.get(str(warning.get("kind")), "other")
    key = warning_key(warning_id)
    try:
        with session_scope(db_sessions()) as s:
            result = create_incident(s, lay.warning_incident_fields(warning, category), actor, key,
                                     source=c.WARNING_SOURCE, external_id=key)
    except Refused as exc:
        return refusal_feedback(exc, lang, None)
    except SQLAlchemyError as exc:
        return db_failed_feedback(exc, lang)
    incident_id = int(result.incident["id"])
    if result.replayed:
        return Feedback("replayed", t("prop.became", lang, id=incident_id), 200, incident_id)
    notify(incident_id, lifecycle.CREATE)
    return Feedback("ok", t("dsp.created", lang, id=incident_id), 201, incident_id)


def _held_warning(w: Any) -> bool:
    """True when a held warning has the fields a card shows, of the types the warnings aggregate gives them."""
    if not (isinstance(w, Mapping) and isinstance(w.get("id"), str | int) and as_token(str(w["id"])) is not None):
        return False
    since = w.get("since")
    return (all(isinstance(w.get(k), str | None) for k in ("category", "subdistrict"))
            and as_float(w.get("score") or 0.0) is not None
            and (since is None or as_int(since, 0, MAX_EPOCH_S) is not None or (
                isinstance(since, float) and 0 <= since <= MAX_EPOCH_S))
            and all(isinstance(r, list | None) and all(isinstance(x, str) for x in r or ())
                    for r in (w.get("reasons_zh"), w.get("reasons_en")))
            and isinstance(w.get("evidence"), list | None)
            and all(isinstance(e, Mapping) for e in w.get("evidence") or ()))


def held_proposals(shown: Any) -> dict[str, Any] | None:
    """What the proposals showed (the DISPATCH_PROPOSALS_SHOWN store, as remember_proposals wrote it), or None when
    the store holds anything else: the proposals are then shown afresh."""
    if not isinstance(shown, Mapping):
        return None
    warnings = as_list(shown.get("warnings"))
    cases = as_list(shown.get("cases"))
    if not all(map(_held_warning, warnings)):
        return None
    if not all(as_id(i) is not None for i in cases):
        return None
    return {"warnings": [dict(w) for w in warnings], "cases": [int(i) for i in cases],
            "more_warnings": shown.get("more_warnings") is True, "more_cases": shown.get("more_cases") is True}


@callback(Output(ids.DISPATCH_PROPOSALS, "children"), Output(ids.DISPATCH_PROPOSALS_SHOWN, "data"),
          Input(ids.DISPATCH_TICK, "n_intervals"), Input(ids.DISPATCH_REFRESH, "data"),
          Input(ids.DISPATCH_HOLD, "data"), State(ids.DISPATCH_PROPOSALS_SHOWN, "data"))
def _proposals(_n: Any, _refresh: Any, hold: Any, shown: Any) -> Any:
    """Thin wrapper: the console's poll → proposals_state, held while the pointer is in the proposals (Redis or the
    database away: keep what is shown)."""
    fired = {p.split(".", 1)[0] for p in ctx.triggered_prop_ids}
    if fired == {ids.DISPATCH_HOLD} and hold == HOLD_PROPOSALS:
        raise PreventUpdate  # the pointer came into the proposals: they hold as they are
    held = held_proposals(shown) if hold == HOLD_PROPOSALS else None
    try:
        return proposals_state(current_role(), current_language(), held)
    except SQLAlchemyError as exc:
        DATABASE.failed("console read", exc)
        return no_update, no_update
    except (redis.RedisError, OSError) as exc:
        log.warning("proposals not refreshed: %s", exc)
        return no_update, no_update


@callback(
    *TOAST_OUTPUTS,
    Output(ids.DISPATCH_SELECTED, "data", allow_duplicate=True),
    Output(ids.DISPATCH_REFRESH, "data", allow_duplicate=True),
    Input(ACTION_PATTERN, "n_clicks"),
    State(ids.DISPATCH_REFRESH, "data"),
    State(ids.DISPATCH_CREATE, "className"),
    prevent_initial_call=True,
)
def _act(_clicks: list[Any], refresh: Any, form_class: Any) -> tuple[Any, ...]:
    """A proposal's button: the warning's "转为事件" (the role is checked by the service); the incident it makes
    opens on the console, unless the new-incident form is open (select_row: the selection then stays, and the
    toast says so)."""
    trig = ctx.triggered_id
    if not isinstance(trig, Mapping) or not any(v for v in (_clicks or []) if v):
        raise PreventUpdate
    lang = current_language()
    ref = as_token(str(trig.get("ref")))
    if ref is None:
        raise PreventUpdate
    if trig.get("kind") == "warning":
        fb = open_from_warning(ref, lang)
    elif trig.get("kind") == "link" and trig.get("arg") in ("confirm", "split"):
        fb = decide(ref, str(trig.get("arg")), lang)
    else:
        raise PreventUpdate
    selected: Any = no_update
    if fb.ok and fb.incident_id is not None:
        paused = select_row(fb.incident_id, form_is_open(form_class), lang)
        if paused is None:
            selected = fb.incident_id
        else:
            fb = replace(fb, message=fb.message + t("refusal.aside", lang, text=paused.message))
    return (*toast(fb, lang), selected, bump(refresh))
