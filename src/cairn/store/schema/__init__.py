"""The store's tables, one module per area (evidence, matching, exchange, people, platform,
access, review: each small enough to read whole), all in one `metadata` (base). Callers use
the package: `from cairn.store import schema as t`, then `t.items`, `t.metadata`.

Every change here comes with an Alembic migration in migrations/versions/ (tests/test_store.py
checks that the two agree).
"""

from __future__ import annotations

from cairn.store.schema.access import api_tokens, case_grants, login_attempts, users, web_sessions
from cairn.store.schema.base import metadata
from cairn.store.schema.evidence import (
    cases,
    custody,
    errors,
    findings,
    items,
    scan_runs,
    signals,
    sources,
)
from cairn.store.schema.exchange import (
    checkpoints,
    list_access,
    opinions,
    partners,
    peers,
    taxii_statuses,
)
from cairn.store.schema.matching import STIX_KEY, list_entries, lists, matches, meta
from cairn.store.schema.people import (
    action_devices,
    action_suspects,
    actions,
    case_states,
    device_sources,
    devices,
    identifiers,
    operation_cases,
    operations,
    suspects,
)
from cairn.store.schema.platform import (
    platform_access,
    platform_accounts,
    platform_emails,
    platform_imports,
    platform_payments,
    platform_transfers,
)
from cairn.store.schema.review import case_families, family_claims, queue_shared, reviews

__all__ = [  # every table, by area, and the metadata they are declared in
    "metadata",
    "cases", "custody", "errors", "findings", "items", "scan_runs", "signals", "sources",
    "list_entries", "lists", "matches", "meta", "STIX_KEY",
    "checkpoints", "list_access", "opinions", "partners", "peers", "taxii_statuses",
    "action_devices", "action_suspects", "actions", "case_states", "device_sources", "devices",
    "identifiers", "operation_cases", "operations", "suspects",
    "platform_access", "platform_accounts", "platform_emails", "platform_imports",
    "platform_payments", "platform_transfers",
    "api_tokens", "case_grants", "login_attempts", "users", "web_sessions",
    "case_families", "family_claims", "queue_shared", "reviews",
]
