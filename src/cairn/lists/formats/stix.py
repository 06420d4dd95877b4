"""STIX 2.1 bundles of hash signals, written with the `stix2` library and read streaming.

Per Media (entries sharing a group) we write a File object carrying its MD5 / SHA-1 /
SHA-256, with PDQ and its quality in a property-extension defined by Cairn's own
extension-definition, and an Indicator whose pattern ORs every hash. Every object carries
the list's TLP 2.0 marking (the OASIS marking-definition ids) and `created_by_ref` the
sharing organisation's Identity. Ids are UUIDv5 of their content, so exporting the same list
twice gives the same objects: a TAXII peer sees no spurious changes.

Import takes bundles others made: File hashes, Indicator patterns of the form
`[file:hashes.'SHA-256' = '…']` (MD5, SHA-1, SHA-256; our PDQ extension), and markings.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import IO, Any

import ijson
import stix2

from cairn.lists.formats.readers import Entry, ListFormatError, Rejected, normalise
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
    return f"indicator--{uuid.uuid5(NAMESPACE, pattern_term(signal_type, value))}"


def group_objects(group: list[dict], org: stix2.Identity, marking: str,
                  created: str) -> list[Any]:
    """An Indicator, a File and the relationship between them, for one Media's entries."""
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
    """Stream a bundle; returns how many Indicators were written."""
    created = created or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    ident = identity(org)
    marking = tlp_marking(tlp)
    out.write(json.dumps({"type": "bundle", "id": f"bundle--{uuid.uuid4()}"})[:-1]
              + ', "objects": [\n')
    head = [ident, marking, pdq_extension_definition(ident)]
    out.write(",\n".join(o.serialize() for o in head))
    n = 0
    for group in _group(entries):
        for o in group_objects(group, ident, marking.id, created):
            out.write(",\n" + o.serialize())
        n += 1
    out.write("\n]}\n")
    return n


# -- reading ---------------------------------------------------------------------------------
def sniff(head: str) -> bool:
    return bool(re.search(r'"type"\s*:\s*"bundle"', head[:4096]))


def object_entries(obj: dict, position: int) -> list[Entry]:
    t = obj.get("type")
    tlp = next((TLP_BY_ID[m] for m in obj.get("object_marking_refs") or [] if m in TLP_BY_ID),
               None)
    labels = [str(x) for x in obj.get("labels") or []]
    category = next((lb.split(":", 1)[1] for lb in labels if lb.startswith("category:")), None)
    labels = [lb for lb in labels if not lb.startswith("category:")]
    attrs = {"stix_id": obj.get("id"), **({"tlp": tlp} if tlp else {})}
    found: list[tuple[str, str]] = []
    if t == "file":
        for name, v in (obj.get("hashes") or {}).items():
            st = _FROM_STIX.get(name.lower())
            if st:
                found.append((st, str(v)))
        for ext_id, ext in (obj.get("extensions") or {}).items():
            if isinstance(ext, dict) and ext.get("pdq") and ext_id == PDQ_EXTENSION:
                found.append(("pdq", str(ext["pdq"])))
                if ext.get("pdq_quality") is not None:
                    attrs["pdq_quality"] = ext["pdq_quality"]
    elif t == "indicator":
        pattern = str(obj.get("pattern", ""))
        for quoted, bare, value in _PATTERN.findall(pattern):
            st = _FROM_STIX.get((quoted or bare).lower())
            if st:
                found.append((st, value))
        for ext_id, value in _PDQ_PATTERN.findall(pattern):
            if ext_id == PDQ_EXTENSION:
                found.append(("pdq", value))
    attrs["group"] = f"stix:{obj.get('id', position)}"  # one dict shared by the object's hashes
    return [Entry(st, normalise(st, v), position, category, labels, None, attrs=attrs)
            for st, v in found]


def read_stix(f: IO[bytes], rejected: list[Rejected]) -> Iterator[Entry]:
    """Stream a bundle's objects; an object that yields a malformed hash is rejected with
    its position (`line` = the object's 1-based index) and id."""
    head = f.read(4096)
    start = 3 if head.startswith(b"\xef\xbb\xbf") else 0
    if not sniff(head[start:].decode("utf-8", "replace")):
        raise ListFormatError("not a STIX 2.1 bundle (no \"type\": \"bundle\")")
    f.seek(start)
    n = 0
    seen: set[tuple[str, str]] = set()
    try:
        for obj in ijson.items(f, "objects.item", use_float=True):
            n += 1
            if not isinstance(obj, dict):
                rejected.append(Rejected(n, repr(obj)[:200], f"object {n}: not a JSON object"))
                continue
            try:
                for e in object_entries(obj, n):
                    if (e.signal_type, e.value) not in seen:
                        seen.add((e.signal_type, e.value))
                        yield e
            except ValueError as e:
                rejected.append(Rejected(n, str(obj.get("id"))[:200],
                                         f"object {n} ({obj.get('id')}): {e}"))
    except ijson.JSONError as e:
        raise ListFormatError(f"STIX bundle JSON broken after object {n}: {e}") from None
