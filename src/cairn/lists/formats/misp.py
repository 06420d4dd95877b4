"""MISP: a static feed (manifest.json + one JSON file per event + hashes.csv), written with
PyMISP; MISP feeds and single MISP JSON events read back (streaming, without PyMISP).

Hashes are MISP attributes (md5, sha1, sha256; `filename|<hash>` read too). MISP has no PDQ
attribute type: PDQ travels in a `cairn-pdq` object (attribute `pdq`, type text) whose
template Cairn defines. The list's TLP becomes a `tlp:` tag and a distribution level (red 0,
amber 1, green 2, clear 3) unless one is given. A large list is split into events of
EVENT_SIZE attributes.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

import ijson

from cairn.lists.formats.readers import Entry, ListFormatError, Rejected, normalise

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


def _add(event, e: dict) -> None:  # noqa: ANN001 - a MISPEvent
    from pymisp import MISPObject

    comment = " ".join([*(e.get("labels") or []),
                        *([f"category:{e['category']}"] if e.get("category") else [])])
    st = e["signal_type"]
    if st in HASH_TYPES:
        event.add_attribute(st, e["value"], category="Payload delivery", to_ids=True,
                            comment=comment, distribution=INHERIT,
                            uuid=str(uuid.uuid5(NAMESPACE, f"{st}:{e['value']}")))
    elif st == "pdq":
        obj = MISPObject(PDQ_OBJECT, strict=False, standalone=False)
        obj.uuid = str(uuid.uuid5(NAMESPACE, f"pdq:{e['value']}"))
        obj.template_uuid, obj.template_version = PDQ_TEMPLATE_UUID, 1
        obj.distribution = INHERIT
        obj.description = "PDQ perceptual hash (python-threatexchange hex) of an image"
        obj.add_attribute("pdq", value=e["value"], type="text", to_ids=True, comment=comment,
                          distribution=INHERIT,
                          uuid=str(uuid.uuid5(NAMESPACE, f"pdqattr:{e['value']}")))
        event.add_object(obj)


def write_misp_feed(entries: Iterable[dict], out_dir: Path, org: str, info: str, tlp: str,
                    distribution: int | None = None) -> int:
    """Write a static feed; returns how many attributes/objects were written."""
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
        _add(event, e)
        n += 1
    flush()
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=1))
    (out_dir / "hashes.csv").write_text("".join(h + "\n" for h in hashes))
    return n


# -- reading ---------------------------------------------------------------------------------
def _tlp(tags: list) -> str | None:
    for t in tags or []:
        name = str(t.get("name", "") if isinstance(t, dict) else t).lower()
        if name.startswith("tlp:"):
            return name[4:].replace("white", "clear")
    return None


def _attr_entries(a: dict, position: int, event_tlp: str | None, event_uuid: str,
                  relation_pdq: bool = False) -> list[Entry]:
    t = str(a.get("type", "")).lower()
    value = str(a.get("value", ""))
    if "|" in t:  # filename|md5: the hash is after the bar
        t = t.split("|", 1)[1]
        value = value.split("|", 1)[-1]
    if relation_pdq or t == "pdq":
        st = "pdq"
    elif t in HASH_TYPES:
        st = t
    else:
        return []
    words = str(a.get("comment") or "").split()
    category = next((w.split(":", 1)[1] for w in words if w.startswith("category:")), None)
    labels = [w for w in words if not w.startswith("category:")]
    tlp = _tlp(a.get("Tag") or []) or event_tlp
    return [Entry(st, normalise(st, value), position, category, labels, None,
                  attrs={"misp_event": event_uuid, "misp_uuid": a.get("uuid"),
                         **({"tlp": tlp} if tlp else {})})]


def _read_event(f: IO[bytes], rejected: list[Rejected], where: str, start: int
                ) -> Iterator[Entry]:
    """Stream one event file's attributes (and cairn-pdq objects). Position = running
    attribute count across the feed; `where` names the file in errors."""
    n = start
    meta: dict = {"uuid": "", "tlp": None}
    prefix_root = None
    try:  # the event's own uuid and tags come before its attributes in MISP's layout
        for prefix, event, value in ijson.parse(f):
            if prefix_root is None and event == "map_key":
                prefix_root = "Event." if value == "Event" else ""
                continue
            if prefix_root is None:
                continue
            if prefix == f"{prefix_root}uuid" and event == "string":
                meta["uuid"] = value
            elif prefix == f"{prefix_root}Tag.item.name" and str(value).lower().startswith(
                    "tlp:"):
                meta["tlp"] = str(value).lower()[4:].replace("white", "clear")
            elif event == "start_array" and prefix in (f"{prefix_root}Attribute",
                                                       f"{prefix_root}Object"):
                break
        f.seek(0)
        root = "Event." if prefix_root == "Event." else ""
        for a in ijson.items(f, f"{root}Attribute.item"):
            n += 1
            try:
                yield from _attr_entries(a, n, meta["tlp"], meta["uuid"])
            except ValueError as e:
                rejected.append(Rejected(n, str(a.get("value"))[:200],
                                         f"{where}: attribute {n}: {e}"))
        f.seek(0)
        for o in ijson.items(f, f"{root}Object.item"):
            for a in o.get("Attribute") or []:
                n += 1
                pdq = o.get("name") == PDQ_OBJECT and a.get("object_relation") == "pdq"
                try:
                    yield from _attr_entries(a, n, meta["tlp"], meta["uuid"], pdq)
                except ValueError as e:
                    rejected.append(Rejected(n, str(a.get("value"))[:200],
                                             f"{where}: attribute {n}: {e}"))
    except ijson.JSONError as e:
        raise ListFormatError(f"{where}: MISP JSON broken after attribute {n}: {e}") from None


def read_misp(path: Path, rejected: list[Rejected]) -> Iterator[Entry]:
    """A feed folder (or its manifest.json), or one MISP JSON event file."""
    if path.is_dir() or path.name == "manifest.json":
        folder = path if path.is_dir() else path.parent
        try:
            manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8-sig"))
        except (OSError, json.JSONDecodeError) as e:
            raise ListFormatError(f"{folder}/manifest.json: {e}") from None
        n = 0
        for event_uuid in sorted(manifest):
            fp = folder / f"{event_uuid}.json"
            if not fp.is_file():
                rejected.append(Rejected(0, event_uuid, f"manifest names {fp.name}, missing"))
                continue
            with fp.open("rb") as f:
                for e in _read_event(f, rejected, fp.name, n):
                    n = max(n, e.line)
                    yield e
        return
    with path.open("rb") as f:
        yield from _read_event(f, rejected, path.name, 0)


def sniff(head: str) -> bool:
    h = head[:4096]
    return '"Event"' in h or ('"Attribute"' in h and '"uuid"' in h)
