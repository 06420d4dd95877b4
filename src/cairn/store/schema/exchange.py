"""Sharing lists over TAXII: partners and their access to our lists, the peers we pull
from and push to (and how far each collection was read), opinions on entries, and what a
partner's POST did.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from cairn.store.schema.base import metadata

# Partners read (and write to) our lists over TAXII; each holds one API token, stored hashed.
partners = Table(
    "partners", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("token_sha256", String(64), nullable=False, unique=True),
    Column("created_at", String(32), nullable=False),
)

list_access = Table(
    "list_access", metadata,
    Column("id", Integer, primary_key=True),
    Column("list_id", Integer, ForeignKey("lists.id", ondelete="CASCADE"), nullable=False),
    Column("partner_id", Integer, ForeignKey("partners.id", ondelete="CASCADE"),
           nullable=False),
    Column("can_read", Integer, nullable=False),
    Column("can_write", Integer, nullable=False),
    UniqueConstraint("list_id", "partner_id", name="uq_access_list_partner"),
)

# Servers we pull from / push to, and how far we have read each collection.
peers = Table(
    "peers", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("url", Text, nullable=False),  # the API root
    Column("user", String(200)),
    Column("secret", Text),  # the token / password they gave us
    Column("added_at", String(32), nullable=False),
)

checkpoints = Table(
    "checkpoints", metadata,
    Column("id", Integer, primary_key=True),
    Column("peer_id", Integer, ForeignKey("peers.id", ondelete="CASCADE"), nullable=False),
    Column("collection", String(200), nullable=False),
    Column("list_name", String(200), nullable=False),
    Column("added_after", String(40)),  # the last date_added imported
    Column("updated_at", String(32)),
    UniqueConstraint("peer_id", "collection", name="uq_checkpoint_peer_collection"),
)

# Opinions on list entries: ours (an examiner confirmed a match or found it false) and
# partners' (STIX opinion objects they sent). Enough false-positive opinions stop an entry.
opinions = Table(
    "opinions", metadata,
    Column("id", Integer, primary_key=True),
    Column("entry_id", Integer, ForeignKey("list_entries.id", ondelete="CASCADE"),
           nullable=False),
    Column("opinion", String(20), nullable=False),  # confirmed | false_positive
    Column("author", String(200), nullable=False),  # "local:<examiner>" or a partner's name
    Column("explanation", Text),
    Column("created_at", String(32), nullable=False),
    Column("stix_id", String(64)),
    Column("shared_at", String(32)),  # when it was sent back to the entry's origin
    UniqueConstraint("entry_id", "author", name="uq_opinions_entry_author"),
)

# What a partner's TAXII POST did (the TAXII status resource): kept so a client may ask later,
# after a restart too. Only the partner that posted may read it.
taxii_statuses = Table(
    "taxii_statuses", metadata,
    Column("id", String(36), primary_key=True),  # uuid4
    Column("partner_id", Integer, ForeignKey("partners.id", ondelete="CASCADE"),
           nullable=False),
    Column("body", Text, nullable=False),  # the status resource, JSON
    Column("created_at", String(32), nullable=False),
)
