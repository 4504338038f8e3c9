"""Escalation to the leader of what is overdue: a summoned department that did not report (报到) in time, an open
incident past its deadline. Run by the deadline check (workers/deadlines.py); each escalation is conditional on
the row still being overdue under its lock, so two checkers never escalate twice."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from dashboard import store
from dashboard.domain import lifecycle
from dashboard.domain import rules as c


def escalate_summons(session: Session, summons_id: int, now: datetime, actor: str = "system") -> int | None:
    """Mark one overdue summons escalated and audit it; its incident id, or None when meanwhile it was
    acknowledged, escalated or its incident ended (the conditional update makes two checkers harmless)."""
    sm = store.incidents.lock_pending_summons(session, summons_id)
    if sm is None:
        return None
    sm.escalated_at = now
    detail = {"summons_id": sm.id, "department": sm.department, "deadline_at": sm.deadline_at.isoformat(),
              "role": lifecycle.SYSTEM_ROLE}
    store.audit_log.record(session, actor, "summons_escalated", "incident", str(sm.incident_id), detail=detail,
                           at=now)
    session.flush()
    return sm.incident_id


def escalate_incident(session: Session, incident_id: int, now: datetime, actor: str = "system") -> bool:
    """Mark one overdue open incident escalated (to the leader) and audit it; False when meanwhile it ended,
    was escalated or is no longer overdue."""
    inc = store.incidents.lock_incident(session, incident_id)
    if (
        inc is None
        or inc.state not in c.INCIDENT_OPEN_STATES
        or inc.escalated_at is not None
        or not lifecycle.is_overdue(inc.deadline_at, now)
    ):
        return False
    inc.escalated_at = now
    inc.updated_at = now
    store.audit_log.record(session, actor, "incident_escalated", "incident", str(inc.id),
                           detail={"deadline_at": inc.deadline_at.isoformat(), "severity": inc.severity,
                           "role": lifecycle.SYSTEM_ROLE}, at=now)
    session.flush()
    return True
