"""Writing lists back out in the simple formats: python-threatexchange dataset CSV and
local-file lines, and md5sum/sha1sum/sha256sum lines.

None of these can mark an entry: `tlp` is the marking the export is shared under, and an
entry marked stricter than that is left out and reported to `withheld` (see markings). CSV
cells are neutralised against formula injection (see csvcells); hashes never need it."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import IO

from cairn.lists.formats.csvcells import Writer
from cairn.lists.formats.markings import Withheld, within
from cairn.lists.formats.readers import TE_CSV_HEADER

Sink = list[Withheld] | Callable[[Withheld], object] | None


def write_te_csv(entries: Iterable[dict], out: IO[str], tlp: str | None = None,
                 withheld: Sink = None) -> int:
    w = Writer(out)
    w.writerow(TE_CSV_HEADER)
    n = 0
    for e in within(entries, tlp, withheld):
        if e["signal_type"] == "photodna":
            continue  # not a python-threatexchange signal type
        w.writerow([e["signal_type"], e["value"], e.get("collab") or "",
                    e.get("category") or "", " ".join(e.get("labels") or [])])
        n += 1
    return n


def write_te_local(entries: Iterable[dict], out: IO[str], tlp: str | None = None,
                   withheld: Sink = None) -> int:
    n = 0
    for e in within(entries, tlp, withheld):
        if e["signal_type"] != "photodna":
            out.write(f"{e['signal_type']} {e['value']}\n")
            n += 1
    return n


def write_hashsum(entries: Iterable[dict], out: IO[str], signal_type: str,
                  tlp: str | None = None, withheld: Sink = None) -> int:
    """`<digest>  <file name>` for one digest type (the name from a `file:` label). A name
    holding a newline or backslash is escaped as GNU md5sum does (the line starts with `\\`),
    so a partner's label cannot add a line of its own."""
    n = 0
    for e in within(entries, tlp, withheld):
        if e["signal_type"] != signal_type:
            continue
        name = next((lb[5:] for lb in e.get("labels") or [] if lb.startswith("file:")), "-")
        name = name.replace("\r", " ")
        if "\n" in name or "\\" in name:
            out.write(f"\\{e['value']}  {name.replace(chr(92), chr(92) * 2)}"
                      .replace("\n", "\\n") + "\n")
        else:
            out.write(f"{e['value']}  {name}\n")
        n += 1
    return n
