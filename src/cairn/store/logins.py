"""The record of every login attempt to `cairn serve` (table `login_attempts`).

One row per `POST /login` that reached the password check or the lock (store/users.py
`check_login` writes it): the name as given (cut to 200 characters), the user it named (None
for a name that is no user), when (UTC, ISO seconds), the remote address the server saw, and
the outcome, one of OUTCOMES. Never a password. An admin reads them with `attempts` (newest
first) to see who tried which account from where.

Kept for RETENTION_S (90 days, as an operator keeps an auth log), then pruned as attempts are
written: each `record` deletes at most PRUNE_BATCH of the oldest rows past it, found by the
primary key (rows are written in time order), so a login pays for a short index scan, never a
table scan, and a flood of attempts cannot grow the table without bound. `prune` with a
shorter `keep_s` (`cairn users prune-logins --older-than`) empties it further, never below
the lockout window (KEEP_MIN_S: the attempts behind a lock still in force).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, insert, select

from cairn.store import Store
from cairn.store import schema as t

OUTCOMES = ("ok", "wrong_password", "locked", "disabled", "unknown_user")
NAME_MAX, REMOTE_MAX = 200, 64
RETENTION_S = 90 * 86_400
KEEP_MIN_S = 15 * 60  # store/accounts.py MAX_LOCK_S: the longest lock an attempt earns
PRUNE_BATCH = 100  # per attempt written: ~100x the rate any login flood can add rows


def record(c: Connection, name: str, user_id: int | None, at: str, remote: str | None,
           outcome: str) -> None:
    """Add one attempt, on the caller's connection (in its transaction)."""
    if outcome not in OUTCOMES:
        raise ValueError(f"login outcome {outcome!r}: one of {', '.join(OUTCOMES)}")
    c.execute(insert(t.login_attempts).values(
        user_name=name[:NAME_MAX], user_id=user_id, at=at,
        remote=remote[:REMOTE_MAX] if remote else None, outcome=outcome))
    prune(c, at)


def prune(c: Connection, now: str, keep_s: int = RETENTION_S, limit: int = PRUNE_BATCH) -> int:
    """Delete up to `limit` of the oldest attempts made more than `keep_s` seconds before
    `now` (ISO time) on connection `c`; returns how many. Reads the oldest `limit` rows by
    primary key and stops at the first one still kept: no scan of the whole table."""
    if keep_s < KEEP_MIN_S:
        raise ValueError(f"login attempts are kept at least {KEEP_MIN_S} s (the longest "
                         "lockout); not pruned")
    cutoff = _time(now) - timedelta(seconds=keep_s)
    a = t.login_attempts.c
    ids = []
    for id_, at in c.execute(select(a.id, a.at).order_by(a.id).limit(limit)):
        if _time(at) >= cutoff:
            break
        ids.append(id_)
    if ids:
        c.execute(delete(t.login_attempts).where(a.id.in_(ids)))
    return len(ids)


def prune_all(store: Store, keep_s: int) -> int:
    """`prune` until nothing older than `keep_s` is left, in batches of 1,000; how many."""
    now = datetime.now(UTC).isoformat(timespec="seconds")
    total = 0
    while True:
        with store.engine.begin() as c:
            n = prune(c, now, keep_s, 1000)
        total += n
        if n < 1000:
            return total


def _time(iso: str) -> datetime:
    dt = datetime.fromisoformat(iso)
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def attempts(store: Store, name: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """The latest attempts (all names, or one), newest first."""
    a = t.login_attempts.c
    q = (select(a.user_name, a.at, a.remote, a.outcome).order_by(a.id.desc())
         .limit(limit))
    if name is not None:
        q = q.where(a.user_name == name)
    with store.engine.connect() as c:
        return [dict(r) for r in c.execute(q).mappings()]
