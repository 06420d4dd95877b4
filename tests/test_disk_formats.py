"""Apple disk formats, built by Debian's own tools (`mkapfs` from apfsprogs, `parted` for an
Apple Partition Map, mtools for the FAT in it) from benign generated pictures: an APM disk's
pictures are found with their paths; an APFS volume's files are read (written into mkapfs's
volume by tests/apfs_fixture.py), an encrypted volume and a damaged container are named
errors. A test whose tool is missing here skips, naming it (.ci/run installs them all)."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import apfs_fixture
from apfs_fixture import fletcher64
from cairn.media.disk import detect
from cairn.media.disk.filesystems import FsError, open_fs
from cairn.media.disk.volumes import VolumeError, volumes
from cairn.media.limits import Limits
from cairn.media.walk import walk
from cairn.scan.worker import HashOptions, process_entry
from test_disk_images import check_tree, fat_image, gpt_disk, make_tree, need, records, sh

MiB = 1 << 20
APFS_BLOCK = 4096
APSB_FLAGS = 264  # apfs_superblock_t.apfs_fs_flags (Apple's APFS Reference)
APFS_FS_UNENCRYPTED = 0x1


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tree(tmp_path_factory.mktemp("tree"))


# -- APFS ----------------------------------------------------------------------------------
def apfs_container(out: Path, label: str = "Exhibit") -> Path:
    """An APFS container with one empty volume, as `mkapfs` makes it (128 MiB, sparse:
    mkapfs refuses smaller containers)."""
    need("mkapfs")
    sh("truncate", "-s", "128M", out)
    sh("mkapfs", "-L", label, out)
    return out


def mark_encrypted(img: Path) -> int:
    """Clear APFS_FS_UNENCRYPTED in every volume superblock (`APSB`) and re-checksum it,
    as a FileVault volume's superblock reads; the number of superblocks changed."""
    data = bytearray(img.read_bytes())
    n = 0
    for at in range(0, len(data), APFS_BLOCK):
        if data[at + 32: at + 36] != b"APSB":
            continue
        block = data[at: at + APFS_BLOCK]
        assert block[:8] == fletcher64(bytes(block))  # the checksum is the one we compute
        flags = int.from_bytes(block[APSB_FLAGS: APSB_FLAGS + 8], "little")
        block[APSB_FLAGS: APSB_FLAGS + 8] = (flags & ~APFS_FS_UNENCRYPTED).to_bytes(8, "little")
        block[:8] = fletcher64(bytes(block))
        data[at: at + APFS_BLOCK] = block
        n += 1
    img.write_bytes(bytes(data))
    return n


def test_empty_apfs_volume_is_opened_and_walked(tmp_path: Path) -> None:
    """mkapfs can only make an empty volume (apfsprogs has no tool that adds files, and no
    maintained library writes APFS): the container is read, its volume found by name, and
    the walk gives no file and no error, where an unread APFS used to be an error item."""
    img = apfs_container(tmp_path / "mac.img", "Exhibit")
    with img.open("rb") as f:
        head = f.read(4096)
        assert detect.disk_type(head) == detect.RAW
        assert detect.file_system_at(head) == "APFS"
        fs = open_fs(f)
        assert fs.name == "APFS"
        assert [name for name, _ in fs.volumes] == ["Exhibit"]  # type: ignore[attr-defined]
        assert list(fs.files()) == [] and fs.notes == []
        assert fs.unallocated() is None  # free space not mapped: --carve says so
    recs = records(img)
    assert list(recs) == ["mac.img"] and recs["mac.img"]["kind"] == "disk"
    assert not recs["mac.img"]["errors"]


def apfs_tree(tree: Path) -> dict[str, bytes]:
    files = {f"Pictures/pic{i}.jpg": (tree / "Pictures" / f"pic{i}.jpg").read_bytes()
             for i in range(3)}
    files["Docs/sub/green.png"] = (tree / "Docs" / "sub" / "green.png").read_bytes()
    files["Docs/note.txt"] = (tree / "Docs" / "note.txt").read_bytes()
    files["Pictures/café.jpg"] = files["Pictures/pic1.jpg"]  # a name hashed from its NFD
    return files


def test_apfs_volume_files_are_read(tmp_path: Path, tree: Path) -> None:
    """Pictures, a nested folder, a non-ASCII name and a symbolic link written into the
    volume mkapfs made (tests/apfs_fixture.py: the tree records of Apple's APFS Reference):
    every picture is found under the volume's name with its content, the link is said."""
    img = apfs_container(tmp_path / "mac.img", "Exhibit")
    apfs_fixture.plant(img, apfs_tree(tree), {"Pictures/latest.jpg": "pic0.jpg"})
    recs = records(img)
    check_tree(recs, "mac.img!/Exhibit/", tree)
    r = recs["mac.img!/Exhibit/Pictures/pic0.jpg"]
    assert r["origin"] == {"container": "disk image", "deleted": False, "carved": False,
                           "location": "mac.img/APFS/Exhibit/Pictures/pic0.jpg"}
    assert r["mtime"] == apfs_fixture.NS / 1e9
    cafe = recs["mac.img!/Exhibit/Pictures/café.jpg"]
    assert cafe["sha256"] == recs["mac.img!/Exhibit/Pictures/pic1.jpg"]["sha256"]
    assert recs["mac.img!/Exhibit/Docs/note.txt"]["kind"] != "image"
    (link,) = recs["mac.img!/Exhibit/Pictures/latest.jpg"]["errors"]
    assert link["message"] == "symbolic link to 'pic0.jpg'; not followed"
    assert [p for p, r in recs.items() if r["errors"]] == ["mac.img!/Exhibit/Pictures/latest.jpg"]
    apfs_fixture.snapshot(img, "com.apple.TimeMachine.2024-01-10-090000.local")
    recs = records(img)
    check_tree(recs, "mac.img!/Exhibit/", tree)  # its files as before, and a note:
    (err,) = recs["mac.img!/$volume"]["errors"]
    assert err["message"] == ("APFS volume 'Exhibit' has 1 snapshot(s): only its current "
                              "state is read (files deleted since a snapshot are not)")
    (entry,) = list(walk(img))  # --carve: APFS free space is not mapped, and that is said
    carve = {r["path"]: r for r in process_entry(entry, Limits(), HashOptions(carve=True))}
    assert carve["mac.img!/$unallocated"]["errors"][0]["message"] == \
        "free space of APFS not mapped yet; not carved"


def test_encrypted_apfs_volume_is_a_named_error(tmp_path: Path, tree: Path) -> None:
    img = apfs_container(tmp_path / "fv.img", "Locked")
    apfs_fixture.plant(img, apfs_tree(tree))
    assert mark_encrypted(img) >= 1
    recs = records(img)
    assert sorted(recs) == ["fv.img", "fv.img!/$volume"]  # nothing read from it
    (err,) = recs["fv.img!/$volume"]["errors"]
    assert "APFS container with no readable volume" in err["message"]
    assert "APFS volume 'Locked' is encrypted (FileVault)" in err["message"]


def test_damaged_apfs_container_is_a_named_error(tmp_path: Path) -> None:
    img = apfs_container(tmp_path / "cut.img")
    data = bytearray(img.read_bytes()[:64 * APFS_BLOCK])
    data[40:48] = b"\xff" * 8  # nx_block_size and nx_block_count: nonsense, bad checksum
    img.write_bytes(bytes(data))
    recs = records(img)
    (err,) = recs["cut.img!/$volume"]["errors"]
    assert err["message"] == ("the disk: APFS file system unreadable: Error: Invalid "
                              "nx_superblock checksum"), err


# -- APM -----------------------------------------------------------------------------------
def test_apm_disk_with_a_fat_partition(tmp_path: Path, tree: Path) -> None:
    """An Apple Partition Map by parted (`mklabel mac`), a FAT partition in it made by
    mkfs.vfat/mtools: every picture is found under p1 with its path; the map's own entry
    and the free-space entries are not volumes."""
    need("parted")
    disk = tmp_path / "mac.dmg"
    sh("truncate", "-s", "12M", disk)
    sh("parted", "-s", disk, "mklabel", "mac", "mkpart", "primary", "fat32", "1MiB", "9MiB")
    fat = fat_image(tmp_path / "p.fat", tree, "8M")
    with disk.open("r+b") as f:
        f.seek(MiB)
        f.write(fat.read_bytes())
    recs = records(disk)
    assert recs["mac.dmg"]["media_type"] == detect.RAW
    check_tree(recs, "mac.dmg!/p1/", tree, deleted="Pictures/_ic3.jpg")
    assert recs["mac.dmg!/p1/Pictures/pic0.jpg"]["origin"]["location"] == \
        "mac.dmg/p1/FAT12/Pictures/pic0.jpg"
    assert not any(p.startswith("mac.dmg!/p2") for p in recs)
    assert not any(r["errors"] for r in recs.values())


def apm(parts: list[tuple[int, int, str]], blocks: int) -> bytes:
    """An Apple Partition Map (Inside Macintosh: Devices, "Partition Map"): block 0 the
    driver descriptor ('ER', block size 512, block count), then one 512-byte 'PM' entry per
    partition from block 1 (pmMapBlkCnt, pmPyPartStart, pmPartBlkCnt, pmPartName,
    pmParType), the map's own entry first as Apple writes it."""
    entries = [(1, len(parts) + 1, "Apple_partition_map")] + parts
    out = bytearray(struct.pack(">2sHI", b"ER", 512, blocks).ljust(512, b"\0"))
    for i, (start, count, ptype) in enumerate(entries):
        name = f"part{i}".encode()
        out += struct.pack(">2sHIII32s32s", b"PM", 0, len(entries), start, count, name,
                           ptype.encode()).ljust(512, b"\0")
    return bytes(out)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 300), st.integers(1, 200),
                          st.sampled_from(["Apple_HFS", "Apple_UNIX_SVR2", "DOS_FAT_32",
                                           "Apple_Free", "Apple_APFS"])),
                min_size=1, max_size=8))
def test_apm_volumes_follow_the_map(spec: list[tuple[int, int, str]]) -> None:
    """Any map: every entry but the map's own and free space is a volume, named p1, p2 ...
    in the map's order, at its start and length (in 512-byte blocks); one that starts past
    the disk's end is a note, one that runs past it is cut there and noted."""
    blocks = 400
    first = len(spec) + 2  # partitions after the map's own blocks
    parts = [(first + s, n, t) for s, n, t in spec]
    disk = io.BytesIO(apm(parts, blocks).ljust(blocks * 512, b"\0"))
    want = [(s, n, t) for s, n, t in parts if t != "Apple_Free"]
    try:
        vols, notes = volumes(disk, blocks * 512)
    except VolumeError as e:  # nothing readable: said, and only then
        assert all(s >= blocks for s, _, _ in want), e
        return
    inside = [(s, n, t) for s, n, t in want if s < blocks]
    assert [(v.name, v.scheme, v.type, v.offset) for v in vols] == \
        [(f"p{i}", "APM", t, s * 512) for i, (s, _, t) in enumerate(inside, 1)]
    assert [v.size for v in vols] == [min(n, blocks - s) * 512 for s, n, _ in inside]
    assert len(notes) == sum(1 for s, n, _ in want if s + n > blocks)


def test_apm_volume_of_zeros_is_an_error_not_silence(tmp_path: Path) -> None:
    disk = tmp_path / "blank.dmg"
    disk.write_bytes(apm([(8, 64, "Apple_HFS")], 80).ljust(80 * 512, b"\0"))
    recs = records(disk)
    assert "volume starts with zeros" in recs["blank.dmg!/p1/$volume"]["errors"][0]["message"]
    with pytest.raises(FsError):
        open_fs(io.BytesIO(bytes(4096)))


# -- virtual disks beyond the defaults -----------------------------------------------------
@pytest.fixture(scope="module")
def gpt(tmp_path_factory: pytest.TempPathFactory, tree: Path) -> Path:
    return gpt_disk(tmp_path_factory.mktemp("gpt") / "disk.img", tree)


@pytest.mark.parametrize("fmt,ext,opts,media,extents", [
    ("vmdk", "vmdk", ["-o", "subformat=streamOptimized"], detect.VMDK, []),
    ("vmdk", "vmdk", ["-o", "subformat=monolithicFlat"], detect.VMDK, ["vm-flat.vmdk"]),
    ("vmdk", "vmdk", ["-o", "subformat=twoGbMaxExtentSparse"], detect.VMDK, ["vm-s001.vmdk"]),
    ("vmdk", "vmdk", ["-o", "subformat=twoGbMaxExtentFlat"], detect.VMDK, ["vm-f001.vmdk"]),
    ("qcow2", "qcow2", ["-c"], detect.QCOW2, []),
    ("qcow2", "qcow2", ["-o", "compat=0.10"], detect.QCOW2, []),
    ("vhdx", "vhdx", ["-o", "subformat=fixed"], detect.VHDX, []),
    ("vpc", "vhd", ["-o", "subformat=dynamic"], detect.VHD, []),
    ("vdi", "vdi", [], detect.VDI, []),
    ("parallels", "hds", [], detect.PARALLELS, []),
])
def test_virtual_disk_variants(tmp_path: Path, gpt: Path, tree: Path, fmt: str, ext: str,
                               opts: list[str], media: str, extents: list[str]) -> None:
    """qemu-img's other subformats of the same GPT disk (FAT + ext4): every planted picture
    is found once, under the descriptor; an extent file beside a VMDK descriptor is read
    through it and says so, never as a second disk (a flat extent is a raw disk) nor as a
    broken one."""
    need("qemu-img")
    out = tmp_path / f"vm.{ext}"
    sh("qemu-img", "convert", "-q", "-f", "raw", "-O", fmt, *opts, gpt, out)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([out.name, *extents])
    recs = {r["path"]: r for e in walk(tmp_path) for r in process_entry(e, Limits())}
    assert recs[out.name]["media_type"] == media and not recs[out.name]["errors"]
    check_tree(recs, f"{out.name}!/p1/", tree, deleted="Pictures/_ic3.jpg")
    check_tree(recs, f"{out.name}!/p2/", tree)
    for x in extents:
        assert recs[x]["origin"] == f"a later segment of the image {out.name}: read with it"
        assert recs[x]["kind"] == "other" and not recs[x]["errors"]
    assert not any("!" in p and not p.startswith(out.name + "!") for p in recs)
    assert not any(r["errors"] for r in recs.values())


def test_qed_is_a_named_error_never_silence(tmp_path: Path, gpt: Path) -> None:
    """QED (QEMU's enhanced disk): recognised by its magic, no maintained reader: the
    image is an error item naming the format, not an unknown blob."""
    need("qemu-img")
    out = tmp_path / "vm.qed"
    sh("qemu-img", "convert", "-q", "-f", "raw", "-O", "qed", gpt, out)
    (rec,) = records(out).values()
    assert rec["kind"] == "disk" and rec["media_type"] == detect.QED
    assert rec["errors"] == [{"stage": "disk", "message": (
        "QED (QEMU enhanced disk) image: recognised, but Cairn has no reader for it; "
        "convert it with `qemu-img convert -O raw`")}]


def test_fat_short_names_read_as_windows_shows_them(tmp_path: Path) -> None:
    """An 8.3 name is stored upper case; the entry's NT flags say which half was lower
    case (mtools sets them as Windows does): every name reads back as it was written."""
    need("mkfs.vfat", "mcopy")
    names = ["UPPER.JPG", "lower.jpg", "Mixed.Jpg", "base.JPG", "EXT.jpg", "noext"]
    src = tmp_path / "src"
    src.mkdir()
    for i, n in enumerate(names):
        (src / n).write_bytes(bytes([i]) * 10)
    img = tmp_path / "names.img"
    sh("truncate", "-s", "4M", img)
    sh("mkfs.vfat", img)
    sh("mcopy", "-i", img, *sorted(src.iterdir()), "::/")
    recs = records(img)
    assert sorted(p.split("!/", 1)[1] for p in recs if "!/" in p) == sorted(names)


def test_apfs_partition_beside_a_fat_one_on_gpt(tmp_path: Path, tree: Path) -> None:
    """A Mac-style GPT disk by sfdisk: p1 FAT (EFI-like, with the pictures), p2 an APFS
    container (Apple's APFS type GUID) by mkapfs, copied in sparsely: both volumes are
    opened, p1's pictures found, p2 walked without error."""
    need("sfdisk")
    apfs = apfs_container(tmp_path / "c.apfs", "Macintosh HD")
    fat = fat_image(tmp_path / "p1.fat", tree, "4M")
    disk = tmp_path / "mac.img"
    sh("truncate", "-s", "140M", disk)
    sh("sfdisk", "-q", disk, stdin="label: gpt\n"
       "start=2048, size=8192, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B\n"
       "start=10240, size=262144, type=7C3457EF-0000-11AA-AA11-00306543ECAC\n")
    with disk.open("r+b") as f, apfs.open("rb") as src:
        f.seek(2048 * 512)
        f.write(fat.read_bytes())
        for at in range(0, 128 * MiB, MiB):
            chunk = src.read(MiB)
            if chunk.strip(b"\0"):
                f.seek(10240 * 512 + at)
                f.write(chunk)
    recs = records(disk)
    check_tree(recs, "mac.img!/p1/", tree, deleted="Pictures/_ic3.jpg")
    assert not any(p.startswith("mac.img!/p2") for p in recs)  # an empty volume, no error
    assert not any(r["errors"] for r in recs.values())
    with disk.open("rb") as f:
        (vol,) = [v for v in volumes(f, disk.stat().st_size)[0] if v.name == "p2"]
        fs = open_fs(vol.open(f))
        assert fs.name == "APFS" and [n for n, _ in fs.volumes] == ["Macintosh HD"]  # type: ignore[attr-defined]
