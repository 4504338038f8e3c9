"""The system of record: SQLAlchemy models, the engine and sessions, and every SQL query of the product, grouped by
table family. Callers write ``from dashboard import store`` and ``store.<family>.<query>(session, …)``.

- ``models``     the SQLAlchemy 2 typed models;
- ``engine``     engines, sessions, transactions (``session_scope``, ``begin_write``);
- ``outage``     the database away: said once per outage with a count of what failed (``DATABASE``);
- ``schema``     keeping an existing database's tables in step with the models;
- ``users``      users and their API tokens;
- ``audit_log``  the append-only audit log;
- ``incidents``  incidents, 吹哨报到 summons and dispatch actions;
- ``units``      response units: registry, statuses, locks, movement;
- ``sensors``    the sensor registry;
- ``tickets``    12345 hotline tickets;
- ``cases``      cases of linked tickets (热线+网格) and the decisions on them;
- ``settings``   the administrator's settings documents (thresholds, deadlines);
- ``durable``    durable events written by the ingest;
- ``reports``    the daily report's queries;
- ``telemetry``  durable telemetry: the per-minute roll-ups of the telemetry stream and their day partitions.
"""

from dashboard.store import (
    audit_log,
    cases,
    durable,
    engine,
    incidents,
    outage,
    reports,
    schema,
    sensors,
    settings,
    telemetry,
    tickets,
    units,
    users,
)

__all__ = [
    "audit_log", "cases", "durable", "engine", "incidents", "outage", "reports", "schema", "sensors", "settings",
    "telemetry", "tickets", "units", "users",
]
