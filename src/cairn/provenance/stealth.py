"""Metadata hidden in pixels' least significant bits ("stealth" metadata), the one reader of
it for every generator that writes it (A1111's stealth pnginfo extension, NovelAI, SwarmUI,
ComfyUI stealth nodes). The signature says where the bits are and whether they are gzip; the
payload says whose they are, so generator readers tell the writers apart by what they find
in `Stealth.payload`, never by the signature alone (NovelAI and A1111 share `stealth_pngcomp`).

Layout (FACTS.md "Stealth metadata in pixels"; ashen-sensored/sd_webui_stealth_pnginfo
`scripts/stealth_pnginfo.py`, `add_data` / `read_info_from_image_stealth`): pixels visited
column by column (x outer, y inner) from the top-left; a 15-byte ASCII signature, a 32-bit
big-endian length in bits, the payload; bytes MSB first. In the alpha variants each pixel
gives one bit (its alpha LSB); in the RGB variants three (the R, G, B LSBs in turn), so the
bit stream runs on through the channels of one pixel before the next. Whatever follows the
payload (NovelAI's second length and FEC bytes, `0xffffffff` when none) is never read.

Only the bits needed are unpacked, in stages: the signature (120 bits), then the length, then
the payload, each from the few columns holding it, so a 4096 x 4096 picture without a
signature costs one 120-bit read per channel family.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

SIGNATURES: dict[bytes, tuple[str, bool]] = {  # signature -> (channel, gzip-compressed)
    b"stealth_pnginfo": ("alpha", False), b"stealth_pngcomp": ("alpha", True),
    b"stealth_rgbinfo": ("rgb", False), b"stealth_rgbcomp": ("rgb", True)}
SIGNATURE_BITS = 15 * 8
LENGTH_BITS = 32
MAX_PAYLOAD = 4 * 1024 * 1024  # bytes as stored in the pixels
MAX_INFLATED = 16 * 1024 * 1024  # bytes a gzip payload may inflate to (A1111 texts are KBs)
# formats whose pixels keep their LSBs; RGB bits of a JPEG are noise, and reading them would
# force a full-size decode that fast-mode PDQ avoids
LOSSLESS = frozenset({"PNG", "WEBP", "TIFF", "BMP"})


class StealthError(ValueError):
    """A signature is there, but what follows is damaged; the message names the signature
    first (`stealth_pngcomp: ...`), so `error_source` can say which channel it was in."""


@dataclass(frozen=True, slots=True)
class Stealth:
    signature: str  # stealth_pnginfo | stealth_pngcomp | stealth_rgbinfo | stealth_rgbcomp
    channel: str  # "alpha" (alpha LSBs) or "rgb" (the R, G, B LSBs of each pixel in turn)
    compressed: bool  # the payload was gzip (it is stored here decompressed)
    payload: bytes
    # the header was damaged but the payload was still recovered (a gzip stream ends by
    # itself): what was wrong, for the finding's error note; None when all was sound
    note: str | None = None

    @property
    def source(self) -> str:
        """A finding's `source` for what this payload carried: `alpha-lsb` or `rgb-lsb`."""
        return f"{self.channel}-lsb"

    def describe(self) -> dict[str, Any]:
        """What a finding says of the carrier: signature, channel, compression."""
        return {"signature": self.signature, "channel": self.channel,
                "compressed": self.compressed}

    def text(self) -> str:
        return self.payload.decode("utf-8", "replace")

    def json_object(self) -> dict | None:
        """The payload as a JSON object, or None when it is not one (A1111's infotext)."""
        try:
            value = json.loads(self.payload.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            return None
        return value if isinstance(value, dict) else None


def error_source(error: str) -> str:
    """The finding source (`alpha-lsb` / `rgb-lsb`) a StealthError message is about."""
    channel = SIGNATURES.get(error.partition(":")[0].encode("ascii", "replace"))
    return f"{channel[0]}-lsb" if channel else "pixels-lsb"


def lsb_bytes(plane: np.ndarray, start: int, nbits: int) -> bytes:
    """Bits [start, start + nbits) of a HxWxC plane's LSB stream (column by column, the C
    channels of a pixel in turn), packed MSB first. Touches only the columns holding them;
    `start` and `nbits` are multiples of 8 and within the plane."""
    h, _, c = plane.shape
    per_column = h * c
    first, last = start // per_column, -(-(start + nbits) // per_column)
    block = plane[:, first:last, :].transpose(1, 0, 2).reshape(-1)
    offset = start - first * per_column
    return np.packbits(block[offset:offset + nbits] & 1).tobytes()


def _inflate(data: bytes, signature: str) -> tuple[bytes, bool]:
    """(gzip member inflated, whether it ended by itself), bounded by MAX_INFLATED."""
    d = zlib.decompressobj(wbits=31)
    try:
        out = d.decompress(data, MAX_INFLATED + 1)
    except zlib.error as e:
        raise StealthError(f"{signature}: payload is not gzip: {e}") from None
    if len(out) > MAX_INFLATED:
        raise StealthError(f"{signature}: gzip payload inflates beyond "
                           f"{MAX_INFLATED // (1024 * 1024)} MiB")
    return out, d.eof


def _read(plane: np.ndarray, signatures: tuple[bytes, ...]) -> Stealth | None:
    h, w, c = plane.shape
    total = h * w * c
    if total < SIGNATURE_BITS + LENGTH_BITS:
        return None
    sig = lsb_bytes(plane, 0, SIGNATURE_BITS)
    if sig not in signatures:
        return None
    channel, compressed = SIGNATURES[sig]
    name = sig.decode("ascii")
    length = int.from_bytes(lsb_bytes(plane, SIGNATURE_BITS, LENGTH_BITS), "big")  # in bits
    room = total - SIGNATURE_BITS - LENGTH_BITS
    room_bits = min(room, 8 * MAX_PAYLOAD) // 8 * 8
    sound = 0 < length <= room_bits and length % 8 == 0
    if sound:
        data = lsb_bytes(plane, SIGNATURE_BITS + LENGTH_BITS, length)
        if not compressed:
            return Stealth(name, channel, False, data)
        payload, ended = _inflate(data, name)
        if not ended:
            raise StealthError(f"{name}: gzip payload is truncated or damaged "
                               f"({len(data)} bytes stored)")
        return Stealth(name, channel, True, payload)
    what = f"{name}: the header gives a payload of {length} bits"
    if length > room:
        what += f"; the picture holds {room}"
    elif length > 8 * MAX_PAYLOAD:
        what += f", past the {MAX_PAYLOAD // (1024 * 1024)} MiB limit"
    else:
        what += ", not whole bytes" if length else " (none)"
    if not compressed or room_bits < 8:
        raise StealthError(what)
    # a gzip stream says where it ends: read on to it, so a damaged length loses nothing
    payload, ended = _inflate(lsb_bytes(plane, SIGNATURE_BITS + LENGTH_BITS, room_bits), name)
    if not ended:
        raise StealthError(what)
    return Stealth(name, channel, True, payload,
                   note=f"{what}; payload read to the end of its gzip stream instead")


def read_stealth(picture: Any) -> Stealth | None:
    """The stealth payload of a decoded picture (media/decode `Picture`): alpha LSBs first,
    then, for lossless formats, RGB; None when none is there; StealthError when a signature's
    payload is damaged beyond recovery."""
    alpha = picture.alpha()
    if alpha is not None and alpha.ndim == 2:
        found = _read(alpha[:, :, None], (b"stealth_pnginfo", b"stealth_pngcomp"))
        if found is not None:
            return found
    if getattr(picture, "format", None) not in LOSSLESS:
        return None
    rgb = picture.rgb()
    if rgb is None or rgb.ndim != 3 or rgb.shape[2] != 3:
        return None
    return _read(rgb, (b"stealth_rgbinfo", b"stealth_rgbcomp"))
