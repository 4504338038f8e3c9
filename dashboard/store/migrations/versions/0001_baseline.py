"""Baseline: the schema of the last release before migrations, reached from any database those releases made.

An empty database gets every table. A database made before migrations (no alembic_version) is brought to this
schema the way those releases did at every start: each missing table is created, each missing column added (they
were all nullable or had a server default) and each missing index created, so that a database of any earlier
release upgrades too. Its tables are defined here, as they were then, independently of today's models.

Revision ID: 0001
Revises:
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.schema import CreateColumn

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

META = sa.MetaData()

sa.Table(
    "audit_log",
    META,
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("actor", sa.String(length=128), nullable=False),
    sa.Column("action", sa.String(length=64), nullable=False),
    sa.Column("target_type", sa.String(length=32), nullable=True),
    sa.Column("target_id", sa.String(length=128), nullable=True),
    sa.Column("outcome", sa.String(length=16), nullable=False),
    sa.Column("detail", sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint("id"),
)

sa.Table(
    "hotline_tickets",
    META,
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("source", sa.String(length=64), nullable=False),
    sa.Column("ticket_id", sa.String(length=128), nullable=False),
    sa.Column("category", sa.String(length=32), nullable=False),
    sa.Column("summary", sa.String(length=500), nullable=True),
    sa.Column("lon", sa.Float(), nullable=False),
    sa.Column("lat", sa.Float(), nullable=False),
    sa.Column("subdistrict", sa.String(length=16), nullable=False),
    sa.Column("cell", sa.String(length=16), nullable=False),
    sa.Column("status", sa.String(length=16), nullable=False),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("deadline_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("responded_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("satisfied", sa.Boolean(), nullable=True),
    sa.PrimaryKeyConstraint("id"),
    sa.UniqueConstraint("source", "ticket_id", name="uq_ticket_source_ticket"),
)

sa.Table(
    "incidents",
    META,
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("source", sa.String(length=64), nullable=False),
    sa.Column("external_id", sa.String(length=128), nullable=False),
    sa.Column("category", sa.String(length=32), nullable=False),
    sa.Column("severity", sa.Integer(), nullable=False),
    sa.Column("title", sa.String(length=200), nullable=False),
    sa.Column("description", sa.Text(), nullable=True),
    sa.Column("state", sa.String(length=16), nullable=False),
    sa.Column("lon", sa.Float(), nullable=False),
    sa.Column("lat", sa.Float(), nullable=False),
    sa.Column("subdistrict", sa.String(length=16), nullable=False),
    sa.Column("cell", sa.String(length=16), nullable=False),
    sa.Column("sensor_id", sa.String(length=128), nullable=True),
    sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("deadline_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("version", sa.Integer(), server_default="0", nullable=False),
    sa.PrimaryKeyConstraint("id"),
    sa.UniqueConstraint("source", "external_id", name="uq_incident_source_external"),
)

sa.Table(
    "sensors",
    META,
    sa.Column("id", sa.String(length=128), nullable=False),
    sa.Column("type", sa.String(length=32), nullable=False),
    sa.Column("pole_id", sa.String(length=128), nullable=True),
    sa.Column("lon", sa.Float(), nullable=False),
    sa.Column("lat", sa.Float(), nullable=False),
    sa.Column("subdistrict", sa.String(length=16), nullable=False),
    sa.Column("installed_at", sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint("id"),
)
sa.Table(
    "settings",
    META,
    sa.Column("key", sa.String(length=64), nullable=False),
    sa.Column("value", sa.JSON(), nullable=False),
    sa.Column("version", sa.Integer(), server_default="0", nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_by", sa.String(length=128), nullable=True),
    sa.PrimaryKeyConstraint("key"),
)
sa.Table(
    "users",
    META,
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("username", sa.String(length=64), nullable=False),
    sa.Column("display_name", sa.String(length=128), nullable=False),
    sa.Column("password_hash", sa.String(length=256), nullable=False),
    sa.Column("role", sa.String(length=16), nullable=False),
    sa.Column("active", sa.Boolean(), nullable=False),
    sa.Column("language", sa.String(length=8), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint("id"),
    sa.UniqueConstraint("username"),
)
sa.Table(
    "api_tokens",
    META,
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("user_id", sa.Integer(), nullable=False),
    sa.Column("name", sa.String(length=64), nullable=False),
    sa.Column("token_hash", sa.String(length=64), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(
        ["user_id"],
        ["users.id"],
    ),
    sa.PrimaryKeyConstraint("id"),
    sa.UniqueConstraint("token_hash"),
)

sa.Table(
    "cases",
    META,
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("key", sa.String(length=64), nullable=False),
    sa.Column("category", sa.String(length=32), nullable=False),
    sa.Column("subdistrict", sa.String(length=16), nullable=False),
    sa.Column("cell", sa.String(length=16), nullable=False),
    sa.Column("lon", sa.Float(), nullable=False),
    sa.Column("lat", sa.Float(), nullable=False),
    sa.Column("incident_id", sa.Integer(), nullable=True),
    sa.Column("sensor_id", sa.String(length=128), nullable=True),
    sa.Column("sensors", sa.JSON(), nullable=True),
    sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(
        ["incident_id"],
        ["incidents.id"],
    ),
    sa.PrimaryKeyConstraint("id"),
    sa.UniqueConstraint("key"),
)

sa.Table(
    "link_checks",
    META,
    sa.Column("ticket_id", sa.Integer(), nullable=False),
    sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(
        ["ticket_id"],
        ["hotline_tickets.id"],
    ),
    sa.PrimaryKeyConstraint("ticket_id"),
)
sa.Table(
    "summons",
    META,
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("incident_id", sa.Integer(), nullable=False),
    sa.Column("department", sa.String(length=16), nullable=False),
    sa.Column("summoned_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("summoned_by", sa.String(length=128), nullable=True),
    sa.Column("deadline_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("acknowledged_by", sa.String(length=128), nullable=True),
    sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(
        ["incident_id"],
        ["incidents.id"],
    ),
    sa.PrimaryKeyConstraint("id"),
    sa.UniqueConstraint("incident_id", "department", name="uq_summons_incident_department"),
)

sa.Table(
    "units",
    META,
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("code", sa.String(length=32), nullable=False),
    sa.Column("name", sa.String(length=128), nullable=False),
    sa.Column("kind", sa.String(length=16), nullable=False),
    sa.Column("status", sa.String(length=16), nullable=False),
    sa.Column("home_lon", sa.Float(), nullable=False),
    sa.Column("home_lat", sa.Float(), nullable=False),
    sa.Column("lon", sa.Float(), nullable=False),
    sa.Column("lat", sa.Float(), nullable=False),
    sa.Column("subdistrict", sa.String(length=16), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("incident_id", sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(
        ["incident_id"],
        ["incidents.id"],
    ),
    sa.PrimaryKeyConstraint("id"),
    sa.UniqueConstraint("code"),
)
sa.Table(
    "case_links",
    META,
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("case_id", sa.Integer(), nullable=False),
    sa.Column("ticket_id", sa.Integer(), nullable=False),
    sa.Column("target_type", sa.String(length=16), nullable=False),
    sa.Column("target_id", sa.String(length=128), nullable=False),
    sa.Column("rule", sa.String(length=32), nullable=False),
    sa.Column("reason", sa.JSON(), nullable=False),
    sa.Column("reason_zh", sa.String(length=300), nullable=False),
    sa.Column("reason_en", sa.String(length=300), nullable=False),
    sa.Column("decision", sa.String(length=16), nullable=False),
    sa.Column("decided_by", sa.String(length=128), nullable=True),
    sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(
        ["case_id"],
        ["cases.id"],
    ),
    sa.ForeignKeyConstraint(
        ["ticket_id"],
        ["hotline_tickets.id"],
    ),
    sa.PrimaryKeyConstraint("id"),
    sa.UniqueConstraint("ticket_id"),
)

sa.Table(
    "dispatch_actions",
    META,
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("incident_id", sa.Integer(), nullable=False),
    sa.Column("unit_id", sa.Integer(), nullable=True),
    sa.Column("action", sa.String(length=32), nullable=False),
    sa.Column("actor_id", sa.Integer(), nullable=True),
    sa.Column("idempotency_key", sa.String(length=128), nullable=False),
    sa.Column("note", sa.Text(), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(
        ["actor_id"],
        ["users.id"],
    ),
    sa.ForeignKeyConstraint(
        ["incident_id"],
        ["incidents.id"],
    ),
    sa.ForeignKeyConstraint(
        ["unit_id"],
        ["units.id"],
    ),
    sa.PrimaryKeyConstraint("id"),
    sa.UniqueConstraint("idempotency_key"),
)

sa.Table(
    "case_decisions",
    META,
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("link_id", sa.Integer(), nullable=False),
    sa.Column("case_id", sa.Integer(), nullable=False),
    sa.Column("decision", sa.String(length=16), nullable=False),
    sa.Column("actor_id", sa.Integer(), nullable=True),
    sa.Column("actor", sa.String(length=128), nullable=False),
    sa.Column("idempotency_key", sa.String(length=128), nullable=False),
    sa.Column("note", sa.Text(), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(
        ["actor_id"],
        ["users.id"],
    ),
    sa.ForeignKeyConstraint(
        ["case_id"],
        ["cases.id"],
    ),
    sa.ForeignKeyConstraint(
        ["link_id"],
        ["case_links.id"],
    ),
    sa.PrimaryKeyConstraint("id"),
    sa.UniqueConstraint("idempotency_key"),
)

# (name, table, columns) of every index of the baseline.
INDEXES: tuple[tuple[str, str, list[str]], ...] = (
    ("ix_audit_log_at", "audit_log", ["at"]),
    ("ix_ticket_open_deadline", "hotline_tickets", ["resolved_at", "deadline_at"]),
    ("ix_ticket_received", "hotline_tickets", ["received_at"]),
    ("ix_incident_created", "incidents", ["created_at"]),
    ("ix_incident_reported", "incidents", ["reported_at"]),
    ("ix_incident_state_severity", "incidents", ["state", "severity"]),
    ("ix_api_tokens_user_id", "api_tokens", ["user_id"]),
    ("ix_case_last", "cases", ["last_at"]),
    ("ix_summons_pending", "summons", ["acknowledged_at", "escalated_at", "deadline_at"]),
    ("ix_case_links_case_id", "case_links", ["case_id"]),
    ("ix_dispatch_actions_incident_id", "dispatch_actions", ["incident_id"]),
    ("ix_case_decisions_link_id", "case_decisions", ["link_id"]),
)


def upgrade() -> None:
    """Create what is missing of the baseline: tables, columns, indexes."""
    bind = op.get_bind()
    prep = bind.dialect.identifier_preparer
    have = set(sa.inspect(bind).get_table_names())
    for table in META.sorted_tables:
        if table.name not in have:
            table.create(bind)
            continue
        columns = {col["name"] for col in sa.inspect(bind).get_columns(table.name)}
        for col in table.columns:
            if col.name in columns:
                continue
            if not col.nullable and col.server_default is None:
                raise RuntimeError(f"cannot add NOT NULL column {table.name}.{col.name} without a server default")
            # As the releases before migrations did: the column's own DDL, with its foreign key inline (SQLite
            # cannot add a constraint to an existing table, but takes a REFERENCES clause on a new column).
            ddl = str(CreateColumn(col).compile(dialect=bind.dialect))
            for fk in col.foreign_keys:
                ddl += f" REFERENCES {prep.quote(fk.column.table.name)} ({prep.quote(fk.column.name)})"
            op.execute(f"ALTER TABLE {prep.format_table(table)} ADD COLUMN {ddl}")
    for name, table_name, cols in INDEXES:
        if name not in {ix["name"] for ix in sa.inspect(bind).get_indexes(table_name)}:
            op.create_index(name, table_name, cols)


def downgrade() -> None:
    """Drop every table of the baseline."""
    META.drop_all(op.get_bind())
