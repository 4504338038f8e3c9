"""Incident aggregate: open incidents by severity and state, overdue, today's count by category."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from dashboard import constants as c
from dashboard.keys import IncidentItem, IncidentsData
from workers.beijing import epoch

MAX_ITEMS: Final = 200


def compute_incidents(open_rows: Iterable[Mapping[str, Any]], counts: Mapping[str, Any]) -> IncidentsData:
    """The `incidents` aggregate from dal.open_incidents rows and dal.incident_counts (since Beijing midnight).

    Totals come from the counts, not from the rows, because the row list is capped.
    """
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
