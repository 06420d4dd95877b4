"""Matching an item's signals against every imported list."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from cairn.index import DigestIndex, HammingIndex
from cairn.signals import pdq
from cairn.signals.vpdq import VIDEO_MATCH_PERCENT, VpdqFrame, match_percent, parse_signal

CRYPTO = {"md5": 16, "sha1": 20, "sha256": 32}


@dataclass(frozen=True, slots=True)
class Match:
    entry_id: int
    list_id: int
    signal: str
    distance: int
    transform: str
    timestamp: float | None = None  # the video frame that matched a picture
    detail: dict | None = None  # vPDQ: {"query_percent", "target_percent"}

    def to_dict(self) -> dict:
        d = {"entry_id": self.entry_id, "list_id": self.list_id, "signal": self.signal,
             "distance": self.distance, "transform": self.transform}
        if self.timestamp is not None:
            d["timestamp"] = self.timestamp
        if self.detail:
            d["detail"] = self.detail
        return d


class Matcher:
    """Exact digests and PDQ within each list's threshold, the 8 dihedral variants tried."""

    def __init__(self, thresholds: dict[int, int],
                 video_percent: dict[int, float | None] | None = None) -> None:
        self.thresholds = thresholds
        self.video_percent = video_percent or {}
        self.videos: list[tuple[int, list[VpdqFrame]]] = []  # (entry id, frames)
        self.max_radius = max(thresholds.values(), default=pdq.MATCH_DISTANCE)
        self.exact = {k: DigestIndex(w) for k, w in CRYPTO.items()}
        self.pdq = HammingIndex()
        self._pdq_entry = np.zeros(0, dtype=np.int64)  # index row -> entry id
        self.owner: dict[int, int] = {}  # entry id -> list id

    @classmethod
    def build(cls, entries: Iterable[tuple[int, int, str, str]], thresholds: dict[int, int],
              video_percent: dict[int, float | None] | None = None) -> Matcher:
        m = cls(thresholds, video_percent)
        pdq_rows: list[bytes] = []
        pdq_ids: list[int] = []
        for entry_id, list_id, signal_type, value in entries:
            m.owner[entry_id] = list_id
            if signal_type == "pdq":
                pdq_rows.append(bytes.fromhex(value))
                pdq_ids.append(entry_id)
            elif signal_type == "vpdq":
                m.videos.append((entry_id, parse_signal(value)))
            elif signal_type in m.exact:
                m.exact[signal_type].add(value, entry_id)
        if pdq_rows:
            m.pdq.add(np.frombuffer(b"".join(pdq_rows), dtype=np.uint8).reshape(-1, 32))
            m.pdq.build()
            m._pdq_entry = np.asarray(pdq_ids, dtype=np.int64)
        return m

    def _search(self, hx: str, radius: int) -> list[tuple[int, int]]:
        """(entry id, distance) of list PDQ hashes within radius of one hash."""
        q = np.frombuffer(bytes.fromhex(hx), dtype=np.uint8)[None, :]
        ((rows, dists),) = self.pdq.search(q, radius)
        return list(zip(self._pdq_entry[rows].tolist(), dists.tolist(), strict=True))

    def __len__(self) -> int:
        return len(self.owner)

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

    def _pdq_hits(self, hx: str, transform: str, found: dict[tuple[int, str], Match],
                  timestamp: float | None = None) -> None:
        """Record list entries within their list's threshold of one hash, nearest kept."""
        for eid, dist in self._search(hx, self.max_radius):
            lid = self.owner[eid]
            if dist > self.thresholds.get(lid, pdq.MATCH_DISTANCE):
                continue
            prev = found.get((eid, "pdq"))
            if prev is None or dist < prev.distance:
                found[(eid, "pdq")] = Match(eid, lid, "pdq", dist, transform, timestamp)

    def _match_video(self, frames: list, found: dict[tuple[int, str], Match]) -> None:
        """Frames against photo PDQ lists (a video showing a known picture), and the whole
        video against vPDQ lists (the vPDQ percentages, thresholds per list)."""
        seen: set[str] = set()
        for t, hx, quality in frames:
            if quality < pdq.MIN_QUALITY or hx in seen or not len(self.pdq):
                continue
            seen.add(hx)
            self._pdq_hits(hx, "frame", found, t)
        if not self.videos:
            return
        query = [VpdqFrame(i, t, hx, q) for i, (t, hx, q) in enumerate(frames)]
        for eid, target in self.videos:
            lid = self.owner[eid]
            qp, tp = match_percent(query, target, self.thresholds.get(lid, pdq.MATCH_DISTANCE))
            need = self.video_percent.get(lid) or VIDEO_MATCH_PERCENT
            if qp >= need and tp >= need:
                found[(eid, "vpdq")] = Match(
                    eid, lid, "vpdq", round(100 - min(qp, tp)), "none",
                    detail={"query_percent": round(qp, 1), "target_percent": round(tp, 1)})

    def match(self, record: dict) -> list[Match]:
        found: dict[tuple[int, str], Match] = {}
        for kind in CRYPTO:
            value = record.get(kind)
            if value:
                for eid in self.exact[kind].get(value):
                    found[(eid, kind)] = Match(eid, self.owner[eid], kind, 0, "none")
        p = record.get("pdq")
        if p and len(self.pdq):
            for key in ("plain", "fallbacks"):
                for transform, hx in self._pdq_queries(p, key):
                    self._pdq_hits(hx, transform, found)
                if any(k[1] == "pdq" for k in found):
                    break  # variants only when the plain hash matched nothing
        v = record.get("vpdq")
        if v:
            self._match_video(v["frames"], found)
        return sorted(found.values(), key=lambda m: (m.list_id, m.signal, m.distance, m.entry_id))
