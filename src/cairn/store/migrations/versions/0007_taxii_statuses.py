"""taxii_statuses: the status resource of each TAXII POST, kept across server restarts

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "taxii_statuses",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("partner_id", sa.Integer(),
                  sa.ForeignKey("partners.id", ondelete="CASCADE"), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("taxii_statuses")
