"""users: people who log in to `cairn serve` (role, argon2id password hash, back-off), their
API tokens (SHA-256 of the token, scope, expiry, last use), browser sessions, per-case grants;
and each list's HMA `matching_enabled_ratio`

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("role", sa.String(20), nullable=False),  # admin examiner reviewer auditor
        sa.Column("password_hash", sa.Text(), nullable=False),  # argon2id, PHC string
        sa.Column("disabled_at", sa.String(32)),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("locked_until", sa.String(32)),  # login back-off after failures
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("scope", sa.String(20), nullable=False),  # lookup read write
        sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("prefix", sa.String(16), nullable=False),  # shown in listings
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("expires_at", sa.String(32)),
        sa.Column("revoked_at", sa.String(32)),
        sa.Column("last_used_at", sa.String(32)),
    )
    op.create_table(
        "web_sessions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("session_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("expires_at", sa.String(32), nullable=False),
        sa.Column("ended_at", sa.String(32)),
    )
    op.create_table(
        "case_grants",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("granted_at", sa.String(32), nullable=False),
        sa.UniqueConstraint("case_id", "user_id", name="uq_case_grants"),
    )
    with op.batch_alter_table("lists") as b:
        b.add_column(sa.Column("enabled_ratio", sa.Float(), nullable=False,
                               server_default="1.0"))


def downgrade() -> None:
    with op.batch_alter_table("lists") as b:
        b.drop_column("enabled_ratio")
    for name in ("case_grants", "web_sessions", "api_tokens", "users"):
        op.drop_table(name)
