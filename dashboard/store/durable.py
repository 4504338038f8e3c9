"""Durable events (incidents, tickets and their updates) written to the system of record in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dashboard.domain import rules as c
from dashboard.domain.events import Event
from dashboard.store import audit_log, incidents, tickets


@dataclass
class StoreResult:
    """What happened to the durable events of one ingest request."""

    stored: list[Event]
    duplicates: list[Event]
    unknown: list[Event]  # updates for tickets that do not exist


def store_durable(session: Session, events: Sequence[Event]) -> StoreResult:
    """Write incidents, tickets and their updates in one transaction; duplicates are skipped."""
    result = StoreResult([], [], [])
    for ev in events:
        kind = ev["kind"]
        try:
            with session.begin_nested():
                if not _DURABLE_WRITERS[kind](session, ev):
                    result.unknown.append(ev)
                    continue
        except IntegrityError:
            result.duplicates.append(ev)
            continue
        result.stored.append(ev)
    if result.stored:
        audit_log.record(
            session,
            f"ingest:{result.stored[0]['source']}",
            "ingest_durable",
            detail={"stored": len(result.stored), "duplicates": len(result.duplicates)},
        )
    return result


# How each durable kind is written; False means "refers to something that does not exist".
_DURABLE_WRITERS = {
    c.INCIDENT: incidents.insert_incident,
    c.INCIDENT_UPDATE: incidents.end_incident,
    c.HOTLINE_TICKET: tickets.insert_ticket,
    c.HOTLINE_UPDATE: tickets.update_ticket,
}
