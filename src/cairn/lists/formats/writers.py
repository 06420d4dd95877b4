"""Writing lists back out in the simple formats: python-threatexchange dataset CSV and
local-file lines, and md5sum/sha1sum/sha256sum lines."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import IO

from cairn.lists.formats.readers import TE_CSV_HEADER


def write_te_csv(entries: Iterable[dict], out: IO[str]) -> int:
    w = csv.writer(out, lineterminator="\n")
    w.writerow(TE_CSV_HEADER)
    n = 0
    for e in entries:
        if e["signal_type"] == "photodna":
            continue  # not a python-threatexchange signal type
        w.writerow([e["signal_type"], e["value"], e.get("collab") or "",
                    e.get("category") or "", " ".join(e.get("labels") or [])])
        n += 1
    return n


def write_te_local(entries: Iterable[dict], out: IO[str]) -> int:
    n = 0
    for e in entries:
        if e["signal_type"] != "photodna":
            out.write(f"{e['signal_type']} {e['value']}\n")
            n += 1
    return n


def write_hashsum(entries: Iterable[dict], out: IO[str], signal_type: str) -> int:
    """`<digest>  <file name>` for one digest type (the name from a `file:` label)."""
    n = 0
    for e in entries:
        if e["signal_type"] != signal_type:
            continue
        name = next((lb[5:] for lb in e.get("labels") or [] if lb.startswith("file:")), "-")
        out.write(f"{e['value']}  {name}\n")
        n += 1
    return n
