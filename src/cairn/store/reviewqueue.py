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

import array
import bisect
import sys
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, delete, exists, func, insert, literal_column, or_, select, tuple_

from cairn.store import schema as t
from cairn.store.items import row_select
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
    return _any(r.item_id == t.items.c.id, r.status == "active", r.category.is_not(None))


def _any(*where: Any) -> Any:
    """Whether a row of the correlated select `where` exists, tested on each row walked:
    a scalar `(SELECT 1 ... LIMIT 1)`, where an EXISTS would let PostgreSQL drive the query
    from the other table (a semi-join over every finding of the kind, then a sort by item
    id; with two such tests on findings its estimates made a nested loop of them: 200,000
    items, `finding=generator`, 53 s a page) or hash every matching row of that table on
    each page (150 ms at 200,000 items, growing with the case)."""
    return select(literal_column("1")).where(*where).limit(1).scalar_subquery()


@contextmanager
def _connect(store: Store) -> Iterator[Any]:
    """A connection for the queue's reads. On PostgreSQL without JIT compilation: a walk's
    plan is costed for the whole table (the LIMIT stops it after a page), and compiling
    that plan took 1.9 s of a 2.0 s page at 200,000 items."""
    with store.engine.connect() as c:
        if c.dialect.name == "postgresql":
            c.exec_driver_sql("SET LOCAL jit = off")
        yield c


def _items_sources() -> Any:
    """items joined to their sources so that an item is reached by its id, never through
    its source: `source_id + 0` keeps SQLite's planner off the (source_id, ...) index,
    which would read every item of the case and sort them for a page of 48 (EXPLAIN QUERY
    PLAN at 1M items: 1.3 s a page, against 10 ms walking the ids)."""
    return t.items.join(t.sources, (t.items.c.source_id + literal_column("0")) == t.sources.c.id)


def _counting() -> Any:
    """How many matches of the item count (active, a list that detects)."""
    m, lst = t.matches.c, t.lists.c
    return (select(func.count()).select_from(t.matches.join(t.lists, m.list_id == lst.id))
            .where(m.item_id == t.items.c.id, m.status == "active",
                   lst.purpose != "known-good").scalar_subquery())


def _rows(case_id: int, f: QueueFilter, matched: bool | None, ids: bool = True) -> Any:
    """The select of the case's items passing `f` with the columns a queue row shows
    (store/items.py `query`'s), unordered; `ids`: with the filter's own ids."""
    active = _counting()
    q = row_select(active).select_from(_items_sources()).where(*_conditions(case_id, f, ids))
    if matched is not None:
        q = q.where(active > 0 if matched else active == 0)
    return q


def _conditions(case_id: int, f: QueueFilter, ids: bool = True) -> list[Any]:
    """The filter as predicates on `items` and `sources` (for a query that joins both);
    `ids`: with the filter's ids (a family) as an IN list."""
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
    if f.finding is not None:  # the (sha256, kind, ..) key, per row
        out.append(_any(t.findings.c.sha256 == i.sha256,
                        t.findings.c.kind == f.finding).is_not(None))
    if f.state == "reviewed":
        out.append(_reviewed().is_not(None))
    elif f.state == "unreviewed":
        out.append(_reviewed().is_(None))
    if ids and f.ids is not None:
        out.append(i.id.in_(sorted(f.ids)))  # a family: its members
    return out


def _detecting(c: Any, f: QueueFilter) -> list[tuple[int, int]]:
    """(id, trust) of the lists whose active matches count, most trusted first."""
    lst = t.lists.c
    q = select(lst.id, lst.trust).where(lst.purpose != "known-good")
    if f.list is not None:
        q = q.where(lst.name == f.list, lst.removed_at.is_(None))
    return [(int(a), int(b)) for a, b in c.execute(q.order_by(lst.trust.desc(), lst.id))]


def _best(higher: list[int], same: list[int]) -> Any:
    """The match row is its item's best among the counting ones: no active match of the
    item on a more trusted list, nor on a list of this trust nearer (ties: the lower
    match id), so each item has exactly one such row."""
    m, m2 = t.matches.c, t.matches.alias("better").c
    closer = and_(m2.list_id.in_(same), or_(m2.distance < m.distance,
                                            and_(m2.distance == m.distance, m2.id < m.id)))
    return ~exists().where(m2.item_id == m.item_id, m2.status == "active",
                           or_(m2.list_id.in_(higher), closer) if higher else closer)


def _walk_matched(c: Any, case_id: int, f: QueueFilter, lists: list[tuple[int, int]],
                  after: tuple[int, int] | None, limit: int) -> list[tuple[int, int]]:
    """(key, item id) of up to `limit` + 1 matched items after `after`, best first: one
    trust at a time (most trusted first), each of its lists read in the order of
    ix_matches_queue (list_id, status, distance, item_id) from the cursor on, merged by
    (distance, id). A page reads about a page of rows per list, wherever it is."""
    m = t.matches.c
    out: list[tuple[int, int]] = []
    trusts = sorted({tr for _, tr in lists}, reverse=True)
    for trust in trusts:
        base = (100 - trust) * KEY_SPAN
        if after is not None and after[0] >= base + KEY_SPAN:
            continue  # the cursor is past this trust
        start = (after[0] - base, after[1]) if after is not None and after[0] >= base \
            else None
        same = [lid for lid, tr in lists if tr == trust]
        higher = [lid for lid, tr in lists if tr > trust]
        need = limit + 1 - len(out)
        level: list[tuple[int, int]] = []
        for lid in same:
            q = (select(m.distance, m.item_id)
                 .select_from(t.matches.join(t.items, t.items.c.id == m.item_id)
                              .join(t.sources, (t.items.c.source_id + literal_column("0"))
                                    == t.sources.c.id))
                 .where(m.list_id == lid, m.status == "active", _best(higher, same),
                        *_conditions(case_id, f)))
            if start is not None:
                q = q.where(tuple_(m.distance, m.item_id) > tuple_(start[0], start[1]))
            level += [(int(d), int(i)) for d, i in c.execute(
                q.order_by(m.distance, m.item_id).limit(need))]
        level.sort()
        out += [(base + d, i) for d, i in level[:need]]
        if len(out) > limit:
            break
    return out


def _of_ids(c: Any, case_id: int, f: QueueFilter, after: tuple[int, int] | None,
            limit: int) -> list[tuple[int, int]]:
    """As _walk_matched, for a filter naming its items (a family): their keys, IDS at a
    time, sorted."""
    m, lst = t.matches.c, t.lists.c
    score = func.min((100 - lst.trust) * KEY_SPAN + m.distance)
    todo = sorted(f.ids or ())
    keyed: list[tuple[int, int]] = []
    for k in range(0, len(todo), IDS):
        q = (select(score, m.item_id)
             .select_from(t.matches.join(t.lists, m.list_id == lst.id)
                          .join(t.items, m.item_id == t.items.c.id)
                          .join(t.sources, (t.items.c.source_id + literal_column("0"))
                                == t.sources.c.id))
             .where(m.status == "active", lst.purpose != "known-good",
                    m.item_id.in_(todo[k:k + IDS]), *_conditions(case_id, f, ids=False))
             .group_by(m.item_id))
        if f.list is not None:
            q = q.where(lst.name == f.list, lst.removed_at.is_(None))
        keyed += [(int(a), int(b)) for a, b in c.execute(q)]
    keyed.sort()
    if after is not None:
        keyed = keyed[bisect.bisect_right(keyed, after):]
    return keyed[:limit + 1]


def matched_page(store: Store, case_id: int, f: QueueFilter, after: tuple[int, int] | None,
                 limit: int) -> list[dict[str, Any]]:
    """Up to `limit` + 1 matched items after `after` = (key, id), best first, each with its
    `key`, `trust` and `distance` (of its best match): the page's (key, id) from the
    matches (_walk_matched, or _of_ids for a family), then those items' rows."""
    with _connect(store) as c:
        lists = _detecting(c, f)
        if not lists:
            return []
        page = (_of_ids(c, case_id, f, after, limit) if f.ids is not None
                else _walk_matched(c, case_id, f, lists, after, limit))
        by_id = {r["id"]: dict(r) for r in c.execute(
            _rows(case_id, QueueFilter(), None)
            .where(t.items.c.id.in_([i for _, i in page]))).mappings()} if page else {}
    rows = []
    for qkey, item_id in page:
        r = by_id[item_id]
        r["qkey"], r["trust"], r["distance"] = qkey, 100 - qkey // KEY_SPAN, qkey % KEY_SPAN
        rows.append(r)
    return rows


def _hinting() -> tuple[Any, ...]:
    fd = t.findings.c
    return (fd.sha256 == t.items.c.sha256,
            or_(fd.data.like('%"synthetic": true%'), fd.data.like('%"generator": %')))


def synthetic_hint() -> Any:
    """Whether an item's content has a finding whose stored JSON may say synthetic (a
    `"synthetic": true` or a `"generator"`): narrows in SQL what the caller then confirms
    with the finding itself (cases/people.py `is_synthetic`)."""
    return _any(*_hinting()).is_not(None)


def plain_page(store: Store, case_id: int, f: QueueFilter, after: int, limit: int,
               hint: bool = False,
               confirm: Callable[[list[dict[str, Any]]], list[dict[str, Any]]] | None = None,
               ids: Sequence[int] | None = None) -> list[dict[str, Any]]:
    """Up to `limit` + 1 unmatched items with id > `after`, by id, each row's `hint` saying
    whether synthetic_hint() names it. `hint`: only those it names; `confirm`: a filter over
    each chunk of rows read; `ids`: only these (sorted) ids."""
    q = _rows(case_id, f, False, ids=False).add_columns(synthetic_hint().label("hint"))
    if hint:
        q = q.where(_any(*_hinting()).is_not(None))
    if f.ids is not None:
        ids = sorted(set(ids).intersection(f.ids) if ids is not None else f.ids)
    out: list[dict[str, Any]] = []
    step, rows_read = 0, 0
    with _connect(store) as c:
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
    with _connect(store) as c:
        return dict(c.execute(
            select(s.name, sp.key).select_from(
                t.sources.join(t.device_sources, t.device_sources.c.source_id == s.id)
                .join(t.devices, d.id == t.device_sources.c.device_id)
                .join(t.suspects, sp.id == d.suspect_id))
            .where(s.case_id == case_id).order_by(s.id)).all())


def case_state(store: Store, case_id: int) -> tuple[int, ...]:
    """What changes whenever what tracing reads of a case changes: its sources with the
    last item id of each (items are only ever added, so a new one raises it), and the
    newest signal and finding rows. One index probe per source (ix_items_source, 0019):
    at 1M items 1 ms, where counting the case's items took 150 ms on every page."""
    i = t.items.c
    with _connect(store) as c:
        sources = c.execute(select(t.sources.c.id).where(t.sources.c.case_id == case_id)
                            .order_by(t.sources.c.id)).scalars().all()
        out: list[int] = []
        for sid in sources:
            out += [sid, c.execute(select(func.max(i.id)).where(i.source_id == sid)
                                   ).scalar() or 0]
        out.append(c.execute(select(func.max(t.signals.c.id))).scalar() or 0)
        out.append(c.execute(select(func.max(t.findings.c.id))).scalar() or 0)
    return tuple(out)


def item_count(store: Store, case_id: int) -> int:
    """How many items the case has (reads every one of them: not for every page)."""
    with _connect(store) as c:
        return int(c.execute(select(func.count()).select_from(t.items).join(t.sources)
                             .where(t.sources.c.case_id == case_id)).scalar_one())


def load_shared(store: Store, case_id: int) -> tuple[str, list[int]] | None:
    """(state, sorted item ids) kept by `save_shared` for the case, or None."""
    q = t.queue_shared.c
    with _connect(store) as c:
        row = c.execute(select(q.state, q.item_ids).where(q.case_id == case_id)).first()
    if row is None:
        return None
    try:
        ids = array.array("q", zlib.decompress(bytes(row[1])))
    except zlib.error:
        return None  # damaged: computed again
    if sys.byteorder != "little":
        ids.byteswap()
    return str(row[0]), ids.tolist()


def save_shared(store: Store, case_id: int, state: str, ids: Sequence[int]) -> None:
    """Keep the case's items in a family spanning suspects, as of `state` (replacing what
    was kept). Derived data, not evidence: no custody entry."""
    packed = array.array("q", ids)
    if sys.byteorder != "little":
        packed.byteswap()
    blob = zlib.compress(bytes(packed))  # (ids, not pixels)
    q = t.queue_shared.c
    now = datetime.now(UTC).isoformat(timespec="seconds")
    with store.engine.begin() as c:
        c.execute(delete(t.queue_shared).where(q.case_id == case_id))
        c.execute(insert(t.queue_shared).values(case_id=case_id, state=state, item_ids=blob,
                                                computed_at=now))
