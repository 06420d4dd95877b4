"""Searchable sets of signals: exact digests and Hamming-radius (PDQ) indexes."""

from cairn.index.exact import DigestIndex
from cairn.index.mih import HammingIndex, IndexFileError

__all__ = ["DigestIndex", "HammingIndex", "IndexFileError"]
