"""A matcher whose PDQ lookups are answered elsewhere (`Matcher.pdq_remote`, what the index
shards of `cairn scan --engine ray --index-shards N` plug in) matches exactly as one holding
the hashes: thresholds per list, inactive entries, nearest per entry, and entry ids the
remote knows but the matcher does not (a list grown since) dropped. Ray-free: the remote
here is a `HammingIndex` answering with entry ids; tests/test_cluster.py runs the shards."""

from __future__ import annotations

import numpy as np

from cairn.index import HammingIndex
from cairn.lists.matcher import Matcher


class EntryIndex:
    """PDQ hashes answered by entry id (the `PdqSearch` protocol), in this process."""

    def __init__(self, codes: np.ndarray, entry_ids: np.ndarray) -> None:
        self.index = HammingIndex()
        self.index.add(codes)
        self.index.build()
        self.ids = entry_ids

    def join(self, queries: np.ndarray, radius: int
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        qi, rows, d = self.index.join(queries, radius)
        return qi, self.ids[rows], d

    def __len__(self) -> int:
        return len(self.index)


def _flip(code: np.ndarray, bits: np.ndarray) -> np.ndarray:
    out = code.copy()
    for b in bits:
        out[b // 8] ^= 1 << (b % 8)
    return out


def test_a_remote_pdq_search_matches_as_the_local_index() -> None:
    rng = np.random.default_rng(2121)
    codes = rng.integers(0, 256, (600, 32), dtype=np.uint8)
    ids = np.arange(600, dtype=np.int64) * 3 + 10  # sparse, as a store's entry ids
    lists = rng.integers(1, 3, 600)  # list 1 at threshold 31, list 2 at 10
    active = rng.random(600) > 0.2  # withdrawn entries stay indexed, never match
    entries = [(int(i), int(li), "pdq", c.tobytes().hex(), bool(a))
               for i, li, c, a in zip(ids, lists, codes, active, strict=True)]
    thresholds = {1: 31, 2: 10}
    planted = rng.choice(600, 80, replace=False)
    queries = [_flip(codes[k], rng.choice(256, rng.integers(0, 40), replace=False))
               for k in planted]  # near copies: 0-39 bits flipped
    queries += list(rng.integers(0, 256, (20, 32), dtype=np.uint8))  # strangers
    newer = rng.integers(0, 256, (1, 32), dtype=np.uint8)  # an entry the matcher lacks
    queries.append(newer[0])
    records = [{"pdq": {"hash": q.tobytes().hex(), "quality": 100}} for q in queries]

    local = Matcher.build(entries, thresholds)
    remote = Matcher.build(entries, thresholds)
    remote.pdq = HammingIndex()  # none of the hashes held here
    remote.pdq_remote = EntryIndex(np.concatenate([codes, newer]),
                                   np.append(ids, ids[-1] + 3))
    want = local.match_many(records)
    got = remote.match_many(records)
    assert got == want
    assert [remote.match(r) for r in records] == want
    matched = [m for ms in want for m in ms]
    assert {m.list_id for m in matched} == {1, 2}
    assert any(m.distance > 10 for m in matched) and all(
        m.distance <= thresholds[m.list_id] for m in matched)
    hit = {m.entry_id for m in matched}
    assert hit <= {int(i) for i, a in zip(ids, active, strict=True) if a}
    assert not got[-1]  # the newer entry's exact copy: unknown here, so no match
