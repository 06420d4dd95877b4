"""Hostile archives (generated here, benign bytes): every reader failure becomes an error on a
member or on the archive, naming what and where; damaged compressed streams never give a
silently wrong hash; budgets hold across nesting; the scan goes on and reruns cleanly."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import lzma
import random
import struct
import tarfile
import zipfile
from pathlib import Path

import pytest

from cairn.demo import jpeg_bytes, picture
from cairn.media.limits import Limits
from cairn.media.walk import walk
from cairn.scan.worker import process_entry
from inprocess import report_json, scan_case

NOISE = random.Random(7).randbytes(6000)  # incompressible: gzip stores it, bytes stay in place


def zip_bytes(members: list[tuple[str | zipfile.ZipInfo, bytes]],
              method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as z:
        for name, data in members:
            z.writestr(name, data)
    return buf.getvalue()


def _member_data_at(zb: bytes, name: str) -> int:
    with zipfile.ZipFile(io.BytesIO(zb)) as z:
        off = z.getinfo(name).header_offset
    n, extra = struct.unpack("<HH", zb[off + 26:off + 30])
    return off + 30 + n + extra


def poke(data: bytes, at: int, value: int | None = None) -> bytes:
    """One byte changed: set to `value`, or flipped."""
    b = bytearray(data)
    b[at] = b[at] ^ 0xFF if value is None else value
    return bytes(b)


def tar_bytes(members: list[tuple[str | bytes, bytes]], mode: str = "w") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode, format=tarfile.GNU_FORMAT) as t:
        for name, data in members:
            ti = tarfile.TarInfo(name if isinstance(name, str) else name.decode(
                "utf-8", "surrogateescape"))
            ti.size, ti.mtime = len(data), 1_700_000_000
            t.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def lzma_zip_corrupt() -> bytes:
    zb = zip_bytes([("ok.txt", b"fine"), ("bad.bin", NOISE)], zipfile.ZIP_LZMA)
    return poke(zb, _member_data_at(zb, "bad.bin") + 9)  # first byte after the LZMA header


def deflate_zip_corrupt() -> bytes:
    zb = zip_bytes([("ok.txt", b"fine"), ("bad.bin", bytes(5000))])
    return poke(zb, _member_data_at(zb, "bad.bin"), 0xFF)  # block type 3: invalid


def gz_corrupt(data: bytes) -> bytes:
    return poke(gzip.compress(data, mtime=0), 10, 0xFF)  # first deflate block: type 3


def zip_version_25_5() -> bytes:
    zb = zip_bytes([("a.txt", b"hello")])
    cd = zb.index(b"PK\x01\x02")
    return poke(zb, cd + 6, 255)  # version needed to extract: 25.5


def zip_empty_name() -> bytes:
    return zip_bytes([("ok.txt", b"fine"), (zipfile.ZipInfo(""), b"nameless")])


def records(path: Path, limits: Limits | None = None) -> dict[str, dict]:
    (entry,) = list(walk(path))
    return {r["path"]: r for r in process_entry(entry, limits or Limits())}


def messages(rec: dict) -> str:
    return " | ".join(e["message"] for e in rec["errors"])


# -- item 2: every exception type is an error on a member or the archive --------------------

def test_corrupt_lzma_member_is_a_member_error(tmp_path: Path) -> None:
    (tmp_path / "x.zip").write_bytes(lzma_zip_corrupt())
    recs = records(tmp_path / "x.zip")
    assert recs["x.zip!/ok.txt"]["sha256"] == hashlib.sha256(b"fine").hexdigest()
    assert "corrupt member: LZMAError" in messages(recs["x.zip!/bad.bin"])
    assert not recs["x.zip"]["errors"]


def test_invalid_deflate_block_in_zip_gz_and_tar_gz(tmp_path: Path) -> None:
    (tmp_path / "x.zip").write_bytes(deflate_zip_corrupt())
    recs = records(tmp_path / "x.zip")
    assert "corrupt member: error: Error -3" in messages(recs["x.zip!/bad.bin"])
    assert recs["x.zip!/ok.txt"]["sha256"]

    (tmp_path / "y.txt.gz").write_bytes(gz_corrupt(b"hello " * 1000))
    recs = records(tmp_path / "y.txt.gz")
    assert "gzip stream" in messages(recs["y.txt.gz"])
    assert "invalid block type" in messages(recs["y.txt.gz"])

    (tmp_path / "z.tar.gz").write_bytes(gz_corrupt(tar_bytes([("a.txt", b"hello")])))
    recs = records(tmp_path / "z.tar.gz")
    assert "invalid block type" in messages(recs["z.tar.gz"])


def test_zip_version_25_5_is_an_archive_error(tmp_path: Path) -> None:
    (tmp_path / "v.zip").write_bytes(zip_version_25_5())
    recs = records(tmp_path / "v.zip")
    assert list(recs) == ["v.zip"]
    assert "not a readable zip archive: NotImplementedError: zip file version 25.5" in messages(
        recs["v.zip"])


def test_zip_member_with_empty_name_is_a_member_error(tmp_path: Path) -> None:
    (tmp_path / "e.zip").write_bytes(zip_empty_name())
    recs = records(tmp_path / "e.zip")
    assert recs["e.zip!/ok.txt"]["sha256"]
    assert "member has an empty name" in messages(recs["e.zip!/"])


# -- item 4: a damaged compressed stream never gives a silently wrong hash -------------------

def test_flipped_byte_in_tar_gz_member_is_flagged(tmp_path: Path) -> None:
    good = gzip.compress(tar_bytes([("a.bin", NOISE), ("b.txt", b"after")]), 0, mtime=0)
    at = good.index(NOISE[1000:1032])  # level 0 stores blocks: the member's bytes as they are
    (tmp_path / "t.tar.gz").write_bytes(poke(good, at))
    recs = records(tmp_path / "t.tar.gz")
    assert recs["t.tar.gz!/a.bin"]["sha256"] != hashlib.sha256(NOISE).hexdigest()
    assert "CRC check failed" in messages(recs["t.tar.gz"])
    for member in ("t.tar.gz!/a.bin", "t.tar.gz!/b.txt"):
        assert "hash may be of damaged bytes" in messages(recs[member])


def test_truncated_tar_gz_is_an_error(tmp_path: Path) -> None:
    good = gzip.compress(tar_bytes([("a.bin", NOISE), ("b.bin", NOISE[::-1])]), mtime=0)
    (tmp_path / "t.tar.gz").write_bytes(good[: len(good) // 2])
    recs = records(tmp_path / "t.tar.gz")
    assert "truncated" in messages(recs["t.tar.gz"])
    assert all("damaged bytes" in messages(r) for p, r in recs.items() if "!/" in p)


def test_intact_compressed_tarballs_carry_no_warning(tmp_path: Path) -> None:
    tb = tar_bytes([("a.bin", NOISE)])
    (tmp_path / "t.tgz").write_bytes(gzip.compress(tb, mtime=0))
    recs = records(tmp_path / "t.tgz")
    assert recs["t.tgz!/a.bin"]["sha256"] == hashlib.sha256(NOISE).hexdigest()
    assert not any(r["errors"] for r in recs.values())


# -- item 5: tar.bz2, tar.xz, .bz2 and .xz are opened ------------------------------------------

@pytest.mark.parametrize("suffix,compress", [(".bz2", bz2.compress), (".xz", lzma.compress)])
def test_bz2_and_xz_tarballs_and_single_files_are_opened(tmp_path: Path, suffix: str,
                                                          compress) -> None:
    jpg = jpeg_bytes(picture(3, (64, 48)))
    (tmp_path / f"t.tar{suffix}").write_bytes(compress(tar_bytes([("d/p.jpg", jpg)])))
    recs = records(tmp_path / f"t.tar{suffix}")
    assert recs[f"t.tar{suffix}"]["kind"] == "archive"
    member = recs[f"t.tar{suffix}!/d/p.jpg"]
    assert member["sha256"] == hashlib.sha256(jpg).hexdigest() and member["pdq"]
    (tmp_path / f"p.jpg{suffix}").write_bytes(compress(jpg))
    recs = records(tmp_path / f"p.jpg{suffix}")
    assert recs[f"p.jpg{suffix}!/p.jpg"]["sha256"] == hashlib.sha256(jpg).hexdigest()
    assert not any(r["errors"] for r in recs.values())


def test_damaged_xz_and_bz2_streams_are_errors(tmp_path: Path) -> None:
    for suffix, compress in ((".bz2", bz2.compress), (".xz", lzma.compress)):
        data = compress(tar_bytes([("a.bin", NOISE)]))
        (tmp_path / f"t.tar{suffix}").write_bytes(poke(data, len(data) // 2))
        recs = records(tmp_path / f"t.tar{suffix}")
        said = messages(recs[f"t.tar{suffix}"])
        assert "stream" in said and ("damaged" in said or "corrupt" in said), said


# -- item 6: one budget for the whole tree under a top-level file ------------------------------

def nested_bomb(levels: int = 3, fanout: int = 16, leaf: int = 1 << 20) -> bytes:
    """42.zip-style: zips of zips of zeros; 16**3 leaves of 1 MiB = 4 GiB from a few KB."""
    data = zip_bytes([("zeros.bin", bytes(leaf))])
    for level in range(levels):
        data = zip_bytes([(f"l{level}-{i:02d}.zip", data) for i in range(fanout)])
    return data


def test_nested_bomb_stops_at_the_tree_budget_and_keeps_what_was_read(tmp_path: Path) -> None:
    bomb = nested_bomb()
    assert len(bomb) < 16_000
    (tmp_path / "42.zip").write_bytes(bomb)
    (entry,) = list(walk(tmp_path / "42.zip"))
    out = process_entry(entry, Limits())
    leaves = [r for r in out if r["path"].endswith("zeros.bin") and r.get("sha256")]
    zeros = hashlib.sha256(bytes(1 << 20)).hexdigest()
    # read until the tree expanded past the ratio floor (16 MiB), not 4 GiB
    assert 1 <= len(leaves) <= 16 and {r["sha256"] for r in leaves} == {zeros}
    top = out[-1]
    assert top["path"] == "42.zip"  # members are appended first, each as it is done
    assert "possible archive bomb" in messages(top)
    assert "rest not read" in messages(top)
    assert sum(r.get("size") or 0 for r in out) < 40 << 20


def test_member_count_budget_spans_nesting(tmp_path: Path) -> None:
    inner = zip_bytes([(f"{i}.txt", b"x") for i in range(6)])
    outer = zip_bytes([(f"in{i}.zip", inner) for i in range(3)])
    (tmp_path / "o.zip").write_bytes(outer)
    recs = records(tmp_path / "o.zip", Limits(max_members=10))
    assert "more than 10 members" in messages(recs["o.zip"])
    assert len([p for p in recs if p.endswith(".txt")]) < 10


# -- the scan goes on, and a rerun works -------------------------------------------------------

def test_scan_of_hostile_archives_finishes_and_reruns(tmp_path: Path) -> None:
    ev = tmp_path / "ev"
    ev.mkdir()
    hostile = {"a-lzma.zip": lzma_zip_corrupt(), "b-deflate.zip": deflate_zip_corrupt(),
               "c.txt.gz": gz_corrupt(b"x" * 4000),
               "d.tar.gz": gz_corrupt(tar_bytes([("a.txt", b"hello")])),
               "e-version.zip": zip_version_25_5(), "f-empty.zip": zip_empty_name(),
               "g-42.zip": nested_bomb()}
    for name, data in hostile.items():
        (ev / name).write_bytes(data)
    (ev / "z.jpg").write_bytes(jpeg_bytes(picture(1, (64, 48))))
    home = tmp_path / "home"
    summary = scan_case(home, ev, "h", "--workers", "1")
    assert summary["status"] == "complete"
    report = report_json(home, "h")
    items = {it["path"]: it for it in report["items"]}
    for name in hostile:
        assert name in items
        assert items[name]["errors"] or any(
            it["errors"] for p, it in items.items() if p.startswith(name + "!/")), name
    assert items["z.jpg"]["pdq"] and not items["z.jpg"]["errors"]
    again = scan_case(home, ev, "h", "--workers", "1")
    assert again["new_items"] == 0 and again["status"] == "complete"


# -- names never carry NUL into the store; the checking pass is charged -------------------------

def zip_with_nul_in_name() -> bytes:
    """zipfile's writer cuts a name at NUL, so the byte is put in by hand (local header and
    central directory; no CRC covers a name)."""
    zb = zip_bytes([("a.jpgXhidden.txt", jpeg_bytes(picture(3, (32, 32))))])
    assert zb.count(b"a.jpgXhidden.txt") == 2
    return zb.replace(b"a.jpgXhidden.txt", b"a.jpg\0hidden.txt")


def test_zip_member_name_with_nul_is_cut_as_zipfile_cuts_it(tmp_path: Path) -> None:
    (tmp_path / "n.zip").write_bytes(zip_with_nul_in_name())
    recs = records(tmp_path / "n.zip")
    assert set(recs) == {"n.zip", "n.zip!/a.jpg"}
    member = recs["n.zip!/a.jpg"]
    assert member["raw_path"] == b"n.zip\0a.jpg"  # one NUL: the member boundary, nothing more
    assert member["pdq"] and not member["errors"]


def tarball_then_zeros(inner: tuple[str, bytes], zeros: int) -> bytes:
    """A gzip holding a one-member tar followed by `zeros` zero bytes (~1000:1 in gzip)."""
    return gzip.compress(tar_bytes([inner]) + bytes(zeros), mtime=0)


def test_nested_tarballs_padded_with_zeros_stop_at_the_tree_budget(tmp_path: Path) -> None:
    """The CRC-checking pass inflated up to what was left of the budget without charging it:
    each level here inflates 6 MiB of zeros, 4 levels 24 MiB, past the 16 MiB the tree may."""
    data = tarball_then_zeros(("deep.txt", b"the bottom"), 6 << 20)
    for level in range(3):
        data = tarball_then_zeros((f"l{level}.tar.gz", data), 6 << 20)
    assert len(data) < 100_000
    (tmp_path / "pad.tar.gz").write_bytes(data)
    recs = records(tmp_path / "pad.tar.gz")
    assert not [p for p, r in recs.items() if p.endswith("deep.txt") and r.get("sha256")]
    said = " | ".join(messages(r) for r in recs.values())
    assert "possible archive bomb" in said and "rest not read" in said, said


def test_intact_tar_gz_is_charged_once(tmp_path: Path) -> None:
    """Checked whole, then read: the members are prepaid, so a tarball that fits the budget
    once is read whole (10 MiB of members, 16 MiB allowed)."""
    members = [(f"m{i}.bin", bytes([i]) * (1 << 20)) for i in range(10)]
    (tmp_path / "ok.tar.gz").write_bytes(gzip.compress(tar_bytes(members), mtime=0))
    recs = records(tmp_path / "ok.tar.gz")
    assert not messages(recs["ok.tar.gz"])
    assert sum(1 for p, r in recs.items() if p.endswith(".bin") and r.get("sha256")) == 10
