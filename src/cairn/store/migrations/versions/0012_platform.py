"""platform: a seized platform's records imported into a case (accounts, their e-mails,
payments, access logs, uploads and downloads) and each import's summary

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "platform_imports",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("platform", sa.String(64), nullable=False),
        sa.Column("imported_at", sa.String(32), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
    )
    op.create_table(
        "platform_accounts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("import_id", sa.Integer(), sa.ForeignKey("platform_imports.id"),
                  nullable=False),
        sa.Column("platform", sa.String(64), nullable=False),
        sa.Column("account", sa.String(200), nullable=False),
        sa.Column("names", sa.Text(), nullable=False),
        sa.Column("created", sa.String(40)),
        sa.Column("country", sa.String(2)),
        sa.UniqueConstraint("case_id", "platform", "account", name="uq_platform_accounts"),
    )
    op.create_table(
        "platform_emails",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("platform", sa.String(64), nullable=False),
        sa.Column("account", sa.String(200), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("given", sa.String(320), nullable=False),
    )
    op.create_table(
        "platform_payments",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("platform", sa.String(64), nullable=False),
        sa.Column("account", sa.String(200), nullable=False),
        sa.Column("time", sa.String(40), nullable=False),
        sa.Column("amount", sa.String(40)),
        sa.Column("currency", sa.String(10)),
        sa.Column("method", sa.String(40)),
        sa.Column("payment_id", sa.String(200)),
        sa.Column("country", sa.String(2)),
    )
    op.create_table(
        "platform_access",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("platform", sa.String(64), nullable=False),
        sa.Column("account", sa.String(200), nullable=False),
        sa.Column("time", sa.String(40), nullable=False),
        sa.Column("ip", sa.String(45), nullable=False),
        sa.Column("user_agent", sa.Text()),
        sa.Column("item", sa.Text()),
        sa.Column("pair", sa.String(32), nullable=False),
    )
    op.create_table(
        "platform_transfers",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("platform", sa.String(64), nullable=False),
        sa.Column("account", sa.String(200), nullable=False),
        sa.Column("time", sa.String(40), nullable=False),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("file_name", sa.Text()),
        sa.Column("md5", sa.String(32)),
        sa.Column("sha256", sa.String(64)),
        sa.Column("pdq", sa.String(64)),
    )
    op.create_index("ix_platform_emails", "platform_emails", ["case_id", "email"])
    op.create_index("ix_platform_payments_pid", "platform_payments", ["case_id", "payment_id"])
    op.create_index("ix_platform_payments_account", "platform_payments",
                    ["case_id", "platform", "account"])
    op.create_index("ix_platform_access_pair", "platform_access", ["case_id", "pair", "account"])
    op.create_index("ix_platform_transfers_account", "platform_transfers",
                    ["case_id", "platform", "account"])
    op.create_index("ix_platform_transfers_sha256", "platform_transfers", ["sha256"])
    op.create_index("ix_platform_transfers_md5", "platform_transfers", ["md5"])


def downgrade() -> None:
    op.drop_index("ix_platform_transfers_md5", "platform_transfers")
    op.drop_index("ix_platform_transfers_sha256", "platform_transfers")
    op.drop_index("ix_platform_transfers_account", "platform_transfers")
    op.drop_index("ix_platform_access_pair", "platform_access")
    op.drop_index("ix_platform_payments_account", "platform_payments")
    op.drop_index("ix_platform_payments_pid", "platform_payments")
    op.drop_index("ix_platform_emails", "platform_emails")
    for name in ("platform_transfers", "platform_access", "platform_payments",
                 "platform_emails", "platform_accounts", "platform_imports"):
        op.drop_table(name)
