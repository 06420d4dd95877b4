"""Users of `cairn serve`: accounts, API tokens, browser sessions, login attempts and the
cases each may see.

Passwords as argon2id PHC strings; tokens and session ids (high-entropy, random) as SHA-256.
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
