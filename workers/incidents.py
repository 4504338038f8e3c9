"""Incident aggregate: open incidents by severity and state, overdue, today's count by category, 吹哨报到 clocks."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from dashboard.domain import rules as c
from dashboard.domain.beijing import epoch
from dashboard.live.schema import IncidentItem, IncidentsData, SummonsItem

MAX_ITEMS: Final = 200


def summons_items(rows: Iterable[Mapping[str, Any]]) -> dict[int, list[SummonsItem]]:
    """store.incidents.summons_of rows grouped by incident, earliest deadline first."""
    out: dict[int, list[SummonsItem]] = {}
    for r in rows:
        ack = r.get("acknowledged_at")
        out.setdefault(int(r["incident_id"]), []).append(
            SummonsItem(
                department=r["department"],
                deadline_at=epoch(r["deadline_at"]),
                acknowledged_at=None if ack is None else epoch(ack),
                escalated=r.get("escalated_at") is not None,
            )
        )
    for items in out.values():
        items.sort(key=lambda sm: (sm["deadline_at"], sm["department"]))
    return out


def compute_incidents(
    open_rows: Iterable[Mapping[str, Any]],
    counts: Mapping[str, Any],
    summons: Iterable[Mapping[str, Any]] = (),
    now: float | None = None,
) -> IncidentsData:
    """The `incidents` aggregate from store.incidents.open_incidents rows, store.incidents.incident_counts (since
    Beijing midnight) and store.incidents.summons_of rows, as of `now` (which incidents are overdue; None: none is
    marked).

    Totals come from the counts, not from the rows, because the row list is capped.
    """
    by_incident = summons_items(summons)
    by_sev = {str(s): 0 for s in c.SEVERITIES}
    by_sev.update({str(k): int(v) for k, v in counts["open_by_severity"].items()})
    by_state = {s: 0 for s in c.INCIDENT_OPEN_STATES}
    by_state.update({str(k): int(v) for k, v in counts["open_by_state"].items()})
    today = {str(k): int(v) for k, v in counts["today_by_category"].items()}
    items = [
        IncidentItem(
            id=int(row["id"]),
            title=row["title"],
            category=row["category"],
            severity=int(row["severity"]),
            state=row["state"],
            subdistrict=row["subdistrict"],
            lon=row["lon"],
            lat=row["lat"],
            created_at=epoch(row["created_at"]),
            deadline_at=epoch(row["deadline_at"]),
            overdue=now is not None and epoch(row["deadline_at"]) < now,
            # Escalated to the leader: the incident's own deadline passed, or a summoned department's did.
            escalated=row.get("escalated_at") is not None
            or any(sm["escalated"] for sm in by_incident.get(int(row["id"]), ())),
            sensor_id=row.get("sensor_id"),
            summons=by_incident.get(int(row["id"]), []),
        )
        for row in open_rows
    ]
    # The SQL already orders them; sorting again keeps the aggregate right whatever the source.
    items.sort(key=lambda i: (i["severity"], -i["created_at"], -i["id"]))
    return IncidentsData(
        open_total=sum(by_sev.values()),
        open_by_severity=by_sev,
        open_by_state=by_state,
        overdue=int(counts["overdue"]),
        today_total=sum(today.values()),
        today_by_category=today,
        items=items[:MAX_ITEMS],
    )
