"""The tickets' time of last change (hotline_tickets.updated_at, indexed by ix_ticket_updated): the tick maintains
the hotline aggregate from the tickets changed since its last read instead of re-reading two days of them every
second (workers/hotline_sync.py). Existing tickets take the time of their latest step.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add updated_at, fill it from each ticket's latest step and index it. The column stays nullable: SQLite can make
    it required only by copying the table, which its foreign keys (case_links, link_checks) refuse; every writer
    sets it (the models' default)."""
    op.add_column("hotline_tickets", sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE hotline_tickets SET updated_at = COALESCE(closed_at, resolved_at, responded_at, received_at)"
    )
    op.create_index("ix_ticket_updated", "hotline_tickets", ["updated_at"])


def downgrade() -> None:
    """Drop the index and the column."""
    op.drop_index("ix_ticket_updated", table_name="hotline_tickets")
    with op.batch_alter_table("hotline_tickets") as batch:
        batch.drop_column("updated_at")
