"""A case's trace families, computed once per state of the case and kept in the store.

Families (trace/families.py) cluster every item of a case with its near-duplicates: the
item view names its family, the item list filters by one, and `/families` lists them. The
computation reads the whole case (an index join over every PDQ: minutes at 1M items), so
its result is kept, keyed by `store.reviewqueue.case_state` (items, signals and findings as
they are now): in the store (store/familystore.py, table case_families), where any process
reads it back, after a restart or in a second server worker, and in this process's memory.
A scan, a rehash or new findings give a new state, and the next read computes it again.

One process computes a state: it claims it in the store first (family_claims; the first
insert wins); another that finds it claimed waits for the stored result instead of
computing it too. A claim whose process stopped refreshing it is taken over.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from cairn.service.background import OncePerState
from cairn.store import Store
from cairn.store import familystore as kept
from cairn.store.reviewqueue import case_state, item_count
from cairn.trace.families import families

KEEP = 16  # cases remembered per process (least recently computed go first)


@dataclass(frozen=True)
class CaseFamilies:
    families: list[dict[str, Any]]  # Family.to_dict(), largest first, ids from 1
    by_location: dict[tuple[str, str], int] = field(default_factory=dict)  # (source, path)
    item_ids: list[list[int]] = field(default_factory=list)  # per family: its items, sorted

    def ids_of(self, family_id: int) -> list[int]:
        """The ids of the items of family `family_id` (every version at each member's
        location); [] for no such family."""
        return self.item_ids[family_id - 1] if 1 <= family_id <= len(self.item_ids) else []

    def family_of(self, source: str, path: str) -> dict[str, Any] | None:
        fid = self.by_location.get((source, path))
        return self.families[fid - 1] if fid is not None else None


_lock = threading.Lock()
_cache: dict[tuple[str, int], tuple[tuple[int, ...], CaseFamilies]] = {}


POLL = 1.0  # seconds between reads of the store while another process computes a state
OWNER = kept.owner_id()  # this process, in the claims it makes


def _state(fingerprint: tuple[int, ...]) -> str:
    return json.dumps(list(fingerprint))


def _of_doc(doc: dict[str, Any]) -> CaseFamilies:
    fams = doc["families"]
    by_location = {(m["source"], m["path"]): f["id"] for f in fams for m in f["members"]}
    return CaseFamilies(fams, by_location, doc["item_ids"])


def _compute(store: Store, case_id: int) -> dict[str, Any]:
    """The case's families as a document: `families` (Family.to_dict(), largest first,
    ids from 1) and `item_ids` (per family, its items' ids, sorted)."""
    items = store.records.case_signals(case_id)
    fams = [f.to_dict() for f in families(items, workers=1)]
    by_location = {(m["source"], m["path"]): f["id"] for f in fams for m in f["members"]}
    ids: list[list[int]] = [[] for _ in fams]
    for it in items:  # the members' ids from the rows just read: no query per location
        fid = by_location.get((it["source"], it["path"]))
        if fid is not None:
            ids[fid - 1].append(it["id"])
    del items
    return {"families": fams, "item_ids": [sorted(v) for v in ids]}


def _computed_here(store: Store, case_id: int, state: str) -> dict[str, Any]:
    """Compute and keep the families under this process's claim, refreshed every
    HEARTBEAT seconds while it runs; the claim is dropped after (done or failed)."""
    done = threading.Event()

    def heartbeat() -> None:
        while not done.wait(kept.HEARTBEAT):
            kept.refresh(store, case_id, state, OWNER)

    beat = threading.Thread(target=heartbeat, daemon=True, name=f"cairn-claim-{case_id}")
    beat.start()
    try:
        doc = _compute(store, case_id)
        kept.save(store, case_id, state, doc)
        return doc
    finally:
        done.set()
        kept.release(store, case_id, state, OWNER)


def _remember(key: tuple[str, int], fingerprint: tuple[int, ...], result: CaseFamilies
              ) -> None:
    _cache.pop(key, None)
    _cache[key] = (fingerprint, result)
    while len(_cache) > KEEP:
        _cache.pop(next(iter(_cache)))


def case_families(store: Store, case_id: int) -> CaseFamilies:
    """The case's families at its present state: from this process's memory, else from the
    store, else computed here (claimed first) or, where another process claimed this state,
    read from the store once it has kept them."""
    key = (store.url, case_id)
    fingerprint = case_state(store, case_id)
    state = _state(fingerprint)
    with _lock:  # one computation at a time: a second reader waits for the first's result
        held = _cache.get(key)
        if held is not None and held[0] == fingerprint:
            return held[1]
        while True:
            doc = kept.load(store, case_id, state)
            if doc is None and kept.claim(store, case_id, state, OWNER):
                doc = kept.load(store, case_id, state)  # kept between the two reads?
                if doc is None:
                    doc = _computed_here(store, case_id, state)
            if doc is not None:
                result = _of_doc(doc)
                _remember(key, fingerprint, result)
                return result
            time.sleep(POLL)  # another process computes this state: its result, soon


_threads = OncePerState("families")
_remember_lock = threading.Lock()  # not _lock: that one is held for a whole computation


def families_if_ready(store: Store, case_id: int) -> CaseFamilies | None:
    """The case's families when they are computed for its present state; else None, with
    their computation started on a thread (once per state; the thread waits instead where
    another process computes them) so that a later call has them: for a page that must not
    wait minutes on a large case (web/queue.py)."""
    key = (store.url, case_id)
    fingerprint = case_state(store, case_id)
    held = _cache.get(key)  # a read without _lock: a computation holds it throughout
    if held is not None and held[0] == fingerprint:
        return held[1]
    doc = kept.load(store, case_id, _state(fingerprint))  # kept by any process
    if doc is not None:
        result = _of_doc(doc)
        with _remember_lock:
            _remember(key, fingerprint, result)
        return result
    _threads.start(key, fingerprint, case_families, store, case_id)
    return None


SYNC_ITEMS = 50_000  # a case this small has its families computed in the request (< ~2 s)
PENDING = ("the case's families are being computed for this state of the case (minutes on "
           "a large case, once: then kept): reload this page")


def families_for_page(store: Store, case_id: int) -> CaseFamilies | None:
    """For a page: the case's families if kept (here or in the store) or if the case is
    small enough to compute them in the request (SYNC_ITEMS); else None, their computation
    started on a thread (families_if_ready), and the page says PENDING."""
    fams = families_if_ready(store, case_id)
    if fams is None and item_count(store, case_id) <= SYNC_ITEMS:
        fams = case_families(store, case_id)
    return fams
