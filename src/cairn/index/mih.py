"""An exact Hamming-radius index for 256-bit hashes: multi-index hashing.

Norouzi, Punjani & Fleet, "Fast search in Hamming space with multi-index hashing": split each
hash into m substrings. If two hashes are within r, by the pigeonhole principle at least one
substring pair is within floor(r / m). So probing, in each of the m tables, every key within
floor(r / m) of the query's substring finds every true neighbour; candidates are then verified
on all 256 bits. Nothing is approximate: results equal a brute-force scan for every radius.
m follows the paper's rule, about 256 / log2(N) (substrings of 16 to 24 bits), so buckets stay
nearly empty as N grows; where probing would cost more than a scan, the index scans.

Tables are CSR arrays, all substrings in two flat arrays (row ids sorted by key per table, and
2^bits + 1 offsets per table), so one query probes every table in a few vectorised steps,
nothing is a Python object per hash, and the index saves as .npy files that load memory-mapped.
Rows added after the last build are searched by brute force until `build()` folds them in;
removed rows are tombstoned and dropped at the next build.
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from itertools import combinations
from pathlib import Path

import numpy as np

from cairn.index.files import IndexFileError, read_header

FORMAT = "cairn-hamming-index"
VERSION = 5
# Substrings are cut from the hash with its bytes interleaved (0, 8, 16, 24, 1, 9, ...): runs
# of equal bytes (low-entropy pictures, shared prefixes) spread over every table instead of
# filling a few buckets. Matching is unaffected: Hamming distance ignores bit order.
INTERLEAVE = np.array([b + 8 * k for b in range(8) for k in range(4)], dtype=np.intp)
MAX_PROBE_RADIUS = 5  # substring radius beyond which probing is never worth it
BATCH = 16  # queries probed together: measured best at 10M (8-32 within noise; 128 slower)


@lru_cache(maxsize=64)
def _masks(bits: int, s: int) -> np.ndarray:
    """Every `bits`-bit mask with at most s bits set."""
    out = [0]
    for k in range(1, s + 1):
        out += [sum(1 << b for b in c) for c in combinations(range(bits), k)]
    return np.asarray(out, dtype=np.int64)


def layout_for(n: int) -> tuple[int, ...]:
    """Substring lengths for n rows: m ~ 256 / log2(n), lengths 16..24 bits summing to 256."""
    target = min(24.0, max(16.0, math.log2(max(n, 2))))
    m = max(11, min(16, round(256 / target)))
    base, extra = divmod(256, m)
    return tuple(base + 1 if k < extra else base for k in range(m))


def _substrings(codes: np.ndarray, lengths: tuple[int, ...], interleave: bool = True
                ) -> np.ndarray:
    """[N, m] int64 keys: bit ranges of the (byte-interleaved) hash, most significant first."""
    if interleave:
        codes = np.ascontiguousarray(codes[:, INTERLEAVE])
    words = codes.view(">u8").astype(np.uint64)  # [N, 4]
    out = np.empty((len(codes), len(lengths)), dtype=np.int32)  # keys are <= 24 bits
    start = 0
    for k, length in enumerate(lengths):
        w, off = divmod(start, 64)
        if off + length <= 64:
            key = (words[:, w] >> np.uint64(64 - off - length)) & np.uint64((1 << length) - 1)
        else:
            first = 64 - off
            second = length - first
            key = ((words[:, w] & np.uint64((1 << first) - 1)) << np.uint64(second)) | (
                words[:, w + 1] >> np.uint64(64 - second))
        out[:, k] = key
        start += length
    return out


def _as_codes(hashes: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(hashes, dtype=np.uint8)
    if a.ndim != 2 or a.shape[1] != 32:
        raise ValueError(f"hashes must be uint8[N, 32], got shape {a.shape}")
    return a


def _offset_bases(lengths: tuple[int, ...]) -> np.ndarray:
    """Where each table's offsets start in the flat offsets array (and, last, its length)."""
    return np.cumsum([0] + [(1 << b) + 1 for b in lengths]).astype(np.int64)


def _popcount_distance(codes: np.ndarray, query: np.ndarray) -> np.ndarray:
    return np.bitwise_count(codes.view(np.uint64) ^ query.view(np.uint64)).sum(
        axis=1, dtype=np.int64)


class HammingIndex:
    """add / remove / search / join / save / load over uint8[N, 32] hashes; ids are row numbers."""

    def __init__(self) -> None:
        self._codes = np.zeros((0, 32), dtype=np.uint8)
        self._deleted = np.zeros(0, dtype=bool)
        self._lengths: tuple[int, ...] = ()
        self._order = np.zeros(0, dtype=np.uint32)  # table k: rows [k*built, (k+1)*built)
        self._offsets = np.zeros(0, dtype=np.uint32)  # table k: 2^bits + 1 bucket starts
        self._built = 0  # rows covered by the tables
        self._worth: tuple[tuple, bool] | None = None  # (radius, rows, layout) -> probe?
        self._plans: dict[tuple, tuple] = {}  # probe plans for the current layout

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

    def build(self, lengths: tuple[int, ...] | None = None) -> None:
        """(Re)build the substring tables over every row, with the layout for its size
        (or `lengths`, substring bits summing to 256, each 8..24)."""
        codes = np.asarray(self._codes)
        n = len(codes)
        if n >= 2**32 - 1:
            raise ValueError("more than 2^32 rows")
        lengths = tuple(lengths) if lengths else layout_for(n)
        if sum(lengths) != 256 or not all(8 <= b <= 24 for b in lengths):
            raise ValueError(f"substring bits must sum to 256, each 8..24: {lengths}")
        if n == self._built and lengths == self._lengths:
            return  # tables are current
        keys = _substrings(codes, lengths)
        order = np.empty(len(lengths) * n, dtype=np.uint32)
        bases = _offset_bases(lengths)
        offsets = np.zeros(int(bases[-1]), dtype=np.uint32)
        for k, length in enumerate(lengths):
            # any order within a bucket will do: the unstable sort is the faster one
            order[k * n:(k + 1) * n] = np.argsort(keys[:, k], kind="quicksort")
            np.cumsum(np.bincount(keys[:, k], minlength=1 << length),
                      out=offsets[bases[k] + 1:bases[k + 1]])
        self._lengths, self._order, self._offsets, self._built = lengths, order, offsets, n

    # -- searching -------------------------------------------------------------------------
    def _probe_worthwhile(self, radius: int) -> bool:
        """Probing pays while the expected candidates stay well under a scan of every row."""
        key = (radius, self._built, self._lengths)
        if self._worth is None or self._worth[0] != key:
            self._worth = (key, self._estimate_worthwhile(radius))
        return self._worth[1]

    def _estimate_worthwhile(self, radius: int) -> bool:
        if not self._lengths:
            return False
        s = radius // len(self._lengths)
        if s > MAX_PROBE_RADIUS:
            return False
        expected = sum(len(_masks(b, s)) * self._built / (1 << b) + len(_masks(b, s))
                       for b in self._lengths)
        return expected < self._built / 4

    def _plan(self, s: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """For substring radius s: every probe mask of every table, flattened, with its table
        and the bases of that table in the flat offsets and order arrays."""
        key = (s, self._lengths, self._built)
        cache = self._plans
        if key not in cache:
            masks = [_masks(b, s) for b in self._lengths]
            table = np.repeat(np.arange(len(masks)), [len(m) for m in masks])
            off_base = _offset_bases(self._lengths)[:-1]
            cache.clear()
            cache[key] = (np.concatenate(masks), table, off_base[table].astype(np.int64),
                          (table * self._built).astype(np.int64))
        return cache[key]

    def _candidates(self, query: np.ndarray, radius: int, force: bool) -> np.ndarray | None:
        """Rows sharing a probed substring with the query; None when gathering them would
        cost more than scanning (crowded buckets: many near-duplicates of this query)."""
        masks, table, off_base, order_base = self._plan(radius // len(self._lengths))
        qkeys = _substrings(query[None, :], self._lengths)[0].astype(np.int64)
        offsets, order = self._offsets, self._order
        at = off_base + (qkeys[table] ^ masks)
        starts = offsets[at].astype(np.int64)
        counts = offsets[at + 1].astype(np.int64) - starts
        nonzero = counts > 0
        starts, counts = starts[nonzero] + order_base[nonzero], counts[nonzero]
        total = int(counts.sum())
        if not force and total > self._built // 4:
            return None
        if total == 0:
            return np.zeros(0, dtype=np.int64)
        flat = np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(total)
        return order[flat].astype(np.int64)

    def search(self, queries: np.ndarray, radius: int, strategy: str = "auto"
               ) -> list[tuple[np.ndarray, np.ndarray]]:
        """For each query: (ids, distances) of every live hash within `radius`, nearest first
        (ties by id): exactly what a brute-force scan returns. `strategy`: `auto` probes when
        that is cheaper than a scan; `probe` and `scan` force one (tests, benchmarks).
        Many queries are probed together, BATCH at a time, in one set of array operations:
        the per-query interpreter overhead is what bounds a single lookup."""
        if strategy not in ("auto", "probe", "scan"):
            raise ValueError(f"strategy must be auto, probe or scan, not {strategy!r}")
        qs = _as_codes(queries)
        probe = {"probe": bool(self._lengths), "scan": False}.get(
            strategy, self._probe_worthwhile(radius))
        if not probe or len(qs) == 1:
            return [self._search_one(q, radius, strategy) for q in qs]
        out: list[tuple[np.ndarray, np.ndarray]] = []
        for lo in range(0, len(qs), BATCH):
            out += self._search_batch(qs[lo:lo + BATCH], radius, strategy == "probe")
        return out

    def _search_batch(self, qs: np.ndarray, radius: int, force: bool
                      ) -> list[tuple[np.ndarray, np.ndarray]]:
        masks, table, off_base, order_base = self._plan(radius // len(self._lengths))
        qkeys = _substrings(qs, self._lengths).astype(np.int64)  # [Q, m]
        at = off_base[None, :] + (qkeys[:, table] ^ masks[None, :])  # [Q, probes]
        offsets = self._offsets
        starts = offsets[at].astype(np.int64)
        counts = offsets[at + 1].astype(np.int64) - starts
        results: list[tuple[np.ndarray, np.ndarray] | None] = [None] * len(qs)
        crowded = np.zeros(len(qs), dtype=bool) if force else (
            counts.sum(axis=1) > self._built // 4)
        for i in np.flatnonzero(crowded):  # many near-duplicates: scanning is cheaper
            results[i] = self._search_one(qs[i], radius, "scan")
        rows = np.flatnonzero(~crowded)
        c = counts[rows].ravel()
        st = (starts[rows] + order_base[None, :]).ravel()
        qrow = np.repeat(rows, counts.shape[1])
        nz = c > 0
        c, st, qrow = c[nz], st[nz], qrow[nz]
        total = int(c.sum())
        flat = np.repeat(st - np.cumsum(c) + c, c) + np.arange(total, dtype=np.int64)
        cand = np.asarray(self._order)[flat].astype(np.int64)
        cand_q = np.repeat(qrow, c)
        codes64 = np.asarray(self._codes).view(np.uint64)
        q64 = qs.view(np.uint64)
        d = np.bitwise_count(codes64[cand] ^ q64[cand_q]).sum(axis=1, dtype=np.int64)
        keep = d <= radius
        cand, cand_q, d = cand[keep], cand_q[keep], d[keep]
        n_tail = len(codes64) - self._built
        if n_tail:  # rows added since the last build: compared with every query
            tail = np.arange(self._built, len(codes64), dtype=np.int64)
            td = np.bitwise_count(codes64[self._built:][None, :, :] ^ q64[rows][:, None, :]
                                  ).sum(axis=2, dtype=np.int64)
            qi, ti = np.nonzero(td <= radius)
            cand = np.concatenate([cand, tail[ti]])
            cand_q = np.concatenate([cand_q, rows[qi]])
            d = np.concatenate([d, td[qi, ti]])
        live = ~np.asarray(self._deleted)[cand]
        cand, cand_q, d = cand[live], cand_q[live], d[live]
        # a row found through two substrings appears twice: keep one
        _, first = np.unique(cand_q * (len(codes64) + 1) + cand, return_index=True)
        cand, cand_q, d = cand[first], cand_q[first], d[first]
        order = np.lexsort((cand, d, cand_q))
        cand, cand_q, d = cand[order], cand_q[order], d[order]
        bounds = np.searchsorted(cand_q, np.arange(len(qs) + 1))
        for i in rows:
            results[i] = (cand[bounds[i]:bounds[i + 1]], d[bounds[i]:bounds[i + 1]])
        return results  # type: ignore[return-value]

    def _search_one(self, q: np.ndarray, radius: int, strategy: str
                    ) -> tuple[np.ndarray, np.ndarray]:
        codes = self._codes
        parts_ids, parts_d = [], []
        probe = {"probe": bool(self._lengths), "scan": False}.get(
            strategy, self._probe_worthwhile(radius))
        cand = self._candidates(q, radius, strategy == "probe") if probe else None
        if cand is None:
            ids = np.arange(len(codes), dtype=np.int64)
            d = _popcount_distance(np.asarray(codes), q)
        else:
            cand.sort()  # gathers in address order: fewer cache and TLB misses
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
        keep = d <= radius
        ids, d = ids[keep], d[keep]
        live = ~np.asarray(self._deleted)[ids]  # tombstones checked on hits only
        ids, d = ids[live], d[live]
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
        """Write a folder of .npy files plus a header. Rows added since the last `build` are
        saved as an unindexed tail (searched by scan), so appending a few hashes to a large
        index does not rebuild its tables."""
        if not self._lengths:
            self.build()
        p = Path(path)
        p.mkdir(parents=True, exist_ok=True)
        np.save(p / "codes.npy", np.asarray(self._codes))
        np.save(p / "deleted.npy", np.asarray(self._deleted))
        np.save(p / "order.npy", np.asarray(self._order))
        np.save(p / "offsets.npy", np.asarray(self._offsets))
        header = {"format": FORMAT, "version": VERSION, "rows": int(len(self._codes)),
                  "built": int(self._built), "substring_bits": list(self._lengths)}
        (p / "header.json").write_text(json.dumps(header))

    @classmethod
    def load(cls, path: str | Path, mmap: bool = True) -> HammingIndex:
        """Open a saved index, memory-mapped: a 10M index opens without reading it."""
        p = Path(path)
        header = read_header(p, FORMAT, VERSION, "Hamming index")
        mode = "r" if mmap else None
        idx = cls()
        n = int(header["rows"])
        built = int(header.get("built", -1))
        if not 0 <= built <= n:
            raise IndexFileError(f"{p}: header says {built} indexed rows of {n}; rebuild it")
        idx._lengths = tuple(int(b) for b in header["substring_bits"])
        if sum(idx._lengths) != 256:
            raise IndexFileError(f"{p}: substrings cover {sum(idx._lengths)} bits, not 256")
        bases = _offset_bases(idx._lengths)
        want = {"codes.npy": (n, 32), "deleted.npy": (n,),
                "order.npy": (len(idx._lengths) * built,), "offsets.npy": (int(bases[-1]),)}
        arrays = {}
        try:
            for name in want:
                arrays[name] = np.load(p / name, mmap_mode=mode)
        except (OSError, ValueError, EOFError) as e:
            raise IndexFileError(f"{p}: damaged or truncated index file: {e}") from None
        for name, shape in want.items():
            if tuple(arrays[name].shape) != shape:
                raise IndexFileError(f"{p}: {name} has shape {arrays[name].shape}, header "
                                     f"says {shape}; the index is damaged; rebuild it")
        idx._codes, idx._deleted = arrays["codes.npy"], arrays["deleted.npy"]
        idx._order, idx._offsets = arrays["order.npy"], arrays["offsets.npy"]
        if built and any(int(idx._offsets[b - 1]) != built for b in bases[1:]):
            raise IndexFileError(f"{p}: offsets do not cover {built} rows; rebuild the index")
        idx._built = built
        return idx
