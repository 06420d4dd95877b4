"""A generated mock exhibit: copies, edits, unrelated pictures, archives and bad input.

Every picture is a procedural benign image (cairn.demo.picture). EXPECT says what a scan must
find: which paths match which lists, and which paths carry which error.
"""

from __future__ import annotations

import csv
import io
import os
import struct
import tarfile
import zipfile
import zlib
from pathlib import Path

import numpy as np
from PIL import ImageOps

from cairn.demo import (
    EDITS,
    jpeg_bytes,
    picture,
    png_bytes,
    slideshow_video,
    tiny_video,
    write_known_lists,
)
from cairn.signals.vpdq import to_signal, vpdq_frames

KNOWN = 6


def _zip(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def _tar(members: dict[str, bytes], mode: str = "w") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:
        for name, data in members.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mtime = 1_700_000_000
            tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def _png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims a huge size: a decompression bomb's calling card."""
    png = png_bytes(picture(1, (8, 8)).convert("L"))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return png[:8] + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk)) + png[33:]


def build(root: Path) -> dict:
    root.mkdir(parents=True)
    lists, ev = root / "lists", root / "exhibit"
    lists.mkdir()
    for d in ("DCIM", "Download", "Fotos", "Movies"):
        (ev / d).mkdir(parents=True)
    known = [picture(100 + i, (480, 360)) for i in range(KNOWN)]
    kb = write_known_lists(lists, known, "test-collab")

    w = lambda rel, data: (ev / rel).write_bytes(data)  # noqa: E731
    w("DCIM/copy.jpg", kb[0])
    w("DCIM/edit_resize.jpg", jpeg_bytes(EDITS["resize50"](known[1]), 80))
    w("DCIM/edit_rot90.png", png_bytes(EDITS["rotate90"](known[2])))
    w("DCIM/edit_grey.jpg", jpeg_bytes(EDITS["grey"](known[3]), 75))
    w("DCIM/edit_letterbox.jpg", jpeg_bytes(ImageOps.expand(known[4], (0, 90), fill=0), 85))
    buf = io.BytesIO()
    known[4].save(buf, "WEBP", quality=80)
    w("DCIM/copy4.webp", buf.getvalue())
    buf = io.BytesIO()
    known[5].save(buf, "GIF")
    w("DCIM/copy5.gif", buf.getvalue())
    for k in range(12):
        w(f"DCIM/unrelated_{k:02d}.jpg", jpeg_bytes(picture(700 + k, (400, 300)), 85))
    for fmt, ext in (("BMP", "bmp"), ("TIFF", "tif")):
        buf = io.BytesIO()
        picture(800, (200, 150)).save(buf, fmt)
        w(f"DCIM/other.{ext}", buf.getvalue())
    w("DCIM/notes.txt", jpeg_bytes(picture(801, (200, 150))))  # an image hiding behind .txt
    w("Fotos/été 🌲.jpg", jpeg_bytes(EDITS["brighter"](known[4]), 85))
    (ev / os.fsdecode(b"Fotos/latin1-\xe9.jpg")).write_bytes(kb[5])

    w("Download/a.zip", _zip({
        "album/copy.jpg": kb[0],
        "../../evil.jpg": jpeg_bytes(EDITS["flip"](known[1]), 85),
        "nested.zip": _zip({"inner/x.png": png_bytes(EDITS["flip"](known[2]))}),
    }))
    w("Download/b.tar", _tar({"t/y.jpg": jpeg_bytes(picture(900, (300, 200)))}))
    w("Download/c.tar.gz", _tar({"t/z.jpg": kb[3]}, "w:gz"))
    deep = _zip({"bottom.jpg": jpeg_bytes(picture(901, (100, 80)))})
    for level in range(7):
        deep = _zip({f"level{level}.zip": deep})
    w("Download/deep.zip", deep)
    w("Download/bomb.zip", _zip({"zeros.bin": bytes(64 << 20)}))

    (ev / "bad").mkdir()
    w("bad/truncated.jpg", kb[1][: len(kb[1]) // 3])
    w("bad/empty.jpg", b"")
    w("bad/random.jpg", np.random.default_rng(9).bytes(4096))
    w("bad/bomb.png", _png_claiming(30000, 30000))
    os.symlink("loop", ev / "bad" / "loop")
    os.symlink("../DCIM/copy.jpg", ev / "bad" / "link.jpg")
    os.mkfifo(ev / "bad" / "pipe")
    tiny_video(ev / "Movies" / "clip.mp4")
    # a slideshow that shows known picture 0 from second 2 to 4
    slideshow_video(ev / "Movies" / "slideshow.mp4",
                    [(picture(950, (320, 240)), 2), (known[0], 2), (picture(951, (320, 240)), 1)])
    # a known video (its vPDQ in a list) and a re-encoded copy of it on the exhibit
    scenes = [(picture(960 + k, (320, 240)), 1) for k in range(6)]
    slideshow_video(root / "known-video.mp4", scenes, bit_rate=2_000_000)
    slideshow_video(ev / "Movies" / "reencoded.mp4", scenes, fps=15, bit_rate=150_000)
    with open(lists / "videos.csv", "w", newline="") as f:
        w_csv = csv.writer(f)
        w_csv.writerow(["signal_type", "signal_str", "collab", "category", "tags"])
        w_csv.writerow(["vpdq", to_signal(vpdq_frames(str(root / "known-video.mp4"))), "c", "1",
                        "vid"])
    data = (ev / "Movies" / "clip.mp4").read_bytes()
    (ev / "bad" / "truncated.mp4").write_bytes(data[: len(data) // 2])
    return {"root": root, "lists": lists, "exhibit": ev, "known_bytes": kb}


# path -> set of (list, signal) it must match; every other path must match nothing
EXPECT_MATCHES = {
    "DCIM/copy.jpg": {("md5s", "md5"), ("pdqs", "pdq")},
    "DCIM/edit_resize.jpg": {("pdqs", "pdq")},
    "DCIM/edit_rot90.png": {("pdqs", "pdq")},
    "DCIM/edit_grey.jpg": {("pdqs", "pdq")},
    "DCIM/edit_letterbox.jpg": {("pdqs", "pdq")},
    "DCIM/copy4.webp": {("pdqs", "pdq")},
    "DCIM/copy5.gif": {("pdqs", "pdq")},
    "Fotos/été 🌲.jpg": {("pdqs", "pdq")},
    "Fotos/latin1-\\xe9.jpg": {("md5s", "md5"), ("pdqs", "pdq")},
    "Download/a.zip!/album/copy.jpg": {("md5s", "md5"), ("pdqs", "pdq")},
    "Download/a.zip!/../../evil.jpg": {("pdqs", "pdq")},
    "Download/a.zip!/nested.zip!/inner/x.png": {("pdqs", "pdq")},
    "Download/c.tar.gz!/t/z.jpg": {("md5s", "md5"), ("pdqs", "pdq")},
    "Movies/slideshow.mp4": {("pdqs", "pdq")},
    "Movies/reencoded.mp4": {("videos", "vpdq")},
}

# path -> a fragment its error message must contain
EXPECT_ERRORS = {
    "bad/truncated.jpg": "corrupt or truncated image",
    "bad/empty.jpg": "empty file",
    "bad/random.jpg": "named like an image (.jpg)",
    "bad/bomb.png": "over the limit",
    "bad/truncated.mp4": "corrupt or truncated video",
    "bad/loop": "symbolic link loop",
    "bad/link.jpg": "symbolic link to '../DCIM/copy.jpg'; not followed",
    "bad/pipe": "named pipe",
    "Download/a.zip!/../../evil.jpg": "climbs out of the archive",
    "Download/bomb.zip!/zeros.bin": "zip bomb suspected",
    "Download/deep.zip!/level6.zip!/level5.zip!/level4.zip!/level3.zip!/level2.zip":
        "nested deeper than 5 levels",
}
