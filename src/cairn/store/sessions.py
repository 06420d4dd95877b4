"""Browser sessions of `cairn serve`: a session id (32 random bytes) in an HttpOnly cookie,
stored as its SHA-256; its CSRF token an HMAC of the id (so a page can be given it again from
the cookie alone), of which only the SHA-256 is kept. A session carries its user's whole role
and ends at logout, after SESSION_LIFETIME, or when its user is disabled."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from sqlalchemy import insert, select, update

from cairn.store import schema as t
from cairn.store.accounts import (
    ROLE_CAPS,
    Principal,
    User,
    iso,
    parse_time,
    sha256_text,
    store_now,
    utcnow,
)
from cairn.store.store import Store

SESSION_LIFETIME = timedelta(hours=12)
_CSRF_KEY = b"cairn-csrf"


def csrf_for(session: str) -> str:
    """The CSRF token of a session (derived from its id: a page can be given it again)."""
    return hmac.new(session.encode(), _CSRF_KEY, hashlib.sha256).hexdigest()


def check_csrf(principal: Principal, submitted: str | None) -> bool:
    if principal.csrf_sha256 is None or not submitted or len(submitted) > 200:
        return False
    return hmac.compare_digest(sha256_text(submitted), principal.csrf_sha256)


def create_session(store: Store, u: User, lifetime: timedelta = SESSION_LIFETIME
                   ) -> tuple[str, str]:
    """A browser session for a user who just logged in: (session id, CSRF token)."""
    session = secrets.token_urlsafe(32)
    csrf = csrf_for(session)
    now = utcnow()
    with store.engine.begin() as c:
        c.execute(insert(t.web_sessions).values(
            user_id=u.id, session_sha256=sha256_text(session), csrf_token=sha256_text(csrf),
            created_at=iso(now), expires_at=iso(now + lifetime)))
    return session, csrf


def principal_for_session(store: Store, session: str) -> Principal | None:
    """The principal of a live session (not ended, not expired, its user enabled)."""
    if not session or len(session) > 100:
        return None
    s = t.web_sessions.c
    with store.engine.connect() as c:
        r = c.execute(select(s.id, s.csrf_token, s.expires_at, s.ended_at, s.blur,
                             t.users.c.id.label("uid"), t.users.c.name, t.users.c.role,
                             t.users.c.disabled_at)
                      .join(t.users, t.users.c.id == s.user_id)
                      .where(s.session_sha256 == sha256_text(session))).mappings().first()
    if (r is None or r["ended_at"] or r["disabled_at"]
            or parse_time(r["expires_at"]) <= utcnow()):
        return None
    return Principal(r["uid"], r["name"], r["role"], ROLE_CAPS[r["role"]], "session",
                     session_id=r["id"], csrf_sha256=r["csrf_token"], blur=r["blur"])


def end_session(store: Store, session: str) -> bool:
    with store.engine.begin() as c:
        return bool(c.execute(update(t.web_sessions).where(
            t.web_sessions.c.session_sha256 == sha256_text(session),
            t.web_sessions.c.ended_at.is_(None)).values(ended_at=store_now())).rowcount)
