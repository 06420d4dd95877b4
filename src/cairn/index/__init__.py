"""Searchable sets of signals: exact digests and Hamming-radius (PDQ) indexes."""

from cairn.index.exact import DigestIndex
from cairn.index.mih import HammingIndex, IndexFileError, codes_from_hex

__all__ = ["DigestIndex", "HammingIndex", "IndexFileError", "codes_from_hex"]
