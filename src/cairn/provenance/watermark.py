"""The Stable Diffusion reference invisible watermarks (invisible-watermark's `dwtDct`),
decoded with numpy alone (the package pulls in torch and CUDA).

The method: convert to YUV, take the U channel (the only one with a non-zero scale, 36, in
the reference settings), one level of a Haar DWT, and walk the LL band in 4x4 blocks, row by
row; block k carries bit k mod L in the magnitude of its largest coefficient other than the
first: bit = (|c| mod 36) > 18. Each bit's votes are averaged over all its blocks.

Marks: SD 1.x writes the bytes `StableDiffusionV1`, SD 2.x `SDV2`, SDXL the 48 bits of
0xB3EC907BB19E. Decision bands for SDXL, as Stability's detect script uses them: <= 27
matching bits none, 28-33 partial, 34-35 likely, >= 36 very likely (scaled by length for the
byte marks). An unmarked picture matches 28+ of 48 bits about one time in seven, so only
`likely` and `very likely` become findings; their strength is `statistical`.

Survives PNG and 4:4:4 JPEG; not 4:2:0 JPEG (chroma is halved), resizing or cropping: a
4:2:0 JPEG is not examined at all.
"""

from __future__ import annotations

import numpy as np

from cairn.media.decode import Picture
from cairn.provenance.finding import Finding

SCALE = 36.0
BLOCK = 4
MIN_PIXELS = 256 * 256  # the reference refuses smaller pictures
MARKS: dict[str, np.ndarray] = {
    "sdxl": np.array([int(b) for b in bin(0xB3EC907BB19E)[2:]], dtype=np.uint8),
    "sd1": np.unpackbits(np.frombuffer(b"StableDiffusionV1", dtype=np.uint8)),
    "sd2": np.unpackbits(np.frombuffer(b"SDV2", dtype=np.uint8)),
}
GENERATOR = {"sdxl": "Stable Diffusion XL", "sd1": "Stable Diffusion 1.x",
             "sd2": "Stable Diffusion 2.x"}


def band(matching: int, length: int) -> str:
    """Stability's SDXL bands, for 48 bits; other lengths scaled to the same fractions."""
    m = matching * 48 / length
    if m >= 36:
        return "very likely"
    if m >= 34:
        return "likely"
    if m >= 28:
        return "partial"
    return "none"


def u_channel(rgb: np.ndarray) -> np.ndarray:
    """8-bit U as OpenCV's BGR2YUV computes it: 0.492 (B - Y) + 128, rounded, clipped."""
    f = rgb.astype(np.float32)
    y = 0.299 * f[..., 0] + 0.587 * f[..., 1] + 0.114 * f[..., 2]
    return np.clip(np.rint((f[..., 2] - y) * 0.492 + 128.0), 0, 255)


def block_votes(u: np.ndarray) -> np.ndarray:
    """One vote (0/1) per 4x4 block of the Haar LL band, in the reference's row-major order."""
    h, w = (u.shape[0] // 4) * 4, (u.shape[1] // 4) * 4
    x = u[:h, :w].astype(np.float64)
    ll = (x[0::2, 0::2] + x[0::2, 1::2] + x[1::2, 0::2] + x[1::2, 1::2]) / 2.0
    rows, cols = ll.shape[0] // BLOCK, ll.shape[1] // BLOCK
    blocks = (ll[:rows * BLOCK, :cols * BLOCK].reshape(rows, BLOCK, cols, BLOCK)
              .transpose(0, 2, 1, 3).reshape(rows * cols, BLOCK * BLOCK))
    pos = np.argmax(np.abs(blocks[:, 1:]), axis=1) + 1
    val = np.abs(blocks[np.arange(len(blocks)), pos])
    return (np.mod(val, SCALE) > 0.5 * SCALE).astype(np.float64)


def decode_bits(votes: np.ndarray, length: int) -> np.ndarray:
    idx = np.arange(len(votes)) % length
    sums = np.bincount(idx, weights=votes, minlength=length)
    counts = np.bincount(idx, minlength=length)
    return (sums / np.maximum(counts, 1) * 255 > 127).astype(np.uint8)


def examinable(picture: Picture) -> str | None:
    """Why the picture cannot carry a readable mark, or None if it can (from its header:
    no pixels are decoded for a picture that could not carry one)."""
    if picture.size is None:
        return "not decodable"
    width, height = picture.size
    if width * height < MIN_PIXELS:
        return "smaller than 256x256"
    if picture.jpeg_sampling not in (None, 0):
        return "JPEG with subsampled chroma"
    return None


def read_watermarks(picture: Picture) -> list[Finding]:
    """Marks in the full-resolution frame media/decode gives; none when it gives none (the
    decode's refusal is the PDQ stage's error)."""
    if examinable(picture):
        return []
    rgb = picture.rgb()
    if rgb is None:
        return []
    votes = block_votes(u_channel(rgb))
    out = []
    for name, mark in MARKS.items():
        if len(votes) < len(mark):
            continue
        bits = decode_bits(votes, len(mark))
        matching = int(np.sum(bits == mark))
        decision = band(matching, len(mark))
        if decision in ("likely", "very likely"):
            out.append(Finding("watermark", "statistical", "pixels:dwtDct", {
                "scheme": f"invisible-watermark dwtDct ({name})", "mark": name,
                "generator_family": GENERATOR[name], "matching_bits": matching,
                "bits": len(mark), "decision": decision}))
    return out
