"""The repository of review decisions: a reviewer's category for an item, under a scheme.

Decisions are never deleted or edited (DESIGN.md: reviews change status): recording one on an
item supersedes the item's active decision and inserts the new one as `active`; an undo is a
new decision that restores the category of the decision before the active one (or none: the
item is to review again, `category` NULL). Every decision is one custody entry
`review.recorded` in the case's chain, written in the same transaction as the rows, naming
the user who decided (the entry's examiner is the server's). Which schemes and categories
exist is the caller's to check (web/schemes.toml); this module stores what it is given.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from cairn.store import custody
from cairn.store import schema as t
from cairn.store.common import StoreError, inserted_id
from cairn.store.custody import case_chain
from cairn.store.store import Store
from cairn.store.users import store_now

RECORDED = "review.recorded"
ACTIVE, SUPERSEDED = "active", "superseded"


class ReviewError(StoreError):
    """An item that is not in the case, or nothing to undo."""


@dataclass(frozen=True, slots=True)
class Review:
    id: int
    item_id: int
    user: str
    scheme: str
    category: str | None  # None: no category (undone back to "to review")
    created_at: str

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "item": self.item_id, "user": self.user, "scheme": self.scheme,
                "category": self.category, "created_at": self.created_at}


def _row(r: Any) -> Review:
    return Review(r["id"], r["item_id"], r["user"], r["scheme"], r["category"],
                  r["created_at"])


def _in_case(c: Connection, case_id: int, item_ids: list[int]) -> set[int]:
    found: set[int] = set()
    for i in range(0, len(item_ids), 500):  # bound parameters per query
        found.update(c.execute(select(t.items.c.id).join(t.sources).where(
            t.sources.c.case_id == case_id, t.items.c.id.in_(item_ids[i:i + 500]))).scalars())
    return found


def _decide(store: Store, c: Connection, case_id: int, item_id: int, user: str, scheme: str,
            category: str | None, undoes: int | None, via: str) -> Review:
    r = t.reviews.c
    previous = c.execute(update(t.reviews).where(r.item_id == item_id, r.status == ACTIVE)
                         .values(status=SUPERSEDED).returning(r.id, r.category)).first()
    now = store_now()
    new_id = inserted_id(c.execute(insert(t.reviews).values(
        item_id=item_id, case_id=case_id, user=user, scheme=scheme, category=category,
        created_at=now, status=ACTIVE, undoes=undoes)))
    custody.append(c, store.actor, case_chain(case_id), RECORDED, f"item:{item_id}",
                   {"item": item_id, "scheme": scheme, "category": category, "by": user,
                    "via": via, "review": new_id, "undoes": undoes,
                    "supersedes": previous[0] if previous else None}, case_id)
    return Review(new_id, item_id, user, scheme, category, now)


def record(store: Store, case_id: int, item_ids: Iterable[int], user: str, scheme: str,
           category: str, via: str = "session") -> list[Review]:
    """One decision per item (a selection, a page, a family: all or none, one transaction).
    ReviewError when an item is not in the case."""
    ids = sorted(set(item_ids))
    with store.engine.begin() as c:
        missing = set(ids) - _in_case(c, case_id, ids)
        if missing:
            raise ReviewError(f"no item {min(missing)} in this case")
        return [_decide(store, c, case_id, i, user, scheme, category, None, via)
                for i in ids]


def undo(store: Store, case_id: int, item_id: int, user: str, via: str = "session"
         ) -> Review:
    """Take back the item's active decision: a new decision restoring the one it replaced
    (its scheme and category), or none. Undos stack: the decisions are replayed oldest first,
    each undo popping the decision it took back. ReviewError when there is nothing to undo."""
    r = t.reviews.c
    with store.engine.begin() as c:
        if not _in_case(c, case_id, [item_id]):
            raise ReviewError(f"no item {item_id} in this case")
        stack: list[Any] = []
        for row in c.execute(select(t.reviews).where(r.item_id == item_id)
                             .order_by(r.id)).mappings():
            if row["undoes"] is None:
                stack.append(row)
            elif stack:
                stack.pop()
        if not stack:
            raise ReviewError(f"item {item_id} has no decision to undo")
        taken = stack.pop()
        before = stack[-1] if stack else None
        return _decide(store, c, case_id, item_id, user,
                       before["scheme"] if before else taken["scheme"],
                       before["category"] if before else None, taken["id"], via)


def active(store: Store, item_ids: Iterable[int]) -> dict[int, Review]:
    """The active decision of each of `item_ids` that has one."""
    ids = sorted(set(item_ids))
    r = t.reviews.c
    out: dict[int, Review] = {}
    with store.engine.connect() as c:
        for i in range(0, len(ids), 500):
            for row in c.execute(select(t.reviews).where(
                    r.item_id.in_(ids[i:i + 500]), r.status == ACTIVE)).mappings():
                out[row["item_id"]] = _row(row)
    return out


def case_active(store: Store, case_id: int) -> dict[int, Review]:
    """The active decision with a category of every item of the case that has one (what
    reports and exports carry), in one read."""
    r = t.reviews.c
    with store.engine.connect() as c:
        return {row["item_id"]: _row(row) for row in c.execute(select(t.reviews).where(
            r.case_id == case_id, r.status == ACTIVE, r.category.is_not(None))
            .order_by(r.item_id)).mappings()}


def reviewed_ids(store: Store, case_id: int) -> set[int]:
    """Items of the case whose active decision has a category."""
    r = t.reviews.c
    with store.engine.connect() as c:
        return set(c.execute(select(r.item_id).where(
            r.case_id == case_id, r.status == ACTIVE, r.category.is_not(None))).scalars())


def history(store: Store, item_id: int) -> list[Review]:
    """Every decision on an item, oldest first (the active one last)."""
    with store.engine.connect() as c:
        return [_row(row) for row in c.execute(select(t.reviews).where(
            t.reviews.c.item_id == item_id).order_by(t.reviews.c.id)).mappings()]


def progress(store: Store, case_id: int) -> dict[str, Any]:
    """Active decisions of a case counted per (scheme, category)."""
    r = t.reviews.c
    with store.engine.connect() as c:
        rows = c.execute(select(r.scheme, r.category, func.count()).where(
            r.case_id == case_id, r.status == ACTIVE, r.category.is_not(None))
            .group_by(r.scheme, r.category).order_by(r.scheme, r.category)).all()
    return {"reviewed": sum(n for _, _, n in rows),
            "by_category": [{"scheme": s, "category": cat, "items": n} for s, cat, n in rows]}
