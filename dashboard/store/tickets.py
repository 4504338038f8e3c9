"""12345 hotline tickets (接诉即办): their arrival, their updates and the rows the aggregates read."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from sqlalchemy import String, cast, func, select
from sqlalchemy.orm import Session

from dashboard.domain import rules as c
from dashboard.domain.events import Event
from dashboard.store import settings
from dashboard.store.models import (
    CaseLink,
    HotlineTicket,
    utcnow,
)


def _dt(epoch: float) -> datetime:
    """Epoch seconds to an aware UTC datetime."""
    return datetime.fromtimestamp(epoch, UTC)


def insert_ticket(session: Session, ev: Event) -> bool:
    """Insert one hotline ticket from a validated event, with the deadline configured now for its category."""
    received = _dt(ev["ts"])
    hours = settings.load_deadlines(session).hotline_h[ev["category"]]
    session.add(
        HotlineTicket(
            source=ev["source"],
            ticket_id=ev["ticket_id"],
            category=ev["category"],
            summary=ev.get("summary"),
            lon=ev["lon"],
            lat=ev["lat"],
            subdistrict=ev["subdistrict"],
            cell=ev["cell"],
            status="received",
            received_at=received,
            deadline_at=received + timedelta(hours=hours),
            updated_at=utcnow(),
        )
    )
    session.flush()
    return True


def update_ticket(session: Session, ev: Event) -> bool:
    """Apply a status update to a ticket; False when the ticket is unknown."""
    at = _dt(ev["ts"])
    status = ev["status"]
    values: dict[str, Any] = {"status": status}
    column = {"responded": "responded_at", "resolved": "resolved_at", "closed": "closed_at"}[status]
    values[column] = at
    if status in ("resolved", "closed"):
        values.setdefault("responded_at", at)
    if status == "closed" and ev.get("satisfied") is not None:
        values["satisfied"] = ev["satisfied"]
    ticket = session.scalar(
        select(HotlineTicket).where(HotlineTicket.source == ev["source"], HotlineTicket.ticket_id == ev["ticket_id"])
    )
    if ticket is None:
        return False
    # Keep the earliest time of each step: a repeated update must not move a clock; and a late or repeated update
    # of an earlier step (a "responded" arriving after "closed") never moves the status back.
    order = c.HOTLINE_STATUSES.index
    for key, value in values.items():
        if key.endswith("_at") and getattr(ticket, key) is not None:
            continue
        if key == "status" and ticket.status in c.HOTLINE_STATUSES and order(value) <= order(ticket.status):
            continue
        setattr(ticket, key, value)
    ticket.updated_at = utcnow()
    session.flush()
    return True


# The ticket columns workers.hotline.compute_hotline reads, in its row order (the daily report reads the same).
TICKET_ROW_COLUMNS: Final = (
    HotlineTicket.category,
    HotlineTicket.subdistrict,
    HotlineTicket.cell,
    HotlineTicket.received_at,
    HotlineTicket.deadline_at,
    HotlineTicket.responded_at,
    HotlineTicket.resolved_at,
    HotlineTicket.satisfied,
)


def tickets_by_external_id(session: Session, source: str, ticket_ids: Iterable[str]) -> set[str]:
    """The ticket ids among `ticket_ids` that `source` has tickets stored under."""
    wanted = list(ticket_ids)
    if not wanted:
        return set()
    rows = session.execute(
        select(HotlineTicket.ticket_id).where(HotlineTicket.source == source, HotlineTicket.ticket_id.in_(wanted))
    )
    return {str(tid) for (tid,) in rows}


def tickets_since(session: Session, since: datetime) -> list[tuple[Any, ...]]:
    """Lightweight rows of the tickets received since `since`, for the hotline aggregate: TICKET_ROW_COLUMNS, then
    the id of the case the ticket belongs to (None when it is alone or was split off its case)."""

    rows = session.execute(
        select(*TICKET_ROW_COLUMNS, CaseLink.case_id)
        .outerjoin(CaseLink, (CaseLink.ticket_id == HotlineTicket.id) & (CaseLink.decision != "split"))
        .where(HotlineTicket.received_at >= since)
    )
    return [tuple(r) for r in rows]


# Ids per IN (...) list: well under SQLite's and PostgreSQL's limits on bound parameters.
_IDS_PER_QUERY: Final = 500


def changed_ticket_stamps(session: Session, since: datetime) -> list[tuple[int, str]]:
    """(id, updated_at as the database's text) of the tickets changed after `since`, from ix_ticket_updated alone:
    which tickets changed, without loading or parsing their rows."""
    rows = session.execute(
        select(HotlineTicket.id, cast(HotlineTicket.updated_at, String)).where(HotlineTicket.updated_at > since)
    )
    return [(int(i), str(stamp)) for i, stamp in rows]


def changed_tickets_by_id(session: Session, ids: Iterable[int]) -> list[tuple[Any, ...]]:
    """Rows of the tickets `ids` for the kept hotline figures: TICKET_ROW_COLUMNS, the case id (as tickets_since),
    then the ticket's id and updated_at."""
    wanted = sorted(set(ids))
    out: list[tuple[Any, ...]] = []
    for i in range(0, len(wanted), _IDS_PER_QUERY):
        rows = session.execute(
            select(*TICKET_ROW_COLUMNS, CaseLink.case_id, HotlineTicket.id, HotlineTicket.updated_at)
            .outerjoin(CaseLink, (CaseLink.ticket_id == HotlineTicket.id) & (CaseLink.decision != "split"))
            .where(HotlineTicket.id.in_(wanted[i : i + _IDS_PER_QUERY]))
        )
        out.extend(tuple(r) for r in rows)
    return out


def tickets_with_ids_since(session: Session, since: datetime) -> list[tuple[Any, ...]]:
    """tickets_since's rows with the ticket's id and updated_at after them (as changed_tickets_by_id): the incremental
    figures' full rebuild."""
    rows = session.execute(
        select(*TICKET_ROW_COLUMNS, CaseLink.case_id, HotlineTicket.id, HotlineTicket.updated_at)
        .outerjoin(CaseLink, (CaseLink.ticket_id == HotlineTicket.id) & (CaseLink.decision != "split"))
        .where(HotlineTicket.received_at >= since)
    )
    return [tuple(r) for r in rows]


def last_ticket_change(session: Session) -> datetime | None:
    """The latest updated_at of any ticket (from the end of ix_ticket_updated), None when there is none."""
    return session.scalar(select(func.max(HotlineTicket.updated_at)))


def unresolved_tickets(session: Session) -> list[tuple[int, str, datetime]]:
    """(id, cell, deadline) of every unresolved ticket of any day, through ix_ticket_open_deadline."""
    rows = session.execute(
        select(HotlineTicket.id, HotlineTicket.cell, HotlineTicket.deadline_at).where(
            HotlineTicket.resolved_at.is_(None)
        )
    )
    return [(int(i), str(cell), d) for i, cell, d in rows]


def recent_tickets(session: Session, since: datetime) -> list[tuple[Any, ...]]:
    """(category, subdistrict, cell, received_at) of the tickets received since `since` (the early warning's recent
    tickets, as the first columns of tickets_since), from ix_ticket_received_rows alone."""
    rows = session.execute(select(*TICKET_ROW_COLUMNS[:4]).where(HotlineTicket.received_at >= since))
    return [tuple(r) for r in rows]


def overdue_tickets_by_cell(session: Session, now: datetime) -> dict[str, int]:
    """Open tickets of any day past their deadline, counted by grid cell (for the map; their sum is the KPI)."""
    rows = session.execute(
        select(HotlineTicket.cell, func.count())
        .where(HotlineTicket.resolved_at.is_(None), HotlineTicket.deadline_at < now)
        .group_by(HotlineTicket.cell)
    )
    return {str(cell): int(n) for cell, n in rows}


def overdue_ticket_count(session: Session, now: datetime) -> int:
    """Open tickets of any day that are past their deadline."""
    return int(
        session.scalar(
            select(func.count()).where(HotlineTicket.resolved_at.is_(None), HotlineTicket.deadline_at < now)
        )
        or 0
    )


def ticket_places_since(session: Session, since: datetime) -> list[tuple[Any, ...]]:
    """(cell, subdistrict, category, received_at) of every ticket received since `since`: the early warning's
    seasonal baseline (a few weeks of tickets, read every few minutes, never by a callback)."""
    rows = session.execute(
        select(HotlineTicket.cell, HotlineTicket.subdistrict, HotlineTicket.category, HotlineTicket.received_at)
        .where(HotlineTicket.received_at >= since)
    )
    return [tuple(r) for r in rows]
