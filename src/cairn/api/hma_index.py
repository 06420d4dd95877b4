"""HMA's signal types over Cairn's lists, and the list index as the HMA endpoints read it.

Signal types (python-threatexchange names, the only ones HMA clients send):
- `pdq`: Cairn's `pdq` list entries. The query is the plain hash (no dihedral turns, no
  crops: HMA semantics); each list's own threshold applies (31 unless imported otherwise).
  Distance: the Hamming distance, as a string in lookups.
- `video_md5`: Cairn's `md5` list entries. HMA's video_md5 is the MD5 of a video file's
  bytes; a Cairn `md5` entry names a file by the MD5 of its bytes, so equal values are the
  same bytes whatever the entry was listed as: the answer is true. Distance `"-"`.
- `vpdq`: Cairn's `vpdq` entries; the query is python-threatexchange's vPDQ signal (a JSON
  list of "hex,quality,seconds"), matched as `cairn scan` matches a video (unique frames of
  quality >= 50, each list's threshold and video percent). Distance: `"QUERY%,TARGET%"`.
Anything else (`md5` included: python-threatexchange has no such type) is refused with
HMA's `No such SignalType 'NAME'`.

Lookups go through `cairn.scan.listindex.open_matcher` (the persisted, memory-mapped index)
and `Matcher.match_many`: withdrawn, false-positive and removed-list entries never come back.
`LiveIndex` holds one matcher per process and re-reads the store's list generation and lists
at most once per `recheck` seconds (HMA refreshes every 30 s), at once after a change made
through these endpoints (`invalidate`): a lookup never waits on the database. `LiveIndex.lookup`
gathers the lookups of concurrent requests into one `match_many` call in a thread of its own
(api/batcher.py): one index call per batch instead of per request, off the event loop.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from cairn.api.batcher import LINGER, MAX_BATCH, Batcher
from cairn.lists.matcher import Match, Matcher
from cairn.scan.listindex import open_matcher
from cairn.signals.vpdq import parse_signal
from cairn.store.store import Store

_PDQ = re.compile(r"[0-9a-f]{64}")
_MD5 = re.compile(r"[0-9a-f]{32}")


class SignalError(ValueError):
    """A signal string its type refuses; the message is python-threatexchange's."""


def _pdq(value: str) -> str:
    if not _PDQ.fullmatch(value):  # lower-case only, as python-threatexchange checks it
        raise SignalError("invalid PDQ hash")
    return value


def _md5(value: str) -> str:
    if not _MD5.fullmatch(value):
        raise SignalError("invalid MD5 hash")
    return value


def _vpdq(value: str) -> str:
    try:
        parse_signal(value)
    except ValueError as e:
        raise SignalError(str(e)) from None
    return value


@dataclass(frozen=True, slots=True)
class SignalType:
    """One HMA signal type: its name, the Cairn list signal it reads, how to validate it."""

    name: str
    cairn: str  # the list_entries.signal_type it is stored as
    content_type: str  # photo | video
    validate: Callable[[str], str]


SIGNAL_TYPES = {s.name: s for s in (
    SignalType("pdq", "pdq", "photo", _pdq),
    SignalType("video_md5", "md5", "video", _md5),
    SignalType("vpdq", "vpdq", "video", _vpdq),
)}
CONTENT_TYPES = ("photo", "video")


def signal_type(name: str) -> SignalType:
    """The type called `name`; KeyError carrying HMA's message otherwise."""
    try:
        return SIGNAL_TYPES[name]
    except KeyError:
        raise KeyError(f"No such SignalType '{name}'") from None


@dataclass(frozen=True, slots=True)
class Hit:
    entry_id: int  # HMA's bank_content_id: one sequence across all lists
    list_id: int
    distance: int  # compare-style: an int
    shown: str  # lookup-style: HMA writes distance as a string


def _record(st: SignalType, value: str) -> dict:
    """The value as the matcher's record of an item carrying that one signal."""
    if st.cairn == "pdq":  # quality unknown for a bare hash: HMA does not check it either
        return {"pdq": {"hash": value, "quality": 100}}
    if st.cairn == "vpdq":
        return {"vpdq": {"frames": [(f.timestamp, f.hash, f.quality)
                                    for f in parse_signal(value)]}}
    return {st.cairn: value}


def _hit(m: Match) -> Hit:
    if m.signal == "vpdq" and m.detail:
        shown = f"{m.detail['query_percent']:g},{m.detail['target_percent']:g}"
    else:
        shown = "-" if m.signal == "md5" else str(m.distance)
    return Hit(m.entry_id, m.list_id, m.distance, shown)


@dataclass(frozen=True)
class Snapshot:
    """One matcher and the lists it was opened with (by id): what a lookup reads."""

    matcher: Matcher
    lists: dict[int, dict]
    key: tuple
    built_to: int  # unix seconds the index was last found current with the store
    by_name: dict[str, dict] = field(default_factory=dict)

    def lookup(self, st: SignalType, values: Iterable[str]) -> list[list[Hit]]:
        """Each value's hits among active entries of lists in use, nearest first."""
        out = self.lookup_many([(st, v) for v in values])
        for res in out:
            if isinstance(res, Exception):
                raise res
        return out  # type: ignore[return-value]  # no exceptions left

    def lookup_many(self, queries: list[tuple[SignalType, str]]
                    ) -> list[list[Hit] | Exception]:
        """`lookup` of each (type, value), of any types, in one `match_many` call; a value
        its type refuses (SignalError) is that query's answer alone, never the others'."""
        out: list[list[Hit] | Exception] = []
        records: list[dict] = []
        wanted: list[tuple[int, str]] = []  # (place in out, cairn signal) of each record
        for st, value in queries:
            try:
                records.append(_record(st, st.validate(value)))
            except (SignalError, ValueError) as e:
                out.append(e if isinstance(e, SignalError) else SignalError(str(e)))
                continue
            wanted.append((len(out), st.cairn))
            out.append([])
        for (i, cairn), found in zip(wanted, self.matcher.match_many(records), strict=True):
            hits = [_hit(m) for m in found if m.signal == cairn and m.list_id in self.lists]
            out[i] = sorted(hits, key=lambda h: (h.distance, h.entry_id))
        return out


def _lists_key(store: Store) -> tuple:
    """What a snapshot must be reopened on: the lists' generation and their settings. Cheap
    (no count of entries): it is read every `recheck` seconds."""
    gen = store.lists.generations()
    return (gen, tuple((x["id"], x["name"], x["pdq_threshold"], x["vpdq_percent"],
                        x["enabled_ratio"]) for x in store.lists.all(counts=False)))


Query = tuple[Snapshot, SignalType, str]


def lookup_batch(queries: list[Query]) -> list[list[Hit] | Exception]:
    """Each (snapshot, type, value)'s hits: one `Snapshot.lookup_many` per snapshot (a
    batch gathered across a re-check may hold two), answers in the queries' order."""
    out: list[list[Hit] | Exception] = [[] for _ in queries]
    groups: dict[int, list[int]] = {}
    for i, (snap, _, _) in enumerate(queries):
        groups.setdefault(id(snap), []).append(i)
    for places in groups.values():
        snap = queries[places[0]][0]
        found = snap.lookup_many([(queries[i][1], queries[i][2]) for i in places])
        for i, res in zip(places, found, strict=True):
            out[i] = res
    return out


class LiveIndex:
    """The current Snapshot for this process, shared by every request thread; `lookup`
    gathers concurrent requests' queries into one index call (api/batcher.py)."""

    def __init__(self, store: Store, recheck: float = 1.0, *, linger: float = LINGER,
                 max_batch: int = MAX_BATCH) -> None:
        self.store = store
        self.recheck = recheck
        self._lock = threading.Lock()
        self._snap: Snapshot | None = None
        self._checked = float("-inf")
        self._changes = 0  # changes made through this process (`invalidate`) ...
        self._seen = 0  # ... and how many of them the snapshot was checked after
        self._recheck_began: float | None = None  # a request went to re-check (`fresh`)
        self.batcher: Batcher[Query, list[Hit]] = Batcher(
            lookup_batch, linger=linger, max_batch=max_batch, name="cairn-lookup")

    async def lookup(self, snap: Snapshot, st: SignalType, value: str) -> list[Hit]:
        """`snap.lookup(st, [value])[0]`, batched with the other requests in flight."""
        return await self.batcher.submit((snap, st, value))

    def invalidate(self) -> None:
        """A change was just made through this process: the next read checks the store
        (and waits for that check: the change is seen by the next request)."""
        self._changes += 1
        self._checked = float("-inf")

    @property
    def loaded(self) -> Snapshot | None:
        """The snapshot if one was opened, without touching the store."""
        return self._snap

    def fresh(self) -> Snapshot | None:
        """The snapshot while no re-check is due, or while another thread is re-checking
        for time's sake (no database work: safe on the event loop); None when `current`
        must be called (from a thread). So under load one request re-checks and the others
        go on with the snapshot of a moment ago, instead of queueing behind it."""
        snap = self._snap
        if snap is None or self._seen != self._changes:
            return None
        now = time.monotonic()
        if now - self._checked < self.recheck or self._lock.locked():
            return snap
        began = self._recheck_began
        if began is not None and now - began < self.recheck:
            return snap  # a request on its way to `current` (its hop to a thread)
        self._recheck_began = now  # this caller re-checks (if it never does, another will)
        return None

    def _current_enough(self) -> Snapshot | None:
        snap = self._snap
        if (snap is not None and self._seen == self._changes
                and time.monotonic() - self._checked < self.recheck):
            return snap
        return None

    def current(self) -> Snapshot:
        """The snapshot, re-checked against the store when `recheck` has passed or a change
        was made through this process."""
        snap = self._current_enough()
        if snap is not None:
            return snap
        with self._lock:  # one thread re-checks; the others wait for its answer
            snap = self._current_enough()
            if snap is not None:
                return snap
            changes = self._changes  # read before the store: a later change re-checks again
            key = _lists_key(self.store)
            snap = self._snap
            if snap is None or snap.key != key:
                lists = self.store.lists.all()  # counted (index status): only when it changed
                matcher = open_matcher(self.store)
                snap = Snapshot(matcher, {x["id"]: x for x in lists}, key, int(time.time()),
                                {x["name"]: x for x in lists})
            else:
                snap = Snapshot(snap.matcher, snap.lists, key, int(time.time()), snap.by_name)
            self._snap = snap
            self._seen = changes
            self._checked = time.monotonic()
            self._recheck_began = None
            return snap
