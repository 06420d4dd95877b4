"""The review workbench's rows: reviewers' decisions on items, and what the queue's shared
tier and a case's trace families were computed to at a state of the case.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
)

from cairn.store.schema.base import metadata

# A reviewer's decision on an item: never deleted or changed but for `status`. A new decision
# on the item supersedes the active one (store/reviews.py); an undo is a new decision that
# restores the previous category (NULL: no category, the item is to review again).
reviews = Table(
    "reviews", metadata,
    Column("id", Integer, primary_key=True),
    Column("item_id", Integer, ForeignKey("items.id"), nullable=False),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=False),
    Column("user", String(200), nullable=False),
    Column("scheme", String(40), nullable=False),
    Column("category", String(40)),
    Column("created_at", String(32), nullable=False),
    Column("status", String(20), nullable=False),  # active superseded
    Column("undoes", Integer),  # an undo: the id of the decision it took back
    Index("ix_reviews_item_status", "item_id", "status"),
    Index("ix_reviews_case_status", "case_id", "status"),
)

# The items of a case in a family spanning the exhibits of two or more suspects, as the
# review queue's third tier shows them (web/queue.py), and the state of the case (items,
# signals, findings, which exhibit is whose) they were computed at: computing them reads the
# whole case, so once per state, whatever process asks. `item_ids`: sorted, zlib-compressed
# little-endian int64.
queue_shared = Table(
    "queue_shared", metadata,
    Column("case_id", Integer, ForeignKey("cases.id"), primary_key=True),
    Column("state", Text, nullable=False),
    Column("item_ids", LargeBinary, nullable=False),
    Column("computed_at", String(32), nullable=False),
)

# A case's trace families (trace/families.py) as of a state of the case (store/familystore.py):
# computed once per state by one process, read back by every other.
case_families = Table(
    "case_families", metadata,
    Column("case_id", Integer, ForeignKey("cases.id"), primary_key=True),
    Column("state", Text, nullable=False),
    Column("data", LargeBinary, nullable=False),  # zlib of JSON {families, item_ids}
    Column("computed_at", String(32), nullable=False),
)

# Who computes a case's families for a state: the first to insert the row; a claim older
# than familystore.CLAIM_TTL is taken over (its process died).
family_claims = Table(
    "family_claims", metadata,
    Column("case_id", Integer, ForeignKey("cases.id"), primary_key=True),
    Column("state_key", String(64), primary_key=True),  # SHA-256 of the state
    Column("owner", String(200), nullable=False),
    Column("claimed_at", Float, nullable=False),  # epoch seconds
)
