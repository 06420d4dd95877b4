"""What the workbench's pages read that the API's service layer does not already give:
an item's case and file, a case's overview, a family's members as item ids."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, tuple_

from cairn.service.families import case_families, families_for_page
from cairn.service.items import synthetic_contents
from cairn.store import Store, reviews
from cairn.store import items as store_items
from cairn.store import schema as t
from cairn.web.thumbs import ItemFile


def item_file(store: Store, item_id: int) -> tuple[int, ItemFile] | None:
    """(the item's case id, where its bytes are), or None for no such item."""
    i, s = t.items.c, t.sources.c
    with store.engine.connect() as c:
        r = c.execute(select(s.case_id, s.location, i.raw_path, i.sha256, i.kind, i.size)
                      .join(t.sources, i.source_id == s.id).where(i.id == item_id)
                      ).mappings().first()
    if r is None:
        return None
    return r["case_id"], ItemFile(r["location"], bytes(r["raw_path"]), r["sha256"],
                                  r["kind"], r["size"])


def family_of_item(store: Store, case_id: int, item_id: int) -> dict[str, Any] | None:
    ref = store_items.item_ref(store, case_id, item_id)
    if ref is None:
        return None
    return case_families(store, case_id).family_of(ref["source"], ref["path"])


def family(store: Store, case_id: int, family_id: int) -> dict[str, Any] | None:
    """A trace family with each member's item ids (`items`) and active review."""
    fams = case_families(store, case_id).families
    if not 1 <= family_id <= len(fams):
        return None
    fam = dict(fams[family_id - 1])
    locations = [(m["source"], m["path"]) for m in fam["members"]]
    ids: dict[tuple[str, str], list[int]] = {}
    with store.engine.connect() as c:
        for k in range(0, len(locations), 200):
            for iid, src, path in c.execute(
                    select(t.items.c.id, t.sources.c.name, t.items.c.path)
                    .join(t.sources, t.items.c.source_id == t.sources.c.id)
                    .where(t.sources.c.case_id == case_id,
                           tuple_(t.sources.c.name, t.items.c.path).in_(locations[k:k + 200]))
                    .order_by(t.items.c.id)):
                ids.setdefault((src, path), []).append(iid)
    decided = reviews.active(store, [i for v in ids.values() for i in v])
    members = []
    for m in fam["members"]:
        item_ids = ids.get((m["source"], m["path"]), [])
        d = decided.get(item_ids[0]) if item_ids else None
        members.append({**m, "items": item_ids,
                        "review": d.public() if d and d.category is not None else None})
    fam["members"] = members
    return fam


def family_item_ids(store: Store, case_id: int, family_id: int) -> list[int]:
    fam = family(store, case_id, family_id)
    return sorted({i for m in fam["members"] for i in m["items"]}) if fam else []


def overview(store: Store, case_id: int) -> dict[str, Any]:
    """Counts (items, matched, synthetic, families, errors) and review progress; the
    families' counts None while they are being computed (a large case)."""
    counts = store_items.case_counts(store, case_id)
    shas = sorted(synthetic_contents(store, case_id))
    synthetic_items = 0
    with store.engine.connect() as c:
        for k in range(0, len(shas), 500):
            synthetic_items += c.execute(select(func.count()).select_from(t.items).join(
                t.sources).where(t.sources.c.case_id == case_id,
                                 t.items.c.sha256.in_(shas[k:k + 500]))).scalar_one()
    kept = families_for_page(store, case_id)  # None: being computed (a large case)
    fams = kept.families if kept is not None else None
    prog = reviews.progress(store, case_id)
    return {**counts, "items_synthetic": synthetic_items,
            "families": len(fams) if fams is not None else None,
            "families_multi_source": sum(1 for f in fams if len(f["sources"]) > 1)
            if fams is not None else None,
            "reviewed": prog["reviewed"], "to_review": counts["items"] - prog["reviewed"],
            "by_category": prog["by_category"]}
