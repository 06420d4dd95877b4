"""Matching an item's signals against every imported list."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from cairn.index import BruteForceHammingIndex, ExactIndex
from cairn.signals import pdq

CRYPTO = ("md5", "sha1", "sha256")


@dataclass(frozen=True, slots=True)
class Match:
    entry_id: int
    list_id: int
    signal: str
    distance: int
    transform: str

    def to_dict(self) -> dict:
        return {"entry_id": self.entry_id, "list_id": self.list_id, "signal": self.signal,
                "distance": self.distance, "transform": self.transform}


class Matcher:
    """Exact digests and PDQ within each list's threshold, the 8 dihedral variants tried."""

    def __init__(self, thresholds: dict[int, int]) -> None:
        self.thresholds = thresholds
        self.max_radius = max(thresholds.values(), default=pdq.MATCH_DISTANCE)
        self.exact = {k: ExactIndex() for k in CRYPTO}
        self.pdq = BruteForceHammingIndex()
        self.owner: dict[int, int] = {}  # entry id -> list id

    @classmethod
    def build(cls, entries: Iterable[tuple[int, int, str, str]], thresholds: dict[int, int]
              ) -> Matcher:
        m = cls(thresholds)
        for entry_id, list_id, signal_type, value in entries:
            m.owner[entry_id] = list_id
            if signal_type == "pdq":
                m.pdq.add(bytes.fromhex(value), entry_id)
            elif signal_type in m.exact:
                m.exact[signal_type].add(value, entry_id)
        return m

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
                    for eid, dist in self.pdq.search(bytes.fromhex(hx), self.max_radius):
                        lid = self.owner[eid]
                        if dist > self.thresholds.get(lid, pdq.MATCH_DISTANCE):
                            continue
                        prev = found.get((eid, "pdq"))
                        if prev is None or dist < prev.distance:
                            found[(eid, "pdq")] = Match(eid, lid, "pdq", dist, transform)
                if any(k[1] == "pdq" for k in found):
                    break  # variants only when the plain hash matched nothing
        return sorted(found.values(), key=lambda m: (m.list_id, m.signal, m.distance, m.entry_id))
