"""HammingIndex: exactly a brute-force scan, for every radius, on random and clustered data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cairn.index.mih import VERSION, HammingIndex, IndexFileError


def brute(codes: np.ndarray, live: np.ndarray, q: np.ndarray, r: int):
    d = np.unpackbits(codes ^ q, axis=1).sum(axis=1)
    ids = np.flatnonzero((d <= r) & live)
    order = np.lexsort((ids, d[ids]))
    return ids[order], d[ids][order]


def flip(code: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    out = code.copy()
    for b in rng.choice(256, n, replace=False):
        out[b // 8] ^= 0x80 >> (b % 8)
    return out


def clustered(rng: np.random.Generator, centres: int, per: int, spread: int) -> np.ndarray:
    """Many near-duplicates around few centres, some low-entropy: real PDQ lists look so."""
    base = rng.integers(0, 256, (centres, 32), dtype=np.uint8)
    base[: centres // 4, :16] = 0  # low-entropy pictures share long runs of bits
    rows = [flip(c, int(rng.integers(0, spread)), rng) for c in base for _ in range(per)]
    return np.stack(rows)


def check(idx: HammingIndex, codes: np.ndarray, live: np.ndarray, queries: np.ndarray,
          radii) -> None:
    for r in radii:
        for q, (ids, d) in zip(queries, idx.search(queries, r), strict=True):
            want_ids, want_d = brute(codes, live, q, r)
            assert np.array_equal(ids, want_ids), r
            assert np.array_equal(d, want_d), r


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 3000), st.sampled_from([0, 1, 15, 16, 31,
                                                                          32, 47, 63, 64, 90]))
def test_random_data_equals_brute_force(seed: int, n: int, radius: int) -> None:
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 256, (n, 32), dtype=np.uint8)
    idx = HammingIndex()
    idx.add(codes)
    idx.build()
    queries = np.stack([flip(codes[i % n], int(rng.integers(0, 70)), rng) for i in range(8)])
    check(idx, codes, np.ones(n, bool), queries, [radius])


def test_clustered_data_every_radius_up_to_63() -> None:
    rng = np.random.default_rng(7)
    codes = clustered(rng, 60, 40, 40)
    idx = HammingIndex()
    idx.add(codes)
    idx.build()
    queries = np.stack([flip(codes[int(rng.integers(0, len(codes)))], k, rng)
                        for k in range(0, 64, 3)])
    check(idx, codes, np.ones(len(codes), bool), queries, range(0, 64))


def test_pending_rows_and_removals(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    first = clustered(rng, 30, 20, 30)
    idx = HammingIndex()
    ids = idx.add(first)
    assert np.array_equal(ids, np.arange(len(first)))
    idx.build()
    later = clustered(rng, 10, 20, 30)
    later_ids = idx.add(later)  # not folded into the tables yet: found by scan
    assert later_ids[0] == len(first)
    codes = np.concatenate([first, later])
    live = np.ones(len(codes), bool)
    removed = rng.choice(len(codes), 100, replace=False)
    idx.remove(removed)
    live[removed] = False
    queries = np.stack([flip(codes[i], 5, rng) for i in range(0, len(codes), 50)])
    check(idx, codes, live, queries, [0, 10, 31, 63])
    assert len(idx) == live.sum()
    idx.save(tmp_path / "ix")
    loaded = HammingIndex.load(tmp_path / "ix")
    assert isinstance(np.asarray(loaded._codes), np.memmap) or loaded._codes.base is not None
    check(loaded, codes, live, queries, [0, 31, 63])
    rows, found, dist = loaded.join(queries, 31)
    assert len(rows) == len(found) == len(dist) and dist.max() <= 31


def test_damaged_or_foreign_index_is_refused(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    idx = HammingIndex()
    idx.add(rng.integers(0, 256, (5000, 32), dtype=np.uint8))
    idx.save(tmp_path / "ix")
    order = tmp_path / "ix" / "order.npy"
    data = order.read_bytes()
    order.write_bytes(data[: len(data) // 2])
    with pytest.raises(IndexFileError, match="damaged|truncated"):
        HammingIndex.load(tmp_path / "ix")
    idx.save(tmp_path / "ix")
    header = tmp_path / "ix" / "header.json"
    header.write_text(header.read_text().replace(f'"version": {VERSION}', '"version": 99'))
    with pytest.raises(IndexFileError, match="version 99"):
        HammingIndex.load(tmp_path / "ix")
    with pytest.raises(IndexFileError, match="not a cairn"):
        HammingIndex.load(tmp_path)


def test_damaged_tables_are_refused_not_read_past(tmp_path: Path) -> None:
    """Files of the right size but wrong content (bucket bounds out of order, row numbers
    past the end) raise a clear error at the query that meets them, never read outside the
    arrays (the compiled loops do not check bounds on their own)."""
    rng = np.random.default_rng(6)
    codes = rng.integers(0, 256, (3000, 32), dtype=np.uint8)
    idx = HammingIndex()
    idx.add(codes)
    idx.save(tmp_path / "ix")
    for name, spoil in (("offsets.npy", lambda a: a[1:65536].fill(2**32 - 1)),  # table 0
                        ("order.npy", lambda a: a.fill(10**9))):
        idx.save(tmp_path / "ix")
        arr = np.load(tmp_path / "ix" / name, mmap_mode="r+")
        spoil(arr)
        arr.flush()
        del arr
        damaged = HammingIndex.load(tmp_path / "ix")
        with pytest.raises(IndexFileError, match="damaged; rebuild it"):
            damaged.search(codes[:200], 8, strategy="probe")
        for threads in (1, 2):  # the batch sweep (index/sweep.py), on one thread and two
            with pytest.raises(IndexFileError, match="damaged; rebuild it"):
                damaged.join(codes[:200], 8, "sweep", threads)


def test_bad_shapes_are_rejected() -> None:
    with pytest.raises(ValueError, match=r"uint8\[N, 32\]"):
        HammingIndex().add(np.zeros((3, 31), dtype=np.uint8))


def test_digest_index_finds_every_id_and_nothing_else() -> None:
    from cairn.index import DigestIndex

    rng = np.random.default_rng(5)
    idx = DigestIndex(16)
    values = [rng.bytes(16).hex() for _ in range(2000)]
    for i, v in enumerate(values):
        idx.add(v, i)
    idx.add(values[7], 9999)  # the same digest in two lists
    assert idx.get(values[7]) == [7, 9999]
    assert all(idx.get(v) == [i] for i, v in enumerate(values) if i != 7)
    assert idx.get("00" * 16) == []
    with pytest.raises(ValueError, match="16 bytes"):
        idx.add("ab" * 20, 1)
    # the batched lookup answers exactly what one lookup per value does: hits, the digest
    # listed twice, misses, repeats, upper case; a value of another width is in no list
    asked = [values[3], values[7], "00" * 16, values[3].upper(), values[1999],
             values[5][:30], values[5] + "00", *(rng.bytes(16).hex() for _ in range(50))]
    want = [idx.get(v) if len(v) == 32 else [] for v in asked]
    assert idx.get_many(asked) == want
    assert want[:5] == [[3], [7, 9999], [], [3], [1999]] and want[5] == want[6] == []
    assert idx.get_many([]) == []


def test_substring_keys_match_the_bits() -> None:
    from cairn.index.mih import _substrings, layout_for

    rng = np.random.default_rng(9)
    codes = rng.integers(0, 256, (50, 32), dtype=np.uint8)
    for n in (1000, 100_000, 1_000_000, 10_000_000):
        lengths = layout_for(n)
        keys = _substrings(codes, lengths, interleave=False)
        bits = "".join(f"{b:08b}" for b in codes[7])
        start = 0
        for k, length in enumerate(lengths):
            assert keys[7, k] == int(bits[start:start + length], 2)
            start += length


@pytest.mark.parametrize("lengths", [(26,) * 6 + (25,) * 4, (24, 24, 24) + (23,) * 8,
                                     (28, 28) + (25,) * 8, (8,) + (16,) * 15 + (8,)])
def test_keys_read_the_bits_dealt_round_robin(lengths: tuple[int, ...]) -> None:
    """Each table's key is its bits in the dealt order, first most significant; every bit
    is read once; with equal-ish lengths table k reads bits k, k + m, k + 2m, ..."""
    from cairn.index.mih import _substrings, bit_order, layout_for

    order = bit_order(lengths)
    assert sorted(order.tolist()) == list(range(256))
    rng = np.random.default_rng(3)
    codes = rng.integers(0, 256, (20, 32), dtype=np.uint8)
    keys = _substrings(codes, lengths)
    for r in (0, 13):
        bits = "".join(f"{b:08b}" for b in codes[r])
        start = 0
        for k, length in enumerate(lengths):
            assert keys[r, k] == int("".join(bits[p] for p in order[start:start + length]), 2)
            start += length
    m = len(lengths)
    if lengths == layout_for(10_000_000) or lengths == layout_for(100_000_000):
        start = 0
        for k, length in enumerate(lengths):
            assert order[start:start + length].tolist() == list(range(k, 256, m))
            start += length


def test_low_entropy_rows_spread_over_every_table() -> None:
    """A quarter of the rows with their first 12 bytes zero (flat pictures): no table's
    buckets fill up with them. Version 5 cut runs of interleaved bytes, which left 14-16 of a
    26-bit key fixed in three tables: up to 21 of these rows a bucket here, 24k at 100M."""
    from cairn.index.mih import _offset_bases

    rng = np.random.default_rng(5)
    codes = rng.integers(0, 256, (40_000, 32), dtype=np.uint8)
    codes[:10_000, :12] = 0
    layout = (26,) * 6 + (25,) * 4
    idx = HammingIndex()
    idx.add(codes)
    idx.build(layout)
    bases = _offset_bases(layout)
    for k in range(len(layout)):
        sizes = np.diff(idx._offsets[bases[k]:bases[k + 1]].astype(np.int64))
        assert sizes.max() <= 6, (k, sizes.max())  # 10k rows over 2^16+ buckets each
    queries = np.stack([flip(codes[i], 20, rng) for i in range(0, 10_000, 500)])
    check(idx, codes, np.ones(len(codes), bool), queries, [31])


@pytest.mark.parametrize("layout", [(24, 24, 24) + (23,) * 8, (20,) * 9 + (19,) * 4,
                                    (8,) + (16,) * 15 + (8,), (8,) * 32])
def test_every_layout_equals_brute_force(layout: tuple[int, ...]) -> None:
    rng = np.random.default_rng(len(layout))
    codes = np.concatenate([clustered(rng, 40, 25, 40),
                            rng.integers(0, 256, (1000, 32), dtype=np.uint8)])
    idx = HammingIndex()
    idx.add(codes)
    idx.build(layout)
    queries = np.stack([flip(codes[int(rng.integers(0, len(codes)))], k, rng)
                        for k in range(0, 64, 4)])
    live = np.ones(len(codes), bool)
    for r in (0, 7, 22, 31, 45, 63):
        for q, (ids, d) in zip(queries, idx.search(queries, r, strategy="probe"), strict=True):
            want_ids, want_d = brute(codes, live, q, r)
            assert np.array_equal(ids, want_ids) and np.array_equal(d, want_d), (layout, r)


def test_batched_probing_equals_brute_force() -> None:
    """Many queries at once go through the batched probe: with an unbuilt tail, tombstones,
    crowded near-duplicate queries and more queries than one batch."""
    from cairn.index.mih import BATCH

    rng = np.random.default_rng(11)
    codes = np.concatenate([rng.integers(0, 256, (20_000, 32), dtype=np.uint8),
                            clustered(rng, 20, 100, 12)])
    idx = HammingIndex()
    idx.add(codes)
    idx.build()
    tail = clustered(rng, 5, 20, 20)
    idx.add(tail)  # below the rebuild threshold: stays an unbuilt tail
    assert idx._built == len(codes)
    codes = np.concatenate([codes, tail])
    live = np.ones(len(codes), bool)
    gone = rng.choice(len(codes), 500, replace=False)
    idx.remove(gone)
    live[gone] = False
    picks = rng.integers(0, len(codes), BATCH + 50)
    queries = np.stack([flip(codes[i], int(rng.integers(0, 30)), rng) for i in picks])
    for r in (0, 16, 31, 40):
        for strategy in ("auto", "probe"):
            got = idx.search(queries, r, strategy)
            for q, (ids, d) in zip(queries, got, strict=True):
                want_ids, want_d = brute(codes, live, q, r)
                assert np.array_equal(ids, want_ids) and np.array_equal(d, want_d), (r, strategy)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 32), st.integers(0, 120), st.data())
def test_probe_radii_never_miss_a_neighbour(m: int, radius: int, data) -> None:
    """The refined pigeonhole: any split of a distance <= radius over m substrings puts some
    substring within the radius its table is probed at."""
    from cairn.index.mih import probe_radii

    radii = probe_radii(m, radius)
    parts = data.draw(st.lists(st.integers(0, radius), min_size=m, max_size=m).filter(
        lambda p: sum(p) <= radius))
    assert any(d <= s for d, s in zip(parts, radii, strict=True))
    assert sum(s + 1 for s in radii) == radius + 1  # and no table is probed wider than needed


def test_edge_cases_of_join(monkeypatch) -> None:
    """No queries, an empty index, more hits than the scan's first buffer, candidates over the
    batch's scratch cap (verified a query at a time): all still equal brute force."""
    from cairn.index import mih

    idx = HammingIndex()
    assert [len(a) for a in idx.join(np.zeros((0, 32), np.uint8), 31)] == [0, 0, 0]
    assert [len(ids) for ids, _ in idx.search(np.zeros((2, 32), np.uint8), 31)] == [0, 0]
    rng = np.random.default_rng(5)
    codes = clustered(rng, 4, 800, 20)  # 3,200 rows, crowded
    idx.add(codes)
    idx.build()
    queries = codes[[0, 900, 1700, 2500]]
    live = np.ones(len(codes), bool)
    monkeypatch.setattr(mih, "CAND_CAP", 100)
    monkeypatch.setattr(mih, "SCAN_HITS", 1024)
    for strategy, r in (("scan", 256), ("probe", 40), ("auto", 40)):
        qi, ids, d = idx.join(queries, r, strategy)
        assert np.all(np.diff(qi) >= 0)
        for i, q in enumerate(queries):
            want_ids, want_d = brute(codes, live, q, r)
            assert np.array_equal(ids[qi == i], want_ids), strategy
            assert np.array_equal(d[qi == i], want_d), strategy
        if strategy == "scan":
            assert len(ids) > 1024  # the scan's first buffer was short: it ran again


def test_kernels_compile_where_no_cache_can_be_written() -> None:
    """A function numba cannot cache (no file to cache it beside, as for a service account
    with no writable folder) is still compiled, in memory."""
    from cairn.index.kernels import compiled

    space: dict = {}
    exec(compile("def twice(x):\n    return 2 * x\n", "<no file>", "exec"), space)
    assert compiled(space["twice"])(21) == 42


def test_rows_added_in_chunks_are_appended_in_place_not_copied() -> None:
    """A bulk load in chunks (a build streamed from the store) holds one copy of the rows:
    the arrays grow in place. numpy reports its buffers to tracemalloc, so concatenating
    (old + new alive at once) would show a peak of twice the rows."""
    import tracemalloc

    rng = np.random.default_rng(21)
    chunks = [rng.integers(0, 256, (5_000, 32), dtype=np.uint8) for _ in range(40)]
    idx = HammingIndex()
    tracemalloc.start()
    try:
        for c in chunks:
            idx.add(c)
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    size = 40 * 5_000 * 33  # codes and tombstone flags
    assert size <= current and peak < size * 1.2
    codes = np.concatenate(chunks)
    assert np.array_equal(idx._codes, codes)
    view = idx._codes[:10]  # someone holds a view: the next add copies instead of moving it
    more = rng.integers(0, 256, (7, 32), dtype=np.uint8)
    idx.add(more)
    assert np.array_equal(view, codes[:10]) and np.array_equal(idx._codes[-7:], more)


def test_streamed_build_equals_one_bulk_build() -> None:
    """from_chunks builds the same tables as add-everything-then-build, and its tables are
    what a sort by substring key gives (the counting sort keeps rows ascending per bucket)."""
    from cairn.index.mih import _offset_bases, _substrings

    rng = np.random.default_rng(22)
    codes = np.concatenate([rng.integers(0, 256, (6_000, 32), dtype=np.uint8),
                            clustered(rng, 30, 40, 20)])
    layout = (26, 26, 26, 26, 26, 26, 25, 25, 25, 25)  # the 30M-100M layout, at small scale
    streamed = HammingIndex.from_chunks((codes[i:i + 999] for i in range(0, len(codes), 999)),
                                        layout)
    bulk = HammingIndex()
    bulk.add(codes)
    bulk.build(layout)
    assert np.array_equal(streamed._order, bulk._order)
    assert np.array_equal(streamed._offsets, bulk._offsets)
    keys = _substrings(codes, layout)
    bases = _offset_bases(layout)
    n = len(codes)
    for k in range(len(layout)):
        assert np.array_equal(streamed._order[k * n:(k + 1) * n],
                              np.argsort(keys[:, k], kind="stable"))
        assert streamed._offsets[bases[k + 1] - 1] == n
    queries = np.stack([flip(codes[int(i)], int(rng.integers(0, 40)), rng)
                        for i in rng.integers(0, n, 40)])
    check(streamed, codes, np.ones(n, bool), queries, [0, 15, 31, 45])


def test_layout_grows_to_26_bit_substrings_at_100m() -> None:
    from cairn.index.mih import layout_for

    assert layout_for(10_000_000) == (24, 24, 24) + (23,) * 8  # unchanged up to ~45M
    assert layout_for(30_000_000) == (24, 24, 24) + (23,) * 8
    assert layout_for(100_000_000) == (26,) * 6 + (25,) * 4
    assert all(sum(layout_for(n)) == 256 for n in (1, 1000, 10**6, 3 * 10**7, 10**9))


def test_a_large_unbuilt_tail_gets_its_own_index(monkeypatch) -> None:
    """Rows appended after the build, past TAIL_INDEX_ROWS, are searched through a small
    index of their own (not a scan): results still equal brute force, with tombstones in
    the tail, and the tail's index follows further appends."""
    from cairn.index import mih

    monkeypatch.setattr(mih, "TAIL_INDEX_ROWS", 500)
    rng = np.random.default_rng(23)
    codes = rng.integers(0, 256, (20_000, 32), dtype=np.uint8)
    idx = HammingIndex()
    idx.add(codes)
    idx.build()
    tail = np.concatenate([clustered(rng, 10, 60, 20),
                           rng.integers(0, 256, (400, 32), dtype=np.uint8)])
    idx.add(tail)
    assert idx._built == len(codes)  # under the 5% that folds a tail in
    codes = np.concatenate([codes, tail])
    live = np.ones(len(codes), bool)
    gone = rng.choice(np.arange(20_000, len(codes)), 50, replace=False)
    idx.remove(gone)
    live[gone] = False
    queries = np.stack([flip(codes[int(i)], int(rng.integers(0, 30)), rng)
                        for i in rng.integers(15_000, len(codes), 60)])
    check(idx, codes, live, queries, [0, 12, 31])
    assert idx._tail is not None and idx._tail[0] == (20_000, len(codes))
    more = clustered(rng, 3, 20, 10)
    idx.add(more)
    codes = np.concatenate([codes, more])
    live = np.concatenate([live, np.ones(len(more), bool)])
    check(idx, codes, live, np.concatenate([queries, more[:5]]), [31])
    assert idx._tail[0] == (20_000, len(codes))
