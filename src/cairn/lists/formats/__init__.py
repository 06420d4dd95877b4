"""Readers and writers for hash-list files. Each reader yields entries and reports a bad
entry by its position (line, Media, object or attribute number) and reason; the only error
that stops an import is ListFormatError, for a file that is not a list at all."""

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
