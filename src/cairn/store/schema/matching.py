"""The lists of known hashes, their entries, the generation counters (`meta`) that keep a
persisted list index current, and the matches of items against entries.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
)

from cairn.store.schema.base import metadata

lists = Table(
    "lists", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("source_file", Text, nullable=False),
    Column("format", String(20), nullable=False),
    Column("imported_at", String(32), nullable=False),
    Column("entry_count", Integer, nullable=False),
    Column("rejected_count", Integer, nullable=False),
    Column("pdq_threshold", Integer, nullable=False),
    Column("vpdq_percent", Float),  # video-to-video match: % of frames on each side (None: 80)
    # detect: known material, matches are hits | known-good: NSRL-style, matches hide items
    Column("purpose", String(20), nullable=False, server_default="detect"),
    Column("tlp", String(20)),  # clear green amber amber+strict red; None: not shared yet
    # removed: renamed `NAME (removed TIME)`, its entries `list_removed`, kept with its matches
    Column("removed_at", String(32)),
    # HMA's matching_enabled_ratio: the share of /m/lookup calls this list answers (1.0: all)
    Column("enabled_ratio", Float, nullable=False, server_default="1.0"),
    # how far its hits are believed, 0-100: the review queue shows the most trusted first
    Column("trust", Integer, nullable=False, server_default="50"),
)

list_entries = Table(
    "list_entries", metadata,
    Column("id", Integer, primary_key=True),
    Column("list_id", Integer, ForeignKey("lists.id", ondelete="CASCADE"), nullable=False),
    Column("signal_type", String(20), nullable=False),
    Column("value", Text, nullable=False),
    Column("category", String(100)),
    Column("labels", Text, nullable=False),  # JSON list
    Column("collab", String(200)),
    Column("line_no", Integer, nullable=False),
    # active | withdrawn (by its publisher) | false_positive (by an examiner): only active
    # entries match; the row stays, so earlier reports still resolve
    Column("status", String(20), nullable=False, server_default="active"),
    Column("status_at", String(32)),
    Column("status_note", Text),
    Column("changed_gen", Integer, nullable=False, server_default="0"),  # see meta
    Column("attrs", Text),  # JSON: what the source format carried (VICS fields, STIX ids...)
    Column("origin", Text),  # JSON: partner, collection, fetched_at, version
    Column("added_at", String(32)),  # when it entered this store: TAXII's date_added
    Column("stix_id", String(64)),  # the Indicator id it is shared under (feedback refers to it)
    # an entry is looked up by value within its list only (matching goes through the list
    # index): no index on (signal_type, value) alone, each import would pay for it (0021)
    UniqueConstraint("list_id", "signal_type", "value", name="uq_entries_list_type_value"),
    Index("ix_entries_changed_gen", "changed_gen"),
)

# Entries by their Indicator id (a partner's Opinion names them): keyed on 8 hex digits of the
# id's UUID, not the whole 47-character id (0022). Every appended entry goes into this index
# at a random place; at 100M entries the whole-id index was ~6 GB, this one ~2 GB, so an
# import's page cache holds far more of it. A lookup filters on the key, then the whole id.
STIX_KEY = (12, 8)  # substr(stix_id, 12, 8): past "indicator--", 32 random bits of the UUID
Index("ix_entries_stix_key", func.substr(list_entries.c.stix_id, *STIX_KEY))

# Small key/value state. `lists_generation` counts changes to lists (entries added, status
# changed); `lists_rebuild_generation` is the last change that removed rows (a list removed
# or replaced). A persisted list index records the generation it reflects: equal means
# current, behind means catch up from `changed_gen` and new ids, behind a rebuild means rebuild.
meta = Table(
    "meta", metadata,
    Column("key", String(50), primary_key=True),
    Column("value", Text, nullable=False),
)

matches = Table(
    "matches", metadata,
    Column("id", Integer, primary_key=True),
    Column("item_id", Integer, ForeignKey("items.id"), nullable=False),
    Column("entry_id", Integer, ForeignKey("list_entries.id", ondelete="CASCADE"), nullable=False),
    Column("list_id", Integer, ForeignKey("lists.id", ondelete="CASCADE"), nullable=False),
    Column("signal_type", String(20), nullable=False),
    Column("distance", Integer, nullable=False),
    Column("transform", String(20), nullable=False),
    Column("timestamp", Float),  # seconds into a video, for a frame that matched
    Column("detail", Text),  # JSON, e.g. vPDQ {"query_percent", "target_percent"}
    # active | withdrawn (by the publisher) | false_positive | list_removed: a match is never
    # deleted; only active ones count. Who changed it and when; the custody log has it too.
    Column("status", String(20), nullable=False, server_default="active"),
    Column("status_at", String(32)),
    Column("status_by", String(200)),
    Column("status_note", Text),
    UniqueConstraint("item_id", "entry_id", "signal_type", name="uq_matches_item_entry_signal"),
    # an item's matches; covering what the review queue asks of them (0019): whether one
    # on a more trusted list, or nearer, exists (store/reviewqueue.py `_best`)
    Index("ix_matches_item", "item_id", "status", "list_id", "distance", "id"),
    # the review queue's matched tier, one list at a time in its order (0019)
    Index("ix_matches_queue", "list_id", "status", "distance", "item_id"),
)
