"""An exact Hamming-radius index for 256-bit hashes: multi-index hashing.

Norouzi, Punjani & Fleet, "Fast search in Hamming space with multi-index hashing": split each
hash into m = 16 substrings of 16 bits. If two hashes are within r, by the pigeonhole
principle at least one substring pair is within floor(r / 16). So probing, in each of the 16
tables, every key within floor(r / 16) of the query's substring finds every true neighbour;
candidates are then verified on all 256 bits. Nothing is approximate: results equal a
brute-force scan for every radius (radius >= 64 falls back to a scan).

Tables are CSR arrays (per substring: row ids sorted by key, and 65,537 offsets), so nothing
is a Python object per hash, and the whole index saves as .npy files that load memory-mapped.
Rows added after the last build are searched by brute force until `build()` folds them in;
removed rows are tombstoned and dropped at the next build.
"""

from __future__ import annotations

import json
from itertools import combinations
from pathlib import Path

import numpy as np

FORMAT = "cairn-hamming-index"
VERSION = 1
M = 16  # substrings
KEY_BITS = 16
KEYS = 1 << KEY_BITS
SCAN_RADIUS = 64  # from here on, probing costs more than a scan


class IndexFileError(Exception):
    """An index on disk that is truncated, foreign, or of another version."""


def _masks(s: int) -> np.ndarray:
    """Every 16-bit mask with at most s bits set."""
    out = [0]
    for k in range(1, s + 1):
        out += [sum(1 << b for b in bits) for bits in combinations(range(16), k)]
    return np.asarray(out, dtype=np.int64)


_MASKS = {s: _masks(s) for s in range(4)}


def _as_codes(hashes: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(hashes, dtype=np.uint8)
    if a.ndim != 2 or a.shape[1] != 32:
        raise ValueError(f"hashes must be uint8[N, 32], got shape {a.shape}")
    return a


def _keys(codes: np.ndarray) -> np.ndarray:
    """[N, 16] substring keys (big-endian 16-bit words)."""
    return codes.view(">u2").astype(np.int64)


def _popcount_distance(codes: np.ndarray, query: np.ndarray) -> np.ndarray:
    return np.bitwise_count(codes.view(np.uint64) ^ query.view(np.uint64)).sum(
        axis=1, dtype=np.int64)


class HammingIndex:
    """add / remove / search / join / save / load over uint8[N, 32] hashes; ids are row numbers."""

    def __init__(self) -> None:
        self._codes = np.zeros((0, 32), dtype=np.uint8)
        self._deleted = np.zeros(0, dtype=bool)
        self._order = np.zeros((M, 0), dtype=np.uint32)
        self._offsets = np.zeros((M, KEYS + 1), dtype=np.int64)
        self._built = 0  # rows covered by the tables

    # -- building --------------------------------------------------------------------------
    def __len__(self) -> int:
        return int(len(self._codes) - self._deleted.sum())

    def add(self, hashes: np.ndarray) -> np.ndarray:
        """Append hashes; returns their ids. Searchable at once (by scan until `build`)."""
        codes = _as_codes(hashes)
        start = len(self._codes)
        self._codes = np.concatenate([np.asarray(self._codes), codes])
        self._deleted = np.concatenate([np.asarray(self._deleted),
                                        np.zeros(len(codes), dtype=bool)])
        if len(self._codes) - self._built > max(65_536, self._built // 20):
            self.build()
        return np.arange(start, start + len(codes), dtype=np.int64)

    def remove(self, ids: np.ndarray | list[int]) -> None:
        ids = np.asarray(ids, dtype=np.int64)
        if len(ids) and (ids.min() < 0 or ids.max() >= len(self._codes)):
            raise KeyError("id out of range")
        deleted = np.array(self._deleted)  # writable even when memory-mapped
        deleted[ids] = True
        self._deleted = deleted

    def build(self) -> None:
        """(Re)build the 16 substring tables over every row."""
        codes = np.asarray(self._codes)
        n = len(codes)
        if n >= 2**32:
            raise ValueError("more than 2^32 rows")
        keys = _keys(codes)
        order = np.empty((M, n), dtype=np.uint32)
        offsets = np.empty((M, KEYS + 1), dtype=np.int64)
        for k in range(M):
            order[k] = np.argsort(keys[:, k], kind="stable")
            offsets[k, 0] = 0
            np.cumsum(np.bincount(keys[:, k], minlength=KEYS), out=offsets[k, 1:])
        self._order, self._offsets, self._built = order, offsets, n

    # -- searching -------------------------------------------------------------------------
    def _candidates(self, query: np.ndarray, s: int) -> np.ndarray:
        qkeys = query.view(">u2").astype(np.int64)  # [16]
        probes = qkeys[:, None] ^ _MASKS[s][None, :]  # [16, P]
        rows = np.arange(M)[:, None]
        starts = self._offsets[rows, probes].ravel()
        ends = self._offsets[rows, probes + 1].ravel()
        lengths = ends - starts
        total = int(lengths.sum())
        if total == 0:
            return np.zeros(0, dtype=np.int64)
        base = (np.repeat(np.arange(M), probes.shape[1]) * self._built + starts)
        shift = np.repeat(base - np.cumsum(lengths) + lengths, lengths)
        flat = shift + np.arange(total)
        return np.asarray(self._order).ravel()[flat].astype(np.int64)

    def search(self, queries: np.ndarray, radius: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """For each query: (ids, distances) of every live hash within `radius`, nearest first
        (ties by id): exactly what a brute-force scan returns."""
        qs = _as_codes(queries)
        return [self._search_one(q, radius) for q in qs]

    def _search_one(self, q: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray]:
        codes = self._codes
        parts_ids, parts_d = [], []
        if radius >= SCAN_RADIUS or self._built == 0:
            ids = np.arange(len(codes), dtype=np.int64)
            d = _popcount_distance(np.asarray(codes), q)
        else:
            cand = self._candidates(q, radius // M)
            d = _popcount_distance(np.asarray(codes)[cand], q)
            ids = cand
            tail = np.arange(self._built, len(codes), dtype=np.int64)
            if len(tail):
                parts_ids.append(tail)
                parts_d.append(_popcount_distance(np.asarray(codes)[self._built:], q))
        parts_ids.insert(0, ids)
        parts_d.insert(0, d)
        ids = np.concatenate(parts_ids)
        d = np.concatenate(parts_d)
        keep = (d <= radius) & ~np.asarray(self._deleted)[ids]
        ids, d = ids[keep], d[keep]
        ids, first = np.unique(ids, return_index=True)  # a row can be found via 2 substrings
        d = d[first]
        order = np.lexsort((ids, d))
        return ids[order], d[order]

    def join(self, queries: np.ndarray, radius: int
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """All pairs within radius as flat arrays (query row, id, distance): the batched form
        a scan of many pictures uses."""
        qi, ids, ds = [], [], []
        for i, (found, d) in enumerate(self.search(queries, radius)):
            qi.append(np.full(len(found), i, dtype=np.int64))
            ids.append(found)
            ds.append(d)
        if not qi:
            return (np.zeros(0, np.int64),) * 3
        return np.concatenate(qi), np.concatenate(ids), np.concatenate(ds)

    # -- persistence -----------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Write a folder of .npy files plus a header; rebuilt first so nothing is pending."""
        if self._built != len(self._codes):
            self.build()
        p = Path(path)
        p.mkdir(parents=True, exist_ok=True)
        np.save(p / "codes.npy", np.asarray(self._codes))
        np.save(p / "deleted.npy", np.asarray(self._deleted))
        np.save(p / "order.npy", np.asarray(self._order))
        np.save(p / "offsets.npy", np.asarray(self._offsets))
        header = {"format": FORMAT, "version": VERSION, "rows": int(len(self._codes)),
                  "substrings": M, "key_bits": KEY_BITS}
        (p / "header.json").write_text(json.dumps(header))

    @classmethod
    def load(cls, path: str | Path, mmap: bool = True) -> HammingIndex:
        """Open a saved index, memory-mapped: a 10M index opens without reading it."""
        p = Path(path)
        try:
            header = json.loads((p / "header.json").read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise IndexFileError(f"{p}: not a cairn Hamming index ({e})") from None
        if header.get("format") != FORMAT:
            raise IndexFileError(f"{p}: not a cairn Hamming index")
        if header.get("version") != VERSION:
            raise IndexFileError(f"{p}: index version {header.get('version')}, this cairn "
                                 f"reads version {VERSION}; rebuild it")
        mode = "r" if mmap else None
        idx = cls()
        try:
            idx._codes = np.load(p / "codes.npy", mmap_mode=mode)
            idx._deleted = np.load(p / "deleted.npy", mmap_mode=mode)
            idx._order = np.load(p / "order.npy", mmap_mode=mode)
            idx._offsets = np.load(p / "offsets.npy", mmap_mode=mode)
        except (OSError, ValueError, EOFError) as e:
            raise IndexFileError(f"{p}: damaged or truncated index file: {e}") from None
        n = header["rows"]
        shapes = {"codes": (idx._codes.shape, (n, 32)), "deleted": (idx._deleted.shape, (n,)),
                  "order": (idx._order.shape, (M, n)),
                  "offsets": (idx._offsets.shape, (M, KEYS + 1))}
        for name, (got, want) in shapes.items():
            if tuple(got) != want:
                raise IndexFileError(f"{p}: {name}.npy has shape {got}, header says {want}; "
                                     "the index is damaged; rebuild it")
        if n and int(idx._offsets[0, -1]) != n:
            raise IndexFileError(f"{p}: offsets do not cover {n} rows; rebuild the index")
        idx._built = n
        return idx
