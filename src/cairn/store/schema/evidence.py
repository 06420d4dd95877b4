"""Cases, their sources and scan runs, what a scan records (items; signals and findings,
which belong to content; errors), and the chain of custody.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from cairn.store.schema.base import metadata

cases = Table(
    "cases", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("created_at", String(32), nullable=False),
)

sources = Table(
    "sources", metadata,
    Column("id", Integer, primary_key=True),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("location", Text, nullable=False),
    Column("added_at", String(32), nullable=False),
    UniqueConstraint("case_id", "location", name="uq_sources_case_location"),
)

scan_runs = Table(
    "scan_runs", metadata,
    Column("id", Integer, primary_key=True),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=False),
    Column("source_id", Integer, ForeignKey("sources.id"), nullable=False),
    Column("tool_version", String(40), nullable=False),
    Column("examiner", String(200), nullable=False),
    Column("host", String(200), nullable=False),
    Column("started_at", String(32), nullable=False),
    Column("ended_at", String(32)),
    Column("status", String(20), nullable=False),  # running | complete | interrupted
    Column("arguments", Text, nullable=False),  # JSON
    Column("summary", Text),  # JSON
)

items = Table(
    "items", metadata,
    Column("id", Integer, primary_key=True),
    Column("source_id", Integer, ForeignKey("sources.id"), nullable=False),
    Column("scan_run_id", Integer, ForeignKey("scan_runs.id"), nullable=False),
    Column("path", Text, nullable=False),  # printable and reversible: walk.display_name
    Column("parent_path", Text),  # the archive it came out of, if any
    # identity: the location's bytes (path below the source, then member names, NUL-joined),
    # an ordinal for locations of one file sharing those bytes, and a version per change;
    # unique on the raw path's SHA-256: PostgreSQL's btree entries stop at 2,704 bytes
    Column("raw_path", LargeBinary, nullable=False),
    Column("location_key", LargeBinary(32), nullable=False),  # store.identity.location_key
    Column("ordinal", Integer, nullable=False, server_default="0"),
    Column("version", Integer, nullable=False, server_default="1"),
    Column("note", Text),  # e.g. what changed since the previous version
    Column("atime_note", Text),  # why reading it may have changed an atime (None: it did not)
    Column("kind", String(20), nullable=False),  # image video archive other symlink special
    Column("media_type", String(100)),
    # a disk image passes 2 GiB (0018); SQLite's INTEGER is 64-bit already
    Column("size", BigInteger().with_variant(Integer(), "sqlite")),
    Column("mtime", Float),
    Column("md5", String(32)),
    Column("sha1", String(40)),
    Column("sha256", String(64)),
    Column("width", Integer),
    Column("height", Integer),
    # inside a disk image: image/volume/file system/path (allocated, deleted or carved)
    Column("origin", Text),
    UniqueConstraint("source_id", "location_key", "ordinal", "version",
                     name="uq_items_location"),
    Index("ix_items_path", "path", postgresql_using="hash"),  # no length limit; equality only
    Index("ix_items_sha256", "sha256"),
    Index("ix_items_source", "source_id", "id"),  # a source's last item: its state (0019)
    Index("ix_items_md5", "md5"),
    Index("ix_items_sha1", "sha1"),
)

# Perceptual signals belong to content (sha256), not to a path: the same bytes are hashed once.
signals = Table(
    "signals", metadata,
    Column("id", Integer, primary_key=True),
    Column("sha256", String(64), nullable=False),
    Column("signal_type", String(20), nullable=False),
    Column("mode", String(10), nullable=False),  # exact | fast
    Column("value", Text, nullable=False),
    Column("quality", Integer),
    UniqueConstraint("sha256", "signal_type", "mode", name="uq_signals_content_type_mode"),
    Index("ix_signals_value", "value"),
)

# Provenance findings belong to content (sha256), like signals: C2PA, digital source type,
# generator metadata, watermarks, signatures, detector scores, model-file hashes.
findings = Table(
    "findings", metadata,
    Column("id", Integer, primary_key=True),
    Column("sha256", String(64), nullable=False),
    Column("kind", String(30), nullable=False),
    Column("strength", String(20), nullable=False),  # cryptographic | declared | statistical
    Column("source", String(200), nullable=False),  # where in the file it was read
    Column("data", Text, nullable=False),  # JSON: the finding as reported
    Column("error", Text),
    UniqueConstraint("sha256", "kind", "source", name="uq_findings_content_kind_source"),
    Index("ix_findings_kind_sha256", "kind", "sha256"),  # the queue's finding filter (0019)
)

errors = Table(
    "errors", metadata,
    Column("id", Integer, primary_key=True),
    Column("item_id", Integer, ForeignKey("items.id"), nullable=False),
    Column("stage", String(20), nullable=False),  # read walk archive decode hash
    Column("message", Text, nullable=False),
    Index("ix_errors_item", "item_id"),
)

# The chain of custody (store/custody.py): append-only, hash-chained, one chain per case
# ("case:<id>") and one for the store's lists ("store"). Never updated, never deleted: a
# deleted case keeps its chain and a tombstone entry. `id` is the order rows were written in;
# `seq` the entry's place in its chain; `hash` the SHA-256 of its canonical form, which holds
# `prev`, the hash of the entry before it.
custody = Table(
    "custody", metadata,
    Column("id", Integer, primary_key=True),
    Column("chain", String(64), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("time", String(40), nullable=False),
    Column("examiner", String(200), nullable=False),
    Column("host", String(200), nullable=False),
    Column("action", String(64), nullable=False),
    Column("subject", Text, nullable=False),
    Column("case_id", Integer),  # no foreign key: the tombstone outlives the case
    Column("details", Text, nullable=False),  # canonical JSON
    Column("prev", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Column("key_id", String(64)),  # the examiner's Ed25519 key, when entries are signed
    Column("signature", Text),  # base64
    UniqueConstraint("chain", "seq", name="uq_custody_chain_seq"),
    Index("ix_custody_case", "case_id"),
)
