"""Image bytes -> PDQ, in the mode asked for: the one path the scan, `cairn hash` and the
benchmarks share. Pixels come from media/decode (a `Picture`), never from Pillow directly."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from cairn.media.decode import FAST_MIN_SIDE, Picture, luma_or_rgb
from cairn.signals.pdq import PdqResult, pdq_from_image, visual_variant
from cairn.signals.pdq_fast import luma_from_rgb, pdq_from_luma
from cairn.signals.variants import query_variants

PDQ_MODES = ("exact", "fast")


@dataclass(frozen=True, slots=True)
class ImageSignals:
    pdq: PdqResult
    width: int
    height: int
    visual: PdqResult | None = None  # as-seen hash for palette/CMYK/bilevel images
    variants: tuple[tuple[str, PdqResult], ...] = ()  # trimmed / cropped, for lookups only


def _luma(pixels: np.ndarray) -> np.ndarray:
    """The picture as seen, as a luma plane: for query variants, never the canonical hash."""
    return pixels if pixels.ndim == 2 else luma_from_rgb(pixels)


# Asked with the plain signals (hash, its turns, any as-seen variant) whether the trimmed
# and cropped variants are wanted: a scan answers from its list index, so they are made only
# for a picture whose plain hash matched nothing (and never when no list holds PDQ).
WantVariants = Callable[[ImageSignals], bool]


def image_signals(data: bytes | Picture, max_pixels: int | None = None, mode: str = "exact",
                  dihedral: bool = True, variants: bool | WantVariants = True
                  ) -> ImageSignals:
    """Decode (raising DecodeError) and hash. `data`: the file's bytes, or its `Picture`
    (already opened by the caller, so that provenance reuses the same decode); `max_pixels`
    is required with bytes. `fast` applies to colour and grey JPEGs only: reduced-scale luma
    decode + the fast PDQ core; everything else is hashed exactly. The 8 dihedral hashes
    come from one DCT in both modes. `variants`: whether to add the query-side variants
    (trim, crops), or a function deciding it from the plain signals, asked only after them."""
    if mode not in PDQ_MODES:
        raise ValueError(f"PDQ mode must be one of {PDQ_MODES}, not {mode!r}")
    if isinstance(data, Picture):
        picture = data
    elif max_pixels is None:
        raise ValueError("max_pixels is required when decoding bytes")
    else:
        picture = Picture(data, max_pixels)
    image = picture.frame(reduce_to=FAST_MIN_SIDE if mode == "fast" else None)
    width, height = image.info.get("original_size", image.size)
    # the fast JPEG decode yields the Y plane alone (YCbCr: a frame decoded before that)
    fast_core = image.mode == "YCbCr" or (
        mode == "fast" and image.format == "JPEG" and image.mode == "L")
    luma = _luma(luma_or_rgb(image)) if fast_core else None
    result = pdq_from_luma(luma, dihedral) if luma is not None else pdq_from_image(image,
                                                                                  dihedral)
    sig = ImageSignals(result, width, height, visual_variant(image))
    if not (variants(sig) if callable(variants) else variants):
        return sig
    if luma is None:
        luma = _luma(luma_or_rgb(image))
    return replace(sig, variants=tuple(query_variants(luma)))
