"""Readers for hash-list files. Each yields entries and reports bad lines by number."""

from cairn.lists.formats.readers import (
    FORMATS,
    SIGNAL_TYPES,
    Entry,
    ListFormatError,
    Rejected,
    detect_format,
    open_list,
    read_list,
)

__all__ = ["FORMATS", "SIGNAL_TYPES", "Entry", "ListFormatError", "Rejected", "detect_format",
           "open_list", "read_list"]
