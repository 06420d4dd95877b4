"""matches keep a status (active, withdrawn, false_positive, list_removed) with who and when;
a removed list stays on record (removed_at) instead of being deleted with its matches

Before, `lists remove` deleted the list, its entries and every case's matches against it, and
a withdrawn or false-positive entry's matches still counted. Existing matches of entries
already withdrawn or judged false take that status.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("matches") as batch:
        batch.add_column(sa.Column("status", sa.String(20), nullable=False,
                                   server_default="active"))
        batch.add_column(sa.Column("status_at", sa.String(32)))
        batch.add_column(sa.Column("status_by", sa.String(200)))
        batch.add_column(sa.Column("status_note", sa.Text()))
    with op.batch_alter_table("lists") as batch:
        batch.add_column(sa.Column("removed_at", sa.String(32)))
    op.execute("UPDATE matches SET status = (SELECT e.status FROM list_entries e "
               "WHERE e.id = matches.entry_id), status_at = (SELECT e.status_at FROM "
               "list_entries e WHERE e.id = matches.entry_id) WHERE entry_id IN "
               "(SELECT id FROM list_entries WHERE status <> 'active')")


def downgrade() -> None:
    with op.batch_alter_table("lists") as batch:
        batch.drop_column("removed_at")
    with op.batch_alter_table("matches") as batch:
        for col in ("status_note", "status_by", "status_at", "status"):
            batch.drop_column(col)
