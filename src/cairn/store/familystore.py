"""A case's trace families kept in the store per state of the case, and the claim of the
process computing them (service/families.py decides when; this module only reads and
writes rows).

- `load` / `save`: the families (a JSON document, zlib-compressed) with the state they were
  computed at; one row per case, replaced by the next state's.
- `claim` / `release`: a row keyed by (case, SHA-256 of the state); the first insert wins
  (the primary key refuses a second), so two server workers never compute the same state:
  the loser waits for `load` to give it. A claim older than CLAIM_TTL is taken over (the
  process that made it died); the owner's own claim is its again.

Derived data, not evidence: no custody entry.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
import zlib
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from cairn.store import schema as t
from cairn.store.store import Store

CLAIM_TTL = 180.0  # seconds without a heartbeat (`refresh`) after which a claim is stale
HEARTBEAT = 30.0  # seconds between a computing process's refreshes of its claim


def owner_id(tag: str = "") -> str:
    """This process (host and pid), with `tag` to tell apart handles of one process."""
    return f"{socket.gethostname()}:{os.getpid()}{':' + tag if tag else ''}"[:200]


def state_key(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


def load(store: Store, case_id: int, state: str) -> dict[str, Any] | None:
    """The families kept for the case at `state`, or None (none kept, another state's, or
    damaged: then computed again)."""
    f = t.case_families.c
    with store.engine.connect() as c:  # the blob only when it is this state's
        blob = c.execute(select(f.data).where(f.case_id == case_id, f.state == state)
                         ).scalar()
    if blob is None:
        return None
    try:
        doc = json.loads(zlib.decompress(bytes(blob)))
    except (zlib.error, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def kept_state(store: Store, case_id: int) -> str | None:
    """The state the kept families were computed at, or None."""
    with store.engine.connect() as c:
        return c.execute(select(t.case_families.c.state)
                         .where(t.case_families.c.case_id == case_id)).scalar()


def save(store: Store, case_id: int, state: str, doc: dict[str, Any]) -> None:
    """Keep `doc` as the case's families at `state` (replacing what was kept)."""
    blob = zlib.compress(json.dumps(doc, separators=(",", ":")).encode(), 6)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    with store.engine.begin() as c:
        c.execute(delete(t.case_families).where(t.case_families.c.case_id == case_id))
        c.execute(insert(t.case_families).values(case_id=case_id, state=state, data=blob,
                                                 computed_at=now))


def claim(store: Store, case_id: int, state: str, owner: str,
          now: float | None = None) -> bool:
    """Whether `owner` may compute the case's families at `state`: it inserted the claim,
    held it already, or took over one older than CLAIM_TTL. False: another process is
    computing them (wait for `load`)."""
    now = time.time() if now is None else now
    key = state_key(state)
    fc = t.family_claims.c
    try:
        with store.engine.begin() as c:
            c.execute(insert(t.family_claims).values(case_id=case_id, state_key=key,
                                                     owner=owner, claimed_at=now))
        return True
    except IntegrityError:
        pass
    with store.engine.begin() as c:  # held: ours, or stale (taken over by one process only)
        took = c.execute(update(t.family_claims)
                         .where(fc.case_id == case_id, fc.state_key == key,
                                (fc.owner == owner) | (fc.claimed_at < now - CLAIM_TTL))
                         .values(owner=owner, claimed_at=now)).rowcount
    return bool(took)


def refresh(store: Store, case_id: int, state: str, owner: str) -> bool:
    """The computing process is alive: its claim's time is now (False: it lost it)."""
    fc = t.family_claims.c
    with store.engine.begin() as c:
        return bool(c.execute(update(t.family_claims).where(
            fc.case_id == case_id, fc.state_key == state_key(state), fc.owner == owner)
            .values(claimed_at=time.time())).rowcount)


def claimed_by(store: Store, case_id: int, state: str) -> tuple[str, float] | None:
    """(owner, claimed at) of the claim on the case at `state`, or None."""
    fc = t.family_claims.c
    with store.engine.connect() as c:
        row = c.execute(select(fc.owner, fc.claimed_at).where(
            fc.case_id == case_id, fc.state_key == state_key(state))).first()
    return (str(row[0]), float(row[1])) if row is not None else None


def release(store: Store, case_id: int, state: str, owner: str) -> None:
    """Drop `owner`'s claim (done, or failed: another may try), and the case's claims on
    other states (finished or abandoned)."""
    fc = t.family_claims.c
    with store.engine.begin() as c:
        c.execute(delete(t.family_claims).where(
            fc.case_id == case_id, fc.state_key == state_key(state), fc.owner == owner))
        c.execute(delete(t.family_claims).where(
            fc.case_id == case_id, fc.state_key != state_key(state),
            fc.claimed_at < time.time() - CLAIM_TTL))
