"""STIX 2.1 bundles of hash signals, written with the `stix2` library and read streaming.

Per Media (entries sharing a group) we write a File object carrying its MD5 / SHA-1 /
SHA-256, with PDQ and its quality in a property-extension defined by Cairn's own
extension-definition, and an Indicator whose pattern ORs every hash. Every object carries
a TLP 2.0 marking (the OASIS marking-definition ids): the export's, or its entries' own where
that is stricter; `created_by_ref` is the sharing organisation's Identity. Ids are UUIDv5
of their content, so exporting the same list twice gives the same objects: a TAXII peer sees
no spurious changes.

Import takes bundles others made: File hashes, Indicator patterns of the form
`[file:hashes.'SHA-256' = '…']` (MD5, SHA-1, SHA-256; our PDQ extension), and markings: an
entry keeps the strictest TLP among every object that carries its hash. Each object is checked
(`StixObject`) before anything is kept; a malformed one is rejected by position.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any

import stix2

from cairn.lists.formats import fields, jsonstream, markings
from cairn.lists.formats.base import Entry, ListFormatError, Rejected, normalise
from cairn.lists.formats.vics import _group

NAMESPACE = uuid.UUID("6c7f3a2e-9a51-4b8e-8d4e-2f1b5c3a9e10")  # Cairn's, for UUIDv5 ids
PDQ_EXTENSION = f"extension-definition--{uuid.uuid5(NAMESPACE, 'cairn-pdq-extension-1.0')}"
TLP2_EXTENSION = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"
TLP2 = {  # OASIS TLP 2.0 marking definitions
    "clear": "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    "green": "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    "amber": "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    "amber+strict": "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    "red": "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}
TLP1 = {stix2.TLP_WHITE.id: "clear", stix2.TLP_GREEN.id: "green", stix2.TLP_AMBER.id: "amber",
        stix2.TLP_RED.id: "red"}
TLP_BY_ID = {v: k for k, v in TLP2.items()} | TLP1
HASH_NAMES = {"md5": "MD5", "sha1": "SHA-1", "sha256": "SHA-256"}
_FROM_STIX = {"md5": "md5", "sha-1": "sha1", "sha1": "sha1", "sha-256": "sha256",
              "sha256": "sha256"}
_PATTERN = re.compile(r"file:hashes\.(?:'([^']+)'|([A-Za-z0-9-]+))\s*=\s*'([^']*)'")
_PDQ_PATTERN = re.compile(r"file:extensions\.'([^']+)'\.pdq\s*=\s*'([0-9a-fA-F]{64})'")
EPOCH = "2020-01-01T00:00:00.000Z"
MAX_PATTERN = 1 << 20  # characters in one Indicator pattern


def tlp_marking(level: str) -> stix2.MarkingDefinition:
    level = level.lower()
    if level not in TLP2:
        raise ValueError(f"TLP must be one of {', '.join(TLP2)}")
    return stix2.MarkingDefinition(
        id=TLP2[level], created="2022-10-01T00:00:00.000Z", name=f"TLP:{level.upper()}",
        extensions={TLP2_EXTENSION: {"extension_type": "property-extension",
                                     "tlp_2_0": level}}, allow_custom=True)


def identity(org: str) -> stix2.Identity:
    return stix2.Identity(id=f"identity--{uuid.uuid5(NAMESPACE, 'org:' + org)}", name=org,
                          identity_class="organization", created=EPOCH, modified=EPOCH)


def pdq_extension_definition(org: stix2.Identity) -> stix2.ExtensionDefinition:
    return stix2.ExtensionDefinition(
        id=PDQ_EXTENSION, created_by_ref=org.id, created=EPOCH, modified=EPOCH,
        name="PDQ perceptual hash",
        description="PDQ (256-bit perceptual hash, 64 hex digits, as python-threatexchange "
                    "computes it) and its quality (0-100) of an image file.",
        schema="https://github.com/facebook/ThreatExchange/tree/main/pdq",
        version="1.0", extension_types=["property-extension"])


def _quote(v: str) -> str:
    return v.replace("\\", "\\\\").replace("'", "\\'")


def pattern_term(signal_type: str, value: str) -> str:
    if signal_type == "pdq":
        return f"[file:extensions.'{PDQ_EXTENSION}'.pdq = '{value}']"
    return f"[file:hashes.'{HASH_NAMES[signal_type]}' = '{_quote(value)}']"


def indicator_id(signal_type: str, value: str) -> str | None:
    """The Indicator one entry is shared as (TAXII serves entries one by one): the same id
    wherever and whenever the hash is shared, so feedback can name it. None for signal
    types STIX does not carry here (vPDQ, PhotoDNA)."""
    if signal_type not in HASH_NAMES and signal_type != "pdq":
        return None
    return f"indicator--{uuid5_text(pattern_term(signal_type, value))}"


_NAMESPACE_BYTES = NAMESPACE.bytes


def uuid5_text(name: str) -> str:
    """`str(uuid.uuid5(NAMESPACE, name))` without building a UUID object: a million-entry
    import asks for a million ids, and the object costs more than the SHA-1 under it."""
    d = bytearray(hashlib.sha1(_NAMESPACE_BYTES + name.encode(), usedforsecurity=False)
                  .digest()[:16])
    d[6] = d[6] & 0x0F | 0x50  # version 5
    d[8] = d[8] & 0x3F | 0x80  # RFC 4122 variant
    h = d.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def group_marking(group: list[dict], marking: str) -> str:
    """The marking-definition id a group is shared under: `marking` (the export's), or the
    strictest entry's own if that is stricter. RED never widens."""
    level = markings.strictest([TLP_BY_ID.get(marking),
                                *((e.get("attrs") or {}).get("tlp") for e in group)])
    return marking if level is None or level == TLP_BY_ID.get(marking) else TLP2[level]


def group_objects(group: list[dict], org: stix2.Identity, marking: str,
                  created: str) -> list[Any]:
    """An Indicator, a File and the relationship between them, for one Media's entries,
    marked with `marking` or the entries' own marking where that is stricter."""
    marking = group_marking(group, marking)
    hashes = {HASH_NAMES[e["signal_type"]]: e["value"] for e in group
              if e["signal_type"] in HASH_NAMES}
    pdqs = [e for e in group if e["signal_type"] == "pdq"]
    if not hashes and not pdqs:
        return []
    labels = sorted({*(group[0].get("labels") or []),
                     *([f"category:{group[0]['category']}"] if group[0].get("category")
                       else [])})
    ext = {}
    if pdqs:
        q = (pdqs[0].get("attrs") or {}).get("pdq_quality")
        ext = {PDQ_EXTENSION: {"extension_type": "property-extension",
                               "pdq": pdqs[0]["value"], **({"pdq_quality": q} if q else {})}}
    file_kw: dict[str, Any] = {"allow_custom": True, "object_marking_refs": [marking]}
    if hashes:
        file_kw["hashes"] = hashes
    if ext:
        file_kw["extensions"] = ext
    if not hashes:  # a File needs an id contributing property: name it by its PDQ
        file_kw["name"] = f"pdq:{pdqs[0]['value']}"
    f = stix2.File(**file_kw)
    pattern = " OR ".join(pattern_term(e["signal_type"], e["value"]) for e in group
                          if e["signal_type"] in HASH_NAMES or e["signal_type"] == "pdq")
    ind = stix2.Indicator(
        id=f"indicator--{uuid.uuid5(NAMESPACE, pattern)}", created=created, modified=created,
        created_by_ref=org.id, pattern=pattern, pattern_type="stix", valid_from=created,
        indicator_types=["malicious-activity"], labels=labels or None,
        object_marking_refs=[marking], allow_custom=True)
    rel = stix2.Relationship(
        id=f"relationship--{uuid.uuid5(NAMESPACE, ind.id + f.id)}", created=created,
        modified=created, created_by_ref=org.id, relationship_type="based-on",
        source_ref=ind.id, target_ref=f.id, object_marking_refs=[marking])
    return [ind, f, rel]  # the Indicator first: it carries the labels a reader keeps


def entry_objects(entry: dict, org: stix2.Identity, marking: str, created: str
                  ) -> list[dict]:
    """The Indicator and File one entry is shared as, one by one (TAXII, pushes): JSON-ready
    dicts. `entry` is an export row (labels a list, attrs a dict)."""
    return [json.loads(o.serialize()) for o in group_objects([entry], org, marking, created)
            if o.type in ("indicator", "file")]


def write_stix(entries: Iterable[dict], out: IO[str], org: str, tlp: str,
               created: str | None = None) -> int:
    """Stream a bundle; returns how many Indicators were written. Objects are marked `tlp`,
    or their entries' own marking where stricter (its definition written before first use)."""
    created = created or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    ident = identity(org)
    marking = tlp_marking(tlp)
    out.write(json.dumps({"type": "bundle", "id": f"bundle--{uuid.uuid4()}"})[:-1]
              + ', "objects": [\n')
    head = [ident, marking, pdq_extension_definition(ident)]
    out.write(",\n".join(o.serialize() for o in head))
    written = {marking.id}
    n = 0
    for group in _group(entries):
        objs = group_objects(group, ident, marking.id, created)
        for ref in {r for o in objs for r in o.object_marking_refs} - written:
            out.write(",\n" + tlp_marking(TLP_BY_ID[ref]).serialize())  # first used here
            written.add(ref)
        for o in objs:
            out.write(",\n" + o.serialize())
        n += 1
    out.write("\n]}\n")
    return n


# -- reading ---------------------------------------------------------------------------------
def sniff(head: str) -> bool:
    return bool(re.search(r'"type"\s*:\s*"bundle"', head[:4096]))


@dataclass(slots=True)
class StixObject:
    """The fields Cairn reads from a STIX object, checked: a partner's object with a number
    for `labels`, a list for `hashes` or a map in `object_marking_refs` is refused here,
    naming the field, before anything is kept."""
    type: str
    id: str | None
    labels: list[str]
    marking_refs: list[str]  # object_marking_refs and every granular marking_ref
    hashes: dict[str, str]  # file: algorithm -> value
    pdq: str | None  # file: Cairn's PDQ property-extension
    pdq_quality: int | None
    pattern: str  # indicator

    @classmethod
    def parse(cls, obj: Any) -> StixObject:
        obj = fields.json_object(obj)
        t = fields.required_text(obj.get("type"), "type", 250)
        oid = fields.text(obj.get("id"), "id", 300)
        labels = fields.text_list(obj.get("labels"), "labels")
        refs = fields.text_list(obj.get("object_marking_refs"), "object_marking_refs")
        for i, g in enumerate(fields.items(obj.get("granular_markings"),
                                           "granular_markings")):
            g = fields.mapping(g, f"granular_markings[{i}]")
            ref = fields.text(g.get("marking_ref"), f"granular_markings[{i}].marking_ref")
            if ref:
                refs.append(ref)
        hashes: dict[str, str] = {}
        pdq, quality, pattern = None, None, ""
        if t == "file":
            for name, v in fields.mapping(obj.get("hashes"), "hashes").items():
                hashes[name] = fields.required_text(v, f"hashes.{name[:40]}")
            for ext_id, ext in fields.mapping(obj.get("extensions"), "extensions").items():
                if ext_id != PDQ_EXTENSION:
                    continue
                ext = fields.mapping(ext, f"extensions.{ext_id}")
                pdq = fields.text(ext.get("pdq"), "extensions.pdq", 64)
                quality = fields.integer(ext.get("pdq_quality"), "extensions.pdq_quality",
                                         0, 100)
        elif t == "indicator":
            pattern = fields.text(obj.get("pattern"), "pattern", MAX_PATTERN) or ""
        return cls(t, oid, labels, refs, hashes, pdq, quality, pattern)


def marking_levels(obj: Any) -> dict[str, str]:
    """{id: TLP level} if `obj` is a marking-definition Cairn reads, for markings a bundle
    (or envelope, or pull) defines itself: a TLP one (1.0 `definition_type: tlp`, or the TLP
    2.0 extension; an unreadable level is RED), or {id: markings.NOT_TLP} for a `statement`
    one without a TLP extension (a copyright or handling note, not a TLP). Any other
    marking-definition gives {}: references to it stay unresolved, so count as RED."""
    if not isinstance(obj, dict) or obj.get("type") != "marking-definition":
        return {}
    oid = obj.get("id")
    if not isinstance(oid, str):
        return {}
    found: list[Any] = []
    d = obj.get("definition")
    kind = obj.get("definition_type")
    if kind == "tlp":
        found.append((d.get("tlp") if isinstance(d, dict) else None) or "unreadable")
    ext = obj.get("extensions")
    if isinstance(ext, dict) and TLP2_EXTENSION in ext:
        t2 = ext[TLP2_EXTENSION]
        found.append((t2.get("tlp_2_0") if isinstance(t2, dict) else None) or "unreadable")
    if found:
        return {oid: markings.read(markings.strictest(found))}
    if kind == "statement" and isinstance(d, dict) and isinstance(d.get("statement"), str):
        return {oid: markings.NOT_TLP}
    return {}


def define(defined: dict[str, str], obj: Any) -> None:
    """Add what `obj` defines (`marking_levels`) to `defined`; an id defined twice keeps the
    stricter meaning (a TLP over a statement, RED over AMBER)."""
    for oid, lv in marking_levels(obj).items():
        was = defined.get(oid)
        if was is None or was == markings.NOT_TLP:
            defined[oid] = lv
        elif lv != markings.NOT_TLP:
            defined[oid] = markings.read(markings.strictest((was, lv)))


def marking_tlp(refs: Iterable[object], defined: Mapping[str, str] | None = None) -> str | None:
    """The strictest TLP of an object's marking refs (see `markings.resolve`): OASIS ids
    first, then what was `defined` with it; any other ref is RED."""
    return markings.resolve(refs, TLP_BY_ID, defined or {})


def object_entries(obj: dict, position: int,
                   defined: Mapping[str, str] | None = None) -> list[Entry]:
    """The hash entries of one STIX object. Raises ValueError (naming the field and the
    reason) for any malformed object, never another error. Each entry's `attrs["tlp"]` is
    the strictest TLP among the object's markings (`marking_tlp`: OASIS TLP 1.0 and 2.0 ids,
    those `defined` by the bundle, RED for any other), so RED stays RED whatever the list's
    marking and a marking Cairn cannot read counts as RED."""
    o = StixObject.parse(obj)
    return _entries(o, position, marking_tlp(o.marking_refs, defined))


def _entries(o: StixObject, position: int, tlp: str | None) -> list[Entry]:
    category = next((lb.split(":", 1)[1] for lb in o.labels if lb.startswith("category:")),
                    None)
    labels = [lb for lb in o.labels if not lb.startswith("category:")]
    attrs: dict[str, Any] = {"stix_id": o.id, **({"tlp": tlp} if tlp else {})}
    found: list[tuple[str, str]] = []
    for name, v in o.hashes.items():
        st = _FROM_STIX.get(name.lower())
        if st:
            found.append((st, v))
    if o.pdq:
        found.append(("pdq", o.pdq))
        if o.pdq_quality is not None:
            attrs["pdq_quality"] = o.pdq_quality
    for quoted, bare, value in _PATTERN.findall(o.pattern):
        st = _FROM_STIX.get((quoted or bare).lower())
        if st:
            found.append((st, value))
    for ext_id, value in _PDQ_PATTERN.findall(o.pattern):
        if ext_id == PDQ_EXTENSION:
            found.append(("pdq", value))
    attrs["group"] = f"stix:{o.id or position}"  # one dict shared by the object's hashes
    return [Entry(st, normalise(st, v), position, category, labels, None, attrs=attrs)
            for st, v in found]


def _objects(f: IO[bytes], start: int) -> Iterator[Any]:
    f.seek(start)
    for _, obj in jsonstream.stream(f, {"objects": "items"}, "STIX bundle", "object"):
        yield obj


def read_stix(f: IO[bytes], rejected: list[Rejected]) -> Iterator[Entry]:
    """Stream a bundle's objects; a malformed object is rejected with its position (`line` =
    the object's 1-based index), id and reason, and the rest import.

    Two passes: the first learns, for every hash, the strictest marking any object carrying
    it has (a File marked AMBER and an Indicator marked RED for the same hash give one entry,
    RED), with the TLP marking-definitions the bundle defines; the second yields entries."""
    head = f.read(4096)
    start = 3 if head.startswith(b"\xef\xbb\xbf") else 0
    if not sniff(head[start:].decode("utf-8", "replace")):
        raise ListFormatError("not a STIX 2.1 bundle (no \"type\": \"bundle\")")
    defined: dict[str, str] = {}  # marking-definitions the bundle states itself
    refs_of: dict[tuple[str, str], frozenset[str]] = {}  # every marking on each hash
    shared: dict[frozenset[str], frozenset[str]] = {}  # one set per distinct marking set
    for n, obj in enumerate(_objects(f, start), 1):
        try:
            o = StixObject.parse(obj)
            found = _entries(o, n, None)
        except ValueError:
            continue  # reported in the second pass; a malformed definition defines nothing
        define(defined, obj)
        refs = frozenset(o.marking_refs)
        for e in found:
            k = (e.signal_type, e.value)
            both = refs_of.get(k, frozenset()) | refs
            refs_of[k] = shared.setdefault(both, both)
    # resolved once the whole bundle is read: a marking may be defined after its use
    strictest = {k: marking_tlp(refs, defined) for k, refs in refs_of.items()}
    del refs_of, shared
    for n, obj in enumerate(_objects(f, start), 1):
        try:
            found = object_entries(obj, n, defined)
        except ValueError as e:
            oid = obj.get("id") if isinstance(obj, dict) else None
            name = f" ({str(oid)[:100]})" if isinstance(oid, str) else ""
            rejected.append(Rejected(n, fields.preview(obj), f"object {n}{name}: {e}"))
            continue
        for entry in found:
            k = (entry.signal_type, entry.value)
            if k not in strictest:
                continue  # yielded already, from an earlier object
            tlp = strictest.pop(k)
            attrs = entry.attrs or {}  # always a dict from object_entries
            if tlp != attrs.get("tlp"):
                entry.attrs = {**attrs, "tlp": tlp}
            yield entry
