"""The review queue: a case's items in priority order, one page at a time, server-side.

Priority (issue 18): matched known material first, then strong synthetic provenance, then
the rest. The queue is three tiers walked one after another, each by item id with keyset
paging (store/items.py `page`: never OFFSET, so every page costs the same wherever it is):

    tier 0  an active match against a detecting list      (SQL: the `matched` filter)
    tier 1  not matched, a finding that says synthetic    (a predicate over the rows)
    tier 2  everything else

The cursor is `<tier>.<last id>`; a page that ends a tier goes on into the next. Filters:
source, matched (yes: tier 0 only; no: tiers 1-2), review state (reviewed: an active
decision with a category; unreviewed: none).

Not yet: ordering inside tier 0 by list trust and distance, and the tier for families
spanning several suspects (both need a sort key kept per item; today a tier is by id).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from cairn.service.items import synthetic_contents
from cairn.store import Store, reviews
from cairn.store import items as store_items
from cairn.store.items import ItemFilter

TIERS = ("matched", "synthetic", "other")
STATES = ("all", "unreviewed", "reviewed")
MAX_PAGE = 200
_CURSOR = re.compile(r"([0-2])\.(\d{1,18})")


@dataclass(frozen=True, slots=True)
class QueueQuery:
    source: str | None = None
    matched: bool | None = None
    state: str = "all"
    cursor: str | None = None
    limit: int = 48


@dataclass(frozen=True, slots=True)
class QueuePage:
    items: list[dict[str, Any]]  # each with tier, synthetic, review
    next_cursor: str | None


def parse_cursor(cursor: str | None) -> tuple[int, int]:
    """(tier, last id) of a cursor this module gave; ValueError otherwise."""
    if cursor is None or cursor == "":
        return 0, 0
    m = _CURSOR.fullmatch(cursor)
    if m is None:
        raise ValueError("not a cursor this queue gave")
    return int(m.group(1)), int(m.group(2))


def page(store: Store, case_id: int, q: QueueQuery) -> QueuePage:
    tier, after = parse_cursor(q.cursor)
    tiers = [0] if q.matched is True else [1, 2] if q.matched is False else [0, 1, 2]
    synthetic = synthetic_contents(store, case_id)
    reviewed = reviews.reviewed_ids(store, case_id) if q.state != "all" else set()
    out: list[dict[str, Any]] = []
    for t in tiers:
        if t < tier:
            continue
        start = after if t == tier else 0
        need = q.limit + 1 - len(out)

        def keep(row: dict[str, Any], t: int = t) -> bool:
            if t == 1 and row["sha256"] not in synthetic:
                return False
            if t == 2 and row["sha256"] in synthetic:
                return False
            if q.state == "reviewed":
                return row["id"] in reviewed
            if q.state == "unreviewed":
                return row["id"] not in reviewed
            return True

        plain = t == 0 and q.state == "all"
        rows = store_items.page(store, case_id, ItemFilter(matched=t == 0, source=q.source),
                                start, need - 1, None if plain else keep)
        for r in rows:
            r["tier"] = t
        out += rows
        if len(out) > q.limit:
            break
    more = len(out) > q.limit
    out = out[:q.limit]
    decided = reviews.active(store, [r["id"] for r in out])
    for r in out:
        r["synthetic"] = r["sha256"] in synthetic
        d = decided.get(r["id"])
        r["review"] = d.public() if d is not None and d.category is not None else None
    last = out[-1] if out else None
    return QueuePage(out, f"{last['tier']}.{last['id']}" if more and last else None)
