"""Deadline check: overdue summons (吹哨报到) and overdue incidents escalate to the leader.

A summons that its department has not acknowledged by its deadline, and an open incident past its deadline,
are marked escalated (escalated_at), audited ("summons_escalated" / "incident_escalated", actor "system") and
announced on keys.incidents_channel, once each.

`select_overdue` is the pure selection; `run_deadlines(r, sessions, now)` the whole job without RQ (tests);
`check_deadlines()` the RQ entry point, registered in workers/schedule.py every DEADLINE_CHECK_S seconds.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import redis
from sqlalchemy.orm import Session, sessionmaker

from dashboard import store
from dashboard.domain import lifecycle
from dashboard.live import publish
from dashboard.services import escalation
from dashboard.store.engine import begin_write, session_scope
from dashboard.store.models import utcnow
from dashboard.store.outage import absorb, unavailable_result
from workers.clients import job_clients

log = logging.getLogger(__name__)

# The audit log's actor for escalations made by this job.
ACTOR: Final = "system:deadlines"


@dataclass
class Overdue:
    """What is due for escalation now, oldest deadline first."""

    summons: list[int] = field(default_factory=list)  # Summons ids
    incidents: list[int] = field(default_factory=list)  # Incident ids

    def __bool__(self) -> bool:
        return bool(self.summons or self.incidents)


def select_overdue(
    summons: Iterable[Mapping[str, Any]], incidents: Iterable[Mapping[str, Any]], now: datetime
) -> Overdue:
    """From pending summons and unescalated open incidents (id, deadline_at), those whose deadline has passed."""
    due_s = sorted((r for r in summons if lifecycle.is_overdue(r["deadline_at"], now)),
                   key=lambda r: (r["deadline_at"], r["id"]))
    due_i = sorted((r for r in incidents if lifecycle.is_overdue(r["deadline_at"], now)),
                   key=lambda r: (r["deadline_at"], r["id"]))
    return Overdue([int(r["id"]) for r in due_s], [int(r["id"]) for r in due_i])


def run_deadlines(r: redis.Redis | None, sessions: sessionmaker[Session], now: datetime) -> dict[str, Any]:
    """Escalate everything overdue in one transaction, then publish each escalation (when `r` is given)."""
    with sessions() as s:
        due = select_overdue(store.incidents.pending_summons(s), store.incidents.unescalated_open_incidents(s), now)
    changes: list[tuple[int, str]] = []
    if due:
        # Each escalation re-checks its row under a lock, so a department reporting meanwhile, or a second
        # checker running at the same time, never produces a wrong or double escalation.
        with session_scope(sessions) as s:
            begin_write(s)
            for summons_id in due.summons:
                incident_id = escalation.escalate_summons(s, summons_id, now, ACTOR)
                if incident_id is not None:
                    changes.append((incident_id, "summons_escalated"))
            for incident_id in due.incidents:
                if escalation.escalate_incident(s, incident_id, now, ACTOR):
                    changes.append((incident_id, "incident_escalated"))
    if changes and r is not None:
        try:
            publish.notify_many(r, changes)
        except redis.RedisError:
            log.warning("escalations saved but not pushed (Redis unavailable); screens will see them on refresh")
    result = {
        "summons_escalated": sum(1 for _, kind in changes if kind == "summons_escalated"),
        "incidents_escalated": sum(1 for _, kind in changes if kind == "incident_escalated"),
    }
    if changes:
        log.info("deadlines: %s", result)
    return result


@absorb("deadline check", unavailable_result)
def check_deadlines() -> dict[str, Any]:
    """RQ job: one deadline check with the configuration from the environment (REDIS_URL, DATABASE_URL)."""
    clients = job_clients()
    return run_deadlines(clients.redis, clients.sessions, utcnow())
