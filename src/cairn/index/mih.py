"""An exact Hamming-radius index for 256-bit hashes: multi-index hashing.

Norouzi, Punjani & Fleet, "Fast search in Hamming space with multi-index hashing": split each
hash into m substrings. If two hashes are within r, by the pigeonhole principle at least one
substring pair is within floor(r / m) (within one less, for all but the first r mod m + 1
tables). So probing, in each of the m tables, every key within that radius of the query's
substring finds every true neighbour; candidates are then verified on all 256 bits. Nothing is
approximate: results equal a brute-force scan for every radius.
m follows the paper's rule, about 256 / log2(N) (substrings of 16 to 24 bits; 25-26 past
45M), so buckets stay nearly empty as N grows; where probing would cost more than a scan,
the index scans.

Tables are CSR arrays, all substrings in two flat arrays (row ids sorted by key per table, and
2^bits + 1 offsets per table): nothing is a Python object per hash, and the index saves as .npy
files that load memory-mapped. The probing and verifying loops are compiled (`kernels.py`):
they are bound by random memory reads, which they overlap; a batch of queries sweeps each
table once in bucket-address order instead, the tables shared among threads (`sweep.py`).
Rows added after the last build are searched by brute force until `build()` folds them in
(by merging them into the sorted tables when the layout still fits the size, a pass over
memory instead of a sort: 100k rows into 10M in a few seconds, not the build's half minute);
an index that has tables folds its tail by itself once it passes 5% of them. Removed rows are
tombstoned (they stay in the tables, never returned).
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Iterable
from functools import lru_cache
from itertools import combinations
from pathlib import Path
from typing import Literal

import numpy as np

from cairn.index import sweep
from cairn.index.files import IndexFileError, read_header

FORMAT = "cairn-hamming-index"
VERSION = 6
# Version 6: each table's key takes every m-th bit of the hash (bit_order), where version 5
# cut runs of interleaved bytes: a quarter of 100M rows with 12 zero bytes put 14-16 fixed
# bits into the first three tables' keys, 24k rows a bucket and 208k candidates a query.
DAMAGED = "the Hamming index's tables are damaged; rebuild it"
MAX_PROBE_RADIUS = 5  # substring radius beyond which probing is never worth it
BATCH = 64  # queries probed together: 16..256 measured alike at 10M, 1 and 4 slower
CAND_CAP = 1 << 20  # candidates verified in one go (40 MB of scratch); more go one query each
SCAN_QUERIES = 256  # queries compared with each row of a scan: they stay in L1
TAIL_INDEX_ROWS = 100_000  # unbuilt rows beyond which they get an in-memory index of their own
SCAN_HITS = 1 << 16  # a scan's first hit buffer; with more hits it runs again, sized to fit


@lru_cache(maxsize=64)
def _masks(bits: int, s: int) -> np.ndarray:
    """Every `bits`-bit mask with at most s bits set."""
    out = [0]
    for k in range(1, s + 1):
        out += [sum(1 << b for b in c) for c in combinations(range(bits), k)]
    return np.asarray(out, dtype=np.int64)


MAX_BITS = 28  # longest substring: a table's offsets are 2^bits + 1 uint32 (1 GiB at 28)


def layout_for(n: int) -> tuple[int, ...]:
    """Substring lengths for n rows: m ~ 256 / log2(n), lengths 16..24 bits summing to 256;
    past ~45M rows, 10 tables of 25-26 bits. Measured at 30M (per CPU second, radius 31):
    11 tables of 23-24 bits 4,050 q/s, 10 of 25-26 bits 3,700, (28, 28, 25 x 8) 3,600. Fitted
    to those, ~21 ns a bucket looked up and ~20 ns a candidate verified put the crossing near
    45M; at 100M the 10 tables verify half the candidates (~14,800 against ~28,800)."""
    if n > 45_000_000:
        return (26,) * 6 + (25,) * 4
    target = min(24.0, max(16.0, math.log2(max(n, 2))))
    m = max(11, min(16, round(256 / target)))
    base, extra = divmod(256, m)
    return tuple(base + 1 if k < extra else base for k in range(m))


@lru_cache(maxsize=64)
def bit_order(lengths: tuple[int, ...]) -> np.ndarray:
    """The hash bits each table's key reads, table after table: dealt round-robin, bit p to
    the next table with room, so table k holds bits k, k + m, k + 2m, ... (the layouts
    `layout_for` makes fill exactly so). A stretch of low-entropy bits (a flat picture's
    zeros, a shared prefix) is spread evenly over every table: no table's buckets fill up.
    Matching is unaffected: Hamming distance ignores bit order."""
    tables: list[list[int]] = [[] for _ in lengths]
    k = 0
    for p in range(256):
        while len(tables[k]) == lengths[k]:
            k = (k + 1) % len(lengths)
        tables[k].append(p)
        k = (k + 1) % len(lengths)
    out = np.array([p for t in tables for p in t], dtype=np.int64)
    out.flags.writeable = False
    return out


def _substrings(codes: np.ndarray, lengths: tuple[int, ...], interleave: bool = True,
                dtype: type = np.int64) -> np.ndarray:
    """[N, m] keys, each table's bits most significant first: as `bit_order` deals them, or
    with `interleave` False, plain runs of the hash's bits (int32 holds every key to 28 bits:
    the build's keys of 10M rows)."""
    from cairn.index import kernels

    bits = bit_order(tuple(lengths)) if interleave else np.arange(256, dtype=np.int64)
    starts = np.cumsum((0,) + tuple(lengths[:-1])).astype(np.int64)
    out: np.ndarray = np.empty((len(codes), len(lengths)), dtype=dtype)
    kernels.substring_keys(np.ascontiguousarray(codes, dtype=np.uint8), bits, starts,
                           np.asarray(lengths, dtype=np.int64), out)
    return out


def codes_from_hex(hexes: list[str]) -> np.ndarray:
    """uint8[N, 32] from N 64-digit hex hashes, the form lists and the store keep them in."""
    return np.frombuffer(bytes.fromhex("".join(hexes)), dtype=np.uint8).reshape(-1, 32)


def _as_codes(hashes: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(hashes, dtype=np.uint8)
    if a.ndim != 2 or a.shape[1] != 32:
        raise ValueError(f"hashes must be uint8[N, 32], got shape {a.shape}")
    return a


def _offset_bases(lengths: tuple[int, ...]) -> np.ndarray:
    """Where each table's offsets start in the flat offsets array (and, last, its length)."""
    return np.cumsum([0] + [(1 << b) + 1 for b in lengths]).astype(np.int64)


def probe_radii(m: int, radius: int) -> list[int]:
    """Substring radius to probe in each of m tables (Norouzi et al.'s refined pigeonhole).
    With radius = s*m + a, tables 0..a are probed within s and the others within s - 1 (a
    table at -1 is skipped): if every table missed, the distances would sum to at least
    (a+1)(s+1) + (m-a-1)s = radius + 1."""
    s, a = divmod(radius, m)
    return [s if k <= a else s - 1 for k in range(m)]


def _scan(kernels, codes: np.ndarray, lo: int, hi: int, q64: np.ndarray, which: np.ndarray,
          radius: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Hits of queries `which` among rows [lo, hi), by linear scan, SCAN_QUERIES at a time."""
    out = []
    for g in range(0, len(which), SCAN_QUERIES):
        group = which[g:g + SCAN_QUERIES]
        qs = np.ascontiguousarray(q64[group])
        cap = SCAN_HITS
        while hi > lo:
            oq, oi, od = (np.empty(cap, np.int64) for _ in range(3))
            h = kernels.scan(codes, lo, hi, qs, radius, oq, oi, od)
            if h <= cap:
                out.append((group[oq[:h]], oi[:h], od[:h]))
                break
            cap = h  # the buffer was short: again, with room for every hit
    return out


def _append(owner: object, name: str, rows: np.ndarray) -> None:
    """owner.name with `rows` appended: resized in place (realloc moves pages, it does not
    copy them) where the array owns its memory and only `owner` refers to it; a view of it,
    a memory map, or a reader holding it make it a copy instead, as before."""
    array = getattr(owner, name)
    # three references: the attribute, `array`, and getrefcount's own argument
    if (type(array) is np.ndarray and array.flags.owndata and len(rows)
            and sys.getrefcount(array) <= 3):
        n = len(array)
        np.ndarray.resize(array, (n + len(rows),) + array.shape[1:], refcheck=False)
        array[n:] = rows
        return
    setattr(owner, name, np.concatenate([np.asarray(array), rows]))


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
        self._tail: tuple[tuple[int, int], HammingIndex] | None = None  # unbuilt rows' index
        self._loaded_from: Path | None = None  # the folder `load` opened
        self._unchanged: set[str] = set()  # its files this index still holds as they are
        self.threads: int | None = None  # a large join's threads (None: see `join`)

    # -- building --------------------------------------------------------------------------
    def __len__(self) -> int:
        return int(len(self._codes) - self._deleted.sum())

    def add(self, hashes: np.ndarray) -> np.ndarray:
        """Append hashes; returns their ids. Searchable at once (by scan until `build`).
        An index without tables yet waits for `build` (a bulk load sorts once).
        Rows are appended in place where the arrays are this index's own (realloc, which
        moves pages rather than copying them): adding 100M hashes in chunks, as a build
        streamed from the store does, never holds a second copy of them."""
        codes = _as_codes(hashes)
        start = len(self._codes)
        _append(self, "_codes", codes)
        _append(self, "_deleted", np.zeros(len(codes), dtype=bool))
        self._unchanged -= {"codes.npy", "deleted.npy"}
        if self._lengths and len(self._codes) - self._built > max(65_536, self._built // 20):
            self.build()
        return np.arange(start, start + len(codes), dtype=np.int64)

    def remove(self, ids: np.ndarray | list[int]) -> None:
        ids = np.asarray(ids, dtype=np.int64)
        if len(ids) and (ids.min() < 0 or ids.max() >= len(self._codes)):
            raise KeyError("id out of range")
        deleted = np.array(self._deleted)  # writable even when memory-mapped
        deleted[ids] = True
        self._deleted = deleted
        self._unchanged.discard("deleted.npy")

    def build(self, lengths: tuple[int, ...] | None = None) -> None:
        """Bring the substring tables over every row, with the layout for its size (or
        `lengths`, substring bits summing to 256, each 8..24): rows added since the last
        build are merged in where the layout is unchanged, else the tables are rebuilt."""
        codes = np.asarray(self._codes)
        n = len(codes)
        if n >= 2**32 - 1:
            raise ValueError("more than 2^32 rows")
        lengths = tuple(lengths) if lengths else layout_for(n)
        if sum(lengths) != 256 or not all(8 <= b <= MAX_BITS for b in lengths):
            raise ValueError(f"substring bits must sum to 256, each 8..{MAX_BITS}: {lengths}")
        if n == self._built and lengths == self._lengths:
            return  # tables are current
        if lengths == self._lengths and 0 < self._built < n:
            self._merge_tail(codes)
            return
        from cairn.index import kernels

        # one counting sort for every table, straight from the codes (memory-mapped ones
        # too): the tables and the codes are all it holds, no keys array and no sort scratch
        order = np.empty(len(lengths) * n, dtype=np.uint32)
        bases = _offset_bases(lengths)
        offsets = np.empty(int(bases[-1]), dtype=np.uint32)
        starts = np.cumsum((0,) + tuple(lengths[:-1])).astype(np.int64)
        kernels.count_sort(np.ascontiguousarray(codes), bit_order(lengths), starts,
                           np.asarray(lengths, dtype=np.int64), bases.astype(np.int64),
                           order, offsets)
        self._lengths, self._order, self._offsets, self._built = lengths, order, offsets, n
        self._unchanged -= {"order.npy", "offsets.npy"}

    def _merge_tail(self, codes: np.ndarray) -> None:
        """Fold rows [built, n) into the tables: each table's new rows sorted by key and
        inserted at the end of their buckets, each bucket's start moved by the rows inserted
        before it. O(n + k log k) per table, and the same tables a build would make (up to
        the order within a bucket, which search does not depend on)."""
        old, n = self._built, len(codes)
        lengths, bases = self._lengths, _offset_bases(self._lengths)
        keys = _substrings(codes[old:], lengths, dtype=np.int32)
        rows = np.arange(old, n, dtype=np.uint32)
        old_order, old_offsets = np.asarray(self._order), np.asarray(self._offsets)
        order = np.empty(len(lengths) * n, dtype=np.uint32)
        offsets = np.empty(len(old_offsets), dtype=np.uint32)
        for k, length in enumerate(lengths):
            by_key = np.argsort(keys[:, k], kind="stable")
            sorted_keys = keys[by_key, k]
            table = old_offsets[bases[k]:bases[k + 1]]
            if int(table[-1]) != old:
                raise IndexFileError(DAMAGED + " (offsets do not cover the indexed rows)")
            order[k * n:(k + 1) * n] = np.insert(old_order[k * old:(k + 1) * old],
                                                 table[sorted_keys + 1].astype(np.intp),
                                                 rows[by_key])
            moved = offsets[bases[k]:bases[k + 1]]  # new rows before each bucket, plus its start
            moved[0] = 0
            np.cumsum(np.bincount(sorted_keys, minlength=1 << length), out=moved[1:])
            moved += table
        self._order, self._offsets, self._built = order, offsets, n
        self._unchanged -= {"order.npy", "offsets.npy"}

    @classmethod
    def from_chunks(cls, chunks: Iterable[np.ndarray],
                    lengths: tuple[int, ...] | None = None) -> HammingIndex:
        """An index built from an iterator of uint8[k, 32] chunks (a store's list entries
        read in key order, a file read piece by piece): rows are appended in place as they
        come, then the tables are built once; nothing holds a second copy of the rows."""
        idx = cls()
        for chunk in chunks:
            idx.add(chunk)
        idx.build(lengths)
        return idx

    def probe_cost(self, queries: np.ndarray, radius: int) -> dict[str, float]:
        """Where a probed query's time goes, averaged over `queries`: buckets looked up (one
        random read of the offsets each), those holding rows (one read of the row list),
        and candidate rows verified on all 256 bits (one random read of the codes each)."""
        from cairn.index import kernels

        if not self._lengths or not len(queries):
            return {"buckets": 0.0, "non_empty": 0.0, "candidates": 0.0}
        q64 = _as_codes(queries).view(np.uint64)
        masks, table, off_base = self._plan(radius)
        qkeys = _substrings(q64.view(np.uint8), self._lengths)
        n = len(q64) * len(masks)
        starts, counts = np.empty(n, np.int64), np.empty(n, np.int64)
        totals = np.empty(len(q64), np.int64)
        kernels.bucket_ranges(np.asarray(self._offsets), off_base, self._built, qkeys, masks,
                              table, starts, counts, totals)
        return {"buckets": n / len(q64), "non_empty": float(np.count_nonzero(counts)) / len(q64),
                "candidates": float(counts.sum()) / len(q64)}

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
        radii = probe_radii(len(self._lengths), radius)
        if max(radii) > MAX_PROBE_RADIUS:
            return False
        expected = sum(len(_masks(b, s)) * (self._built / (1 << b) + 1)
                       for b, s in zip(self._lengths, radii, strict=True) if s >= 0)
        return expected < self._built / 4

    def _plan(self, radius: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For a query radius: every probe mask of every table, flattened, with its table, and
        where each table's offsets start in the flat offsets array."""
        key = (radius, self._lengths)
        if key not in self._plans:
            masks = [_masks(b, s) if s >= 0 else np.zeros(0, np.int64) for b, s in
                     zip(self._lengths, probe_radii(len(self._lengths), radius), strict=True)]
            table = np.repeat(np.arange(len(masks), dtype=np.int64), [len(m) for m in masks])
            self._plans.clear()
            self._plans[key] = (np.concatenate(masks), table,
                                _offset_bases(self._lengths)[:-1].astype(np.int64))
        return self._plans[key]

    def search(self, queries: np.ndarray, radius: int, strategy: str = "auto",
               threads: int | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
        """For each query: (ids, distances) of every live hash within `radius`, nearest first
        (ties by id): exactly what a brute-force scan returns. `strategy`: `auto` probes when
        that is cheaper than a scan; `probe` and `scan` force one (tests, benchmarks);
        `sweep` probes as a large batch does (`join`)."""
        qi, ids, d = self.join(queries, radius, strategy, threads)
        bounds = np.searchsorted(qi, np.arange(len(queries) + 1))
        return [(ids[bounds[i]:bounds[i + 1]], d[bounds[i]:bounds[i + 1]])
                for i in range(len(queries))]

    def join(self, queries: np.ndarray, radius: int, strategy: str = "auto",
             threads: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """All pairs within radius as flat arrays (query row, id, distance), ordered by query,
        distance, id: the batched form a scan of many pictures uses. From sweep.SWEEP_MIN
        queries on, each table is swept once for all of them in address order, the tables
        shared among `threads` (default: the index's `threads`, else every core this process
        may use, one per sweep.THREAD_QUERIES queries); fewer queries are probed BATCH at
        a time. A query whose buckets hold more than a quarter of the rows
        (many near-duplicates of it) is answered by a scan instead, which is then cheaper.
        `strategy` `sweep` sweeps whatever the batch's size, `probe` never does (tests)."""
        if strategy not in ("auto", "probe", "scan", "sweep"):
            raise ValueError(f"strategy must be auto, probe, scan or sweep, not {strategy!r}")
        from cairn.index import kernels  # numba loads on first search, not with every command

        qs = _as_codes(queries)
        q64 = qs.view(np.uint64)
        codes = np.asarray(self._codes).view(np.uint64)
        probe = {"probe": bool(self._lengths), "sweep": bool(self._lengths),
                 "scan": False}.get(strategy, self._probe_worthwhile(radius))
        hits: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = [(np.zeros(0, np.int64),) * 3]
        to_scan = np.arange(len(qs))
        many = strategy == "sweep" or (strategy == "auto" and len(qs) >= sweep.SWEEP_MIN)
        if probe and many:
            found, to_scan = self._sweep(kernels, q64, radius, threads)
            hits += found
        elif probe:
            crowded = [np.zeros(0, np.int64)]
            for lo in range(0, len(qs), BATCH):
                found, busy = self._probe_batch(kernels, q64[lo:lo + BATCH], radius,
                                                strategy == "probe")
                hits += [(q + lo, i, d) for q, i, d in found]
                crowded.append(busy + lo)
            to_scan = np.concatenate(crowded)
        if probe:
            probed = np.ones(len(qs), bool)
            probed[to_scan] = False
            probed = np.flatnonzero(probed)
            if len(codes) > self._built:  # rows added since the last build
                hits += self._search_tail(kernels, codes, q64, probed, radius)
        hits += _scan(kernels, codes, 0, len(codes), q64, to_scan, radius)
        qi, ids, d = (np.concatenate(a) for a in zip(*hits, strict=True))
        live = ~np.asarray(self._deleted)[ids]  # tombstones checked on hits only
        qi, ids, d = qi[live], ids[live], d[live]
        if len(qi) <= 1:
            return qi, ids, d
        # a row found through two substrings appears twice: keep one
        _, first = np.unique(qi * (len(codes) + 1) + ids, return_index=True)
        qi, ids, d = qi[first], ids[first], d[first]
        order = np.lexsort((ids, d, qi))
        return qi[order], ids[order], d[order]

    def _search_tail(self, kernels, codes: np.ndarray, q64: np.ndarray, which: np.ndarray,
                     radius: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Hits of queries `which` among the rows added since the last build: scanned while
        few, else through a small index of their own, built in memory on first use (1M rows
        appended to 100M: ~1 s once, then each query costs a few of its own buckets
        instead of a scan of a million rows)."""
        lo, hi = self._built, len(codes)
        if hi - lo < TAIL_INDEX_ROWS or not len(which):
            return _scan(kernels, codes, lo, hi, q64, which, radius)
        if self._tail is None or self._tail[0] != (lo, hi):
            tail = HammingIndex()
            tail.add(np.asarray(codes[lo:hi]).view(np.uint8))
            tail.build()
            self._tail = ((lo, hi), tail)
        tq, ti, td = self._tail[1].join(q64[which].view(np.uint8), radius)
        return [(which[tq], ti + lo, td)]

    def _sweep(self, kernels, q64: np.ndarray, radius: int, threads: int | None,
               stages: int = 5
               ) -> tuple[list[tuple[np.ndarray, np.ndarray, np.ndarray]], np.ndarray]:
        """A large batch's hits through `sweep.sweep`, and its crowded queries."""
        masks, table, off_base = self._plan(radius)
        tables = sweep.Tables(np.asarray(self._codes).view(np.uint64), np.asarray(self._order),
                              np.asarray(self._offsets), off_base, self._lengths, self._built)
        threads = threads or self.threads or min(sweep.threads_available(),
                                                 max(1, len(q64) // sweep.THREAD_QUERIES))
        return sweep.sweep(kernels, tables, [masks[table == k] for k in range(len(tables.lengths))],
                           _substrings(q64.view(np.uint8), self._lengths), q64, radius,
                           self._built // 4, threads, stages)

    def sweep_cost(self, queries: np.ndarray, radius: int, passes: int = 3
                   ) -> dict[str, float]:
        """Where a swept batch's time goes, in CPU microseconds a query on one thread, best
        of `passes`: `buckets` (the probes' bucket bounds read, in address order), `gather`
        (the rows of the non-empty buckets read from the row lists) and `verify` (each such
        row's 256 bits read and compared), measured by running the sweep to each stage in
        turn; `candidates` a query, as `probe_cost` counts them. Why: it says which part a
        faster batch would have to cut (issue 17's batch rate)."""
        from cairn.index import kernels

        if not self._lengths or not len(queries):
            return {"buckets": 0.0, "gather": 0.0, "verify": 0.0, "candidates": 0.0}
        q64 = _as_codes(queries).view(np.uint64)
        best = {}
        for stages in (3, 4, 5):
            runs = []
            for _ in range(passes):
                t = time.thread_time()
                self._sweep(kernels, q64, radius, 1, stages)
                runs.append(time.thread_time() - t)
            best[stages] = min(runs) / len(q64) * 1e6
        return {"buckets": best[3], "gather": max(0.0, best[4] - best[3]),
                "verify": max(0.0, best[5] - best[4]),
                "candidates": self.probe_cost(queries, radius)["candidates"]}

    def _probe_batch(self, kernels, q64: np.ndarray, radius: int, force: bool
                     ) -> tuple[list[tuple[np.ndarray, np.ndarray, np.ndarray]], np.ndarray]:
        """Probe a batch of queries: their hits, and which were too crowded to probe."""
        masks, table, off_base = self._plan(radius)
        qkeys = _substrings(q64.view(np.uint8), self._lengths)
        nq, n_probes = len(q64), len(masks)
        starts = np.empty(nq * n_probes, np.int64)
        counts = np.empty(nq * n_probes, np.int64)
        totals = np.empty(nq, np.int64)
        if kernels.bucket_ranges(np.asarray(self._offsets), off_base, self._built, qkeys, masks,
                                 table, starts, counts, totals):
            raise IndexFileError(DAMAGED + " (bucket bounds out of range)")
        crowded = np.zeros(nq, bool) if force else totals > self._built // 4
        active = np.flatnonzero(~crowded)
        # verify the batch at once, or one query at a time where that would not fit CAND_CAP
        groups = [active] if totals[active].sum() <= CAND_CAP else [active[i:i + 1]
                                                                    for i in range(len(active))]
        order, codes = np.asarray(self._order), np.asarray(self._codes).view(np.uint64)
        found = []
        for group in groups:
            size = max(1, int(totals[group].sum()))
            cand, cand_q, out_q, out_id, out_d = (np.empty(size, np.int64) for _ in range(5))
            h = kernels.verify(codes, order, self._built, starts, counts, table, group, q64,
                               radius, cand, cand_q, out_q, out_id, out_d)
            if h < 0:
                raise IndexFileError(DAMAGED + " (a bucket names a row it does not have)")
            found.append((out_q[:h], out_id[:h], out_d[:h]))
        return found, np.flatnonzero(crowded)

    # -- persistence -----------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Write a folder of .npy files plus a header. Rows added since the last `build` are
        saved as an unindexed tail (searched by scan), so appending a few hashes to a large
        index does not rebuild its tables; files unchanged since `load` are hard-linked from
        that folder, not written again (the tables are most of a 10M index's gigabyte)."""
        if not self._lengths:
            self.build()
        p = Path(path)
        p.mkdir(parents=True, exist_ok=True)
        arrays = {"codes.npy": self._codes, "deleted.npy": self._deleted,
                  "order.npy": self._order, "offsets.npy": self._offsets}
        for name, array in arrays.items():
            if not self._link(name, p):
                np.save(p / name, np.asarray(array))
        header = {"format": FORMAT, "version": VERSION, "rows": int(len(self._codes)),
                  "built": int(self._built), "substring_bits": list(self._lengths)}
        (p / "header.json").write_text(json.dumps(header))

    def _link(self, name: str, folder: Path) -> bool:
        """Hard-link an unchanged file from the folder this index was loaded from; False
        where it changed, there is none, or the link failed (another file system)."""
        src = self._loaded_from
        if name not in self._unchanged or src is None or src.resolve() == folder.resolve():
            return False
        try:
            (folder / name).unlink(missing_ok=True)
            os.link(src / name, folder / name)
        except OSError:
            return False
        return True

    @classmethod
    def load(cls, path: str | Path, mmap: bool = True) -> HammingIndex:
        """Open a saved index, memory-mapped: a 10M index opens without reading it."""
        p = Path(path)
        header = read_header(p, FORMAT, VERSION, "Hamming index")
        mode: Literal["r"] | None = "r" if mmap else None
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
        idx._loaded_from, idx._unchanged = p, set(want)
        return idx
