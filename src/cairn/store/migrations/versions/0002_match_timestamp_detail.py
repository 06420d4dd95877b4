"""matches: timestamp (video frame that matched) and detail (vPDQ percentages);
lists: vpdq_percent (per-list video match threshold)

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("matches") as batch:
        batch.add_column(sa.Column("timestamp", sa.Float(), nullable=True))
        batch.add_column(sa.Column("detail", sa.Text(), nullable=True))
    with op.batch_alter_table("lists") as batch:
        batch.add_column(sa.Column("vpdq_percent", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("lists") as batch:
        batch.drop_column("vpdq_percent")
    with op.batch_alter_table("matches") as batch:
        batch.drop_column("detail")
        batch.drop_column("timestamp")
