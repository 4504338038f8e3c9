"""热线+网格: link each new hotline ticket to what the sensors, the incidents and the other tickets already say.

The matcher is pure and shared by the live job and the benchmark's replay (`link_replay`), so both apply exactly
the same rules (dashboard/domain/rules.py, block "Cases"): a ticket links to another thing only when they are close
in place (the same or a neighbouring ~500 m grid cell, and within a distance), in time (a window) and in cause (a
rule that says this category of complaint comes from that sensor type or incident category, or the same category
for two tickets).

- workers/linking/rules.py: the matcher's rules — the shapes it sees (`TicketIn`, `AlarmIn`, `IncidentIn`), the
  thresholds (`Rules`), when two things link and why (`ticket_link`, `alarm_link`, `incident_link`, `Reason`);
- workers/linking/linker.py: the `Linker`, which takes tickets in time order and puts each into the case it
  matches best or leaves it alone, and the replay (`link_replay`, `replay`, `sensor_runs`);
- workers/linking/job.py: the live job (`run_linking`, RQ entry `link_tickets`): the alarm spans it remembers in
  Redis, the candidates it reads through dashboard.store, the cases and links it writes.

Cases that never link: the same place but an unrelated category (no cause rule, different categories); the same
category but farther apart than the rule's distance or not in neighbouring cells; the same category and place but
outside the window (hours or days apart).

This package re-exports the API that workers/schedule.py, the tests and bench/episodes.py use.
"""

from __future__ import annotations

from workers.linking.job import (
    ACTOR,
    alarms_from_points,
    incident_in,
    link_tickets,
    remember_alarms,
    run_linking,
    ticket_in,
)
from workers.linking.linker import CaseState, Decision, Link, Linker, link_replay, replay, sensor_runs
from workers.linking.rules import (
    RULE_INCIDENT,
    RULE_SENSOR,
    RULE_TICKET,
    RULES,
    AlarmIn,
    IncidentIn,
    Reason,
    Rules,
    TicketIn,
    alarm_link,
    incident_link,
    near_cells,
    neighbours,
    ticket_link,
)

__all__ = [
    "ACTOR",
    "RULES",
    "RULE_INCIDENT",
    "RULE_SENSOR",
    "RULE_TICKET",
    "AlarmIn",
    "CaseState",
    "Decision",
    "IncidentIn",
    "Link",
    "Linker",
    "Reason",
    "Rules",
    "TicketIn",
    "alarm_link",
    "alarms_from_points",
    "incident_in",
    "incident_link",
    "link_replay",
    "link_tickets",
    "near_cells",
    "neighbours",
    "remember_alarms",
    "replay",
    "run_linking",
    "sensor_runs",
    "ticket_in",
    "ticket_link",
]
