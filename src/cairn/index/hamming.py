"""Hamming-radius search over 256-bit hashes by brute force: exact by construction.

Fast enough for lists of up to a few hundred thousand hashes (one XOR + popcount pass per
query over 32 bytes a hash); the multi-index structure for tens of millions is issue #4's.
"""

from __future__ import annotations

import numpy as np


class BruteForceHammingIndex:
    def __init__(self) -> None:
        self._rows: list[bytes] = []
        self._ids: list[int] = []
        self._matrix: np.ndarray | None = None
        self._id_array: np.ndarray | None = None

    def add(self, hash_bytes: bytes, ident: int) -> None:
        if len(hash_bytes) != 32:
            raise ValueError("a 256-bit hash is 32 bytes")
        self._rows.append(hash_bytes)
        self._ids.append(ident)
        self._matrix = None

    def __len__(self) -> int:
        return len(self._ids)

    def _build(self) -> tuple[np.ndarray, np.ndarray]:
        if self._matrix is None:
            buf = b"".join(self._rows)
            self._matrix = np.frombuffer(buf, dtype=">u8").astype(np.uint64).reshape(-1, 4)
            self._id_array = np.asarray(self._ids, dtype=np.int64)
        assert self._id_array is not None
        return self._matrix, self._id_array

    def search(self, query: bytes, radius: int) -> list[tuple[int, int]]:
        """(id, distance) of every hash within `radius` of `query`, nearest first."""
        if not self._ids:
            return []
        matrix, ids = self._build()
        q = np.frombuffer(query, dtype=">u8").astype(np.uint64)
        dist = np.bitwise_count(matrix ^ q).sum(axis=1, dtype=np.int64)
        hit = np.flatnonzero(dist <= radius)
        order = hit[np.lexsort((ids[hit], dist[hit]))]
        return [(int(ids[i]), int(dist[i])) for i in order]
