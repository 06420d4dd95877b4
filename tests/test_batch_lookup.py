"""Large batches through the Hamming index (index/sweep.py): the sweep, on one thread or
several, finds exactly the pairs the per-query probe finds, and those are a brute-force
scan's, with planted near-duplicates at every distance around the radius."""

from __future__ import annotations

import numpy as np
import pytest

from cairn.index import sweep
from cairn.index.mih import HammingIndex
from test_index import clustered, flip


def brute_join(codes: np.ndarray, live: np.ndarray, queries: np.ndarray, r: int
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(query, id, distance) of every live row within r of every query, ordered as `join`
    orders them: by query, distance, id."""
    rows = codes.view(np.uint64)
    out = []
    for lo in range(0, len(queries), 64):
        qs = queries[lo:lo + 64].view(np.uint64)
        d = np.bitwise_count(qs[:, None, :] ^ rows[None, :, :]).sum(axis=2)
        qi, ids = np.nonzero((d <= r) & live[None, :])
        out.append((qi + lo, ids, d[qi, ids]))
    qi, ids, d = (np.concatenate(a).astype(np.int64) for a in zip(*out, strict=True))
    order = np.lexsort((ids, d, qi))
    return qi[order], ids[order], d[order]


def same(a: tuple[np.ndarray, ...], b: tuple[np.ndarray, ...]) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


@pytest.fixture(scope="module")
def planted() -> tuple[HammingIndex, np.ndarray, np.ndarray, np.ndarray]:
    """30,000 random rows and 1,200 clustered ones; 3,000 queries: random ones, copies of
    listed rows at every distance 0..32 (radius 31 is the PDQ lists' threshold), and edits
    of clustered rows, whose buckets are crowded."""
    rng = np.random.default_rng(17)
    codes = np.concatenate([rng.integers(0, 256, (30_000, 32), dtype=np.uint8),
                            clustered(rng, 12, 100, 10)])
    idx = HammingIndex()
    idx.add(codes)
    idx.build()
    targets = rng.integers(0, 30_000, 33 * 30)
    distances = np.tile(np.arange(33), 30)
    near = np.stack([flip(codes[t], int(k), rng) for t, k in zip(targets, distances,
                                                                   strict=True)])
    crowded = np.stack([flip(codes[30_000 + int(i)], int(rng.integers(0, 12)), rng)
                        for i in rng.integers(0, 1200, 60)])
    rand = rng.integers(0, 256, (3000 - len(near) - len(crowded), 32), dtype=np.uint8)
    queries = np.concatenate([near, crowded, rand])
    return idx, codes, queries, np.stack([targets, distances])


def test_sweep_equals_serial_probe_and_brute_force(planted) -> None:
    idx, codes, queries, (targets, distances) = planted
    live = np.ones(len(codes), bool)
    for r in (31, 0, 40):
        want = brute_join(codes, live, queries, r)
        serial = idx.join(queries, r, "probe")
        assert same(serial, want), r
        for threads in (1, 2, 3):
            assert same(idx.join(queries, r, "sweep", threads), want), (r, threads)
        assert same(idx.join(queries, r), want), r  # auto: 3,000 queries are swept
    qi, ids, d = idx.join(queries, 31, "sweep", 2)
    for i, (t, k) in enumerate(zip(targets, distances, strict=True)):  # each planted copy
        mine = ids[qi == i] == t
        assert mine.any() == (k <= 31), (i, k)
        assert np.all(d[qi == i][mine] == k)


def test_crowded_queries_go_to_the_scan_and_lose_nothing(planted, monkeypatch) -> None:
    """Queries past the candidate limit are answered by the scan (their rows found before
    then are kept once); a hit buffer too short for a table runs it again; queries split
    over several calls when their probes would not fit the scratch."""
    idx, codes, queries, _ = planted
    from cairn.index import kernels
    from cairn.index.mih import _substrings

    masks, table, off_base = idx._plan(31)
    tables = sweep.Tables(np.asarray(idx._codes).view(np.uint64), np.asarray(idx._order),
                          np.asarray(idx._offsets), off_base, idx._lengths, idx._built)
    per = [masks[table == k] for k in range(len(idx._lengths))]
    qkeys = _substrings(queries, idx._lengths)
    for threads in (1, 2):
        _, crowded = sweep.sweep(kernels, tables, per, qkeys, queries.view(np.uint64), 31,
                                 500, threads)
        assert 60 <= len(crowded) < 200, threads  # the clustered edits, not random ones
    monkeypatch.setattr(sweep, "HITS", 4)
    monkeypatch.setattr(sweep, "PROBES", 5000)
    want = brute_join(codes, np.ones(len(codes), bool), queries, 31)
    for threads in (1, 2):
        assert same(idx.join(queries, 31, "sweep", threads), want), threads


def test_tail_tombstones_and_narrow_tables() -> None:
    """Rows added since the build (scanned), removed rows, and tables narrower than the
    partition bits (8-bit substrings: every bucket is its own window)."""
    rng = np.random.default_rng(3)
    codes = np.concatenate([rng.integers(0, 256, (4000, 32), dtype=np.uint8),
                            clustered(rng, 10, 40, 20)])
    for layout in (None, (8,) * 32, (20,) * 9 + (19,) * 4):
        idx = HammingIndex()
        idx.add(codes)
        idx.build(layout)
        tail = clustered(rng, 4, 10, 20)
        idx.add(tail)
        every = np.concatenate([codes, tail])
        live = np.ones(len(every), bool)
        gone = rng.choice(len(every), 300, replace=False)
        idx.remove(gone)
        live[gone] = False
        queries = np.stack([flip(every[int(i)], int(rng.integers(0, 40)), rng)
                            for i in rng.integers(0, len(every), 1500)])
        for r in (31, 63):
            want = brute_join(every, live, queries, r)
            for threads in (1, 2):
                assert same(idx.join(queries, r, "sweep", threads), want), (layout, r)


def test_tables_are_dealt_to_threads_by_their_probes() -> None:
    groups = sweep._balance([300, 300, 300, 24, 0], 2)
    assert sorted(k for g in groups for k in g) == [0, 1, 2, 3, 4]
    loads = sorted(sum([300, 300, 300, 24, 0][k] for k in g) for g in groups)
    assert loads == [324, 600]
    assert sweep._balance([5], 4) == [[0]]


def test_sweep_cost_stages_stop_where_they_say(planted) -> None:
    """`sweep_cost` runs the sweep to each stage in turn: the stages before verification
    find nothing (they read, they do not compare), the full run finds the planted copies,
    and the candidates it reports are the ones `probe_cost` counts."""
    from cairn.index import kernels

    idx, _, queries, _ = planted
    q64 = np.ascontiguousarray(queries[:990]).view(np.uint64)  # copies at 0..32, no crowd
    found = {}
    for stages in (3, 4, 5):
        hits, crowded = idx._sweep(kernels, q64, 31, 1, stages)
        found[stages] = sum(len(q) for q, _, _ in hits)
        assert len(crowded) == 0
    assert found[3] == found[4] == 0
    assert found[5] >= 30 * 32  # every copy at distance 0..31 (some through two tables)
    cost = idx.sweep_cost(queries[:990], 31, passes=1)
    assert set(cost) == {"buckets", "gather", "verify", "candidates"}
    assert all(v >= 0 for v in cost.values())
    assert cost["candidates"] == idx.probe_cost(queries[:990], 31)["candidates"]
