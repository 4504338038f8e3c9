"""Durable telemetry: readings rolled up per reporting entity and minute (dashboard.store.models.TelemetryMinute).

On PostgreSQL the table is the parent of a declarative RANGE partitioning on `minute`: it holds no rows itself, and
the roll-up job creates one partition a Beijing day ahead of time and drops those past the retention
(store/telemetry.py). On SQLite it is a plain table.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the roll-up table (partitioned by range of minute on PostgreSQL)."""
    op.create_table(
        "telemetry_minutes",
        sa.Column("minute", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("entity_id", sa.String(length=128), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("v_min", sa.Float(), nullable=False),
        sa.Column("v_max", sa.Float(), nullable=False),
        sa.Column("v_sum", sa.Float(), nullable=False),
        sa.Column("last_value", sa.Float(), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("through_ms", sa.BigInteger(), nullable=False),
        sa.Column("through_seq", sa.BigInteger(), nullable=False),
        sa.Column("label", sa.String(length=32), nullable=True),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("subdistrict", sa.String(length=16), nullable=True),
        sa.PrimaryKeyConstraint("minute", "kind", "entity_id"),
        postgresql_partition_by="RANGE (minute)",
    )


def downgrade() -> None:
    """Drop the roll-up table (on PostgreSQL with every day partition): the durable telemetry is lost."""
    op.drop_table("telemetry_minutes")
