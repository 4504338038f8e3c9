"""The administrator's settings documents (thresholds, deadlines), one JSON document per key with its version."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dashboard.domain.tunables import (
    DEADLINES_KEY,
    THRESHOLDS_KEY,
    Deadlines,
    Thresholds,
    effective_deadlines,
    effective_thresholds,
)
from dashboard.store.models import (
    Setting,
)


def get_setting(session: Session, key: str) -> Setting | None:
    """One settings document (from the session's identity map when already loaded: one read per session)."""
    return session.get(Setting, key)


def lock_setting(session: Session, key: str) -> Setting | None:
    """One settings document, locked and re-read, before it is replaced."""
    return session.scalar(
        select(Setting).where(Setting.key == key).with_for_update().execution_options(populate_existing=True)
    )


def put_setting(session: Session, key: str, value: dict[str, Any], actor: str, now: datetime) -> Setting:
    """Store a settings document (insert or replace) and count the save in its version; flushed."""
    row = lock_setting(session, key)
    if row is None:
        row = Setting(key=key, value=value, version=1, updated_at=now, updated_by=actor)
        session.add(row)
    else:
        row.value = value
        row.version = int(row.version or 0) + 1
        row.updated_at = now
        row.updated_by = actor
    session.flush()
    return row


def load_thresholds(session: Session) -> Thresholds:
    """The thresholds in force (one row by primary key)."""
    row = get_setting(session, THRESHOLDS_KEY)
    return effective_thresholds(row.value if row is not None else None)


def load_deadlines(session: Session) -> Deadlines:
    """The deadlines in force (one row by primary key, read once per session)."""
    row = get_setting(session, DEADLINES_KEY)
    return effective_deadlines(row.value if row is not None else None)


def setting_meta(session: Session, key: str) -> dict[str, Any]:
    """A settings document's version and who saved it when (version 0 when never saved)."""
    row = get_setting(session, key)
    if row is None:
        return {"version": 0, "updated_at": None, "updated_by": None}
    return {"version": int(row.version or 0), "updated_at": row.updated_at, "updated_by": row.updated_by}
