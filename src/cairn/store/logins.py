"""The record of every login attempt to `cairn serve` (table `login_attempts`).

One row per `POST /login` that reached the password check or the lock (store/users.py
`check_login` writes it): the name as given (cut to 200 characters), the user it named (None
for a name that is no user), when (UTC, ISO seconds), the remote address the server saw, and
the outcome, one of OUTCOMES. Never a password. Rows are kept: an admin reads them with
`attempts` (newest first) to see who tried which account from where.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, insert, select

from cairn.store import Store
from cairn.store import schema as t

OUTCOMES = ("ok", "wrong_password", "locked", "disabled", "unknown_user")
NAME_MAX, REMOTE_MAX = 200, 64


def record(c: Connection, name: str, user_id: int | None, at: str, remote: str | None,
           outcome: str) -> None:
    """Add one attempt, on the caller's connection (in its transaction)."""
    if outcome not in OUTCOMES:
        raise ValueError(f"login outcome {outcome!r}: one of {', '.join(OUTCOMES)}")
    c.execute(insert(t.login_attempts).values(
        user_name=name[:NAME_MAX], user_id=user_id, at=at,
        remote=remote[:REMOTE_MAX] if remote else None, outcome=outcome))


def attempts(store: Store, name: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """The latest attempts (all names, or one), newest first."""
    a = t.login_attempts.c
    q = (select(a.user_name, a.at, a.remote, a.outcome).order_by(a.id.desc())
         .limit(limit))
    if name is not None:
        q = q.where(a.user_name == name)
    with store.engine.connect() as c:
        return [dict(r) for r in c.execute(q).mappings()]
