"""Large batches through the Hamming index: every table swept once for all queries, in
address order, the tables shared among threads.

Why: one query probes ~2,900 buckets and verifies ~3,000 rows at 10M entries (radius 31),
each a random read into hundreds of megabytes; a batch of 10,000 queries probed one query
after another makes 29M random reads of the offsets alone. Sorted by bucket address first
(`kernels.sweep_table`), a table's probes come in partitions whose windows of the offsets
and of the row lists stay in cache, and the windows are read in address order. The kernels
release the GIL, so the tables are split among threads (both cores of a 2-core server for
one request): a table's hits are its own, so the split changes nothing in the results.

The contract (tests/test_batch_lookup.py): `sweep` finds exactly what the per-query path of
`HammingIndex.join` finds, for any thread count; the caller removes rows found through two
tables and orders the pairs. A query whose buckets hold more than `limit` rows (many
near-duplicates of it) is reported crowded and answered by the caller's scan instead; rows
of it found before then are found again by the scan (the caller keeps one of each).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass

import numpy as np

from cairn.index.files import IndexFileError

DAMAGED = "the Hamming index's tables are damaged; rebuild it"
# Queries from which `HammingIndex.join` sweeps. CPU us a query, radius 31, per-query probe
# -> sweep on one thread (loaded machine, load average ~6.7): at 10M, 8 queries 143 -> 162,
# 32: 199 -> 143, 256: 195 -> 129, 10,000: 157 -> 94; at 1M, 8: 53 -> 66, 32: 71 -> 48,
# 10,000: 62 -> 34.
SWEEP_MIN = 32
THREAD_QUERIES = 1024  # queries per thread: smaller batches stay on the caller's thread
PARTITION_BITS = 11  # a table's probes sorted by their bucket's top 11 bits (2,048 windows)
PROBES = 1 << 22  # probes of one table placed at a time: at most ~100 MB of scratch a thread
HITS = 1 << 16  # a table's first hit buffer; with more hits it runs again, sized to fit
_pools: dict[tuple[int, int], ThreadPoolExecutor] = {}  # (process, threads): a fork gets new


def threads_available() -> int:
    """The cores this process may run on (a container's or taskset's limit)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _pool(threads: int) -> ThreadPoolExecutor:
    key = (os.getpid(), threads)  # a forked child's copy of a pool has no threads
    if key not in _pools:
        _pools[key] = ThreadPoolExecutor(threads, thread_name_prefix="cairn-sweep")
    return _pools[key]


@dataclass(frozen=True, slots=True)
class Tables:
    """What a sweep reads of an index: its flat arrays and its layout."""

    codes: np.ndarray  # uint64[N, 4]
    order: np.ndarray  # uint32, table k's rows at [k * built, (k + 1) * built)
    offsets: np.ndarray  # uint32, table k's bucket starts from off_base[k]
    off_base: np.ndarray  # int64[m]
    lengths: tuple[int, ...]
    built: int


def _balance(work: list[int], threads: int) -> list[list[int]]:
    """Tables dealt to threads, the costliest first to the least loaded (probe counts
    differ: a table probed within 2 bits has ~12x the probes of one probed within 1)."""
    load = [0] * threads
    out: list[list[int]] = [[] for _ in range(threads)]
    for k in sorted(range(len(work)), key=lambda k: -work[k]):
        t = load.index(min(load))
        out[t].append(k)
        load[t] += work[k]
    return [sorted(ks) for ks in out if ks]


def _groups(masks: np.ndarray, shift: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A table's probe masks grouped by their bits above `shift` (a group's probes of one
    query all fall in one partition): (top bits per group, where each group's low parts
    start, the low parts)."""
    high = masks >> shift
    by_high = np.argsort(high, kind="stable")
    ghigh, gstart = np.unique(high[by_high], return_index=True)
    glow = (masks & ((1 << shift) - 1))[by_high]
    return (ghigh.astype(np.int64), np.append(gstart, len(masks)).astype(np.int64),
            glow.astype(np.int64))


def _sweep_tables(kernels, t: Tables, ks: list[int], masks: list[np.ndarray],
                  qkeys: np.ndarray, q64: np.ndarray, radius: int, limit: int, stages: int = 5
                  ) -> tuple[list[tuple[np.ndarray, np.ndarray, np.ndarray]], np.ndarray]:
    """Hits of every query in tables `ks`, and which queries went past `limit` (`stages`:
    see `kernels.sweep_table`)."""
    nq = len(q64)
    qtotal = np.zeros(nq, np.int64)
    crowded = np.zeros(nq, bool)
    pbits = {k: min(t.lengths[k], PARTITION_BITS) for k in ks}
    groups = {k: _groups(masks[k], t.lengths[k] - pbits[k]) for k in ks}
    widest = max(len(masks[k]) for k in ks)
    step = max(1, min(nq, PROBES // max(1, widest)))  # queries per call
    size = step * widest
    pairs = np.empty(step * max(len(groups[k][0]) for k in ks), np.int64)
    probes, pa, pc = (np.empty(size, np.int64) for _ in range(3))
    cand_q, cand_row = (np.empty(kernels.SWEEP_CHUNK, np.int64) for _ in range(2))
    out = [np.empty(HITS, np.int64) for _ in range(3)]
    part = np.empty((1 << PARTITION_BITS) + 1, np.int64)
    found = []
    for k in ks:
        for lo in range(0, nq, step):
            hi = min(nq, lo + step)
            keys = np.ascontiguousarray(qkeys[lo:hi, k])
            before = qtotal[lo:hi].copy(), crowded[lo:hi].copy()
            while True:
                h = kernels.sweep_table(
                    t.offsets, int(t.off_base[k]), t.order, k * t.built, t.built,
                    t.lengths[k], pbits[k], t.codes, keys, q64[lo:hi], *groups[k], radius,
                    limit, qtotal[lo:hi], crowded[lo:hi], part, pairs, probes, pa, pc,
                    cand_q, cand_row, *out, stages)
                if h < 0:
                    raise IndexFileError(DAMAGED + (" (a bucket names a row it does not have)"
                                                    if h == -1 else
                                                    " (bucket bounds out of range)"))
                if h <= len(out[0]):
                    break
                out = [np.empty(h, np.int64) for _ in range(3)]  # again, with room for all
                qtotal[lo:hi], crowded[lo:hi] = before[0], before[1]
            found.append((out[0][:h] + lo, out[1][:h].copy(), out[2][:h].copy()))
    return found, crowded


def sweep(kernels, t: Tables, masks: list[np.ndarray], qkeys: np.ndarray, q64: np.ndarray,
          radius: int, limit: int, threads: int = 1, stages: int = 5
          ) -> tuple[list[tuple[np.ndarray, np.ndarray, np.ndarray]], np.ndarray]:
    """(hits as (query, row, distance) arrays, crowded query numbers) of a batch: masks[k]
    the probe masks of table k (empty: not probed), qkeys[q, k] query q's key in table k.
    Rows may repeat (found through two tables); crowded queries' hits are incomplete."""
    work = [len(m) for m in masks]
    groups = _balance(work, max(1, threads))
    groups = [[k for k in g if work[k]] for g in groups]
    groups = [g for g in groups if g]
    if not groups:
        return [], np.zeros(0, np.int64)
    if len(groups) == 1:
        parts = [_sweep_tables(kernels, t, groups[0], masks, qkeys, q64, radius, limit,
                               stages)]
    else:
        pool = _pool(len(groups))
        jobs = [pool.submit(_sweep_tables, kernels, t, ks, masks, qkeys, q64, radius, limit,
                            stages) for ks in groups]
        wait(jobs)  # every thread done with the arrays before an error is raised
        parts = [job.result() for job in jobs]
    found = [f for hits, _ in parts for f in hits]
    crowded = np.zeros(len(q64), bool)
    for _, c in parts:
        crowded |= c
    return found, np.flatnonzero(crowded)
