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
through these endpoints (`invalidate`): a lookup never waits on the database.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

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
        records = [_record(st, v) for v in values]
        out = []
        for found in self.matcher.match_many(records):
            hits = [_hit(m) for m in found if m.signal == st.cairn and m.list_id in self.lists]
            out.append(sorted(hits, key=lambda h: (h.distance, h.entry_id)))
        return out


def _lists_key(store: Store) -> tuple[tuple, list[dict]]:
    lists = store.lists()
    gen = store.list_generations()
    return (gen, tuple((x["id"], x["name"], x["pdq_threshold"], x["vpdq_percent"],
                        x["enabled_ratio"]) for x in lists)), lists


class LiveIndex:
    """The current Snapshot for this process, shared by every request thread."""

    def __init__(self, store: Store, recheck: float = 1.0) -> None:
        self.store = store
        self.recheck = recheck
        self._lock = threading.Lock()
        self._snap: Snapshot | None = None
        self._checked = float("-inf")

    def invalidate(self) -> None:
        """A change was just made through this process: the next read checks the store."""
        self._checked = float("-inf")

    @property
    def loaded(self) -> Snapshot | None:
        """The snapshot if one was opened, without touching the store."""
        return self._snap

    def fresh(self) -> Snapshot | None:
        """The snapshot while no re-check is due (no database work: safe on the event
        loop); None when `current` must be called (from a thread)."""
        snap = self._snap
        if snap is not None and time.monotonic() - self._checked < self.recheck:
            return snap
        return None

    def current(self) -> Snapshot:
        """The snapshot, re-checked against the store when `recheck` has passed."""
        snap = self._snap
        if snap is not None and time.monotonic() - self._checked < self.recheck:
            return snap
        with self._lock:  # one thread re-checks; the others wait for its answer
            snap = self._snap
            if snap is not None and time.monotonic() - self._checked < self.recheck:
                return snap
            key, lists = _lists_key(self.store)
            if snap is None or snap.key != key:
                matcher = open_matcher(self.store)
                by_id = {x["id"]: x for x in lists}
                snap = Snapshot(matcher, by_id, key, int(time.time()),
                                {x["name"]: x for x in lists})
            else:
                snap = Snapshot(snap.matcher, snap.lists, key, int(time.time()), snap.by_name)
            self._snap = snap
            self._checked = time.monotonic()
            return snap
