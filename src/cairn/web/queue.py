"""The review queue: a case's items in priority order, one page at a time, server-side.

Priority (issue 18): known material first, the most trusted hits first; then synthetic
provenance; then content shared between suspects; then the rest. Four tiers walked one
after another, each by keyset (store/reviewqueue.py: never OFFSET, so a page costs the same
wherever it is):

    tier 0  matched: an active match against a detecting list, by (100 - the best list's
            trust, the smallest distance at that trust, id)
                                           cursor `0.<100-trust>.<distance>.<id>`
    tier 1  not matched, a finding that says synthetic, by id        cursor `1.<id>`
    tier 2  neither, in a trace family whose members lie on the exhibits of two or more
            suspects (devices linked to suspects), by id             cursor `2.<id>`
    tier 3  everything else, by id                                   cursor `3.<id>`

A page that ends a tier goes on into the next. Filters: source, device, suspect, list (tier 0
only: only that list's hits count), finding kind, family, matched (yes: tier 0; no: 1-3),
review state (reviewed: an active decision with a category; unreviewed: none).

The families, and which of them span suspects, are computed once per state of the case
(service/families.py) and only when needed: tier 2 needs two suspects with exhibits.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass
from typing import Any

from cairn.cases.people import is_synthetic
from cairn.service.families import case_families, families_if_ready
from cairn.store import Store, reviews
from cairn.store import items as store_items
from cairn.store import reviewqueue as rq
from cairn.store.reviewqueue import case_state

TIERS = ("matched", "synthetic", "shared between suspects", "other")
STATES = rq.STATES
MAX_PAGE = 200
_CURSOR = re.compile(r"0\.(\d{1,3})\.(\d{1,9})\.(\d{1,18})|([1-3])\.(\d{1,18})")


@dataclass(frozen=True, slots=True)
class QueueQuery:
    source: str | None = None
    matched: bool | None = None
    state: str = "all"
    cursor: str | None = None
    limit: int = 48
    device: str | None = None
    suspect: str | None = None
    list: str | None = None
    finding: str | None = None
    family: int | None = None


@dataclass(frozen=True, slots=True)
class QueuePage:
    items: list[dict[str, Any]]  # each with tier, synthetic, review (tier 0: trust, distance)
    next_cursor: str | None
    pending: str | None = None  # why the page stops short (the families being computed)


@dataclass(frozen=True, slots=True)
class Cursor:
    tier: int
    key: int = 0  # tier 0: (100 - trust) * KEY_SPAN + distance
    after: int = 0  # the last item id shown


def parse_cursor(cursor: str | None) -> Cursor:
    """The position a cursor of this module names; ValueError otherwise."""
    if cursor is None or cursor == "":
        return Cursor(0, -1, 0)
    m = _CURSOR.fullmatch(cursor)
    if m is None or (m.group(1) is not None and int(m.group(1)) > 100):
        raise ValueError("not a cursor this queue gave")
    if m.group(1) is not None:
        return Cursor(0, int(m.group(1)) * rq.KEY_SPAN + int(m.group(2)), int(m.group(3)))
    return Cursor(int(m.group(4)), 0, int(m.group(5)))


def cursor_of(row: dict[str, Any]) -> str:
    if row["tier"] == 0:
        return f"0.{100 - row['trust']}.{row['distance']}.{row['id']}"
    return f"{row['tier']}.{row['id']}"


SYNC_ITEMS = 50_000  # a case this small has its families computed in the request (< ~2 s)

_lock = threading.Lock()
_shared: dict[tuple[str, int], tuple[str, list[int]]] = {}
_running: dict[tuple[str, int], tuple[str, float, threading.Thread]] = {}
_failed: dict[tuple[str, int], tuple[str, str]] = {}


@dataclass(frozen=True, slots=True)
class Shared:
    """The items in a family spanning suspects (sorted ids), or None while they are being
    computed (`note` says since when, or why they could not be)."""

    ids: list[int] | None
    note: str | None = None


def _state(store: Store, case_id: int, owners: dict[str, str]) -> str:
    return json.dumps([list(case_state(store, case_id)),
                       sorted(owners.items())])


def _compute(store: Store, case_id: int, state: str, owners: dict[str, str]) -> list[int]:
    fams = case_families(store, case_id)
    ids = sorted(i for f, fids in zip(fams.families, fams.item_ids, strict=True)
                 if len({owners[s] for s in f["sources"] if s in owners}) > 1 for i in fids)
    rq.save_shared(store, case_id, state, ids)
    with _lock:
        _shared[(store.url, case_id)] = (state, ids)
        while len(_shared) > 16:
            _shared.pop(next(iter(_shared)))
    return ids


def _in_background(store: Store, case_id: int, state: str, owners: dict[str, str]) -> None:
    key = (store.url, case_id)
    try:
        _compute(store, case_id, state, owners)
    except Exception as e:  # noqa: BLE001 - shown on the queue page, never swallowed
        with _lock:
            _failed[key] = (state, f"{type(e).__name__}: {e}")
    finally:
        with _lock:
            _running.pop(key, None)


def shared_between_suspects(store: Store, case_id: int, wait: bool = True) -> Shared:
    """The items in a family spanning the exhibits of two or more suspects; none without
    two suspects with exhibits (the families are then not computed).

    Computed once per state of the case (its items, signals, findings and which exhibit is
    whose) and kept in the store (store/reviewqueue.py `save_shared`), so neither a restart
    nor another worker process computes it again. A case over SYNC_ITEMS items is computed
    on a thread unless `wait`: until it is done the answer is `Shared(None, note)` and the
    queue stops before the tiers that need it, saying so."""
    owners = rq.source_suspects(store, case_id)
    if len(set(owners.values())) < 2:
        return Shared([])
    state = _state(store, case_id, owners)
    key = (store.url, case_id)
    with _lock:
        held = _shared.get(key)
        if held is not None and held[0] == state:
            return Shared(held[1])
    kept = rq.load_shared(store, case_id)
    if kept is not None and kept[0] == state:
        with _lock:
            _shared[key] = (state, kept[1])
        return Shared(kept[1])
    if wait or rq.item_count(store, case_id) <= SYNC_ITEMS:  # (once per state)
        return Shared(_compute(store, case_id, state, owners))
    with _lock:
        failed = _failed.get(key)
        if failed is not None and failed[0] == state:
            return Shared(None, "the families spanning suspects could not be computed "
                                f"({failed[1]}): the items after the synthetic ones are not "
                                "listed")
        run = _running.get(key)
        if run is None or run[0] != state:
            th = threading.Thread(target=_in_background, args=(store, case_id, state, owners),
                                  name=f"cairn-shared-{case_id}", daemon=True)
            run = (state, time.monotonic(), th)
            _running[key] = run
            th.start()
    return Shared(None, "the families spanning suspects are being computed for this state "
                        f"of the case (for {time.monotonic() - run[1]:.0f} s): the items "
                        "after the synthetic ones follow when they are; reload this page")


def _synthetic(store: Store, case_id: int, rows: list[dict[str, Any]]) -> set[str]:
    """The contents among `rows` flagged by the SQL hint that a finding says synthetic."""
    shas = sorted({r["sha256"] for r in rows if r.get("hint") and r["sha256"]})
    if not shas:
        return set()
    return {sha for sha, f in store_items.case_findings(store, case_id, shas)
            if is_synthetic(f)}


def page(store: Store, case_id: int, q: QueueQuery) -> QueuePage:
    at = parse_cursor(q.cursor)
    tiers = [0] if q.matched is True or q.list else [1, 2, 3] if q.matched is False \
        else [0, 1, 2, 3]
    ids = None
    if q.family is not None:
        fams = families_if_ready(store, case_id)
        if fams is None and rq.item_count(store, case_id) <= SYNC_ITEMS:
            fams = case_families(store, case_id)
        if fams is None:  # a large case: computed on a thread, this page says so
            return QueuePage([], None, "the case's families are being computed for "
                             "this state of the case: the family's items are listed when "
                             "they are; reload this page")
        ids = frozenset(fams.ids_of(q.family))
    f = rq.QueueFilter(q.source, q.device, q.suspect, q.list, q.finding, q.state, ids)
    shared: list[int] | None = None
    shared_set: set[int] = set()
    out: list[dict[str, Any]] = []
    for tier in tiers:
        if tier < at.tier:
            continue
        need = q.limit - len(out)
        after = at.after if tier == at.tier else 0
        if tier == 0:
            rows = rq.matched_page(store, case_id, f, (at.key, at.after)
                                   if at.tier == 0 and at.key >= 0 else None, need)
        else:
            if tier >= 2 and shared is None:
                got = shared_between_suspects(store, case_id, wait=False)
                if got.ids is None:  # being computed: stop here, resume here
                    return _finish(store, case_id, out, q.limit, f"{tier}.{after}", got.note)
                shared = got.ids
                shared_set = set(shared)

            def keep(rows: list[dict[str, Any]], tier: int = tier,
                     shared_set: set[int] = shared_set) -> list[dict[str, Any]]:
                synth = _synthetic(store, case_id, rows)
                if tier == 1:
                    return [r for r in rows if r["sha256"] in synth]
                rows = [r for r in rows if r["sha256"] not in synth]
                if tier == 3:
                    rows = [r for r in rows if r["id"] not in shared_set]
                return rows

            if tier == 2 and not shared:
                continue
            rows = rq.plain_page(store, case_id, f, after, need, hint=tier == 1,
                                 confirm=keep, ids=shared if tier == 2 else None)
        for r in rows:
            r["tier"] = tier
        out += rows
        if len(out) > q.limit:
            break
    return _finish(store, case_id, out, q.limit)


def _finish(store: Store, case_id: int, out: list[dict[str, Any]], limit: int,
            resume: str | None = None, pending: str | None = None) -> QueuePage:
    """The page of `out` (its decisions and synthetic flags read), its next cursor: after
    its last row when more follow, else `resume` (where a stopped page goes on)."""
    more = len(out) > limit
    out = out[:limit]
    decided = reviews.active(store, [r["id"] for r in out])
    synthetic = {sha for sha, fd in store_items.case_findings(
        store, case_id, sorted({r["sha256"] for r in out if r["sha256"]})) if is_synthetic(fd)}
    for r in out:
        r["synthetic"] = r["sha256"] in synthetic
        d = decided.get(r["id"])
        r["review"] = d.public() if d is not None and d.category is not None else None
    return QueuePage(out, cursor_of(out[-1]) if more and out else resume, pending)
