"""A hostile exhibit, generated: every file is benign (gradients, flat colours, zeros, text) but
built the way an attacker builds files to sink a forensic tool.

Pixel and text-chunk bombs, entity expansion, EXIF loops, C2PA boxes with lying lengths, zip
bombs flat and nested, a 20k-member zip, tar members that are links, devices, absolute or
climbing, damaged and truncated compressed archives, bad safetensors headers, a pickle
checkpoint whose `__reduce__` would create a file, videos with lying atoms and giant frames,
colliding names, and every reproduction of issue 12.

`EXPECT` maps each hostile path to what the scan must make of it: `error` (an item carrying at
least one error), `pdq` (a valid picture: hashed, with a PDQ), `item` (recorded with its
hashes, nothing more promised).
"""

from __future__ import annotations

import io
import os
import pickle
import struct
import tarfile
import warnings
import zipfile
import zlib
from pathlib import Path

from PIL import Image, PngImagePlugin

from cairn.demo import jpeg_bytes, picture, png_bytes, tiny_video

# Set by build(): a file a checkpoint's pickle would create if anything unpickled it.
PWNED_NAME = "cairn-unpickled-evidence"


def _zip(members: list[tuple[str, bytes]] | dict[str, bytes],
         compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    items = members.items() if isinstance(members, dict) else members
    with warnings.catch_warnings(), zipfile.ZipFile(buf, "w", compression) as z:
        warnings.simplefilter("ignore")  # duplicate names are the point of one fixture
        for name, data in items:
            z.writestr(zipfile.ZipInfo(name, (2024, 1, 1, 0, 0, 0)), data,
                       compress_type=compression)
    return buf.getvalue()


def _tar(members: list[tarfile.TarInfo | tuple[str | bytes, bytes]], mode: str = "w") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode, format=tarfile.GNU_FORMAT,
                      encoding="utf-8", errors="surrogateescape") as tf:
        for m in members:
            if isinstance(m, tarfile.TarInfo):
                tf.addfile(m)
                continue
            name, data = m
            ti = tarfile.TarInfo(os.fsdecode(name) if isinstance(name, bytes) else name)
            ti.size, ti.mtime = len(data), 1_700_000_000
            tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def _special(name: str, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type, ti.linkname, ti.mtime = kind, linkname, 1_700_000_000
    ti.devmajor, ti.devminor = 1, 3
    return ti


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_with_chunks(png: bytes, *chunks: bytes) -> bytes:
    """Insert chunks right after IHDR (8-byte signature + 25-byte IHDR chunk)."""
    return png[:33] + b"".join(chunks) + png[33:]


def _png_claiming(width: int, height: int) -> bytes:
    png = png_bytes(picture(1, (8, 8)).convert("L"))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return png[:8] + _png_chunk(b"IHDR", ihdr) + png[33:]


def _jpeg_claiming(width: int, height: int) -> bytes:
    """A real small JPEG whose SOF0 frame header is rewritten to claim width x height."""
    data = bytearray(jpeg_bytes(picture(2, (64, 48)), 80))
    i = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, i + 5, height, width)
    return bytes(data)


def _gif_claiming(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    picture(3, (16, 16)).save(buf, "GIF")
    data = bytearray(buf.getvalue())
    struct.pack_into("<HH", data, 6, width, height)  # logical screen
    i = data.index(b"\x2c")  # image descriptor
    struct.pack_into("<HH", data, i + 5, width, height)
    return bytes(data)


def _tiff_claiming(width: int, height: int) -> bytes:
    """A minimal little-endian grey TIFF: one strip of 64 bytes, dimensions a lie."""
    entries = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, 8), (259, 3, 1, 1),
               (262, 3, 1, 1), (273, 4, 1, 8 + 2 + 12 * 8 + 4), (277, 3, 1, 1),
               (278, 4, 1, height), (279, 4, 1, 64)]
    ifd = struct.pack("<H", len(entries)) + b"".join(
        struct.pack("<HHII", tag, typ, n, val) if typ == 4 else
        struct.pack("<HHIHH", tag, typ, n, val, 0) for tag, typ, n, val in entries)
    return b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0) + bytes(64)


def _bmp_claiming(width: int, height: int) -> bytes:
    header = struct.pack("<2sIHHI", b"BM", 14 + 40 + 64, 0, 0, 14 + 40)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 2835, 2835, 0, 0)
    return header + info + bytes(64)


def _webp_claiming(width: int, height: int) -> bytes:
    """An extended (VP8X) lossless WebP whose canvas claims width x height."""
    img = picture(4, (32, 32))
    buf = io.BytesIO()
    img.save(buf, "WEBP", lossless=True, exif=Image.Exif().tobytes() or b"Exif\x00\x00")
    data = bytearray(buf.getvalue())
    i = data.find(b"VP8X")
    if i < 0:
        return bytes(data)
    data[i + 12:i + 15] = (width - 1).to_bytes(3, "little")
    data[i + 15:i + 18] = (height - 1).to_bytes(3, "little")
    return bytes(data)


def _ztxt_bomb(png: bytes, itxt: bool = False) -> bytes:
    """A text chunk of ~3 KB that inflates to 3 MiB: Pillow refuses the whole picture."""
    packed = zlib.compress(b"A" * (3 << 20), 9)
    if itxt:
        body = b"Comment\x00\x01\x00\x00\x00" + packed
        return _png_with_chunks(png, _png_chunk(b"iTXt", body))
    return _png_with_chunks(png, _png_chunk(b"zTXt", b"Comment\x00\x00" + packed))


def _xmp_laughs() -> bytes:
    ents = '<!ENTITY a0 "lol">' + "".join(
        f'<!ENTITY a{i} "{("&a" + str(i - 1) + ";") * 10}">' for i in range(1, 10))
    return (f'<?xml version="1.0"?><!DOCTYPE x [{ents}]>'
            '<x:xmpmeta xmlns:x="adobe:ns:meta/"><r>&a9;</r></x:xmpmeta>').encode()


def _png_xmp_bomb(png: bytes) -> bytes:
    body = b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + _xmp_laughs()
    return _png_with_chunks(png, _png_chunk(b"iTXt", body))


def _jpeg_app(jpeg: bytes, marker: int, payload: bytes) -> bytes:
    return jpeg[:2] + struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload + jpeg[2:]


def _exif_loop() -> bytes:
    """TIFF-in-EXIF: IFD0 points to itself as the next IFD and to itself as the Exif IFD."""
    ifd0 = 8
    entries = struct.pack("<HHII", 0x8769, 4, 1, ifd0)  # ExifIFD -> IFD0
    tiff = b"II*\x00" + struct.pack("<I", ifd0) + struct.pack("<H", 1) + entries \
        + struct.pack("<I", ifd0)  # next IFD -> IFD0
    return b"Exif\x00\x00" + tiff


def _c2pa_liar_jpeg(jpeg: bytes) -> bytes:
    """APP11 JUMBF whose superbox claims 4 GiB and whose inner box claims 1 GiB."""
    inner = struct.pack(">I", 1 << 30) + b"jumd" + b"c2pa\x00" * 4
    box = struct.pack(">I", 0xFFFFFFF0) + b"jumb" + inner
    payload = b"JP" + struct.pack(">HI", 1, 1) + box
    return _jpeg_app(jpeg, 0xEB, payload)


def _c2pa_liar_png(png: bytes) -> bytes:
    box = struct.pack(">I", 0x7FFFFFFF) + b"jumb" + struct.pack(">I", 24) + b"jumd" + bytes(16)
    return _png_with_chunks(png, _png_chunk(b"caBX", box))


def _nested_bomb(levels: int = 4, fanout: int = 16, base: int = 4 << 20) -> bytes:
    """42.zip's shape: each level holds `fanout` copies of the level below."""
    blob = _zip({"zeros.bin": bytes(base)})
    for level in range(levels):
        blob = _zip([(f"l{level}-{k:02d}.zip", blob) for k in range(fanout)])
    return blob


def _safetensors(header: bytes, body: bytes = b"") -> bytes:
    return struct.pack("<Q", len(header)) + header + body


def _deep_json(depth: int) -> bytes:
    return b'{"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"__metadata__":' \
        + b'{"a":' * depth + b"1" + b"}" * depth + b"}"


class _WouldCreateAFile:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):  # noqa: ANN204 - what a hostile checkpoint does when unpickled
        return (open, (self.path, "w"))


def _pickle_checkpoint(path: str) -> bytes:
    """A PyTorch-style zip checkpoint (archive/data.pkl) whose pickle would create `path`."""
    pkl = pickle.dumps({"state_dict": _WouldCreateAFile(path)}, protocol=2)
    return _zip({"archive/data.pkl": pkl, "archive/version": b"3\n"}, zipfile.ZIP_STORED)


def _mp4_lying_atoms(mp4: bytes) -> bytes:
    """The first box after ftyp claims to run far past the end of the file."""
    ftyp_len = struct.unpack(">I", mp4[:4])[0]
    data = bytearray(mp4)
    struct.pack_into(">I", data, ftyp_len, 0xFFFFFF00)
    return bytes(data)


def _mkv_giant_frames(path: Path, side: int = 12000, frames: int = 3) -> None:
    """An MKV of `frames` MJPEG frames of side x side flat grey, muxed without re-encoding."""
    import av

    buf = io.BytesIO()
    Image.new("L", (side, side), 128).save(buf, "JPEG", quality=30)
    jpeg = buf.getvalue()
    with av.open(str(path), "w", format="matroska") as container:
        stream = container.add_stream("mjpeg", rate=1)
        stream.width, stream.height, stream.pix_fmt = side, side, "yuvj420p"
        for k in range(frames):
            pkt = av.Packet(jpeg)
            pkt.stream, pkt.pts, pkt.dts = stream, k, k
            container.mux(pkt)


def _corrupt_targz(tgz: bytes) -> bytes:
    """Flip one byte in the middle of the deflate stream (inside a member's data)."""
    data = bytearray(tgz)
    data[len(data) // 2] ^= 0x01
    return bytes(data)


def build(root: Path, pwned_dir: Path) -> tuple[Path, dict[str, str]]:
    """Write the hostile exhibit under `root`; return it and EXPECT."""
    ev = root / "hostile"
    for d in ("bombs", "text", "meta", "archives", "models", "video", "names", "names/x.zip!"):
        (ev / d).mkdir(parents=True, exist_ok=True)
    expect: dict[str, str] = {}

    def w(rel: str, data: bytes, what: str) -> None:
        (ev / rel).write_bytes(data)
        expect[rel] = what

    png = png_bytes(picture(10, (320, 240)))
    jpeg = jpeg_bytes(picture(11, (320, 240)), 85)

    # pixel bombs, one per format
    w("bombs/png-30000.png", _png_claiming(30000, 30000), "error")
    w("bombs/jpeg-65000.jpg", _jpeg_claiming(65000, 65000), "error")
    w("bombs/gif-65535.gif", _gif_claiming(65535, 65535), "error")
    w("bombs/tiff-60000.tif", _tiff_claiming(60000, 60000), "error")
    w("bombs/bmp-30000.bmp", _bmp_claiming(30000, 30000), "error")
    w("bombs/webp-16000.webp", _webp_claiming(16000, 16000), "error")

    # text-chunk bombs: refused by Pillow whole, must still be hashed (issue 12, item 7)
    w("text/ztxt-bomb.png", _ztxt_bomb(png), "pdq")
    w("text/itxt-bomb.png", _ztxt_bomb(png, itxt=True), "pdq")

    # metadata attacks on otherwise valid pictures: hashed, never hung
    w("meta/xmp-laughs.png", _png_xmp_bomb(png), "pdq")
    w("meta/xmp-laughs.jpg", _jpeg_app(jpeg, 0xE1, b"http://ns.adobe.com/xap/1.0/\x00"
                                       + _xmp_laughs()), "pdq")
    w("meta/exif-loop.jpg", _jpeg_app(jpeg, 0xE1, _exif_loop()), "pdq")
    w("meta/c2pa-liar.jpg", _c2pa_liar_jpeg(jpeg), "pdq")
    w("meta/c2pa-liar.png", _c2pa_liar_png(png), "pdq")
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "x" * 100 + "\nSteps: " + "9" * 5000 + ", Seed: " + "1" * 5000)
    buf = io.BytesIO()
    picture(12, (64, 64)).save(buf, "PNG", pnginfo=info)
    w("meta/a1111-huge-numbers.png", buf.getvalue(), "pdq")
    info = PngImagePlugin.PngInfo()
    info.add_text("prompt", "[" * 5000 + "]" * 5000)
    buf = io.BytesIO()
    picture(13, (64, 64)).save(buf, "PNG", pnginfo=info)
    w("meta/comfyui-deep.png", buf.getvalue(), "pdq")

    # archives
    w("archives/ratio-bomb.zip", _zip({"zeros.bin": bytes(64 << 20)}), "item")
    w("archives/nested-bomb.zip", _nested_bomb(), "error")
    w("archives/20k-members.zip",
      _zip([(f"m/{i:05d}.txt", b"note %d\n" % i) for i in range(20_000)]), "item")
    w("archives/links-devices.tar", _tar([
        _special("sym.jpg", tarfile.SYMTYPE, "/etc/passwd"),
        _special("hard.jpg", tarfile.LNKTYPE, "sym.jpg"),
        _special("dev/null", tarfile.CHRTYPE), _special("dev/fifo", tarfile.FIFOTYPE),
        ("/abs/olute.jpg", jpeg), ("../../climb.jpg", jpeg)]), "item")
    tgz = _tar([("t/a.jpg", jpeg), ("t/b.png", png), ("t/pad.bin", os.urandom(1))], "w:gz")
    w("archives/corrupt.tar.gz", _corrupt_targz(tgz), "error")
    w("archives/truncated.tar.gz", tgz[: len(tgz) * 2 // 3], "error")
    w("archives/tar.bz2", _tar([("t/a.jpg", jpeg)], "w:bz2"), "item")
    w("archives/tar.xz", _tar([("t/a.jpg", jpeg)], "w:xz"), "item")
    lz = bytearray(_zip({"a.bin": os.urandom(4096)}, zipfile.ZIP_LZMA))
    lz[60:80] = bytes(20)
    w("archives/corrupt-lzma.zip", bytes(lz), "item")
    expect["archives/corrupt-lzma.zip!/a.bin"] = "error"
    zd = bytearray(_zip({"a.bin": b"hello world " * 400}))
    zd[40] = 0xFF  # first byte of the deflate stream: an invalid block type
    w("archives/bad-deflate.zip", bytes(zd), "item")
    expect["archives/bad-deflate.zip!/a.bin"] = "error"
    gz = bytearray(_gz(b"hello " * 100))
    gz[10] = 0xFF
    w("archives/bad-deflate.gz", bytes(gz), "error")
    v = bytearray(_zip({"a.txt": b"hi"}))
    cd = v.rindex(b"PK\x01\x02")
    v[cd + 6] = 255  # version needed to extract: 25.5
    lh = v.index(b"PK\x03\x04")
    v[lh + 4] = 255
    w("archives/version-25.5.zip", bytes(v), "error")
    w("archives/empty-name.zip", _zip({"": b"nameless", "ok.txt": b"ok"}), "item")
    w("archives/same-names.zip", _zip([("same.jpg", jpeg_bytes(picture(20 + i, (64, 64))))
                                       for i in range(3)]), "item")
    w("archives/ff-pair.tar", _tar([(b"a\xff.jpg", jpeg), ("a\\xff.jpg", png)]), "item")

    # model files
    w("models/meta-list.safetensors", _safetensors(
        b'{"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"__metadata__":[1,2]}',
        bytes(4)), "item")
    w("models/meta-string.safetensors", _safetensors(
        b'{"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"__metadata__":"x"}',
        bytes(4)), "item")
    w("models/deep.safetensors", _safetensors(_deep_json(5000), bytes(4)), "item")
    w("models/offsets-past-end.safetensors", _safetensors(
        b'{"t":{"dtype":"F32","shape":[1000000],"data_offsets":[0,4000000]}}', bytes(4)),
      "item")
    w("models/header-past-end.safetensors",
      struct.pack("<Q", 90 << 20) + b'{"t":{"dtype":"F32"', "item")
    w("models/bad-json.safetensors", _safetensors(b'{"t":{"dtype":"F32",,,}'), "item")
    w("models/pickle.ckpt", _pickle_checkpoint(str(pwned_dir / PWNED_NAME)), "item")

    # video
    clip = root / "clip.mp4"
    tiny_video(clip)
    w("video/lying-atoms.mp4", _mp4_lying_atoms(clip.read_bytes()), "item")
    _mkv_giant_frames(ev / "video/giant-frames.mkv")
    expect["video/giant-frames.mkv"] = "error"

    # names that collide or attack the terminal
    (ev / "names" / "x.zip!" / "y.jpg").write_bytes(jpeg_bytes(picture(30, (64, 64))))
    expect["names/x.zip\\!/y.jpg"] = "pdq"  # a real folder's `!/` is shown escaped
    w("names/x.zip", _zip({"y.jpg": jpeg_bytes(picture(31, (64, 64)))}), "item")
    expect["names/x.zip!/y.jpg"] = "pdq"  # the member
    (ev / os.fsdecode(b"names/b\xff.jpg")).write_bytes(jpeg_bytes(picture(32, (64, 64))))
    (ev / "names" / "b\\xff.jpg").write_bytes(jpeg_bytes(picture(33, (64, 64))))
    for name in ("[bold red]x[-].jpg", "\x1b]0;pwned\x07.jpg", "\x1b[2J.jpg", "\u202egpj.exe"):
        (ev / "names" / name).write_bytes(jpeg_bytes(picture(34, (64, 64))))
    return ev, expect


def _gz(data: bytes) -> bytes:
    import gzip

    return gzip.compress(data, mtime=0)
