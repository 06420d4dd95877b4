"""findings: provenance findings per content (generator metadata, XMP, model files, ...)

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "findings",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("strength", sa.String(20), nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.UniqueConstraint("sha256", "kind", "source", name="uq_findings_content_kind_source"),
    )
    op.create_index("ix_findings_kind", "findings", ["kind"])


def downgrade() -> None:
    op.drop_index("ix_findings_kind", "findings")
    op.drop_table("findings")
