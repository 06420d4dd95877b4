"""Matching an item's signals against every imported list."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from cairn.index import DigestIndex, HammingIndex, IndexFileError, codes_from_hex
from cairn.index.files import read_header
from cairn.records import NewMatch
from cairn.signals import pdq, types
from cairn.signals.vpdq import VIDEO_MATCH_PERCENT, VpdqFrame, match_percent, parse_signal

CRYPTO = types.digest_bytes()  # the exact-match types and their widths: md5, sha1, sha256
_INDEX_OF = {s.name: s.index for s in types.REGISTRY.values()}  # which index holds a type
FORMAT = "cairn-list-index"
VERSION = 1


def _link_part(old: Path, new: Path, part: str) -> bool:
    """Hard-link one part's files from the previous index folder; False if that failed."""
    names = {"entries": ["entry_ids.npy", "entry_lists.npy"], "active": ["active.npy"],
             "pdq": ["pdq", "pdq_entry.npy"], "videos": ["videos.json"]}.get(part, [part])
    try:
        for name in names:
            src = old / name
            files = [src] if src.is_file() else sorted(src.iterdir())
            for f in files:
                dst = new / f.relative_to(old)
                dst.parent.mkdir(parents=True, exist_ok=True)
                os.link(f, dst)
        return True
    except OSError:
        for name in names:  # leave nothing half-linked; the caller writes the part afresh
            target = new / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
        return False


class PdqSearch(Protocol):
    """PDQ lookups held elsewhere (cluster/shards.py: index shards in Ray actors), answering
    with list entry ids rather than this index's rows."""

    def join(self, queries: np.ndarray, radius: int
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(query row, entry id, distance) of every hash within radius, by query."""
        ...

    def __len__(self) -> int: ...


@dataclass(frozen=True, slots=True)
class Match:
    entry_id: int
    list_id: int
    signal: str
    distance: int
    transform: str
    timestamp: float | None = None  # the video frame that matched a picture
    detail: dict | None = None  # vPDQ: {"query_percent", "target_percent"}

    def to_dict(self) -> NewMatch:
        d: NewMatch = {"entry_id": self.entry_id, "list_id": self.list_id, "signal": self.signal,
             "distance": self.distance, "transform": self.transform}
        if self.timestamp is not None:
            d["timestamp"] = self.timestamp
        if self.detail:
            d["detail"] = self.detail
        return d


class Matcher:
    """Exact digests and PDQ within each list's threshold, the 8 dihedral variants tried.

    Per entry it holds arrays, never Python objects (tens of millions of entries): sorted
    entry ids, their list ids and an active flag (withdrawn and false-positive entries stay
    indexed but never match). It persists to a folder that `load` memory-maps, and grows by
    `extend` (new entries, ids increasing) and `set_active`, so a list index is kept current
    without a rebuild.
    """

    def __init__(self, thresholds: dict[int, int],
                 video_percent: dict[int, float | None] | None = None) -> None:
        self.thresholds = thresholds
        self.video_percent = video_percent or {}
        self.videos: list[tuple[int, list[VpdqFrame]]] = []  # (entry id, frames)
        self._video_signals: list[tuple[int, str]] = []  # as read, for saving
        self.max_radius = max(thresholds.values(), default=pdq.MATCH_DISTANCE)
        self.exact = {k: DigestIndex(w) for k, w in CRYPTO.items()}
        self.pdq = HammingIndex()
        self._pdq_entry = np.zeros(0, dtype=np.int64)  # index row -> entry id
        self._entry_ids = np.zeros(0, dtype=np.int64)  # sorted
        self._entry_lists = np.zeros(0, dtype=np.int64)
        self._active = np.zeros(0, dtype=bool)
        self.dirty: set[str] = set()  # parts changed since load: what `save` must write
        # set: PDQ queries go there instead of `self.pdq` (the entries' lists and active
        # flags are still read here); entry ids this index does not hold are dropped
        self.pdq_remote: PdqSearch | None = None

    @classmethod
    def build(cls, entries: Iterable[tuple], thresholds: dict[int, int],
              video_percent: dict[int, float | None] | None = None) -> Matcher:
        """entries: (entry id, list id, signal type, value[, active]) in increasing id."""
        m = cls(thresholds, video_percent)
        m.extend(entries)
        m.pdq.build()
        return m

    @property
    def max_entry_id(self) -> int:
        return int(self._entry_ids[-1]) if len(self._entry_ids) else 0

    @property
    def indexed(self) -> int:
        """Entries indexed, inactive ones included."""
        return len(self._entry_ids)

    @property
    def pdq_rows(self) -> int:
        return len(self._pdq_entry)

    def extend(self, entries: Iterable[tuple], chunk: int = 200_000) -> int:
        """Add entries whose ids are above every indexed id; returns how many. The per-entry
        arrays are joined once at the end, not per chunk (per chunk is quadratic at 100M)."""
        parts: list[tuple[np.ndarray, ...]] = []
        last = self.max_entry_id if len(self._entry_ids) else None
        batch: list[tuple] = []
        try:
            for e in entries:
                batch.append(e)
                if len(batch) >= chunk:
                    parts.append(self._extend(batch, last))
                    last, batch = int(parts[-1][0][-1]), []
            if batch:
                parts.append(self._extend(batch, last))
        finally:  # what was added to the indexes gets its entry rows, even on a bad entry
            if parts:
                self._entry_ids, self._entry_lists, self._active, self._pdq_entry = (
                    np.concatenate([old, *(part[i] for part in parts)])
                    for i, old in enumerate((self._entry_ids, self._entry_lists,
                                             self._active, self._pdq_entry)))
                self.dirty |= {"entries", "active"}  # active.npy has a row per entry
        return sum(len(part[0]) for part in parts)

    def _extend(self, batch: list[tuple], last: int | None) -> tuple[np.ndarray, ...]:
        """Index one chunk; returns its (entry ids, list ids, active, PDQ row owners)."""
        ids = np.fromiter((e[0] for e in batch), dtype=np.int64, count=len(batch))
        if (last is not None and ids[0] <= last) or np.any(np.diff(ids) <= 0):
            raise ValueError("entries must come in increasing id, above those indexed")
        hamming: list[int] = []  # where the PDQ rows are: decoded below as one string
        for i, e in enumerate(batch):
            entry_id, _, signal_type, value = e[:4]
            kind = _INDEX_OF.get(signal_type)
            if kind == "hamming":
                hamming.append(i)
            elif kind == "video":
                self.videos.append((entry_id, parse_signal(value)))
                self._video_signals.append((entry_id, value))
                self.dirty.add("videos")
            elif signal_type in self.exact:
                self.exact[signal_type].add(value, entry_id)
                self.dirty.add(signal_type)
        lists = np.fromiter((e[1] for e in batch), np.int64, len(batch))
        active = np.fromiter((bool(e[4]) if len(e) > 4 else True for e in batch), bool,
                             len(batch))
        if hamming:
            values = [batch[i][3] for i in hamming]
            bad = next((v for v in values if len(v) != 64), None)
            if bad is not None:  # one string: a short value would shift every row after it
                raise ValueError(f"a PDQ list value is not 64 hex digits: {bad!r}")
            self.pdq.add(np.frombuffer(bytes.fromhex("".join(values)),
                                       dtype=np.uint8).reshape(-1, 32))
            self.dirty.add("pdq")
        return ids, lists, active, ids[np.asarray(hamming, dtype=np.int64)]

    def set_active(self, changes: Iterable[tuple[int, bool]]) -> int:
        """Flip entries on or off (withdrawn, false positive, reinstated); unknown ids are
        ignored. Returns how many were indexed."""
        changes = list(changes)
        if not changes:
            return 0
        ids = np.asarray([i for i, _ in changes], dtype=np.int64)
        flags = np.asarray([a for _, a in changes], dtype=bool)
        pos = np.searchsorted(self._entry_ids, ids)
        pos = np.minimum(pos, max(len(self._entry_ids) - 1, 0))
        known = (self._entry_ids[pos] == ids) if len(self._entry_ids) else np.zeros(len(ids),
                                                                                   bool)
        active = np.array(self._active)  # writable even when memory-mapped
        active[pos[known]] = flags[known]
        self._active = active
        self.dirty.add("active")
        return int(known.sum())

    def _owner(self, entry_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(list ids, active) of indexed entry ids."""
        pos = np.searchsorted(self._entry_ids, entry_ids)
        return np.asarray(self._entry_lists)[pos], np.asarray(self._active)[pos]

    def _known(self, entry_ids: np.ndarray) -> np.ndarray:
        """Which of these entry ids this index holds (a remote search may know newer ones)."""
        if not len(self._entry_ids):
            return np.zeros(len(entry_ids), bool)
        pos = np.minimum(np.searchsorted(self._entry_ids, entry_ids), len(self._entry_ids) - 1)
        return np.asarray(self._entry_ids)[pos] == entry_ids

    def _has_pdq(self) -> bool:
        return bool(len(self.pdq_remote if self.pdq_remote is not None else self.pdq))

    def _search(self, hexes: list[str], radius: int) -> list[list[tuple[int, int, int]]]:
        """Per hash: (entry id, list id, distance) of active list PDQ hashes within radius.
        One index call for all of them (a picture's 8 dihedral variants, a video's frames)."""
        if self.pdq_remote is not None:
            qi, eids, dists = self.pdq_remote.join(codes_from_hex(hexes), radius)
            known = self._known(eids)
            qi, eids, dists = qi[known], eids[known], dists[known]
        else:
            qi, rows, dists = self.pdq.join(codes_from_hex(hexes), radius)
            eids = self._pdq_entry[rows]  # all hits at once: owners looked up in one call
        lids, live = self._owner(eids)
        qi, eids, lids, dists = qi[live], eids[live], lids[live], dists[live]
        bounds = np.searchsorted(qi, np.arange(len(hexes) + 1)).tolist()
        e, li, d = eids.tolist(), lids.tolist(), dists.tolist()
        return [list(zip(e[a:b], li[a:b], d[a:b], strict=True))
                for a, b in zip(bounds[:-1], bounds[1:], strict=True)]

    def __len__(self) -> int:
        return int(np.count_nonzero(self._active))

    # -- persistence ---------------------------------------------------------------------
    PARTS = ("entries", "active", "pdq", "videos", *CRYPTO)

    def save(self, path: str | Path, header: dict, previous: str | Path | None = None) -> None:
        """Write the index to a new folder `path`. Parts unchanged since `load` from
        `previous` are hard-linked from there rather than rewritten: marking one entry a
        false positive in a 10M-entry index writes 10 MB, not a gigabyte."""
        p = Path(path)
        p.mkdir(parents=True)
        for part in self.PARTS:
            if previous is not None and part not in self.dirty and _link_part(
                    Path(previous), p, part):
                continue
            if part == "entries":
                np.save(p / "entry_ids.npy", np.asarray(self._entry_ids))
                np.save(p / "entry_lists.npy", np.asarray(self._entry_lists))
            elif part == "active":
                np.save(p / "active.npy", np.asarray(self._active))
            elif part == "pdq":
                self.pdq.save(p / "pdq")
                np.save(p / "pdq_entry.npy", np.asarray(self._pdq_entry))
            elif part == "videos":
                (p / "videos.json").write_text(json.dumps(self._video_signals))
            else:
                self.exact[part].save(p / part)
        (p / "header.json").write_text(json.dumps(
            header | {"format": FORMAT, "version": VERSION, "entries": len(self._entry_ids),
                      "pdq_rows": int(len(self._pdq_entry))}))
        self.dirty.clear()

    @classmethod
    def load(cls, path: str | Path, thresholds: dict[int, int],
             video_percent: dict[int, float | None] | None = None) -> tuple[Matcher, dict]:
        """Open a saved index, memory-mapped; returns it with its header. Damaged, partial
        or foreign folders raise IndexFileError (the caller rebuilds)."""
        p = Path(path)
        header = read_header(p, FORMAT, VERSION, "list index")
        m = cls(thresholds, video_percent)
        try:
            m._entry_ids = np.load(p / "entry_ids.npy", mmap_mode="r")
            m._entry_lists = np.load(p / "entry_lists.npy", mmap_mode="r")
            m._active = np.load(p / "active.npy", mmap_mode="r")
            m._pdq_entry = np.load(p / "pdq_entry.npy", mmap_mode="r")
            m._video_signals = [(int(i), str(v)) for i, v in
                                json.loads((p / "videos.json").read_text())]
        except (OSError, ValueError, EOFError, TypeError) as e:
            raise IndexFileError(f"{p}: damaged or truncated list index: {e}") from None
        n = int(header.get("entries", -1))
        if not (m._entry_ids.shape == m._entry_lists.shape == m._active.shape == (n,)) \
                or m._pdq_entry.shape != (int(header.get("pdq_rows", -1)),):
            raise IndexFileError(f"{p}: arrays do not match the header; rebuild it")
        m.pdq = HammingIndex.load(p / "pdq")
        if len(m.pdq._codes) != len(m._pdq_entry):
            raise IndexFileError(f"{p}: PDQ rows do not match their entries; rebuild it")
        for kind in CRYPTO:
            m.exact[kind] = DigestIndex.load(p / kind)
        m.videos = [(i, parse_signal(v)) for i, v in m._video_signals]
        return m, header

    @staticmethod
    def _pdq_queries(p: dict, key: str) -> list[tuple[str, str]]:
        """(transform, hex) to look up. key `plain`: the dihedral variants of the hash, then
        of any as-seen variant (`rgb` for palette images); key `fallbacks`: trimmed and
        cropped variants. Quality < 50 never matches."""
        queries: list[tuple[str, str]] = []
        if key == "plain" and p["quality"] >= pdq.MIN_QUALITY:
            hashes = p.get("dihedral") or [p["hash"]]
            queries += zip(pdq.DIHEDRAL, hashes, strict=False)
        for v in p.get("variants" if key == "plain" else "fallbacks", []):
            if v["quality"] >= pdq.MIN_QUALITY:
                queries += ((v["name"] if t == "none" else f"{v['name']}+{t}", hx)
                            for t, hx in zip(pdq.DIHEDRAL, v["dihedral"], strict=False))
        return queries

    def _pdq_hits(self, queries: list[tuple[str, str, float | None]],
                  found: dict[tuple[int, str], Match]) -> None:
        """Record list entries within their list's threshold of each (transform, hex,
        timestamp) query, nearest kept (the earlier query on a tie)."""
        if not queries:
            return
        hits_per_query = self._search([hx for _, hx, _ in queries], self.max_radius)
        for (transform, _, timestamp), hits in zip(queries, hits_per_query, strict=True):
            self._keep_nearest(transform, timestamp, hits, found)

    def _match_video(self, frames: list, found: dict[tuple[int, str], Match]) -> None:
        """Frames against photo PDQ lists (a video showing a known picture), and the whole
        video against vPDQ lists (the vPDQ percentages, thresholds per list)."""
        seen: dict[str, float] = {}  # each distinct frame hash once, at its first time
        for t, hx, quality in frames:
            if quality >= pdq.MIN_QUALITY and hx not in seen:
                seen[hx] = t
        if self._has_pdq():
            self._pdq_hits([("frame", hx, t) for hx, t in seen.items()], found)
        query = [VpdqFrame(i, t, hx, q) for i, (t, hx, q) in enumerate(frames)]
        if not self.videos:
            return
        lids, live = self._owner(np.asarray([e for e, _ in self.videos], dtype=np.int64))
        for (eid, target), lid, on in zip(self.videos, lids.tolist(), live.tolist(),
                                          strict=True):
            if not on:
                continue
            qp, tp = match_percent(query, target, self.thresholds.get(lid, pdq.MATCH_DISTANCE))
            need = self.video_percent.get(lid) or VIDEO_MATCH_PERCENT
            if qp >= need and tp >= need:
                found[(eid, "vpdq")] = Match(
                    eid, lid, "vpdq", round(100 - min(qp, tp)), "none",
                    detail={"query_percent": round(qp, 1), "target_percent": round(tp, 1)})

    def match_many(self, records: Sequence[Mapping[str, Any]]) -> list[list[Match]]:
        """`match` of each record, with the PDQ lookups of all of them in one index call
        per stage (plain hashes and their turns; then the fallbacks of records the first
        stage matched nothing for): a batch is searched many times faster than one picture
        at a time. Same results as `match`, record by record (tests/test_rematch.py)."""
        found: list[dict[tuple[int, str], Match]] = [{} for _ in records]
        for kind in CRYPTO:  # one batched search per digest type
            which = [i for i, r in enumerate(records) if r.get(kind)]
            if which:
                listed = self.exact[kind].get_many([records[i][kind] for i in which])
                for i, hit in zip(which, listed, strict=True):
                    if hit:  # most lookups: no array work for a miss
                        self._keep_exact(kind, hit, found[i])
        if self._has_pdq():
            pending = [i for i, r in enumerate(records) if r.get("pdq")]
            for key in ("plain", "fallbacks"):
                queries, owner = [], []
                for i in pending:
                    for t, hx in self._pdq_queries(records[i]["pdq"], key):
                        queries.append((t, hx, None))
                        owner.append(i)
                if queries:
                    hits = self._search([hx for _, hx, _ in queries], self.max_radius)
                    for (transform, _, ts), i, qhits in zip(queries, owner, hits, strict=True):
                        self._keep_nearest(transform, ts, qhits, found[i])
                pending = [i for i in pending if not any(k[1] == "pdq" for k in found[i])]
        for i, record in enumerate(records):
            v = record.get("vpdq")
            if v:
                self._match_video(v["frames"], found[i])
        return [sorted(f.values(), key=lambda m: (m.list_id, m.signal, m.distance, m.entry_id))
                for f in found]

    def _exact_hits(self, record: Mapping[str, Any], found: dict[tuple[int, str], Match]
                    ) -> None:
        for kind in CRYPTO:
            value = record.get(kind)
            if value:
                listed = self.exact[kind].get(value)
                if listed:  # most lookups: no array work for a miss
                    self._keep_exact(kind, listed, found)

    def _keep_exact(self, kind: str, listed: list[int], found: dict[tuple[int, str], Match]
                    ) -> None:
        """The active entries among those listing a digest, as matches at distance 0."""
        eids = np.asarray(listed, dtype=np.int64)
        lids, live = self._owner(eids)
        for eid, lid in zip(eids[live].tolist(), lids[live].tolist(), strict=True):
            found[(eid, kind)] = Match(eid, lid, kind, 0, "none")

    def _keep_nearest(self, transform: str, timestamp: float | None,
                      hits: list[tuple[int, int, int]],
                      found: dict[tuple[int, str], Match]) -> None:
        """A query's hits within their list's threshold; the nearest per entry is kept (the
        earlier query on a tie)."""
        for eid, lid, dist in hits:
            if dist > self.thresholds.get(lid, pdq.MATCH_DISTANCE):
                continue
            prev = found.get((eid, "pdq"))
            if prev is None or dist < prev.distance:
                found[(eid, "pdq")] = Match(eid, lid, "pdq", dist, transform, timestamp)

    def match(self, record: Mapping[str, Any]) -> list[Match]:
        found: dict[tuple[int, str], Match] = {}
        self._exact_hits(record, found)
        p = record.get("pdq")
        if p and self._has_pdq():
            for key in ("plain", "fallbacks"):
                self._pdq_hits([(t, hx, None) for t, hx in self._pdq_queries(p, key)], found)
                if any(k[1] == "pdq" for k in found):
                    break  # variants only when the plain hash matched nothing
        v = record.get("vpdq")
        if v:
            self._match_video(v["frames"], found)
        return sorted(found.values(), key=lambda m: (m.list_id, m.signal, m.distance, m.entry_id))
