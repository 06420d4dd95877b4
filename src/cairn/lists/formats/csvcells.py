"""CSV cells a spreadsheet will not run: the OWASP rule for CSV injection, reversibly.

A spreadsheet reads a cell beginning with `=`, `+`, `-` or `@` as a formula (and a leading tab
or carriage return can hide one), so a file name like `=HYPERLINK("http://…")` in a report
would run on the examiner's machine. Every text cell Cairn writes to CSV that begins with one
of those characters gets a `'` in front, which spreadsheets show as plain text. A cell that
already begins with `'` gets one too, so the rule is exactly reversible: `restore` takes one
`'` off a cell that begins with `'` followed by one of those characters or another `'`, and
python-threatexchange CSV exported by Cairn imports back to the same entries. Numbers Cairn
writes itself (sizes, qualities) are written as numbers, untouched. Hashes are hexadecimal and
never begin with one of these characters, so they are never changed.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import IO, Any

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
QUOTE = "'"


def neutral(cell: Any) -> Any:
    """The cell as written: a text cell that a spreadsheet would run is prefixed with `'`."""
    if isinstance(cell, str) and cell[:1] in (*TRIGGERS, QUOTE):
        return QUOTE + cell
    return cell


def restore(cell: str) -> str:
    """The cell as it was before `neutral`."""
    if cell[:1] == QUOTE and cell[1:2] in (*TRIGGERS, QUOTE):
        return cell[1:]
    return cell


class Writer:
    """csv.writer whose text cells are neutralised (the only CSV writer Cairn uses)."""

    def __init__(self, out: IO[str], **kw: Any) -> None:
        self._w = csv.writer(out, lineterminator="\n", **kw)

    def writerow(self, row: Iterable[Any]) -> None:
        self._w.writerow([neutral(c) for c in row])
