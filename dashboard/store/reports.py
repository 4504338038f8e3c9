"""Data access of the daily report: the SQL queries for one day's incidents and hotline tickets."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from dashboard.store.models import HotlineTicket, Incident, Sensor
from dashboard.store.tickets import TICKET_ROW_COLUMNS


class IncidentRow(NamedTuple):
    """One incident as the report needs it (incidents_reported)."""

    severity: int
    category: str
    state: str
    source: str
    subdistrict: str
    sensor_id: str | None
    sensor_type: str | None  # the registered sensor's type, None when unlinked or unregistered
    reported_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None


class TicketRow(NamedTuple):
    """One hotline ticket, in the order of store.tickets.tickets_since (so compute_hotline takes the same rows)."""

    category: str
    subdistrict: str
    cell: str
    received_at: datetime
    deadline_at: datetime
    responded_at: datetime | None
    resolved_at: datetime | None
    satisfied: bool | None


def incidents_reported(session: Session, start: datetime, end: datetime) -> list[IncidentRow]:
    """Incidents reported in [start, end), with the type of their sensor when one is linked and registered."""
    rows = session.execute(
        select(
            Incident.severity,
            Incident.category,
            Incident.state,
            Incident.source,
            Incident.subdistrict,
            Incident.sensor_id,
            Sensor.type,
            Incident.reported_at,
            Incident.acknowledged_at,
            Incident.resolved_at,
        )
        .outerjoin(Sensor, Sensor.id == Incident.sensor_id)
        .where(Incident.reported_at >= start, Incident.reported_at < end)
        .order_by(Incident.reported_at, Incident.id)
    )
    return [IncidentRow._make(r) for r in rows]


def tickets_received(session: Session, start: datetime, end: datetime) -> list[TicketRow]:
    """Hotline tickets received in [start, end) (the range uses the index ix_ticket_received_rows)."""
    # The very columns of the wall's hotline aggregate, so the report's rates are computed from the same rows.
    rows = session.execute(
        select(*TICKET_ROW_COLUMNS)
        .where(HotlineTicket.received_at >= start, HotlineTicket.received_at < end)
        .order_by(HotlineTicket.received_at, HotlineTicket.id)
    )
    return [TicketRow._make(r) for r in rows]
