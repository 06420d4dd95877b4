"""PDQ perceptual hashes, bit-identical to python-threatexchange's PdqSignal.

`exact` mode hashes the full-resolution Pillow decode exactly as python-threatexchange does
(same mode handling, same `pdqhash` C++ core), so hashes we export agree with deployed lists.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pdqhash

from cairn.media.decode import NON_VISUAL_MODES as NON_VISUAL_MODES
from cairn.media.decode import pdq_pixels, visual_pixels

if TYPE_CHECKING:
    from PIL import Image

# the array python-threatexchange feeds to pdqhash: made in media/decode, like every pixel
pixels_for_pdq = pdq_pixels

HASH_BITS = 256
HEX_DIGITS = 64
MATCH_DISTANCE = 31
MIN_QUALITY = 50

# Order of pdqhash.compute_dihedral's outputs; the names are what a match reports as `transform`.
DIHEDRAL = ("none", "rot90", "rot180", "rot270", "flipx", "flipy", "flipplus1", "flipminus1")


@dataclass(frozen=True, slots=True)
class PdqResult:
    hash: str
    quality: int
    mode: str = "exact"
    # hex of the 8 dihedral variants, DIHEDRAL order; [0] == hash
    dihedral: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {"hash": self.hash, "quality": self.quality, "mode": self.mode}


def _bits_to_hex(bits: np.ndarray) -> str:
    return np.packbits(bits.astype(np.uint8)).tobytes().hex()


def pdq_from_pixels(pixels: np.ndarray, dihedral: bool = True) -> PdqResult:
    """PDQ of an HxWx3 uint8 array with the reference's C++ core (fast hashes come from
    pdq_fast)."""
    if dihedral:
        vectors, quality = pdqhash.compute_dihedral(pixels)
        hexes = tuple(_bits_to_hex(v) for v in vectors)
        return PdqResult(hexes[0], int(quality), "exact", hexes)
    vector, quality = pdqhash.compute(pixels)
    h = _bits_to_hex(vector)
    return PdqResult(h, int(quality), "exact", (h,))


def pdq_from_image(image: Image.Image, dihedral: bool = True) -> PdqResult:
    """PDQ of a decoded frame (media/decode), exactly as python-threatexchange hashes it."""
    return pdq_from_pixels(pdq_pixels(image), dihedral)


def visual_variant(image: Image.Image) -> PdqResult | None:
    """PDQ of the picture as seen (converted to RGB), for modes where the exact hash is not
    (palette, CMYK, bilevel). Used only as a query-side variant when matching; the stored
    hash stays the exact one."""
    rgb = visual_pixels(image)
    if rgb is None:
        return None
    result = pdq_from_pixels(rgb)
    return PdqResult(result.hash, result.quality, "rgb", result.dihedral)


def hex_to_bytes(value: str) -> bytes:
    """Parse a PDQ hex string (64 hex digits); raise ValueError naming the problem."""
    v = value.strip().lower()
    if len(v) != HEX_DIGITS:
        raise ValueError(f"PDQ hash must be {HEX_DIGITS} hex digits, got {len(v)}")
    try:
        return bytes.fromhex(v)
    except ValueError:
        raise ValueError(f"PDQ hash is not hexadecimal: {value!r}") from None


def normalise_hex(value: str) -> str:
    return hex_to_bytes(value).hex()


def hamming(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()
