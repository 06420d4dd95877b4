"""One decode path: pixels come only from media/decode, under the limits, for every reader.

Hostile files here are benign pictures and videos generated in the test whose headers lie
(a 64x48 PNG whose IHDR says 30000x30000, a JPEG whose SOF says 65000x65000) or which carry
a bomb beside valid pixels (a text chunk inflating past Pillow's 1 MiB, overlapping EXIF
entries, XMP entity expansion, an EXIF IFD loop, 12000x12000 video frames, bad safetensors
headers). Each must become a hash or an error on its record, never a crash or a blow-up.

`guarded_loads` watches Pillow's pixel load (ImageFile.load): it records the size of every
image any code decodes and refuses (MemoryError) one over the default pixel limit instead of
running it, so a regression fails the test instead of taking the machine's memory.
"""

from __future__ import annotations

import ast
import io
import json
import struct
import zlib
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image, ImageFile

from cairn import demo_provenance as dp
from cairn.cli import cli
from cairn.demo import jpeg_bytes, picture, tiny_video
from cairn.media.decode import DecodeError, Picture, exif_of
from cairn.media.limits import Limits
from cairn.provenance import examine
from cairn.provenance.containers import read_metadata
from cairn.provenance.models import hash_model
from cairn.scan.worker import HashOptions, process_blob
from cairn.signals.vpdq import VideoError, vpdq_frames

LIMIT = Limits().max_pixels
SRC = Path(__file__).resolve().parents[1] / "src" / "cairn"


# -- generated hostile files ------------------------------------------------------------------
def chunk(ctype: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", zlib.crc32(ctype + body))


def png_declaring(width: int, height: int) -> bytes:
    """A valid 64x48 RGB PNG whose IHDR (CRC recomputed) declares width x height."""
    small = dp.png(picture(1201, (64, 48)))
    ihdr = bytearray(small[16:29])
    struct.pack_into(">II", ihdr, 0, width, height)
    return small[:8] + chunk(b"IHDR", bytes(ihdr)) + small[33:]


def jpeg_declaring(width: int, height: int) -> bytes:
    """A valid 64x48 JPEG (4:4:4, so the watermark reader wants its pixels) whose SOF0
    declares width x height."""
    buf = io.BytesIO()
    picture(1202, (64, 48)).save(buf, "JPEG", quality=90, subsampling=0)
    data = bytearray(buf.getvalue())
    sof = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, height, width)
    return bytes(data)


def with_chunk_after_ihdr(png: bytes, extra: bytes) -> bytes:
    return png[:33] + extra + png[33:]


def text_bomb(ctype: bytes, inflated: int = 2 << 20) -> bytes:
    """A zTXt or compressed iTXt chunk of ~2 KB that inflates to `inflated` bytes."""
    packed = zlib.compress(b" " * inflated, 9)
    if ctype == b"zTXt":
        return chunk(b"zTXt", b"Comment\0\0" + packed)
    return chunk(b"iTXt", b"Comment\0\x01\0\0\0" + packed)


def mkv_of_jpeg_frames(side: int, frames: int = 3, declared: int | None = None) -> bytes:
    """An MKV of `frames` flat grey MJPEG frames, side x side (muxed, not re-encoded); its
    track header says `declared` x `declared` when given (a lie)."""
    import av

    buf = io.BytesIO()
    Image.new("L", (side, side), 128).save(buf, "JPEG", quality=50)
    jpg, out = buf.getvalue(), io.BytesIO()
    with av.open(out, "w", format="matroska") as c:
        s = c.add_stream("mjpeg", rate=1)
        s.width = s.height = declared or side
        s.pix_fmt = "yuvj420p"
        for i in range(frames):
            p = av.Packet(jpg)
            p.stream, p.pts, p.dts, p.time_base = s, i, i, Fraction(1, 1)
            c.mux(p)
    return out.getvalue()


def exif_block(entries: int, block: int) -> bytes:
    """A little-endian TIFF/EXIF block of `block` bytes whose `entries` IFD0 entries (distinct
    tags, type UNDEFINED) all point at the same bytes: each parsed alone, it copies `block`
    bytes per entry."""
    head = b"II*\0" + struct.pack("<I", 8) + struct.pack("<H", entries)
    body = b"".join(struct.pack("<HHII", 0x9000 + i, 7, block - 8, 8) for i in range(entries))
    raw = head + body + struct.pack("<I", 0)
    return raw + b"\0" * (block - len(raw))


@pytest.fixture
def guarded_loads(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[int, int]]]:
    seen: list[tuple[int, int]] = []
    real = ImageFile.ImageFile.load

    def load(self: ImageFile.ImageFile):  # noqa: ANN202
        seen.append(self.size)
        if self.size[0] * self.size[1] > LIMIT:
            raise MemoryError(f"test guard: refused to decode {self.size}")
        return real(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)
    yield seen


def scan_record(name: str, data: bytes, limits: Limits | None = None,
                mode: str = "exact") -> dict:
    out: list[dict] = []
    process_blob(name, None, data, None, 0, limits or Limits(), out, HashOptions(mode))
    return out[-1]


def messages(rec: dict) -> str:
    return " | ".join(e["message"] for e in rec.get("errors", []))


# -- 1. a declared-huge picture is refused before any allocation, everywhere --------------------
HUGE = [("huge.png", lambda: png_declaring(30000, 30000), "30000x30000 = 900000000 pixels"),
        ("huge.jpg", lambda: jpeg_declaring(65000, 65000), "65000x65000 = 4225000000 pixels")]


@pytest.mark.parametrize(("name", "make", "size"), HUGE)
@pytest.mark.parametrize("mode", ["exact", "fast"])
def test_scan_refuses_declared_huge_picture(guarded_loads: list, name: str, make, size: str,
                                            mode: str) -> None:
    rec = scan_record(name, make(), mode=mode)
    assert "pdq" not in rec
    assert f"{size}, over the limit of {LIMIT}" in messages(rec)
    assert all(w * h <= LIMIT for w, h in guarded_loads), guarded_loads  # no reader decoded it


@pytest.mark.parametrize(("name", "make", "size"), HUGE)
def test_hash_and_provenance_commands_refuse_it(guarded_loads: list, tmp_path: Path, name: str,
                                                make, size: str) -> None:
    path = tmp_path / name
    path.write_bytes(make())
    runner = CliRunner()
    env = {"CAIRN_HOME": str(tmp_path / "home")}
    res = runner.invoke(cli, ["hash", str(path), "--json"], env=env)
    assert res.exit_code == 0, res.output
    rec = json.loads(res.output)
    assert rec["pdq"] is None and size in messages(rec)
    res = runner.invoke(cli, ["provenance", str(path), "--json"], env=env)
    assert res.exit_code == 1, res.output  # no claim
    assert size in messages(json.loads(res.output))
    assert all(w * h <= LIMIT for w, h in guarded_loads), guarded_loads


def test_examine_alone_decodes_nothing_over_the_limit(guarded_loads: list) -> None:
    found = examine(png_declaring(30000, 30000))
    assert not [f for f in found if f.kind == "watermark"]
    assert all(w * h <= LIMIT for w, h in guarded_loads), guarded_loads


def test_picture_decodes_each_frame_once_and_shares_it() -> None:
    pic = Picture(jpeg_bytes(picture(1203, (2400, 1800)), 90), LIMIT)
    reduced = pic.frame(reduce_to=512)  # fast PDQ: DCT-domain 1/2 scale, luma alone
    assert reduced.size == (1200, 900) and pic.frame(reduce_to=512) is reduced
    assert pic.full() is pic.frame() and pic.full().size == (2400, 1800)  # only when asked
    assert pic.rgb() is pic.rgb() and pic.rgb().shape == (1800, 2400, 3)
    with pytest.raises(DecodeError, match="1200x900 = 1080000 pixels, over the limit of 10"):
        Picture(jpeg_bytes(picture(1203, (1200, 900))), 10).frame()


# -- 3. a text chunk that Pillow refuses never stops a picture from being hashed ----------------
@pytest.mark.parametrize("ctype", [b"zTXt", b"iTXt"])
@pytest.mark.parametrize("mode", ["exact", "fast"])
def test_text_chunk_bomb_is_skipped_with_a_note(ctype: bytes, mode: str) -> None:
    plain = dp.png(picture(1204, (320, 240)))
    bomb = text_bomb(ctype)
    assert len(bomb) < 4096  # a 3 KB chunk made a listed PNG stop matching
    hostile = with_chunk_after_ihdr(plain, bomb)
    a, b = scan_record("plain.png", plain, mode=mode), scan_record("bomb.png", hostile, mode=mode)
    assert b["pdq"]["hash"] == a["pdq"]["hash"] and b["pdq"]["quality"] == a["pdq"]["quality"]
    assert f"PNG chunk {ctype.decode()!r} at byte 33: text inflates past" in messages(b)
    assert not a["errors"]


def icc_bomb() -> bytes:
    """An iCCP chunk of ~2 KB whose profile inflates past Pillow's 1 MiB."""
    return chunk(b"iCCP", b"icc\0\0" + zlib.compress(b" " * (2 << 20), 9))


def bad_crc_time() -> bytes:
    """An ordinary tIME chunk whose CRC is wrong: Pillow refuses the whole picture."""
    good = chunk(b"tIME", struct.pack(">HBBBBB", 2024, 1, 2, 3, 4, 5))
    return good[:-4] + bytes(b ^ 0xFF for b in good[-4:])


@pytest.mark.parametrize(("make", "note"), [(icc_bomb, "profile inflates past"),
                                            (bad_crc_time, "bad CRC")])
@pytest.mark.parametrize("mode", ["exact", "fast"])
def test_other_ancillary_chunks_never_stop_a_picture_from_being_hashed(make, note: str,
                                                                       mode: str) -> None:
    """Only the chunks pixels come from reach Pillow: an iCCP bomb or a chunk with a bad CRC
    made Pillow refuse the picture, so a listed PNG could be made to stop matching."""
    plain = dp.png(picture(1205, (320, 240)))
    hostile = with_chunk_after_ihdr(plain, make())
    a, b = scan_record("plain.png", plain, mode=mode), scan_record("evade.png", hostile,
                                                                   mode=mode)
    assert b["pdq"]["hash"] == a["pdq"]["hash"] and b["pdq"]["quality"] == a["pdq"]["quality"]
    assert note in messages(b) and "at byte 33" in messages(b)


def test_ordinary_ancillary_chunks_leave_no_note() -> None:
    """gAMA, pHYs, tIME, a small iCCP with good CRCs are dropped for the pixel decode
    silently: no note on an ordinary picture."""
    plain = dp.png(picture(1206, (64, 48)))
    extra = (chunk(b"gAMA", struct.pack(">I", 45455)) + chunk(b"pHYs", bytes(9))
             + chunk(b"tIME", struct.pack(">HBBBBB", 2024, 1, 2, 3, 4, 5))
             + chunk(b"iCCP", b"icc\0\0" + zlib.compress(b"x" * 100)))
    rec = scan_record("ok.png", with_chunk_after_ihdr(plain, extra), mode="exact")
    assert rec["pdq"]["hash"] == scan_record("plain.png", plain, mode="exact")["pdq"]["hash"]
    assert not rec["errors"]


# -- 4. video frames obey the limits ------------------------------------------------------------
@pytest.fixture(scope="module")
def giant_mkv() -> bytes:
    return mkv_of_jpeg_frames(12000)


def test_video_of_giant_frames_is_refused_from_its_header(giant_mkv: bytes) -> None:
    rec = scan_record("giant.mkv", giant_mkv)
    assert rec["kind"] == "video" and "vpdq" not in rec
    assert (f"video frame is 12000x12000 = 144000000 pixels, over the limit of {LIMIT}"
            in messages(rec))


def test_video_whose_header_lies_about_its_frame_size_is_refused() -> None:
    rec = scan_record("liar.mkv", mkv_of_jpeg_frames(12000, frames=2, declared=64))
    assert "vpdq" not in rec and "12000x12000 = 144000000 pixels" in messages(rec)


def test_video_frame_count_and_duration_limits(tmp_path: Path) -> None:
    tiny_video(tmp_path / "v.mp4", seconds=3, fps=10)
    data = (tmp_path / "v.mp4").read_bytes()
    rec = scan_record("v.mp4", data, Limits(max_video_frames=12))
    assert "more than 12 frames (max_video_frames)" in messages(rec)
    assert [round(t) for t, _, _ in rec["vpdq"]["frames"]] == [0, 1]  # kept what was hashed
    with pytest.raises(VideoError, match="runs past 1.5 s") as e:
        vpdq_frames(str(tmp_path / "v.mp4"), limits=Limits(max_video_seconds=1.5))
    assert len(e.value.frames) == 2
    assert len(vpdq_frames(str(tmp_path / "v.mp4"))) == 3  # the defaults let it through


# -- 5. provenance readers: hostile bytes give notes, never exceptions --------------------------
def safetensors(header: bytes) -> bytes:
    return struct.pack("<Q", len(header)) + header + b"\0" * 64


BAD_HEADERS = {
    "list": b'{"__metadata__": ["a", "b"], "w": {"dtype": "F32", "shape": [16], '
            b'"data_offsets": [0, 64]}}',
    "string": b'{"__metadata__": "trained on x", "w": {"dtype": "F32", "shape": [16], '
              b'"data_offsets": [0, 64]}}',
    "deep": b'{"__metadata__": {"a": "b"}, "w": {"dtype": "F32"}, "x": ' + b"[" * 5000
            + b"]" * 5000 + b"}",
}


@pytest.mark.parametrize("kind", BAD_HEADERS)
def test_hostile_safetensors_headers_are_notes(kind: str) -> None:
    data = safetensors(BAD_HEADERS[kind])
    rec = scan_record(f"{kind}.safetensors", data)
    (f,) = rec["findings"]
    assert f["kind"] == "model_file" and f["sha256"] == rec["sha256"]
    assert "safetensors header" in f["error"]
    assert hash_model(io.BytesIO(data)).tensor_sha256 is not None


def test_a_reader_that_fails_is_a_finding_with_an_error(tmp_path: Path) -> None:
    """The detector cannot score a picture media/decode refuses: a note, the scan goes on."""
    from test_provenance import _laplacian_detector

    cfg = _laplacian_detector(tmp_path)
    (d,) = [f for f in examine(png_declaring(30000, 30000), detector=str(cfg))
            if f.kind == "detector"]
    assert d.error and "30000x30000" in d.error and "detector reader failed" in d.error


# -- 6. metadata bombs: EXIF IFD loops and overlaps, XMP entity expansion -----------------------
def _exif_bytes_kept(exif: Image.Exif) -> int:
    return sum(len(v) for v in exif.values() if isinstance(v, bytes | str))


@pytest.mark.filterwarnings("ignore:Tag data larger than file")
def test_exif_entries_overlapping_do_not_amplify() -> None:
    """2000 entries each pointing at the same 256 KiB would be 500 MiB parsed one by one;
    a PNG's eXIf is read from our chunk walk (never Pillow's pixel-loading getexif), and
    Pillow keeps no more tag data than the block holds."""
    raw = exif_block(entries=2000, block=256 * 1024)
    png = with_chunk_after_ihdr(dp.png(picture(1205, (64, 48))), chunk(b"eXIf", raw))
    pic = Picture(png, LIMIT)
    md = read_metadata(png, pic.header)
    assert md.exif == raw
    assert _exif_bytes_kept(exif_of(pic.header, md.exif)) <= len(raw)
    assert scan_record("exif.png", png)["pdq"]["quality"] > 0  # the picture is hashed


@pytest.mark.filterwarnings("ignore:Tag data larger than file")
def test_jpeg_exif_overlap_is_bounded_while_opening() -> None:
    """Pillow parses a JPEG's EXIF while opening it: 5000 entries over one 64 KB block."""
    buf = io.BytesIO()
    picture(1209, (64, 48)).save(buf, "JPEG", exif=b"Exif\0\0" + exif_block(5000, 65000))
    pic = Picture(buf.getvalue(), LIMIT)
    assert _exif_bytes_kept(exif_of(pic.header)) <= 65000
    assert scan_record("overlap.jpg", buf.getvalue())["pdq"]["quality"] > 0


def test_exif_ifd_loop_ends() -> None:
    """IFD0 whose next-IFD and EXIF-IFD pointers point back at itself."""
    ifd = struct.pack("<H", 2) + struct.pack("<HHII", 0x0131, 2, 4, 0x00746163) \
        + struct.pack("<HHII", 0x8769, 4, 1, 8) + struct.pack("<I", 8)
    raw = b"Exif\0\0II*\0" + struct.pack("<I", 8) + ifd
    buf = io.BytesIO()
    picture(1206, (64, 48)).save(buf, "JPEG", exif=raw)
    rec = scan_record("loop.jpg", buf.getvalue())
    assert rec["pdq"]["quality"] > 0


def test_xmp_entity_expansion_is_refused() -> None:
    laughs = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "' + b"lol" * 10 + b'">'
              + b"".join(b'<!ENTITY %c "%s">' % (98 + i, (b"&%c;" % (97 + i)) * 10)
                         for i in range(8))
              + b']><x:xmpmeta xmlns:x="adobe:ns:meta/">&i;</x:xmpmeta>')
    png = with_chunk_after_ihdr(dp.png(picture(1207, (64, 48))),
                                chunk(b"iTXt", b"XML:com.adobe.xmp\0\0\0\0\0" + laughs))
    rec = scan_record("xmp.png", png)
    (f,) = [f for f in rec["findings"] if f["kind"] == "digital_source_type"]
    assert "XMP packet unreadable" in f["error"] and "Entities" in f["error"]
    assert rec["pdq"]["quality"] > 0


# -- 2. nothing outside media/decode turns bytes into pixels ------------------------------------
DECODERS = {"media/decode.py", "media/video.py"}  # the one decode path (pictures, video)
FIXTURE_MAKERS = {"demo.py", "demo_provenance.py"}  # draw benign fixtures, never read evidence
PIXEL_LIBS = ("PIL", "pillow_heif", "av")
PIXEL_METHODS = {"convert", "getdata", "getchannel", "getpixel", "resize", "thumbnail",
                 "draft", "crop", "to_ndarray", "to_image"}
PICTURE_NAMES = {"image", "img", "im", "frame", "header", "picture", "pic"}


def _pixel_violations(tree: ast.AST) -> list[str]:
    out = []
    typing_only = set()
    for node in ast.walk(tree):  # `if TYPE_CHECKING:` imports are annotations, not code
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            typing_only.update(id(n) for n in ast.walk(node))
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Import | ast.ImportFrom) and id(node) not in typing_only:
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else \
                [a.name for a in node.names]
            if any(n.split(".")[0] in PIXEL_LIBS for n in names):
                out.append(f"{line}: imports {names[0]}")
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        attr, recv = node.func.attr, node.func.value
        if attr == "load" and not node.args and not node.keywords:
            out.append(f"{line}: .load()")
        elif attr in PIXEL_METHODS and not _is_ndarray(recv):
            out.append(f"{line}: .{attr}(")
        elif attr == "tobytes" and not _is_numpy_call(recv):
            out.append(f"{line}: .tobytes() of something not plainly a numpy array")
        elif attr in ("asarray", "array", "ascontiguousarray") and node.args and \
                isinstance(node.args[0], ast.Name) and node.args[0].id in PICTURE_NAMES:
            out.append(f"{line}: np.{attr}({node.args[0].id})")
        elif attr == "open" and getattr(recv, "id", "") == "Image":
            out.append(f"{line}: Image.open(")
    return out


def _is_ndarray(node: ast.expr) -> bool:
    """`np.ndarray` itself: `np.ndarray.resize(a, ...)` is plainly an array's method."""
    return isinstance(node, ast.Attribute) and node.attr == "ndarray" and \
        getattr(node.value, "id", "") in ("np", "numpy")


def _is_numpy_call(node: ast.expr) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
        getattr(node.func.value, "id", "") in ("np", "numpy")


def test_only_media_decode_turns_bytes_into_pixels() -> None:
    """Rule: outside media/decode.py and media/video.py (the decoders) no module of
    src/cairn (1) imports Pillow, pillow_heif or PyAV, except under TYPE_CHECKING; (2) calls
    a pixel method by name: `.load()` without arguments (json.load(f) has one), `.convert(`,
    `.getdata(`, `.getchannel(`, `.getpixel(`, `.resize(`, `.draft(`, `.crop(`, `.to_ndarray(`
    and the like (but on `np.ndarray` itself), or `Image.open(`; (3) calls `.tobytes()` on anything
    but the result of a numpy call; (4) calls np.asarray/np.array on a name that means a
    picture (image, img, im, frame, header, picture, pic). Without Pillow imported, a module
    holds no image but one media/decode gave it; (2)-(4) catch one handed in by duck typing.
    The fixture makers (demo.py, demo_provenance.py) are exempt: they draw benign pictures
    and never read evidence. Everything else asks a `Picture` for arrays, or gets none."""
    found = {}
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        if rel in DECODERS or rel in FIXTURE_MAKERS:
            continue
        bad = _pixel_violations(ast.parse(path.read_text(), rel))
        if bad:
            found[rel] = bad
    assert not found, "pixel access outside media/decode:\n" + json.dumps(found, indent=1)


def test_the_rule_catches_what_it_forbids() -> None:
    bad = '''
from PIL import Image
import numpy as np
def f(data, image):
    img = Image.open(data)
    img.load()
    x = np.asarray(image)
    y = image.convert("RGB").tobytes()
    return image.getchannel("A"), x, y
'''
    assert len(_pixel_violations(ast.parse(bad))) == 7
    ok = '''
import json
import numpy as np
def f(fp, rgb, raw):
    return json.load(fp), np.packbits(rgb).tobytes(), raw.decode("utf-8"), np.asarray(rgb)
'''
    assert _pixel_violations(ast.parse(ok)) == []


def test_guard_sees_real_loads(guarded_loads: list) -> None:
    Picture(dp.png(picture(1208, (64, 48))), LIMIT).rgb()
    assert set(guarded_loads) == {(64, 48)}  # load() is called again on use: a no-op
    assert np.asarray(Image.new("L", (2, 2))).shape == (2, 2)


def test_exif_pillow_found_in_png_text_is_still_read() -> None:
    """Pillow no longer sees PNG text chunks; ImageMagick's hex EXIF in one is read by ours."""
    from PIL import PngImagePlugin

    exif = Image.Exif()
    exif[0x0131] = "MagickTool"
    raw = exif.tobytes()
    info = PngImagePlugin.PngInfo()
    info.add_text("Raw profile type exif", f"\nexif\n{len(raw)}\n{raw.hex()}\n")
    buf = io.BytesIO()
    picture(1210, (64, 48)).save(buf, "PNG", pnginfo=info)
    md = read_metadata(buf.getvalue(), Picture(buf.getvalue(), LIMIT).header)
    assert md.text["exif:Software"] == "MagickTool" and not md.errors


def test_a_gif_frame_over_the_limit_is_refused_before_pillow_opens_it() -> None:
    """Pillow allocates a GIF's first-frame canvas while *opening* it: a 107-byte GIF whose
    screen is 48x32 but whose first frame claims 32768x18701 (after junk bytes Pillow skips)
    took 600 MB before any load (fuzz/decode)."""
    from cairn.media.decode import Picture, gif_canvas

    data = (Path(__file__).parent / "fuzz/decode/memory-gif-frame-32768x18701-at-open.gif"
            ).read_bytes()
    assert gif_canvas(data) == (32768, 18701)
    pic = Picture(data, 100_000_000)
    assert pic.header is None and "32768x18701" in (pic.error or "")


@pytest.mark.parametrize("size", [(8, 8), (64, 48), (300, 17)])
def test_gif_canvas_is_the_size_pillow_gives(size: tuple[int, int]) -> None:
    from cairn.media.decode import gif_canvas

    buf = io.BytesIO()
    frames = [picture(1300 + k, size) for k in range(3)]
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], comment=b"x" * 300)
    with Image.open(io.BytesIO(buf.getvalue())) as im:
        assert gif_canvas(buf.getvalue()) == im.size == size
