"""Exact lookup of cryptographic digests: sorted fixed-width byte arrays, no Python object per
hash, so tens of millions of MD5/SHA-1/SHA-256 fit in their raw size plus an id each."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from cairn.index.files import IndexFileError, read_header

FORMAT = "cairn-digest-index"
VERSION = 1


class DigestIndex:
    def __init__(self, width: int) -> None:
        self.width = width  # bytes: 16 MD5, 20 SHA-1, 32 SHA-256
        self._pending_values: list[bytes] = []
        self._pending_ids: list[int] = []
        self._values = np.zeros(0, dtype=f"S{width}")
        self._ids = np.zeros(0, dtype=np.int64)

    def add(self, hex_value: str, ident: int) -> None:
        raw = bytes.fromhex(hex_value)
        if len(raw) != self.width:
            raise ValueError(f"digest must be {self.width} bytes, got {len(raw)}")
        self._pending_values.append(raw)
        self._pending_ids.append(ident)

    def _build(self) -> None:
        if not self._pending_values:
            return
        new = np.array(self._pending_values, dtype=f"S{self.width}")
        new_ids = np.asarray(self._pending_ids, dtype=np.int64)
        order = np.argsort(new, kind="stable")
        new, new_ids = new[order], new_ids[order]
        # merged into the sorted arrays, not sorted again: appending 100k digests to 10M
        # moves memory once (O(N + k log k)); equal digests keep their order, older first
        at = np.searchsorted(self._values, new, side="right")
        self._values = np.insert(np.asarray(self._values), at, new)
        self._ids = np.insert(np.asarray(self._ids), at, new_ids)
        self._pending_values, self._pending_ids = [], []

    def get(self, hex_value: str) -> list[int]:
        self._build()
        key = np.array(bytes.fromhex(hex_value), dtype=f"S{self.width}")
        lo = np.searchsorted(self._values, key, side="left")
        hi = np.searchsorted(self._values, key, side="right")
        return self._ids[lo:hi].tolist()

    def get_many(self, hex_values: Sequence[str]) -> list[list[int]]:
        """`get` of each value, with two binary searches for the whole batch instead of two
        per value (a 10,000-hash lookup: one numpy call each, not 20,000). A value of
        another width is in no list: [] (a cut or padded key would match a wrong digest)."""
        self._build()
        raws = [bytes.fromhex(v) for v in hex_values]
        ok = [len(r) == self.width for r in raws]
        keys = np.array([r if good else b"" for r, good in zip(raws, ok, strict=True)],
                        dtype=f"S{self.width}")
        lo = np.searchsorted(self._values, keys, side="left")
        hi = np.searchsorted(self._values, keys, side="right")
        out: list[list[int]] = [[] for _ in raws]
        for i in np.flatnonzero(hi > lo).tolist():
            if ok[i]:
                out[i] = self._ids[lo[i]:hi[i]].tolist()
        return out

    def __len__(self) -> int:
        return len(self._values) + len(self._pending_values)

    def save(self, path: str | Path) -> None:
        self._build()
        p = Path(path)
        p.mkdir(parents=True, exist_ok=True)
        np.save(p / "values.npy", np.asarray(self._values))
        np.save(p / "ids.npy", np.asarray(self._ids))
        (p / "header.json").write_text(json.dumps(
            {"format": FORMAT, "version": VERSION, "width": self.width,
             "rows": int(len(self._values))}))

    @classmethod
    def load(cls, path: str | Path, mmap: bool = True) -> DigestIndex:
        """Open a saved index memory-mapped; damaged or foreign files are refused."""
        p = Path(path)
        h = read_header(p, FORMAT, VERSION, "digest index")
        idx = cls(int(h["width"]))
        try:
            values = np.load(p / "values.npy", mmap_mode="r" if mmap else None)
            ids = np.load(p / "ids.npy", mmap_mode="r" if mmap else None)
        except (OSError, ValueError, EOFError) as e:
            raise IndexFileError(f"{p}: damaged or truncated index file: {e}") from None
        n = int(h["rows"])
        if values.shape != (n,) or ids.shape != (n,) or values.dtype != f"S{idx.width}":
            raise IndexFileError(f"{p}: arrays do not match the header; rebuild it")
        idx._values, idx._ids = values, ids
        return idx
