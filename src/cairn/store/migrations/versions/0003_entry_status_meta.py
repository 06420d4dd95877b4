"""list_entries: status (active / withdrawn / false_positive) and the generation that last
changed them; meta: key/value state (list generations), for the persisted list index

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("list_entries") as batch:
        batch.add_column(sa.Column("status", sa.String(20), nullable=False,
                                   server_default="active"))
        batch.add_column(sa.Column("status_at", sa.String(32), nullable=True))
        batch.add_column(sa.Column("status_note", sa.Text(), nullable=True))
        batch.add_column(sa.Column("changed_gen", sa.Integer(), nullable=False,
                                   server_default="0"))
        batch.create_index("ix_entries_changed_gen", ["changed_gen"])
    op.create_table(
        "meta",
        sa.Column("key", sa.String(50), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("meta")
    with op.batch_alter_table("list_entries") as batch:
        batch.drop_index("ix_entries_changed_gen")
        batch.drop_column("changed_gen")
        batch.drop_column("status_note")
        batch.drop_column("status_at")
        batch.drop_column("status")
