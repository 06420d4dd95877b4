"""First seen: per family and per model, the earliest time any of its items carries, with
where that time came from (EXIF DateTimeOriginal, a C2PA claim's signing time, an archive
member's stored time, the file system time recorded at scan)."""

from __future__ import annotations

from datetime import UTC, datetime

from cairn.trace.families import Family
from cairn.trace.links import Link


def item_times(it: dict) -> list[tuple[str, str]]:
    """(ISO time, what it is) of one item, best first."""
    out = []
    for f in it.get("findings") or []:
        t = (f.get("signer") or {}).get("time") if f.get("kind") == "c2pa" else None
        if t:
            out.append((str(t), "C2PA claim signing time"))
        if f.get("kind") == "capture_time" and f.get("time"):
            out.append((str(f["time"]), "EXIF DateTimeOriginal"))
    if it.get("mtime"):
        when = datetime.fromtimestamp(it["mtime"], UTC).isoformat(timespec="seconds")
        out.append((when, "archive member time" if it.get("parent_path")
                    else "file system mtime at scan"))
    return out


def first_seen(refs: list[dict], by_ref: dict[tuple[str, str], dict]) -> dict | None:
    best = None
    for ref in refs:
        it = by_ref.get((ref["source"], ref["path"]))
        for when, what in item_times(it or {}):
            if best is None or when < best["time"]:
                best = {"time": when, "time_source": what, "source": ref["source"],
                        "path": ref["path"]}
    return best


def timeline(items: list[dict], fams: list[Family], lnks: list[Link]) -> list[dict]:
    """Events in time order: when each family and each fingerprint was first seen."""
    by_ref = {(it["source"], it["path"]): it for it in items}
    events = []
    for f in fams:
        fs = first_seen(f.members, by_ref)
        if fs:
            events.append({"what": f"family {f.id}", "kind": "family", **fs})
    for lk in lnks:
        fs = first_seen(lk.items, by_ref)
        if fs:
            events.append({"what": f"{lk.type} {lk.key[:60]}", "kind": lk.type, **fs})
    events.sort(key=lambda e: (e["time"], e["what"]))
    return events
