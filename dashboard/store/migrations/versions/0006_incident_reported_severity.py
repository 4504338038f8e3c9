"""The severity an incident was reported with (incidents.reported_severity): the ticker's line about a new incident
says what was reported, and that it was raised or lowered since, instead of rewriting the report. Rows stored before
this revision take their current severity, the best that is known of them.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the column and fill it from the current severity."""
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("reported_severity", sa.Integer(), nullable=True))
    op.execute("UPDATE incidents SET reported_severity = severity WHERE reported_severity IS NULL")


def downgrade() -> None:
    """Drop the column."""
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("reported_severity")
