"""Test-only provenance helpers: raw PNG chunks, and the reference dwtDct embedding (kept out
of the product). The benign pictures themselves come from cairn.demo_provenance."""

from __future__ import annotations

import struct
import zlib

import numpy as np
from PIL import Image


def png_chunk(ctype: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + ctype + body + struct.pack(
        ">I", zlib.crc32(ctype + body) & 0xFFFFFFFF)


def insert_chunks(data: bytes, *chunks: bytes) -> bytes:
    """Put chunks right after IHDR."""
    ihdr_end = 8 + 12 + struct.unpack(">I", data[8:12])[0]
    return data[:ihdr_end] + b"".join(chunks) + data[ihdr_end:]



# -- the reference dwtDct watermark, embedded into benign pictures --------------------------
def embed_dwtdct(img: Image.Image, bits: np.ndarray, scale: float = 36.0) -> Image.Image:
    """Mark a picture the way invisible-watermark's dwtDct encoder does (U channel, Haar LL,
    4x4 blocks, largest non-first coefficient set to 9 or 27 mod 36), so the decoder can be
    tested on benign pictures without torch."""
    rgb = np.asarray(img.convert("RGB")).astype(np.float64)
    y = 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]
    u = np.clip(np.rint((rgb[..., 2] - y) * 0.492 + 128), 0, 255)
    v = np.clip(np.rint((rgb[..., 0] - y) * 0.877 + 128), 0, 255)
    h, w = (u.shape[0] // 4) * 4, (u.shape[1] // 4) * 4
    x = u[:h, :w]
    a, b, c, d = x[0::2, 0::2], x[0::2, 1::2], x[1::2, 0::2], x[1::2, 1::2]
    ll, lh, hl, hh = (a + b + c + d) / 2, (a - b + c - d) / 2, (a + b - c - d) / 2, \
        (a - b - c + d) / 2
    rows, cols = ll.shape[0] // 4, ll.shape[1] // 4
    k = 0
    for i in range(rows):
        for j in range(cols):
            blk = ll[i * 4:i * 4 + 4, j * 4:j * 4 + 4]
            flat = blk.ravel()
            pos = int(np.argmax(np.abs(flat[1:]))) + 1
            val, bit = flat[pos], bits[k % len(bits)]
            new = (abs(val) // scale + 0.25 + 0.5 * bit) * scale
            blk[pos // 4, pos % 4] = new if val >= 0 else -new
            k += 1
    out = np.empty_like(x)
    out[0::2, 0::2] = (ll + lh + hl + hh) / 2
    out[0::2, 1::2] = (ll - lh + hl - hh) / 2
    out[1::2, 0::2] = (ll + lh - hl - hh) / 2
    out[1::2, 1::2] = (ll - lh - hl + hh) / 2
    u[:h, :w] = out
    r = y + (v - 128) / 0.877
    bl = y + (u - 128) / 0.492
    g = (y - 0.299 * r - 0.114 * bl) / 0.587
    return Image.fromarray(np.clip(np.rint(np.stack([r, g, bl], -1)), 0, 255).astype(np.uint8))
