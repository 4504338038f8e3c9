"""Schema migrations (Alembic): an empty database upgraded to the newest revision has exactly the models' schema; a
database holding data upgrades from the baseline with its data; a database made before migrations is completed by the
baseline and upgraded; one step down and up again round-trips. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from dashboard.services.cases import reason_text
from dashboard.store import schema
from dashboard.store.engine import make_engine
from dashboard.store.models import Base

REASON = {"rule": "sensor", "matched": "sensor", "target_id": "pole-9:noise", "distance_m": 120, "minutes_apart": 4,
          "category": "noise", "target_kind": "noise", "value": 88.0}


@pytest.fixture
def bare(db_url: str) -> Iterator[Engine]:
    """An engine on an empty database (no tables at all; db_url gives a fresh one to every test)."""
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


def differences(engine: Engine) -> list[object]:
    """What Alembic's autogenerate would still change to make the database match the models (nothing, ideally)."""
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(ctx, Base.metadata))


def columns(engine: Engine, table: str) -> set[str]:
    """The column names of `table` as the database has them."""
    return {c["name"] for c in inspect(engine).get_columns(table)}


def seed_baseline(engine: Engine) -> None:
    """A ticket linked into a case, as the last release before migrations stored it (with the reason's texts)."""
    at = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO hotline_tickets (id, source, ticket_id, category, lon, lat, subdistrict, cell, status, "
            "received_at, deadline_at) VALUES (1, 'h', 'T1', 'noise', 116.41, 39.91, 'dhm', 'r01c01', 'received', "
            ":at, :at)"), {"at": at})
        conn.execute(text(
            "INSERT INTO cases (id, key, category, subdistrict, cell, lon, lat, first_at, last_at, created_at, "
            "updated_at) VALUES (1, 'ticket:1', 'noise', 'dhm', 'r01c01', 116.41, 39.91, :at, :at, :at, :at)"),
            {"at": at})
        conn.execute(text(
            "INSERT INTO case_links (id, case_id, ticket_id, target_type, target_id, rule, reason, reason_zh, "
            "reason_en, decision, created_at) VALUES (1, 1, 1, 'sensor', 'pole-9:noise', 'sensor', :reason, "
            "'旧的说明', 'old text', 'auto', :at)"), {"at": at, "reason": json.dumps(REASON)})


def test_an_empty_database_upgraded_to_head_has_exactly_the_models_schema(bare: Engine) -> None:
    assert schema.upgrade(bare) == schema.head()
    assert differences(bare) == []


def test_upgrading_again_changes_nothing(bare: Engine) -> None:
    schema.upgrade(bare)
    assert schema.upgrade(bare) == schema.head()
    assert differences(bare) == []


def test_a_database_with_data_upgrades_from_the_baseline_and_keeps_it(bare: Engine) -> None:
    assert schema.upgrade(bare, schema.BASELINE) == schema.BASELINE
    assert {"reason_zh", "reason_en"} <= columns(bare, "case_links")
    seed_baseline(bare)
    schema.upgrade(bare)
    assert not {"reason_zh", "reason_en"} & columns(bare, "case_links")
    with bare.connect() as conn:
        row = conn.execute(text("SELECT target_id, reason FROM case_links WHERE id = 1")).one()
        assert conn.execute(text("SELECT ticket_id FROM hotline_tickets")).scalar_one() == "T1"
        # A ticket stored before it had a time of last change takes the time of its latest step (here: received).
        assert conn.execute(text("SELECT updated_at IS NOT NULL FROM hotline_tickets")).scalar_one()
    assert row.target_id == "pole-9:noise"
    reason = row.reason if isinstance(row.reason, dict) else json.loads(row.reason)
    assert reason_text(reason, "zh").startswith("噪声传感器 pole-9:noise")
    assert differences(bare) == []


def test_a_database_made_before_migrations_is_completed_by_the_baseline_and_upgraded(bare: Engine) -> None:
    schema.upgrade(bare, schema.BASELINE)
    seed_baseline(bare)
    with bare.begin() as conn:
        conn.execute(text("DROP TABLE alembic_version"))  # what the releases before migrations left
    assert schema.current(bare) is None
    assert schema.upgrade(bare) == schema.head()
    with bare.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM case_links")).scalar_one() == 1
    assert differences(bare) == []


def indexes(engine: Engine, table: str) -> set[str]:
    return {str(ix["name"]) for ix in inspect(engine).get_indexes(table)}


# What each revision after the baseline changed, as a check that holds once it is undone (a new revision adds its own).
UNDONE = {
    "0002": lambda e: {"reason_zh", "reason_en"} <= columns(e, "case_links"),  # it dropped them
    "0003": lambda e: "telemetry_minutes" not in inspect(e).get_table_names(),
    "0004": lambda e: "ix_incident_open" not in indexes(e, "incidents"),
    "0005": lambda e: "updated_at" not in columns(e, "hotline_tickets"),
    "0006": lambda e: "reported_severity" not in columns(e, "incidents"),
}


def test_every_revision_steps_down_and_up_again(bare: Engine) -> None:
    schema.upgrade(bare)
    seed_head = datetime(2026, 12, 2, tzinfo=UTC)
    with bare.begin() as conn:
        conn.execute(text("INSERT INTO settings (key, value, version, updated_at) VALUES ('k', '{}', 1, :at)"),
                     {"at": seed_head})
    assert set(UNDONE) == set(schema.revisions()) - {"0001"}, "a revision without its check in UNDONE"
    while (undone := schema.current(bare)) != "0001":
        assert undone is not None
        previous = schema.downgrade(bare, "-1")
        assert previous is not None and previous != undone
        assert UNDONE[undone](bare), f"revision {undone} left what it added"
    assert schema.upgrade(bare) == schema.head()
    assert differences(bare) == []
    with bare.connect() as conn:
        assert conn.execute(text("SELECT version FROM settings WHERE key = 'k'")).scalar_one() == 1
