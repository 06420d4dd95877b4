"""The field's hash-list formats: VICS, STIX 2.1, MISP, NSRL, python-threatexchange and
md5sum, each exported and imported back to the same entries, read by the third-party
library that owns the format, and with bad input rejected by position."""

from __future__ import annotations

import csv
import hashlib
import json
import sqlite3
from pathlib import Path

import pytest

from cairn.demo import jpeg_bytes, picture
from cairn.lists.formats import read_list
from cairn.signals import pdq
from conftest import Cairn
from inprocess import report_json, scan_report

PDQS = [pdq.pdq_from_image(picture(700 + i, (160, 120)), dihedral=False).hash for i in range(3)]


def md5(i: int) -> str:
    return hashlib.md5(f"m{i}".encode()).hexdigest()


def sha1(i: int) -> str:
    return hashlib.sha1(f"m{i}".encode()).hexdigest()


def sha256(i: int) -> str:
    return hashlib.sha256(f"m{i}".encode()).hexdigest()


def vics_doc() -> dict:
    return {
        "@odata.context": "http://github.com/VICSDATAMODEL/ProjectVic/DataModels/2.0.xml/US/"
                          "$metadata#Media",
        "value": [
            {"MediaID": 11, "Category": 1, "MD5": md5(1).upper(), "SHA1": sha1(1).upper(),
             "MediaSize": 2835, "DateUpdated": "2023-06-07T02:31:49.8300Z",
             "IsPrecategorized": "true", "VictimIdentified": "false", "IsDistributed": True,
             "Series": "S-17", "Tags": ["series-17"], "Comments": "benign test entry",
             "MediaFiles": [{"FileName": "a.jpg", "FilePath": "/x/a.jpg", "SourceID": "7"}],
             "MediaMetadata": [{"Name": "PDQ", "Value": PDQS[0]}]},
            {"MediaID": 12, "MD5": md5(2).upper(), "PhotoDNA": "QUJDREVGR0g=" * 4},
            {"MediaID": 13, "Category": "3", "SHA1": sha1(3), "SHA256": sha256(3),
             "MediaMetadata": {"PDQ": PDQS[1]}},
            {"MediaID": 14, "Category": 0, "MD5": md5(4)},
        ]}


def key(e: dict | object) -> tuple:
    d = e if isinstance(e, dict) else e.to_dict()
    return d["signal_type"], d["value"], d.get("category"), tuple(sorted(d.get("labels") or []))


def write_vics(path: Path, doc: dict, bom: bool = True) -> Path:
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + json.dumps(doc).encode())
    return path


def test_vics_read_fields(tmp_path: Path) -> None:
    fmt, entries, rejected = read_list(write_vics(tmp_path / "set.json", vics_doc()))
    assert fmt == "vics" and not rejected
    got = {(e.signal_type, e.value): e for e in entries}
    assert len(got) == 9
    a = got[("md5", md5(1))]
    assert a.category == "1" and a.labels == ["series-17"]
    assert a.attrs["vics"]["IsPrecategorized"] is True  # a string flag read as a boolean
    assert a.attrs["vics"]["VictimIdentified"] is False
    assert a.attrs["vics"]["MediaFiles"][0]["FileName"] == "a.jpg"
    assert got[("pdq", PDQS[0])].attrs["group"] == a.attrs["group"]  # same Media
    assert got[("md5", md5(2))].category is None  # a missing Category is not 0
    assert got[("md5", md5(4))].category == "0"
    assert got[("photodna", "QUJDREVGR0g=" * 4)].signal_type == "photodna"
    assert got[("sha256", sha256(3))].category == "3"


def test_vics_cases_shape_and_1x(tmp_path: Path) -> None:
    doc = {"odata.metadata": "http://github.com/ICMEC/ProjectVic/DataModels/1.3.xml/"
                             "$metadata#Cases",
           "value": [{"CaseNumber": "C-1", "Media": [
               {"MediaID": 1, "Category": 2, "MD5": md5(5),
                "AlternativeHashes": [{"HashName": "SHA256", "HashValue": sha256(5)}]}]}]}
    fmt, entries, rejected = read_list(write_vics(tmp_path / "case.json", doc, bom=False))
    assert fmt == "vics" and not rejected
    assert {(e.signal_type, e.value) for e in entries} == {("md5", md5(5)),
                                                          ("sha256", sha256(5))}


def test_vics_bad_media_rejected_by_position(tmp_path: Path) -> None:
    doc = vics_doc()
    doc["value"].insert(1, {"MediaID": 99, "Category": 7, "MD5": md5(9)})
    doc["value"].insert(2, {"MediaID": 98, "MD5": "not-hex"})
    doc["value"].insert(3, {"MediaID": 97, "Comments": "no hash at all"})
    _, entries, rejected = read_list(write_vics(tmp_path / "bad.json", doc))
    assert [(r.line, r.reason.split(":")[0]) for r in rejected] == [
        (2, "Media 2"), (3, "Media 3"), (4, "Media 4")]
    assert "Category 7 is not 0-4" in rejected[0].reason
    assert "no hash" in rejected[2].reason
    assert len(entries) == 9  # every valid Media still imports


def _import(cairn: Cairn, path: Path, name: str, *extra: str, ok=(0,)) -> dict:  # noqa: ANN001
    return cairn.json("lists", "import", path, "--name", name, *extra, ok=ok)


def _entries(tmp_path: Path, cairn: Cairn, name: str, fmt: str) -> set[tuple]:
    out = tmp_path / f"{name}.{fmt}.out"
    cairn.run("lists", "export", name, "--format", fmt, "-o", out)
    _, entries, rejected = read_list(out) if fmt != "misp" else read_list(out, "misp")
    assert not rejected, rejected
    return {key(e) for e in entries}


def test_round_trip_every_format(cairn: Cairn, tmp_path: Path) -> None:
    _import(cairn, write_vics(tmp_path / "set.json", vics_doc()), "vics-set", "--tlp", "green")
    _, original, _ = read_list(tmp_path / "set.json")
    everything = {key(e) for e in original}
    no_photodna = {k for k in everything if k[0] != "photodna"}
    assert _entries(tmp_path, cairn, "vics-set", "vics") == everything
    assert _entries(tmp_path, cairn, "vics-set", "te-csv") == no_photodna
    assert _entries(tmp_path, cairn, "vics-set", "stix") == no_photodna
    assert _entries(tmp_path, cairn, "vics-set", "misp") == no_photodna
    te_local = {k[:2] for k in _entries(tmp_path, cairn, "vics-set", "te-local")}
    assert te_local == {k[:2] for k in no_photodna}
    sums = tmp_path / "x.md5"
    cairn.run("lists", "export", "vics-set", "--format", "md5sum", "-o", sums)
    assert {e.value for e in read_list(sums)[1]} == {k[1] for k in everything if k[0] == "md5"}
    # VICS -> VICS keeps the Media fields, grouped as they came
    out = tmp_path / "again.json"
    cairn.run("lists", "export", "vics-set", "--format", "vics", "-o", out,
              "--vics-profile", "US")
    doc = json.loads(out.read_text())
    assert doc["@odata.context"].endswith("/US/$metadata#Media")
    m11 = next(m for m in doc["value"] if m["MediaID"] == 11)
    assert m11["MD5"] == md5(1).upper() and m11["Category"] == 1
    assert m11["IsPrecategorized"] is True and m11["Series"] == "S-17"
    assert m11["MediaMetadata"] == [{"Name": "PDQ", "Value": PDQS[0]}]
    assert "Category" not in next(m for m in doc["value"] if m["MediaID"] == 12)
    v1 = tmp_path / "v1.json"
    cairn.run("lists", "export", "vics-set", "--format", "vics", "-o", v1, "--vics-version",
              "1.x")
    assert "odata.metadata" in json.loads(v1.read_text())
    assert {key(e) for e in read_list(v1)[1]} == everything


def test_stix_bundle_is_valid_stix(cairn: Cairn, tmp_path: Path) -> None:
    import stix2

    _import(cairn, write_vics(tmp_path / "set.json", vics_doc()), "s", "--tlp", "amber")
    out = tmp_path / "b.json"
    cairn.run("lists", "export", "s", "--format", "stix", "-o", out, "--org", "Agency X")
    bundle = stix2.parse(out.read_text(), allow_custom=True)
    types = [o.type for o in bundle.objects]
    assert types.count("indicator") == 4 and types.count("file") == 4
    amber = "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"
    ident = next(o for o in bundle.objects if o.type == "identity")
    assert ident.name == "Agency X"
    for o in bundle.objects:
        if o.type in ("indicator", "file", "relationship"):
            assert o.object_marking_refs == [amber]
        if o.type == "indicator":
            assert o.created_by_ref == ident.id
            stix2.pattern_visitor.create_pattern_object(o.pattern)  # the pattern parses
    ext = next(o for o in bundle.objects if o.type == "extension-definition")
    f = next(o for o in bundle.objects if o.type == "file" and "extensions" in o)
    assert f.extensions[ext.id]["pdq"] in PDQS
    # a second export gives the same object ids: TAXII peers see no spurious changes
    out2 = tmp_path / "b2.json"
    cairn.run("lists", "export", "s", "--format", "stix", "-o", out2, "--org", "Agency X")
    ids = lambda p: sorted(o["id"] for o in json.loads(p.read_text())["objects"])  # noqa: E731
    assert ids(out) == ids(out2)


def test_stix_bundle_made_elsewhere(tmp_path: Path) -> None:
    import stix2

    ind = stix2.Indicator(pattern=f"[file:hashes.'SHA-256' = '{sha256(8)}'] OR "
                                  f"[file:hashes.MD5 = '{md5(8)}']", pattern_type="stix",
                          labels=["csam-known"], object_marking_refs=[stix2.TLP_RED])
    other = stix2.Indicator(pattern="[ipv4-addr:value = '198.51.100.1']", pattern_type="stix")
    f = stix2.File(hashes={"SHA-1": sha1(8)})
    bundle = json.loads(stix2.Bundle(ind, other, f).serialize())
    bad = {"type": "indicator", "spec_version": "2.1", "id": "indicator--" + "1" * 8 +
           "-1111-4111-8111-111111111111", "pattern": "[file:hashes.MD5 = 'zz']"}
    bundle["objects"].insert(1, bad)  # a peer's malformed object (stix2 would refuse it)
    path = tmp_path / "theirs.json"
    path.write_text(json.dumps(bundle))
    fmt, entries, rejected = read_list(path)
    assert fmt == "stix"
    assert {(e.signal_type, e.value) for e in entries} == {
        ("sha256", sha256(8)), ("md5", md5(8)), ("sha1", sha1(8))}
    assert next(e for e in entries if e.signal_type == "md5").attrs["tlp"] == "red"
    assert [r.line for r in rejected] == [2] and bad["id"] in rejected[0].reason


def test_misp_feed_loads_in_pymisp(cairn: Cairn, tmp_path: Path) -> None:
    from pymisp import MISPEvent

    _import(cairn, write_vics(tmp_path / "set.json", vics_doc()), "m", "--tlp", "red")
    feed = tmp_path / "feed"
    cairn.run("lists", "export", "m", "--format", "misp", "-o", feed, "--org", "Agency X")
    manifest = json.loads((feed / "manifest.json").read_text())
    (uuid,) = manifest
    ev = MISPEvent()
    ev.load_file(str(feed / f"{uuid}.json"))
    assert ev.distribution == 0 and [t.name for t in ev.tags] == ["tlp:red"]
    assert {a.type for a in ev.attributes} == {"md5", "sha1", "sha256"}
    assert {o.name for o in ev.objects} == {"cairn-pdq"}
    assert ev.Orgc.name == "Agency X"
    lines = (feed / "hashes.csv").read_text().splitlines()
    assert len(lines) == len(ev.attributes) + 2 and all(ln.endswith(uuid) for ln in lines)
    # a folder, or one event file, imports back
    res = _import(cairn, feed, "m2")
    assert res["format"] == "misp" and res["entries"] == 8
    res = _import(cairn, feed / f"{uuid}.json", "m3")
    assert res["entries"] == 8


def test_nsrl_known_good_hides_items(cairn: Cairn, tmp_path: Path) -> None:
    ev = tmp_path / "exhibit"
    ev.mkdir()
    os_file, photo = ev / "system.dll.jpg", ev / "photo.jpg"
    os_file.write_bytes(jpeg_bytes(picture(720, (200, 150))))
    photo.write_bytes(jpeg_bytes(picture(721, (200, 150))))
    db = tmp_path / "RDS_2024.03.1_modern_minimal.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE FILE (sha256 TEXT, sha1 TEXT, md5 TEXT, crc32 TEXT, "
                "file_name TEXT, file_size INTEGER, package_id INTEGER)")
    data = os_file.read_bytes()
    con.executemany("INSERT INTO FILE VALUES (?,?,?,?,?,?,?)", [
        (hashlib.sha256(data).hexdigest().upper(), hashlib.sha1(data).hexdigest(),
         hashlib.md5(data).hexdigest(), "0", "system.dll.jpg", len(data), 1),
        (sha256(1), sha1(1), md5(1), "0", "other.dll", 10, 2),
        ("xyz", "", "", "0", "broken", 0, 3)])
    con.commit()
    con.close()
    res = _import(cairn, db, "nsrl", ok=(3,))
    assert (res["format"], res["entries"]) == ("nsrl", 2)
    assert res["rejected_lines"][0]["line"] == 3
    assert {x["name"]: x["purpose"] for x in cairn.json("lists")}["nsrl"] == "known-good"
    rep = scan_report(cairn.home, ev, "kg")
    assert [it["path"] for it in rep["items"]] == ["photo.jpg"]
    assert rep["summary"]["known_good_hidden"] == 1 and rep["summary"]["items_matched"] == 0
    rep = report_json(cairn.home, "kg", "--include-known-good")
    (kg,) = [it for it in rep["items"] if it.get("known_good")]
    assert kg["path"] == "system.dll.jpg" and kg["matches"] == []
    # RDSv2 CSV
    rds2 = tmp_path / "NSRLFile.txt"
    with rds2.open("w", newline="") as f:
        w = csv.writer(f, quoting=csv.QUOTE_ALL)
        w.writerow(["SHA-1", "MD5", "CRC32", "FileName", "FileSize", "ProductCode",
                    "OpSystemCode", "SpecialCode"])
        w.writerow([sha1(2).upper(), md5(2).upper(), "0", "a.exe", "1", "1", "1", ""])
    res = _import(cairn, rds2, "nsrl2")
    assert (res["format"], res["entries"]) == ("nsrl", 1)


def test_import_is_one_transaction(cairn: Cairn, tmp_path: Path) -> None:
    good = json.dumps(vics_doc())
    broken = tmp_path / "broken.json"
    broken.write_text(good[: len(good) // 2])  # cut mid-way: JSON breaks after some Media
    err = cairn.run("lists", "import", broken, "--name", "half", ok=(2,)).stderr
    assert "VICS JSON broken after Media" in err
    assert cairn.json("lists") == []  # nothing half-written


def test_case_export_as_vics(cairn: Cairn, tmp_path: Path) -> None:
    ev = tmp_path / "exhibit"
    ev.mkdir()
    img = picture(730, (240, 180))
    (ev / "copy.jpg").write_bytes(jpeg_bytes(img))
    (ev / "other.jpg").write_bytes(jpeg_bytes(picture(731, (240, 180))))
    data = (ev / "copy.jpg").read_bytes()
    doc = {"@odata.context": "http://github.com/VICSDATAMODEL/ProjectVic/DataModels/2.0.xml/"
                             "Default/$metadata#Media",
           "value": [{"MediaID": 1, "Category": 2, "MD5": hashlib.md5(data).hexdigest()}]}
    _import(cairn, write_vics(tmp_path / "k.json", doc), "k")
    cairn.run("scan", ev, "--case", "c", "--new-case", "--no-progress")
    cairn.run("rehash", "--case", "c")  # the scan's PDQ is `fast`; VICS carries exact only
    out = json.loads(cairn.run("report", "--case", "c", "--format", "vics").stdout)
    assert out["@odata.context"].endswith("$metadata#Cases")
    (case,) = out["value"]
    (m,) = case["Media"]
    assert m["MD5"] == hashlib.md5(data).hexdigest().upper() and m["Category"] == 2
    assert m["MediaFiles"] == [{"FileName": "copy.jpg", "FilePath": "copy.jpg",
                                "SourceID": "exhibit"}]
    assert m["MediaMetadata"][0]["Name"] == "PDQ" and len(m["MediaMetadata"][0]["Value"]) == 64
    fmt, entries, rejected = read_list(tmp_path / "k.json")
    assert not rejected


@pytest.mark.parametrize("name", ["te-csv", "te-local"])
def test_threatexchange_formats_round_trip(cairn: Cairn, tmp_path: Path, name: str) -> None:
    src = tmp_path / "te.csv"
    src.write_text("signal_type,signal_str,collab,category,tags\n"
                   f"pdq,{PDQS[2]},c1,2,a b\nmd5,{md5(6)},c1,,x\n")
    _import(cairn, src, "te")
    out = tmp_path / f"out.{name}"
    cairn.run("lists", "export", "te", "--format", name, "-o", out)
    fmt, entries, _ = read_list(out)
    assert fmt == name
    assert {(e.signal_type, e.value) for e in entries} == {("pdq", PDQS[2]), ("md5", md5(6))}
    if name == "te-csv":
        assert {key(e) for e in entries} == {("pdq", PDQS[2], "2", ("a", "b")),
                                             ("md5", md5(6), None, ("x",))}


def test_misp_bad_attributes_rejected_by_position(tmp_path: Path) -> None:
    event = {"Event": {"uuid": "5b0a7e1c-0000-4000-8000-000000000001", "info": "x",
                       "Tag": [{"name": "tlp:green"}],
                       "Attribute": [{"type": "md5", "value": md5(1)},
                                     {"type": "md5", "value": "zz"},
                                     {"type": "filename|sha1", "value": f"a.exe|{sha1(2)}"},
                                     {"type": "ip-dst", "value": "198.51.100.7"}]}}
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event))
    fmt, entries, rejected = read_list(path)
    assert fmt == "misp"
    assert {(e.signal_type, e.value) for e in entries} == {("md5", md5(1)), ("sha1", sha1(2))}
    assert entries[0].attrs["tlp"] == "green"
    assert [r.line for r in rejected] == [2] and "attribute 2" in rejected[0].reason
