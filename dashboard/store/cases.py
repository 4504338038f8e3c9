"""Cases (热线+网格): tickets linked to each other and to sensors or incidents, and the dispatchers' decisions."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from dashboard.domain import rules as c
from dashboard.store.models import (
    Case,
    CaseDecision,
    CaseLink,
    HotlineTicket,
    Incident,
    LinkCheck,
    utcnow,
)


def unchecked_tickets(session: Session, since: datetime, limit: int = 5000) -> list[dict[str, Any]]:
    """Tickets received since `since` that the linker has not considered yet, oldest first (id, category, lon, lat,
    cell, subdistrict, received_at)."""

    rows = session.execute(
        select(HotlineTicket.id, HotlineTicket.category, HotlineTicket.lon, HotlineTicket.lat, HotlineTicket.cell,
               HotlineTicket.subdistrict, HotlineTicket.received_at)
        .outerjoin(LinkCheck, LinkCheck.ticket_id == HotlineTicket.id)
        .where(LinkCheck.ticket_id.is_(None), HotlineTicket.received_at >= since)
        .order_by(HotlineTicket.received_at, HotlineTicket.id)
        .limit(limit)
    )
    return [dict(r._mapping) for r in rows]


def checked_tickets_since(session: Session, since: datetime) -> list[dict[str, Any]]:
    """Tickets received since `since` that the linker has considered, with their link if any (the ticket fields of
    unchecked_tickets, then case_id and decision, both None for a lone ticket)."""

    rows = session.execute(
        select(HotlineTicket.id, HotlineTicket.category, HotlineTicket.lon, HotlineTicket.lat, HotlineTicket.cell,
               HotlineTicket.subdistrict, HotlineTicket.received_at, CaseLink.case_id, CaseLink.decision)
        .join(LinkCheck, LinkCheck.ticket_id == HotlineTicket.id)
        .outerjoin(CaseLink, CaseLink.ticket_id == HotlineTicket.id)
        .where(HotlineTicket.received_at >= since)
        .order_by(HotlineTicket.received_at, HotlineTicket.id)
    )
    return [dict(r._mapping) for r in rows]


def cases_active_since(session: Session, since: datetime) -> list[Any]:
    """Cases whose latest ticket arrived since `since` (those a new ticket may still join)."""

    return list(session.scalars(select(Case).where(Case.last_at >= since).order_by(Case.id)))


def link_incidents(session: Session, ids: Iterable[int] = ()) -> list[dict[str, Any]]:
    """Open incidents, and any others named in `ids`, as the linker sees them (id, category, lon, lat, cell,
    reported_at)."""
    wanted = [int(i) for i in ids]
    cond: Any = Incident.state.in_(c.INCIDENT_OPEN_STATES)
    if wanted:
        cond = cond | Incident.id.in_(wanted)
    rows = session.execute(
        select(Incident.id, Incident.category, Incident.lon, Incident.lat, Incident.cell, Incident.reported_at)
        .where(cond)
        .order_by(Incident.id)
    )
    return [dict(r._mapping) for r in rows]


def mark_checked(session: Session, ticket_ids: Iterable[int], now: datetime) -> None:
    """Record that the linker considered these tickets (the primary key makes a second run fail, not repeat)."""

    session.add_all(LinkCheck(ticket_id=int(i), checked_at=now) for i in ticket_ids)


def open_cases(session: Session, limit: int = 100, case_id: int | None = None) -> list[Any]:
    """Open cases (a ticket still in it and unresolved), newest (latest ticket) first; or the one case `case_id`
    whether open or not."""

    query = select(Case)
    if case_id is not None:
        query = query.where(Case.id == case_id)
    else:
        unresolved = (
            select(CaseLink.id)
            .join(HotlineTicket, HotlineTicket.id == CaseLink.ticket_id)
            .where(CaseLink.case_id == Case.id, CaseLink.decision != "split", HotlineTicket.resolved_at.is_(None))
            .exists()
        )
        query = query.where(unresolved).order_by(Case.last_at.desc(), Case.id.desc()).limit(limit)
    return list(session.scalars(query))


def case_links_of(session: Session, case_ids: Iterable[int]) -> list[tuple[Any, Any]]:
    """(CaseLink, HotlineTicket) of these cases, split links included, in the order the tickets arrived."""

    ids = [int(i) for i in case_ids]
    if not ids:
        return []
    rows = session.execute(
        select(CaseLink, HotlineTicket)
        .join(HotlineTicket, HotlineTicket.id == CaseLink.ticket_id)
        .where(CaseLink.case_id.in_(ids))
        .order_by(HotlineTicket.received_at, HotlineTicket.id)
    )
    return [(link, ticket) for link, ticket in rows]


def case_decisions_of(session: Session, case_id: int) -> list[Any]:
    """The dispatchers' decisions on a case's links, oldest first."""

    return list(session.scalars(select(CaseDecision).where(CaseDecision.case_id == case_id)
                                .order_by(CaseDecision.id)))


def case_decision_by_key(session: Session, key: str) -> Any:
    """The decision recorded under an idempotency key, else None."""

    return session.scalar(select(CaseDecision).where(CaseDecision.idempotency_key == key))


def lock_case_link(session: Session, case_id: int, link_id: int) -> Any:
    """A case's link, locked and re-read for a decision; None when the case has no such link."""

    return session.scalar(
        select(CaseLink)
        .where(CaseLink.id == link_id, CaseLink.case_id == case_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def get_case(session: Session, case_id: int) -> Case | None:
    """A case by id."""
    return session.get(Case, case_id)


def add_decision(session: Session, link_id: int, case_id: int, decision: str, actor_id: int | None, actor: str,
                 key: str, note: str | None, now: datetime) -> CaseDecision:
    """Record a dispatcher's decision on a link; flushed (IntegrityError when its idempotency key was taken)."""
    row = CaseDecision(link_id=link_id, case_id=case_id, decision=decision, actor_id=actor_id, actor=actor,
                       idempotency_key=key, note=note, created_at=now)
    session.add(row)
    session.flush()
    return row


def add_case(session: Session, key: str, category: str, subdistrict: str, cell: str, lon: float, lat: float,
             first_at: datetime, last_at: datetime, now: datetime) -> Case:
    """A new case (the linking job's), flushed so that it has its id."""
    row = Case(key=key, category=category, subdistrict=subdistrict, cell=cell, lon=lon, lat=lat, first_at=first_at,
               last_at=last_at, created_at=now, updated_at=now)
    session.add(row)
    session.flush()
    return row


def add_link(session: Session, case_id: int, ticket_id: int, target_type: str, target_id: str, rule: str,
             reason: dict[str, Any], now: datetime) -> None:
    """Link a ticket into a case with the reason as structured fields (said in a language when read)."""
    session.add(CaseLink(case_id=case_id, ticket_id=ticket_id, target_type=target_type, target_id=target_id,
                         rule=rule, reason=reason, decision="auto", created_at=now))
    touch_ticket(session, ticket_id)


def touch_ticket(session: Session, ticket_id: int) -> None:
    """Mark a ticket changed now (its case membership did): the tick's incremental hotline figures read it again. The
    time is the clock's, not the caller's: the tick follows updated_at as the time of writing."""
    session.execute(update(HotlineTicket).where(HotlineTicket.id == ticket_id).values(updated_at=utcnow()))
