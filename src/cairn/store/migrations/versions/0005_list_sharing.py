"""lists: purpose (detect / known-good) and TLP; list_entries: attrs (format fields carried
through) and origin (where an entry came from)

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("lists") as batch:
        batch.add_column(sa.Column("purpose", sa.String(20), nullable=False,
                                   server_default="detect"))
        batch.add_column(sa.Column("tlp", sa.String(20), nullable=True))
    with op.batch_alter_table("list_entries") as batch:
        batch.add_column(sa.Column("attrs", sa.Text(), nullable=True))
        batch.add_column(sa.Column("origin", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("list_entries") as batch:
        batch.drop_column("origin")
        batch.drop_column("attrs")
    with op.batch_alter_table("lists") as batch:
        batch.drop_column("tlp")
        batch.drop_column("purpose")
