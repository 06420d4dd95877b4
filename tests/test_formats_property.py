"""Property: whatever a partner's STIX, VICS, MISP or python-threatexchange CSV file mixes in
(wrong types in every field Cairn reads, deep nesting, huge fields, bytes that are not UTF-8),
no exception escapes the reader, every valid entry imports, and every invalid one is
reported with its position. Examples are kept few so the whole file runs in seconds."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cairn.lists.formats import read_list

EXAMPLES = int(os.environ.get("CAIRN_PROPERTY_EXAMPLES", "40"))  # more for a long fuzz run
SETTINGS = settings(max_examples=EXAMPLES, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
DEEP = "DEEP-NESTING"
BAD_UTF8 = "BAD-UTF8"


def md5(i: int) -> str:
    return hashlib.md5(f"p{i}".encode()).hexdigest()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4),
    max_leaves=8)


def _str_list(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


# A value of the wrong type for a field: anything but absent, and anything but the right type.
not_str_list = json_values.filter(lambda v: v is not None and not _str_list(v))
not_str = json_values.filter(lambda v: v is not None and not isinstance(v, str))
not_str_map = json_values.filter(lambda v: v is not None and not (
    isinstance(v, dict) and all(isinstance(x, str) for x in v.values())) and v != {})
hostile_extra = st.sampled_from([DEEP, "x" * 5000, ["x" * 5000]])  # deep, huge


def as_bytes(doc: Any) -> bytes:
    """The document as a file, with DEEP as 40-deep nesting and BAD_UTF8 as invalid bytes."""
    text = json.dumps(doc, default=str).replace(f'"{DEEP}"', "[" * 40 + "]" * 40)
    return text.encode().replace(BAD_UTF8.encode(), b"\xff\xc0")


def check(data: bytes, name: str, good: dict[int, set[str]], bad: set[int]) -> None:
    """Valid entries at their positions all import, the bad positions (and only they) are
    rejected, and nothing a bad entry carried is imported."""
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / name
        path.write_bytes(data)
        _, entries, rejected = read_list(path)  # raises nothing: the file is JSON or CSV
    got = {e.value for e in entries}
    assert set().union(*good.values()) <= got
    assert not got & {md5(n) for n in bad}
    assert {r.line for r in rejected} == bad, rejected
    assert all(r.reason for r in rejected)


# -- STIX ------------------------------------------------------------------------------------
def stix_valid(i: int, label: str) -> dict:
    return {"type": "file", "id": f"file--00000000-0000-4000-8000-{i:012d}",
            "hashes": {"MD5": md5(i)}, "labels": [label]}


@st.composite
def stix_objects(draw: st.DrawFn) -> tuple[dict, dict[int, set[str]], set[int]]:
    kinds = draw(st.lists(st.sampled_from(["ok", "ok-utf8", "labels", "hashes", "marks",
                                           "type", "pattern", "extra", "scalar"]),
                          min_size=1, max_size=8))
    objs, good, bad = [], {}, set()
    for n, k in enumerate(kinds, 1):
        o: Any = stix_valid(n, BAD_UTF8 if k == "ok-utf8" else "x")
        if k in ("ok", "ok-utf8"):
            good[n] = {md5(n)}
        else:
            bad.add(n)
            if k == "labels":
                o["labels"] = draw(not_str_list)
            elif k == "hashes":
                o["hashes"] = draw(not_str_map)
            elif k == "marks":
                o["object_marking_refs"] = draw(not_str_list)
            elif k == "type":
                o["type"] = draw(not_str)
            elif k == "pattern":
                o = {"type": "indicator", "pattern": draw(not_str),
                     "labels": [f"[file:hashes.MD5 = '{md5(n)}']"]}
            elif k == "extra":
                o["labels"] = draw(hostile_extra)
            else:
                o = draw(not_str_map.filter(lambda v: not isinstance(v, dict)))
        objs.append(o)
    return {"type": "bundle", "id": "bundle--1", "objects": objs}, good, bad


@SETTINGS
@given(stix_objects())
def test_stix_hostile_objects(case: tuple) -> None:
    doc, good, bad = case
    check(as_bytes(doc), "list.json", good, bad)


# -- VICS ------------------------------------------------------------------------------------
@st.composite
def vics_media(draw: st.DrawFn) -> tuple[dict, dict[int, set[str]], set[int]]:
    kinds = draw(st.lists(st.sampled_from(["ok", "ok-utf8", "Tags", "MD5", "MediaFiles",
                                           "AlternativeHashes", "MediaSize", "extra",
                                           "scalar"]), min_size=1, max_size=8))
    media, good, bad = [], {}, set()
    for n, k in enumerate(kinds, 1):
        m: Any = {"MediaID": n, "MD5": md5(n), "Tags": [BAD_UTF8 if k == "ok-utf8" else "t"],
                  "MediaFiles": [{"FileName": f"{n}.jpg"}]}
        if k in ("ok", "ok-utf8"):
            good[n] = {md5(n)}
        else:
            bad.add(n)
            if k == "Tags":
                m["Tags"] = draw(not_str_list.filter(
                    lambda v: v != "" and not (isinstance(v, list) and all(
                        isinstance(x, (str, int)) and not isinstance(x, bool) and
                        abs(x) < 2**63 if isinstance(x, int) else isinstance(x, str)
                        for x in v))))
            elif k == "MD5":
                m["MD5"] = draw(not_str.filter(lambda v: v != ""))
            elif k == "MediaFiles":
                m["MediaFiles"] = draw(st.one_of(
                    st.integers(), st.lists(not_str_map.filter(
                        lambda v: not isinstance(v, dict)), min_size=1)))
            elif k == "AlternativeHashes":
                m["AlternativeHashes"] = draw(st.one_of(st.integers(), st.booleans(),
                                                        st.dictionaries(st.text(), st.none(),
                                                                        min_size=1)))
            elif k == "MediaSize":
                m["MediaSize"] = draw(st.sampled_from(
                    [-1, 2**70, 1.5, "abc", [1], {"a": 1}, True, Decimal("1e999999")]))
            elif k == "extra":
                m["Comments"] = draw(hostile_extra)
            else:
                m = draw(not_str_map.filter(lambda v: not isinstance(v, dict)))
        media.append(m)
    return ({"@odata.context": "http://github.com/VICSDATAMODEL/ProjectVic/DataModels/2.0.xml/"
                               "US/$metadata#Media", "value": media}, good, bad)


@SETTINGS
@given(vics_media())
def test_vics_hostile_media(case: tuple) -> None:
    doc, good, bad = case
    check(as_bytes(doc), "list.json", good, bad)


# -- MISP ------------------------------------------------------------------------------------
@st.composite
def misp_attributes(draw: st.DrawFn) -> tuple[dict, dict[int, set[str]], set[int]]:
    kinds = draw(st.lists(st.sampled_from(["ok", "ok-utf8", "Tag", "value", "type", "comment",
                                           "extra", "scalar"]), min_size=1, max_size=8))
    attrs, good, bad = [], {}, set()
    for n, k in enumerate(kinds, 1):
        a: Any = {"type": "md5", "value": md5(n), "comment": "c",
                  "Tag": [{"name": BAD_UTF8 if k == "ok-utf8" else "tlp:amber"}]}
        if k in ("ok", "ok-utf8"):
            good[n] = {md5(n)}
        else:
            bad.add(n)
            if k == "Tag":
                a["Tag"] = draw(st.one_of(
                    st.integers(), st.lists(st.integers(), min_size=1),
                    st.lists(st.fixed_dictionaries({"name": not_str}), min_size=1)))
            elif k == "value":
                a["value"] = draw(not_str.filter(lambda v: v != ""))
            elif k == "type":
                a["type"] = draw(not_str)
            elif k == "comment":
                a["comment"] = draw(not_str.filter(lambda v: v != ""))
            elif k == "extra":
                a["comment"] = draw(hostile_extra)
            else:
                a = draw(not_str_map.filter(lambda v: not isinstance(v, dict)))
        attrs.append(a)
    return ({"Event": {"uuid": "5b0a7e1c-0000-4000-8000-000000000001",
                       "Tag": [{"name": "tlp:green"}], "Attribute": attrs}}, good, bad)


@SETTINGS
@given(misp_attributes())
def test_misp_hostile_attributes(case: tuple) -> None:
    doc, good, bad = case
    check(as_bytes(doc), "list.json", good, bad)


# -- python-threatexchange CSV ---------------------------------------------------------------
@st.composite
def te_rows(draw: st.DrawFn) -> tuple[str, dict[int, set[str]], set[int]]:
    kinds = draw(st.lists(st.sampled_from(["ok", "ok-formula", "huge", "type", "hash",
                                           "long-tag"]), min_size=1, max_size=8))
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["signal_type", "signal_str", "collab", "category", "tags"])
    good, bad = {}, set()
    for line, k in enumerate(kinds, 2):
        row = ["md5", md5(line), "c", "1", "t"]
        if k in ("ok", "ok-formula"):
            good[line] = {md5(line)}
            if k == "ok-formula":
                row[2:] = ["=1+1", "@x", "-a +b"]
        else:
            bad.add(line)
            if k == "huge":
                row[4] = "x" * 140_000  # over csv's field limit
            elif k == "type":
                row[0] = draw(st.text(st.characters(codec="ascii", exclude_characters="\r\n,"
                                                    ), max_size=10).filter(
                    lambda s: s.strip().lower() not in ("md5", "sha1", "sha256", "pdq", "vpdq",
                                                        "video_md5", "photo_md5",
                                                        "video_sha256", "photo_sha256")
                    and not s.lstrip().startswith("#") and s.strip() != ""))
            elif k == "hash":
                row[1] = draw(st.text(st.characters(codec="ascii", exclude_characters="\r\n"),
                                      max_size=40).filter(
                    lambda s: not re.fullmatch(r"'?[0-9a-fA-F]{32}", s.strip())))
            else:
                row[4] = "t" * 5000  # one tag over MAX_TEXT
        w.writerow(row)
    return buf.getvalue(), good, bad


@SETTINGS
@given(te_rows())
def test_te_csv_hostile_rows(case: tuple) -> None:
    text, good, bad = case
    check(text.encode(), "list.csv", good, bad)
