"""EWF2 (Ex01) images as sources (issue 19), acquired by libewf's own `ewfacquire` from
benign generated ext4/FAT/GPT disks: every planted picture is found with its path, the stored
MD5/SHA-1 verify, and a corrupted copy fails verification loudly. The maker must be a real
Ex01 writer: Debian's ewf-tools (libewf 20140813) accept `-f encase7-v2` but write an
EnCase 6 file, so the build from tests/ex01_tool.sh (or $CAIRN_EX01_ACQUIRE) is used, each
file checked for the EWF2 signature; without it the tests skip, saying so."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from cairn.media.disk import detect
from cairn.media.disk.images import open_image, open_readonly, verify
from cairn.media.limits import Limits
from cairn.media.walk import walk
from cairn.scan.worker import process_entry
from test_disk_images import (
    _damage_e01,
    check_tree,
    ext_image,
    fat_image,
    gpt_disk,
    make_tree,
    records,
)

BUILT = "/usr/local/lib/cairn-libewf/ewfacquire"


def ex01_acquire() -> str:
    """An `ewfacquire` that writes EWF2: $CAIRN_EX01_ACQUIRE, tests/ex01_tool.sh's build,
    or one on PATH new enough (the file it writes is checked either way)."""
    for tool in (os.environ.get("CAIRN_EX01_ACQUIRE"), BUILT, shutil.which("ewfacquire")):
        if tool and os.access(tool, os.X_OK):
            version = subprocess.run([tool, "-V"], capture_output=True, text=True).stdout
            if "20140813" not in version:  # Debian's: writes EnCase 6 for encase7-v2
                return tool
    pytest.skip("no ewfacquire that writes Ex01 here: run tests/ex01_tool.sh "
                "(Debian's ewf-tools 20140813 writes EnCase 6 for -f encase7-v2)")


def ex01(src: Path, target: Path, *opts: str) -> Path:
    """`src` acquired as an Ex01 by the real tool, MD5 and SHA-1 stored."""
    subprocess.run([ex01_acquire(), "-u", "-q", "-t", str(target), "-f", "encase7-v2",
                    "-d", "sha1", *opts, str(src)], check=True, capture_output=True)
    out = target.with_suffix(".Ex01")
    assert out.read_bytes()[:8] == detect.EX01_MAGIC, "the tool wrote no EWF2 file"
    return out


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tree(tmp_path_factory.mktemp("tree"))


def test_ex01_ext4_every_picture_found_and_verified(tmp_path: Path, tree: Path) -> None:
    part = ext_image(tmp_path / "part.img", tree)
    ev = tmp_path / "ev"
    ev.mkdir()
    img = ex01(part, ev / "stick", "-c", "deflate:best")
    recs = records(img)
    top = recs["stick.Ex01"]
    assert top["kind"] == "disk" and not top["errors"], top["errors"]
    md5 = hashlib.md5(part.read_bytes()).hexdigest()
    sha1 = hashlib.sha1(part.read_bytes()).hexdigest()
    assert f"stored MD5 {md5}, SHA1 {sha1} verified" in top["origin"], top["origin"]
    check_tree(recs, "stick.Ex01!/", tree)
    with open_readonly(os.fsencode(img)) as f, open_image(f, detect.EWF, os.fsencode(img)) as d:
        assert d.format == "Ex01" and d.size == part.stat().st_size
        assert d.stream.read(4096) == part.read_bytes()[:4096]


def test_ex01_multi_segment_gpt_disk(tmp_path: Path, tree: Path) -> None:
    disk = gpt_disk(tmp_path / "disk.img", tree)
    with disk.open("ab") as f:  # past the partitions: data libewf cannot store as a pattern
        f.write(os.urandom(3 << 20))
    ev = tmp_path / "ev"
    ev.mkdir()
    ex01(disk, ev / "laptop", "-c", "deflate:fast", "-S", "1MiB")
    segs = sorted(p.name for p in ev.iterdir())
    assert len(segs) > 2 and segs[1] == "laptop.Ex02", segs
    recs = {r["path"]: r for e in walk(ev) for r in process_entry(e, Limits())}
    top = recs["laptop.Ex01"]
    assert not top["errors"] and f"{len(segs)} segments" in top["origin"], top
    assert "verified" in top["origin"]
    check_tree(recs, "laptop.Ex01!/p1/", tree, deleted="Pictures/_ic3.jpg")
    check_tree(recs, "laptop.Ex01!/p2/", tree)
    assert recs["laptop.Ex02"]["origin"] == \
        "a later segment of the image laptop.Ex01: read with it"


def test_ex01_corrupted_copy_fails_verification_loudly(tmp_path: Path, tree: Path,
                                                        cairn) -> None:
    ev = tmp_path / "exhibit"
    ev.mkdir()
    img = ex01(fat_image(tmp_path / "usb.img", tree), ev / "usb", "-c", "none")
    cairn.run("scan", ev, "--case", "C", "--new-case")
    out = cairn.run("sources", "verify", "--case", "C").stdout
    assert "usb.Ex01: Ex01 stored hashes verified" in out, out
    _damage_e01(img, (tree / "Docs" / "note.txt").read_bytes())  # the note, in the FAT
    with open_readonly(os.fsencode(img)) as f, open_image(f, detect.EWF, os.fsencode(img)) as d:
        res = verify(d)
    assert res["ok"] is False, res
    out = cairn.run("sources", "verify", "--case", "C", ok=(1,)).stdout
    assert "usb.Ex01: Ex01 stored hashes VERIFICATION FAILED" in out, out
    ev2 = tmp_path / "exhibit2"
    ev2.mkdir()
    shutil.copy(img, ev2 / "usb.Ex01")
    recs = records(ev2 / "usb.Ex01")
    errs = [e for e in recs["usb.Ex01"]["errors"] if e["stage"] == "integrity"]
    assert errs and "verification FAILED" in errs[0]["message"], recs["usb.Ex01"]["errors"]


def test_a_truncated_ex01_is_an_error_naming_it(tmp_path: Path, tree: Path) -> None:
    img = ex01(ext_image(tmp_path / "part.img", tree), tmp_path / "src", "-c", "none")
    ev = tmp_path / "ev"
    ev.mkdir()
    data = img.read_bytes()
    (ev / "cut.Ex01").write_bytes(data[: len(data) // 2])  # no tables, no hashes
    recs = records(ev / "cut.Ex01")
    top = recs["cut.Ex01"]
    assert top["kind"] == "disk" and top["errors"], top
    assert any("Ex01" in e["message"] for e in top["errors"]), top["errors"]
