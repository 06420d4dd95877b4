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
from dataclasses import dataclass
from decimal import Decimal
from typing import IO, Any

from cairn.lists.formats import fields, jsonstream, markings
from cairn.lists.formats.base import Entry, ListFormatError, Rejected, normalise
from cairn.lists.formats.markings import Withheld

CONTEXT_2 = ("http://github.com/VICSDATAMODEL/ProjectVic/DataModels/2.0.xml/{profile}/"
             "$metadata#{shape}")
CONTEXT_1 = "http://github.com/ICMEC/ProjectVic/DataModels/1.3.xml/$metadata#{shape}"
PROFILES = ("Default", "US", "UK", "CUSTOM")
CATEGORIES = {0: "non-pertinent", 1: "CAM", 2: "child exploitive / age difficult",
              3: "CGI/animation child exploitive", 4: "comparison"}
FLAGS = ("VictimIdentified", "OffenderIdentified", "IsDistributed", "IsPrecategorized")
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


def _flag(v: Any, field: str) -> bool | None:
    if isinstance(v, bool) or v is None:
        return v
    s = str(v).strip().lower() if isinstance(v, (str, int, Decimal)) else None
    if s in ("true", "1", "yes"):
        return True
    if s in ("false", "0", "no", ""):
        return False
    raise ValueError(f"{field}: not a boolean: {fields.preview(v, 40)}")


def _metadata_pdq(meta: Any) -> str | None:
    if isinstance(meta, dict):
        return fields.text(meta.get("PDQ"), "MediaMetadata.PDQ", 64)
    for i, m in enumerate(fields.items(meta, "MediaMetadata")):
        m = fields.mapping(m, f"MediaMetadata[{i}]")
        name = fields.text(m.get("Name"), f"MediaMetadata[{i}].Name")
        if name and name.upper() == "PDQ":
            return fields.text(m.get("Value"), f"MediaMetadata[{i}].Value", 64)
    return None


def _category(cat: Any) -> str | None:
    if cat is None or cat == "":
        return None
    n = fields.integer(cat, "Category", strings=True) if not isinstance(cat, bool) else None
    if n not in CATEGORIES:
        raise ValueError(f"Category {fields.preview(cat, 40)} is not 0-4")
    return str(n)


@dataclass(slots=True)
class VicsMedia:
    """One VICS Media, checked field by field before anything is kept: its hashes, category
    and the fields carried through (`vics`), as plain JSON of bounded size."""
    category: str | None
    hashes: list[tuple[str, str]]  # (signal type, raw value), in the Media's order
    vics: dict[str, Any]

    @classmethod
    def parse(cls, media: Any) -> VicsMedia:
        media = fields.json_object(media, "a Media must be a JSON object")
        category = _category(media.get("Category"))
        vics: dict[str, Any] = {}
        if media.get("MediaID") not in (None, ""):
            mid = media["MediaID"]
            vics["MediaID"] = (fields.text(mid, "MediaID", 200) if isinstance(mid, str)
                               else fields.integer(mid, "MediaID"))
        for k in ("Series", "DateUpdated", "Comments"):
            if (v := fields.text(media.get(k), k)) is not None:
                vics[k] = v
        if media.get("MediaSize") not in (None, ""):
            vics["MediaSize"] = fields.integer(media["MediaSize"], "MediaSize", 0,
                                               strings=True)
        if media.get("MediaFiles") not in (None, ""):
            vics["MediaFiles"] = [
                {fields.required_text(k, f"MediaFiles[{i}] key", 200):
                 fields.scalar(v, f"MediaFiles[{i}].{k[:40]}") for k, v in
                 fields.mapping(mf, f"MediaFiles[{i}]").items()}
                for i, mf in enumerate(fields.items(media["MediaFiles"], "MediaFiles"))]
        if media.get("Tags") not in (None, ""):
            vics["Tags"] = fields.text_list(media["Tags"], "Tags", numbers=True)
        for f in FLAGS:
            if media.get(f) not in (None, ""):
                vics[f] = _flag(media[f], f)
        hashes: list[tuple[str, str]] = []
        for key, st in HASH_KEYS.items():
            if (v := fields.text(media.get(key), key, 2048)) is not None:
                hashes.append((st, v))
        if pdq := _metadata_pdq(media.get("MediaMetadata")):
            hashes.append(("pdq", pdq))
        for i, alt in enumerate(fields.items(media.get("AlternativeHashes"),
                                             "AlternativeHashes")):
            alt = fields.mapping(alt, f"AlternativeHashes[{i}]")
            name = fields.text(alt.get("HashName"), f"AlternativeHashes[{i}].HashName", 40)
            value = fields.text(alt.get("HashValue"), f"AlternativeHashes[{i}].HashValue",
                                2048)
            alt_type = _ALT_NAMES.get((name or "").lower())
            if alt_type and value:
                hashes.append((alt_type, value))
        if not hashes:
            raise ValueError("Media has no hash (MD5, SHA1, SHA256, PDQ or PhotoDNA)")
        return cls(category, hashes, vics)


def media_entries(media: Any, position: int) -> list[Entry]:
    """The entries of one Media; raises ValueError naming the field that is wrong."""
    m = VicsMedia.parse(media)
    labels = list(m.vics.get("Tags") or [])
    attrs = {"vics": m.vics, "group": f"vics:{m.vics.get('MediaID', position)}"}  # shared
    out, seen = [], set()
    for st, raw in m.hashes:
        value = normalise(st, raw)
        if (st, value) in seen:
            continue
        seen.add((st, value))
        out.append(Entry(st, value, position, m.category, labels, None, attrs=attrs))
    return out


def read_vics(f: IO[bytes], rejected: list[Rejected]) -> Iterator[Entry]:
    """Stream the Media of a VICS file (hash set or case); bad Media are rejected with their
    position (`line` = the Media's 1-based index in the file) and the field at fault."""
    head = f.read(65536)
    start = 3 if head.startswith(b"\xef\xbb\xbf") else 0
    info = sniff(head[start:].decode("utf-8", "replace"))
    if info is None:
        raise ListFormatError("not a VICS document: no odata.metadata / @odata.context")
    f.seek(start)
    prefix = "value.item.Media" if info["shape"] == "Cases" else "value"
    media_items = jsonstream.stream(f, {prefix: "items"}, "VICS", "Media")
    for n, (_, media) in enumerate(media_items, 1):
        try:
            yield from media_entries(media, n)
        except ValueError as e:
            rejected.append(Rejected(n, fields.preview(media), f"Media {n}: {e}"))


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
               profile: str = "Default", shape: str = "Media", case: dict | None = None,
               tlp: str | None = None, withheld: list[Withheld] | None = None) -> int:
    """Stream entries out as VICS; returns how many Media were written. VICS has no marking:
    an entry marked stricter than the export's `tlp` is left out, onto `withheld`."""
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
        level = markings.strictest((e.get("attrs") or {}).get("tlp") for e in group)
        if tlp is not None and markings.stricter(level, tlp):  # a Media goes whole or not
            if withheld is not None:
                withheld.extend(Withheld(e["signal_type"], e["value"], level or "red", tlp)
                                for e in group)
            continue
        vm = media_of(group, n + 1)
        if version != "2.0" and "SHA256" in vm:  # 1.x has no SHA256 field
            vm.setdefault("AlternativeHashes", []).append(
                {"HashName": "SHA256", "HashValue": vm.pop("SHA256")})
        out.write(("," if n else "") + "\n" + json.dumps(vm, ensure_ascii=False))
        n += 1
    out.write("\n]}" + ("]}" if shape == "Cases" else "") + "\n")
    return n
