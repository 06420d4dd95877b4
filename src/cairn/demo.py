"""Benign demo data, made from nothing: procedural pictures, ordinary edits, a tiny video.

Everything here is synthetic colour fields and shapes. The same generators build the test
fixtures and the benchmark corpus, so what the demo shows is what the tests assert.
"""

from __future__ import annotations

import io
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageOps


def picture(seed: int, size: tuple[int, int] = (640, 480)) -> Image.Image:
    """A distinct, textured RGB picture: smooth random colour fields plus shapes."""
    rng = np.random.default_rng(seed)
    w, h = size
    acc = np.zeros((h, w, 3), dtype=np.float32)
    for octave, weight in ((3, 1.0), (6, 0.6), (12, 0.35), (24, 0.2)):
        small = rng.random((octave, max(2, octave * w // h), 3), dtype=np.float32)
        layer = Image.fromarray((small * 255).astype(np.uint8)).resize(
            (w, h), Image.Resampling.BICUBIC)
        acc += weight * np.asarray(layer, dtype=np.float32)
    acc -= acc.min()
    acc *= 255.0 / max(float(acc.max()), 1.0)
    img = Image.fromarray(acc.astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(4, 10))):
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        x1, y1 = x0 + int(rng.integers(w // 10, w // 2)), y0 + int(rng.integers(h // 10, h // 2))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        shape = int(rng.integers(0, 3))
        if shape == 0:
            draw.ellipse((x0, y0, x1, y1), fill=colour)
        elif shape == 1:
            draw.rectangle((x0, y0, x1, y1), fill=colour)
        else:
            draw.line((x0, y0, x1, y1), fill=colour, width=int(rng.integers(3, 15)))
    return img


def jpeg_bytes(img: Image.Image, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def _crop(img: Image.Image, frac: float) -> Image.Image:
    w, h = img.size
    dx, dy = int(w * frac), int(h * frac)
    return img.crop((dx, dy, w - dx, h - dy))


def _caption(img: Image.Image) -> Image.Image:
    out = img.copy()
    ImageDraw.Draw(out).text((10, 10), "holiday 2024", fill=(255, 255, 255))
    return out


# Crops defeat plain PDQ (the query-side variants of issue #3 address them): kept apart.
CROPS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "crop3": lambda im: _crop(im, 0.03),
    "crop5": lambda im: _crop(im, 0.05),
}

# Ordinary edits a copy goes through on its way between devices. Name -> function.
EDITS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "resize50": lambda im: im.resize((im.width // 2, im.height // 2), Image.Resampling.LANCZOS),
    "rotate90": lambda im: im.transpose(Image.Transpose.ROTATE_90),
    "flip": lambda im: ImageOps.mirror(im),
    "grey": lambda im: ImageOps.grayscale(im).convert("RGB"),
    "brighter": lambda im: ImageEnhance.Brightness(im).enhance(1.15),
    "caption": _caption,
}


def tiny_video(path: Path, seconds: int = 2, fps: int = 10, size: tuple[int, int] = (160, 120),
               seed: int = 7) -> None:
    """A short synthetic MPEG-4 clip (moving shapes) written with PyAV."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        base = picture(seed, size)
        for i in range(seconds * fps):
            frame_img = base.rotate(i * 3)
            frame = av.VideoFrame.from_image(frame_img)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def write_known_lists(lists_dir: Path, known: list[Image.Image], collab: str) -> list[bytes]:
    """Write `known.csv` (python-threatexchange PDQ) and `known.md5` (md5sum lines) for benign
    pictures; return the JPEG bytes the MD5s are of."""
    from cairn.signals.crypto import hash_bytes
    from cairn.signals.pdq import pdq_from_image

    known_bytes = [jpeg_bytes(im) for im in known]
    with open(lists_dir / "known.csv", "w", newline="") as f:
        f.write("signal_type,signal_str,collab,category,tags\n")
        for i, im in enumerate(known):
            f.write(f"pdq,{pdq_from_image(im).hash},{collab},1,known-{i:02d}\n")
    with open(lists_dir / "known.md5", "w") as f:
        for i, b in enumerate(known_bytes):
            f.write(f"{hash_bytes(b).md5}  known-{i:02d}.jpg\n")
    return known_bytes


def slideshow_video(path: Path, pictures: list[tuple[Image.Image, float]], fps: int = 10,
                    size: tuple[int, int] = (320, 240), bit_rate: int = 400_000) -> None:
    """A clip showing each picture for its number of seconds (a benign slideshow)."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.bit_rate = bit_rate
        for img, seconds in pictures:
            frame = av.VideoFrame.from_image(img.convert("RGB").resize(size))
            for _ in range(round(seconds * fps)):
                for packet in stream.encode(frame):
                    container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def make_demo(out: Path, n_known: int = 8, n_unrelated: int = 40) -> dict:
    """Write lists and an exhibit under `out`; return what was planted, for checking."""
    out.mkdir(parents=True, exist_ok=True)
    lists_dir, exhibit = out / "lists", out / "exhibit-07"
    for d in (lists_dir, exhibit / "DCIM" / "Camera", exhibit / "Download",
              exhibit / "WhatsApp" / "Media", exhibit / "Movies"):
        d.mkdir(parents=True, exist_ok=True)
    known = [picture(1000 + i) for i in range(n_known)]
    known_bytes = write_known_lists(lists_dir, known, "demo-collab")

    planted: dict[str, str] = {}
    # exact copies: match by MD5 and by PDQ
    for i in range(0, min(2, n_known)):
        p = f"DCIM/Camera/IMG_{2000 + i}.jpg"
        (exhibit / p).write_bytes(known_bytes[i])
        planted[p] = "copy"
    # edited copies: PDQ only
    for j, (edit, fn) in enumerate(EDITS.items()):
        i = (2 + j) % n_known
        p = f"WhatsApp/Media/IMG-2024-{j:04d}-WA.jpg"
        (exhibit / p).write_bytes(jpeg_bytes(fn(known[i]), 85))
        planted[p] = edit
    # unrelated pictures
    for k in range(n_unrelated):
        p = f"DCIM/Camera/IMG_{3000 + k}.jpg"
        (exhibit / p).write_bytes(jpeg_bytes(picture(5000 + k), 88))
    # an archive holding an edited copy and an unrelated picture, and a nested archive
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as z:
        z.writestr("deep/copy.png", png_bytes(EDITS["flip"](known[n_known - 1])))
    with zipfile.ZipFile(exhibit / "Download" / "pics.zip", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("album/a.jpg", jpeg_bytes(EDITS["resize50"](known[n_known - 2]), 80))
        z.writestr("album/b.jpg", jpeg_bytes(picture(9000), 80))
        z.writestr("more.zip", inner.getvalue())
    planted["Download/pics.zip!/album/a.jpg"] = "resize50 (in zip)"
    planted["Download/pics.zip!/more.zip!/deep/copy.png"] = "flip (nested zip)"
    with tarfile.open(exhibit / "Download" / "backup.tar.gz", "w:gz") as tf:
        data = jpeg_bytes(picture(9100))
        ti = tarfile.TarInfo("backup/old.jpg")
        ti.size = len(data)
        tf.addfile(ti, io.BytesIO(data))
    # a video, a truncated picture and a file that lies about its type
    try:
        tiny_video(exhibit / "Movies" / "clip.mp4")
    except Exception as e:  # noqa: BLE001 - the demo goes on without a video
        print(f"(no demo video: {e})")
    truncated = known_bytes[0][: len(known_bytes[0]) // 3]
    (exhibit / "DCIM" / "Camera" / "IMG_9999.jpg").write_bytes(truncated)
    (exhibit / "Download" / "invoice.jpg").write_bytes(np.random.default_rng(42).bytes(2048))
    return {"exhibit": exhibit, "lists": lists_dir, "planted": planted}
