"""media/carve.py: every planted picture and clip comes back whole at its offset, from
seekable and forward-only streams, across window boundaries; what is not a whole file is
rejected with its reason, never carved and never silent."""

from __future__ import annotations

import io
import random

import pytest

from cairn.demo import jpeg_bytes, picture, png_bytes
from cairn.demo_phone import _save, unallocated
from cairn.media import carve as carve_mod
from cairn.media.archives import ArchiveError, Budget, carved_members
from cairn.media.carve import CarveStats, carve
from cairn.media.limits import Limits
from streams import ForwardOnly


def plant(files: list[bytes], seed: int = 3) -> tuple[bytes, dict[int, bytes]]:
    rnd = random.Random(seed)
    blob, at = bytearray(), {}
    for data in files:
        blob += rnd.randbytes(rnd.randrange(500, 3000)) + bytes(rnd.randrange(0, 700))
        at[len(blob)] = data
        blob += data
    blob += rnd.randbytes(1000)
    return bytes(blob), at


@pytest.fixture(scope="module")
def unalloc(tmp_path_factory) -> tuple[bytes, dict[int, bytes]]:
    return unallocated(tmp_path_factory.mktemp("carve"))


@pytest.mark.parametrize("forward_only", [False, True])
def test_every_planted_file_is_carved_whole_at_its_offset(unalloc, forward_only) -> None:
    blob, planted = unalloc
    stats = CarveStats()
    stream = io.BufferedReader(ForwardOnly(blob)) if forward_only else io.BytesIO(blob)
    got = {c.offset: c for c in carve(stream, stats=stats)}  # type: ignore[arg-type]
    assert {o: c.data for o, c in got.items()} == planted
    assert sorted(c.kind for c in got.values()) == ["gif", "jpeg", "mp4", "png", "webp"]
    assert all(c.length == len(c.data) for c in got.values())
    # the JPEG cut in half at the end is seen, rejected with its reason, and not carved
    assert stats.rejected["jpeg: truncated"] == 1
    assert stats.scanned == len(blob) and stats.stopped is None
    assert "carved 1 gif, 1 jpeg, 1 mp4, 1 png, 1 webp" in stats.summary()


def test_names_are_offsets_and_base_offset_shifts_them() -> None:
    jpg = jpeg_bytes(picture(1, (40, 30)))
    blob = bytes(0x1000) + jpg
    (c,) = carve(io.BytesIO(blob), base_offset=0x1F3A000 - 0x1000)
    assert c.offset == 0x1F3A000 and c.name == "0x1f3a000.jpg" and c.media_type == "image/jpeg"


def test_files_across_window_boundaries_and_back_to_back(monkeypatch) -> None:
    """Small windows: signatures and files straddle every boundary; dense carving skips none."""
    monkeypatch.setattr(carve_mod, "CHUNK", 1000)
    files = [jpeg_bytes(picture(i, (24 + i, 18))) if i % 3 else png_bytes(picture(i, (20, 20)))
             for i in range(30)]
    blob = b"".join(files)  # back to back: each file's end is the next one's start
    for stream in (io.BytesIO(blob), io.BufferedReader(ForwardOnly(blob))):
        got = [c.data for c in carve(stream)]  # type: ignore[arg-type]
        assert got == files


def test_a_jpeg_inside_an_app_segment_does_not_end_the_outer_one() -> None:
    """An EXIF thumbnail (its own SOI...EOI) sits inside APP1: the walk skips segments by
    their lengths, so the outer picture is carved whole, the thumbnail not separately."""
    outer, inner = jpeg_bytes(picture(5, (64, 48))), jpeg_bytes(picture(6, (16, 12)))
    payload = b"Exif\0\0" + inner
    app1 = b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload
    whole = outer[:2] + app1 + outer[2:]
    (c,) = carve(io.BytesIO(bytes(100) + whole + bytes(100)))
    assert c.data == whole and c.offset == 100


@pytest.mark.parametrize("kind,cut", [("png", "IEND"), ("gif", "trailer"), ("webp", "end")])
def test_truncated_files_are_rejected_with_a_reason(kind, cut) -> None:
    fmt = {"png": "PNG", "gif": "GIF", "webp": "WEBP"}[kind]
    data = _save(7, fmt)
    stats = CarveStats()
    assert list(carve(io.BytesIO(data[:-5]), kinds=(kind,), stats=stats)) == []
    assert stats.rejected[f"{kind}: truncated"] == 1, stats.rejected


def test_signatures_that_are_not_files_are_rejected() -> None:
    noise = (b"\xff\xd8\xff\x00junk" + b"GIF89a" + bytes(7) + b"\x99" + b"RIFF\x10\0\0\0WAVEfmt "
             + b"\x89PNG\r\n\x1a\n\0\0\0\x0dIDAT" + b"\0\0\0\x18ftypisom" + bytes(64))
    stats = CarveStats()
    assert list(carve(io.BytesIO(noise), stats=stats)) == []
    assert set(stats.rejected) == {
        "jpeg: no valid marker after SOI", "gif: invalid block", "webp: RIFF but not WebP",
        "png: IHDR is not the first chunk", "mp4: no moov and mdat"}


def test_size_caps_and_scan_limit() -> None:
    big = png_bytes(picture(8, (200, 150)))
    stats = CarveStats()
    assert list(carve(io.BytesIO(bytes(10) + big), max_size=len(big) // 2, stats=stats)) == []
    assert stats.rejected["png: too big"] == 1 and stats.too_big == [10]
    small = jpeg_bytes(picture(9, (20, 20)))
    stats = CarveStats()
    blob = small + bytes(5000) + small
    got = list(carve(io.BytesIO(blob), limit=len(small) + 100, stats=stats))
    assert [c.offset for c in got] == [0]
    assert stats.stopped and "limit" in stats.stopped


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot carve"):
        list(carve(io.BytesIO(b""), kinds=("bmp",)))


def test_carved_members_name_by_offset_and_report_rejections(unalloc) -> None:
    blob, planted = unalloc
    members = []
    with pytest.raises(ArchiveError, match="jpeg: truncated"):
        for m in carved_members(io.BytesIO(blob), Budget(Limits(), len(blob))):
            members.append(m)
    assert {m.name for m in members} == {f"0x{o:x}.{n}" for o, n in zip(
        planted, ("jpg", "png", "gif", "webp", "mp4"), strict=True)}
    assert all(m.origin and m.origin["carved"] is True and m.data for m in members)
    assert {m.origin["offset"] for m in members if m.origin} == set(planted)


def test_forward_only_memory_stays_bounded_when_files_are_back_to_back(monkeypatch) -> None:
    """No window is ever free of candidates here, so only dropping what is behind the scan
    keeps the buffer small: at most a few windows plus the file being carved."""
    monkeypatch.setattr(carve_mod, "CHUNK", 4096)
    jpg = jpeg_bytes(picture(11, (40, 30)))
    blob = jpg * 2500  # 3.3 MB: well past the 1 MiB a JPEG walk reads ahead
    peak = 0
    real_more = carve_mod._Window.more

    def more(self) -> bool:  # noqa: ANN001 - records the window's size as it grows
        nonlocal peak
        grew = real_more(self)
        peak = max(peak, len(self.buf))
        return grew

    monkeypatch.setattr(carve_mod._Window, "more", more)
    got = list(carve(io.BufferedReader(ForwardOnly(blob))))  # type: ignore[arg-type]
    assert len(got) == 2500
    assert peak < (1 << 20) + 4 * 4096 + len(jpg), peak
