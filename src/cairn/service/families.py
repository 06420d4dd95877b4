"""A case's trace families, computed once per state of the case and kept in process.

Families (trace/families.py) cluster every item of a case with its near-duplicates: the
item view names its family, the item list filters by one, and `/families` lists them. The
computation reads the whole case (an index join over every PDQ), so it is remembered,
keyed by `store.reviewqueue.case_state` (items, signals and findings as they are now): a
scan, a rehash or new findings give a new key, and the next read computes it again.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from cairn.store import Store
from cairn.store.reviewqueue import case_state
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


def case_families(store: Store, case_id: int) -> CaseFamilies:
    key = (store.url, case_id)
    fingerprint = case_state(store, case_id)
    with _lock:  # one computation at a time: a second reader waits for the first's result
        held = _cache.get(key)
        if held is not None and held[0] == fingerprint:
            return held[1]
        items = store.records.case_signals(case_id)
        fams = [f.to_dict() for f in families(items, workers=1)]
        by_location = {(m["source"], m["path"]): f["id"] for f in fams for m in f["members"]}
        ids: list[list[int]] = [[] for _ in fams]
        for it in items:  # the members' ids from the rows just read: no query per location
            fid = by_location.get((it["source"], it["path"]))
            if fid is not None:
                ids[fid - 1].append(it["id"])
        del items
        result = CaseFamilies(fams, by_location, [sorted(v) for v in ids])
        _cache.pop(key, None)
        _cache[key] = (fingerprint, result)
        while len(_cache) > KEEP:
            _cache.pop(next(iter(_cache)))
        return result


_started: dict[tuple[str, int], tuple[tuple[int, ...], threading.Thread]] = {}
_started_lock = threading.Lock()  # not _lock: that one is held for a whole computation


def families_if_ready(store: Store, case_id: int) -> CaseFamilies | None:
    """The case's families when they are computed for its present state; else None, with
    their computation started on a thread (once per state) so that a later call has them:
    for a page that must not wait minutes on a large case (web/queue.py)."""
    key = (store.url, case_id)
    fingerprint = case_state(store, case_id)
    held = _cache.get(key)  # a read without _lock: a computation holds it throughout
    if held is not None and held[0] == fingerprint:
        return held[1]
    with _started_lock:
        run = _started.get(key)
        if run is None or run[0] != fingerprint or not run[1].is_alive():
            th = threading.Thread(target=case_families, args=(store, case_id), daemon=True,
                                  name=f"cairn-families-{case_id}")
            _started[key] = (fingerprint, th)
            th.start()
    return None
