"""What an account's uploads and downloads are in terms of what Cairn knows: the case's
items with the same bytes (SHA-256, else MD5) or a PDQ within the match distance in any of
the 8 rotations and flips, and whether those items have active matches or synthetic
findings. The PDQ side uses the same index as trace/families.py: the case's pictures'
dihedral hashes are indexed once and each transfer's PDQ is one query."""

from __future__ import annotations

import numpy as np

from cairn.cases.people import is_synthetic
from cairn.index import HammingIndex, codes_from_hex
from cairn.records import MatchRecord, StoredItem
from cairn.signals import pdq as pdqmod
from cairn.store import Store

PDQ_DISTANCE = pdqmod.MATCH_DISTANCE  # 31


def _active(m: MatchRecord, known_good: set[str]) -> bool:
    """A match that counts: its own status and its entry's active, on a list that detects
    material (a known-good list's match marks an ordinary file)."""
    return m.get("status", "active") == "active" and m["list"] not in known_good and \
        m.get("entry", {}).get("status", "active") == "active"


def item_ref(it: StoredItem, via: str, distance: int, known_good: set[str]) -> dict:
    matches = [m for m in it["matches"] if _active(m, known_good)]
    return {"source": it["source"], "path": it["path"], "sha256": it["sha256"],
            "via": via, "distance": distance,
            "active_matches": len(matches),
            "lists": sorted({m["list"] for m in matches}),
            "synthetic": any(is_synthetic(f) for f in it["findings"])}


def link_accounts(store: Store, case_id: int, accounts: list[dict]) -> list[dict]:
    """Each account's transfers gain `items`: the case's items they are (by hash) or look
    like (PDQ); the account gains a summary. Changes `accounts` in place and returns it."""
    items = store.records.case_items(case_id)
    known_good = {x["name"] for x in store.lists.all() if x["purpose"] == "known-good"}
    dihedral = {r["id"]: r["dihedral"] for r in store.records.case_signals(case_id)}
    by_sha: dict[str, list[StoredItem]] = {}
    by_md5: dict[str, list[StoredItem]] = {}
    for it in items:
        if it["sha256"]:
            by_sha.setdefault(it["sha256"], []).append(it)
        if it["md5"]:
            by_md5.setdefault(it["md5"], []).append(it)
    rows: list[int] = []
    hexes: list[str] = []
    for k, it in enumerate(items):
        if it["pdq"] and (it["pdq"].get("quality") or 0) >= pdqmod.MIN_QUALITY:
            for h in dihedral.get(it["id"]) or [it["pdq"]["hash"]]:
                rows.append(k)
                hexes.append(h)
    idx = None
    if rows:
        idx = HammingIndex()
        idx.add(codes_from_hex(hexes))
        idx.build()
    row_item = np.asarray(rows, dtype=np.int64)
    # a transfer whose file was handed over beside the records (scanned as PLATFORM-files)
    # links to that item, and, when the record gives no hash, through the item's hashes to
    # the rest of the case; the record's own values are left as they are
    handed = {(it["source"].removesuffix("-files"), it["path"].strip("/")): it for it in items
              if it["source"].endswith("-files")}
    file_of: dict[int, StoredItem] = {}
    hashes: dict[int, tuple[str | None, str | None, str | None, str]] = {}
    for a in accounts:
        for x in a["transfers"]:
            got = handed.get((a["platform"], (x.get("file_name") or "").strip("/")))
            if got is not None:
                file_of[x["id"]] = got
            if got is not None and not (x["sha256"] or x["md5"] or x["pdq"]):
                pdq = got["pdq"]
                hashes[x["id"]] = (got["sha256"], got["md5"], pdq["hash"] if pdq else None,
                                   "file+")
            else:
                hashes[x["id"]] = (x["sha256"], x["md5"], x["pdq"], "")
    queries = [(a, x) for a in accounts for x in a["transfers"] if hashes[x["id"]][2]]
    near: dict[int, dict[int, int]] = {}  # transfer id -> item index -> distance
    if idx is not None and queries:
        qi, ids, dist = idx.join(codes_from_hex([hashes[x["id"]][2] or "" for _, x in queries]),
                                 PDQ_DISTANCE)
        for q, i, d in zip(qi.tolist(), ids.tolist(), dist.tolist(), strict=True):
            tid = queries[q][1]["id"]
            k = int(row_item[i])
            near.setdefault(tid, {})
            near[tid][k] = min(d, near[tid].get(k, d))
    for a in accounts:
        seen_items: set[int] = set()
        for x in a["transfers"]:
            refs: dict[int, dict] = {}
            sha, md5, _, via = hashes[x["id"]]
            exact = by_sha.get(sha, []) if sha else by_md5.get(md5, []) if md5 else []
            file = file_of.get(x["id"])
            if file is not None:
                refs[file["id"]] = item_ref(file, "file", 0, known_good)
            for it in exact:
                if it["id"] not in refs:
                    refs[it["id"]] = item_ref(it, via + ("sha256" if sha else "md5"), 0,
                                             known_good)
            for k, d in sorted(near.get(x["id"], {}).items(), key=lambda kv: kv[1]):
                it = items[k]
                if it["id"] not in refs:
                    refs[it["id"]] = item_ref(it, via + "pdq", d, known_good)
            x["items"] = list(refs.values())
            seen_items |= set(refs)
        matched = [r for x in a["transfers"] for r in x["items"]]
        a["summary"] = {
            "uploads": sum(x["direction"] == "upload" for x in a["transfers"]),
            "downloads": sum(x["direction"] == "download" for x in a["transfers"]),
            "linked_items": len(seen_items),
            "items_with_active_matches": len({(r["source"], r["path"]) for r in matched
                                              if r["active_matches"]}),
            "synthetic_items": len({(r["source"], r["path"]) for r in matched
                                    if r["synthetic"]})}
    return accounts
