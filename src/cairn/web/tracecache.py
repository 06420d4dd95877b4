"""A case's trace inputs for the workbench's graph and overview, read once per state of the
case: its items as tracing reads them (`Store.case_signals`), its families (service/
families.py, cached there) and its generator-fingerprint links (trace/links.py), remembered
per process under `store.reviewqueue.case_state` like the families: a scan, a rehash or new
findings give a new key, and the next read computes them again. The families are kept in
the store too (service/families.py): a process computes them once per state, any other reads
them back. On a large case a page asks `trace_if_ready`, which computes on a thread."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from cairn.service.background import OncePerState
from cairn.service.families import SYNC_ITEMS, case_families
from cairn.store import Store
from cairn.store.reviewqueue import case_state, item_count
from cairn.trace.links import Link, links

KEEP = 8  # cases remembered per process


@dataclass(frozen=True)
class CaseTrace:
    items: list[dict[str, Any]]  # Store.case_signals rows (id, source, path, findings, ...)
    families: list[dict[str, Any]]  # Family.to_dict(), ids from 1
    links: list[Link]  # strongest first


_lock = threading.Lock()
_cache: dict[tuple[str, int], tuple[tuple[int, ...], CaseTrace]] = {}


def _held(key: tuple[str, int], fingerprint: tuple[int, ...]) -> CaseTrace | None:
    with _lock:
        held = _cache.get(key)
    return held[1] if held is not None and held[0] == fingerprint else None


def case_trace(store: Store, case_id: int) -> CaseTrace:
    key = (store.url, case_id)
    fingerprint = case_state(store, case_id)
    held = _held(key, fingerprint)
    if held is not None:
        return held
    items = store.records.case_signals(case_id)
    result = CaseTrace(items, case_families(store, case_id).families, links(items))
    with _lock:
        _cache.pop(key, None)
        _cache[key] = (fingerprint, result)
        while len(_cache) > KEEP:
            _cache.pop(next(iter(_cache)))
    return result


_threads = OncePerState("trace")


def trace_if_ready(store: Store, case_id: int) -> CaseTrace | None:
    """For a page: the case's trace inputs if held for its present state, or computed in
    the call on a case of at most SYNC_ITEMS items; else None, with their computation
    started on a thread (once per state: the families in it are read from the store where
    any process kept them, service/families.py), and the page says they are being computed.
    """
    key = (store.url, case_id)
    fingerprint = case_state(store, case_id)
    held = _held(key, fingerprint)
    if held is not None:
        return held
    if item_count(store, case_id) <= SYNC_ITEMS:
        return case_trace(store, case_id)
    _threads.start(key, fingerprint, case_trace, store, case_id)
    return None
