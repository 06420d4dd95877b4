"""HFS+ read through libfshfs, on volumes a real tool makes: xorriso's ISO 9660/HFS+ hybrid
(`-hfsplus on`), whose Apple Partition Map counts 2048-byte blocks; the same HFS+ volume
copied into a GPT partition (sfdisk, Apple's HFS+ type) beside a FAT one, and into an APM
disk of 2048-byte blocks. Every planted picture is found with its path (a non-ASCII name, a
subfolder), its modification time, the symbolic link named; a hybrid lists each file once;
damaged and classic HFS volumes are named errors; an HFS+ volume is read in parts as a
whole read reads it. Skips, naming the tool, when xorriso is missing (.ci/run installs it).
"""

from __future__ import annotations

import io
import os
import struct
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from cairn.media.disk import detect
from cairn.media.disk.apm import apm_entries, map_unit
from cairn.media.disk.volumes import VolumeError, volumes
from cairn.media.limits import Limits
from cairn.media.walk import walk
from cairn.scan.units import plan_entry
from test_disk_images import check_tree, fat_image, need, records, sh, sha, tree  # noqa: F401
from test_image_parts import CARVE, SMALL, _rows, _scan

MTIME = 1583298367  # 2020-03-04T05:06:07Z, set on a.jpg before imaging
PICTURES = ["Pictures/a.jpg", "Pictures/Été à Zürich.jpg", "Pictures/Holiday 2019/b.png"]
LINK = "Pictures/lien été.jpg"  # no data: a hybrid's two trees are matched by name
HFS_GUID = "48465300-0000-11AA-AA11-00306543ECAC"  # Apple HFS/HFS+ (GPT)


@pytest.fixture(scope="module")
def mac_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Benign pictures: gradients with a coloured corner, each distinct; a relative link."""
    root = tmp_path_factory.mktemp("mac")
    (root / "Pictures" / "Holiday 2019").mkdir(parents=True)
    for i, rel in enumerate(PICTURES):
        im = Image.linear_gradient("L").resize((80 + i, 60)).convert("RGB")
        im.paste((200 - 60 * i, 40 * i, 90), (0, 0, 24, 24))
        im.save(root / rel)
    os.utime(root / PICTURES[0], (MTIME, MTIME))
    os.symlink("a.jpg", root / LINK)
    return root


def hybrid(out: Path, src: Path, *opts: str) -> Path:
    need("xorriso")
    sh("xorriso", "-outdev", out, "-hfsplus", "on", "-map", src, "/", *opts, "-commit")
    return out


@pytest.fixture(scope="module")
def disc(tmp_path_factory: pytest.TempPathFactory, mac_tree: Path) -> Path:
    return hybrid(tmp_path_factory.mktemp("disc") / "mac.iso", mac_tree)


def hfs_volume(disc: Path) -> bytes:
    """The HFS+ volume of the hybrid: its Apple_HFS partition's bytes."""
    with disc.open("rb") as f:
        (e,) = [e for e in apm_entries(f) if e.type == "Apple_HFS"]
        f.seek(e.offset)
        return f.read(e.size)


def stored(rel: str, fs: str) -> str:
    """A path as file system `fs` stores it: HFS+ keeps names decomposed (NFD, as macOS
    shows them), and Cairn keeps a name as stored."""
    return unicodedata.normalize("NFD", rel) if fs.startswith("HFS") else rel


def check_mac(recs: dict[str, dict], prefix: str, src: Path, fs: str) -> None:
    """Every picture under `prefix` with its content and path, read from file system `fs`;
    a.jpg's modification time as set; the link named with its target, not followed."""
    for rel in PICTURES:
        r = recs[prefix + stored(rel, fs)]
        assert r["sha256"] == sha(src / rel) and r["kind"] == "image" and r["pdq"], r
        assert r["origin"]["location"].endswith(f"/{fs}/{stored(rel, fs)}"), r["origin"]
        assert r["origin"]["deleted"] is False and not r["errors"], r
    assert recs[prefix + PICTURES[0]]["mtime"] == MTIME
    link = recs[prefix + stored(LINK, fs)]
    assert link["errors"] == [{"stage": "disk",
                               "message": "symbolic link to 'a.jpg'; not followed"}]


def members(recs: dict[str, dict], prefix: str) -> list[str]:
    return sorted(p[len(prefix):] for p in recs if p.startswith(prefix))


# -- the Apple Partition Map ---------------------------------------------------------------
def test_xorriso_map_counts_2048_byte_blocks(disc: Path) -> None:
    """xorriso's map: the driver descriptor says 2048, its entries lie every 2048 bytes and
    count their starts in 2048-byte blocks: the Apple_HFS entry lands on the 'H+' header."""
    with disc.open("rb") as f:
        head = f.read(4096)
        assert map_unit(head) == 2048 and head[512:514] != b"PM"
        entries = apm_entries(f)
        (hfs,) = [e for e in entries if e.type == "Apple_HFS"]
        f.seek(hfs.offset + 1024)
        assert f.read(2) == b"H+"
    assert entries[0].type == "Apple_partition_map" and entries[0].offset == 2048
    assert all(e.offset % 2048 == 0 and e.size > 0 for e in entries)


def apm_disk(parts: list[tuple[int, int, str]], unit: int, spacing: int, blocks: int) -> bytes:
    """An Apple Partition Map whose driver descriptor says `unit` and whose entries lie
    every `spacing` bytes, starts and lengths counted in `spacing`-byte blocks."""
    entries = [(1, len(parts) + 1, "Apple_partition_map"), *parts]
    out = bytearray(struct.pack(">2sHI", b"ER", unit, blocks).ljust(spacing, b"\0"))
    for i, (start, count, ptype) in enumerate(entries):
        out += struct.pack(">2sHIII32s32s", b"PM", 0, len(entries), start, count,
                           f"part{i}".encode(), ptype.encode()).ljust(spacing, b"\0")
    return bytes(out)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from([(512, 512), (1024, 1024), (2048, 2048), (4096, 4096), (2048, 512)]),
       st.lists(st.tuples(st.integers(0, 60), st.integers(1, 40),
                          st.sampled_from(["Apple_HFS", "Apple_Free", "Apple_UNIX_SVR2"])),
                min_size=1, max_size=6))
def test_apm_volumes_are_counted_in_the_maps_blocks(sizes: tuple[int, int],
                                                    spec: list[tuple[int, int, str]]) -> None:
    """Any block size the descriptor says (and a 2048 one whose entries keep 512-byte
    blocks, as some discs do): every partition but the map's own and free space is a volume
    at its start and length in the map's blocks."""
    unit, spacing = sizes
    blocks = 120
    first = len(spec) + 2
    parts = [(first + s, n, t) for s, n, t in spec]
    disk = apm_disk(parts, unit, spacing, blocks).ljust(blocks * spacing, b"\0")
    want = [(s, n, t) for s, n, t in parts if t != "Apple_Free"]
    if not want:
        with pytest.raises(VolumeError, match="APM partition table with no readable"):
            volumes(io.BytesIO(disk), len(disk))
        return
    vols, _ = volumes(io.BytesIO(disk), len(disk))
    assert [(v.name, v.scheme, v.type, v.offset, v.size) for v in vols] == [
        (f"p{i}", "APM", t, s * spacing, n * spacing) for i, (s, n, t) in enumerate(want, 1)]


def test_apm_disk_of_2048_byte_blocks_holding_hfs(tmp_path: Path, disc: Path,
                                                  mac_tree: Path) -> None:
    """A CD-style map (2048-byte blocks, no ISO 9660 beside it) with the HFS+ volume as its
    partition: the disk is recognised and p1's files read as HFS+."""
    vol = hfs_volume(disc)
    count = -(-len(vol) // 2048)
    img = tmp_path / "cd.img"
    img.write_bytes(apm_disk([(4, count, "Apple_HFS")], 2048, 2048, 4 + count)
                    .ljust(4 * 2048, b"\0") + vol.ljust(count * 2048, b"\0"))
    assert detect.disk_type(img.read_bytes()[:4096]) == detect.RAW
    recs = records(img)
    check_mac(recs, "cd.img!/p1/", mac_tree, "HFS+")
    assert members(recs, "cd.img!/p1/") == sorted(stored(p, "HFS+") for p in [*PICTURES, LINK])


# -- a hybrid disc ---------------------------------------------------------------------------
def test_hybrid_disc_lists_each_file_once(disc: Path, mac_tree: Path) -> None:
    """The ISO 9660 and HFS+ trees of the disc are one set of files: each listed once, at
    its path on the disc, read from the ISO 9660 tree; nothing else is an error."""
    recs = records(disc)
    assert recs["mac.iso"]["media_type"] == detect.RAW  # its Apple Partition Map says so
    assert not recs["mac.iso"]["errors"]
    assert members(recs, "mac.iso!/") == sorted([*PICTURES, LINK])
    check_mac(recs, "mac.iso!/", mac_tree, "ISO 9660 (Rock Ridge) + HFS+")


@pytest.mark.parametrize("hidden_from,warned", [("iso_rr:joliet", True), ("hfsplus", False)])
def test_a_file_in_one_tree_only_is_found_once(tmp_path: Path, mac_tree: Path,
                                               hidden_from: str, warned: bool) -> None:
    """A file hidden from the ISO 9660 tree (xorriso's -hide) is still found, through the
    HFS+ tree, with a warning saying so; one hidden from the HFS+ tree is found as any."""
    img = hybrid(tmp_path / "h.iso", mac_tree, "-hide", hidden_from, "/" + PICTURES[1], "--")
    recs = records(img)
    hidden = stored(PICTURES[1], "HFS+" if warned else "ISO")  # the tree it is read from
    assert members(recs, "h.iso!/") == sorted([PICTURES[0], hidden, *PICTURES[2:], LINK])
    r = recs["h.iso!/" + hidden]
    assert r["sha256"] == sha(mac_tree / PICTURES[1]) and r["pdq"]
    note = "only in the disc's HFS+ tree: the ISO 9660 tree does not list this data"
    assert [e["message"] for e in r["errors"]] == ([note] if warned else [])
    assert not any(note in str(recs[p]["errors"]) for p in recs if p != r["path"])


# -- HFS+ as a partition, damaged, HFSX, classic HFS -------------------------------------------
def mac_disk(out: Path, hfs: bytes, tree: Path) -> Path:  # noqa: F811
    """A GPT disk by sfdisk: p1 FAT (the common tree, pic3 deleted), p2 HFS+ (`hfs`)."""
    need("sfdisk")
    fat = fat_image(out.with_suffix(".fat"), tree, "4M")
    sh("truncate", "-s", "8M", out)
    sh("sfdisk", "-q", out, stdin="label: gpt\n"
       "start=2048, size=8192, type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7\n"
       f"start=10240, size=4096, type={HFS_GUID}\n")
    with out.open("r+b") as f:
        f.seek(2048 * 512)
        f.write(fat.read_bytes())
        f.seek(10240 * 512)
        f.write(hfs)
    fat.unlink()
    return out


def catalog(vol: bytes) -> tuple[int, int, int]:
    """The catalog file's offset in the volume, its node size and first leaf node."""
    block = int.from_bytes(vol[1024 + 0x28: 1024 + 0x2C], "big")
    start = int.from_bytes(vol[1024 + 0x120: 1024 + 0x124], "big") * block
    node_size = int.from_bytes(vol[start + 32: start + 34], "big")
    first_leaf = int.from_bytes(vol[start + 24: start + 28], "big")
    return start, node_size, first_leaf


def test_hfs_partition_beside_fat_on_gpt(tmp_path: Path, disc: Path, mac_tree: Path,
                                         tree: Path) -> None:  # noqa: F811
    disk = mac_disk(tmp_path / "disk.img", hfs_volume(disc), tree)
    recs = records(disk)
    check_tree(recs, "disk.img!/p1/", tree, deleted="Pictures/_ic3.jpg")
    check_mac(recs, "disk.img!/p2/", mac_tree, "HFS+")
    assert members(recs, "disk.img!/p2/") == sorted(stored(p, "HFS+")
                                                    for p in [*PICTURES, LINK])
    assert recs["disk.img!/p2/Pictures/a.jpg"]["origin"]["location"] == \
        "disk.img/p2/HFS+/Pictures/a.jpg"


def test_damaged_catalog_header_is_a_named_error(tmp_path: Path, disc: Path,
                                                 tree: Path) -> None:  # noqa: F811
    vol = bytearray(hfs_volume(disc))
    start, node_size, _ = catalog(bytes(vol))
    vol[start: start + node_size] = bytes(node_size)  # the catalog's B-tree header node
    recs = records(mac_disk(tmp_path / "bad.img", bytes(vol), tree))
    check_tree(recs, "bad.img!/p1/", tree, deleted="Pictures/_ic3.jpg")  # the rest is read
    assert members(recs, "bad.img!/p2/") == ["$volume"]
    (err,) = recs["bad.img!/p2/$volume"]["errors"]
    assert err["message"].startswith("volume p2 (GPT "), err
    assert "HFS+ volume unreadable (libfshfs): " in err["message"]
    assert "catalog B-tree" in err["message"]


def test_damaged_catalog_leaf_is_said_not_silent(tmp_path: Path, disc: Path) -> None:
    """Part of a leaf node zeroed: libfshfs lists fewer files without an error; the volume
    header's counts show the shortfall, and it is a named error."""
    vol = bytearray(hfs_volume(disc))
    start, node_size, leaf = catalog(bytes(vol))
    at = start + leaf * node_size
    vol[at + 512: at + 1024] = bytes(512)
    img = tmp_path / "leaf.img"
    img.write_bytes(bytes(vol))
    recs = records(img)
    found = [p for p in members(recs, "leaf.img!/") if p != "$volume"]
    assert len(found) < len(PICTURES) + 1
    msgs = [e["message"] for e in recs["leaf.img!/$volume"]["errors"]]
    assert any("volume header counts 4 file(s) and 2 folder(s)" in m and "missing" in m
               for m in msgs), msgs


def test_hfsx_is_read_and_named(tmp_path: Path, disc: Path, mac_tree: Path) -> None:
    """HFSX is HFS+ with an 'HX' signature (version 5): the same volume so marked is read
    and its items say HFSX."""
    vol = bytearray(hfs_volume(disc))
    vol[1024:1028] = b"HX\x00\x05"
    img = tmp_path / "x.img"
    img.write_bytes(bytes(vol))
    recs = records(img)
    check_mac(recs, "x.img!/", mac_tree, "HFSX")


def test_classic_hfs_is_a_named_error(tmp_path: Path) -> None:
    need("hformat")
    img = tmp_path / "old.img"
    sh("truncate", "-s", "4M", img)
    sh("hformat", "-l", "Old", img)
    recs = records(img)
    assert recs["old.img"]["media_type"] == detect.RAW
    assert [e["message"] for e in recs["old.img!/$volume"]["errors"]] == [
        "the disk: classic HFS (Mac OS Standard) file system: recognised, not read (libfshfs, "
        "Cairn's HFS reader, reads HFS+ and HFSX only)"]


# -- parts ---------------------------------------------------------------------------------
def test_hfs_volume_in_parts_records_a_whole_read(tmp_path: Path, disc: Path,
                                                  tree: Path) -> None:  # noqa: F811
    """The GPT disk read in parts (a lowered split) records exactly what a whole read does;
    the HFS+ volume takes several parts of its own, its carving part says it is not
    carved."""
    folder = tmp_path / "exhibit"
    folder.mkdir()
    mac_disk(folder / "disk.img", hfs_volume(disc), tree)
    (image,) = list(walk(folder))
    parts = plan_entry(image, Limits(), CARVE, SMALL)
    assert sum(1 for p in parts if p.volume == 1 and not p.carve) >= 2, parts
    whole = _scan(tmp_path / "whole", tree, folder, False)
    split = _scan(tmp_path / "split", tree, folder, SMALL)
    assert whole["status"] == split["status"] == "complete"
    a, b = _rows(tmp_path / "whole"), _rows(tmp_path / "split")
    assert b == a and len({(r["path"], r["ordinal"]) for r in b}) == len(b)
    assert sum(r["path"].startswith("disk.img!/p2/Pictures/") for r in a) == len(PICTURES) + 1
    (carve,) = [r for r in a if r["path"] == "disk.img!/p2/$unallocated"]
    assert "free space of HFS+ not mapped yet; not carved" in str(carve)
