"""What arrives from a partner, checked before anything of it is kept.

Both sides of the exchange take STIX from others: the server from a writer's POST, the client
from a peer's pages. Everything here turns hostile input into a `ValueError` that names the
field and the reason, never another exception, so one bad object is one rejection:

- `parse_json` reads a body: strict UTF-8, nesting depth checked by a linear pre-scan before
  `json.loads` recurses (CPython's decoder recurses once per level: 100,000 levels is a
  RecursionError, not a parse error).
- `check_object` checks the shape of every property Cairn reads (types, ids, timestamps,
  markings) before `stix.object_entries` sees the object.
- `marking_of` gives an object's strictest TLP (object and granular markings), by the one
  rule of `markings.resolve`: OASIS TLP ids, TLP marking-definitions sent with it (`defined`:
  the POST envelope's, or every pulled page's), a `statement` one ignored, any other
  reference RED. A marking we cannot read never widens.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from itertools import accumulate
from typing import Any

from cairn.lists.formats import stix

MAX_DEPTH = 32  # a TAXII envelope of STIX objects nests about 6 deep; 32 leaves room
MAX_STRING = 65_536  # one pattern, label or hash: far above any real one
OPINIONS = ("strongly-disagree", "disagree", "neutral", "agree", "strongly-agree")

# a JSON string once its escaped backslashes and quotes are gone, also an unterminated one:
# every match runs to its end, so one pass is linear whatever quotes an attacker sends
_STRING = re.compile(rb'"[^"]*+(?:"|\Z)')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_SIGNED = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")
_TYPE = re.compile(r"[a-z0-9][a-z0-9-]{0,248}[a-z0-9]")


def json_depth(body: bytes) -> int:
    """The deepest nesting of `[`/`{` in a JSON text, outside strings: C-speed passes over
    the bytes (regex, translate, accumulate), no recursion."""
    unescaped = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    brackets = _STRING.sub(b"", unescaped).translate(None, _NOT_BRACKETS).translate(_SIGNED)
    return max(accumulate(memoryview(brackets).cast("b")), default=0)


def parse_json(body: bytes, max_depth: int = MAX_DEPTH) -> Any:  # noqa: ANN401 - any JSON
    """A JSON body, or a ValueError saying why not (encoding, depth or syntax)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"not UTF-8: byte {e.start} (0x{body[e.start]:02x})") from None
    depth = json_depth(body)
    if depth > max_depth:
        raise ValueError(f"JSON nested {depth} deep; at most {max_depth}")
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"not JSON: {e}") from None
    except RecursionError:  # the pre-scan makes this unreachable; kept as a backstop
        raise ValueError(f"JSON nested too deep; at most {max_depth}") from None


def marking_refs(obj: dict) -> list:
    """Every marking reference of a checked object, at object and property level."""
    refs = list(obj.get("object_marking_refs") or [])
    refs += [g.get("marking_ref") for g in obj.get("granular_markings") or []
             if isinstance(g, dict) and g.get("marking_ref") is not None]
    return refs


def marking_of(obj: dict, defined: Mapping[str, str] | None = None) -> str | None:
    """The strictest TLP an object is marked with, at object or property level: a RED
    marking on any property makes the whole object RED here, and so does a reference that
    is neither an OASIS TLP id nor `defined` (see `stix.marking_levels`)."""
    return stix.marking_tlp(marking_refs(obj), defined)


def define(defined: dict[str, str], obj: object) -> None:
    """Add what `obj` defines to `defined` if it is a well-formed marking-definition (one
    rejected as malformed defines nothing: a reference to it stays RED)."""
    if isinstance(obj, dict) and obj.get("type") == "marking-definition":
        try:
            check_object(obj)
        except ValueError:
            return
        stix.define(defined, obj)


def marking_definitions(objects: Iterable[object]) -> dict[str, str]:
    """{id: TLP level or markings.NOT_TLP} of the marking-definitions among `objects`."""
    defined: dict[str, str] = {}
    for obj in objects:
        define(defined, obj)
    return defined


def is_identifier(value: object, prefix: str | None = None) -> bool:
    """Is `value` a STIX identifier `<type>--<uuid>` (of type `prefix`, if given)?"""
    if not isinstance(value, str) or len(value) > 300:
        return False
    try:
        _identifier(value, "id", prefix)
    except ValueError:
        return False
    return True


def _fail(field: str, reason: str) -> ValueError:
    return ValueError(f"`{field}` {reason}")


def _string(obj: dict, field: str, required: bool = False) -> None:
    v = obj.get(field)
    if v is None:
        if required:
            raise _fail(field, "is required")
        return
    if not isinstance(v, str):
        raise _fail(field, f"must be a string, not {type(v).__name__}")
    if len(v) > MAX_STRING:
        raise _fail(field, f"is {len(v)} characters; at most {MAX_STRING}")


def _strings(obj: dict, field: str, required: bool = False) -> list[str]:
    v = obj.get(field)
    if v is None:
        if required:
            raise _fail(field, "is required")
        return []
    if not isinstance(v, list):
        raise _fail(field, f"must be a list of strings, not {type(v).__name__}")
    for n, x in enumerate(v):
        if not isinstance(x, str):
            raise _fail(f"{field}[{n}]", f"must be a string, not {type(x).__name__}")
        if len(x) > MAX_STRING:
            raise _fail(f"{field}[{n}]", f"is {len(x)} characters; at most {MAX_STRING}")
    return v


def _identifier(value: str, field: str, prefix: str | None = None) -> None:
    kind, sep, ident = value.partition("--")
    try:
        ok = bool(sep) and _TYPE.fullmatch(kind) is not None and bool(uuid.UUID(ident))
    except ValueError:
        ok = False
    if not ok or (prefix and kind != prefix):
        want = f"{prefix}--<uuid>" if prefix else "<type>--<uuid>"
        raise _fail(field, f"must be an identifier {want}, not {value[:80]!r}")


def _timestamp(obj: dict, field: str) -> None:
    _string(obj, field)
    v = obj.get(field)
    if v is None:
        return
    try:
        datetime.fromisoformat(v.replace("Z", "+00:00"))
    except (ValueError, OverflowError):
        raise _fail(field, f"is not a timestamp: {v[:40]!r}") from None


def check_object(obj: object) -> dict:
    """The object if every property Cairn reads has the shape STIX 2.1 gives it, else a
    ValueError naming the first that does not."""
    if not isinstance(obj, dict):
        raise ValueError(f"not a JSON object but a {type(obj).__name__}")
    _string(obj, "type", required=True)
    if not _TYPE.fullmatch(obj["type"]):
        raise _fail("type", f"is not a STIX type name: {obj['type'][:80]!r}")
    _string(obj, "id", required=True)
    _identifier(obj["id"], "id", obj["type"])
    _string(obj, "spec_version")
    for field in ("created", "modified", "valid_from", "valid_until"):
        _timestamp(obj, field)
    if obj.get("created_by_ref") is not None:
        _string(obj, "created_by_ref")
        _identifier(obj["created_by_ref"], "created_by_ref", "identity")
    _strings(obj, "labels")
    for n, ref in enumerate(_strings(obj, "object_marking_refs")):
        _identifier(ref, f"object_marking_refs[{n}]", "marking-definition")
    granular = obj.get("granular_markings")
    if granular is not None:
        if not isinstance(granular, list):
            raise _fail("granular_markings", "must be a list")
        for n, g in enumerate(granular):
            if not isinstance(g, dict):
                raise _fail(f"granular_markings[{n}]", "must be an object")
            if g.get("marking_ref") is not None:
                _string(g, "marking_ref")
                _identifier(g["marking_ref"], f"granular_markings[{n}].marking_ref",
                            "marking-definition")
            _strings(g, "selectors", required=True)
    ext = obj.get("extensions")
    if ext is not None and not (isinstance(ext, dict)
                                and all(isinstance(v, dict) for v in ext.values())):
        raise _fail("extensions", "must be an object of objects")
    kind = obj["type"]
    if kind == "indicator":
        _string(obj, "pattern", required=True)
        _string(obj, "pattern_type")
    elif kind == "file":
        hashes = obj.get("hashes")
        if hashes is not None:
            if not isinstance(hashes, dict):
                raise _fail("hashes", f"must be an object, not {type(hashes).__name__}")
            for name in hashes:
                _string(hashes, name)
        pdq = (ext or {}).get(stix.PDQ_EXTENSION)
        if pdq is not None:
            _string(pdq, "pdq")
            q = pdq.get("pdq_quality")
            if q is not None and (isinstance(q, bool) or not isinstance(q, int)
                                  or not 0 <= q <= 100):
                raise _fail("pdq_quality", f"must be an integer 0-100, not {q!r}"[:120])
    elif kind == "opinion":
        _string(obj, "opinion", required=True)
        if obj["opinion"] not in OPINIONS:
            raise _fail("opinion", f"must be one of {', '.join(OPINIONS)}")
        _string(obj, "explanation")
        refs = _strings(obj, "object_refs", required=True)
        if not refs:
            raise _fail("object_refs", "must name at least one object")
        for n, ref in enumerate(refs):
            _identifier(ref, f"object_refs[{n}]")
    return obj


def object_entries(obj: object, position: int,
                   defined: Mapping[str, str] | None = None) -> list[dict]:
    """The entries (export-row dicts) one received Indicator or File gives, marked with its
    strictest TLP (`marking_of`, with the marking-definitions `defined` beside it); a
    ValueError naming the field and reason for a malformed one."""
    check_object(obj)
    assert isinstance(obj, dict)
    try:
        found = stix.object_entries(obj, position)
    except ValueError:
        raise
    except Exception as e:  # noqa: BLE001 - a reader's crash is this object's rejection
        raise ValueError(f"unreadable ({type(e).__name__}: {e})") from None
    level = marking_of(obj, defined)
    attrs: dict | None = None  # one dict for the object's hashes, as the readers give it
    entries = []
    for entry in found:
        d = entry.to_dict()
        if attrs is None:
            attrs = {k: v for k, v in (d.get("attrs") or {}).items() if k != "tlp"}
            if level:
                attrs["tlp"] = level  # the strictest it arrived with, whatever the reader took
        d["attrs"] = attrs
        entries.append(d)
    return entries
