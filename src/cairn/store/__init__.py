"""Persistence of cases, sources, items, signals, findings, matches and scan runs."""

from cairn.store.store import Store

__all__ = ["Store"]
