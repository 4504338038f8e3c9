"""SQLAlchemy 2 typed models: the system of record."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    event,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from dashboard.domain import rules as c

# Ids are INTEGER columns, which hold at most 2^31 - 1 on PostgreSQL (SQLite's hold more; ids never get there). A
# larger number names no row: the API answers 404 (or 422 in a body) without asking a database that would refuse it.
MAX_ID = 2**31 - 1


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Refuse naive datetimes and store UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Return aware UTC datetimes."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def result_processor(self, dialect: Dialect, coltype: Any) -> Callable[[Any], datetime | None] | None:
        """On SQLite, parse the stored text with datetime.fromisoformat instead of SQLAlchemy's regular expression:
        1.6 µs a value instead of 2.1 (the tick reads two days of tickets, three datetimes each, every second)."""
        default = super().result_processor(dialect, coltype)
        if dialect.name != "sqlite" or default is None:
            return default
        parse, aware = datetime.fromisoformat, self.process_result_value

        def process(value: Any) -> datetime | None:
            if isinstance(value, str):
                try:
                    return aware(parse(value), dialect)
                except ValueError:
                    pass  # a form fromisoformat does not read: SQLAlchemy's own parser decides
            return default(value)

        return process


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base of every model."""


class User(Base):
    """A person who logs in, with one role."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(128))
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    language: Mapped[str] = mapped_column(String(8), default="zh")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Unit(Base):
    """A response unit (police, fire, ambulance, 城管, 网格员, utility crew)."""

    __tablename__ = "units"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="available")
    home_lon: Mapped[float] = mapped_column(Float)
    home_lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    subdistrict: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The incident the unit is assigned to (set exactly while its status is dispatched, en route or on scene):
    # one column, so a unit can never be assigned to two incidents.
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"))


class Sensor(Base):
    """A registered IoT sensor (one of several on a smart pole, 一杆多感)."""

    __tablename__ = "sensors"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    type: Mapped[str] = mapped_column(String(32))
    pole_id: Mapped[str | None] = mapped_column(String(128))
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    subdistrict: Mapped[str] = mapped_column(String(16))
    installed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# The open incidents, as the predicate of the partial indexes on them. The queries that should use those indexes
# render the same list as literals (store.incidents.OPEN): SQLite and PostgreSQL only use a partial index when they
# can see that the query's condition implies its predicate, which they cannot through bound parameters.
OPEN_INCIDENT_SQL = "state IN (" + ", ".join(f"'{state}'" for state in c.INCIDENT_OPEN_STATES) + ")"


class Incident(Base):
    """An emergency or city-management incident."""

    __tablename__ = "incidents"
    __table_args__ = (
        UniqueConstraint("source", "external_id", name="uq_incident_source_external"),
        Index("ix_incident_state_severity", "state", "severity"),
        Index("ix_incident_created", "created_at"),
        # The daily report selects a day's incidents by when they were reported.
        Index("ix_incident_reported", "reported_at"),
        # The tick reads the open incidents (a few dozen) and counts those past their deadline every second: without
        # this the planner scans every incident ever stored (an index on state alone looks unselective to it).
        # Ordered as the tick lists them (severity, then newest first), with the deadline for the overdue count.
        Index(
            "ix_incident_open",
            "severity",
            "created_at",
            "deadline_at",
            sqlite_where=text(OPEN_INCIDENT_SQL),
            postgresql_where=text(OPEN_INCIDENT_SQL),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(64))
    external_id: Mapped[str] = mapped_column(String(128))
    category: Mapped[str] = mapped_column(String(32))
    severity: Mapped[int] = mapped_column(Integer)
    # The severity it was reported with; `severity` follows later changes. None only for rows a migration could not
    # know it of.
    reported_severity: Mapped[int | None] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default="new")
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    subdistrict: Mapped[str] = mapped_column(String(16))
    cell: Mapped[str] = mapped_column(String(16))
    sensor_id: Mapped[str | None] = mapped_column(String(128))
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deadline_at: Mapped[datetime] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the incident went to the leader: its deadline passed (workers/deadlines.py) or a leader escalated it.
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Optimistic counter: SQLAlchemy adds "AND version = <loaded>" to every ORM update of the row and bumps it,
    # so a write based on a stale read fails (StaleDataError) instead of silently overwriting.
    version: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class HotlineTicket(Base):
    """A 12345 hotline ticket (接诉即办)."""

    __tablename__ = "hotline_tickets"
    __table_args__ = (
        UniqueConstraint("source", "ticket_id", name="uq_ticket_source_ticket"),
        # Leads with received_at for every "received since" query; holds every column of the tick's ticket rows
        # (store.tickets.TICKET_ROW_COLUMNS) so that reading two days of tickets each second is an index-only range
        # read, not one random table lookup per ticket (at 2,000 tickets a day that is a third of the tick's SQL).
        Index(
            "ix_ticket_received_rows",
            "received_at",
            "category",
            "subdistrict",
            "cell",
            "deadline_at",
            "responded_at",
            "resolved_at",
            "satisfied",
            postgresql_include=["id"],  # the join to case_links (SQLite's indexes hold the rowid anyway)
        ),
        # Overdue = unresolved and past deadline: without this the tick scans every ticket ever received.
        Index("ix_ticket_open_deadline", "resolved_at", "deadline_at"),
        # The tick reads only the tickets changed since its last read (workers/hotline_sync.py).
        Index("ix_ticket_updated", "updated_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(64))
    ticket_id: Mapped[str] = mapped_column(String(128))
    category: Mapped[str] = mapped_column(String(32))
    summary: Mapped[str | None] = mapped_column(String(500))
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    subdistrict: Mapped[str] = mapped_column(String(16))
    cell: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="received")
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    deadline_at: Mapped[datetime] = mapped_column(UTCDateTime)
    responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    satisfied: Mapped[bool | None] = mapped_column(Boolean)
    # When the ticket or its membership of a case last changed: the tick's incremental aggregates follow it (nullable
    # only because SQLite cannot add a required column to a table others reference; every writer sets it).
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=utcnow)


class DispatchAction(Base):
    """One action taken on an incident (acknowledge, dispatch a unit, …); unique per idempotency key."""

    __tablename__ = "dispatch_actions"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    action: Mapped[str] = mapped_column(String(32))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Summons(Base):
    """吹哨报到: one department summoned to an incident, with its own deadline to report."""

    __tablename__ = "summons"
    __table_args__ = (
        UniqueConstraint("incident_id", "department", name="uq_summons_incident_department"),
        # The deadline check looks for summons neither acknowledged nor escalated.
        Index("ix_summons_pending", "acknowledged_at", "escalated_at", "deadline_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"))
    department: Mapped[str] = mapped_column(String(16))  # rules.DEPARTMENTS
    summoned_at: Mapped[datetime] = mapped_column(UTCDateTime)
    summoned_by: Mapped[str | None] = mapped_column(String(128))
    deadline_at: Mapped[datetime] = mapped_column(UTCDateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_by: Mapped[str | None] = mapped_column(String(128))
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuditLog(Base):
    """Append-only record of who did what and when."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str | None] = mapped_column(String(32))
    target_id: Mapped[str | None] = mapped_column(String(128))
    outcome: Mapped[str] = mapped_column(String(16), default="ok")
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)


@event.listens_for(AuditLog, "before_update")
@event.listens_for(AuditLog, "before_delete")
def _audit_is_append_only(mapper: Any, connection: Any, target: AuditLog) -> None:
    """Refuse to change or delete an audit entry through the ORM."""
    raise PermissionError("the audit log is append-only")


class ApiToken(Base):
    """A per-user API token for scripts and other systems; only the SHA-256 of the token is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Setting(Base):
    """One administrator-set document (alarm thresholds, deadlines): JSON under a key, with who set it when.

    `version` counts the saves, so that a save based on an older screen is refused instead of overwriting
    another administrator's change (dashboard.services.tunables).
    """

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(128))


# --- cases (热线+网格): hotline tickets linked into one case (workers/linking/, dashboard/services/cases.py)


class Case(Base):
    """One problem behind several hotline tickets (and maybe a sensor alarm or an incident), found by the linker.

    Open while one of its tickets (not split off) is unresolved. `incident_id` / `sensor_id` name the incident or
    the sensor whose alarm explains it, when one does; the links say why each ticket belongs.
    """

    __tablename__ = "cases"
    __table_args__ = (Index("ix_case_last", "last_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # "ticket:<id of its first ticket>": unique, so two linking runs can never make the same case twice.
    key: Mapped[str] = mapped_column(String(64), unique=True)
    category: Mapped[str] = mapped_column(String(32))  # the first ticket's
    subdistrict: Mapped[str] = mapped_column(String(16))
    cell: Mapped[str] = mapped_column(String(16))
    # Where the case is anchored (its sensor, incident or first ticket): every ticket lies near it.
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"))
    sensor_id: Mapped[str | None] = mapped_column(String(128))
    # Its sensors' readings as last seen when they explained a ticket (AlarmIn, workers/linking/rules.py), for later
    # tickets.
    sensors: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    first_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CaseLink(Base):
    """A ticket's membership of a case, with the reason it was linked and the dispatcher's decision.

    One row per ticket at most (a ticket is linked once): `decision` "auto" (the linker's), "confirmed" or "split"
    (the ticket is out of the case and counts alone; the row stays as the record, and the linker never links the
    ticket again). `target_type`/`target_id` name what the ticket matched: another ticket (its id), a sensor (its
    id) or an incident (its id); `reason` holds the structured fields (rule, distance_m, minutes_apart …).
    """

    __tablename__ = "case_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("hotline_tickets.id"), unique=True)
    target_type: Mapped[str] = mapped_column(String(16))  # ticket | sensor | incident
    target_id: Mapped[str] = mapped_column(String(128))
    rule: Mapped[str] = mapped_column(String(32))
    reason: Mapped[dict[str, Any]] = mapped_column(JSON)
    decision: Mapped[str] = mapped_column(String(16), default="auto")  # rules.CASE_LINK_STATES
    decided_by: Mapped[str | None] = mapped_column(String(128))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LinkCheck(Base):
    """A ticket the linker has considered (linked or not): each ticket is considered exactly once."""

    __tablename__ = "link_checks"

    ticket_id: Mapped[int] = mapped_column(ForeignKey("hotline_tickets.id"), primary_key=True)
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CaseDecision(Base):
    """One dispatcher's decision on a link (confirm or split); unique per idempotency key."""

    __tablename__ = "case_decisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    link_id: Mapped[int] = mapped_column(ForeignKey("case_links.id"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    decision: Mapped[str] = mapped_column(String(16))  # rules.CASE_DECISIONS
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor: Mapped[str] = mapped_column(String(128))
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TelemetryMinute(Base):
    """One minute of one reporting entity's telemetry, rolled up from the stream (dashboard.domain.rollup): a
    sensor, a traffic corridor, a car park or a scenic spot (`kind` is the event kind, `entity_id` its id).

    On PostgreSQL the table is partitioned by range of `minute`, one partition a Beijing day, created ahead and
    dropped after the retention by the roll-up job (store/telemetry.py); on SQLite it is a plain table. The primary
    key leads with `minute` (a partitioned table's keys must hold the partition column), which also serves the
    queries of a day.
    """

    __tablename__ = "telemetry_minutes"
    __table_args__ = ({"postgresql_partition_by": "RANGE (minute)"},)

    minute: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    entity_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    n: Mapped[int] = mapped_column(Integer)
    v_min: Mapped[float] = mapped_column(Float)
    v_max: Mapped[float] = mapped_column(Float)
    v_sum: Mapped[float] = mapped_column(Float)
    last_value: Mapped[float] = mapped_column(Float)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The stream id (milliseconds, sequence) of the latest entry rolled into the row: an entry at or before it was
    # applied already (rolling the same entries up twice is harmless, see workers/rollup.py).
    through_ms: Mapped[int] = mapped_column(BigInteger)
    through_seq: Mapped[int] = mapped_column(BigInteger)
    # What draws the entity again with its latest reading: a sensor's type and position, a capacity.
    label: Mapped[str | None] = mapped_column(String(32))
    capacity: Mapped[int | None] = mapped_column(Integer)
    lon: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    subdistrict: Mapped[str | None] = mapped_column(String(16))
