"""Indexes for the tick's queries (dashboard.store.models): a partial index on the open incidents by severity,
time and deadline (ix_incident_open: the tick lists the open incidents and counts those overdue every second, which
otherwise scans every incident), and the tickets' index by time of receipt widened to hold every column the tick
reads (ix_ticket_received_rows replaces ix_ticket_received: two days of tickets become an index-only range read).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# The open states as this revision knows them (a migration does not follow later changes of the rules).
OPEN = "state IN ('new', 'acknowledged', 'dispatched', 'on_scene')"


# The ticket columns the tick reads, after received_at (store.tickets.TICKET_ROW_COLUMNS).
TICKET_ROW = [
    "received_at", "category", "subdistrict", "cell", "deadline_at", "responded_at", "resolved_at", "satisfied"
]


def upgrade() -> None:
    """Create the partial index on open incidents; widen the tickets' index by time of receipt."""
    op.create_index(
        "ix_incident_open",
        "incidents",
        ["severity", "created_at", "deadline_at"],
        sqlite_where=sa.text(OPEN),
        postgresql_where=sa.text(OPEN),
    )
    op.create_index("ix_ticket_received_rows", "hotline_tickets", TICKET_ROW, postgresql_include=["id"])
    op.drop_index("ix_ticket_received", table_name="hotline_tickets")


def downgrade() -> None:
    """Back to the narrow tickets' index and no index on open incidents."""
    op.create_index("ix_ticket_received", "hotline_tickets", ["received_at"])
    op.drop_index("ix_ticket_received_rows", table_name="hotline_tickets")
    op.drop_index("ix_incident_open", table_name="incidents")
