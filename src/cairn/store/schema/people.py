"""Suspects, devices, actions, operations and a case's lifecycle (store/people.py).

Pseudonymous ids (`key`) are unique within a case. Lists (aliases, agencies, countries) are
JSON text. Every change to these rows writes a custody entry in the same transaction.
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
