"""A PDQ index beyond one node's memory: shards by hash prefix in Ray actors, queries fanned out.

Hashes are split by their first `log2(shards)` bits (a prefix substring of the 256) into
`shards` parts; each part is a `HammingIndex` (index/mih.py, its public add/build/join only)
held by one Ray actor, on whichever node has room. A query within radius r of a hash need not
share its prefix, so every query goes to every shard (one batched call each, in parallel) and
the answers are merged: each hash keeps the id it was given (its global row number, or a list
entry id), each query's hits ordered by distance then id, which is exactly what one
`HammingIndex` over all the hashes returns (tests/test_cluster.py checks it). What sharding
buys is memory (each actor holds 1/shards of the codes and tables) and parallel lookups, not
fewer probes per query.

`for_store` builds the shards of a store's PDQ list entries, streamed from the database (the
driver holds one chunk at a time), ids = entry ids: what `cairn scan --engine ray
--index-shards N` hands every unit, so its matcher (`Matcher.pdq_remote`) searches them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np
import ray

from cairn.index import HammingIndex
from cairn.scan.listindex import pdq_entry_chunks

if TYPE_CHECKING:
    from cairn.lists.matcher import Matcher
    from cairn.store import Store

Join = tuple[np.ndarray, np.ndarray, np.ndarray]  # (query row, id, distance), flat


@ray.remote(num_cpus=0)
class _Shard:
    def __init__(self) -> None:
        self.parts: list[np.ndarray] = []
        self.ids = np.zeros(0, np.int64)
        self.index = HammingIndex()

    def add(self, codes: np.ndarray, ids: np.ndarray) -> None:
        self.index.add(codes)
        self.parts.append(np.asarray(ids, np.int64))

    def build(self) -> int:
        self.ids = np.concatenate([self.ids, *self.parts])
        self.parts = []
        self.index.build()
        return len(self.index)

    def join(self, queries: np.ndarray, radius: int) -> Join:
        qi, rows, d = self.index.join(queries, radius)
        return qi, self.ids[rows], d

    def size(self) -> int:
        return len(self.index)


class ShardedIndex:
    """`shards` (a power of two, at most 256) HammingIndex actors over uint8[N, 32] hashes;
    `ids[i]` names hash i in answers (default: i). Picklable (its actor handles): a Ray task
    given it searches the same actors; `close` (by whoever made it) ends them."""

    def __init__(self, codes: np.ndarray | None = None, shards: int = 4,
                 ids: np.ndarray | None = None) -> None:
        if shards < 1 or shards > 256 or shards & (shards - 1):
            raise ValueError(f"shards must be a power of two from 1 to 256, not {shards}")
        self.bits = shards.bit_length() - 1
        self.actors = [_Shard.remote() for _ in range(shards)]  # type: ignore[attr-defined]
        self.count = 0  # hashes held, as of the last `build`
        if codes is not None:
            self.add(codes, np.arange(len(codes), dtype=np.int64) if ids is None else ids)
            self.build()

    @classmethod
    def from_chunks(cls, chunks: Iterable[tuple[np.ndarray, np.ndarray]], shards: int = 4
                    ) -> ShardedIndex:
        """From (uint8[k, 32] codes, int64[k] ids) chunks, each split among the shards as it
        comes: the caller never holds more than a chunk."""
        idx = cls(shards=shards)
        try:
            for codes, ids in chunks:
                idx.add(codes, ids)
            idx.build()
        except BaseException:
            idx.close()
            raise
        return idx

    def add(self, codes: np.ndarray, ids: np.ndarray) -> None:
        codes = np.ascontiguousarray(codes, dtype=np.uint8).reshape(-1, 32)
        ids = np.asarray(ids, dtype=np.int64)
        prefix = (codes[:, 0] >> (8 - self.bits)) if self.bits else np.zeros(len(codes),
                                                                               np.uint8)
        ray.get([a.add.remote(codes[prefix == s], ids[prefix == s])
                 for s, a in enumerate(self.actors)])

    def build(self) -> None:
        self.count = sum(ray.get([a.build.remote() for a in self.actors]))

    def sizes(self) -> list[int]:
        return ray.get([a.size.remote() for a in self.actors])

    def __len__(self) -> int:
        return self.count

    def join(self, queries: np.ndarray, radius: int) -> Join:
        """As `HammingIndex.join`: every (query row, id, distance) within `radius`, ordered
        by query, distance, id; one call per shard, all at once."""
        q = np.ascontiguousarray(queries, dtype=np.uint8).reshape(-1, 32)
        parts = ray.get([a.join.remote(q, radius) for a in self.actors])
        qi, ids, d = (np.concatenate([p[k] for p in parts]) for k in range(3))
        order = np.lexsort((ids, d, qi))
        return qi[order].astype(np.int64), ids[order].astype(np.int64), d[order]

    def search(self, queries: np.ndarray, radius: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """As `HammingIndex.search`: per query, (ids, distances) nearest first, ties by id."""
        qi, ids, d = self.join(queries, radius)
        bounds = np.searchsorted(qi, np.arange(len(queries) + 1))
        return [(ids[bounds[i]:bounds[i + 1]], d[bounds[i]:bounds[i + 1]])
                for i in range(len(queries))]

    def close(self) -> None:
        for a in self.actors:
            ray.kill(a)
        self.actors = []


def for_store(store: Store, shards: int) -> ShardedIndex:
    """The store's PDQ list entries (inactive ones too: the matcher filters, as locally) in
    `shards` actors, ids = entry ids."""
    return ShardedIndex.from_chunks(pdq_entry_chunks(store), shards)


def searched_by(matcher: Matcher, sharded: ShardedIndex | None) -> Matcher:
    """`matcher`, its PDQ lookups sent to `sharded` (None: its own index). Its own PDQ
    index is let go: with shards, a node holds none of the hashes, only the entries' lists
    and flags (the matcher is reopened for a scan without shards)."""
    if sharded is not None and matcher.pdq_remote is not sharded:
        matcher.pdq = HammingIndex()
    matcher.pdq_remote = sharded
    return matcher
