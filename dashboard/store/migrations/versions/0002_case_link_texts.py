"""Case links keep their reason as structured fields only: the Chinese and English sentences are rendered from the
fields when read (dashboard.services.cases), so they are no longer stored.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Drop the stored sentences of case_links."""
    with op.batch_alter_table("case_links") as batch:
        batch.drop_column("reason_zh")
        batch.drop_column("reason_en")


def downgrade() -> None:
    """Bring the columns back, empty: the release before this one shows a link's reason from them, so a downgrade
    leaves those links without a sentence (their structured reason is kept)."""
    with op.batch_alter_table("case_links") as batch:
        batch.add_column(sa.Column("reason_zh", sa.String(length=300), server_default="", nullable=False))
        batch.add_column(sa.Column("reason_en", sa.String(length=300), server_default="", nullable=False))
