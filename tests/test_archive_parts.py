"""A zip read in parts (scan/units.py, media/zipparts.py) records exactly what a whole read
records: the same items (paths, ordinals, hashes, origins), matches, findings and errors,
for a zip of generated benign pictures holding a nested zip and a repeated member name; the
zip's own record comes after every part; a part that kills its worker twice is an error on
the zip's record naming the part, and the other parts' members are kept.

A lowered `Split` makes the small zip several parts (in use, a zip is split from 256 MiB, in
parts of about 128 MiB of member data)."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest

from cairn.media.limits import Limits
from cairn.media.walk import walk
from cairn.media.zipparts import ZipPart
from cairn.scan.caps import default_caps
from cairn.scan.isolation import FAULT_ENV, WorkerPool
from cairn.scan.options import HashOptions, Split
from cairn.scan.pipeline import scan
from cairn.scan.units import Unit, plan_entry
from cairn.store import Store
from test_disk_images import make_tree, sha
from test_image_parts import _plain, _rows

SMALL = Split(min_image=1, part=1 << 10, most=64)  # a member or two a part
OPTS = HashOptions()


@pytest.fixture(scope="module")
def exhibit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_zip(tmp_path_factory.mktemp("zipparts"))


def build_zip(root: Path) -> Path:
    """`root`/ex holding one zip: pictures, a nested zip of pictures, a name stored twice
    (two different pictures), a folder entry and a note; `root`/tree the files."""
    (root / "tree").mkdir(parents=True)
    tree = make_tree(root / "tree")
    pics = sorted((tree / "Pictures").glob("*.jpg"))
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as z:
        z.write(pics[2], "inner/c.jpg")
        z.write(tree / "Docs" / "sub" / "green.png", "inner/green.png")
    (root / "ex").mkdir()
    with zipfile.ZipFile(root / "ex" / "phone.zip", "w") as z:
        z.writestr("DCIM/", b"")
        z.write(pics[0], "DCIM/a.jpg")
        z.write(pics[1], "DCIM/dup.jpg")
        z.writestr("nested.zip", inner.getvalue())
        z.write(tree / "Docs" / "note.txt", "note.txt")
        z.write(pics[3], "DCIM/b.jpg")
        with pytest.warns(UserWarning, match="Duplicate name"):
            z.write(pics[2], "DCIM/dup.jpg")  # the name again: ordinal 1
        z.write(tree / "Docs" / "sub" / "green.png", "z/green.png")
    return root


def _scan(home: Path, exhibit: Path, split: Split | bool) -> dict:
    md5 = hashlib.md5((exhibit / "tree" / "Pictures" / "pic3.jpg").read_bytes()).hexdigest()
    listed = home.parent / f"{home.name}-md5.txt"
    listed.write_text(md5)
    from inprocess import run

    run(home, "cases", "create", "c")
    run(home, "lists", "import", listed, "--name", "known", "--format", "plain", "--type", "md5")
    store = Store.open(home)
    try:
        return scan(store, "c", exhibit / "ex", workers=2, options=OPTS, split=split).to_dict()
    finally:
        store.close()


def test_the_zip_is_planned_into_parts_by_member_index(exhibit: Path) -> None:
    parts = plan_entry(_entry(exhibit / "ex"), Limits(), OPTS, SMALL)
    assert len(parts) >= 3 and all(isinstance(p, ZipPart) for p in parts)
    assert [p.index for p in parts] == list(range(len(parts)))
    assert all(a.stop == b.first for a, b in zip(parts, parts[1:], strict=False))
    assert sum(p.members for p in parts) == parts[0].total_members == 7  # no folder entry
    assert plan_entry(_entry(exhibit / "ex"), Limits(), OPTS, Split()) == []  # under 256 MiB: whole
    assert Unit(_entry(exhibit / "ex"), parts[0]).describe() == (
        f"phone.zip (part 1 of {len(parts)} of the archive: members 0-{parts[0].stop - 1})")
    # a member stored under a name seen before belongs to that name's first part
    owner = next(p for p in parts if p.first <= 2 < p.stop)
    assert owner.members >= 2


def test_parts_record_the_rows_of_a_whole_read(tmp_path: Path, exhibit: Path) -> None:
    whole = _scan(tmp_path / "whole", exhibit, False)
    split = _scan(tmp_path / "split", exhibit, SMALL)
    assert whole["status"] == split["status"] == "complete"
    assert split["worker_failures"] == 0 and split["new_items"] == whole["new_items"]
    assert split["new_matches"] == whole["new_matches"] == 1
    a, b = _rows(tmp_path / "whole"), _rows(tmp_path / "split")
    assert len(a) == 10  # the zip, 7 members, the nested zip's 2
    assert b == a
    dup = sorted((r["ordinal"], r["sha256"]) for r in b if r["path"] == "phone.zip!/DCIM/dup.jpg")
    pics = exhibit / "tree" / "Pictures"
    assert dup == [(0, sha(pics / "pic1.jpg")), (1, sha(pics / "pic2.jpg"))]
    assert any(r["path"] == "phone.zip!/nested.zip!/inner/c.jpg" and r["pdq"] for r in b)


def test_the_zip_record_comes_after_every_part(exhibit: Path) -> None:
    entries = list(walk(exhibit / "ex"))
    with WorkerPool(2, Limits(), OPTS, default_caps(2), SMALL) as pool:
        out = [(recs, done) for recs, done in pool.run(entries) if recs or done]
    paths = [r["path"] for recs, _ in out for r in recs]
    assert paths[-1] == "phone.zip" and paths.count("phone.zip") == 1
    assert len(paths) == 10
    assert len({(p, paths[:i].count(p)) for i, p in enumerate(paths)}) == 10  # none read twice
    recs, done = out[-1]
    assert done and recs[-1]["path"] == "phone.zip" and not recs[-1]["errors"]
    assert sum(done for _, done in out) == 1
    assert sha(exhibit / "ex" / "phone.zip") == recs[-1]["sha256"]


def test_a_part_that_kills_its_worker_is_an_error_on_the_zip(
        tmp_path: Path, exhibit: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FAULT_ENV, "note.txt:segv")
    summary = _scan(tmp_path / "home", exhibit, SMALL)
    assert summary["status"] == "complete" and summary["worker_failures"] == 1
    items = {(r["path"], r["ordinal"]): _plain(r) for r in _rows(tmp_path / "home")}
    top = items[("phone.zip", 0)]
    said = " | ".join(e["message"] for e in top["errors"])
    assert [e["stage"] for e in top["errors"]] == ["worker"], said
    assert "part " in said and "of the archive: members " in said, said
    assert "signal 11 (SIGSEGV)" in said and "again when retried" in said
    assert top["sha256"] == sha(exhibit / "ex" / "phone.zip")  # the tail still hashed it
    for name in ("DCIM/a.jpg", "DCIM/b.jpg", "z/green.png"):  # in other parts: read
        assert items[(f"phone.zip!/{name}", 0)]["pdq"], name


def test_what_the_whole_read_annotates_or_stops_is_read_whole(tmp_path: Path,
                                                              exhibit: Path) -> None:
    """A UFDR (its report annotates every member), a zip past its budget's member count or
    bytes: not split, so the whole read says what it says; each part's budget is its share."""
    entry = _entry(exhibit / "ex")
    parts = plan_entry(entry, Limits(), OPTS, SMALL)
    size = entry.size or 0
    whole = Limits()
    shares = [p.budget(whole, size).allowance for p in parts]
    assert all(a >= p.data for a, p in zip(shares, parts, strict=True))
    from cairn.media.archives import Budget

    assert sum(shares) <= Budget(whole, size).allowance + len(parts)  # never more in all
    assert plan_entry(entry, Limits(max_members=6), OPTS, SMALL) == []  # it holds 7

    (tmp_path / "ufdr").mkdir()
    with zipfile.ZipFile(tmp_path / "ufdr" / "x.ufdr.zip", "w") as z:
        z.writestr("report.xml", b"<project/>")
        for n in range(4):
            z.writestr(f"files/{n}.bin", bytes([n]) * 4096)
    assert plan_entry(_entry(tmp_path / "ufdr"), Limits(), OPTS, SMALL) == []

    (tmp_path / "zeros").mkdir()
    with zipfile.ZipFile(tmp_path / "zeros" / "z.zip", "w", zipfile.ZIP_DEFLATED) as z:
        for n in range(4):
            z.writestr(f"{n}.bin", bytes(1 << 20))  # 4 MiB from a few KiB
    zeros = _entry(tmp_path / "zeros")
    assert len(plan_entry(zeros, Limits(), OPTS, SMALL)) == 4
    tight = Limits(ratio_floor=1 << 10, max_ratio=2, max_archive_total=1 << 30)
    assert plan_entry(zeros, tight, OPTS, SMALL) == []  # past twice its size: whole


def _entry(folder: Path):  # noqa: ANN202 - a DiskEntry
    return next(e for e in walk(folder))


def test_a_part_past_its_budget_says_so_on_the_zip(tmp_path: Path, exhibit: Path) -> None:
    """A nested zip that inflates past the tree's allowance: the part holding it stops there
    and says so on the zip's record, naming the part (no worker failed); the other parts
    are read. (A whole read stops at the same member, and reads nothing after it.)"""
    pics = sorted((exhibit / "tree" / "Pictures").glob("*.jpg"))
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("zeros.bin", bytes(4 << 20))
    (tmp_path / "ev").mkdir()
    with zipfile.ZipFile(tmp_path / "ev" / "b.zip", "w") as z:
        z.write(pics[0], "a.jpg")
        z.writestr("bomb.zip", bomb.getvalue())
        z.write(pics[1], "c.jpg")
        z.write(pics[2], "d.jpg")
    limits = Limits(max_archive_total=1 << 20)  # 1 MiB for the whole tree
    entry = _entry(tmp_path / "ev")
    assert len(plan_entry(entry, limits, OPTS, SMALL)) >= 3
    with WorkerPool(2, limits, OPTS, default_caps(2), SMALL) as pool:
        recs = [r for batch, _ in pool.run([entry]) for r in batch]
        assert pool.failures == []
    by = {r["path"]: r for r in recs}
    said = by["b.zip"]["errors"]
    assert [e["stage"] for e in said] == ["archive"], said
    message = said[0]["message"]
    assert message.startswith("part ") and "of the archive: members" in message
    assert "share of the file's allowance" in message
    assert by["b.zip!/bomb.zip!/zeros.bin"]["errors"]  # not read: the budget is spent
    assert by["b.zip!/c.jpg"]["pdq"] and by["b.zip!/d.jpg"]["pdq"]  # in other parts: read
