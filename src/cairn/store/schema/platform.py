"""A seized platform's records (store/platform.py, platform/records.py).

Rows name their account by the platform's own id (`account`), not by a foreign key: an
import streams millions of rows in one transaction and checks the account against the
accounts it has read. `platform` is the name given at import (lower-case, as in an
`account` identifier `platform:ACCOUNT`). Times are ISO 8601 UTC text. The indexes that
resolution groups on end in (platform, account): grouping reads the index alone (0014).
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from cairn.store.schema.base import metadata

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
