"""What every repository of the store shares: its errors, the time it writes, the key of a row
just inserted, and `Repository`, the base each area's repository (cases, runs, records,
matches, lists) is built on: the store's engine, its custody log, one store behind them all.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine
from sqlalchemy.engine import CursorResult

if TYPE_CHECKING:
    from cairn.store.store import Store


class StoreError(Exception):
    pass


class SourceNameTaken(StoreError):
    """A second, different location given a source name the case already uses."""


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def inserted_id(result: CursorResult[Any]) -> int:
    """The key of the row a single-row insert made. SQLAlchemy types `inserted_primary_key`
    as optional: None only when a statement inserted no row, which a single-row insert always
    does; should it ever happen, this says so instead of failing on `None[0]`."""
    key = result.inserted_primary_key
    if key is None:
        raise RuntimeError("the insert made no row")
    return key[0]


class Repository:
    """One area of the store, reached from it (`store.cases`, `store.lists`, ...): its
    reads and changes over the store's engine, each change logged in the store's custody
    log in the change's own transaction (`store.log_change`)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    @property
    def engine(self) -> Engine:
        return self.store.engine

    def log(self, c: Connection, chain: str, action: str, subject: str, details: dict,
            case_id: int | None = None) -> dict:
        """One custody entry for a change of this area, in the change's transaction `c`."""
        return self.store.log_change(c, chain, action, subject, details, case_id)
