"""list trust and per-session blur: `lists.trust` (0-100, how far a list's hits are believed:
the review queue orders matched items by it), `web_sessions.blur` (the session's thumbnail
blur strength, 3 strong .. 0 off: store/exposure.py)

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("lists") as batch:
        batch.add_column(sa.Column("trust", sa.Integer(), nullable=False, server_default="50"))
    with op.batch_alter_table("web_sessions") as batch:
        batch.add_column(sa.Column("blur", sa.Integer(), nullable=False, server_default="3"))


def downgrade() -> None:
    with op.batch_alter_table("web_sessions") as batch:
        batch.drop_column("blur")
    with op.batch_alter_table("lists") as batch:
        batch.drop_column("trust")
