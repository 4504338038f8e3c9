"""The models' UTC datetimes: aware on every backend, stored and read back exactly, naive ones refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session

from dashboard.store.models import AuditLog, UTCDateTime

AWARE = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
                     timezones=st.sampled_from([UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-5))]))


# One engine for all the examples is what we want: each example reads back its own row (the log is append-only).
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(at=AWARE)
def test_every_aware_datetime_reads_back_as_the_same_instant_in_utc(engine: Engine, at: datetime) -> None:
    with Session(engine) as s:
        row = AuditLog(actor="t", action="a", target_type="x", at=at)
        s.add(row)
        s.commit()
        s.expire_all()
        back = s.scalar(select(AuditLog.at).where(AuditLog.id == row.id))
    assert back == at and back.tzinfo is UTC


def test_sqlite_text_in_any_stored_form_reads_as_utc(engine: Engine) -> None:
    # The fast parser (datetime.fromisoformat) and SQLAlchemy's own agree, with or without the fraction.
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite stores datetimes as text")
    processor = UTCDateTime().result_processor(engine.dialect, None)
    assert processor is not None
    assert processor("2026-12-02 01:42:36.397000") == datetime(2026, 12, 2, 1, 42, 36, 397000, tzinfo=UTC)
    assert processor("2026-12-02 01:42:36") == datetime(2026, 12, 2, 1, 42, 36, tzinfo=UTC)
    assert processor(None) is None
    with engine.connect() as conn:
        raw = conn.execute(text("SELECT '2026-12-02 09:00:00.5'")).scalar_one()
    assert processor(raw) == datetime(2026, 12, 2, 9, 0, 0, 500000, tzinfo=UTC)


def test_a_naive_datetime_is_refused(engine: Engine) -> None:
    with Session(engine) as s:
        s.add(AuditLog(actor="t", action="a", target_type="x", at=datetime(2026, 12, 2, 9, 0)))
        with pytest.raises(StatementError, match="naive datetime"):
            s.commit()
