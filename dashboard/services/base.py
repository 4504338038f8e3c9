"""What every service shares: who acts (`Actor`), the one refusal (`Refused`), the checks of an idempotency key and
of free text, and `refuse`, which undoes the caller's transaction and records the refusal in the audit log.

A service function takes the caller's session and an Actor. It checks the role first, changes rows in the
caller's transaction and adds one audit entry that the caller commits together with the change. A refusal raises
`Refused` after `refuse` has ROLLED BACK the caller's session (so a refused action changes nothing and any lock it
took is released) and COMMITTED an audit entry with outcome "refused" in a short session of its own on the same
engine: the caller does nothing for the refusal to be on record, and must not expect anything it added to the
session before the call to survive a refusal.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from dashboard.store import audit_log
from dashboard.store.models import utcnow
from dashboard.store.outage import DATABASE

log = logging.getLogger(__name__)

IDEMPOTENCY_KEY_MAX: Final = 128
TEXT_MAX: Final = 2000

# A field's problem as data: (code, params), said in the user's language by the screens' catalogues.
Problem = tuple[str, dict[str, Any]]


@dataclass(frozen=True)
class Actor:
    """Who acts: a user (id, username, role) or the simulator / a worker / the command line (id None)."""

    id: int | None
    username: str
    role: str


class Refused(Exception):
    """An action refused without changing anything (already audited as "refused" when raised by a service).

    status: HTTP-like, 403 forbidden role, 404 unknown target, 409 conflict (illegal transition, busy unit, stale
    screen, lock-out, name taken), 422 bad parameters. code: short machine code. reason: for people, in English
    (what the REST API returns as `error`). errors: field -> English reason (422). params: what the reason is made
    of (action, state, unit code, department …, and "variant" where one code has several reasons), to say it in the
    user's language (dashboard.i18n.refusals). problems: field -> (code, params) where a form shows each field's
    problem from the catalogues (the administrator's forms).
    """

    def __init__(self, status: int, code: str, reason: str, errors: Mapping[str, str] | None = None,
                 params: Mapping[str, Any] | None = None, problems: Mapping[str, Problem] | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.code = code
        self.reason = reason
        self.errors: dict[str, str] = dict(errors or {})
        self.params: dict[str, Any] = dict(params or {})
        self.problems: dict[str, Problem] = dict(problems or {})


def jsonable(value: Mapping[str, Any]) -> dict[str, Any]:
    """A copy that the JSON audit column can store whatever the caller passed (unknown types as text)."""
    out: dict[str, Any] = json.loads(json.dumps(dict(value), default=str, ensure_ascii=False))
    return out


def check_idempotency_key(key: Any) -> None:
    """Refuse (422) a missing, blank or over-long idempotency key."""
    if not isinstance(key, str) or not key.strip() or len(key) > IDEMPOTENCY_KEY_MAX:
        raise Refused(422, "invalid_idempotency_key",
                      f"an idempotency key of 1–{IDEMPOTENCY_KEY_MAX} characters is required",
                      params={"max": IDEMPOTENCY_KEY_MAX})


def refuse(session: Session, refusal: Refused, actor: Actor, action: str, target_type: str | None,
           target_id: str | None, request: Mapping[str, Any] | None = None, now: datetime | None = None,
           extra: Mapping[str, Any] | None = None) -> Refused:
    """Roll the caller's session back, commit the refusal's audit entry in a session of its own, and return the
    refusal for the caller to raise. `extra` adds to the entry's detail (e.g. the idempotency key)."""
    session.rollback()
    detail: dict[str, Any] = {"status": refusal.status, "code": refusal.code, "reason": refusal.reason,
                              "role": actor.role}
    if refusal.params:  # what the reason is made of, so that a screen can say it in its reader's language
        detail["params"] = jsonable(refusal.params)
    if request is not None:
        detail["request"] = dict(request)
    if refusal.problems:
        detail["errors"] = {field: code for field, (code, _) in refusal.problems.items()}
    detail.update(extra or {})
    try:
        with Session(session.get_bind()) as audit_session:
            audit_log.record(audit_session, actor.username, action, target_type, target_id, outcome="refused",
                            detail=detail, at=now or utcnow())
            audit_session.commit()
    except SQLAlchemyError as exc:
        # The refusal stands (nothing was changed); only its record is lost: counted in an outage, else logged in full.
        DATABASE.failed("audit of a refusal", exc)
    return refusal
