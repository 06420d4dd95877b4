"""reviews: a reviewer's category for an item under a scheme (Project VIC, UK CAID, DHS),
kept forever: a new decision supersedes the active one, an undo supersedes it with the previous

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reviews",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("item_id", sa.Integer(), sa.ForeignKey("items.id"), nullable=False),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("user", sa.String(200), nullable=False),
        sa.Column("scheme", sa.String(40), nullable=False),
        sa.Column("category", sa.String(40)),  # NULL: undone back to no category
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),  # active superseded
        sa.Column("undoes", sa.Integer()),  # an undo: the id of the decision it took back
    )
    op.create_index("ix_reviews_item_status", "reviews", ["item_id", "status"])
    op.create_index("ix_reviews_case_status", "reviews", ["case_id", "status"])


def downgrade() -> None:
    op.drop_index("ix_reviews_case_status", "reviews")
    op.drop_index("ix_reviews_item_status", "reviews")
    op.drop_table("reviews")
