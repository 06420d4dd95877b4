"""Project VIC VICS JSON: 1.x (`odata.metadata`) and 2.0 (`@odata.context`, profiles
Default/US/UK), hash sets (`#Media`) and cases (`#Cases`), read and written streaming.

One VICS Media becomes one entry per hash it carries (MD5, SHA1, SHA256, PDQ, PhotoDNA),
sharing the Media's fields in `attrs["vics"]` so an export regroups them. Category follows
Project VIC's US scheme 0-4; a Media without a Category is uncategorised, not category 0.
Booleans written as strings ("true") are read as booleans. PhotoDNA is carried untouched.
Cairn carries PDQ in `MediaMetadata` as `[{"Name": "PDQ", "Value": hex}, ...]` (a dict
`{"PDQ": hex}` is read as well).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import IO, Any

import ijson

from cairn.lists.formats.readers import Entry, ListFormatError, Rejected, normalise

CONTEXT_2 = ("http://github.com/VICSDATAMODEL/ProjectVic/DataModels/2.0.xml/{profile}/"
             "$metadata#{shape}")
CONTEXT_1 = "http://github.com/ICMEC/ProjectVic/DataModels/1.3.xml/$metadata#{shape}"
PROFILES = ("Default", "US", "UK", "CUSTOM")
CATEGORIES = {0: "non-pertinent", 1: "CAM", 2: "child exploitive / age difficult",
              3: "CGI/animation child exploitive", 4: "comparison"}
FLAGS = ("VictimIdentified", "OffenderIdentified", "IsDistributed", "IsPrecategorized")
KEPT = ("MediaID", "Series", "MediaSize", "DateUpdated", "MediaFiles", "Tags", "Comments",
        *FLAGS)
HASH_KEYS = {"MD5": "md5", "SHA1": "sha1", "SHA256": "sha256", "PDQ": "pdq",
             "PhotoDNA": "photodna"}
_ALT_NAMES = {"md5": "md5", "sha1": "sha1", "sha-1": "sha1", "sha256": "sha256",
              "sha-256": "sha256", "pdq": "pdq", "photodna": "photodna"}


def sniff(head: str) -> dict | None:
    """{version, shape, profile} if the text starts a VICS document."""
    m = re.search(r'"(@odata\.context|odata\.metadata)"\s*:\s*"([^"]*)"', head[:65536])
    if not m:
        return None
    url = m.group(2)
    shape = "Cases" if url.rstrip("/").endswith("#Cases") else "Media"
    profile = next((p for p in PROFILES if f"/{p}/" in url), None)
    return {"version": "2.0" if m.group(1) == "@odata.context" else "1.x", "shape": shape,
            "profile": profile or ("Default" if m.group(1) == "@odata.context" else None)}


def _flag(v: Any) -> bool | None:
    if isinstance(v, bool) or v is None:
        return v
    s = str(v).strip().lower()
    if s in ("true", "1", "yes"):
        return True
    if s in ("false", "0", "no", ""):
        return False
    raise ValueError(f"not a boolean: {v!r}")


def _plain(v: Any) -> Any:
    """ijson's Decimals back to int/float, recursively, for JSON storage."""
    if isinstance(v, Decimal):
        return int(v) if v == v.to_integral_value() else float(v)
    if isinstance(v, list):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    return v


def _metadata_pdq(meta: Any) -> str | None:
    if isinstance(meta, dict):
        return meta.get("PDQ")
    if isinstance(meta, list):
        for m in meta:
            if isinstance(m, dict) and str(m.get("Name", "")).upper() == "PDQ":
                return m.get("Value")
    return None


def media_entries(media: dict, position: int) -> list[Entry]:
    """The entries of one Media; raises ValueError naming the field that is wrong."""
    if not isinstance(media, dict):
        raise ValueError("a Media must be a JSON object")
    cat = media.get("Category")
    if cat is not None and cat != "":
        try:
            cat_n = int(str(cat))
        except ValueError:
            raise ValueError(f"Category {cat!r} is not 0-4") from None
        if cat_n not in CATEGORIES:
            raise ValueError(f"Category {cat_n} is not 0-4")
        category: str | None = str(cat_n)
    else:
        category = None
    vics = {k: _plain(media[k]) for k in KEPT if media.get(k) not in (None, "")}
    for f in FLAGS:
        if f in vics:
            vics[f] = _flag(vics[f])
    hashes: list[tuple[str, str]] = []
    for key, st in HASH_KEYS.items():
        if media.get(key):
            hashes.append((st, str(media[key])))
    pdq = _metadata_pdq(media.get("MediaMetadata"))
    if pdq:
        hashes.append(("pdq", str(pdq)))
    for alt in media.get("AlternativeHashes") or []:
        if isinstance(alt, dict):
            st = _ALT_NAMES.get(str(alt.get("HashName", "")).lower())
            if st and alt.get("HashValue"):
                hashes.append((st, str(alt["HashValue"])))
    if not hashes:
        raise ValueError("Media has no hash (MD5, SHA1, SHA256, PDQ or PhotoDNA)")
    labels = [str(x) for x in vics.get("Tags") or [] if isinstance(x, (str, int))]
    attrs = {"vics": vics, "group": f"vics:{vics.get('MediaID', position)}"}  # shared
    out, seen = [], set()
    for st, raw in hashes:
        value = normalise(st, raw)
        if (st, value) in seen:
            continue
        seen.add((st, value))
        out.append(Entry(st, value, position, category, labels, None, attrs=attrs))
    return out


def read_vics(f: IO[bytes], rejected: list[Rejected]) -> Iterator[Entry]:
    """Stream the Media of a VICS file (hash set or case); bad Media are rejected with their
    position (`line` = the Media's 1-based index in the file)."""
    head = f.read(65536)
    start = 3 if head.startswith(b"\xef\xbb\xbf") else 0
    info = sniff(head[start:].decode("utf-8", "replace"))
    if info is None:
        raise ListFormatError("not a VICS document: no odata.metadata / @odata.context")
    f.seek(start)
    prefix = "value.item.Media.item" if info["shape"] == "Cases" else "value.item"
    n = 0
    try:
        for media in ijson.items(f, prefix, use_float=False):
            n += 1
            try:
                yield from media_entries(media, n)
            except ValueError as e:
                text = json.dumps(_plain(media), default=str)[:200] \
                    if isinstance(media, dict) else repr(media)[:200]
                rejected.append(Rejected(n, text, f"Media {n}: {e}"))
    except ijson.JSONError as e:
        raise ListFormatError(f"VICS JSON broken after Media {n}: {e}") from None


# -- writing ---------------------------------------------------------------------------------
def _group(entries: Iterable[dict]) -> Iterator[list[dict]]:
    """Consecutive entries of the same Media (same `group`), as exported in id order."""
    batch: list[dict] = []
    key = None
    for e in entries:
        g = (e.get("attrs") or {}).get("group") or f"entry:{e.get('id', id(e))}"
        if batch and g != key:
            yield batch
            batch = []
        key = g
        batch.append(e)
    if batch:
        yield batch


def media_of(group: list[dict], media_id: int) -> dict:
    vics = dict((group[0].get("attrs") or {}).get("vics") or {})
    m: dict[str, Any] = {"MediaID": vics.pop("MediaID", media_id)}
    cat = group[0].get("category")
    if cat is not None and str(cat).isdigit():
        m["Category"] = int(cat)
    meta = []
    for e in group:
        st, v = e["signal_type"], e["value"]
        if st == "md5":
            m["MD5"] = v.upper()
        elif st == "sha1":
            m["SHA1"] = v.upper()
        elif st == "sha256":
            m["SHA256"] = v.upper()
        elif st == "photodna":
            m["PhotoDNA"] = v
        elif st == "pdq":
            meta.append({"Name": "PDQ", "Value": v})
    if meta:
        m["MediaMetadata"] = meta
    m.update(vics)
    if "Tags" not in m and group[0].get("labels"):
        m["Tags"] = group[0]["labels"]
    return m


def write_vics(entries: Iterable[dict], out: IO[str], version: str = "2.0",
               profile: str = "Default", shape: str = "Media", case: dict | None = None) -> int:
    """Stream entries out as VICS; returns how many Media were written."""
    if profile not in PROFILES:
        raise ValueError(f"VICS profile must be one of {PROFILES}")
    if version == "2.0":
        head = {"@odata.context": CONTEXT_2.format(profile=profile, shape=shape)}
    else:
        head = {"odata.metadata": CONTEXT_1.format(shape=shape)}
    out.write(json.dumps(head)[:-1] + ', "value": [')
    if shape == "Cases":
        c = dict(case or {})
        out.write("\n" + json.dumps(c)[:-1] + (", " if c else "") + '"Media": [')
    n = 0
    for group in _group(entries):
        vm = media_of(group, n + 1)
        if version != "2.0" and "SHA256" in vm:  # 1.x has no SHA256 field
            vm.setdefault("AlternativeHashes", []).append(
                {"HashName": "SHA256", "HashValue": vm.pop("SHA256")})
        out.write(("," if n else "") + "\n" + json.dumps(vm, ensure_ascii=False))
        n += 1
    out.write("\n]}" + ("]}" if shape == "Cases" else "") + "\n")
    return n
