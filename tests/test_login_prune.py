"""login_attempts is pruned: 90 days kept, the oldest past that deleted as attempts are
written (a bounded batch each), `cairn users prune-logins` for a shorter record, never
shorter than the lockout window. SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, select

from cairn.store import logins, users
from cairn.store import schema as t
from inprocess import run
from serve_fixtures import PASSWORD, add_user, open_store


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="seconds")


def _seed(store: object, ages_days: list[float]) -> None:
    """Attempts of user-0099 made `ages_days` ago, in that (id) order."""
    now = datetime.now(UTC)
    with store.engine.begin() as c:  # type: ignore[attr-defined]
        c.execute(insert(t.login_attempts), [
            {"user_name": "user-0099", "user_id": None, "at": _iso(now - timedelta(days=d)),
             "remote": "192.0.2.9", "outcome": "unknown_user"} for d in ages_days])


def _ages(store: object) -> list[str]:
    with store.engine.connect() as c:  # type: ignore[attr-defined]
        return [r[0] for r in c.execute(select(t.login_attempts.c.user_name)
                                        .order_by(t.login_attempts.c.id))]


def test_each_attempt_prunes_a_bounded_batch_of_expired_ones(home: Path) -> None:
    add_user(home, "user-0042", "reviewer")
    store = open_store(home)
    try:
        # 250 past the 90 days, then 3 inside them (one a minute short of the edge)
        _seed(store, [200.0] * 250 + [90 - 1 / 1440, 30.0, 1.0])
        assert len(_ages(store)) == 253
        unknown = users.Backoff()
        assert users.check_login(store, "user-0042", PASSWORD, unknown, "192.0.2.7").user
        assert len(_ages(store)) == 253 - logins.PRUNE_BATCH + 1  # at most a batch each
        users.check_login(store, "user-0042", "wrong password!", unknown)
        users.check_login(store, "user-0077", PASSWORD, unknown)  # an unknown name too
        left = logins.attempts(store, limit=1000)
        assert len(left) == 3 + 3  # the 250 expired are gone, in three writes
        assert [a["outcome"] for a in left[:3]] == ["unknown_user", "wrong_password", "ok"]
        assert all(a["user_name"] == "user-0099" for a in left[3:])
        assert min(a["at"] for a in left) > _iso(datetime.now(UTC) - timedelta(days=90))
    finally:
        store.close()


def test_prune_logins_command_and_its_floor(home: Path) -> None:
    add_user(home, "user-0042", "reviewer")
    store = open_store(home)
    try:
        _seed(store, [40.0] * 1500 + [10.0, 0.5, 0.0])
        # floor: the attempts behind a lock still in force are kept
        assert logins.KEEP_MIN_S == users.MAX_LOCK_S
        out = run(home, "users", "prune-logins", "--older-than", "5m", ok=(1, 2))
        assert "at least 15m" in out
        out = run(home, "users", "prune-logins", "--older-than", "thirty", ok=(1, 2))
        assert "a number and d, h or m" in out
        assert len(_ages(store)) == 1503  # refused: nothing deleted
        got = json.loads(run(home, "users", "prune-logins", "--older-than", "30d", "--json"))
        assert got == {"deleted": 1500, "older_than_s": 30 * 86_400}  # more than one batch
        assert len(_ages(store)) == 3
        assert "1 login attempts older than 1d deleted" in run(
            home, "users", "prune-logins", "--older-than", "1d")
        ats = sorted(a["at"] for a in logins.attempts(store))
        assert len(ats) == 2 and ats[0] > _iso(datetime.now(UTC) - timedelta(days=1))
    finally:
        store.close()
