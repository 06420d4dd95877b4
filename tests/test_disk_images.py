"""Disk images as sources, built by the real tools (mkfs.vfat/mtools, mkfs.ext4/debugfs,
mkntfs/ntfscp, sfdisk, ewfacquire, qemu-img) from benign generated pictures: every planted
picture is found with its path, deleted ones are found and marked, E01 stored hashes are
verified (and a damaged one fails), a broken image is an error and the scan goes on, and
nothing under the evidence changes. A test whose tool is missing here skips, naming it
(.ci/run installs them all)."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shlex
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PIL import Image

from cairn.media.disk import detect
from cairn.media.limits import Limits
from cairn.media.walk import walk
from cairn.scan.worker import HashOptions, process_entry
from inprocess import scan_report

MiB = 1 << 20


def need(*tools: str) -> None:
    for tool in tools:
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not installed here (.ci/run installs it)")


def sh(*args: str | Path, stdin: str | None = None) -> None:
    subprocess.run([str(a) for a in args], check=True, input=stdin, text=True,
                   capture_output=True)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tree(tmp_path_factory.mktemp("tree"))


def make_tree(root: Path) -> Path:
    """Benign pictures: flat colour fields with a gradient, each distinct."""
    (root / "Pictures").mkdir()
    (root / "Docs" / "sub").mkdir(parents=True)
    for i in range(4):
        im = Image.linear_gradient("L").resize((96 + i, 64)).convert("RGB")
        im.paste((40 * i, 120, 200 - 30 * i), (0, 0, 30, 30))
        im.save(root / "Pictures" / f"pic{i}.jpg", quality=90)
    Image.new("RGB", (40, 40), (10, 200, 10)).save(root / "Docs" / "sub" / "green.png")
    (root / "Docs" / "note.txt").write_text("benign note\n")
    return root


def records(path: Path) -> dict[str, dict]:
    """Every record of one file of evidence, as a scan's worker makes them, by path."""
    (entry,) = [e for e in walk(path)]
    return {r["path"]: r for r in process_entry(entry, Limits())}


def fat_image(out: Path, tree: Path, size: str = "8M") -> Path:
    need("mkfs.vfat", "mcopy", "mdel")
    sh("truncate", "-s", size, out)
    sh("mkfs.vfat", "-n", "EXHIBIT", out)
    sh("mcopy", "-s", "-i", out, tree / "Pictures", tree / "Docs", "::/")
    sh("mdel", "-i", out, "::/Pictures/pic3.jpg")  # deleted inside the image, before imaging
    return out


def ext_image(out: Path, tree: Path, kind: str = "ext4", size: str = "8M") -> Path:
    need(f"mkfs.{kind}", "debugfs")
    sh("truncate", "-s", size, out)
    sh(f"mkfs.{kind}", "-q", "-d", tree, out)
    sh("debugfs", "-w", "-R", "rm /Pictures/pic3.jpg", out)
    return out


def gpt_disk(out: Path, tree: Path) -> Path:
    """A GPT disk with two partitions: p1 FAT, p2 ext4."""
    need("sfdisk")
    fat = fat_image(out.with_suffix(".fat"), tree, "4M")
    ext = ext_image(out.with_suffix(".ext"), tree, "ext4", "6M")
    sh("truncate", "-s", "12M", out)
    sh("sfdisk", "-q", out, stdin="label: gpt\n"
       "start=2048, size=8192, type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7\n"
       "start=10240, size=12288, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4\n")
    with out.open("r+b") as f:
        f.seek(2048 * 512)
        f.write(fat.read_bytes())
        f.seek(10240 * 512)
        f.write(ext.read_bytes())
    fat.unlink()
    ext.unlink()
    return out


@pytest.fixture(scope="module")
def gpt(tmp_path_factory: pytest.TempPathFactory, tree: Path) -> Path:
    return gpt_disk(tmp_path_factory.mktemp("gpt") / "disk.img", tree)


def check_tree(recs: dict[str, dict], prefix: str, tree: Path,
               deleted: str | None = None) -> None:
    """Every planted picture is found under `prefix` with its content; the deleted one
    (pic3) is found where the file system still describes it, and marked."""
    by_sha = {r.get("sha256"): r for p, r in recs.items() if p.startswith(prefix)}
    for i in range(3):
        name = f"Pictures/pic{i}.jpg"  # FAT: the short name in the case its NT flags give
        r = recs[prefix + name]
        assert r["sha256"] == sha(tree / "Pictures" / f"pic{i}.jpg")
        assert r["kind"] == "image" and r["pdq"], r
        o = r["origin"]
        assert o["container"] == "disk image" and o["location"].endswith(name), o
        assert o["deleted"] is False and o["carved"] is False
    green = recs[prefix + "Docs/sub/green.png"]
    assert green["sha256"] == sha(tree / "Docs" / "sub" / "green.png")
    if deleted is not None:
        r = by_sha[sha(tree / "Pictures" / "pic3.jpg")]
        assert r["path"] == prefix + deleted
        assert r["origin"]["deleted"] is True and r["origin"]["carved"] is False
        assert r["kind"] == "image" and r["pdq"]


def test_fat_deleted_entry_is_found(tmp_path: Path, tree: Path) -> None:
    recs = records(fat_image(tmp_path / "usb.img", tree))
    top = recs["usb.img"]
    assert top["kind"] == "disk" and top["media_type"] == detect.RAW
    assert top["origin"].startswith("raw disk image")
    check_tree(recs, "usb.img!/", tree, deleted="Pictures/_ic3.jpg")
    assert recs["usb.img!/Pictures/_ic3.jpg"]["origin"] == {
        "container": "disk image", "location": "usb.img/FAT12/Pictures/_ic3.jpg",
        "deleted": True, "carved": False}
    assert not any(r["errors"] for r in recs.values())


@pytest.mark.parametrize("kind", ["FAT", "ext2", "ext4"])
def test_carving_free_space_finds_the_deleted_picture(tmp_path: Path, tree: Path,
                                                      kind: str) -> None:
    """`--carve`: pic3.jpg's clusters are free after `mdel` (FAT) or `debugfs rm` (ext:
    its blocks are freed in the group's block bitmap, their bytes left as they were);
    carving them gives the picture back, byte for byte, as a carved item named by its
    offset in the volume."""
    img = (fat_image(tmp_path / "usb.img", tree) if kind == "FAT"
           else ext_image(tmp_path / "usb.img", tree, kind))
    (entry,) = list(walk(img))
    plain = {r["path"] for r in process_entry(entry, Limits())}
    assert not any("$unallocated" in p for p in plain)  # off unless asked for
    recs = {r["path"]: r for r in process_entry(entry, Limits(), HashOptions(carve=True))}
    carved = [r for p, r in recs.items() if "$unallocated/0x" in p]
    want = sha(tree / "Pictures" / "pic3.jpg")
    hit = [r for r in carved if r["sha256"] == want]
    assert len(hit) == 1, [(r["path"], r["size"]) for r in carved]
    assert hit[0]["origin"]["carved"] is True and hit[0]["origin"]["deleted"] is True
    assert hit[0]["kind"] == "image" and hit[0]["pdq"]
    # the allocated pictures are not in free space: carving finds none of them
    live = {sha(tree / "Pictures" / f"pic{i}.jpg") for i in range(3)}
    assert not live & {r["sha256"] for r in carved}


@pytest.mark.parametrize("kind", ["ext2", "ext4"])
def test_ext_deleted_inode_is_found(tmp_path: Path, tree: Path, kind: str) -> None:
    recs = records(ext_image(tmp_path / "part.img", tree, kind))
    check_tree(recs, "part.img!/", tree, deleted=None)
    pic3 = sha(tree / "Pictures" / "pic3.jpg")
    assert not any(r["path"] == "part.img!/Pictures/pic3.jpg" for r in recs.values())
    gone = [r for r in recs.values() if isinstance(r.get("origin"), dict)
            and r["origin"]["deleted"]]
    # debugfs leaves the block map; the name is gone, so the inode names it
    assert [r["sha256"] for r in gone] == [pic3]
    assert gone[0]["path"].startswith("part.img!/$deleted/inode-")
    assert gone[0]["origin"]["location"].startswith(f"part.img/{kind}/$deleted/inode-")


def test_ntfs_files_and_a_deleted_mft_record(tmp_path: Path, tree: Path) -> None:
    need("mkntfs", "ntfscp")
    img = tmp_path / "c.img"
    sh("truncate", "-s", "16M", img)
    sh("mkntfs", "-q", "-F", "-f", img)
    for i in range(4):
        sh("ntfscp", "-q", img, tree / "Pictures" / f"pic{i}.jpg", f"/pic{i}.jpg")
    # ntfs-3g has no offline rm: mark pic3's MFT record not in use, as Windows does on
    # deletion (flags at offset 22; the record's data runs stay, as they do there)
    data = bytearray(img.read_bytes())
    name = "pic3.jpg".encode("utf-16-le")
    at = data.find(name)
    rec = data.rfind(b"FILE0", 0, at)
    assert rec >= 0 and at - rec < 1024
    data[rec + 22] &= 0xFE
    img.write_bytes(bytes(data))
    recs = records(img)
    for i in range(3):
        r = recs[f"c.img!/pic{i}.jpg"]
        assert r["sha256"] == sha(tree / "Pictures" / f"pic{i}.jpg")
        assert r["origin"]["location"] == f"c.img/NTFS/pic{i}.jpg"
        assert not r["origin"]["deleted"]
    gone = recs["c.img!/pic3.jpg"]
    assert gone["origin"]["deleted"] is True
    assert gone["origin"]["location"] == "c.img/NTFS/pic3.jpg"
    assert gone["sha256"] == sha(tree / "Pictures" / "pic3.jpg") and gone["pdq"]


def test_gpt_two_partitions(gpt: Path, tree: Path) -> None:
    recs = records(gpt)
    check_tree(recs, "disk.img!/p1/", tree, deleted="Pictures/_ic3.jpg")
    check_tree(recs, "disk.img!/p2/", tree)
    assert recs["disk.img!/p2/Pictures/pic0.jpg"]["origin"]["location"] == \
        "disk.img/p2/ext4/Pictures/pic0.jpg"


def test_mbr_extended_partition(tmp_path: Path, tree: Path) -> None:
    need("sfdisk")
    fat = fat_image(tmp_path / "fat.part", tree, "4M")
    disk = tmp_path / "mbr.dd"
    sh("truncate", "-s", "8M", disk)
    sh("sfdisk", "-q", disk, stdin="label: dos\nstart=2048, size=2048, type=83\n"
       "start=4096, size=12288, type=5\nstart=6144, size=8192, type=6\n")
    with disk.open("r+b") as f:
        f.seek(6144 * 512)
        f.write(fat.read_bytes())
    recs = records(disk)
    # p1: a Linux partition of zeros (an error naming it); p2: the logical FAT partition
    assert "no file system" in recs["mbr.dd!/p1/$volume"]["errors"][0]["message"]
    check_tree(recs, "mbr.dd!/p2/", tree, deleted="Pictures/_ic3.jpg")


@pytest.mark.parametrize("fmt,ext,media", [("vmdk", "vmdk", detect.VMDK),
                                           ("vpc", "vhd", detect.VHD),
                                           ("vhdx", "vhdx", detect.VHDX),
                                           ("qcow2", "qcow2", detect.QCOW2)])
def test_virtual_disk_formats(tmp_path: Path, gpt: Path, tree: Path, fmt: str, ext: str,
                              media: str) -> None:
    need("qemu-img")
    out = tmp_path / f"vm.{ext}"
    sh("qemu-img", "convert", "-q", "-f", "raw", "-O", fmt, gpt, out)
    recs = records(out)
    assert recs[f"vm.{ext}"]["media_type"] == media
    check_tree(recs, f"vm.{ext}!/p1/", tree, deleted="Pictures/_ic3.jpg")
    check_tree(recs, f"vm.{ext}!/p2/", tree)


def test_fixed_vhd_is_read_as_its_disk(tmp_path: Path, gpt: Path, tree: Path) -> None:
    need("qemu-img")
    out = tmp_path / "fixed.vhd"
    sh("qemu-img", "convert", "-q", "-f", "raw", "-O", "vpc", "-o", "subformat=fixed", gpt, out)
    recs = records(out)
    assert recs["fixed.vhd"]["origin"].startswith("VHD disk image")
    check_tree(recs, "fixed.vhd!/p2/", tree)


def test_split_raw(tmp_path: Path, gpt: Path, tree: Path) -> None:
    need("split")
    sh("split", "-b", "5M", "-d", "-a", "3", "--numeric-suffixes=1", gpt, tmp_path / "disk.")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["disk.001", "disk.002", "disk.003"]
    recs = {r["path"]: r for e in walk(tmp_path) for r in process_entry(e, Limits())}
    assert recs["disk.001"]["origin"].startswith("split raw disk image of 12582912 bytes, "
                                                 "3 segments")
    check_tree(recs, "disk.001!/p1/", tree, deleted="Pictures/_ic3.jpg")
    check_tree(recs, "disk.001!/p2/", tree)
    for later in ("disk.002", "disk.003"):
        assert recs[later]["origin"] == "a later segment of the image disk.001: read with it"
        assert not recs[later]["errors"] and not any(p.startswith(later + "!") for p in recs)


def ewf(src: Path, target: Path, *opts: str) -> Path:
    need("ewfacquire")
    sh("ewfacquire", "-u", "-t", target, "-c", "none", "-f", "encase6", "-d", "sha1", "-q",
       *opts, src)
    return target.with_suffix(".E01")


def test_e01_multi_segment_verified(tmp_path: Path, gpt: Path, tree: Path) -> None:
    e01 = ewf(gpt, tmp_path / "laptop", "-S", "1MiB")
    segs = sorted(p.name for p in tmp_path.iterdir())
    assert len(segs) > 2 and segs[1] == "laptop.E02"
    recs = {r["path"]: r for e in walk(tmp_path) for r in process_entry(e, Limits())}
    top = recs["laptop.E01"]
    assert top["kind"] == "disk" and not top["errors"], top["errors"]
    md5 = hashlib.md5(gpt.read_bytes()).hexdigest()
    sha1 = hashlib.sha1(gpt.read_bytes()).hexdigest()
    assert f"stored MD5 {md5}, SHA1 {sha1} verified" in top["origin"]
    assert f"{len(segs)} segments" in top["origin"]
    check_tree(recs, "laptop.E01!/p1/", tree, deleted="Pictures/_ic3.jpg")
    check_tree(recs, "laptop.E01!/p2/", tree)
    assert recs["laptop.E02"]["origin"] == \
        "a later segment of the image laptop.E01: read with it"
    assert e01.exists()


def _damage_e01(e01: Path, needle: bytes) -> None:
    """Flip one byte of a stored (uncompressed) chunk: the media no longer hash as stored."""
    data = bytearray(e01.read_bytes())
    at = data.find(needle)
    assert at > 0
    data[at + 100] ^= 0xFF
    e01.write_bytes(bytes(data))


def test_e01_hash_mismatch_is_an_error_and_verify_fails(tmp_path: Path, gpt: Path,
                                                        tree: Path, cairn) -> None:
    ev = tmp_path / "exhibit"
    ev.mkdir()
    e01 = ewf(gpt, ev / "laptop")
    cairn.run("scan", ev, "--case", "C", "--new-case")
    out = cairn.run("sources", "verify", "--case", "C").stdout
    assert "laptop.E01: E01 stored hashes verified" in out
    _damage_e01(e01, (tree / "Docs" / "note.txt").read_bytes())  # the note, in p1's FAT
    out = cairn.run("sources", "verify", "--case", "C", ok=(1,)).stdout
    assert "laptop.E01: E01 stored hashes VERIFICATION FAILED" in out
    res = cairn.json("sources", "verify", "--case", "C", ok=(1,))
    (img,) = res[0]["images"]
    assert img["ok"] is False and img["stored"]["md5"] != img["computed"]["md5"]
    # scanned damaged: the image item carries the failure, loudly
    ev2 = tmp_path / "exhibit2"
    ev2.mkdir()
    shutil.copy(e01, ev2 / "laptop.E01")
    recs = records(ev2 / "laptop.E01")
    errs = [e for e in recs["laptop.E01"]["errors"] if e["stage"] == "integrity"]
    assert errs and "verification FAILED" in errs[0]["message"]


def test_broken_images_are_errors_and_the_scan_goes_on(tmp_path: Path, gpt: Path, tree: Path,
                                                       cairn) -> None:
    ev = tmp_path / "ev"
    ev.mkdir()
    e01 = ewf(gpt, tmp_path / "src")
    (ev / "cut.E01").write_bytes(e01.read_bytes()[:200_000])  # truncated mid-chunk
    (ev / "zeros.dd").write_bytes(b"\0" * 510 + b"\x55\xaa" + b"\0" * 4096)
    # an MBR whose only partition starts past the disk's end
    mbr = bytearray(8192)
    mbr[446:462] = bytes([0, 0, 0, 0, 0x83, 0, 0, 0]) + (10**6).to_bytes(4, "little") + \
        (2048).to_bytes(4, "little")
    mbr[510:512] = b"\x55\xaa"
    (ev / "past.dd").write_bytes(bytes(mbr))
    shutil.copy(tree / "Pictures" / "pic0.jpg", ev / "after.jpg")
    rep = scan_report(cairn.home, ev, "C")
    items = {it["path"]: it for it in rep["items"]}
    assert items["after.jpg"]["pdq"] and not items["after.jpg"]["errors"]
    cut = " ".join(e["message"] for p, it in items.items() if p.startswith("cut.E01")
                   for e in it["errors"])
    assert "EWF image unreadable: no complete header, volume and table sections" in cut
    assert "p1 (Linux) starts at byte 512000000, past the disk's end (8192)" in \
        items["past.dd!/$disk"]["errors"][0]["message"]
    assert items["zeros.dd"]["kind"] == "other"  # a lone 0x55AA with no partition: not a disk


def test_unknown_large_container_is_said_not_examined(tmp_path: Path) -> None:
    blob = tmp_path / "blob.bin"
    with blob.open("wb") as f:
        f.write(b"\x8a\x13unknown-format" * 10)
        f.truncate(65 * MiB)  # sparse: no disk is spent on it
    (rec,) = records(blob).values()
    assert rec["kind"] == "other"
    assert any(e["message"].startswith("not examined: unknown container") for e in rec["errors"])
    small = tmp_path / "small.bin"
    small.write_bytes(b"\x8a\x13unknown-format")
    (rec,) = records(small).values()
    assert not rec["errors"]


def test_report_carries_origin_and_evidence_is_untouched(tmp_path: Path, gpt: Path,
                                                         cairn) -> None:
    ev = tmp_path / "ev"
    ev.mkdir()
    ewf(gpt, ev / "laptop", "-S", "4MiB")
    shutil.copy(gpt, ev / "disk.dd")

    def state() -> dict[str, tuple[str, int, int]]:
        return {p.name: (sha(p), p.stat().st_mtime_ns, p.stat().st_size)
                for p in sorted(ev.iterdir())}

    before = state()
    cairn.run("scan", ev, "--case", "C", "--new-case")
    assert state() == before and sorted(os.listdir(ev)) == sorted(before)
    cairn.run("report", "--case", "C", "--format", "csv", "-o", tmp_path / "r.csv")
    cairn.run("report", "--case", "C", "--format", "html", "-o", tmp_path / "r.html")
    with (tmp_path / "r.csv").open(newline="") as f:
        rows = {r["path"]: r for r in csv.DictReader(f)}
    assert json.loads(rows["laptop.E01!/p1/Pictures/_ic3.jpg"]["origin"]) == {
        "container": "disk image", "location": "laptop.E01/p1/FAT12/Pictures/_ic3.jpg",
        "deleted": True, "carved": False}
    assert "disk.dd/p2/ext4/Pictures/pic1.jpg" in (tmp_path / "r.html").read_text()


def readme_block(marker: str) -> list[list[str]]:
    """The commands of the README's fenced block after `marker`, as argument lists (the
    leading `cairn` and trailing comments dropped)."""
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = text.split(marker, 1)[1].split("```", 2)[1]
    cmds = []
    for line in block.splitlines()[1:]:
        args = shlex.split(line, comments=True)
        if args:
            assert args[0] == "cairn", line
            cmds.append(args[1:])
    return cmds


def test_readme_disk_and_phone_demo(tmp_path: Path, gpt: Path, tree: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's commands, literally, on an E01 made by ewfacquire and a UFDR."""
    from cairn.demo_phone import ufdr
    from inprocess import run

    monkeypatch.chdir(tmp_path)
    ewf(gpt, tmp_path / "laptop")
    (tmp_path / "t").mkdir()
    ufdr(tmp_path / "exhibit-09.ufdr", tmp_path / "t")
    cmds = readme_block("tests/test_disk_images.py::test_readme_disk_and_phone_demo")
    assert ["scan", "laptop.E01", "--case", "C", "--device", "D"] in cmds
    assert ["scan", "exhibit-09.ufdr", "--case", "C", "--device", "P"] in cmds
    home = tmp_path / "home"
    outs = [run(home, *c) for c in cmds]
    assert "laptop.E01: E01 stored hashes verified" in "".join(outs)
    rep = json.loads((tmp_path / "C.json").read_text())
    items = {it["path"]: it for it in rep["items"]}
    for i in range(3):
        assert items[f"laptop.E01!/p2/Pictures/pic{i}.jpg"]["pdq"]
    assert "verified" in items["laptop.E01"]["origin"]
    wa = items["exhibit-09.ufdr!/files/Image/IMG-20240107-WA0002.jpg"]
    assert wa["pdq"] and wa["origin"]["container"] == "ufdr"
    devices = json.loads(run(home, "devices", "list", "--case", "C", "--json"))
    sources = {d["id"]: d["sources"] for d in devices}
    assert "laptop.E01" in str(sources["D"]) and "exhibit-09.ufdr" in str(sources["P"])


@pytest.mark.parametrize("opts,prefix", [(("-R", "-J"), ""), ((), "upper")])
def test_iso9660(tmp_path: Path, tree: Path, opts: tuple[str, ...], prefix: str) -> None:
    """genisoimage with Rock Ridge and Joliet (names as written), and plain ISO 9660 level 1
    (8.3 upper-case names, the `;1` version dropped)."""
    need("genisoimage")
    iso = tmp_path / "disc.iso"
    sh("genisoimage", "-quiet", *opts, "-V", "EXHIBIT", "-o", iso, tree)
    recs = records(iso)
    top = recs["disc.iso"]
    assert top["kind"] == "disk" and top["media_type"] == detect.ISO, top
    assert not top["errors"], top["errors"]
    if prefix:
        for i in range(4):
            r = recs[f"disc.iso!/PICTURES/PIC{i}.JPG"]
            assert r["sha256"] == sha(tree / "Pictures" / f"pic{i}.jpg") and r["pdq"]
        assert recs["disc.iso!/PICTURES/PIC0.JPG"]["origin"]["location"] == \
            "disc.iso/ISO 9660/PICTURES/PIC0.JPG"
        assert recs["disc.iso!/DOCS/SUB/GREEN.PNG"]["kind"] == "image"
    else:
        check_tree(recs, "disc.iso!/", tree)
        assert recs["disc.iso!/Pictures/pic3.jpg"]["sha256"] == sha(tree / "Pictures" /
                                                                   "pic3.jpg")
        assert "ISO 9660 (Rock Ridge)" in recs["disc.iso!/Docs/note.txt"]["origin"]["location"]
    assert not any(r["errors"] for r in recs.values()), [r["errors"] for r in recs.values()]


def exfat_image(out: Path, tree: Path) -> Path:
    """An exFAT volume by mkfs.exfat, filled through the kernel's loop device and
    exfat-fuse (exFAT has no mtools-like tool that writes without mounting; this needs
    root), pic3 deleted inside it before the image is read."""
    need("mkfs.exfat", "losetup", "mount.exfat-fuse", "fusermount")
    sh("truncate", "-s", "8M", out)
    sh("mkfs.exfat", "-L", "EXHIBIT", out)
    mnt = out.parent / "mnt"
    mnt.mkdir()
    try:
        loop = subprocess.run(["losetup", "-f", "--show", out], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (subprocess.CalledProcessError, OSError) as e:
        pytest.skip(f"no loop device to fill an exFAT image through (needs root): {e}")
    try:
        try:
            sh("mount.exfat-fuse", loop, mnt)
        except subprocess.CalledProcessError as e:
            pytest.skip(f"exfat-fuse cannot mount here: {e.stderr}")
        try:
            shutil.copytree(tree, mnt, dirs_exist_ok=True)
            (mnt / "Pictures" / "pic3.jpg").unlink()
        finally:
            sh("fusermount", "-u", mnt)
    finally:
        sh("losetup", "-d", loop)
    return out


def test_exfat_files_deleted_entry_and_carving(tmp_path: Path, tree: Path) -> None:
    img = exfat_image(tmp_path / "stick.img", tree)
    recs = records(img)
    assert not recs["stick.img"]["errors"], recs["stick.img"]["errors"]
    check_tree(recs, "stick.img!/", tree, deleted="Pictures/pic3.jpg")
    assert recs["stick.img!/Pictures/pic3.jpg"]["origin"]["location"] == \
        "stick.img/exFAT/Pictures/pic3.jpg"
    (entry,) = walk(img)
    carved = [r for r in process_entry(entry, Limits(), HashOptions(carve=True))
              if isinstance(r.get("origin"), dict) and r["origin"]["carved"]]
    assert sha(tree / "Pictures" / "pic3.jpg") in {r["sha256"] for r in carved}
    assert all(r["path"].startswith("stick.img!/$unallocated/0x") for r in carved)


def test_encrypted_and_unread_volumes_are_named_errors(tmp_path: Path, tree: Path) -> None:
    """BitLocker, HFS+ and APFS volumes (their boot blocks' signatures: no tool here makes
    them) beside a FAT one, on an MBR disk by sfdisk: each unread one is an error item
    naming what it is; the FAT volume is read."""
    need("sfdisk")
    disk = tmp_path / "mixed.dd"
    sh("truncate", "-s", "12M", disk)
    sh("sfdisk", "-q", disk, stdin="label: dos\nstart=2048, size=8192, type=c\n"
       "start=10240, size=2048, type=7\nstart=12288, size=2048, type=af\n"
       "start=14336, size=2048, type=af\n")
    fat = fat_image(tmp_path / "p1.fat", tree, "4M")
    heads = {10240: (3, b"-FVE-FS-"), 12288: (1024, b"H+\x00\x04"), 14336: (32, b"NXSB")}
    with disk.open("r+b") as f:
        f.seek(2048 * 512)
        f.write(fat.read_bytes())
        for lba, (at, magic) in heads.items():
            f.seek(lba * 512 + at)
            f.write(magic)
    recs = records(disk)
    check_tree(recs, "mixed.dd!/p1/", tree, deleted="Pictures/_ic3.jpg")
    errs = {p: r["errors"][0]["message"] for p, r in recs.items() if p.endswith("$volume")}
    assert "BitLocker-encrypted volume: cannot be read without its recovery key" in \
        errs["mixed.dd!/p2/$volume"]
    # HFS+ and APFS magics with no volume behind them: read, and their damage named
    assert "HFS+ volume unreadable (libfshfs): " in errs["mixed.dd!/p3/$volume"]
    assert "APFS file system unreadable" in errs["mixed.dd!/p4/$volume"]


def test_read_ahead_streams_big_members_in_turn_and_raises_late(tmp_path: Path) -> None:
    """Members come in order with their bytes; one over the limit comes without them and
    the reader waits while the caller streams it; a failure of the iteration is raised in
    the caller after the members before it."""
    import io as _io

    from cairn.media.disk.members import DiskMember, read_ahead

    log: list[str] = []

    def opener(name: str, data: bytes) -> Callable[[], _io.BytesIO]:
        def f() -> _io.BytesIO:
            log.append(f"open {name}")
            return _io.BytesIO(data)
        return f

    def members() -> Iterator[DiskMember]:
        for i, size in enumerate((3, 50, 4)):
            log.append(f"next {i}")
            yield DiskMember(f"m{i}", b"m%d" % i, size, None, "o",
                             open=opener(f"m{i}", bytes([i]) * size))
        yield DiskMember("gone", b"gone", None, None, "o", error="not read")
        raise OSError("chunk 7 unreadable")

    got = []
    with pytest.raises(OSError, match="chunk 7 unreadable"):
        for m, data in read_ahead(members(), max_member=10):
            if m.name == "m1":
                assert data is None
                assert log[-1] == "next 1"  # the reader waits: the stream is the caller's
                data = m.open().read()
            got.append((m.name, data))
    assert got == [("m0", b"\0" * 3), ("m1", b"\1" * 50), ("m2", b"\2" * 4), ("gone", None)]


LVM_CONFIG = "global{activation=0} backup{backup=0 archive=0}"  # no device-mapper, no /etc


def lvm_disk(out: Path, tree: Path) -> Path:
    """A whole-disk LVM2 physical volume (pvcreate/vgcreate/lvcreate on a loop device,
    activation off: no device-mapper is needed, or present here), its logical volume's
    extents then filled with an ext4 file system made by mkfs.ext4 -d."""
    need("losetup", "pvcreate", "vgcreate", "lvcreate", "lvs", "pvs", "vgs")
    sh("truncate", "-s", "16M", out)
    try:
        loop = subprocess.run(["losetup", "-f", "--show", out], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (subprocess.CalledProcessError, OSError) as e:
        pytest.skip(f"no loop device for the LVM2 tools (needs root): {e}")

    def lvm(*args: str) -> str:
        return subprocess.run([args[0], "--config", LVM_CONFIG, *args[1:]], check=True,
                              capture_output=True, text=True).stdout.strip()
    try:
        lvm("pvcreate", "-q", loop)
        lvm("vgcreate", "-q", "vgexhibit", loop)
        lvm("lvcreate", "-q", "-an", "-Zn", "-L", "8M", "-n", "home", "vgexhibit")
        pe_start = int(lvm("pvs", "--noheadings", "--units", "b", "--nosuffix", "-o",
                           "pe_start", loop))
        extent = int(lvm("vgs", "--noheadings", "--units", "b", "--nosuffix", "-o",
                         "vg_extent_size", "vgexhibit"))
        ranges = lvm("lvs", "--noheadings", "-o", "seg_pe_ranges", "vgexhibit/home")
    finally:
        sh("losetup", "-d", loop)
    first = int(ranges.split(":")[1].split("-")[0])  # "/dev/loopN:0-1": one linear run
    fs = ext_image(out.with_suffix(".ext"), tree, "ext4", "8M")
    with out.open("r+b") as f:
        f.seek(pe_start + first * extent)
        f.write(fs.read_bytes())
    fs.unlink()
    return out


def test_lvm2_logical_volume_is_read(tmp_path: Path, tree: Path) -> None:
    recs = records(lvm_disk(tmp_path / "server.img", tree))
    assert recs["server.img"]["kind"] == "disk"
    check_tree(recs, "server.img!/vgexhibit-home/", tree)
    assert recs["server.img!/vgexhibit-home/Pictures/pic0.jpg"]["origin"]["location"] == \
        "server.img/vgexhibit-home/ext4/Pictures/pic0.jpg"


def test_e01_chunks_are_inflated_once_when_files_lie_out_of_directory_order(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 19's ext4 E01 gap was suspected to be reads jumping around the image (files
    read in directory order, laid out by mkfs.ext4 -d in its own), each jump inflating a
    chunk again. Measured, it is not so (bench/bench_ingest.py --count-chunks): every file
    is read whole, so each chunk's reads follow one another and the chunk cache absorbs the
    rest. This keeps it so: on an ext4 E01 whose files lie out of directory order, reading
    every member as a scan does (read_ahead) inflates no chunk twice."""
    import random

    from cairn.media.disk import ewf_chunks
    from cairn.media.disk.images import open_image, open_readonly
    from cairn.media.disk.members import iter_disk_members, read_ahead

    need("mkfs.ext4", "debugfs", "ewfacquire")
    src = tmp_path / "files"
    (src / "b").mkdir(parents=True)
    (src / "a").mkdir()
    names = [f"{d}/f{i:02d}.bin" for d in "ab" for i in range(24)]
    random.Random(7).shuffle(names)  # written (and laid out) in another order than read
    want = {}
    for k, name in enumerate(names):
        want[name] = random.Random(k).randbytes(37_000 + 1_000 * k)  # chunks shared by files
        (src / name).write_bytes(want[name])
    raw = tmp_path / "disk.dd"
    sh("truncate", "-s", "8M", raw)
    sh("mkfs.ext4", "-q", raw)  # mkfs.ext4 -d lays files out in name order: written one
    cmds = ["mkdir a", "mkdir b"] + [f"write {src / n} {n}" for n in names]  # by one instead
    sh("debugfs", "-w", "-f", "-", raw, stdin="\n".join(cmds) + "\n")
    e01 = ewf(raw, tmp_path / "disk", "-c", "deflate:fast")

    inflated: dict[int, int] = {}
    load = ewf_chunks.ChunkStream._load

    def counting(self: ewf_chunks.ChunkStream, k: int, last: int) -> list:
        out = load(self, k, last)
        for j in range(k, k + len(out)):
            inflated[j] = inflated.get(j, 0) + 1
        return out

    monkeypatch.setattr(ewf_chunks.ChunkStream, "_load", counting)  # counted, still run
    got, first_block = {}, []
    with open_readonly(bytes(e01)) as f, open_image(f, detect.EWF, bytes(e01)) as img:
        for m, data in read_ahead(iter_disk_members(img, "disk.E01"), 1 << 30):
            if m.open is not None and not m.deleted:
                got[m.name] = data
                first_block.append(m.open.__self__.dataruns()[0][0])  # type: ignore[attr-defined]
    assert got == want
    assert list(got) == sorted(want)  # read in directory order ...
    assert first_block != sorted(first_block)  # ... which is not the order on disk
    assert inflated and max(inflated.values()) == 1, \
        sorted((n, k) for k, n in inflated.items() if n > 1)
