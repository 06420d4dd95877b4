"""people: suspects, their typed identifiers, devices and the sources taken from them,
actions, operations, and a case's lifecycle (open, closed, deleted)

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case_states",
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id"), primary_key=True),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("changed_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "suspects",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("key", sa.String(100), nullable=False),
        sa.Column("aliases", sa.Text(), nullable=False),
        sa.Column("country", sa.String(2)),
        sa.Column("agency", sa.String(200)),
        sa.Column("status", sa.String(100)),
        sa.Column("notes", sa.Text()),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.UniqueConstraint("case_id", "key", name="uq_suspects_case_key"),
    )
    op.create_table(
        "identifiers",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("suspect_id", sa.Integer(), sa.ForeignKey("suspects.id"), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.UniqueConstraint("suspect_id", "kind", "value",
                            name="uq_identifiers_suspect_kind_value"),
    )
    op.create_index("ix_identifiers_value", "identifiers", ["kind", "value"])
    op.create_table(
        "devices",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("key", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("make", sa.String(200)),
        sa.Column("model", sa.String(200)),
        sa.Column("serial", sa.String(200)),
        sa.Column("imei", sa.String(15)),
        sa.Column("seized_at", sa.String(32)),
        sa.Column("seized_where", sa.Text()),
        sa.Column("seized_by", sa.String(200)),
        sa.Column("suspect_id", sa.Integer(), sa.ForeignKey("suspects.id")),
        sa.Column("notes", sa.Text()),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.UniqueConstraint("case_id", "key", name="uq_devices_case_key"),
    )
    op.create_table(
        "device_sources",
        sa.Column("source_id", sa.Integer(), sa.ForeignKey("sources.id"), primary_key=True),
        sa.Column("device_id", sa.Integer(), sa.ForeignKey("devices.id"), nullable=False),
        sa.Column("linked_at", sa.String(32), nullable=False),
    )
    op.create_index("ix_device_sources_device", "device_sources", ["device_id"])
    op.create_table(
        "actions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("date", sa.String(10), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("agency", sa.String(200)),
        sa.Column("outcome", sa.Text()),
        sa.Column("notes", sa.Text()),
        sa.Column("created_at", sa.String(32), nullable=False),
    )
    op.create_index("ix_actions_case", "actions", ["case_id"])
    op.create_table(
        "action_suspects",
        sa.Column("action_id", sa.Integer(), sa.ForeignKey("actions.id"), primary_key=True),
        sa.Column("suspect_id", sa.Integer(), sa.ForeignKey("suspects.id"), primary_key=True),
    )
    op.create_table(
        "action_devices",
        sa.Column("action_id", sa.Integer(), sa.ForeignKey("actions.id"), primary_key=True),
        sa.Column("device_id", sa.Integer(), sa.ForeignKey("devices.id"), primary_key=True),
    )
    op.create_table(
        "operations",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("agencies", sa.Text(), nullable=False),
        sa.Column("countries", sa.Text(), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "operation_cases",
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id"), primary_key=True),
        sa.Column("operation_id", sa.Integer(), sa.ForeignKey("operations.id"),
                  nullable=False),
        sa.Column("added_at", sa.String(32), nullable=False),
    )


def downgrade() -> None:
    for name in ("operation_cases", "operations", "action_devices", "action_suspects"):
        op.drop_table(name)
    op.drop_index("ix_actions_case", "actions")
    op.drop_table("actions")
    op.drop_index("ix_device_sources_device", "device_sources")
    op.drop_table("device_sources")
    op.drop_table("devices")
    op.drop_index("ix_identifiers_value", "identifiers")
    op.drop_table("identifiers")
    op.drop_table("suspects")
    op.drop_table("case_states")
