"""Hash-list files from a careless or hostile partner: per-entry markings that must not widen,
malformed entries rejected by position while the rest imports, files built to exhaust memory,
and CSV cells that would run as spreadsheet formulas. Everything benign and generated here."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path

import pytest
import stix2
from click.testing import CliRunner

from cairn.cli import cli
from cairn.lists.formats import read_list
from cairn.lists.formats import stix as stixfmt
from cairn.lists.formats.vics import write_vics
from cairn.lists.formats.writers import write_hashsum, write_te_csv

RED = stixfmt.TLP2["red"]
AMBER = stixfmt.TLP2["amber"]
VICS_CTX = ("http://github.com/VICSDATAMODEL/ProjectVic/DataModels/2.0.xml/Default/"
            "$metadata#Media")


def md5(i: int) -> str:
    return hashlib.md5(f"h{i}".encode()).hexdigest()


def sha256(i: int) -> str:
    return hashlib.sha256(f"h{i}".encode()).hexdigest()


def run(home: Path, *args: str | Path, ok: tuple[int, ...] = (0,)):  # noqa: ANN201
    res = CliRunner().invoke(cli, [str(a) for a in args], obj={},
                             env={"CAIRN_HOME": str(home), "COLUMNS": "200"})
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        raise AssertionError(f"cairn {' '.join(map(str, args))} raised") from res.exception
    assert res.exit_code in ok, f"exit {res.exit_code}: {res.output}"
    return res


def bundle(*objects: dict) -> dict:
    return {"type": "bundle", "id": "bundle--6f1c2a3e-0000-4000-8000-000000000001",
            "objects": list(objects)}


def stix_file(i: int, marks: list[str] | None = None, **kw: object) -> dict:
    return {"type": "file", "spec_version": "2.1",
            "id": f"file--{hashlib.md5(str(i).encode()).hexdigest()[:8]}-0000-4000-8000-"
                  f"{i:012d}", "hashes": {"MD5": md5(i)},
            **({"object_marking_refs": marks} if marks else {}), **kw}


def write(path: Path, doc: object) -> Path:
    path.write_text(json.dumps(doc))
    return path


# -- 1. TLP per entry ------------------------------------------------------------------------
def test_strictest_marking_of_an_object_and_across_objects(tmp_path: Path) -> None:
    ind = json.loads(stix2.Indicator(
        pattern=f"[file:hashes.MD5 = '{md5(1)}'] OR [file:hashes.'SHA-256' = '{sha256(1)}']",
        pattern_type="stix", object_marking_refs=[AMBER, RED]).serialize())
    amber_file = stix_file(1, [AMBER])  # the same MD5, first, marked only AMBER
    tlp1 = stix_file(2, [stix2.TLP_GREEN.id, stix2.TLP_RED.id])  # TLP 1.0 ids
    own = {"type": "marking-definition", "spec_version": "2.1", "id":
           "marking-definition--0b5e1f1e-0000-4000-8000-00000000000a",
           "definition_type": "tlp", "definition": {"tlp": "red"}}
    custom = stix_file(3, [own["id"]])  # a TLP marking the bundle defines itself, after it
    fmt, entries, rejected = read_list(write(tmp_path / "b.json",
                                             bundle(amber_file, ind, tlp1, custom, own)))
    assert fmt == "stix" and not rejected
    tlp = {e.value: e.attrs.get("tlp") for e in entries}
    assert tlp == {md5(1): "red", sha256(1): "red", md5(2): "red", md5(3): "red"}
    from cairn.lists.formats.markings import strictest

    assert strictest(["clear", "amber+strict", "amber", None, ""]) == "amber+strict"
    assert strictest(["clear", "bogus"]) == "red"  # a level we cannot read is RED


def test_a_marking_the_bundle_cannot_resolve_counts_as_red(tmp_path: Path) -> None:
    def md(n: int, **kw: object) -> dict:
        return {"type": "marking-definition", "spec_version": "2.1",
                "id": f"marking-definition--0b5e1f1e-0000-4000-8000-{n:012d}", **kw}

    notice = md(20, definition_type="statement", definition={"statement": "(c) example.test"})
    pap = md(21, definition_type="pap", definition={"pap": "red"})  # not a type Cairn reads
    weird = md(22, definition_type="tlp", definition={"tlp": "purple"})  # no such level
    fake = md(0, definition_type="tlp", definition={"tlp": "clear"}) | {"id": RED}
    never = "marking-definition--0b5e1f1e-0000-4000-8000-000000000099"
    files = [stix_file(11, [never]),  # defined nowhere
             stix_file(12, [notice["id"]]),  # a statement only: no TLP at all
             stix_file(13, [stixfmt.TLP2["green"], notice["id"]]),
             stix_file(14, [pap["id"]]), stix_file(15, [weird["id"]]),
             stix_file(16, [RED]),  # a partner cannot redefine an OASIS id
             stix_file(17, [stixfmt.TLP2["green"]], granular_markings=[
                 {"marking_ref": never, "selectors": ["name"]}], name="x")]
    fmt, entries, rejected = read_list(write(tmp_path / "b.json",
                                             bundle(*files, notice, pap, weird, fake)))
    assert fmt == "stix" and not rejected
    assert {e.value: e.attrs.get("tlp") for e in entries} == {
        md5(11): "red", md5(12): None, md5(13): "green", md5(14): "red", md5(15): "red",
        md5(16): "red", md5(17): "red"}


def test_red_entry_keeps_red_through_import_and_every_export(tmp_path: Path) -> None:
    home = tmp_path / "home"
    red = stix_file(1, [RED])
    plain = stix_file(2)
    src = write(tmp_path / "in.json", bundle(red, plain))
    run(home, "lists", "import", src, "--name", "l")  # no --tlp
    out = tmp_path / "out.json"
    run(home, "lists", "export", "l", "--format", "stix", "--tlp", "amber", "-o", out)
    objs = stix2.parse(out.read_text(), allow_custom=True).objects
    by_hash = {o.hashes["MD5"]: o for o in objs if o.type == "file"}
    assert by_hash[md5(1)].object_marking_refs == [RED]  # never the export's AMBER
    assert by_hash[md5(2)].object_marking_refs == [AMBER]
    assert any(o.id == RED for o in objs if o.type == "marking-definition")
    ind = next(o for o in objs if o.type == "indicator" and md5(1) in o.pattern)
    assert ind.object_marking_refs == [RED]
    _, back, _ = read_list(out)
    assert {e.value: e.attrs.get("tlp") for e in back} == {md5(1): "red", md5(2): "amber"}

    feed = tmp_path / "feed"
    run(home, "lists", "export", "l", "--format", "misp", "--tlp", "green", "-o", feed)
    (event_file,) = [p for p in feed.glob("*.json") if p.name != "manifest.json"]
    ev = json.loads(event_file.read_text())["Event"]
    assert [t["name"] for t in ev["Tag"]] == ["tlp:green"] and ev["distribution"] == "2"
    attrs = {a["value"]: a for a in ev["Attribute"]}
    assert [t["name"] for t in attrs[md5(1)]["Tag"]] == ["tlp:red"]
    assert attrs[md5(1)]["distribution"] == "0"
    assert "Tag" not in attrs[md5(2)] and attrs[md5(2)]["distribution"] == "5"
    _, back, _ = read_list(feed)
    assert {e.value: e.attrs.get("tlp") for e in back} == {md5(1): "red", md5(2): "green"}


def test_formats_without_markings_leave_stricter_entries_out() -> None:
    from cairn.lists.formats.markings import describe

    rows = [{"signal_type": "md5", "value": md5(1), "attrs": {"tlp": "red", "group": "a"}},
            {"signal_type": "md5", "value": md5(2), "attrs": {"tlp": "amber", "group": "b"}},
            {"signal_type": "md5", "value": md5(3), "attrs": {"group": "c"}}]
    for write_one in (lambda o, w: write_te_csv(rows, o, tlp="amber", withheld=w),
                      lambda o, w: write_hashsum(rows, o, "md5", tlp="amber", withheld=w),
                      lambda o, w: write_vics(rows, o, tlp="amber", withheld=w)):
        buf, held = io.StringIO(), []
        assert write_one(buf, held) == 2
        assert md5(1) not in buf.getvalue().lower() and md5(2) in buf.getvalue().lower()
        assert [(w.value, w.tlp, w.export_tlp) for w in held] == [(md5(1), "red", "amber")]
        assert describe(held).startswith("left out 1 entries marked stricter than the "
                                         "export's TLP:AMBER (1 TLP:RED)")
    buf = io.StringIO()
    assert write_te_csv(rows, buf, tlp="red") == 3  # a RED export may carry them all


# -- 2. one malformed entry never aborts an import --------------------------------------------
@pytest.mark.parametrize("bad", [
    {"labels": 5}, {"labels": ["ok", {"x": 1}]}, {"hashes": [md5(9)]},
    {"hashes": {"MD5": 5}}, {"object_marking_refs": {"id": RED}},
    {"object_marking_refs": [{"id": RED}]}, {"granular_markings": 5},
    {"extensions": [1]}, {"type": 5}, {"id": ["file--x"]}, {"labels": ["x" * 5000]},
])
def test_stix_object_entries_raises_only_value_error(bad: dict) -> None:
    obj = {**stix_file(9), **bad}
    with pytest.raises(ValueError) as e:
        stixfmt.object_entries(obj, 4)
    field = next(iter(bad))
    assert field in str(e.value)
    with pytest.raises(ValueError, match="pattern"):
        stixfmt.object_entries({"type": "indicator", "pattern": ["x"]}, 1)
    for not_an_object in (5, "x", [1], None):
        with pytest.raises(ValueError):
            stixfmt.object_entries(not_an_object, 1)  # type: ignore[arg-type]


def test_each_format_rejects_bad_entries_by_position_and_imports_the_rest(
        tmp_path: Path) -> None:
    home = tmp_path / "home"
    stix_path = write(tmp_path / "s.json", bundle(
        stix_file(1), {**stix_file(2), "labels": 5}, {**stix_file(3), "hashes": [md5(3)]},
        stix_file(4)))
    vics_path = write(tmp_path / "v.json", {"@odata.context": VICS_CTX, "value": [
        {"MediaID": 1, "MD5": md5(5)}, {"MediaID": 2, "MD5": md5(6), "Tags": 5},
        {"MediaID": 3, "MD5": md5(7), "MediaFiles": [[{"deep": 1}]]},
        {"MediaID": 4, "MD5": md5(8), "MediaSize": "HUGE"}, {"MediaID": 5, "MD5": md5(9)}]})
    vics_path.write_text(vics_path.read_text().replace('"HUGE"', "1e999999"))
    misp_path = write(tmp_path / "m.json", {"Event": {
        "uuid": "5b0a7e1c-0000-4000-8000-000000000001", "Tag": [{"name": "tlp:amber"}],
        "Attribute": [{"type": "md5", "value": md5(10), "Tag": [5]},
                      {"type": "md5", "value": md5(11), "Tag": 5},
                      {"type": "md5", "value": md5(12), "Tag": [{"name": 7}]},
                      {"type": "md5", "value": 13},
                      {"type": "md5", "value": md5(14), "Tag": [{"name": "tlp:red"}]}]}})
    te_path = tmp_path / "t.csv"
    te_path.write_text("signal_type,signal_str,collab,category,tags\n"
                       f"md5,{md5(15)},c,,a\n"
                       f"md5,{md5(16)},c,,{'x' * 140_000}\n"
                       f"md5,{md5(17)},c,,b\n")
    expect = {
        stix_path: ({md5(1), md5(4)}, [(2, "labels"), (3, "hashes")]),
        vics_path: ({md5(5), md5(9)}, [(2, "Tags"), (3, "MediaFiles[0]"), (4, "MediaSize")]),
        misp_path: ({md5(14)}, [(1, "Tag[0]"), (2, "Tag"), (3, "Tag[0].name"), (4, "value")]),
        te_path: ({md5(15), md5(17)}, [(3, "field larger than field limit")]),
    }
    for i, (path, (good, bad)) in enumerate(expect.items()):
        _, entries, rejected = read_list(path)
        assert {e.value for e in entries} == good, path.name
        assert [r.line for r in rejected] == [n for n, _ in bad], (path.name, rejected)
        for r, (_, why) in zip(rejected, bad, strict=True):
            assert why in r.reason, (path.name, r.reason)
        res = run(home, "lists", "import", path, "--name", f"l{i}", "--json", ok=(3,))
        out = json.loads(res.stdout)
        assert out["entries"] == len(good)
        assert [r["line"] for r in out["rejected_lines"]] == [n for n, _ in bad]
    assert read_list(misp_path)[1][0].attrs["tlp"] == "red"


def test_nesting_and_bad_utf8_cost_one_entry(tmp_path: Path) -> None:
    # nested 5,000 deep: the old reader built it (quadratic memory: 100,000 deep took more
    # than 24 GB) and then crashed on repr() with RecursionError
    deep = "[" * 5000 + "]" * 5000
    raw = json.dumps({"@odata.context": VICS_CTX, "value": [
        {"MediaID": 1, "MD5": md5(1), "Tags": ["ok-BAD"]},
        {"MediaID": 2, "MD5": md5(2), "MediaFiles": "DEEP"}, {"MediaID": 3, "MD5": md5(3)}]}
    ).replace('"DEEP"', deep)
    path = tmp_path / "v.json"
    path.write_bytes(raw.encode().replace(b"BAD", b"\xff\xfe"))  # not UTF-8
    _, entries, rejected = read_list(path)
    assert {e.value: e.labels for e in entries} == {md5(1): ["ok-\ufffd\ufffd"], md5(3): []}
    assert [(r.line, "nested deeper than 32 levels" in r.reason) for r in rejected] == [
        (2, True)]
    stix_deep = json.dumps(bundle("DEEP", stix_file(4))).replace('"DEEP"', deep)
    (tmp_path / "s.json").write_text(stix_deep)
    _, entries, rejected = read_list(tmp_path / "s.json")
    assert [e.value for e in entries] == [md5(4)] and [r.line for r in rejected] == [1]
    assert "nested deeper" in rejected[0].reason


def test_nesting_a_million_deep_costs_one_item() -> None:
    # through the new stream only: ijson.items needs memory in the square of the depth
    from cairn.lists.formats.jsonstream import Malformed, stream

    deep = b"[" * 1_000_000 + b"]" * 1_000_000
    doc = b'{"x": ' + deep + b', "objects": [' + deep + b', {"a": 1}]}'
    got = list(stream(io.BytesIO(doc), {"objects": "items"}))
    assert [type(v) for _, v in got] == [Malformed, dict] and got[1][1] == {"a": 1}


def test_hashes_must_be_plain_hex(tmp_path: Path) -> None:
    # int(x, 16) takes '0x', signs, '_' and non-ASCII digits: none of them is a digest
    bad = ["0x" + md5(1)[2:], "-" + md5(1)[1:], md5(1)[:10] + "_" + md5(1)[11:],
           "\u0663" + md5(1)[1:]]
    path = tmp_path / "l.csv"
    path.write_text("signal_type,signal_str\n" + "".join(f"md5,{b}\n" for b in bad)
                    + f"md5,{md5(2)}\npdq,{'a5 ' * 21}a\n")
    _, entries, rejected = read_list(path)
    assert [e.value for e in entries] == [md5(2)]
    assert [r.line for r in rejected] == [2, 3, 4, 5, 7]


def test_misp_feed_manifest_cannot_reach_outside_its_folder(tmp_path: Path) -> None:
    outside = tmp_path / "outside.json"
    write(outside, {"Event": {"uuid": "x", "Attribute": [{"type": "md5", "value": md5(1)}]}})
    feed = tmp_path / "feed"
    feed.mkdir()
    write(feed / "manifest.json", {"../outside": {}, str(tmp_path / "outside"): {}})
    _, entries, rejected = read_list(feed)
    assert entries == [] and len(rejected) == 2
    assert all("not a uuid" in r.reason for r in rejected)


# -- 3. CSV injection --------------------------------------------------------------------------
HOSTILE = ["=HYPERLINK(\"http://example.test\")", "+1", "-2+3", "@SUM(A1)", "\tx", "\rx",
           "'=already", "'plain", "plain", "-", ""]


def test_csv_cells_neutralised_and_restored_exactly() -> None:
    from cairn.lists.formats.csvcells import neutral, restore

    for cell in HOSTILE:
        out = neutral(cell)
        assert out[:1] not in ("=", "+", "-", "@", "\t", "\r")
        assert restore(out) == cell
    assert neutral(-5) == -5 and neutral(12) == 12  # numbers Cairn writes stay numbers


def test_te_csv_export_is_neutralised_and_round_trips(tmp_path: Path) -> None:
    home = tmp_path / "home"
    src = tmp_path / "in.csv"
    with src.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["signal_type", "signal_str", "collab", "category", "tags"])
        w.writerow(["md5", md5(1), "=cmd|' /C calc'!A0", "+1", "-x @y"])
        w.writerow(["md5", md5(2), "@evil", "'=q", "plain"])
    run(home, "lists", "import", src, "--name", "l")
    out = tmp_path / "out.csv"
    run(home, "lists", "export", "l", "--format", "te-csv", "-o", out)
    cells = [c for row in csv.reader(out.open(newline="")) for c in row]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@")], cells
    assert "'=cmd|' /C calc'!A0" in cells and "'=q" in cells  # imported as '=q' (see csvcells)
    _, before, _ = read_list(src)
    _, after, _ = read_list(out)
    key = lambda e: (e.value, e.collab, e.category, tuple(e.labels))  # noqa: E731
    assert sorted(map(key, after)) == sorted(map(key, before))


def test_report_csv_is_neutralised() -> None:
    from cairn.cases.report import CSV_COLUMNS, to_csv

    item = {"source": "@exhibit", "path": "=HYPERLINK(\"http://example.test\").jpg",
            "kind": "image", "media_type": "image/jpeg", "size": 10, "md5": md5(1),
            "sha1": None, "sha256": None, "pdq": None,
            "matches": [{"list": "-list", "signal": "md5", "distance": 0,
                         "transform": None}],
            "findings": [], "errors": [{"stage": "+decode", "message": "x"}]}
    rows = list(csv.reader(io.StringIO(to_csv({"items": [item]}))))
    row = dict(zip(CSV_COLUMNS, rows[1], strict=True))
    assert row["path"] == "'=HYPERLINK(\"http://example.test\").jpg"
    assert row["source"] == "'@exhibit" and row["matches"].startswith("'-list:")
    assert row["errors"] == "'+decode: x" and row["size"] == "10"


def test_hashsum_names_cannot_add_lines(tmp_path: Path) -> None:
    rows = [{"signal_type": "md5", "value": md5(1),
             "labels": [f"file:a.jpg\n{md5(2)}  injected.jpg"]}]
    buf = io.StringIO()
    write_hashsum(rows, buf, "md5")
    assert buf.getvalue().count("\n") == 1
    (tmp_path / "x.md5").write_text(buf.getvalue())
    _, entries, _ = read_list(tmp_path / "x.md5")
    assert [(e.value, e.labels) for e in entries] == [
        (md5(1), [f"file:a.jpg\n{md5(2)}  injected.jpg"])]


def test_nsrl_hostile_cells_cost_one_row(tmp_path: Path) -> None:
    import sqlite3

    db = tmp_path / "RDS_hostile.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE FILE (sha256 TEXT, sha1 TEXT, md5 TEXT, crc32 TEXT, "
                "file_name TEXT, file_size INTEGER, package_id INTEGER)")
    con.execute("INSERT INTO FILE VALUES (?,?,?,?,?,?,?)",  # SQLite keeps a BLOB anywhere
                (sha256(1), "", "", "0", b"name\xff", b"\x00", 1))
    con.commit()
    con.close()
    home = tmp_path / "home"
    res = json.loads(run(home, "lists", "import", db, "--name", "n", "--json").stdout)
    assert res["entries"] == 1
    _, (e,), _ = read_list(db)
    assert e.labels == ["file:name\ufffd"] and e.attrs["nsrl"]["file_size"] == "\x00"
    rds2 = tmp_path / "NSRLFile.txt"
    rds2.write_text('"SHA-1","MD5","CRC32","FileName","FileSize","ProductCode",'
                    '"OpSystemCode","SpecialCode"\n'
                    f'"{"A" * 40}","{md5(1)}","0","{"x" * 140_000}","1","1","1",""\n'
                    f'"{"B" * 40}","{md5(2)}","0","b.exe","1","1","1",""\n')
    _, entries, rejected = read_list(rds2)
    assert [e.value for e in entries] == ["b" * 40] and [r.line for r in rejected] == [2]


def test_cli_exports_leave_out_and_count_what_their_marking_cannot_carry(tmp_path: Path
                                                                         ) -> None:
    """`lists export` (te-csv) and `report --format vics` travel under one marking: a RED entry
    of an AMBER list is left out and counted, and only an export marked RED carries it."""
    from cairn.demo import jpeg_bytes, picture

    home, ev = tmp_path / "home", tmp_path / "ev"
    ev.mkdir()
    pics = {name: jpeg_bytes(picture(seed, (96, 64))) for name, seed in (("r.jpg", 1),
                                                                         ("a.jpg", 2))}
    for name, data in pics.items():
        (ev / name).write_bytes(data)
    digest = {n: hashlib.md5(d).hexdigest() for n, d in pics.items()}
    red = stix_file(1, [RED], hashes={"MD5": digest["r.jpg"]})
    amber = stix_file(2, hashes={"MD5": digest["a.jpg"]})
    run(home, "lists", "import", write(tmp_path / "b.json", bundle(red, amber)), "--name", "l",
        "--tlp", "amber")

    out = tmp_path / "l.csv"
    res = run(home, "lists", "export", "l", "--format", "te-csv", "-o", out, "--json")
    assert json.loads(res.stdout)["withheld"] == 1 and "left out 1" in res.stderr
    assert digest["a.jpg"] in out.read_text() and digest["r.jpg"] not in out.read_text()
    run(home, "lists", "export", "l", "--format", "te-csv", "--tlp", "red", "-o", out)
    assert digest["r.jpg"] in out.read_text()

    run(home, "scan", ev, "--case", "c", "--new-case", "--workers", "1", "--json")
    run(home, "rehash", "--case", "c")  # VICS carries exact PDQ only (the scan's is fast)
    res = run(home, "report", "--case", "c", "--format", "vics")
    sent = {m["MD5"].lower() for m in json.loads(res.stdout)["value"][0]["Media"]}
    assert sent == {digest["a.jpg"]} and "left out 1" in res.stderr
    res = run(home, "report", "--case", "c", "--format", "vics", "--tlp", "red")
    sent = {m["MD5"].lower() for m in json.loads(res.stdout)["value"][0]["Media"]}
    assert sent == {digest["a.jpg"], digest["r.jpg"]}


def test_an_export_is_never_marked_weaker_than_its_list(tmp_path: Path) -> None:
    """`--tlp clear` on a RED list wrote every entry as CLEAR: the list's marking is a floor."""
    home = tmp_path / "home"
    src = write(tmp_path / "b.json", bundle(stix_file(1), stix_file(2)))
    run(home, "lists", "import", src, "--name", "l", "--tlp", "red")
    out = tmp_path / "out.json"
    res = run(home, "lists", "export", "l", "--format", "stix", "--tlp", "clear", "-o", out,
              "--json")
    assert json.loads(res.stdout)["tlp"] == "red"
    objs = stix2.parse(out.read_text(), allow_custom=True).objects
    assert {tuple(o.object_marking_refs) for o in objs if o.type == "file"} == {(RED,)}
    csv_out = tmp_path / "out.csv"
    res = run(home, "lists", "export", "l", "--format", "te-csv", "--tlp", "green", "-o",
              csv_out, "--json")
    assert json.loads(res.stdout)["tlp"] == "red" and md5(1) in csv_out.read_text()
