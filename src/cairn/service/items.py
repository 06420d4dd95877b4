"""A case's items for the HTTP API: pages with every filter, and one item in full, whose
every read is a custody entry naming the user.

Two filters are not SQL: `synthetic` (a provenance finding that says the content was
generated: `cases.people.is_synthetic`, what the case report and the per-device figures
count) and `family` (a trace family, service/families.py). Both become a predicate over the
rows store/items.py walks in id order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cairn.cases.people import is_synthetic
from cairn.records import ItemDetail, ItemRow
from cairn.service.families import case_families, families_for_page
from cairn.store import Store
from cairn.store import items as store_items
from cairn.store.items import ItemFilter

MAX_LIMIT = 500
VIEWED = "item.viewed"


@dataclass(frozen=True, slots=True)
class ItemQuery:
    filter: ItemFilter
    synthetic: bool | None = None
    family: int | None = None
    after: int = 0  # the cursor: the last item id of the previous page
    limit: int = 100


@dataclass(frozen=True, slots=True)
class ItemPage:
    items: list[ItemRow]
    next_after: int | None  # the cursor of the next page; None: this was the last


def synthetic_contents(store: Store, case_id: int, shas: list[str] | None = None) -> set[str]:
    """SHA-256s of the case's contents (or of `shas`) with a finding that says synthetic."""
    return {sha for sha, f in store_items.case_findings(store, case_id, shas)
            if is_synthetic(f)}


def list_items(store: Store, case_id: int, q: ItemQuery) -> ItemPage:
    keep_sets: list[tuple[str, set[Any], bool]] = []
    if q.synthetic is not None:
        keep_sets.append(("sha256", synthetic_contents(store, case_id), q.synthetic))
    if q.family is not None:
        fams = case_families(store, case_id)
        members = {loc for loc, fid in fams.by_location.items() if fid == q.family}
        keep_sets.append(("location", members, True))

    def keep(row: ItemRow) -> bool:
        for key, values, wanted in keep_sets:
            value = (row["source"], row["path"]) if key == "location" else row["sha256"]
            if (value in values) != wanted:
                return False
        return True

    rows = store_items.page(store, case_id, q.filter, q.after, q.limit,
                            keep if keep_sets else None)
    more = len(rows) > q.limit
    rows = rows[:q.limit]
    synthetic = synthetic_contents(store, case_id,
                                   sorted({r["sha256"] for r in rows if r["sha256"]}))
    for r in rows:
        r["synthetic"] = r["sha256"] in synthetic
    return ItemPage(rows, rows[-1]["id"] if more and rows else None)


def view_item(store: Store, case_id: int, item_id: int, by: str, via: str,
              wait: bool = True) -> ItemDetail | None:
    """One item of the case in full (signals, matches with their status, findings, errors,
    family, custody entries), after writing the `item.viewed` custody entry that names who
    read it: no read goes unrecorded (the entry is in the item's own list). None when the
    case has no such item (nothing is written). Not `wait`: for a page, where the case's
    families are not yet computed on a large case, `family` is None and `family_pending`
    says they are being computed (service/families.py `families_for_page`)."""
    ref = store_items.item_ref(store, case_id, item_id)
    if ref is None:
        return None
    store.log_event(case_id, VIEWED, f"item:{item_id}",
                    {"item": item_id, "source": ref["source"], "path": ref["path"],
                     "by": by, "via": via})
    it = store_items.item(store, case_id, item_id)
    if it is None:  # (items are never deleted: only a store swapped underneath gets here)
        return None
    it["synthetic"] = any(is_synthetic(f) for f in it["findings"])
    fams = case_families(store, case_id) if wait else families_for_page(store, case_id)
    it["family"] = fams.family_of(it["source"], it["path"]) if fams is not None else None
    it["family_pending"] = fams is None
    return it
