"""Image bytes -> PDQ, in the mode asked for: the one path the scan, `cairn hash` and the
benchmarks share."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cairn.media.decode import FAST_MIN_SIDE, open_image
from cairn.signals.pdq import PdqResult, pdq_from_image, visual_variant
from cairn.signals.pdq_fast import pdq_from_luma

PDQ_MODES = ("exact", "fast")


@dataclass(frozen=True, slots=True)
class ImageSignals:
    pdq: PdqResult
    width: int
    height: int
    visual: PdqResult | None = None  # as-seen hash for palette/CMYK/bilevel images


def image_signals(data: bytes, max_pixels: int, mode: str = "exact",
                  dihedral: bool = True) -> ImageSignals:
    """Decode (raising DecodeError) and hash. `fast` applies to colour and grey JPEGs only:
    reduced-scale YCbCr decode + the fast PDQ core; everything else is hashed exactly."""
    if mode not in PDQ_MODES:
        raise ValueError(f"PDQ mode must be one of {PDQ_MODES}, not {mode!r}")
    image = open_image(data, max_pixels, reduce_to=FAST_MIN_SIDE if mode == "fast" else None)
    width, height = image.info.get("original_size", image.size)
    if image.mode == "YCbCr":  # only the fast JPEG decode yields YCbCr
        result = pdq_from_luma(np.asarray(image)[:, :, 0], dihedral)
    elif mode == "fast" and image.format == "JPEG" and image.mode == "L":
        result = pdq_from_luma(np.asarray(image), dihedral)
    else:
        result = pdq_from_image(image, dihedral)
    return ImageSignals(result, width, height, visual_variant(image))
