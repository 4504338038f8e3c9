"""Changing the tunable thresholds and deadlines (dashboard.domain.tunables): administrators only, validated,
checked against the version on the editor's screen, stored in SQL and audited with what changed."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from dashboard import store
from dashboard.domain import rules as c
from dashboard.domain.tunables import (
    DEADLINES_KEY,
    LEVELS,
    THRESHOLDS_KEY,
    Deadlines,
    Thresholds,
    default_deadlines,
    default_thresholds,
    effective_deadlines,
    effective_thresholds,
    validate_deadlines,
    validate_thresholds,
)
from dashboard.services.admin import audit_action, check_admin, refuse
from dashboard.services.base import Actor, Refused
from dashboard.store.engine import begin_write
from dashboard.store.models import utcnow
from dashboard.store.settings import load_deadlines, load_thresholds, setting_meta


def current(session: Session, actor: Actor) -> dict[str, Any]:
    """What the settings page shows: thresholds and deadlines in force, the defaults, each document's
    version and who saved it when (administrators only)."""
    check_admin(session, actor, "settings_view")
    return {
        "thresholds": load_thresholds(session),
        "deadlines": load_deadlines(session),
        "defaults": {"thresholds": default_thresholds(), "deadlines": default_deadlines()},
        "meta": {key: setting_meta(session, key) for key in (THRESHOLDS_KEY, DEADLINES_KEY)},
    }


def _check_version(session: Session, actor: Actor, key: str, action: str, expected: Any,
                   request: dict[str, Any], now: datetime) -> Any:
    """Lock the document and refuse (409) a save made on a screen older than the stored version."""
    begin_write(session)
    row = store.settings.lock_setting(session, key)
    have = int(row.version or 0) if row is not None else 0
    if expected is not None and expected != have:
        refusal = Refused(409, "stale", f"{key} was changed meanwhile (version {have}, shown {expected})",
                          params={"version": have, "expected": expected})
        raise refuse(session, refusal, actor, action, "setting", key, request, now)
    return row


def save_thresholds(session: Session, actor: Actor, raw: Any, expected_version: int | None = None,
                    now: datetime | None = None) -> Thresholds:
    """Validate and store thresholds for some or all sensor types (others keep theirs); audited with what
    changed. Refused (422) with field problems, (409) when `expected_version` is not the stored one."""
    now = now or utcnow()
    action = "thresholds"
    check_admin(session, actor, action, "setting", THRESHOLDS_KEY)
    request = {"thresholds": raw if isinstance(raw, Mapping) else repr(raw)[:200],
               "expected_version": expected_version}
    clean, problems = validate_thresholds(raw)
    if problems:
        refusal = Refused(422, "invalid", "thresholds refused: " + ", ".join(sorted(problems)), problems=problems)
        raise refuse(session, refusal, actor, action, "setting", THRESHOLDS_KEY, request, now)
    row = _check_version(session, actor, THRESHOLDS_KEY, action, expected_version, request, now)
    before = effective_thresholds(row.value if row is not None else None)
    doc = {t: {lv: before[t][lv] for lv in LEVELS} for t in c.SENSOR_TYPES} | clean
    changes = {t: {"from": {lv: before[t][lv] for lv in LEVELS}, "to": v}
               for t, v in clean.items() if any(before[t][lv] != v[lv] for lv in LEVELS)}
    saved = store.settings.put_setting(session, THRESHOLDS_KEY, doc, actor.username, now)
    store.audit_log.record(session, actor.username, audit_action(action), "setting", THRESHOLDS_KEY,
                           detail={"changes": changes, "version": saved.version}, at=now)
    return effective_thresholds(doc)


def save_deadlines(session: Session, actor: Actor, raw: Any, expected_version: int | None = None,
                   now: datetime | None = None) -> Deadlines:
    """Validate and store the whole deadlines document; audited with what changed. Refused (422) with field
    problems, (409) when `expected_version` is not the stored one. New rows use it; existing rows keep theirs."""
    now = now or utcnow()
    action = "deadlines"
    check_admin(session, actor, action, "setting", DEADLINES_KEY)
    request = {"deadlines": raw if isinstance(raw, Mapping) else repr(raw)[:200],
               "expected_version": expected_version}
    valid, problems = validate_deadlines(raw)
    if valid is None:
        refusal = Refused(422, "invalid", "deadlines refused: " + ", ".join(sorted(problems)), problems=problems)
        raise refuse(session, refusal, actor, action, "setting", DEADLINES_KEY, request, now)
    row = _check_version(session, actor, DEADLINES_KEY, action, expected_version, request, now)
    before = effective_deadlines(row.value if row is not None else None).as_doc()
    doc = valid.as_doc()
    changes: dict[str, Any] = {}
    for group in ("incident_min", "hotline_h"):
        for k, v in doc[group].items():
            if before[group].get(k) != v:
                changes[f"{group}.{k}"] = {"from": before[group].get(k), "to": v}
    if before["summons_min"] != doc["summons_min"]:
        changes["summons_min"] = {"from": before["summons_min"], "to": doc["summons_min"]}
    saved = store.settings.put_setting(session, DEADLINES_KEY, doc, actor.username, now)
    store.audit_log.record(session, actor.username, audit_action(action), "setting", DEADLINES_KEY,
                           detail={"changes": changes, "version": saved.version}, at=now)
    return valid
