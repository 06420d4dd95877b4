"""`cairn` end to end on a generated exhibit: lists, scan, matches, errors, rescan, reports."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import stat
from pathlib import Path

import pytest

from exhibit import EXPECT_ERRORS, EXPECT_MATCHES, build


def tree_state(root: Path) -> dict[str, tuple]:
    """Every entry's type, size, mtime, mode and content hash: evidence must not change."""
    state = {}
    for dirpath, dirnames, filenames in os.walk(os.fsencode(root)):
        for name in sorted(dirnames + filenames):
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            digest = None
            if stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    digest = hashlib.sha256(f.read()).hexdigest()
            state[p] = (stat.S_IFMT(st.st_mode), st.st_size, st.st_mtime_ns, st.st_mode, digest)
    return state


@pytest.fixture(scope="module")
def scanned(tmp_path_factory):
    from conftest import Cairn

    root = tmp_path_factory.mktemp("case")
    ex = build(root / "data")
    c = Cairn(root / "home")
    before = tree_state(ex["exhibit"])
    imp1 = c.json("lists", "import", ex["lists"] / "known.csv", "--name", "pdqs")
    imp2 = c.json("lists", "import", ex["lists"] / "known.md5", "--name", "md5s")
    c.json("lists", "import", ex["lists"] / "videos.csv", "--name", "videos")
    summary = c.json("scan", ex["exhibit"], "--case", "op-test", "--new-case", "--workers", "2")
    report = json.loads(c.run("report", "--case", "op-test", "--format", "json").stdout)
    return {"c": c, "ex": ex, "before": before, "imports": (imp1, imp2), "summary": summary,
            "report": report, "items": {it["path"]: it for it in report["items"]}}


def test_lists_imported(scanned) -> None:
    imp1, imp2 = scanned["imports"]
    assert imp1["entries"] == 6 and imp1["format"] == "te-csv" and imp1["rejected_lines"] == []
    assert imp2["entries"] == 6 and imp2["format"] == "hashsum"
    shown = scanned["c"].json("lists")
    assert [(x["name"], x["entries"], x["signal_types"]) for x in shown] == [
        ("md5s", 6, {"md5": 6}), ("pdqs", 6, {"pdq": 6}), ("videos", 1, {"vpdq": 1})]


def test_every_planted_copy_and_edit_matches_and_nothing_else(scanned) -> None:
    got = {p: {(m["list"], m["signal"]) for m in it["matches"]}
           for p, it in scanned["items"].items() if it["matches"]}
    assert got == EXPECT_MATCHES


def test_match_details(scanned) -> None:
    items = scanned["items"]
    copy = {m["signal"]: m for m in items["DCIM/copy.jpg"]["matches"]}
    assert copy["pdq"]["distance"] == 0 and copy["pdq"]["transform"] == "none"
    assert copy["md5"]["entry"]["labels"] == ["file:known-00.jpg"]
    assert copy["pdq"]["entry"]["category"] == "1"
    assert copy["pdq"]["entry"]["labels"] == ["known-00"]
    rot = items["DCIM/edit_rot90.png"]["matches"][0]
    assert rot["transform"] in ("rot90", "rot270") and rot["distance"] <= 31
    assert items["DCIM/edit_letterbox.jpg"]["matches"][0]["transform"] == "trim"
    (frame,) = items["Movies/slideshow.mp4"]["matches"]
    assert frame["transform"] == "frame" and 2.0 <= frame["timestamp"] < 4.0
    assert frame["entry"]["labels"] == ["known-00"]
    (video,) = items["Movies/reencoded.mp4"]["matches"]
    assert video["query_percent"] >= 80 and video["target_percent"] >= 80
    assert items["Movies/reencoded.mp4"]["vpdq"]["frames"] == 6
    gif = items["DCIM/copy5.gif"]["matches"][0]
    assert gif["transform"] == "rgb"  # palette images match through their RGB variant
    flip = items["Download/a.zip!/nested.zip!/inner/x.png"]["matches"][0]
    assert flip["transform"] == "flipx" or flip["transform"] == "flipy"


def test_bad_input_becomes_items_with_clear_errors(scanned) -> None:
    items = scanned["items"]
    for path, fragment in EXPECT_ERRORS.items():
        assert path in items, f"{path} was not recorded"
        messages = " | ".join(e["message"] for e in items[path]["errors"])
        assert fragment in messages, f"{path}: {messages!r}"
    # the unsafe member is still hashed: content is evidence even when its name is hostile
    assert items["Download/a.zip!/../../evil.jpg"]["sha256"]
    # errors only where expected (plus the parents of bad members, which stay clean)
    with_errors = {p for p, it in items.items() if it["errors"]}
    assert with_errors == set(EXPECT_ERRORS)


def test_types_come_from_bytes(scanned) -> None:
    items = scanned["items"]
    # scan defaults to fast: JPEGs get fast hashes, other formats exact ones
    assert items["DCIM/copy.jpg"]["pdq"]["mode"] == "fast"
    assert items["DCIM/edit_rot90.png"]["pdq"]["mode"] == "exact"
    assert items["DCIM/notes.txt"]["media_type"] == "image/jpeg"
    assert items["DCIM/notes.txt"]["pdq"]["quality"] >= 50
    assert items["DCIM/copy5.gif"]["media_type"] == "image/gif"
    assert items["DCIM/other.bmp"]["media_type"] == "image/bmp"
    assert items["DCIM/other.tif"]["media_type"] == "image/tiff"
    assert items["Movies/clip.mp4"]["kind"] == "video" and items["Movies/clip.mp4"]["md5"]
    assert items["Download/b.tar"]["media_type"] == "application/x-tar"
    assert items["Download/b.tar!/t/y.jpg"]["pdq"] is not None
    assert items["bad/random.jpg"]["media_type"] == "application/octet-stream"


def test_summary_counts(scanned) -> None:
    s = scanned["summary"]
    assert s["status"] == "complete"
    tot = s["totals"]
    assert tot["videos"] == 4
    assert tot["archives"] == len([p for p in scanned["items"] if p.endswith((".zip", ".tar",
                                                                                ".tar.gz"))])
    assert tot["items_matched"] == len(EXPECT_MATCHES)
    assert tot["items_with_errors"] == len(EXPECT_ERRORS)
    assert tot["files"] == len(scanned["items"]) == s["new_items"]


def test_evidence_is_untouched(scanned) -> None:
    assert tree_state(scanned["ex"]["exhibit"]) == scanned["before"]


def test_rescan_is_idempotent_and_report_deterministic(scanned) -> None:
    c = scanned["c"]
    again = c.json("scan", scanned["ex"]["exhibit"], "--case", "op-test", "--new-case",
                   "--workers", "2")
    assert again["new_items"] == 0
    assert again["skipped_already_recorded"] == again["entries_found"]
    assert again["totals"] == scanned["summary"]["totals"]
    report = json.loads(c.run("report", "--case", "op-test", "--format", "json").stdout)
    assert report["items"] == scanned["report"]["items"]
    assert report["summary"]["scan_runs"] == 2


def test_csv_and_html_reports(scanned, tmp_path: Path) -> None:
    c = scanned["c"]
    c.run("report", "--case", "op-test", "--format", "csv", "-o", tmp_path / "r.csv")
    rows = list(csv.DictReader(io.StringIO((tmp_path / "r.csv").read_text())))
    assert len(rows) == len(scanned["items"])
    by_path = {r["path"]: r for r in rows}
    assert by_path["DCIM/copy.jpg"]["matched"] == "yes"
    assert "pdqs:pdq:d=0:none" in by_path["DCIM/copy.jpg"]["matches"]
    c.run("report", "--case", "op-test", "--format", "html", "-o", tmp_path / "r.html")
    html = (tmp_path / "r.html").read_text()
    assert "<img" not in html and "data:" not in html and "http://" not in html
    assert "<script" not in html
    assert "Fotos/été 🌲.jpg" in html and "zip bomb suspected" in html
    assert f"Matches ({len(EXPECT_MATCHES)} items)" in html
    assert f"Errors ({len(EXPECT_ERRORS)} items)" in html
    assert f"<b>{len(scanned['items'])}</b>items" in html
    assert "built-in method" not in html
    assert "frame at 2." in html or "frame at 3." in html  # the slideshow's matching second


def test_hash_and_match_commands(scanned, tmp_path: Path) -> None:
    c = scanned["c"]
    copy = scanned["ex"]["exhibit"] / "DCIM" / "copy.jpg"
    h = c.json("hash", copy)
    assert h["md5"] == hashlib.md5(copy.read_bytes()).hexdigest()
    assert h["sha256"] == hashlib.sha256(copy.read_bytes()).hexdigest()
    assert h["pdq"]["mode"] == "exact" and len(h["pdq"]["hash"]) == 64
    m = c.json("match", copy)
    assert {(x["list"], x["signal"]) for x in m["matches"]} == {("md5s", "md5"), ("pdqs", "pdq")}
    archive = c.json("match", scanned["ex"]["exhibit"] / "Download" / "a.zip")
    hits = {r["path"].split("a.zip", 1)[1] for r in archive if r["matches"]}
    assert hits == {"!/album/copy.jpg", "!/../../evil.jpg", "!/nested.zip!/inner/x.png"}
    proc = c.run("hash", scanned["ex"]["exhibit"], ok=(2,))
    assert "is a directory" in proc.stderr
    unrelated = scanned["ex"]["exhibit"] / "DCIM" / "unrelated_00.jpg"
    proc = c.run("match", unrelated, ok=(1,))
    assert "no match" in proc.stdout


def test_list_with_bad_lines_imports_valid_ones_and_exits_3(cairn, tmp_path: Path) -> None:
    f = tmp_path / "mixed.csv"
    f.write_text("signal_type,signal_str,collab,category,tags\n"
                 f"pdq,{'ab' * 32},c,1,\n"
                 "pdq,xyz,c,1,\n")
    res = cairn.json("lists", "import", f, "--name", "mixed", ok=(3,))
    assert res["entries"] == 1
    assert res["rejected_lines"][0]["line"] == 3
    proc = cairn.run("lists", "import", f, "--name", "mixed", ok=(2,))
    assert "exists" in proc.stderr
    plain = tmp_path / "plain.txt"
    plain.write_text("ab" * 32 + "\n")
    proc = cairn.run("lists", "import", plain, "--name", "p", ok=(2,))
    assert "--type" in proc.stderr
    cairn.run("lists", "import", plain, "--name", "p", "--type", "pdq")


def test_missing_evidence_and_case_are_clear_errors(cairn, tmp_path: Path) -> None:
    proc = cairn.run("scan", tmp_path / "nope", "--case", "x", "--new-case", ok=(2,))
    assert "evidence not found" in proc.stderr
    proc = cairn.run("report", "--case", "nope", ok=(2,))
    assert "no case named 'nope'" in proc.stderr


def test_rehash_makes_matched_items_exact(scanned) -> None:
    """Matched pictures get an exact PDQ and matched videos an exact vPDQ, from the evidence
    (left as it was), the fast ones kept beside them; the report flags a fast vPDQ until then."""
    from sqlalchemy import select

    from cairn.cases.report import FAST_VPDQ_NOTE
    from cairn.signals.vpdq import to_signal, vpdq_frames
    from cairn.store import schema as t
    from cairn.store.store import Store

    c = scanned["c"]
    ex = scanned["ex"]["exhibit"]
    before = scanned["items"]
    fast_matched = {p for p, it in before.items()
                    if it["matches"] and it["pdq"] and it["pdq"]["mode"] == "fast"}
    fast_videos = {p for p, it in before.items()
                   if it["matches"] and it.get("vpdq") and it["vpdq"]["mode"] == "fast"}
    assert "Download/a.zip!/album/copy.jpg" in fast_matched
    assert {"Movies/reencoded.mp4", "Movies/slideshow.mp4"} <= fast_videos
    for p in fast_videos:  # exported before the rehash: flagged, with the reason
        assert before[p]["vpdq"]["note"] == FAST_VPDQ_NOTE
    res = c.json("rehash", "--case", "op-test")
    assert res["items_needing_exact"] == len(fast_matched | fast_videos)
    assert res["missing"] == [] and res["failed"] == []
    report = json.loads(c.run("report", "--case", "op-test", "--format", "json").stdout)
    after = {it["path"]: it for it in report["items"]}
    for p in fast_matched:
        assert after[p]["pdq"]["mode"] == "exact", p
    assert after["DCIM/copy.jpg"]["pdq"]["hash"] == c.json("hash", ex / "DCIM" / "copy.jpg")[
        "pdq"]["hash"]
    assert after["DCIM/unrelated_00.jpg"]["pdq"]["mode"] == "fast"  # not matched, not redone
    for p in fast_videos:
        v = after[p]["vpdq"]
        exact = vpdq_frames(str(ex / p), mode="exact")
        assert v["mode"] == "exact" and "note" not in v, p
        assert v["signal"] == to_signal(exact) and v["frames"] == len(exact), p
    assert tree_state(ex) == scanned["before"]  # evidence read, never written
    store = Store(f"sqlite:///{c.home / 'cairn.db'}", c.home)  # the CLI's store
    try:
        with store.engine.connect() as conn:
            modes = {m for (m,) in conn.execute(
                select(t.signals.c.mode).where(t.signals.c.signal_type == "vpdq",
                                               t.signals.c.sha256 == after[
                                                   "Movies/reencoded.mp4"]["sha256"]))}
    finally:
        store.close()
    assert modes == {"exact", "fast"}  # the fast one kept: the store's history
    again = c.json("rehash", "--case", "op-test")
    assert again["items_needing_exact"] == 0


def test_atimes_kept_except_where_recorded(scanned) -> None:
    """Run as root every folder and file keeps its atime; a link's readlink cannot, and says so."""
    noted = {p: it["atime_note"] for p, it in scanned["items"].items() if it.get("atime_note")}
    if os.geteuid() == 0:
        assert set(noted) == {"bad/loop", "bad/link.jpg"}
        assert all("readlink" in n for n in noted.values())
    assert scanned["summary"]["totals"]["items_atime_not_kept"] == len(noted)
