"""Hash lists changed from the HTTP API: an uploaded file imported, entries withdrawn or
marked false positive, an item's matches judged. What `cairn lists import|withdraw|
false-positive` and `cairn feedback` do, in the same order: the store's change (one custody
entry, naming the API's user), then the persisted list index brought up to date so the next
lookup or scan sees it, then (an import) every open case re-matched against the new entries
from its stored signals.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cairn.exchange.taxii import fp_threshold
from cairn.lists.formats import open_list, stix
from cairn.scan.listindex import open_matcher
from cairn.scan.rematch import rematch
from cairn.store import Store
from cairn.store import exchange as ex
from cairn.store.people import People


def list_rows(store: Store) -> list[dict[str, Any]]:
    """The lists in use, as `cairn lists --json` prints them."""
    return [{"name": r["name"], "entries": r["entry_count"], "signal_types": r["signal_types"],
             "format": r["format"], "source_file": r["source_file"],
             "imported_at": r["imported_at"], "rejected_lines": r["rejected_count"],
             "pdq_threshold": r["pdq_threshold"], "purpose": r["purpose"], "tlp": r["tlp"]}
            for r in store.lists.all()]


def refresh_index(store: Store) -> int:
    """Bring the persisted list index up to date now; the active entries it holds."""
    return len(open_matcher(store))


@dataclass(frozen=True, slots=True)
class ImportOptions:
    fmt: str = "auto"
    signal_type: str | None = None
    threshold: int = 31
    video_percent: float = 80.0
    known_good: bool = False
    tlp: str | None = None
    replace: bool = False
    append: bool = False
    rematch: bool = True


def import_list(store: Store, path: Path, name: str, source_file: str, o: ImportOptions,
                by: str | None = None) -> dict[str, Any]:
    """Import the list file at `path` (recorded as `source_file`). Raises ListFormatError or
    StoreError (nothing written) for a file or a name refused."""
    before = store.lists.max_entry_id()
    used, entries, rejected = open_list(path, o.fmt, o.signal_type)
    res = store.lists.add(name, source_file, used, o.threshold,
                          (e.to_dict() for e in entries), rejected, o.replace, o.video_percent,
                          append=o.append,
                          purpose="known-good" if o.known_good or used == "nsrl" else "detect",
                          tlp=o.tlp, stix_id=stix.indicator_id, by=by)
    res["indexed_entries"] = refresh_index(store)
    res["format"] = used
    res["rejected_lines"] = [{"line": r.line, "reason": r.reason, "text": r.text[:200]}
                             for r in rejected]
    why = f"list {name} imported" + (f" by {by}" if by else "")
    res["rematch"] = [] if not o.rematch else [
        rematch(store, c["name"], after_entry=before, why=why, workers=1).to_dict()
        for c in People(store).cases() if c["items"] and c["status"] == "open"]
    return res


def set_entry_status(store: Store, name: str, values: list[str], status: str,
                     note: str | None, by: str) -> dict[str, Any]:
    """Withdraw, mark false positive or reinstate entries by value. StoreError: no list."""
    res = store.lists.set_status(name, values, status, note, by=by)
    refresh_index(store)
    return {"list": name, "status": status} | res


def judge_item(store: Store, entry_ids: list[int], verdict: str, by: str,
               note: str | None) -> list[dict[str, Any]]:
    """`cairn feedback` for an item's matched entries: one opinion on each, by `by`."""
    res = ex.add_opinions(store, entry_ids, verdict, f"local:{by}", note,
                          threshold=fp_threshold())
    refresh_index(store)
    return res
