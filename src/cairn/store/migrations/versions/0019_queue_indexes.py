"""the review queue at 1M items: an index in the matched tier's order, a covering index for
the finding-kind filter, and the families spanning suspects kept per state of the case

- ix_matches_queue (list_id, status, distance, item_id): one list's active matches in the
  queue's order, read from a cursor on (store/reviewqueue.py `_walk_matched`): a deep page
  of the matched tier reads about a page of rows instead of grouping every match of the case.
- ix_matches_item (item_id) gains (status, list_id, distance, id): whether an item has a
  better match than the one the queue reads is answered from the index alone.
- ix_findings_kind_sha256 (kind, sha256) replaces ix_findings_kind (kind): which contents
  have a finding of a kind, from the index alone (the queue's `finding` filter).
- ix_items_source (source_id, id): a source's last item in one probe: the state of a case
  that cached families and queue tiers are keyed by (store/reviewqueue.py `case_state`),
  where counting the case's items cost 150 ms on every page at 1M items.
- queue_shared: the items of a case in a family spanning the exhibits of two or more
  suspects, with the state of the case they were computed at (web/queue.py): computed once
  per state, not once per process.

At 1M items (bench/bench_ui.py): a deep page of the matched tier 1.3 s -> see README.

Revision ID: 0019
Revises: 0018
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_items_source", "items", ["source_id", "id"])
    op.drop_index("ix_matches_item", "matches")
    op.create_index("ix_matches_item", "matches",
                    ["item_id", "status", "list_id", "distance", "id"])
    op.create_index("ix_matches_queue", "matches", ["list_id", "status", "distance", "item_id"])
    op.drop_index("ix_findings_kind", "findings")
    op.create_index("ix_findings_kind_sha256", "findings", ["kind", "sha256"])
    op.create_table(
        "queue_shared",
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id"), primary_key=True),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("item_ids", sa.LargeBinary(), nullable=False),
        sa.Column("computed_at", sa.String(32), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("queue_shared")
    op.drop_index("ix_findings_kind_sha256", "findings")
    op.create_index("ix_findings_kind", "findings", ["kind"])
    op.drop_index("ix_matches_queue", "matches")
    op.drop_index("ix_items_source", "items")
    op.drop_index("ix_matches_item", "matches")
    op.create_index("ix_matches_item", "matches", ["item_id"])
