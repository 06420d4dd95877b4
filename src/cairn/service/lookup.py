"""Batch lookup: up to MAX_SIGNALS hashes of any matched type answered with one batched
matcher call (`Matcher.match_many`), each hash's matches named by list and entry.

Every value is checked by its type in the signal-type registry first; the first bad one is
refused (`BadSignal`, naming its index and field) before anything is looked up. The matcher
is the persisted list index (scan/listindex.py), opened once per list generation and kept by
the process: a lookup costs a generation check (one query), not an index open.

`lookup_json` is the same answer as JSON bytes, what the HTTP route sends: FastAPI's own
encoding of 10,000 results (jsonable_encoder, then JSONResponse) cost ~90 ms a request, more
than the exact lookups themselves (bench/bench_api.py measures the batch over HTTP).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any, cast

from cairn.lists.matcher import Matcher
from cairn.records import LookupMatch, LookupResult
from cairn.scan.listindex import open_matcher
from cairn.signals import types
from cairn.signals.vpdq import parse_signal
from cairn.store import Store

MAX_SIGNALS = 10_000


class BadSignal(ValueError):
    """A signal refused: `index` in the request's list, `field` (type or value), why."""

    def __init__(self, index: int, field: str, why: str) -> None:
        super().__init__(why)
        self.index, self.field, self.why = index, field, why


@dataclass(frozen=True, slots=True)
class Signal:
    type: str  # the registry's canonical name
    value: str  # the canonical value


def check(raw: list[tuple[object, object]]) -> list[Signal]:
    """(type, value) pairs as canonical signals; BadSignal for the first one refused."""
    out = []
    known: dict[str, types.SignalType] = {}  # a batch names a type or two 10,000 times
    for i, (name, value) in enumerate(raw):
        if not isinstance(name, str):
            raise BadSignal(i, "type", "a signal type name (string) is needed")
        st = known.get(name)
        if st is None:
            try:
                st = known[name] = types.get(name)
            except types.UnknownSignalType as e:
                raise BadSignal(i, "type", f"{e}; one of {', '.join(types.NAMES)}") from None
        if st.index == "none":
            raise BadSignal(i, "type", f"{st.name} hashes are carried, never matched")
        try:
            out.append(Signal(st.name, st.normalise(value)))
        except ValueError as e:
            raise BadSignal(i, "value", str(e)) from None
    return out


def _record(s: Signal) -> dict[str, Any]:
    """A signal as the matcher takes a scanned item's."""
    if s.type == "pdq":
        return {"pdq": {"hash": s.value, "quality": 100}}  # a given hash is taken as usable
    if s.type == "vpdq":
        return {"vpdq": {"frames": [(f.timestamp, f.hash, f.quality)
                                    for f in parse_signal(s.value)]}}
    return {s.type: s.value}


class Matchers:
    """The process's matcher, reopened when the lists' generation moves."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: tuple[tuple[str, str, int], Matcher] | None = None

    def get(self, store: Store) -> Matcher:
        store_id, gen, _ = store.lists.generations()
        key = (store.url, store_id, gen)
        with self._lock:
            if self._held is None or self._held[0] != key:
                self._held = (key, open_matcher(store))
            return self._held[1]


MATCHERS = Matchers()


def lookup(store: Store, signals: list[Signal]) -> list[LookupResult]:
    """Each signal with its matches (list, entry, distance, transform), in the order given.
    One `match_many` call for the whole batch; the entries named in one query."""
    matcher = MATCHERS.get(store)
    found = matcher.match_many([_record(s) for s in signals])
    entries = store.lists.by_id({m.entry_id for ms in found for m in ms})
    out: list[LookupResult] = []
    for s, ms in zip(signals, found, strict=True):
        matches = [cast(LookupMatch, {
            "list": e["list"], "signal": m.signal, "distance": m.distance,
            "transform": m.transform,
            **({"timestamp": m.timestamp} if m.timestamp is not None else {}),
            **({"detail": m.detail} if m.detail else {}),
            "entry": {"value": e["value"], "category": e["category"], "labels": e["labels"]}})
            for m in ms if (e := entries.get(m.entry_id)) is not None]
        out.append({"type": s.type, "value": s.value, "matches": matches})
    return out


def lookup_json(store: Store, signals: list[Signal]) -> bytes:
    """`{"results": lookup(...)}` as the bytes FastAPI's JSONResponse would send (the same
    `json.dumps` arguments), without its per-value encoding pass."""
    return json.dumps({"results": lookup(store, signals)}, ensure_ascii=False,
                      allow_nan=False, indent=None, separators=(",", ":")).encode("utf-8")
