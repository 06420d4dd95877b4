"""The review queue's reads (web/queue.py orders the tiers): a case's items one page at a
time, by keyset, never OFFSET, so every page costs about the same wherever it is.

- `matched_page`: items with a match that counts (active, a list that detects), ordered by
  their best match: the most trusted list (lists.trust, store/listtrust.py), then the
  smallest distance, then the item id. The sort key is one integer per item,
  `(100 - trust) * KEY_SPAN + distance`, the least over its matches; the page is the items
  whose (key, id) comes after the cursor's. With a `list` filter only that list's matches
  count.
- `plain_page`: items without such a match, by id, optionally only those whose content has a
  finding that may say synthetic (`hint`: a SQL test on the stored JSON that the caller
  confirms on the rows, `confirm`), or only the given ids (a family, the families spanning
  suspects), walked in chunks until the page is full.

Filters in SQL (`QueueFilter`): source, device, suspect (store/items.py ItemFilter), list, a
finding kind, review state (an active decision with a category, or none). Every value is a
bound parameter.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, exists, func, or_, select, tuple_

from cairn.store import items as store_items
from cairn.store import schema as t
from cairn.store.store import Store

KEY_SPAN = 1_000_000  # above any distance (PDQ <= 256; vPDQ's is a frame distance)
CHUNK = 1000  # rows read per query while a filter on the rows fills a page
IDS = 500  # ids bound per query (bound parameters per statement)
STATES = ("all", "unreviewed", "reviewed")


@dataclass(frozen=True, slots=True)
class QueueFilter:
    source: str | None = None
    device: str | None = None
    suspect: str | None = None
    list: str | None = None  # matched by this list (in use)
    finding: str | None = None  # its content has a finding of this kind
    state: str = "all"  # all | unreviewed | reviewed
    ids: frozenset[int] | None = field(default=None)  # only these items (a family)


def _reviewed() -> Any:
    r = t.reviews.c
    return exists().where(r.item_id == t.items.c.id, r.status == "active",
                          r.category.is_not(None))


def _base(case_id: int, f: QueueFilter, matched: bool | None) -> Any:
    q = store_items.query(case_id, store_items.ItemFilter(
        matched=matched, source=f.source, device=f.device, suspect=f.suspect))
    if f.finding is not None:
        q = q.where(exists().where(t.findings.c.sha256 == t.items.c.sha256,
                                   t.findings.c.kind == f.finding))
    if f.state == "reviewed":
        q = q.where(_reviewed())
    elif f.state == "unreviewed":
        q = q.where(~_reviewed())
    return q


def _conditions(case_id: int, f: QueueFilter) -> list[Any]:
    """The filter as predicates on `items` and `sources` (for a query that joins both)."""
    i, s = t.items.c, t.sources.c
    out: list[Any] = [s.case_id == case_id]
    if f.source is not None:
        out.append(s.name == f.source)
    if f.device is not None or f.suspect is not None:
        d = t.devices.c
        linked = (select(t.device_sources.c.source_id)
                  .join(t.devices, d.id == t.device_sources.c.device_id)
                  .where(d.case_id == case_id))
        if f.device is not None:
            linked = linked.where(d.key == f.device)
        if f.suspect is not None:
            linked = linked.join(t.suspects, t.suspects.c.id == d.suspect_id).where(
                t.suspects.c.key == f.suspect, t.suspects.c.case_id == case_id)
        out.append(s.id.in_(linked))
    if f.finding is not None:
        out.append(exists().where(t.findings.c.sha256 == i.sha256,
                                  t.findings.c.kind == f.finding))
    if f.state == "reviewed":
        out.append(_reviewed())
    elif f.state == "unreviewed":
        out.append(~_reviewed())
    if f.ids is not None:
        out.append(i.id.in_(sorted(f.ids)))  # a family: its members
    return out


def matched_page(store: Store, case_id: int, f: QueueFilter, after: tuple[int, int] | None,
                 limit: int) -> list[dict[str, Any]]:
    """Up to `limit` + 1 matched items after `after` = (key, id), best first, each with its
    `key`, `trust` and `distance` (of its best match).

    Two reads: the page's (id, key) from the matches alone (filtered, grouped per item,
    sorted: the work grows with the case's matched items, not its items), then those items'
    rows."""
    m, lst = t.matches.c, t.lists.c
    score = func.min((100 - lst.trust) * KEY_SPAN + m.distance)
    keys = (select(m.item_id, score.label("qkey"))
            .select_from(t.matches.join(t.lists, m.list_id == lst.id)
                         .join(t.items, m.item_id == t.items.c.id)
                         .join(t.sources, t.items.c.source_id == t.sources.c.id))
            .where(m.status == "active", lst.purpose != "known-good",
                   *_conditions(case_id, f))
            .group_by(m.item_id))
    if f.list is not None:
        keys = keys.where(lst.name == f.list, lst.removed_at.is_(None))
    if after is not None:
        keys = keys.having(or_(score > after[0], and_(score == after[0],
                                                      m.item_id > after[1])))
    keys = keys.order_by(score, m.item_id).limit(limit + 1)
    with store.engine.connect() as c:
        page = c.execute(keys).all()
        by_id = {r["id"]: dict(r) for r in c.execute(
            store_items.query(case_id, store_items.ItemFilter())
            .where(t.items.c.id.in_([i for i, _ in page]))).mappings()} if page else {}
    rows = []
    for item_id, qkey in page:
        r = by_id[item_id]
        r["qkey"], r["trust"], r["distance"] = qkey, 100 - qkey // KEY_SPAN, qkey % KEY_SPAN
        rows.append(r)
    return rows


def synthetic_hint() -> Any:
    """Whether an item's content has a finding whose stored JSON may say synthetic (a
    `"synthetic": true` or a `"generator"`): narrows in SQL what the caller then confirms
    with the finding itself (cases/people.py `is_synthetic`)."""
    fd = t.findings.c
    return exists().where(fd.sha256 == t.items.c.sha256,
                          or_(fd.data.like('%"synthetic": true%'),
                              fd.data.like('%"generator": %')))


def plain_page(store: Store, case_id: int, f: QueueFilter, after: int, limit: int,
               hint: bool = False,
               confirm: Callable[[list[dict[str, Any]]], list[dict[str, Any]]] | None = None,
               ids: Sequence[int] | None = None) -> list[dict[str, Any]]:
    """Up to `limit` + 1 unmatched items with id > `after`, by id, each row's `hint` saying
    whether synthetic_hint() names it. `hint`: only those it names; `confirm`: a filter over
    each chunk of rows read; `ids`: only these (sorted) ids."""
    q = _base(case_id, f, False).add_columns(synthetic_hint().label("hint"))
    if hint:
        q = q.where(synthetic_hint())
    if f.ids is not None:
        ids = sorted(set(ids).intersection(f.ids) if ids is not None else f.ids)
    out: list[dict[str, Any]] = []
    step, rows_read = 0, 0
    with store.engine.connect() as c:
        while len(out) <= limit:
            if ids is not None:
                start = bisect.bisect_right(ids, after)
                todo = list(ids[start:start + IDS])
                if not todo:
                    break
                stmt = q.where(t.items.c.id.in_(todo)).order_by(t.items.c.id)
                rows = [dict(r) for r in c.execute(stmt).mappings()]
                after, full = todo[-1], len(todo) == IDS
            else:
                step = min(CHUNK, step * 2) if rows_read else limit + 1 + 16
                stmt = q.where(t.items.c.id > after).order_by(t.items.c.id).limit(step)
                rows = [dict(r) for r in c.execute(stmt).mappings()]
                full = len(rows) == step
                rows_read += len(rows)
                if rows:
                    after = rows[-1]["id"]
            out += confirm(rows) if confirm is not None else rows
            if not full:
                break
    out.sort(key=lambda r: r["id"])
    return out[:limit + 1]




def source_suspects(store: Store, case_id: int) -> dict[str, str]:
    """{source name: suspect id} of the case's sources on a device of a suspect."""
    s, d, sp = t.sources.c, t.devices.c, t.suspects.c
    with store.engine.connect() as c:
        return dict(c.execute(
            select(s.name, sp.key).select_from(
                t.sources.join(t.device_sources, t.device_sources.c.source_id == s.id)
                .join(t.devices, d.id == t.device_sources.c.device_id)
                .join(t.suspects, sp.id == d.suspect_id))
            .where(s.case_id == case_id).order_by(s.id)).all())


def ids_at(store: Store, case_id: int, locations: Sequence[tuple[str, str]]) -> list[int]:
    """The item ids at (source name, path) locations of the case, sorted."""
    found: set[int] = set()
    with store.engine.connect() as c:
        for k in range(0, len(locations), 200):
            found.update(c.execute(
                select(t.items.c.id).join(t.sources, t.items.c.source_id == t.sources.c.id)
                .where(t.sources.c.case_id == case_id,
                       tuple_(t.sources.c.name, t.items.c.path).in_(locations[k:k + 200])))
                .scalars())
    return sorted(found)
