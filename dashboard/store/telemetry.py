"""Durable telemetry: the per-minute roll-ups of the telemetry stream (models.TelemetryMinute) and their day partitions.

Rows merge in SQL (INSERT … ON CONFLICT DO UPDATE): counts and sums add, min and max combine, the latest reading by
its own time wins; a row only takes a batch that brings entries later than the latest it holds (`through_ms`,
`through_seq`), so that two runs that read the same entries never add them twice (workers/rollup.py says why).

On PostgreSQL the table is partitioned by range of `minute`, one partition a Beijing day named
``telemetry_minutes_pYYYYMMDD``; a row of a day without its partition would be refused, so the job makes the
partitions of the days it writes, and those of the next days ahead, before it writes (ensure_partitions).
Retention drops whole partitions (a day at once, no vacuum); SQLite deletes the rows by age.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

from sqlalchemy import and_, case, delete, func, or_, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from dashboard.domain.beijing import date_start, epoch, local_date, utc_datetime
from dashboard.domain.rollup import Cell, CellKey, StreamId
from dashboard.store.models import TelemetryMinute

TABLE: Final = TelemetryMinute.__tablename__
PARTITION_PREFIX: Final = TABLE + "_p"
# Day partitions made ahead of today (today's included), so that a write at midnight never waits for one.
DAYS_AHEAD: Final = 3

_T = TelemetryMinute


def is_partitioned(session: Session) -> bool:
    """True where the table is partitioned by day (PostgreSQL)."""
    return session.get_bind().dialect.name == "postgresql"


# --- writing -----------------------------------------------------------------------------------------------------


def through_ids(session: Session, first: int, last: int) -> dict[CellKey, StreamId]:
    """The latest stream entry rolled into each row of the minutes [first, last] (epoch seconds)."""
    rows = session.execute(
        select(_T.minute, _T.kind, _T.entity_id, _T.through_ms, _T.through_seq)
        .where(_T.minute >= utc_datetime(first), _T.minute <= utc_datetime(last))
    )
    return {(int(epoch(m)), kind, eid): (int(ms), int(seq)) for m, kind, eid, ms, seq in rows}


def _row(cell: Cell) -> dict[str, Any]:
    """The column values of one cell."""
    return {
        "minute": utc_datetime(cell.minute), "kind": cell.kind, "entity_id": cell.entity_id, "n": cell.n,
        "v_min": cell.v_min, "v_max": cell.v_max, "v_sum": cell.v_sum, "last_value": cell.last_value,
        "last_at": utc_datetime(cell.last_at), "through_ms": cell.through_id[0], "through_seq": cell.through_id[1],
        "label": cell.label, "capacity": cell.capacity, "lon": cell.lon, "lat": cell.lat,
        "subdistrict": cell.subdistrict,
    }


def upsert_cells(session: Session, cells: Sequence[Cell]) -> int:
    """Merge `cells` into their rows (see the module docstring); how many cells were given."""
    if not cells:
        return 0
    dialect = session.get_bind().dialect.name
    stmt: Any = (postgresql.insert(_T) if dialect == "postgresql" else sqlite.insert(_T))
    new = stmt.excluded
    least, greatest = (func.least, func.greatest) if dialect == "postgresql" else (func.min, func.max)
    newer = or_(new.last_at > _T.last_at, and_(new.last_at == _T.last_at, new.last_value > _T.last_value))
    latest = {name: case((newer, getattr(new, name)), else_=getattr(_T, name))
              for name in ("last_value", "last_at", "label", "capacity", "lon", "lat", "subdistrict")}
    stmt = stmt.on_conflict_do_update(
        index_elements=[_T.minute, _T.kind, _T.entity_id],
        set_={
            "n": _T.n + new.n,
            "v_min": least(_T.v_min, new.v_min),
            "v_max": greatest(_T.v_max, new.v_max),
            "v_sum": _T.v_sum + new.v_sum,
            **latest,
            "through_ms": new.through_ms,
            "through_seq": new.through_seq,
        },
        # Only a batch of entries later than the row's latest: the same batch again (two runs at once, or a run
        # repeated after a crash) changes nothing.
        where=or_(_T.through_ms < new.through_ms,
                  and_(_T.through_ms == new.through_ms, _T.through_seq < new.through_seq)),
    )
    session.execute(stmt, [_row(cell) for cell in cells])
    return len(cells)


# --- reading -----------------------------------------------------------------------------------------------------


def cells_between(session: Session, start: float, end: float, kinds: Iterable[str] | None = None) -> list[Cell]:
    """The rows of the minutes in [start, end) (epoch seconds), oldest minute first, as cells."""
    query = select(_T.minute, _T.kind, _T.entity_id, _T.n, _T.v_min, _T.v_max, _T.v_sum, _T.last_value, _T.last_at,
                   _T.through_ms, _T.through_seq, _T.label, _T.capacity, _T.lon, _T.lat, _T.subdistrict)
    query = query.where(_T.minute >= utc_datetime(start), _T.minute < utc_datetime(end))
    if kinds is not None:
        query = query.where(_T.kind.in_(list(kinds)))
    out = []
    for (minute, kind, entity_id, n, v_min, v_max, v_sum, last_value, last_at, through_ms, through_seq, label,
         capacity, lon, lat, subdistrict) in session.execute(query.order_by(_T.minute, _T.kind, _T.entity_id)):
        through = (int(through_ms), int(through_seq))
        out.append(Cell(
            minute=int(epoch(minute)), kind=kind, entity_id=entity_id, n=n, v_min=v_min, v_max=v_max, v_sum=v_sum,
            last_value=last_value, last_at=epoch(last_at), first_id=through, through_id=through, label=label,
            capacity=capacity, lon=lon, lat=lat, subdistrict=subdistrict,
        ))
    return out


# --- day partitions and retention -------------------------------------------------------------------------------


def partition_name(day: date) -> str:
    """The name of the partition of Beijing day `day`."""
    return f"{PARTITION_PREFIX}{day:%Y%m%d}"


def _day_of(name: str) -> date | None:
    """The Beijing day of a partition's name, None for a name that is not one of ours."""
    digits = name.removeprefix(PARTITION_PREFIX)
    if not name.startswith(PARTITION_PREFIX) or len(digits) != 8 or not digits.isdigit():
        return None
    try:
        return datetime.strptime(digits, "%Y%m%d").date()
    except ValueError:
        return None


def partitions(session: Session) -> dict[date, str]:
    """The day partitions there are (PostgreSQL; none elsewhere): day -> name."""
    if not is_partitioned(session):
        return {}
    names = session.scalars(text(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = :parent AND p.relnamespace = c.relnamespace "
        "AND pg_table_is_visible(p.oid)"), {"parent": TABLE})
    out = {}
    for name in names:
        day = _day_of(name)
        if day is not None:
            out[day] = name
    return out


def _bound(day: date) -> str:
    """The UTC instant of Beijing midnight starting `day`, as a literal of a partition bound."""
    return datetime.fromtimestamp(date_start(day), UTC).isoformat()


def ensure_partitions(session: Session, days: Iterable[date]) -> list[date]:
    """Create the partitions of `days` that are missing (PostgreSQL; nothing elsewhere); the days created."""
    if not is_partitioned(session):
        return []
    have = partitions(session)
    made = []
    for day in sorted(set(days) - set(have)):
        # The name and the bounds come from a date, never from input: safe to format into the statement.
        session.execute(text(
            f'CREATE TABLE IF NOT EXISTS "{partition_name(day)}" PARTITION OF "{TABLE}" '
            f"FOR VALUES FROM ('{_bound(day)}') TO ('{_bound(day + timedelta(days=1))}')"))
        made.append(day)
    return made


def days_ahead(now: float, ahead: int = DAYS_AHEAD) -> list[date]:
    """Today (Beijing) and the days after it whose partitions are made ahead."""
    today = local_date(now)
    return [today + timedelta(days=i) for i in range(ahead)]


def days_of(minutes: Iterable[int]) -> set[date]:
    """The Beijing days holding these minutes (epoch seconds)."""
    return {local_date(m) for m in minutes}


def drop_older_than(session: Session, cutoff: float) -> int:
    """Retention: drop what is older than `cutoff` (epoch seconds). PostgreSQL drops the day partitions that end at
    or before it (a day partly newer is kept whole); SQLite deletes the rows. How many partitions or rows went."""
    if not is_partitioned(session):
        result: Any = session.execute(delete(_T).where(_T.minute < utc_datetime(cutoff)))
        return int(result.rowcount or 0)
    dropped = 0
    for day, name in sorted(partitions(session).items()):
        if date_start(day + timedelta(days=1)) <= cutoff:
            session.execute(text(f'DROP TABLE IF EXISTS "{name}"'))
            dropped += 1
    return dropped
