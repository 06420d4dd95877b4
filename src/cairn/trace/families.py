"""Content families: every item of a case clustered with its near-duplicates.

Linked when: the same bytes (SHA-256); PDQ within the threshold in any of the 8 rotations and
flips (every picture's plain hash is joined against an index of all pictures' dihedral
hashes: the index does the work, never an all-pairs loop); a video frame within the threshold of a
picture (the video shows it). Union-find turns the pairs into families. Each family names a
representative (the content with most exact copies, then highest PDQ quality, then most
pixels, then first by source and path), its
members with their distance to it, and the sources (exhibits) it spans.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from dataclasses import dataclass, field

import numpy as np

from cairn.index import HammingIndex, codes_from_hex
from cairn.signals import pdq as pdqmod
from cairn.signals.vpdq import parse_signal
from cairn.trace.unionfind import UnionFind

JOIN_BATCH = 20_000  # queries a join task takes


@dataclass
class Family:
    id: int
    representative: dict
    members: list[dict] = field(default_factory=list)  # {item, distance, via}
    sources: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"id": self.id, "representative": _ref(self.representative),
                "size": len(self.members), "sources": self.sources,
                "members": self.members}


def _ref(it: dict) -> dict:
    return {"source": it["source"], "path": it["path"], "sha256": it["sha256"]}


_SHARED: tuple | None = None  # (index, queries, radius) for forked join workers


def _join_part(bounds: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    idx, queries, radius = _SHARED  # type: ignore[misc]
    qi, ids, _ = idx.join(queries[bounds[0]:bounds[1]], radius)
    return qi + bounds[0], ids


def _join(idx: HammingIndex, queries: np.ndarray, radius: int, workers: int
          ) -> list[tuple[np.ndarray, np.ndarray]]:
    """(query rows, index ids) of every pair within radius, on `workers` forked processes
    sharing the index copy-on-write (one process for small joins, or where fork is not
    available)."""
    global _SHARED
    cuts = list(range(0, len(queries), JOIN_BATCH)) + [len(queries)]
    parts = list(zip(cuts[:-1], cuts[1:], strict=True))
    _SHARED = (idx, queries, radius)
    try:
        if workers <= 1 or len(parts) < 2 or "fork" not in mp.get_all_start_methods():
            return [_join_part(b) for b in parts]
        with mp.get_context("fork").Pool(min(workers, len(parts))) as pool:
            return pool.map(_join_part, parts)
    finally:
        _SHARED = None


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def families(items: list[dict], threshold: int = pdqmod.MATCH_DISTANCE,
             min_quality: int = pdqmod.MIN_QUALITY, workers: int | None = None
             ) -> list[Family]:
    """Families of two or more items (singletons are not families), largest first."""
    workers = default_workers() if workers is None else workers
    n = len(items)
    uf = UnionFind(n)
    by_sha: dict[str, int] = {}
    for i, it in enumerate(items):
        if it.get("sha256"):
            if it["sha256"] in by_sha:
                uf.union(by_sha[it["sha256"]], i)
            else:
                by_sha[it["sha256"]] = i
    # one index row per distinct picture content with a usable PDQ
    rows = [i for i, it in enumerate(items) if it.get("pdq") and (it.get("quality") or 0)
            >= min_quality and by_sha.get(it["sha256"]) == i]
    if rows:
        # the index holds all 8 rotations/flips of every picture, so one query per picture
        # (its plain hash) finds every dihedral relation: 8x fewer queries than querying
        # each variant, and queries are what cost (a row costs only memory)
        row_item: list[int] = []
        row_hex: list[str] = []
        for i in rows:
            for h in items[i]["dihedral"] or [items[i]["pdq"]]:
                row_item.append(i)
                row_hex.append(h)
        idx = HammingIndex()
        idx.add(codes_from_hex(row_hex))
        idx.build()
        row_item_a = np.asarray(row_item, dtype=np.int64)
        q_item = list(rows)
        q_hex = [items[i]["pdq"] for i in rows]
        for i, it in enumerate(items):  # video frames showing a picture
            if it.get("vpdq"):
                for f in parse_signal(it["vpdq"]):
                    if f.quality >= min_quality:
                        q_item.append(i)
                        q_hex.append(f.hash)
        q_item_a = np.asarray(q_item, dtype=np.int64)
        for qi, ids in _join(idx, codes_from_hex(q_hex), threshold, workers):
            uf.union_pairs(q_item_a[qi], row_item_a[ids])
    labels = uf.labels()
    groups: dict[int, list[int]] = {}
    for i, lab in enumerate(labels.tolist()):
        groups.setdefault(lab, []).append(i)
    out = []
    for members in groups.values():
        if len(members) < 2:
            continue
        copies: dict[str, int] = {}
        for i in members:
            copies[items[i]["sha256"]] = copies.get(items[i]["sha256"], 0) + 1
        rep = min(members, key=lambda i: (-copies[items[i]["sha256"]],
                                          -(items[i].get("quality") or -1),
                                          -((items[i].get("width") or 0) *
                                            (items[i].get("height") or 0)),
                                          items[i]["source"], items[i]["path"]))
        fam = Family(0, items[rep])
        for i in sorted(members, key=lambda i: (items[i]["source"], items[i]["path"])):
            fam.members.append({**_ref(items[i]), **_relation(items[i], items[rep],
                                                              threshold)})
        fam.sources = sorted({items[i]["source"] for i in members})
        out.append(fam)
    out.sort(key=lambda f: (-len(f.members), f.representative["source"],
                            f.representative["path"]))
    for k, family in enumerate(out, 1):
        family.id = k
    return out


def _relation(it: dict, rep: dict, threshold: int) -> dict:
    """How a member relates to its family's representative."""
    if it is rep:
        return {"distance": 0, "via": "representative"}
    if it.get("sha256") and it["sha256"] == rep.get("sha256"):
        return {"distance": 0, "via": "same bytes"}
    if it.get("pdq") and rep.get("pdq"):
        names = list(pdqmod.DIHEDRAL)
        best = min((pdqmod.hamming(h, rep["pdq"]), names[k] if k < len(names) else "none")
                   for k, h in enumerate(it.get("dihedral") or [it["pdq"]]))
        if best[0] <= threshold:
            return {"distance": best[0], "via": "pdq" if best[1] == "none" else
                    f"pdq {best[1]}"}
    if it.get("vpdq") and rep.get("pdq"):
        d = min((pdqmod.hamming(f.hash, rep["pdq"]), f.timestamp)
                for f in parse_signal(it["vpdq"]))
        if d[0] <= threshold:
            return {"distance": d[0], "via": f"video frame at {d[1]:.1f} s"}
    return {"distance": None, "via": "through another member"}
