"""Cases (热线+网格): the one place where people read cases and decide on their links. The REST API
(dashboard/web/api/cases.py) and the dispatch console call these functions; the linking job (workers/linking/job.py)
makes the links.

A decision (`decide_link`) runs the steps of dashboard/services/incidents.py, in the same order:
1. checks without the database: a known decision ("confirm" or "split"), the actor's role (CASE_ROLES: dispatch
   and admin), the idempotency key, the note;
2. idempotency: a decision already recorded under the key is not taken again; the first result is returned with
   replayed=True (the unique key of CaseDecision is the backstop for a race);
3. the link row is locked (SELECT … FOR UPDATE; on SQLite the write lock, dashboard.store.engine.begin_write);
4. the change: the link's decision ("confirmed" or "split"), who and when, one CaseDecision row and one audit
   entry, flushed together in the caller's transaction (the caller commits, e.g. dashboard.store.engine.session_scope).

A split ticket leaves its case for good: it counts alone on the wall, and the linker never links it again (a
dispatcher may confirm it back). A confirmed link is kept as it is.

Refusals raise dashboard.services.base.Refused (403 role, 404 unknown case or link, 409 the link already has that
decision, 422 bad decision, key or note) after rolling the caller's session back and committing an audit entry
with outcome "refused" (target "case"). `case_refusal_text` says a refusal in the user's language.

Datetimes in the returned dicts are aware UTC datetimes (the API writes them as ISO 8601).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dashboard import store
from dashboard.domain import geo
from dashboard.domain import rules as c
from dashboard.i18n import name, norm_lang, t
from dashboard.i18n.refusals import refusal_text
from dashboard.services.base import IDEMPOTENCY_KEY_MAX, TEXT_MAX, Actor, Refused, refuse
from dashboard.store.engine import begin_write
from dashboard.store.models import Case, CaseLink, HotlineTicket, utcnow

log = logging.getLogger(__name__)

# Roles that may confirm or split a link (checked on the server for every request).
CASE_ROLES: Final = frozenset({"dispatch", "admin"})
# The link state each decision leads to.
DECISION_STATE: Final = {"confirm": "confirmed", "split": "split"}
LIST_LIMIT_MAX: Final = 500


@dataclass
class DecisionResult:
    """The case after the decision (as get_case), the link, the CaseDecision id, and whether it was a replay."""

    case: dict[str, Any]
    link: dict[str, Any]
    decision_id: int
    replayed: bool  # True when the idempotency key was seen before: nothing was done twice


# --- reading ----------------------------------------------------------------------------------------------


def _link_dict(link: CaseLink) -> dict[str, Any]:
    return {
        "id": link.id,
        "ticket_id": link.ticket_id,
        "target_type": link.target_type,
        "target_id": link.target_id,
        "rule": link.rule,
        "reason": dict(link.reason or {}),
        "reason_zh": reason_text(link.reason or {}, "zh"),
        "reason_en": reason_text(link.reason or {}, "en"),
        "decision": link.decision,
        "decided_by": link.decided_by,
        "decided_at": link.decided_at,
        "created_at": link.created_at,
    }


def _ticket_dict(ticket: HotlineTicket, link: CaseLink) -> dict[str, Any]:
    return {
        "id": ticket.id,
        "ticket_id": ticket.ticket_id,
        "source": ticket.source,
        "category": ticket.category,
        "summary": ticket.summary,
        "lon": ticket.lon,
        "lat": ticket.lat,
        "cell": ticket.cell,
        "subdistrict": ticket.subdistrict,
        "status": ticket.status,
        "received_at": ticket.received_at,
        "resolved_at": ticket.resolved_at,
        "link_id": link.id,
        "decision": link.decision,
    }


def reason_text(fields: Mapping[str, Any], lang: str) -> str:
    """A structured reason (Reason.fields) as a short sentence in `lang`."""
    rule = str(fields.get("rule"))
    common = {"distance": int(fields.get("distance_m") or 0), "minutes": int(fields.get("minutes_apart") or 0),
              "category": name("hl_cat", fields.get("category"), lang)}
    if rule == c.CASE_RULE_SENSOR:
        stype = str(fields.get("target_kind"))
        unit = str(c.SENSOR_TYPES.get(stype, {}).get("unit", ""))
        value = fields.get("value")
        return t("case.reason_sensor", lang, sensor=name("sensor", stype, lang), sensor_id=fields.get("target_id"),
                 value=f"{float(value):g}" if value is not None else "—", unit=unit, **common)
    if rule == c.CASE_RULE_INCIDENT:
        return t("case.reason_incident", lang, incident_id=fields.get("target_id"),
                 incident_category=name("inc_cat", fields.get("target_kind"), lang), **common)
    return t("case.reason_same_category", lang, **common)


def explanation(case: Mapping[str, Any], lang: str) -> str:
    """Why a case's tickets belong together, in one sentence in `lang` (from get_case / list_cases dicts)."""
    lang = norm_lang(lang)
    active = [tk for tk in case.get("tickets", ()) if tk.get("decision") != "split"]
    links = [ln for ln in case.get("links", ()) if ln.get("decision") != "split"]
    times = [tk["received_at"] for tk in active]
    minutes = round((max(times) - min(times)).total_seconds() / 60) if times else 0
    distance = max((round(geo.distance_km(case["lon"], case["lat"], tk["lon"], tk["lat"]) * 1000) for tk in active),
                   default=0)
    common = {"n": len(active), "distance": distance, "minutes": minutes}
    by_kind = {ln["target_type"]: ln["reason"] for ln in links}
    if case.get("incident_id") is not None:
        kind = (by_kind.get("incident") or {}).get("target_kind", "other")
        return t("case.explain_incident", lang, incident_id=case["incident_id"],
                 incident_category=name("inc_cat", kind, lang), **common)
    if case.get("sensor_id") is not None:
        kind = (by_kind.get("sensor") or {}).get("target_kind", "")
        return t("case.explain_sensor", lang, sensor=name("sensor", kind, lang), sensor_id=case["sensor_id"],
                 **common)
    return t("case.explain_tickets", lang, category=name("hl_cat", case.get("category"), lang), **common)


def _case_dicts(session: Session, cases: list[Case]) -> list[dict[str, Any]]:
    links_by_case: dict[int, list[tuple[CaseLink, HotlineTicket]]] = {}
    for link, ticket in store.cases.case_links_of(session, (x.id for x in cases)):
        links_by_case.setdefault(link.case_id, []).append((link, ticket))
    out = []
    for x in cases:
        pairs = links_by_case.get(x.id, [])
        active = [tk for ln, tk in pairs if ln.decision != "split"]
        d: dict[str, Any] = {
            "id": x.id,
            "key": x.key,
            "category": x.category,
            "subdistrict": x.subdistrict,
            "cell": x.cell,
            "lon": x.lon,
            "lat": x.lat,
            "incident_id": x.incident_id,
            "sensor_id": x.sensor_id,
            "first_at": x.first_at,
            "last_at": x.last_at,
            "created_at": x.created_at,
            "updated_at": x.updated_at,
            "ticket_count": len(active),
            "open": any(tk.resolved_at is None for tk in active),
            "tickets": [_ticket_dict(tk, ln) for ln, tk in pairs],
            "links": [_link_dict(ln) for ln, _ in pairs],
        }
        d["explanation"] = {"zh": explanation(d, "zh"), "en": explanation(d, "en")}
        out.append(d)
    return out


def list_cases(session: Session, limit: int = 100) -> list[dict[str, Any]]:
    """Open cases (one of their tickets, not split off, still unresolved), the latest ticket first, each with its
    tickets (split ones included, marked by `decision`), its links with their reasons, and its explanation
    {"zh", "en"}."""
    return _case_dicts(session, store.cases.open_cases(session, max(1, min(int(limit), LIST_LIMIT_MAX))))


def get_case(session: Session, case_id: int) -> dict[str, Any]:
    """One case, open or not, as list_cases shows it plus `decisions` (who confirmed or split what, oldest first).
    Refused(404) for an unknown case."""
    found = store.cases.open_cases(session, case_id=case_id)
    if not found:
        raise Refused(404, "case_not_found", f"there is no case {case_id}", params={"case_id": case_id})
    out = _case_dicts(session, found)[0]
    out["decisions"] = [
        {"id": d.id, "link_id": d.link_id, "decision": d.decision, "actor": d.actor, "note": d.note,
         "created_at": d.created_at}
        for d in store.cases.case_decisions_of(session, case_id)
    ]
    return out


# --- deciding ---------------------------------------------------------------------------------------------


def _check(decision: Any, actor: Actor, key: Any, note: Any) -> None:
    """The checks that need no database (422 decision, 403 role, 422 key and note)."""
    if decision not in DECISION_STATE:
        raise Refused(422, "invalid_decision", 'decision must be "confirm" or "split"',
                      {"decision": "must be confirm or split"})
    if actor.role not in CASE_ROLES:
        raise Refused(403, "forbidden", f"the {actor.role!r} role may not {decision} a link",
                      params={"role": actor.role, "action": f"case_{decision}"})
    if not isinstance(key, str) or not key.strip() or len(key) > IDEMPOTENCY_KEY_MAX:
        raise Refused(422, "invalid_idempotency_key",
                      f"an idempotency key of 1–{IDEMPOTENCY_KEY_MAX} characters is required",
                      params={"max": IDEMPOTENCY_KEY_MAX})
    if note is not None and (not isinstance(note, str) or len(note) > TEXT_MAX):
        raise Refused(422, "note_too_long", f"a note is text of at most {TEXT_MAX} characters",
                      {"note": f"at most {TEXT_MAX} characters"}, params={"max": TEXT_MAX})


def _replay(session: Session, key: str, case_id: int, link_id: int, decision: str) -> DecisionResult | None:
    """The first result for a key already used, or None; 422 when it was used for another decision."""
    done = store.cases.case_decision_by_key(session, key)
    if done is None:
        return None
    if (done.case_id, done.link_id, done.decision) != (case_id, link_id, decision):
        raise Refused(422, "idempotency_key_reused",
                      "this idempotency key was already used for a different decision; use a new key")
    case = get_case(session, case_id)
    link = next(ln for ln in case["links"] if ln["id"] == link_id)
    return DecisionResult(case, link, done.id, True)


def decide_link(
    session: Session,
    case_id: int,
    link_id: int,
    decision: str,
    actor: Actor,
    idempotency_key: str,
    note: str | None = None,
    now: datetime | None = None,
) -> DecisionResult:
    """Confirm a link (the ticket belongs to the case) or split it (the ticket leaves the case and counts alone).

    decision: "confirm" or "split". The caller commits the session afterwards. Raises Refused (already
    audited, session rolled back): 403 role not dispatch/admin, 404 unknown case or link, 409 the link already has
    that decision, 422 bad decision, key or note; or a database error (session rolled back, nothing saved).
    """
    now = now or utcnow()
    action = f"case_{decision}" if decision in DECISION_STATE else "case_decision"
    request = {"link_id": link_id, "decision": str(decision), **({"note": note} if note else {})}
    try:
        _check(decision, actor, idempotency_key, note)
        replay = _replay(session, idempotency_key, case_id, link_id, decision)
        if replay is not None:
            return replay
        begin_write(session)
        return _decide_locked(session, case_id, link_id, decision, actor, idempotency_key, note, now)
    except Refused as refusal:
        refuse(session, refusal, actor, action, "case", str(case_id), request, now,
               {"idempotency_key": idempotency_key})
        raise
    except BaseException:
        session.rollback()
        raise


def _decide_locked(session: Session, case_id: int, link_id: int, decision: str, actor: Actor, key: str,
                   note: str | None, now: datetime) -> DecisionResult:
    link = store.cases.lock_case_link(session, case_id, link_id)
    if link is None:
        if store.cases.get_case(session, case_id) is None:
            raise Refused(404, "case_not_found", f"there is no case {case_id}", params={"case_id": case_id})
        raise Refused(404, "link_not_found", f"case {case_id} has no link {link_id}",
                      params={"case_id": case_id, "link_id": link_id})
    # Checked again under the lock: a request with the same key may have committed while we waited.
    replay = _replay(session, key, case_id, link_id, decision)
    if replay is not None:
        return replay
    state = DECISION_STATE[decision]
    if link.decision == state:
        raise Refused(409, "same_decision", f"the link is already {state}", params={"decision": state})
    before = link.decision
    link.decision = state
    link.decided_by = actor.username
    link.decided_at = now
    store.cases.touch_ticket(session, link.ticket_id)
    case = store.cases.get_case(session, case_id)
    if case is not None:
        case.updated_at = now
    try:
        row = store.cases.add_decision(session, link.id, case_id, decision, actor.id, actor.username, key, note, now)
    except IntegrityError:
        # Another transaction committed the same key meanwhile: replay its result.
        session.rollback()
        replay = _replay(session, key, case_id, link_id, decision)
        if replay is None:
            raise
        return replay
    detail = {"link_id": link.id, "ticket_id": link.ticket_id, "from": before, "to": state, "decision_id": row.id,
              "role": actor.role, **({"note": note} if note else {})}
    store.audit_log.record(session, actor.username, f"case_{decision}", "case", str(case_id), detail=detail, at=now)
    session.flush()
    result = get_case(session, case_id)
    return DecisionResult(result, next(ln for ln in result["links"] if ln["id"] == link_id), row.id, False)


# --- in the user's language -----------------------------------------------------------------------------------


def case_refusal_text(refusal: Refused, lang: str) -> str:
    """A refusal of this service in `lang`: the case's own catalogue entries ("case.refusal_<code>"), else the
    incident service's (dashboard.i18n.refusals: idempotency keys and the like)."""
    lang = norm_lang(lang)
    key = f"case.refusal_{refusal.code}"
    params = dict(refusal.params)
    if refusal.code == "forbidden":
        params["role"] = name("role", params.get("role"), lang)
        action = str(params.get("action", "")).removeprefix("case_")
        params["action"] = t(f"case.act_{action}", lang) if action in DECISION_STATE else action
    if "decision" in params:
        params["decision"] = t(f"case.decision_{params['decision']}", lang)
    try:
        text = t(key, lang, **params)
    except (KeyError, IndexError, ValueError):
        text = key
    return text if text != key else refusal_text(refusal, lang)
