"""Who may use `cairn serve`: users and their passwords, the login back-off, per-case
grants, and the access policy every principal is checked against (store/users.py gathers
this module, store/tokens.py and store/sessions.py under one name).

Secrets are never stored: passwords as argon2id PHC strings (argon2-cffi's defaults, RFC 9106's
low-memory profile: t=3, m=64 MiB, p=4); API tokens and session ids as their SHA-256
(store/tokens.py, store/sessions.py).

Policy: a principal's capabilities are its role's intersected with its token's scope (a
browser session carries the whole role). Scopes nest, lookup < read < write; `review` (post a
review decision), `custody` (read custody logs) and `admin` (manage users) come with the
roles that have them:

    role      lookup read write review custody admin      cases
    admin       x     x    x     x      x      x          all
    examiner    x     x    x     x      x                 granted
    reviewer    x     x          x                        granted
    auditor                             x                 all (custody only)

A `lookup` token gives `lookup`; `read` adds `read` and `custody`; `write` gives everything the
role has. A token whose scope gives its user's role nothing (an auditor's `lookup` token) is
refused when created.

Login back-off: the first FREE_FAILURES - 1 wrong passwords cost nothing; the FREE_FAILURES-th
and every later one lock the account for 2, 4, 8 ... seconds, at most MAX_LOCK_S; while locked,
a password is not even checked. The count and the lock are claimed in one UPDATE ... RETURNING
before the password is checked (`check_login`): concurrent attempts cannot race past a lock.
Every attempt is recorded (store/logins.py: name, time, remote address, outcome). Names that
are no user get the same schedule, kept in process
(`Backoff`), so the answers (401, then 429 with Retry-After) never say whether a user exists.
(With `cairn serve --workers N` each process keeps its own: an unknown name may take up to N
times the tries to lock, which only someone who can tell the processes apart could see.)

Every change is one custody entry in the same transaction: user and token changes and lockouts
in the `users` chain, grants in the case's own chain. `by` names the acting user when the
change comes through the HTTP API (the entry's examiner is then the server's).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, case, func, insert, or_, select, update

from cairn.store import custody, logins
from cairn.store import schema as t
from cairn.store.common import StoreError
from cairn.store.custody import case_chain
from cairn.store.store import Store

USERS_CHAIN = "users"
ROLES = ("admin", "examiner", "reviewer", "auditor")
SCOPES = ("lookup", "read", "write")  # token scopes, nested in this order
CAPABILITIES = ("lookup", "read", "write", "review", "custody", "admin")
ROLE_CAPS: dict[str, frozenset[str]] = {
    "admin": frozenset(CAPABILITIES),
    "examiner": frozenset({"lookup", "read", "write", "review", "custody"}),
    "reviewer": frozenset({"lookup", "read", "review"}),
    "auditor": frozenset({"custody"}),
}
SCOPE_CAPS: dict[str, frozenset[str]] = {
    "lookup": frozenset({"lookup"}),
    "read": frozenset({"lookup", "read", "custody"}),
    "write": frozenset(CAPABILITIES),
}
ALL_CASES_ROLES = ("admin", "auditor")  # the others see the cases granted to them

MIN_PASSWORD, MAX_PASSWORD = 12, 1024  # argon2 takes any length; a cap bounds the work
FREE_FAILURES = 5
MAX_LOCK_S = 15 * 60
_NAME = re.compile(r"[A-Za-z0-9._@-]{1,64}")  # what custody names an examiner with

hasher = PasswordHasher()  # argon2id, RFC 9106 low-memory parameters
_dummy_hash: str | None = None  # verified against for unknown names: the same time is spent


class UserError(StoreError):
    """A refused change or an unknown name; the message names the value."""


@dataclass(frozen=True)
class User:
    id: int
    name: str
    role: str
    created_at: str
    disabled_at: str | None
    failed_logins: int
    locked_until: str | None

    @property
    def disabled(self) -> bool:
        return self.disabled_at is not None

    def public(self) -> dict[str, Any]:
        return {"name": self.name, "role": self.role, "created_at": self.created_at,
                "disabled_at": self.disabled_at, "failed_logins": self.failed_logins,
                "locked_until": self.locked_until}


@dataclass(frozen=True)
class Principal:
    """Who a request acts as, and what it may do."""

    user_id: int
    name: str
    role: str
    capabilities: frozenset[str]
    via: str  # token | session
    token_id: int | None = None
    session_id: int | None = None
    csrf_sha256: str | None = None  # a session's; None for a token (no ambient credential)
    blur: int = 3  # a session's blur level, read with it (store/exposure.py; a token: strong)

    def can(self, capability: str) -> bool:
        return capability in self.capabilities

    @property
    def all_cases(self) -> bool:
        return self.role in ALL_CASES_ROLES


@dataclass(frozen=True)
class Login:
    """A login attempt's outcome: `user` when the password was right; `retry_after` > 0
    when locked (the password was not checked)."""

    user: User | None
    retry_after: int = 0


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="seconds")


def parse_time(iso: str) -> datetime:
    dt = datetime.fromisoformat(iso)
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def store_now() -> str:
    return iso(utcnow())


def sha256_text(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise UserError(f"user name {name!r}: 1 to 64 letters, digits and . _ @ -")
    return name


def check_role(role: str) -> str:
    if role not in ROLES:
        raise UserError(f"role {role!r}: one of {', '.join(ROLES)}")
    return role


def check_password(password: str) -> str:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise UserError(f"a password needs {MIN_PASSWORD} to {MAX_PASSWORD} characters "
                        f"(this one has {len(password)})")
    return password


def log_change(store: Store, c: Connection, action: str, subject: str, details: dict,
         by: str | None, case_id: int | None = None) -> None:
    if by is not None:
        details = details | {"by": by}
    chain = case_chain(case_id) if case_id is not None else USERS_CHAIN
    custody.append(c, store.actor, chain, action, subject, details, case_id)


# -- users ------------------------------------------------------------------------------------
def _user_row(r: Any) -> User:
    return User(r["id"], r["name"], r["role"], r["created_at"], r["disabled_at"],
                r["failed_logins"] or 0, r["locked_until"])


def need_user(c: Connection, name: str) -> User:
    r = c.execute(select(t.users).where(t.users.c.name == name)).mappings().first()
    if r is None:
        raise UserError(f"no user named {name!r}; `cairn users list` lists them")
    return _user_row(r)


def new_password() -> str:
    return secrets.token_urlsafe(18)  # 24 characters, 144 bits


def add_user(store: Store, name: str, role: str, password: str | None = None,
             by: str | None = None) -> tuple[User, str]:
    """A new user; returns it and its password (generated when not given: shown once)."""
    check_name(name)
    check_role(role)
    password = check_password(password) if password is not None else new_password()
    hashed = hasher.hash(password)
    with store.engine.begin() as c:
        if c.execute(select(t.users.c.id).where(t.users.c.name == name)).first():
            raise UserError(f"a user named {name!r} exists")
        c.execute(insert(t.users).values(name=name, role=role, password_hash=hashed,
                                         created_at=store_now(), failed_logins=0))
        log_change(store, c, "user.added", f"user:{name}", {"user": name, "role": role}, by)
        return need_user(c, name), password


def users(store: Store) -> list[User]:
    with store.engine.connect() as c:
        return [_user_row(r) for r in c.execute(select(t.users).order_by(t.users.c.name))
                .mappings()]


def user(store: Store, name: str) -> User:
    with store.engine.connect() as c:
        return need_user(c, name)


def set_disabled(store: Store, name: str, disabled: bool, by: str | None = None) -> User:
    """Disable (its tokens and sessions stop working at once; its sessions end) or enable."""
    with store.engine.begin() as c:
        u = need_user(c, name)
        if u.disabled == disabled:
            raise UserError(f"user {name!r} is already {'disabled' if disabled else 'enabled'}")
        when = store_now() if disabled else None
        c.execute(update(t.users).where(t.users.c.id == u.id).values(disabled_at=when))
        ended = end_sessions(c, u.id) if disabled else 0
        log_change(store, c, "user.disabled" if disabled else "user.enabled", f"user:{name}",
             {"user": name, "sessions_ended": ended} if disabled else {"user": name}, by)
        return need_user(c, name)


def reset_password(store: Store, name: str, password: str | None = None,
                   by: str | None = None) -> str:
    """A new password (generated when not given); clears the back-off and ends the user's
    browser sessions (tokens stay: revoke them apart)."""
    password = check_password(password) if password is not None else new_password()
    hashed = hasher.hash(password)
    with store.engine.begin() as c:
        u = need_user(c, name)
        c.execute(update(t.users).where(t.users.c.id == u.id).values(
            password_hash=hashed, failed_logins=0, locked_until=None))
        ended = end_sessions(c, u.id)
        log_change(store, c, "user.password_reset", f"user:{name}",
             {"user": name, "sessions_ended": ended}, by)
    return password


def lock_seconds(failures: int) -> int:
    """2, 4, 8 ... seconds from the FREE_FAILURES-th failure on, at most MAX_LOCK_S."""
    if failures < FREE_FAILURES:
        return 0
    return min(MAX_LOCK_S, 2 ** min(20, failures - FREE_FAILURES + 1))


class Backoff:
    """The back-off of names that are no user, in process and bounded (the oldest name is
    forgotten first): an unknown name locks exactly as a user would."""

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._names: OrderedDict[str, tuple[int, datetime | None]] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after(self, name: str) -> int:
        with self._lock:
            _, until = self._names.get(name, (0, None))
        return _remaining(until)

    def failed(self, name: str) -> None:
        with self._lock:
            failures, _ = self._names.pop(name, (0, None))
            failures += 1
            lock = lock_seconds(failures)
            self._names[name] = (failures,
                                 utcnow() + timedelta(seconds=lock) if lock else None)
            while len(self._names) > self.size:
                self._names.popitem(last=False)


def _remaining(until: datetime | None) -> int:
    if until is None:
        return 0
    left = (until - utcnow()).total_seconds()
    return max(0, int(left) + (left % 1 > 0))  # rounded up: Retry-After is whole seconds


def _claim_values(now: datetime) -> dict[str, Any]:
    """The SET of a login's claim: one more failure counted, and the lock that failure earns
    (a CASE over the count, so the count and its lock are written in one statement)."""
    failures = t.users.c.failed_logins + 1
    whens = []
    n = FREE_FAILURES
    while (lock := lock_seconds(n)) < MAX_LOCK_S:
        whens.append((failures == n, iso(now + timedelta(seconds=lock))))
        n += 1
    earned = case(*whens, else_=iso(now + timedelta(seconds=MAX_LOCK_S)))
    return {"failed_logins": failures,
            "locked_until": case((failures < FREE_FAILURES, None), else_=earned)}


def check_login(store: Store, name: str, password: str, unknown: Backoff,
                remote: str | None = None) -> Login:
    """Check a password with back-off bookkeeping, and record the attempt (store/logins.py,
    `remote`: the address the request came from).

    Atomic: before the password is checked, one UPDATE ... RETURNING claims the attempt
    (only while the account is not locked) and counts it as a failure together with the lock
    that failure would earn; a right password then clears both. So concurrent attempts are
    each counted, and none of them gets its password checked once another has locked the
    account: there is no read of the count and the lock followed by a write that another
    request could slip between. A disabled user's attempt, right or wrong, is a failure."""
    global _dummy_hash
    u_ = t.users.c
    now = utcnow()
    with store.engine.begin() as c:
        row = c.execute(update(t.users)
                        .where(u_.name == name, or_(u_.locked_until.is_(None),
                                                     u_.locked_until <= iso(now)))
                        .values(**_claim_values(now))
                        .returning(u_.id, u_.failed_logins, u_.locked_until,
                                   u_.password_hash, u_.disabled_at)).mappings().first()
        if row is None:
            uid = c.execute(select(u_.id).where(u_.name == name)).scalar()
            if uid is not None:  # a user, locked: the password is not checked
                until = c.execute(select(u_.locked_until).where(u_.id == uid)).scalar()
                logins.record(c, name, uid, iso(now), remote, "locked")
                return Login(None, max(1, _remaining(parse_time(until)) if until else 1))
    if row is None:
        if (left := unknown.retry_after(name)):
            result = Login(None, left)
        else:
            if _dummy_hash is None:
                _dummy_hash = hasher.hash(secrets.token_urlsafe(18))
            _verify(_dummy_hash, password)
            unknown.failed(name)
            result = Login(None)
        with store.engine.begin() as c:
            logins.record(c, name, None, iso(now), remote, "unknown_user")
        return result
    ok = _verify(row["password_hash"], password)
    with store.engine.begin() as c:
        if ok and row["disabled_at"] is None:
            values: dict[str, Any] = {"failed_logins": 0, "locked_until": None}
            if hasher.check_needs_rehash(row["password_hash"]):
                values["password_hash"] = hasher.hash(password)
            c.execute(update(t.users).where(u_.id == row["id"]).values(**values))
            logins.record(c, name, row["id"], iso(now), remote, "ok")
            return Login(need_user(c, name))
        failures = row["failed_logins"]
        logins.record(c, name, row["id"], iso(now), remote,
                      "disabled" if row["disabled_at"] is not None else "wrong_password")
        if (lock := lock_seconds(failures)):
            log_change(store, c, "user.locked", f"user:{name}",
                 {"user": name, "failures": failures, "locked_for_s": lock,
                  "until": row["locked_until"]}, None)
    return Login(None)


def _verify(hashed: str, password: str) -> bool:
    if len(password) > MAX_PASSWORD:
        return False
    try:
        return hasher.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False


def end_sessions(c: Connection, user_id: int) -> int:
    return c.execute(update(t.web_sessions).where(
        t.web_sessions.c.user_id == user_id, t.web_sessions.c.ended_at.is_(None))
        .values(ended_at=store_now())).rowcount


# -- case grants ------------------------------------------------------------------------------
def _live_case(c: Connection, case_id: int) -> str:
    row = c.execute(select(t.cases.c.name, t.case_states.c.status)
                    .outerjoin(t.case_states, t.case_states.c.case_id == t.cases.c.id)
                    .where(t.cases.c.id == case_id)).first()
    if row is None or row[1] == "deleted":
        raise UserError(f"no case with id {case_id}")
    return row[0]


def grant_case(store: Store, case_id: int, user_name: str, by: str | None = None) -> dict:
    """Let an examiner or reviewer see a case (admins and auditors see every case)."""
    with store.engine.begin() as c:
        case = _live_case(c, case_id)
        u = need_user(c, user_name)
        if u.role in ALL_CASES_ROLES:
            raise UserError(f"user {user_name!r} is an {u.role}, who sees every case: a "
                            "grant changes nothing")
        g = t.case_grants.c
        if c.execute(select(g.id).where(g.case_id == case_id, g.user_id == u.id)).first():
            raise UserError(f"case {case!r} is already granted to {user_name!r}")
        c.execute(insert(t.case_grants).values(case_id=case_id, user_id=u.id,
                                               granted_at=store_now()))
        log_change(store, c, "case.granted", f"user:{user_name}",
             {"case": case, "user": user_name, "role": u.role}, by, case_id)
    return {"case": case, "user": user_name, "status": "granted"}


def revoke_case(store: Store, case_id: int, user_name: str, by: str | None = None) -> dict:
    with store.engine.begin() as c:
        case = _live_case(c, case_id)
        u = need_user(c, user_name)
        g = t.case_grants.c
        if not c.execute(t.case_grants.delete().where(
                g.case_id == case_id, g.user_id == u.id)).rowcount:
            raise UserError(f"case {case!r} is not granted to {user_name!r}")
        log_change(store, c, "case.grant_revoked", f"user:{user_name}",
             {"case": case, "user": user_name}, by, case_id)
    return {"case": case, "user": user_name, "status": "revoked"}


def grants(store: Store, case_id: int | None = None, user_name: str | None = None
           ) -> list[dict]:
    g = t.case_grants.c
    q = (select(t.cases.c.name.label("case"), t.users.c.name.label("user"), t.users.c.role,
                g.granted_at)
         .join(t.cases, t.cases.c.id == g.case_id).join(t.users, t.users.c.id == g.user_id)
         .order_by(t.cases.c.name, t.users.c.name))
    if case_id is not None:
        q = q.where(g.case_id == case_id)
    if user_name is not None:
        q = q.where(t.users.c.name == user_name)
    with store.engine.connect() as c:
        return [dict(r) for r in c.execute(q).mappings()]


def _visible(who: User | Principal, *columns: Any) -> Any:
    uid = who.id if isinstance(who, User) else who.user_id
    st = t.case_states.c
    q = (select(*columns).outerjoin(t.case_states, st.case_id == t.cases.c.id)
         .where(func.coalesce(st.status, "open") != "deleted"))
    if who.role not in ALL_CASES_ROLES:
        q = q.join(t.case_grants, t.case_grants.c.case_id == t.cases.c.id).where(
            t.case_grants.c.user_id == uid)
    return q


def visible_case_ids(store: Store, who: User | Principal) -> frozenset[int]:
    """The cases a user may see: every case (not deleted) for admins and auditors, the
    granted ones for the others."""
    with store.engine.connect() as c:
        return frozenset(c.execute(_visible(who, t.cases.c.id)).scalars())


def visible_case_names(store: Store, who: User | Principal) -> list[str]:
    with store.engine.connect() as c:
        return list(c.execute(_visible(who, t.cases.c.name).order_by(t.cases.c.name))
                    .scalars())


def case_visible(store: Store, who: User | Principal, case_name: str) -> int | None:
    """The id of case `case_name` if `who` may see it; None alike for no such case, a
    deleted one and one not granted (a caller answers all three the same)."""
    with store.engine.connect() as c:
        return c.execute(_visible(who, t.cases.c.id).where(t.cases.c.name == case_name)
                         ).scalar()
