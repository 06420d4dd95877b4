"""The one place bytes become pixels: every pixel reader gets its frame from here, or none.

Why one place: a reader that opens the bytes itself escapes the limits. A 109 KB PNG declaring
30000x30000 was refused by the PDQ decode and then decoded anyway by the watermark reader
(and by Pillow's PNG `getexif`, which loads the whole picture to look for a late eXIf chunk):
24 GB and a dead worker. So:

- `Picture(data, max_pixels)` opens the header only (Pillow's lazy open: metadata, no pixel
  buffer) and decodes a frame on demand, once, after checking width x height against
  `max_pixels` BEFORE anything is allocated. A refusal names the size and the limit.
- Pixel readers (PDQ exact and fast, the watermark and NovelAI stealth/signature readers,
  the detector, later thumbnails) take a `Picture` and ask it for the arrays they need
  (`rgb()`, `alpha()`, `rgb_resized()`): `None` when the picture cannot or may not be
  decoded. Nothing outside media/ calls Pillow's pixel methods (tests/test_decode_limits.py).
- Pillow sees a PNG without its text chunks (tEXt/zTXt/iTXt): pixels never depend on them,
  provenance/containers reads them from the bytes with its own limits, and Pillow refuses the
  whole picture when one inflates past 1 MiB ("Decompressed data too large"), which let a 3 KB
  chunk stop a listed PNG from matching. Chunks Pillow would have refused become `notes`.
- Only the image formats Cairn sniffs are opened (no EPS/ghostscript, no obscure plugins).

`fast` PDQ decodes colour and grey JPEGs at reduced scale (Pillow `draft`); a reader that
needs the full frame then gets a second, full decode under the same limit, only if it asks.
"""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageFilter, JpegImagePlugin
from pillow_heif import register_heif_opener

register_heif_opener()
# Our own pixel check (below) replaces Pillow's global guard so the limit is per scan.
Image.MAX_IMAGE_PIXELS = None

# Pillow plugin ids for what media/sniff calls an image (JPEG's opener also yields MPO).
FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF", "HEIF", "AVIF")
FAST_MIN_SIDE = 512
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PNG_TEXT_CHUNKS = (b"tEXt", b"zTXt", b"iTXt")
# What Pillow needs for a PNG's (or APNG's) pixels; every other chunk is metadata that
# Pillow never applies to pixel values, yet can make it refuse the whole picture (an iCCP
# inflating past 1 MiB, a bad CRC on any ancillary chunk), so it never reaches Pillow.
PNG_PIXEL_CHUNKS = (b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"IEND", b"acTL", b"fcTL", b"fdAT")
PILLOW_TEXT_LIMIT = 1 << 20  # PngImagePlugin.MAX_TEXT_CHUNK: a larger chunk fails the open
# Modes whose python-threatexchange hash is not of the picture a person sees: P and PA hash
# palette indices, CMYK hashes C/M/Y as if R/G/B, "1" hashes 0/1 values (quality 0).
NON_VISUAL_MODES = ("P", "PA", "CMYK", "1")


class DecodeError(Exception):
    """An image that cannot be decoded safely; the message says why."""


def check_pixels(width: int, height: int, max_pixels: int, what: str = "image") -> None:
    """Refuse a frame over the limit before a byte of it is allocated."""
    if width * height > max_pixels:
        raise DecodeError(
            f"{what} is {width}x{height} = {width * height} pixels, over the limit of "
            f"{max_pixels} (max_pixels; possible decompression bomb); not decoded")


def gif_canvas(data: bytes) -> tuple[int, int] | None:
    """The canvas a GIF's first frame needs, from the bytes: its logical screen grown to the
    first image descriptor's extent, as Pillow grows it. None if not a GIF or unreadable here.

    Pillow allocates that canvas while it *opens* a GIF (the disposal buffer), before any
    load: a 107-byte GIF whose first frame claims 32768 x 18701 took 600 MB at open
    (fuzz/decode). So a GIF's size is checked from its bytes before Pillow sees it."""
    if data[:6] not in (b"GIF87a", b"GIF89a") or len(data) < 13:
        return None
    width, height = struct.unpack("<HH", data[6:10])
    pos = 13 + (3 << ((data[10] & 7) + 1) if data[10] & 0x80 else 0)
    while pos < len(data):  # each step moves on: linear in the file, like Pillow's own walk
        kind = data[pos]
        if kind == 0x3B:  # trailer: no image
            break
        if kind == 0x2C:  # image descriptor: left, top, width, height
            if pos + 9 > len(data):
                break
            left, top, w, h = struct.unpack("<HHHH", data[pos + 1:pos + 9])
            return max(width, left + w), max(height, top + h)
        if kind == 0x21:  # extension: introducer, label, sub-blocks until a zero length
            pos += 2
            while pos < len(data) and data[pos]:
                pos += data[pos] + 1
        pos += 1  # Pillow skips any other byte, one at a time
    return width, height


def _inflated_size(ctype: bytes, body: bytes) -> int:
    """How far a text or ICC chunk inflates, counted up to Pillow's limit + 1 (0 if not
    compressed or damaged: damage is containers' to note)."""
    _, _, rest = body.partition(b"\0")
    if ctype in (b"zTXt", b"iCCP"):
        compressed = rest[1:]
    elif ctype == b"iTXt" and rest[:1] == b"\x01":
        parts = rest[2:].split(b"\0", 2)
        compressed = parts[2] if len(parts) == 3 else b""
    else:
        return 0
    try:
        return len(zlib.decompressobj().decompress(compressed, PILLOW_TEXT_LIMIT + 1))
    except zlib.error:
        return 0


def pillow_view(data: bytes, notes: list[str] | None = None) -> bytes:
    """The bytes Pillow is given: a PNG with only the chunks its pixels come from
    (PNG_PIXEL_CHUNKS); anything else unchanged. A dropped chunk that would have made Pillow
    refuse the picture is noted with its offset (text or ICC inflating past 1 MiB, while
    64 MiB of inflating lasts; a bad CRC): it is skipped, never a reason not to hash.
    Metadata is read from the original bytes (provenance/containers)."""
    if not data.startswith(PNG_MAGIC):
        return data
    out, pos, dropped, budget = [data[:8]], 8, False, 64 * PILLOW_TEXT_LIMIT
    while pos + 12 <= len(data):
        length, ctype = struct.unpack(">I4s", data[pos:pos + 8])
        end = pos + 12 + length
        if end > len(data):
            break  # truncated: Pillow decides what to make of the rest
        if ctype in PNG_PIXEL_CHUNKS:
            out.append(data[pos:end])
        else:
            dropped = True
            name = ctype.decode("latin-1")
            size = _inflated_size(ctype, data[pos + 8:end - 4]) if budget > 0 else 0
            budget -= size
            if notes is not None and size > PILLOW_TEXT_LIMIT:
                notes.append(f"PNG chunk {name!r} at byte {pos}: "
                             f"{'profile' if ctype == b'iCCP' else 'text'} inflates past "
                             f"{PILLOW_TEXT_LIMIT} bytes; skipped for the pixel decode (the "
                             "picture is hashed)")
            elif notes is not None and \
                    zlib.crc32(data[pos + 4:end - 4]) != int.from_bytes(data[end - 4:end], "big"):
                notes.append(f"PNG chunk {name!r} at byte {pos}: bad CRC; skipped for the "
                             "pixel decode (the picture is hashed)")
        pos = end
        if ctype == b"IEND":
            break
    if not dropped:
        return data
    out.append(data[pos:])
    return b"".join(out)


def open_header(data: bytes) -> Image.Image:
    """Pillow's lazy open: header and metadata, no pixel buffer. Raises DecodeError."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return Image.open(io.BytesIO(data), formats=FORMATS)
    except Image.DecompressionBombError as e:
        raise DecodeError(f"decompression bomb: {e}") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise DecodeError(f"corrupt or truncated image: {e}") from None
    except Exception as e:  # noqa: BLE001 - decoders raise a zoo of types on hostile input
        raise DecodeError(f"image decoder failed: {type(e).__name__}: {e}") from None


@dataclass
class Picture:
    """One image file: its header now, its pixels on demand, each frame decoded at most once
    and only within `max_pixels`. `error` says why pixels are unavailable; `notes` what was
    skipped on the way (oversized text chunks)."""

    data: bytes
    max_pixels: int
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    header: Image.Image | None = field(default=None, repr=False)
    _view: bytes = field(default=b"", repr=False)
    _frames: dict[int | None, Image.Image | DecodeError] = field(default_factory=dict,
                                                                 repr=False)
    _rgb: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self._view = pillow_view(self.data, self.notes)
        try:
            canvas = gif_canvas(self.data)
            if canvas is not None:  # Pillow allocates a GIF's canvas while opening it
                check_pixels(*canvas, self.max_pixels)
            self.header = open_header(self._view)
        except DecodeError as e:
            self.error = str(e)

    @property
    def size(self) -> tuple[int, int] | None:
        return self.header.size if self.header is not None else None

    @property
    def format(self) -> str | None:
        return self.header.format if self.header is not None else None

    @property
    def bands(self) -> tuple[str, ...]:
        return self.header.getbands() if self.header is not None else ()

    @property
    def jpeg_sampling(self) -> int | None:
        """A JPEG's chroma sampling from its header (0 = 4:4:4; -1 = not 3-channel), else
        None."""
        h = self.header
        return JpegImagePlugin.get_sampling(h) if h is not None and h.format == "JPEG" else None

    def frame(self, reduce_to: int | None = None) -> Image.Image:
        """The first frame, loaded; raises DecodeError. `reduce_to`: decode a colour or grey
        JPEG the fast way, at 1/2, 1/4 or 1/8 scale in the DCT domain (Pillow `draft`) while
        both sides stay >= `reduce_to`, and as luma alone: JFIF's Y, which is PDQ's luma (libjpeg
        then skips the chroma's inverse DCT, upsampling and colour conversion: 35% less
        time than a YCbCr decode, bench/bench_scan.py, and the same Y plane bit for bit).
        Not bit-identical to the full decode. `info["original_size"]` keeps the true size."""
        if self.header is None:
            raise DecodeError(self.error or "not an image")
        w, h = self.header.size
        fast = bool(reduce_to) and self.header.format == "JPEG" and \
            self.header.mode in ("RGB", "L")
        key = reduce_to if fast else None
        cached = self._frames.get(key)
        if isinstance(cached, DecodeError):
            raise cached
        if cached is not None:
            return cached
        try:
            check_pixels(w, h, self.max_pixels)
            image = open_header(self._view)  # a fresh one: draft and load change it
            image.info["original_size"] = (w, h)
            if fast and reduce_to:
                target = (reduce_to, reduce_to) if min(w, h) >= 2 * reduce_to else None
                image.draft("L", target or (w, h))
            _load(image)
        except DecodeError as e:
            self.error = str(e)
            self._frames[key] = e
            raise
        self._frames[key] = image
        return image

    def full(self) -> Image.Image | None:
        """The full-resolution frame, or None (the reason in `error`)."""
        try:
            return self.frame()
        except DecodeError:
            return None

    def rgb(self) -> np.ndarray | None:
        """HxWx3 uint8 of the full frame as seen, or None."""
        if self._rgb is None:
            image = self.full()
            if image is None:
                return None
            self._rgb = np.asarray(image if image.mode == "RGB" else image.convert("RGB"))
        return self._rgb

    def alpha(self) -> np.ndarray | None:
        """HxW uint8 alpha plane of the full frame; None without alpha or pixels."""
        if "A" not in self.bands:
            return None
        image = self.full()
        return np.asarray(image.getchannel("A")) if image is not None else None

    def rgb_resized(self, size: tuple[int, int]) -> np.ndarray | None:
        """The full frame as RGB, resized (bilinear) to `size`: a detector's input."""
        image = self.full()
        if image is None:
            return None
        return np.asarray(image.convert("RGB").resize(size, Image.Resampling.BILINEAR))


def _load(image: Image.Image) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image.load()
    except DecodeError:
        raise
    except Image.DecompressionBombError as e:
        raise DecodeError(f"decompression bomb: {e}") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise DecodeError(f"corrupt or truncated image: {e}") from None
    except MemoryError:
        raise DecodeError("image decoder ran out of memory") from None
    except Exception as e:  # noqa: BLE001 - decoders raise a zoo of types on hostile input
        raise DecodeError(f"image decoder failed: {type(e).__name__}: {e}") from None


def open_image(data: bytes, max_pixels: int, reduce_to: int | None = None) -> Image.Image:
    """Decode the first frame of an image under `max_pixels` (see `Picture.frame`)."""
    return Picture(data, max_pixels).frame(reduce_to)


# -- arrays of a decoded frame, for the PDQ signals ---------------------------------------
def pdq_pixels(image: Image.Image) -> np.ndarray:
    """The uint8 HxWx3 array python-threatexchange feeds to pdqhash, quirks included.

    It converts only LA and I;16 to RGB; other modes pass their raw channels (P: palette
    indices, CMYK: C, M, Y). Deployed hashes were made this way, so we do the same.
    """
    if image.mode in ("LA", "I;16"):
        image = image.convert("RGB")
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, np.newaxis], 3, axis=2)
    arr = arr[:, :, :3]
    if arr.dtype != np.uint8:
        arr = arr.astype(np.uint8)
    return np.ascontiguousarray(arr)


def visual_pixels(image: Image.Image) -> np.ndarray | None:
    """The picture as seen (RGB) for modes whose reference hash is not of it, else None."""
    if image.mode not in NON_VISUAL_MODES:
        return None
    return np.ascontiguousarray(np.asarray(image.convert("RGB")))


def luma_or_rgb(image: Image.Image) -> np.ndarray:
    """A fast JPEG decode's Y plane or a grey picture (2-D), else HxWx3 RGB to weigh."""
    if image.mode == "YCbCr":
        return np.asarray(image.getchannel(0))
    if image.mode == "L":
        return np.asarray(image)
    return np.asarray(image if image.mode == "RGB" else image.convert("RGB"))


# -- thumbnails for the reviewer UI ---------------------------------------------------------
THUMB_SIDE = 256  # the longest side of a thumbnail, in pixels
THUMB_BLUR = 0.05  # Gaussian blur radius as a share of the thumbnail's longest side


def thumbnail_png(picture: Picture | np.ndarray, side: int = THUMB_SIDE,
                  blurred: bool = True, blur: float = THUMB_BLUR) -> bytes | None:
    """A PNG of at most `side` pixels a side of a decoded picture (or of a video's luma frame,
    a 2-D array); `blurred`: greyscale and Gaussian-blurred (radius `blur` x side; 0: grey
    only), so what leaves the server for a browser is already blurred, never merely styled
    so. None when the picture has no pixels (the reason in its `error`). Decoded under the
    picture's own `max_pixels`, like every other reader."""
    if isinstance(picture, np.ndarray):
        image = Image.fromarray(np.ascontiguousarray(picture.astype(np.uint8)))
    else:
        full = picture.full()
        if full is None:
            return None
        image = full if full.mode in ("RGB", "L") else full.convert("RGB")
    image = image.copy()
    image.thumbnail((side, side), Image.Resampling.LANCZOS)
    if blurred:
        image = image.convert("L")
        if blur > 0:  # at least 40 px worth of radius, for a tiny picture
            image = image.filter(ImageFilter.GaussianBlur(max(40 * blur,
                                                              blur * max(image.size))))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


# -- EXIF without pixels ----------------------------------------------------------------------
def exif_of(header: Image.Image, raw: bytes | None = None) -> Image.Exif:
    """The EXIF of a header-only image, never loading pixels: Pillow's PNG `getexif` decodes
    the whole picture to look for a late eXIf chunk, so for a PNG the caller passes that
    chunk as `raw`. (Entries pointing at the same bytes cannot amplify: Pillow 13 skips tag
    data beyond the block's size, "Tag data larger than file"; tests/test_decode_limits.py
    holds it to that.)"""
    if header.format == "PNG" or raw is not None:
        exif = Image.Exif()
        if raw:
            exif.load(raw)
        return exif
    return header.getexif()  # JPEG/WebP/HEIF: from info["exif"]; TIFF: IFDs read at open
