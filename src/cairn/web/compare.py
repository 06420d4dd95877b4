"""Two items of a case side by side: what is the same, what differs, and how far apart
their pictures are.

- Hashes: MD5, SHA-1, SHA-256 each the same or not (the same SHA-256: the same bytes).
- PDQ: the distance between the two plain hashes and the smallest over the 8 rotations and
  flips of the second (`transform`: what turns the second into the first, the name a match
  reports), with whether that is within the match threshold. Never for a hash of quality
  under MIN_QUALITY (it matches nothing; the row says why).
- Metadata (kind, type, size, dimensions, times, where) row by row, each marked differs.
- Provenance: the findings only one carries and those both do; the generator fingerprints
  (trace/links.py keys) they share, which link them whatever their pixels.

The pictures are shown by the page, blurred and grey like everywhere else.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from cairn.signals import pdq
from cairn.trace.links import keys_of

FIELDS = (("source", "Source (exhibit)"), ("path", "Path inside it"),
          ("parent_path", "Inside archive"), ("kind", "Kind"), ("media_type", "Media type"),
          ("size", "Size (bytes)"), ("dimensions", "Dimensions"),
          ("mtime", "File time (recorded at scan)"))


def _signal(it: Mapping[str, Any], kind: str) -> dict[str, Any] | None:
    sigs = [s for s in it.get("signals") or [] if s["type"] == kind]
    sigs.sort(key=lambda s: s["mode"] != "exact")  # exact first
    return sigs[0] if sigs else None


def pdq_distance(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    pa, pb = _signal(a, "pdq"), _signal(b, "pdq")
    if pa is None or pb is None:
        return {"available": False, "why": "one of them has no PDQ hash (not a picture, "
                                           "or it could not be decoded)"}
    low = [x for x, p in (("first", pa), ("second", pb))
           if p["quality"] is not None and p["quality"] < pdq.MIN_QUALITY]
    plain = pdq.hamming(pa["value"], pb["value"])
    turns = _signal(b, "pdq8")
    best, transform = plain, "none"
    if turns is not None:
        for name, h in zip(pdq.DIHEDRAL, turns["value"].split(","), strict=False):
            d = pdq.hamming(pa["value"], h)
            if d < best:
                best, transform = d, name
    out = {"available": True, "plain": plain, "best": best, "transform": transform,
           "threshold": pdq.MATCH_DISTANCE, "quality": [pa["quality"], pb["quality"]],
           "within": best <= pdq.MATCH_DISTANCE and not low}
    if low:
        out["why"] = (f"the {' and '.join(low)} hash has quality under {pdq.MIN_QUALITY}: "
                      "it matches nothing, whatever the distance")
    return out


def _value(it: Mapping[str, Any], key: str) -> Any:
    if key == "dimensions":
        return f"{it['width']}×{it['height']}" if it.get("width") else None
    if key == "mtime" and it.get("mtime") is not None:
        return datetime.fromtimestamp(it["mtime"], UTC).isoformat(timespec="seconds")
    return it.get(key)


def _finding_key(f: dict[str, Any]) -> str:
    return json.dumps(f, sort_keys=True, default=str)


def compare(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    """`a`, `b`: items as service/items.py `view_item` gives them."""
    hashes = [{"name": n.upper().replace("SHA", "SHA-") if n != "md5" else "MD5",
               "a": a.get(n), "b": b.get(n), "same": bool(a.get(n)) and a.get(n) == b.get(n)}
              for n in ("md5", "sha1", "sha256")]
    meta = [{"name": label, "a": _value(a, k), "b": _value(b, k),
             "differs": _value(a, k) != _value(b, k)} for k, label in FIELDS]
    fa = {_finding_key(f): f for f in a.get("findings") or []}
    fb = {_finding_key(f): f for f in b.get("findings") or []}
    ka, kb = keys_of(a.get("findings") or []), keys_of(b.get("findings") or [])
    return {
        "same_bytes": bool(a.get("sha256")) and a.get("sha256") == b.get("sha256"),
        "hashes": hashes, "pdq": pdq_distance(a, b), "metadata": meta,
        "findings": {"both": [fa[k] for k in sorted(fa.keys() & fb.keys())],
                     "only_a": [fa[k] for k in sorted(fa.keys() - fb.keys())],
                     "only_b": [fb[k] for k in sorted(fb.keys() - fa.keys())]},
        "fingerprints": {"shared": sorted(ka & kb), "only_a": sorted(ka - kb),
                         "only_b": sorted(kb - ka)},
        "matches": {"a": sorted({m["list"] for m in a.get("matches") or []}),
                    "b": sorted({m["list"] for m in b.get("matches") or []})},
        "same_family": bool(a.get("family")) and bool(b.get("family"))
        and a["family"]["id"] == b["family"]["id"],
    }
