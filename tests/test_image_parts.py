"""A disk image read in parts (scan/units.py) records exactly what a whole read records: the
same items (paths, ordinals, hashes, origins), matches, findings and errors, for a raw ext4
image and an E01 of a GPT disk, carving on; the deleted and carved pictures once each; the
image's own record after every part; a part that kills its worker twice is an error on the
image naming the part, the rest is read, and a rescan reads the image again.

The images are the small ones tests/test_disk_images.py builds; a lowered `Split` makes them
several parts each (in use, an image is split from 256 MiB, in parts of 128 MiB)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from cairn.media.limits import Limits
from cairn.media.walk import walk
from cairn.scan.caps import default_caps
from cairn.scan.isolation import FAULT_ENV, WorkerPool
from cairn.scan.options import HashOptions, Split
from cairn.scan.pipeline import scan
from cairn.scan.units import Unit, plan_entry
from cairn.store import Store
from inprocess import run
from test_disk_images import ewf, ext_image, gpt_disk, sha, tree  # noqa: F401 - a fixture

SMALL = Split(min_image=1, part=1 << 10, most=64)  # a file or two a part
CARVE = HashOptions(carve=True)
IDS = {"id", "source_id", "scan_run_id", "item_id"}  # surrogate keys: differ between stores


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory, tree: Path) -> dict[str, Path]:  # noqa: F811
    """One folder per exhibit: a raw ext4 image; an E01 (two segments) of a FAT+ext4 disk."""
    root = tmp_path_factory.mktemp("parts")
    (root / "raw").mkdir()
    ext_image(root / "raw" / "disk.img", tree, "ext4", "8M")
    (root / "e01").mkdir()
    gpt = gpt_disk(root / "gpt.img", tree)
    ewf(gpt, root / "e01" / "laptop", "-S", "8MiB")
    gpt.unlink()
    return {"raw": root / "raw", "e01": root / "e01"}


def _lists(home: Path, tree: Path) -> None:  # noqa: F811
    """An MD5 list holding pic0.jpg: the match rows are compared too."""
    listed = home.parent / f"{home.name}-md5.txt"
    listed.write_text(hashlib.md5((tree / "Pictures" / "pic0.jpg").read_bytes()).hexdigest())
    run(home, "cases", "create", "c")
    run(home, "lists", "import", listed, "--name", "known", "--format", "plain", "--type",
        "md5")


def _plain(value: object) -> object:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in sorted(value.items()) if k not in IDS}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _rows(home: Path) -> list:
    store = Store.open(home)
    try:
        return [_plain(it) for it in store.records.case_items(store.cases.id("c"))]
    finally:
        store.close()


def _scan(home: Path, tree: Path, folder: Path, split: Split | bool) -> dict:  # noqa: F811
    _lists(home, tree)
    store = Store.open(home)
    try:
        return scan(store, "c", folder, workers=2, options=CARVE, split=split).to_dict()
    finally:
        store.close()


@pytest.mark.parametrize("exhibit", ["raw", "e01"])
def test_parts_record_the_rows_of_a_whole_read(tmp_path: Path, tree: Path,  # noqa: F811
                                               images: dict[str, Path], exhibit: str) -> None:
    folder = images[exhibit]
    image = next(e for e in walk(folder) if e.path.endswith((".img", ".E01")))
    parts = plan_entry(image, Limits(), CARVE, SMALL)
    assert len({p.volume for p in parts}) == (1 if exhibit == "raw" else 2)
    assert sum(p.carve for p in parts) == len({p.volume for p in parts})  # one each
    assert len(parts) >= 4, parts
    assert plan_entry(image, Limits(), CARVE, Split()) == []  # under 256 MiB: read whole

    whole = _scan(tmp_path / "whole", tree, folder, False)
    split = _scan(tmp_path / "split", tree, folder, SMALL)
    assert whole["status"] == split["status"] == "complete"
    assert split["worker_failures"] == 0 and split["new_items"] == whole["new_items"]
    assert split["new_matches"] == whole["new_matches"] == (1 if exhibit == "raw" else 2)
    a, b = _rows(tmp_path / "whole"), _rows(tmp_path / "split")
    assert len(a) >= 9  # the image, 6 files, the deleted inode, the carved picture
    assert b == a

    pic3 = sha(tree / "Pictures" / "pic3.jpg")
    found = [r for r in b if r["sha256"] == pic3]
    carved = [r for r in found if '"carved":true' in (r["origin"] or "")]
    deleted = [r for r in found if '"deleted":true' in (r["origin"] or "")]
    assert len(carved) == (1 if exhibit == "raw" else 2)  # ext4, and FAT+ext4
    assert len(deleted) - len(carved) == (1 if exhibit == "raw" else 2)  # the entry itself
    assert len({(r["path"], r["ordinal"]) for r in b}) == len(b)  # nothing twice


def test_the_image_record_comes_after_every_part(images: dict[str, Path]) -> None:
    entries = list(walk(images["e01"]))
    pool = WorkerPool(2, Limits(), CARVE, default_caps(2), SMALL)
    with pool:
        out = [(recs, done) for recs, done in pool.run(entries) if recs or done]
    paths = [r["path"] for recs, _ in out for r in recs]
    image = paths.index("laptop.E01")
    members = [i for i, p in enumerate(paths) if p.startswith("laptop.E01!/")]
    assert len(members) > 10 and max(members) < image
    assert len(paths) == len(set(paths))  # each once: no part read twice
    recs, done = next(x for x in out if any(r["path"] == "laptop.E01" for r in x[0]))
    assert done and recs[-1]["path"] == "laptop.E01"  # finished with the image's record
    assert "verified" in recs[-1]["origin"] and not recs[-1]["errors"]
    assert sum(done for _, done in out) == len(entries)  # the image counted once


def test_a_part_that_kills_its_worker_is_an_error_on_the_image(
        tmp_path: Path, tree: Path, images: dict[str, Path],  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    folder = images["raw"]
    monkeypatch.setenv(FAULT_ENV, "pic1.jpg:segv")
    summary = _scan(tmp_path / "home", tree, folder, SMALL)
    assert summary["status"] == "complete" and summary["worker_failures"] == 1
    items = {r["path"]: r for r in _rows(tmp_path / "home")}
    top = items["disk.img"]
    said = " | ".join(e["message"] for e in top["errors"])
    assert [e["stage"] for e in top["errors"]] == ["worker"], said
    assert "part " in said and "files " in said and "signal 11 (SIGSEGV)" in said
    assert "again when retried" in said
    for name in ("pic0.jpg", "pic2.jpg"):  # in other parts: read
        assert items[f"disk.img!/Pictures/{name}"]["pdq"]
    assert top["sha256"] == sha(folder / "disk.img")  # the tail still hashed and verified

    monkeypatch.delenv(FAULT_ENV)  # a rescan reads the image again (its record said a
    store = Store.open(tmp_path / "home")  # worker failed) and doubles nothing
    try:
        again = scan(store, "c", folder, workers=2, options=CARVE, split=SMALL).to_dict()
    finally:
        store.close()
    assert again["skipped_already_recorded"] == 0 and again["worker_failures"] == 0
    rows = _rows(tmp_path / "home")
    latest = {r["path"]: r for r in rows}
    assert not latest["disk.img"]["errors"]
    assert len({(r["path"], r["ordinal"], r["version"]) for r in rows}) == len(rows)
    whole = _scan(tmp_path / "whole", tree, folder, False)
    assert whole["new_items"] == len(latest)


def test_units_say_what_they_are(images: dict[str, Path]) -> None:
    image = next(e for e in walk(images["raw"]))
    (first, *_) = plan_entry(image, Limits(), CARVE, SMALL)
    assert Unit(image, first).describe() == f"disk.img ({first.describe()})"
    assert first.describe().startswith(f"part 1 of {first.count} of the disk: files 0-")


def test_one_process_lists_each_volume_once_for_all_its_parts(
        images: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker reading part after part of one image keeps it open with its volumes'
    listings: each volume is listed once, and the records are those of parts each read on
    a fresh opening of the image."""
    from cairn.media.disk import members
    from cairn.scan import units

    image = next(e for e in walk(images["e01"]) if e.path.endswith(".E01"))
    parts = plan_entry(image, Limits(), CARVE, SMALL)

    def read(fresh: bool) -> list:
        out: list = []
        for p in parts:
            if fresh:
                units.release_held()
            units.process_part(image, p, Limits(), CARVE, out)
        units.release_held()
        return [(r["path"], r.get("sha256"), r["errors"]) for r in out]

    listings = []
    listing = members._listing
    monkeypatch.setattr(members, "_listing", lambda fs: listings.append(fs) or listing(fs))
    held = read(fresh=False)
    assert len(listings) == 2  # FAT and ext4, once each
    listings.clear()
    assert read(fresh=True) == held
    assert len(listings) == len(parts)  # every part listed its volume again
