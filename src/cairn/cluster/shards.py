"""A PDQ index beyond one node's memory: shards by hash prefix in Ray actors, queries fanned out.

Hashes are split by their first `log2(shards)` bits (a prefix substring of the 256) into
`shards` parts; each part is a `HammingIndex` (index/mih.py, its public add/build/search only)
held by one Ray actor, on whichever node has room. A query within radius r of a hash need not
share its prefix, so every query goes to every shard (one batched call each, in parallel) and
the answers are merged: ids are global row numbers, each query's hits ordered by distance then
id, which is exactly what one `HammingIndex` over all the hashes returns (tests/test_cluster.py
checks it). What sharding buys is memory (each actor holds 1/shards of the codes and tables)
and parallel lookups, not fewer probes per query.
"""

from __future__ import annotations

import numpy as np
import ray

from cairn.index import HammingIndex


@ray.remote(num_cpus=0)
class _Shard:
    def __init__(self, codes: np.ndarray, ids: np.ndarray) -> None:
        self.ids = ids
        self.index = HammingIndex()
        self.index.add(codes)
        self.index.build()

    def search(self, queries: np.ndarray, radius: int) -> list[tuple[np.ndarray, np.ndarray]]:
        return [(self.ids[i], d) for i, d in self.index.search(queries, radius)]

    def size(self) -> int:
        return len(self.index)


class ShardedIndex:
    """`shards` (a power of two, at most 256) HammingIndex actors over uint8[N, 32] hashes."""

    def __init__(self, codes: np.ndarray, shards: int = 4) -> None:
        if shards < 1 or shards > 256 or shards & (shards - 1):
            raise ValueError(f"shards must be a power of two from 1 to 256, not {shards}")
        codes = np.ascontiguousarray(codes, dtype=np.uint8)
        bits = shards.bit_length() - 1
        prefix = (codes[:, 0] >> (8 - bits)) if bits else np.zeros(len(codes), np.uint8)
        self.actors = []
        for s in range(shards):
            ids = np.flatnonzero(prefix == s).astype(np.int64)
            self.actors.append(_Shard.remote(codes[ids], ids))  # type: ignore[attr-defined]

    def sizes(self) -> list[int]:
        return ray.get([a.size.remote() for a in self.actors])

    def search(self, queries: np.ndarray, radius: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """As `HammingIndex.search`: per query, (ids, distances) nearest first, ties by id."""
        q = ray.put(np.ascontiguousarray(queries, dtype=np.uint8))
        parts = ray.get([a.search.remote(q, radius) for a in self.actors])
        out = []
        for i in range(len(queries)):
            ids = np.concatenate([p[i][0] for p in parts]).astype(np.int64)
            d = np.concatenate([p[i][1] for p in parts])
            order = np.lexsort((ids, d))
            out.append((ids[order], d[order]))
        return out

    def close(self) -> None:
        for a in self.actors:
            ray.kill(a)
        self.actors = []
