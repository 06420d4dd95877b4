"""Unit tests for the pure parts: sniffing, digests, list parsing, Hamming search, matching."""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest

from cairn.demo import jpeg_bytes, picture, png_bytes
from cairn.lists.formats import ListFormatError, detect_format, read_list
from cairn.lists.matcher import Matcher
from cairn.media.archives import unsafe_name
from cairn.media.sniff import kind_of, sniff
from cairn.signals import crypto, pdq


def _img_bytes(fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    picture(1, (64, 48)).save(buf, fmt, **kw)
    return buf.getvalue()


@pytest.mark.parametrize("fmt,expected", [
    ("JPEG", "image/jpeg"), ("PNG", "image/png"), ("GIF", "image/gif"), ("WEBP", "image/webp"),
    ("BMP", "image/bmp"), ("TIFF", "image/tiff"), ("AVIF", "image/avif"),
])
def test_sniff_images_by_magic_not_name(fmt: str, expected: str) -> None:
    assert sniff(_img_bytes(fmt)[:4096]) == expected
    assert kind_of(expected) == "image"


def test_heic_and_avif_sniff_and_decode() -> None:
    from cairn.media.decode import open_image  # registers the HEIF opener

    heic = _img_bytes("HEIF")
    assert sniff(heic[:4096]) == "image/heic"
    assert open_image(heic, 10**6).size == (64, 48)
    assert open_image(_img_bytes("AVIF"), 10**6).size == (64, 48)


def test_sniff_other_types() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("a.txt", "x")
    assert sniff(buf.getvalue()) == "application/zip"
    assert sniff(b"") == "application/x-empty"
    assert sniff(b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom") == "video/mp4"
    assert sniff(b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00qt  ") == "video/quicktime"
    assert sniff(b"\x1a\x45\xdf\xa3\x01\x00\x00\x00webm") == "video/webm"
    assert sniff(b"\x1f\x8b\x08\x00") == "application/gzip"
    assert sniff(b"hello, this is text") == "application/octet-stream"
    assert kind_of("video/mp4") == "video" and kind_of("application/zip") == "archive"


def test_crypto_one_pass_matches_hashlib() -> None:
    data = np.random.default_rng(3).bytes(3 * crypto.CHUNK + 17)
    h, kept = crypto.hash_stream(io.BytesIO(data), keep_up_to=len(data))
    assert (h.md5, h.sha1, h.sha256) == (hashlib.md5(data).hexdigest(),
                                         hashlib.sha1(data).hexdigest(),
                                         hashlib.sha256(data).hexdigest())
    assert h.size == len(data) and kept == data
    _, not_kept = crypto.hash_stream(io.BytesIO(data), keep_up_to=100)
    assert not_kept is None
    threaded, kept = crypto.hash_stream(io.BytesIO(data), keep_up_to=len(data), threaded=True)
    assert threaded == h and kept == data


def test_threaded_hashing_leaves_no_thread_when_the_read_fails() -> None:
    import threading

    class Broken(io.BytesIO):
        def read(self, n: int | None = -1) -> bytes:
            if self.tell() >= 2 * crypto.CHUNK:
                raise OSError(5, "Input/output error")
            return super().read(n)

    before = threading.active_count()
    with pytest.raises(OSError, match="Input/output"):
        crypto.hash_stream(Broken(bytes(3 * crypto.CHUNK)), threaded=True)  # type: ignore[arg-type]
    assert threading.active_count() == before


def test_hash_beside_is_the_files_hashes_whatever_the_caller_does(tmp_path: Path) -> None:
    """A disk image is hashed on a thread while the caller reads it: by position, from the
    start, on its own duplicate of the descriptor, so the caller's seeks, reads and close
    change nothing; a read that fails is raised by the wait."""
    data = np.random.default_rng(4).bytes(5 * crypto.CHUNK + 3)
    (tmp_path / "disk.img").write_bytes(data)
    with (tmp_path / "disk.img").open("rb") as f:
        f.seek(2 * crypto.CHUNK)
        wait = crypto.hash_fd_beside(f.fileno())
        assert f.read(10) == data[2 * crypto.CHUNK: 2 * crypto.CHUNK + 10]
    h = wait()  # the file closed meanwhile
    assert (h.md5, h.sha1, h.sha256, h.size) == (
        hashlib.md5(data).hexdigest(), hashlib.sha1(data).hexdigest(),
        hashlib.sha256(data).hexdigest(), len(data))
    r, w = os.pipe()  # no position to read by: the error comes back to the caller
    try:
        wait = crypto.hash_fd_beside(r)
        with pytest.raises(OSError):
            wait()
    finally:
        os.close(r)
        os.close(w)


def test_pdq_hex_validation() -> None:
    with pytest.raises(ValueError, match="64 hex digits"):
        pdq.hex_to_bytes("abc")
    with pytest.raises(ValueError, match="not hexadecimal"):
        pdq.hex_to_bytes("z" * 64)
    assert pdq.normalise_hex("AB" * 32) == "ab" * 32


def test_unsafe_member_names() -> None:
    assert unsafe_name("../../x") and "climbs out" in unsafe_name("../../x")
    assert unsafe_name("/etc/passwd")
    assert unsafe_name("a/b/../../../c")
    assert unsafe_name("dir/file.jpg") is None


# -- lists ------------------------------------------------------------------------------------
P1 = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"


def test_te_csv_with_bad_lines_reports_line_numbers(tmp_path: Path) -> None:
    f = tmp_path / "known.csv"
    f.write_text(
        "signal_type,signal_str,collab,category,tags\n"
        f"pdq,{P1},Sample Collab,1,tag1 tag2\n"
        "pdq,not-a-hash,x,1,\n"
        "video_md5,D41D8CD98F00B204E9800998ECF8427E,x,,\n"
        "url,http://example.org,x,,\n"
        f"pdq,{P1[:-2]},x,,\n"
    )
    fmt, entries, rejected = read_list(f)
    assert fmt == "te-csv"
    assert [(e.signal_type, e.line) for e in entries] == [("pdq", 2), ("md5", 4)]
    assert entries[0].labels == ["tag1", "tag2"] and entries[0].collab == "Sample Collab"
    assert entries[0].category == "1"
    assert entries[1].value == "d41d8cd98f00b204e9800998ecf8427e"
    assert [r.line for r in rejected] == [3, 5, 6]
    assert "unsupported signal type 'url'" in rejected[1].reason


def test_degenerate_pdq_hashes_are_rejected_with_line_numbers(tmp_path: Path) -> None:
    f = tmp_path / "zeros.txt"
    f.write_text(f"pdq {P1}\npdq {'0' * 64}\npdq {'f' * 64}\npdq {'0' * 62}01\n")
    _, entries, rejected = read_list(f)
    assert [e.line for e in entries] == [1]
    assert [r.line for r in rejected] == [2, 3, 4]
    assert all("degenerate PDQ hash" in r.reason for r in rejected)


def test_te_csv_missing_header_is_a_file_error(tmp_path: Path) -> None:
    f = tmp_path / "bad.csv"
    f.write_text("signal_type,collab\npdq,x\n")
    with pytest.raises(ListFormatError, match="signal_str"):
        read_list(f, "te-csv")


def test_hashsum_and_local_and_plain(tmp_path: Path) -> None:
    md5 = tmp_path / "known.md5"
    md5.write_text("d41d8cd98f00b204e9800998ecf8427e  empty.jpg\n"
                   "da39a3ee5e6b4b0d3255bfef95601890afd80709 *bin.dat\n"
                   "# comment\n"
                   "zzz  broken\n")
    fmt, entries, rejected = read_list(md5)
    assert fmt == "hashsum"
    assert [(e.signal_type, e.labels) for e in entries] == [("md5", ["file:empty.jpg"]),
                                                            ("sha1", ["file:bin.dat"])]
    assert [r.line for r in rejected] == [4]
    local = tmp_path / "local.txt"
    local.write_text(f"pdq {P1}\nvideo_md5 d41d8cd98f00b204e9800998ecf8427e\npdq 123\n")
    assert detect_format(local.read_text()) == "te-local"
    _, entries, rejected = read_list(local)
    assert [e.signal_type for e in entries] == ["pdq", "md5"] and rejected[0].line == 3
    plain = tmp_path / "plain.txt"
    plain.write_text(f"{P1}\n{P1.upper()}\nnope\n")
    with pytest.raises(ListFormatError, match="--type"):
        read_list(plain, "plain")
    _, entries, rejected = read_list(plain, "plain", "pdq")
    assert [e.value for e in entries] == [P1, P1] and [r.line for r in rejected] == [3]


def test_bom_is_tolerated(tmp_path: Path) -> None:
    f = tmp_path / "bom.csv"
    f.write_bytes("\ufeffsignal_type,signal_str,collab,category,tags\n".encode() +
                  f"pdq,{P1},,,\n".encode())
    fmt, entries, rejected = read_list(f)
    assert fmt == "te-csv" and len(entries) == 1 and not rejected


# -- Hamming index and matcher --------------------------------------------------------------
def _flip(h: bytes, bits: list[int]) -> bytes:
    b = bytearray(h)
    for k in bits:
        b[k // 8] ^= 0x80 >> (k % 8)
    return bytes(b)


def test_matcher_thresholds_quality_and_transform() -> None:
    base = bytes.fromhex(P1)
    near = _flip(base, list(range(0, 200, 10)))  # 20 bits away
    m = Matcher.build([(1, 10, "pdq", P1), (2, 20, "md5", "d41d8cd98f00b204e9800998ecf8427e")],
                      {10: 31, 20: 31})
    rec = {"md5": "d41d8cd98f00b204e9800998ecf8427e",
           "pdq": {"hash": near.hex(), "quality": 100, "dihedral": [near.hex()] * 8}}
    found = m.match(rec)
    assert [(x.list_id, x.signal, x.distance, x.transform) for x in found] == [
        (10, "pdq", 20, "none"), (20, "md5", 0, "none")]
    rec["pdq"]["quality"] = 49
    assert [x.signal for x in m.match(rec)] == ["md5"]
    strict = Matcher.build([(1, 10, "pdq", P1)], {10: 10})
    assert strict.match({"pdq": {"hash": near.hex(), "quality": 100}}) == []


def test_matcher_reports_dihedral_transform() -> None:
    img = picture(77, (320, 240))
    original = pdq.pdq_from_image(img)
    rotated = pdq.pdq_from_image(img.rotate(90, expand=True))
    m = Matcher.build([(5, 1, "pdq", original.hash)], {1: 31})
    rec = {"pdq": {"hash": rotated.hash, "quality": rotated.quality,
                   "dihedral": list(rotated.dihedral)}}
    (hit,) = m.match(rec)
    assert hit.transform != "none" and hit.distance <= 31
    assert pdq.hamming(rotated.hash, original.hash) > 31  # the plain hash alone would miss


def test_unrelated_demo_pictures_do_not_collide() -> None:
    hashes = [pdq.pdq_from_image(picture(5000 + i, (256, 192)), dihedral=False)
              for i in range(30)]
    assert all(h.quality >= 50 for h in hashes)
    for i in range(len(hashes)):
        for j in range(i + 1, len(hashes)):
            assert pdq.hamming(hashes[i].hash, hashes[j].hash) > 31


def test_jpeg_and_png_of_same_picture_match() -> None:
    from cairn.media.decode import open_image

    img = picture(3)
    a = pdq.pdq_from_image(open_image(jpeg_bytes(img, 70), 10**8), dihedral=False)
    b = pdq.pdq_from_image(open_image(png_bytes(img), 10**8), dihedral=False)
    assert pdq.hamming(a.hash, b.hash) <= 31


def test_unreadable_file_becomes_an_error_record(tmp_path: Path) -> None:
    """A file that vanishes or cannot be opened between walk and read is recorded, not fatal."""
    from cairn.media.limits import Limits
    from cairn.media.walk import walk
    from cairn.scan.worker import process_entry

    f = tmp_path / "gone.jpg"
    f.write_bytes(jpeg_bytes(picture(1, (32, 32))))
    (entry,) = list(walk(tmp_path))
    f.unlink()
    (rec,) = process_entry(entry, Limits())
    assert rec["path"] == "gone.jpg" and rec["kind"] == "other"
    assert rec["errors"][0]["stage"] == "read"
    assert "cannot read file" in rec["errors"][0]["message"]


def test_walk_is_sorted_and_handles_non_utf8(tmp_path: Path) -> None:
    import os

    from cairn.media.walk import walk

    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "z.bin").write_bytes(b"z")
    (tmp_path / "a.bin").write_bytes(b"a")
    (tmp_path / os.fsdecode(b"c-\xff.bin")).write_bytes(b"c")
    # a folder's files (byte-sorted) before its subfolders: stable across runs and machines
    assert [e.path for e in walk(tmp_path)] == ["a.bin", "c-\\xff.bin", "b/z.bin"]


def test_archive_limits_ratio_and_size() -> None:
    from cairn.media.archives import iter_members
    from cairn.media.limits import Limits

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("ok.txt", b"hello")
        z.writestr("big.bin", bytes(3 << 20))
    tight = Limits(max_member_size=1 << 20)
    members = {m.name: m for m in iter_members(buf, "application/zip", "x.zip", tight,
                                               len(buf.getvalue()))}
    assert members["ok.txt"].data == b"hello"
    assert members["big.bin"].data is None and "member limit" in members["big.bin"].error
    ratio = Limits(ratio_floor=1 << 20, max_ratio=10)
    members = {m.name: m for m in iter_members(buf, "application/zip", "x.zip", ratio,
                                               len(buf.getvalue()))}
    assert "zip bomb suspected" in members["big.bin"].error


def test_fast_core_tracks_the_exact_core_on_the_same_luma() -> None:
    """Same luma in, the fast core's 8 hashes stay within 2 bits of pdqhash's, same quality."""
    from cairn.signals.pdq_fast import luma_from_rgb, pdq_from_luma

    for seed, size in ((1, (640, 480)), (2, (1001, 333)), (3, (64, 64)), (4, (127, 2000))):
        px = np.ascontiguousarray(np.asarray(picture(seed, size)))
        exact = pdq.pdq_from_pixels(px)
        fast = pdq_from_luma(luma_from_rgb(px))
        assert fast.mode == "fast" and fast.quality == exact.quality
        assert max(pdq.hamming(a, b) for a, b in zip(fast.dihedral, exact.dihedral,
                                                     strict=True)) <= 2


def test_trim_finds_uniform_borders_and_only_them() -> None:
    from PIL import ImageOps

    from cairn.signals.pdq_fast import luma_from_rgb
    from cairn.signals.variants import query_variants, trim_box

    img = picture(11, (400, 300))
    padded = ImageOps.expand(img, (40, 30), fill=(255, 255, 255))
    luma = luma_from_rgb(np.asarray(padded))
    assert trim_box(luma) == (30, 330, 40, 440)
    assert trim_box(luma_from_rgb(np.asarray(img))) is None
    names = [n for n, _ in query_variants(luma)]
    assert names[0] == "trim" and "crop10" in names
    trimmed = dict(query_variants(luma))["trim"]
    plain = pdq.pdq_from_image(img)
    assert pdq.hamming(trimmed.hash, plain.hash) <= 16
    assert pdq.hamming(pdq.pdq_from_image(padded).hash, plain.hash) > 31


def test_matcher_tries_fallbacks_only_when_nothing_matched() -> None:
    from PIL import ImageOps

    from cairn.signals.image import image_signals

    img = picture(12, (400, 300))
    known = pdq.pdq_from_image(img).hash
    m = Matcher.build([(1, 1, "pdq", known)], {1: 31})

    def record(im) -> dict:
        s = image_signals(jpeg_bytes(im, 90), 10**8)
        return {"pdq": {"hash": s.pdq.hash, "quality": s.pdq.quality,
                        "dihedral": list(s.pdq.dihedral),
                        "fallbacks": [{"name": n, "quality": v.quality,
                                       "dihedral": list(v.dihedral)} for n, v in s.variants]}}

    (hit,) = m.match(record(ImageOps.expand(img, (60, 45), fill=(0, 0, 0))))
    assert hit.transform == "trim"
    (hit,) = m.match(record(img))
    assert hit.transform == "none"
    assert m.match(record(picture(13, (400, 300)))) == []
