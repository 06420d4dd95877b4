"""Query-side variants: hashes of a picture with borders trimmed or its centre cropped.

PDQ misses letterboxing, borders and pictures embedded in a larger frame. These variants
leave the canonical hash alone and are only looked up when the plain hash matched nothing;
each match they make reports the variant as its `transform`.
"""

from __future__ import annotations

import numpy as np

from cairn.signals.pdq import PdqResult
from cairn.signals.pdq_fast import pdq_from_luma

CENTRAL_CROPS = (0.05, 0.10, 0.20)  # fraction removed from each side
_FLAT_STD = 3.0  # a border row/column varies less than this (0..255 luma)
_FLAT_DELTA = 6.0  # and stays this close to the border's colour
_MIN_TRIM = 0.01  # trimming less than 1% of a side changes nothing PDQ would notice


def _flat_run(profile_mean: np.ndarray, profile_std: np.ndarray) -> int:
    """How many leading entries look like one uniform border."""
    ref = profile_mean[0]
    flat = (profile_std < _FLAT_STD) & (np.abs(profile_mean - ref) < _FLAT_DELTA)
    if not flat[0]:
        return 0
    return int(np.argmin(flat)) if not flat.all() else len(flat)


def trim_box(luma: np.ndarray) -> tuple[int, int, int, int] | None:
    """(top, bottom, left, right) of the content inside uniform borders, or None if none."""
    h, w = luma.shape
    edges = (luma[0], luma[-1], luma[:, 0], luma[:, -1])
    if not any(float(e.std()) < _FLAT_STD for e in edges):
        return None  # no edge line is flat, so no border starts there: skip the profiles
    rmean, rstd = luma.mean(axis=1), luma.std(axis=1)
    cmean, cstd = luma.mean(axis=0), luma.std(axis=0)
    top = _flat_run(rmean, rstd)
    bottom = h - _flat_run(rmean[::-1], rstd[::-1])
    left = _flat_run(cmean, cstd)
    right = w - _flat_run(cmean[::-1], cstd[::-1])
    if bottom - top < h // 4 or right - left < w // 4:
        return None  # mostly flat: not a bordered picture
    trimmed = max(top, h - bottom) / h, max(left, w - right) / w
    if max(trimmed) < _MIN_TRIM:
        return None
    return top, bottom, left, right


def query_variants(luma: np.ndarray) -> list[tuple[str, PdqResult]]:
    """(name, hash) of each variant worth trying for a 2-D luma plane."""
    out: list[tuple[str, PdqResult]] = []
    box = trim_box(luma)
    if box is not None:
        t, b, left, r = box
        out.append(("trim", pdq_from_luma(luma[t:b, left:r])))
    h, w = luma.shape
    for frac in CENTRAL_CROPS:
        dy, dx = int(h * frac), int(w * frac)
        if h - 2 * dy >= 32 and w - 2 * dx >= 32:
            out.append((f"crop{int(frac * 100)}", pdq_from_luma(luma[dy:h - dy, dx:w - dx])))
    return out
