"""login_attempts: every `POST /login` to `cairn serve`, kept: the name given, the user it
named (if any), when, from which remote address, and the outcome (ok, wrong_password,
locked, disabled, unknown_user)

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_attempts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_name", sa.String(200), nullable=False),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE")),
        sa.Column("at", sa.String(32), nullable=False),
        sa.Column("remote", sa.String(64)),
        sa.Column("outcome", sa.String(20), nullable=False),
    )
    op.create_index("ix_login_attempts_user_at", "login_attempts", ["user_name", "at"])


def downgrade() -> None:
    op.drop_index("ix_login_attempts_user_at", "login_attempts")
    op.drop_table("login_attempts")
