"""a case's trace families kept per state of the case, and who is computing them

- case_families: the families of a case (trace/families.py, as service/families.py keeps
  them: each family and its members' item ids) with the state of the case they were computed
  at (store/reviewqueue.py `case_state`): computed once per state, read back by any process,
  after a restart or by a second server worker, instead of minutes of computation each.
- family_claims: (case, state) -> the process computing it; the first insert wins, a second
  worker waits for the result instead of computing the same state again. A claim older than
  store/familystore.py CLAIM_TTL is taken over (its process died).

Revision ID: 0020
Revises: 0019
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case_families",
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id"), primary_key=True),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("computed_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "family_claims",
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id"), primary_key=True),
        sa.Column("state_key", sa.String(64), primary_key=True),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("claimed_at", sa.Float(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("family_claims")
    op.drop_table("case_families")
