"""Thumbnails of items that are not plain files (web/thumbs.py): a zip member and a picture
carved from a disk image's free space are read back through the scan's own readers, in
memory, checked against the item's SHA-256, and leave grey and blurred like any other; the
evidence roots are checked on the archive or image holding them (service/evidence.py).

The evidence is made here: benign noise pictures, a zip holding one, and a FAT image from
which the other was deleted (its clusters free, so only carving finds it), scanned with
`cairn scan --carve` into a real store.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select

from cairn.service.evidence import EvidenceRoots, OutsideRoots
from cairn.store import Store
from cairn.store import schema as t
from cairn.web import data, thumbs
from inprocess import pictures, run


def _rgb(png: bytes | None) -> np.ndarray:
    assert png is not None
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.float64)


def _detail(rgb: np.ndarray) -> float:
    g = rgb.mean(axis=2)
    return float(np.mean(np.abs(-4 * g[1:-1, 1:-1] + g[:-2, 1:-1] + g[2:, 1:-1]
                                + g[1:-1, :-2] + g[1:-1, 2:])))


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _colour(rgb: np.ndarray) -> float:
    return float(np.mean(rgb.max(axis=2) - rgb.min(axis=2)))


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, int]]:
    for tool in ("mkfs.vfat", "mcopy", "mdel"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not installed here (.ci/run installs it)")
    tmp = tmp_path_factory.mktemp("members")
    pics = pictures(tmp / "pics", 2, seed=1800)
    ev = tmp / "evidence"
    ev.mkdir()
    with zipfile.ZipFile(ev / "album.zip", "w") as z:
        z.write(pics / "photo-0.png", "inner/photo-0.png")
    card = ev / "card.img"
    for cmd in (["truncate", "-s", "8M", card], ["mkfs.vfat", "-n", "CARD", card],
                ["mcopy", "-i", card, pics / "photo-1.png", "::/"],
                ["mdel", "-i", card, "::/photo-1.png"]):  # deleted before imaging
        subprocess.run([str(a) for a in cmd], check=True, capture_output=True)
    home = tmp / "home"
    run(home, "cases", "create", "op-members")
    run(home, "scan", ev, "--case", "op-members", "--carve", "--no-progress")
    want = {"zip": _sha(pics / "photo-0.png"), "carved": _sha(pics / "photo-1.png")}
    store = Store.open(home)
    try:
        with store.engine.connect() as c:
            rows = c.execute(select(t.items.c.id, t.items.c.path, t.items.c.sha256)).all()
    finally:
        store.close()
    by = {"zip": [i for i, p, sha in rows if sha == want["zip"]],
          "carved": [i for i, p, sha in rows if sha == want["carved"] and "$unallocated/0x" in p],
          # its FAT entry, marked deleted, still points at the clusters: found that way too
          "deleted": [i for i, p, sha in rows if sha == want["carved"]
                    and p.endswith("/_hoto-1.png")]}
    assert all(len(v) == 1 for v in by.values()), rows
    ids = {k: v[0] for k, v in by.items()}
    return home, ev, ids


@pytest.mark.parametrize("which", ["zip", "carved", "deleted"])
def test_a_member_has_a_grey_blurred_thumbnail_and_a_clear_one_on_reveal(
        scanned: tuple[Path, Path, dict[str, int]], which: str) -> None:
    home, _, ids = scanned
    store = Store.open(home)
    try:
        found = data.item_file(store, ids[which])
        assert found is not None
        _, item = found
        assert b"\0" in item.raw_path  # not a plain file
        clear = thumbs.thumbnail(store.home, item, variant="clear")
        blurred = thumbs.thumbnail(store.home, item)
        assert clear is not None and blurred is not None
        c, b = _rgb(clear), _rgb(blurred)
        assert _colour(c) > 40 and _colour(b) < 1  # noise in colour; grey
        assert _detail(b) < _detail(c) / 4  # and blurred
        cached = thumbs.cache_path(store.home, item.sha256 or "", "blur")
        assert cached.read_bytes() == blurred  # cached in the store's home, not the evidence
        # bytes that are no longer the item's give no picture, never another one
        other = thumbs.ItemFile(item.location, item.raw_path, "0" * 64, item.kind, item.size)
        assert thumbs.thumbnail(None, other, variant="clear") is None
    finally:
        store.close()


def test_evidence_roots_are_checked_on_the_archive_or_image_holding_a_member(
        scanned: tuple[Path, Path, dict[str, int]], tmp_path: Path) -> None:
    home, ev, ids = scanned
    store = Store.open(home)
    try:
        items = [data.item_file(store, ids[k]) for k in ("zip", "carved")]
    finally:
        store.close()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for found in items:
        assert found is not None
        item = found[1]
        EvidenceRoots.parse([ev]).check_file("op-members", item.location, item.raw_path)
        EvidenceRoots().check_file("op-members", item.location, item.raw_path)  # its source
        with pytest.raises(OutsideRoots):
            EvidenceRoots.parse([f"op-members={elsewhere}"]).check_file(
                "op-members", item.location, item.raw_path)
