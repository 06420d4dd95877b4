"""Tables. Every change here comes with an Alembic migration in migrations/versions/."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

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
    Index("ix_entries_stix_id", "stix_id"),
)

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


# -- exchange -------------------------------------------------------------------------------
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


# -- suspects, devices, actions, operations, case lifecycle (store/people.py) ---------------
# Pseudonymous ids (`key`) are unique within a case. Lists (aliases, agencies, countries) are
# JSON text. Every change to these rows writes a custody entry in the same transaction.

# A case's lifecycle: open | closed | deleted. No row: open (cases older than this table).
# A deleted case keeps its rows and its custody chain; it is hidden and refuses changes.
case_states = Table(
    "case_states", metadata,
    Column("case_id", Integer, ForeignKey("cases.id"), primary_key=True),
    Column("status", String(10), nullable=False),
    Column("changed_at", String(32), nullable=False),
)

suspects = Table(
    "suspects", metadata,
    Column("id", Integer, primary_key=True),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=False),
    Column("key", String(100), nullable=False),  # the pseudonymous id, e.g. S-01, user-0042
    Column("aliases", Text, nullable=False),  # JSON list
    Column("country", String(2)),  # ISO 3166-1 alpha-2
    Column("agency", String(200)),
    Column("status", String(100)),
    Column("notes", Text),
    Column("created_at", String(32), nullable=False),
    UniqueConstraint("case_id", "key", name="uq_suspects_case_key"),
)

# Typed identifiers of a suspect: account (`platform:NAME`), payment, email, phone.
identifiers = Table(
    "identifiers", metadata,
    Column("id", Integer, primary_key=True),
    Column("suspect_id", Integer, ForeignKey("suspects.id"), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("value", Text, nullable=False),
    UniqueConstraint("suspect_id", "kind", "value", name="uq_identifiers_suspect_kind_value"),
    Index("ix_identifiers_value", "kind", "value"),
)

devices = Table(
    "devices", metadata,
    Column("id", Integer, primary_key=True),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=False),
    Column("key", String(100), nullable=False),
    Column("kind", String(20), nullable=False),  # cases/people.py DEVICE_KINDS
    Column("make", String(200)),
    Column("model", String(200)),
    Column("serial", String(200)),
    Column("imei", String(15)),  # Luhn-checked
    Column("seized_at", String(32)),  # ISO date or date-time
    Column("seized_where", Text),
    Column("seized_by", String(200)),
    Column("suspect_id", Integer, ForeignKey("suspects.id")),
    Column("notes", Text),
    Column("created_at", String(32), nullable=False),
    UniqueConstraint("case_id", "key", name="uq_devices_case_key"),
)

# A source (extraction, image) comes from at most one device; a device has several.
device_sources = Table(
    "device_sources", metadata,
    Column("source_id", Integer, ForeignKey("sources.id"), primary_key=True),
    Column("device_id", Integer, ForeignKey("devices.id"), nullable=False),
    Column("linked_at", String(32), nullable=False),
    Index("ix_device_sources_device", "device_id"),
)

actions = Table(
    "actions", metadata,
    Column("id", Integer, primary_key=True),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=False),
    Column("kind", String(30), nullable=False),  # cases/people.py ACTION_KINDS
    Column("date", String(10), nullable=False),  # ISO date
    Column("country", String(2), nullable=False),
    Column("agency", String(200)),
    Column("outcome", Text),
    Column("notes", Text),
    Column("created_at", String(32), nullable=False),
    Index("ix_actions_case", "case_id"),
)

action_suspects = Table(
    "action_suspects", metadata,
    Column("action_id", Integer, ForeignKey("actions.id"), primary_key=True),
    Column("suspect_id", Integer, ForeignKey("suspects.id"), primary_key=True),
)

action_devices = Table(
    "action_devices", metadata,
    Column("action_id", Integer, ForeignKey("actions.id"), primary_key=True),
    Column("device_id", Integer, ForeignKey("devices.id"), primary_key=True),
)

# An operation spans agencies and countries; a case belongs to at most one.
operations = Table(
    "operations", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("agencies", Text, nullable=False),  # JSON list
    Column("countries", Text, nullable=False),  # JSON list of ISO 3166-1 alpha-2
    Column("created_at", String(32), nullable=False),
)

operation_cases = Table(
    "operation_cases", metadata,
    Column("case_id", Integer, ForeignKey("cases.id"), primary_key=True),
    Column("operation_id", Integer, ForeignKey("operations.id"), nullable=False),
    Column("added_at", String(32), nullable=False),
)


# -- a seized platform's records (store/platform.py, platform/records.py) -------------------
# Rows name their account by the platform's own id (`account`), not by a foreign key: an
# import streams millions of rows in one transaction and checks the account against the
# accounts it has read. `platform` is the name given at import (lower-case, as in an
# `account` identifier `platform:ACCOUNT`). Times are ISO 8601 UTC text. The indexes that
# resolution groups on end in (platform, account): grouping reads the index alone (0014).
platform_imports = Table(
    "platform_imports", metadata,
    Column("id", Integer, primary_key=True),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=False),
    Column("platform", String(64), nullable=False),
    Column("imported_at", String(32), nullable=False),
    Column("details", Text, nullable=False),  # JSON: files with SHA-256, counts, rejected
)

platform_accounts = Table(
    "platform_accounts", metadata,
    Column("id", Integer, primary_key=True),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=False),
    Column("import_id", Integer, ForeignKey("platform_imports.id"), nullable=False),
    Column("platform", String(64), nullable=False),
    Column("account", String(200), nullable=False),
    Column("names", Text, nullable=False),  # JSON list
    Column("created", String(40)),
    Column("country", String(2)),  # declared by the platform's records
    UniqueConstraint("case_id", "platform", "account", name="uq_platform_accounts"),
)

# one row per account and normalised e-mail: what resolution groups on
platform_emails = Table(
    "platform_emails", metadata,
    Column("id", Integer, primary_key=True),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=False),
    Column("platform", String(64), nullable=False),
    Column("account", String(200), nullable=False),
    Column("email", String(320), nullable=False),  # normalised (records.normalise_email)
    Column("given", String(320), nullable=False),  # as the records wrote it
    Index("ix_platform_emails", "case_id", "email", "platform", "account"),
)

platform_payments = Table(
    "platform_payments", metadata,
    Column("id", Integer, primary_key=True),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=False),
    Column("platform", String(64), nullable=False),
    Column("account", String(200), nullable=False),
    Column("time", String(40), nullable=False),
    Column("amount", String(40)),  # decimal text: no float rounding of money
    Column("currency", String(10)),
    Column("method", String(40)),
    Column("payment_id", String(200)),  # card fingerprint, crypto address, processor ref
    Column("country", String(2)),  # the payment's country (card issuer, billing)
    Index("ix_platform_payments_pid", "case_id", "payment_id", "platform", "account"),
    Index("ix_platform_payments_account", "case_id", "platform", "account"),
)

platform_access = Table(
    "platform_access", metadata,
    Column("id", Integer, primary_key=True),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=False),
    Column("platform", String(64), nullable=False),
    Column("account", String(200), nullable=False),
    Column("time", String(40), nullable=False),
    Column("ip", String(45), nullable=False),
    Column("user_agent", Text),
    Column("item", Text),
    Column("pair", String(32), nullable=False),  # records.ip_ua_key(ip, user_agent)
    Index("ix_platform_access_pair", "case_id", "pair", "platform", "account"),
)

platform_transfers = Table(
    "platform_transfers", metadata,
    Column("id", Integer, primary_key=True),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=False),
    Column("platform", String(64), nullable=False),
    Column("account", String(200), nullable=False),
    Column("time", String(40), nullable=False),
    Column("direction", String(8), nullable=False),  # upload | download
    Column("file_name", Text),
    Column("md5", String(32)),
    Column("sha256", String(64)),
    Column("pdq", String(64)),
    Index("ix_platform_transfers_account", "case_id", "platform", "account"),
    Index("ix_platform_transfers_sha256", "sha256"),
    Index("ix_platform_transfers_md5", "md5"),
)


# -- users of `cairn serve` -----------------------------------------------------------------
# Passwords as argon2id PHC strings; tokens and session ids (high-entropy, random) as SHA-256.
users = Table(
    "users", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("role", String(20), nullable=False),  # admin | examiner | reviewer | auditor
    Column("password_hash", Text, nullable=False),
    Column("disabled_at", String(32)),
    Column("created_at", String(32), nullable=False),
    Column("failed_logins", Integer, nullable=False, server_default="0"),
    Column("locked_until", String(32)),  # login back-off after failures
)

api_tokens = Table(
    "api_tokens", metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("scope", String(20), nullable=False),  # lookup | read | write
    Column("token_sha256", String(64), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),  # the token's first characters, for listings
    Column("created_at", String(32), nullable=False),
    Column("expires_at", String(32)),
    Column("revoked_at", String(32)),
    Column("last_used_at", String(32)),
)

web_sessions = Table(
    "web_sessions", metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("session_sha256", String(64), nullable=False, unique=True),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("expires_at", String(32), nullable=False),
    Column("ended_at", String(32)),
    Column("blur", Integer, nullable=False, server_default="3"),  # 3 strong .. 0 off
)

# Every login attempt (store/logins.py): the name as given, the user it named if any, the
# remote address and the outcome. Never a password.
login_attempts = Table(
    "login_attempts", metadata,
    Column("id", Integer, primary_key=True),
    Column("user_name", String(200), nullable=False),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE")),
    Column("at", String(32), nullable=False),
    Column("remote", String(64)),
    Column("outcome", String(20), nullable=False),  # ok wrong_password locked disabled unknown_user
    Index("ix_login_attempts_user_at", "user_name", "at"),
)

case_grants = Table(
    "case_grants", metadata,
    Column("id", Integer, primary_key=True),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=False),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("granted_at", String(32), nullable=False),
    UniqueConstraint("case_id", "user_id", name="uq_case_grants"),
)

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
