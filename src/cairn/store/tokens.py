"""API tokens of `cairn serve`'s users: `cairn_` + 32 random bytes (urlsafe base64), stored
as their SHA-256 (enough for a value with 256 bits of entropy, and a lookup is one indexed
equality), with a scope (lookup < read < write, store/accounts.py), an expiry, a revocation
and a last use written at most once a minute. Every change is a custody entry (`users`)."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import insert, select, update

from cairn.store import schema as t
from cairn.store.accounts import (
    ROLE_CAPS,
    SCOPE_CAPS,
    SCOPES,
    Principal,
    UserError,
    iso,
    log_change,
    need_user,
    parse_time,
    sha256_text,
    store_now,
    utcnow,
)
from cairn.store.store import Store

TOKEN_PREFIX = "cairn_"
PREFIX_SHOWN = 12  # `cairn_` + 6 characters kept for listings: 36 of the 256 random bits
LAST_USED_EVERY = timedelta(minutes=1)  # a token's last_used_at is written at most this often
_EXPIRES = re.compile(r"(\d{1,5})([dhm])")


@dataclass(frozen=True)
class Token:
    id: int
    user: str
    name: str
    scope: str
    prefix: str
    created_at: str
    expires_at: str | None
    revoked_at: str | None
    last_used_at: str | None

    @property
    def status(self) -> str:
        if self.revoked_at:
            return "revoked"
        if self.expires_at and parse_time(self.expires_at) <= utcnow():
            return "expired"
        return "active"

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "user": self.user, "name": self.name, "scope": self.scope,
                "prefix": self.prefix, "status": self.status, "created_at": self.created_at,
                "expires_at": self.expires_at, "revoked_at": self.revoked_at,
                "last_used_at": self.last_used_at}


def parse_expires(text: str | None) -> timedelta | None:
    """`30d`, `12h`, `90m` -> a lifetime; `never` or None -> None."""
    if text is None or text == "never":
        return None
    m = _EXPIRES.fullmatch(text.strip())
    if not m or int(m[1]) == 0:
        raise UserError(f"--expires {text!r}: a number and d, h or m (30d, 12h, 90m), "
                        "or never")
    n = int(m[1])
    life = {"d": timedelta(days=n), "h": timedelta(hours=n), "m": timedelta(minutes=n)}[m[2]]
    if life > timedelta(days=3650):
        raise UserError(f"--expires {text!r}: at most ten years")
    return life


def _token_row(r: Any) -> Token:
    return Token(r["id"], r["user"], r["name"], r["scope"], r["prefix"], r["created_at"],
                 r["expires_at"], r["revoked_at"], r["last_used_at"])


def _tokens_query() -> Any:
    return (select(t.api_tokens, t.users.c.name.label("user"))
            .join(t.users, t.users.c.id == t.api_tokens.c.user_id))


def create_token(store: Store, user_name: str, scope: str, expires: timedelta | None,
                 name: str | None = None, by: str | None = None) -> tuple[Token, str]:
    """A new API token for a user; returns it and the token text (shown once)."""
    if scope not in SCOPES:
        raise UserError(f"scope {scope!r}: one of {', '.join(SCOPES)}")
    if name is not None and not 1 <= len(name) <= 200:
        raise UserError(f"token name {name!r}: 1 to 200 characters")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    created = utcnow()
    with store.engine.begin() as c:
        u = need_user(c, user_name)
        if u.disabled:
            raise UserError(f"user {user_name!r} is disabled; `cairn users enable` first")
        if not ROLE_CAPS[u.role] & SCOPE_CAPS[scope]:
            raise UserError(f"a {scope} token gives a {u.role} nothing: an {u.role} needs "
                            f"scope read or write")
        tid = c.execute(insert(t.api_tokens).values(
            user_id=u.id, name=name or f"{scope}-token", scope=scope,
            token_sha256=sha256_text(secret), prefix=secret[:PREFIX_SHOWN],
            created_at=iso(created),
            expires_at=iso(created + expires) if expires is not None else None)
            .returning(t.api_tokens.c.id)).scalar_one()
        token = _token_row(c.execute(_tokens_query().where(t.api_tokens.c.id == tid))
                           .mappings().one())
        log_change(store, c, "token.created", f"user:{user_name}",
             {"user": user_name, "token": tid, "name": token.name, "scope": scope,
              "prefix": token.prefix, "expires_at": token.expires_at}, by)
    return token, secret


def tokens(store: Store, user_name: str | None = None) -> list[Token]:
    q = _tokens_query().order_by(t.api_tokens.c.id)
    with store.engine.connect() as c:
        if user_name is not None:
            q = q.where(t.api_tokens.c.user_id == need_user(c, user_name).id)
        return [_token_row(r) for r in c.execute(q).mappings()]


def revoke_token(store: Store, ident: str, by: str | None = None) -> Token:
    """Revoke a token named by its id or its listed prefix."""
    col = t.api_tokens.c
    where = col.id == int(ident) if ident.isdigit() else col.prefix == ident
    with store.engine.begin() as c:
        rows = c.execute(_tokens_query().where(where)).mappings().all()
        if len(rows) != 1:
            raise UserError(f"no token {ident!r}; `cairn tokens list` shows ids and prefixes"
                            if not rows else f"prefix {ident!r} names {len(rows)} tokens: "
                            "give the id")
        tok = _token_row(rows[0])
        if tok.revoked_at:
            raise UserError(f"token {ident!r} was revoked at {tok.revoked_at}")
        c.execute(update(t.api_tokens).where(col.id == tok.id).values(revoked_at=store_now()))
        log_change(store, c, "token.revoked", f"user:{tok.user}",
             {"user": tok.user, "token": tok.id, "name": tok.name, "prefix": tok.prefix}, by)
        return _token_row(c.execute(_tokens_query().where(col.id == tok.id)).mappings().one())


def principal_for_token(store: Store, secret: str) -> Principal | None:
    """The principal a bearer token stands for; None when it is unknown, revoked, expired
    or its user disabled. Records when it was last used (at most once a minute)."""
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 100:
        return None
    col = t.api_tokens.c
    with store.engine.connect() as c:
        r = c.execute(select(col.id, col.scope, col.expires_at, col.revoked_at,
                             col.last_used_at, t.users.c.id.label("uid"), t.users.c.name,
                             t.users.c.role, t.users.c.disabled_at)
                      .join(t.users, t.users.c.id == col.user_id)
                      .where(col.token_sha256 == sha256_text(secret))).mappings().first()
    now = utcnow()
    if (r is None or r["revoked_at"] or r["disabled_at"]
            or (r["expires_at"] and parse_time(r["expires_at"]) <= now)):
        return None
    if r["last_used_at"] is None or now - parse_time(r["last_used_at"]) >= LAST_USED_EVERY:
        with store.engine.begin() as c:
            c.execute(update(t.api_tokens).where(col.id == r["id"]).values(
                last_used_at=iso(now)))
    return Principal(r["uid"], r["name"], r["role"],
                     ROLE_CAPS[r["role"]] & SCOPE_CAPS[r["scope"]], "token", token_id=r["id"])
