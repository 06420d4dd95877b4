"""MISP: a static feed (manifest.json + one JSON file per event + hashes.csv), written with
PyMISP; MISP feeds and single MISP JSON events read back (streaming, without PyMISP).

Hashes are MISP attributes (md5, sha1, sha256; `filename|<hash>` read too). MISP has no PDQ
attribute type: PDQ travels in a `cairn-pdq` object (attribute `pdq`, type text) whose
template Cairn defines. The list's TLP becomes the event's `tlp:` tag and distribution (red 0,
amber 1, green 2, clear 3) unless one is given; an entry marked stricter than that carries its
own `tlp:` tag and a distribution no wider than its marking. A large list is split into events
of EVENT_SIZE attributes. Reading, an attribute keeps the strictest of its own and its event's
`tlp:` tags; every attribute is checked (`MispAttribute`) and a bad one rejected by position.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from cairn.lists.formats import fields, jsonstream, markings
from cairn.lists.formats.base import Entry, ListFormatError, Rejected, normalise
from cairn.lists.formats.jsonstream import Malformed

EVENT_SIZE = 50_000
NAMESPACE = uuid.UUID("0f6c2a8e-5d3b-4e7a-9c1d-8b2e4f6a1c3d")
PDQ_OBJECT = "cairn-pdq"
PDQ_TEMPLATE_UUID = str(uuid.uuid5(NAMESPACE, "cairn-pdq-template-1"))
DISTRIBUTION = {"red": 0, "amber+strict": 1, "amber": 1, "green": 2, "clear": 3}
HASH_TYPES = ("md5", "sha1", "sha256")
INHERIT = 5  # an attribute's distribution: the event's


def _event(org: str, info: str, tlp: str, distribution: int, part: int):  # noqa: ANN202
    from pymisp import MISPEvent, MISPOrganisation

    e = MISPEvent()
    e.uuid = str(uuid.uuid5(NAMESPACE, f"{org}:{info}:{part}"))
    e.info = info if part == 1 else f"{info} (part {part})"
    e.distribution = distribution
    e.analysis = 2
    e.threat_level_id = 1
    o = MISPOrganisation()
    o.name, o.uuid = org, str(uuid.uuid5(NAMESPACE, "org:" + org))
    e.Orgc = o
    e.add_tag(f"tlp:{tlp}")
    return e


def attribute_marking(e: dict, tlp: str, event_distribution: int
                      ) -> tuple[str | None, int]:
    """(its own `tlp:` tag or None, its distribution) for an entry in an event marked `tlp`:
    an entry marked stricter than its event carries its own tag, and a distribution no wider
    than its marking's (RED: 0, this organisation only). Under an event shared with a
    sharing group (4) an AMBER entry keeps the group, the audience the sharer named."""
    own = markings.entry_level(e, tlp)
    if own is None or not markings.stricter(own, tlp):
        return None, INHERIT
    want = DISTRIBUTION[own]
    if own == "red" or (event_distribution <= 3 and want < event_distribution):
        return f"tlp:{own}", want
    return f"tlp:{own}", INHERIT


def _add(event, e: dict, tlp: str, distribution: int) -> None:  # noqa: ANN001 - a MISPEvent
    from pymisp import MISPObject

    comment = " ".join([*(e.get("labels") or []),
                        *([f"category:{e['category']}"] if e.get("category") else [])])
    tag, dist = attribute_marking(e, tlp, distribution)
    st = e["signal_type"]
    if st in HASH_TYPES:
        a = event.add_attribute(st, e["value"], category="Payload delivery", to_ids=True,
                                comment=comment, distribution=dist,
                                uuid=str(uuid.uuid5(NAMESPACE, f"{st}:{e['value']}")))
    elif st == "pdq":
        obj = MISPObject(PDQ_OBJECT, strict=False, standalone=False)
        obj.uuid = str(uuid.uuid5(NAMESPACE, f"pdq:{e['value']}"))
        obj.template_uuid, obj.template_version = PDQ_TEMPLATE_UUID, 1
        obj.distribution = dist
        obj.description = "PDQ perceptual hash (python-threatexchange hex) of an image"
        a = obj.add_attribute("pdq", value=e["value"], type="text", to_ids=True,
                              comment=comment, distribution=dist,
                              uuid=str(uuid.uuid5(NAMESPACE, f"pdqattr:{e['value']}")))
        event.add_object(obj)
    else:
        return
    if tag:
        a.add_tag(tag)


def write_misp_feed(entries: Iterable[dict], out_dir: Path, org: str, info: str, tlp: str,
                    distribution: int | None = None) -> int:
    """Write a static feed; returns how many attributes/objects were written. The events
    are marked `tlp`; an entry marked stricter carries its own tag and distribution."""
    out_dir.mkdir(parents=True, exist_ok=True)
    dist = DISTRIBUTION[tlp] if distribution is None else distribution
    manifest: dict = {}
    hashes: list[str] = []
    n, part, event = 0, 0, None

    def flush() -> None:
        if event is None:
            return
        feed = event.to_feed(with_meta=True, with_distribution=True)["Event"]
        manifest.update(feed.pop("_manifest"))
        hashes.extend(f"{h},{event.uuid}" for h in feed.pop("_hashes"))
        (out_dir / f"{event.uuid}.json").write_text(json.dumps({"Event": feed}, indent=1))

    for e in entries:
        if e["signal_type"] not in (*HASH_TYPES, "pdq"):
            continue
        if event is None or n % EVENT_SIZE == 0:
            flush()
            part += 1
            event = _event(org, info, tlp, dist, part)
        _add(event, e, tlp, dist)
        n += 1
    flush()
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=1))
    (out_dir / "hashes.csv").write_text("".join(h + "\n" for h in hashes))
    return n


# -- reading ---------------------------------------------------------------------------------
def _tag_names(tags: Any, field: str) -> list[str]:
    """A MISP Tag list (`[{"name": "tlp:red"}, ...]`, or bare strings), checked."""
    names = []
    for i, t in enumerate(fields.items(tags, field)):
        if isinstance(t, dict):
            names.append(fields.required_text(t.get("name"), f"{field}[{i}].name", 255))
        else:
            names.append(fields.required_text(t, f"{field}[{i}]", 255))
    return names


def _tlp(names: list[str]) -> str | None:
    """The strictest `tlp:` tag among some tag names."""
    return markings.strictest(n for n in names if n.strip().lower().startswith("tlp:"))


@dataclass(slots=True)
class MispAttribute:
    """The fields Cairn reads from a MISP attribute, checked before anything is kept."""
    type: str
    value: str
    comment: str
    uuid: str | None
    tags: list[str]
    relation: str | None

    @classmethod
    def parse(cls, a: Any) -> MispAttribute:
        a = fields.json_object(a)
        return cls(fields.required_text(a.get("type"), "type", 100).lower(),
                   fields.text(a.get("value"), "value", 4200) or "",
                   fields.text(a.get("comment"), "comment") or "",
                   fields.text(a.get("uuid"), "uuid", 100),
                   _tag_names(a.get("Tag"), "Tag"),
                   fields.text(a.get("object_relation"), "object_relation", 100))


def _attr_entries(raw: Any, position: int, event_tlp: str | None, event_uuid: str,
                  relation_pdq: bool = False) -> list[Entry]:
    a = MispAttribute.parse(raw)
    t, value = a.type, a.value
    if "|" in t:  # filename|md5: the hash is after the bar
        t = t.split("|", 1)[1]
        value = value.split("|", 1)[-1]
    if relation_pdq or t == "pdq":
        st = "pdq"
    elif t in HASH_TYPES:
        st = t
    else:
        return []
    words = a.comment.split()
    category = next((w.split(":", 1)[1] for w in words if w.startswith("category:")), None)
    labels = [w for w in words if not w.startswith("category:")]
    tlp = markings.strictest((_tlp(a.tags), event_tlp))  # an attribute never widens its event
    return [Entry(st, normalise(st, value), position, category, labels, None,
                  attrs={"misp_event": event_uuid, "misp_uuid": a.uuid,
                         **({"tlp": tlp} if tlp else {})})]


def _event_meta(f: IO[bytes], where: str) -> tuple[str, str | None, str | None]:
    """(event uuid, strictest TLP tag, what is wrong with the event's own fields or None),
    wherever in the file they stand (MISP writes them first; others need not)."""
    uuid_, tlp, problem = "", None, None
    f.seek(0)
    for prefix, value in jsonstream.stream(f, {"Event.uuid": "value", "uuid": "value",
                                               "Event.Tag": "value", "Tag": "value"},
                                           f"{where}: MISP", "attribute"):
        try:
            if prefix.endswith("uuid"):
                uuid_ = fields.text(value, "Event.uuid", 100) or ""
            else:
                tlp = markings.strictest((tlp, _tlp(_tag_names(value, "Event.Tag"))))
        except ValueError as e:
            problem = f"event {e}"  # its marking is unknown: none of it is kept
    return uuid_, tlp, problem


def _read_event(f: IO[bytes], rejected: list[Rejected], where: str, start: int
                ) -> Generator[Entry, None, int]:
    """Stream one event file's attributes (and cairn-pdq objects' attributes), in file
    order. Position = running attribute count across the feed; `where` names the file."""
    event_uuid, event_tlp, problem = _event_meta(f, where)
    n = start

    def reject(raw: Any, why: str) -> None:
        value = raw.get("value") if isinstance(raw, dict) else raw
        rejected.append(Rejected(n, fields.preview(value), f"{where}: attribute {n}: {why}"))

    f.seek(0)
    for prefix, item in jsonstream.stream(
            f, {"Event.Attribute": "items", "Attribute": "items", "Event.Object": "items",
                "Object": "items"}, f"{where}: MISP", "attribute"):
        if prefix.endswith("Attribute"):
            pairs: list[tuple[Any, bool]] = [(item, False)]
        else:
            try:
                if isinstance(item, Malformed):
                    raise ValueError(item.reason)
                o = fields.mapping(item, "Object")
                pdq = fields.text(o.get("name"), "Object.name", 255) == PDQ_OBJECT
                pairs = [(a, pdq and isinstance(a, dict) and a.get("object_relation") == "pdq")
                         for a in fields.items(o.get("Attribute"), "Object.Attribute")]
            except ValueError as e:
                n += 1
                reject(item, str(e))
                continue
        for raw, pdq in pairs:
            n += 1
            if problem:
                reject(raw, problem)
                continue
            try:
                yield from _attr_entries(raw, n, event_tlp, event_uuid, pdq)
            except ValueError as e:
                reject(raw, str(e))
    return n


_EVENT_FILE = re.compile(r"[0-9A-Za-z][0-9A-Za-z_-]{0,127}")


def read_misp(path: Path, rejected: list[Rejected]) -> Iterator[Entry]:
    """A feed folder (or its manifest.json), or one MISP JSON event file. The manifest names
    the event files: a name that is not a bare uuid (`../x`, `/etc/y`) is refused, so a feed
    reads nothing outside its folder."""
    if path.is_dir() or path.name == "manifest.json":
        folder = path if path.is_dir() else path.parent
        try:
            manifest = json.loads((folder / "manifest.json").read_bytes().decode(
                "utf-8-sig", errors="replace"))
        except (OSError, ValueError, RecursionError) as e:
            raise ListFormatError(f"{folder}/manifest.json: {str(e)[:200]}") from None
        if not isinstance(manifest, dict):
            raise ListFormatError(f"{folder}/manifest.json: expected an object of events, "
                                  f"got {fields.kind(manifest)}")
        n = 0
        for event_uuid in sorted(manifest):
            if not _EVENT_FILE.fullmatch(event_uuid):
                rejected.append(Rejected(0, fields.preview(event_uuid),
                                         "manifest names an event that is not a uuid"))
                continue
            fp = folder / f"{event_uuid}.json"
            if not fp.is_file():
                rejected.append(Rejected(0, event_uuid, f"manifest names {fp.name}, missing"))
                continue
            with fp.open("rb") as f:
                n = yield from _read_event(f, rejected, fp.name, n)
        return
    with path.open("rb") as f:
        yield from _read_event(f, rejected, path.name, 0)


def sniff(head: str) -> bool:
    h = head[:4096]
    return '"Event"' in h or ('"Attribute"' in h and '"uuid"' in h)
