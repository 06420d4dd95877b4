"""custody: the append-only, hash-chained chain of custody (store/custody.py)

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "custody",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("chain", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("time", sa.String(40), nullable=False),
        sa.Column("examiner", sa.String(200), nullable=False),
        sa.Column("host", sa.String(200), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("case_id", sa.Integer()),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("prev", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("key_id", sa.String(64)),
        sa.Column("signature", sa.Text()),
        sa.UniqueConstraint("chain", "seq", name="uq_custody_chain_seq"),
    )
    op.create_index("ix_custody_case", "custody", ["case_id"])


def downgrade() -> None:
    op.drop_index("ix_custody_case", "custody")
    op.drop_table("custody")
