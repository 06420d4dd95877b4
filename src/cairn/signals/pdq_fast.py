"""A fast PDQ core: the Jarosz tent filter evaluated only where PDQ samples it.

PDQ filters the whole luma plane with two passes of 1-D box filters along rows and columns,
then keeps 64x64 samples. The filter is linear and separable, so the 64x64 buffer is
`Kr @ luma @ Kc.T`, where Kr (64 x H) and Kc (64 x W) are the rows of the two-pass operator
at the sampled positions. Each row of Kr is a tent only 2w-1 taps wide (w = ceil(H/128)), so
the product is computed as a banded gather-and-weight: about 64 x (2w-1) x W multiply-adds
instead of four passes over every pixel. Taps are cached per dimension (photos come in few
sizes).

Not bit-identical to the reference C++ (different float summation order, and the fast path
feeds the JPEG's own Y plane), so every hash made here is labelled `fast`; the conformance
test bounds its distance from the exact hash.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from cairn.signals.pdq import DIHEDRAL, PdqResult

_WINDOW_DIVISOR = 128


@lru_cache(maxsize=64)
def _sample_operator(n: int) -> np.ndarray:
    """64 x n float32: two box passes of window ceil(n/128), rows at floor((i + .5) n / 64).

    Only the 64 sampled rows of (box @ box) are formed, each over its own band: the full
    n x n box matrix was 24.6 GiB for a 602-byte GIF 48 x 63787 (fuzz/image_signals)."""
    w = (n + _WINDOW_DIVISOR - 1) // _WINDOW_DIVISOR
    half = (w + 2) // 2
    idx = np.arange(n)
    lo = np.maximum(0, idx - (w - half))
    hi = np.minimum(n - 1, idx + half - 1)
    out = np.zeros((64, n), dtype=np.float64)
    for r, s in enumerate(((np.arange(64) + 0.5) * n / 64).astype(np.int64)):
        ks = np.arange(lo[s], hi[s] + 1)  # the box rows sampled row s averages
        a, b = lo[ks[0]], hi[ks[-1]]  # and the columns they reach
        cols = np.arange(a, b + 1)
        inside = (cols[None, :] >= lo[ks, None]) & (cols[None, :] <= hi[ks, None])
        box_rows = inside / (hi[ks] - lo[ks] + 1)[:, None]
        out[r, a:b + 1] = np.full(len(ks), 1.0 / len(ks)) @ box_rows
    return out.astype(np.float32)


@lru_cache(maxsize=64)
def _taps(n: int) -> tuple[np.ndarray, np.ndarray]:
    """The non-zero band of each sampled row of the operator: (indices, weights), 64 x T."""
    op = _sample_operator(n)
    nonzero = op != 0
    first = nonzero.argmax(axis=1)
    last = n - 1 - nonzero[:, ::-1].argmax(axis=1)
    width = int((last - first).max()) + 1
    idx = first[:, None] + np.arange(width)[None, :]
    inside = idx < n
    idx = np.where(inside, idx, n - 1)
    weights = np.where(inside, np.take_along_axis(op, idx, axis=1), 0.0).astype(np.float32)
    return idx.astype(np.intp), weights


def _dct_matrix() -> np.ndarray:
    i = np.arange(1, 17)[:, None]
    j = np.arange(64)[None, :]
    return (np.sqrt(2.0 / 64.0) * np.cos(np.pi / 128.0 * i * (2 * j + 1))).astype(np.float32)


_DCT = _dct_matrix()
_ODD = (np.arange(16) & 1).astype(bool)
_SIGN_J = np.where(_ODD, 1.0, -1.0)[None, :]  # + for odd column index
_SIGN_I = np.where(_ODD, 1.0, -1.0)[:, None]  # + for odd row index
_CHECKER = np.where((np.arange(16)[:, None] + np.arange(16)[None, :]) & 1, -1.0, 1.0)


def _quality(buf: np.ndarray) -> int:
    dv = np.trunc((buf[:-1, :] - buf[1:, :]) * 100.0 / 255.0)
    dh = np.trunc((buf[:, :-1] - buf[:, 1:]) * 100.0 / 255.0)
    total = int(np.abs(dv).sum() + np.abs(dh).sum())
    return min(100, total // 90)


def _hex(coeffs: np.ndarray) -> str:
    return _hexes(coeffs[None])[0]


_BIT = (1 << np.arange(16, dtype=np.uint32))[None, None, :]


def _hexes(stack: np.ndarray) -> tuple[str, ...]:
    """Hex of each 16x16 coefficient block of an N x 16 x 16 stack, all in one pass: bit
    (i, j) is set where the coefficient exceeds the block's lower median (Torben's), row 15
    first, each row one big-endian 16-bit word."""
    flat = stack.reshape(len(stack), 256)
    median = np.partition(flat, 127, axis=1)[:, 127:128]
    bits = (flat > median).reshape(-1, 16, 16).astype(np.uint32)
    words = (bits * _BIT).sum(axis=2)[:, ::-1].astype(">u2")
    return tuple(np.ascontiguousarray(w).tobytes().hex() for w in words)


def _variants(a: np.ndarray) -> np.ndarray:
    """The DCT of each dihedral transform of the picture, from the original's DCT alone:
    turns and flips of the 64x64 buffer are sign changes of odd rows/columns and a transpose
    of its 16x16 coefficients (pdqhash's dct16OriginalTo*), so one DCT serves all 8.
    DIHEDRAL order; 8 x 16 x 16."""
    sj, si, ck = a * _SIGN_J, a * _SIGN_I, a * _CHECKER
    return np.stack((
        a,
        sj.T,  # rot90
        ck,  # rot180
        si.T,  # rot270
        si,  # flipx
        sj,  # flipy
        a.T,  # flipplus1
        ck.T,  # flipminus1
    ))


def pdq_from_luma(luma: np.ndarray, dihedral: bool = True) -> PdqResult:
    """PDQ of a 2-D luma plane (0..255, any numeric dtype), labelled `fast`."""
    h, w = luma.shape
    ri, rw = _taps(h)
    ci, cw = _taps(w)
    rows = np.einsum("it,itw->iw", rw, luma[ri].astype(np.float32))  # 64 x W
    buf = np.einsum("jt,ijt->ij", cw, rows[:, ci])  # 64 x 64
    coeffs = _DCT @ buf @ _DCT.T
    quality = _quality(buf)
    assert len(DIHEDRAL) == 8
    if not dihedral:
        h0 = _hex(coeffs)
        return PdqResult(h0, quality, "fast", (h0,))
    hexes = _hexes(_variants(coeffs))
    return PdqResult(hexes[0], quality, "fast", hexes)


def luma_from_rgb(pixels: np.ndarray) -> np.ndarray:
    """0.299 R + 0.587 G + 0.114 B as float32, for an HxWx3 array."""
    weights = np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return pixels[:, :, :3].astype(np.float32) @ weights
