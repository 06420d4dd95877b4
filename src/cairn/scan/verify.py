"""`sources verify`: is the evidence still what was acquired? Re-hash a source's files and
compare them with what its scans recorded, and the record with the manifest the custody log
holds (the SHA-256 a complete scan wrote of every file's path, size and SHA-256). A disk image
that stores the hashes of the media it acquired (an E01's MD5 and SHA-1) is also checked
against them: `images`, one entry per such image, its stored and recomputed hashes."""

from __future__ import annotations

import os
from typing import Any

from cairn.media.disk.detect import EWF, ewf_segment_number
from cairn.media.disk.images import DiskImageError, open_image
from cairn.media.disk.images import verify as verify_image
from cairn.media.walk import walk
from cairn.scan.worker import open_noatime
from cairn.signals import crypto
from cairn.store.custody import case_chain
from cairn.store.store import Store


def verify_source(store: Store, case_id: int, source: dict) -> dict[str, Any]:
    """{"source", "location", "changed", "missing", "added", "unreadable", "files",
    "manifest": {"logged", "recorded", "matches"}, "ok"}: files by path."""
    recorded, manifest_now = store.cases.source_files(source["id"])
    logged = _logged_manifest(store, case_id, source["id"])
    out: dict[str, Any] = {"source": source["name"], "location": source["location"],
                           "changed": [], "missing": [], "added": [], "unreadable": [],
                           "files": 0, "images": []}
    seen: set[bytes] = set()
    root = source["location"]
    if not os.path.lexists(root):
        out["missing"] = sorted(f["path"] for f in recorded.values())
    else:
        for entry in walk(root):
            raw = entry.raw
            rec = recorded.get(raw)
            if entry.kind != "file":
                if rec is None:
                    out["added"].append(entry.path)
                seen.add(raw)
                continue
            out["files"] += 1
            seen.add(raw)
            if rec is None:
                out["added"].append(entry.path)
                continue
            scratch: dict = {}
            try:
                with os.fdopen(open_noatime(entry.fs_path, scratch), "rb") as f:
                    h, _ = crypto.hash_stream(f)
            except OSError as e:
                out["unreadable"].append({"path": entry.path, "error": e.strerror or str(e)})
                continue
            if (h.sha256, h.size) != (rec["sha256"], rec["size"]):
                out["changed"].append({"path": entry.path, "recorded": rec["sha256"],
                                       "now": h.sha256})
            image = _stored_hashes(entry.fs_path)
            if image is not None:
                out["images"].append({"path": entry.path} | image)
        out["missing"] = sorted(f["path"] for r, f in recorded.items() if r not in seen)
    out["manifest"] = {"logged": logged, "recorded": manifest_now["sha256"],
                       "matches": logged is None or logged == manifest_now["sha256"]}
    out["ok"] = not (out["changed"] or out["missing"] or out["added"] or out["unreadable"]
                     ) and out["manifest"]["matches"] and all(
                         i["ok"] is not False for i in out["images"])
    return out


def _stored_hashes(path: bytes) -> dict[str, Any] | None:
    """An E01's stored MD5/SHA-1 against the media read now (every segment, decompressed),
    {"format", "stored", "computed", "ok", "error"}; None when the file is not an E01's first
    segment. `ok` None: the image stores no hash to check."""
    scratch: dict = {}
    try:
        with os.fdopen(open_noatime(path, scratch), "rb") as f:
            if ewf_segment_number(f.read(16)) != 1:
                return None
            try:
                with open_image(f, EWF, path,
                                opener=lambda p: os.fdopen(open_noatime(p, scratch), "rb")
                                ) as img:
                    return verify_image(img)
            except DiskImageError as e:
                return {"format": "E01", "stored": {}, "computed": {}, "ok": False,
                        "error": str(e)}
    except OSError:
        return None  # unreadable: reported as such by the file pass


def _logged_manifest(store: Store, case_id: int, source_id: int) -> str | None:
    """The manifest SHA-256 of the source's last complete scan, as the custody log holds it."""
    found = None
    for e in store.custody_entries(case_id):
        d = e["details"]
        if (e["chain"] == case_chain(case_id) and e["action"] == "scan.ended"
                and isinstance(d, dict) and d.get("source") == source_id
                and d.get("status") == "complete" and isinstance(d.get("manifest"), dict)):
            found = d["manifest"].get("sha256")
    return found
