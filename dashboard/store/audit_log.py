"""The append-only audit log: one entry per action, refusal and system change."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dashboard.store.models import (
    AuditLog,
    utcnow,
)


def record(
    session: Session,
    actor: str,
    action: str,
    target_type: str | None = None,
    target_id: str | None = None,
    outcome: str = "ok",
    detail: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> None:
    """Append one audit entry in the caller's transaction (`at` defaults to now)."""
    session.add(
        AuditLog(
            at=at or utcnow(),
            actor=actor,
            action=action,
            target_type=target_type,
            target_id=target_id,
            outcome=outcome,
            detail=detail,
        )
    )


def recent(session: Session, limit: int = 100) -> Sequence[AuditLog]:
    """The newest audit entries."""
    return session.scalars(select(AuditLog).order_by(AuditLog.id.desc()).limit(limit)).all()


def query(
    session: Session,
    *,
    actor: str | None = None,
    action: str | None = None,
    outcome: str | None = None,
    target: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[AuditLog], int]:
    """One page of the audit log, newest first, and how many entries match in all.

    actor: part of the actor's name (any case); action: the action or its start ("admin_" …); outcome: exact;
    target: "type:id", or a value matched against the target's type or id; since/until: [since, until).
    """
    conds: list[Any] = []
    if actor:
        conds.append(func.lower(AuditLog.actor).contains(actor.lower(), autoescape=True))
    if action:
        conds.append(AuditLog.action.startswith(action, autoescape=True))
    if outcome:
        conds.append(AuditLog.outcome == outcome)
    if target:
        ttype, sep, tid = target.partition(":")
        if sep:
            conds += [AuditLog.target_type == ttype, AuditLog.target_id == tid]
        else:
            conds.append((AuditLog.target_type == target) | (AuditLog.target_id == target))
    if since is not None:
        conds.append(AuditLog.at >= since)
    if until is not None:
        conds.append(AuditLog.at < until)
    total = int(session.scalar(select(func.count()).select_from(AuditLog).where(*conds)) or 0)
    rows = session.scalars(
        select(AuditLog).where(*conds).order_by(AuditLog.at.desc(), AuditLog.id.desc()).limit(limit).offset(offset)
    ).all()
    return list(rows), total


def entries_for(session: Session, target_type: str, target_id: str) -> list[AuditLog]:
    """Every audit entry about one target, oldest first."""
    return list(session.scalars(
        select(AuditLog)
        .where(AuditLog.target_type == target_type, AuditLog.target_id == target_id)
        .order_by(AuditLog.at, AuditLog.id)
    ))
