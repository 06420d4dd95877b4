"""Exact lookup of cryptographic digests."""

from __future__ import annotations

from collections import defaultdict


class ExactIndex:
    """digest -> ids. Simple and correct; the tens-of-millions index is issue #4's."""

    def __init__(self) -> None:
        self._ids: dict[str, list[int]] = defaultdict(list)

    def add(self, value: str, ident: int) -> None:
        self._ids[value].append(ident)

    def get(self, value: str) -> list[int]:
        return self._ids.get(value, [])

    def __len__(self) -> int:
        return len(self._ids)
