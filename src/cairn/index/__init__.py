"""Searchable sets of signals: exact (cryptographic) and Hamming-radius (PDQ)."""

from cairn.index.exact import ExactIndex
from cairn.index.hamming import BruteForceHammingIndex

__all__ = ["BruteForceHammingIndex", "ExactIndex"]
