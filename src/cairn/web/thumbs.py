"""Thumbnails for the reviewer UI: made lazily from the evidence, cached in the store's home.

- Made from the evidence bytes through media/decode (`Picture`, under the scan's pixel
  limit) or, for a video, from its first frame through media/video (its luma: a grey key
  frame; a video is never played). The bytes are read only when their SHA-256 is the item's:
  a file changed since the scan gives no picture rather than another one.
- Variants per content: `blur` (greyscale, strongly Gaussian-blurred: the default, what a
  page shows), `blur2`/`blur1` (medium, light: a session that lowered its blur), `grey`
  (greyscale only: a session that turned blur off, confirmed and logged) and `clear` (what
  a reveal fetches). Blurring is done here, on the server, so the unblurred pixels reach a
  browser only when a reviewer reveals one item (a custody entry). LEVELS maps a session's
  blur level (store/exposure.py) to its variant.
- A video never plays: its key-frame strip is STRIP frames spread over its length, decoded
  once through media/video (luma: grey), each served like a thumbnail (`frames`).
- Cached as `$CAIRN_HOME/thumbs/<sha[:2]>/<sha256>.<variant>.png` (a frame:
  `<sha256>.f<k>.<variant>.png`), written atomically (a temporary file renamed): never beside
  the evidence, never in an export. A store kept in memory (no home) caches nothing.
- Archive members and carved items are not read back yet (`None`: the page says so).
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cairn.media import decode
from cairn.media.limits import Limits
from cairn.media.video import VideoDecodeError, luma_frames
from cairn.media.walk import O_NOATIME

# variant: share of the side that is the blur radius (None: not grey, not blurred)
VARIANTS: dict[str, float | None] = {"blur": 0.05, "blur2": 0.03, "blur1": 0.015, "grey": 0.0,
                                     "clear": None}
LEVELS = {3: "blur", 2: "blur2", 1: "blur1", 0: "grey"}  # store/exposure.py's levels
STRIP = 6  # key frames shown of a video
_KEEP = 64  # frames kept while decoding a video for its strip (halved, stride doubled)
_SHA = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class ItemFile:
    """Where an item's bytes are and what they must hash to."""

    location: str  # the source's location (a folder, or a file)
    raw_path: bytes  # below it; NUL separates archive members
    sha256: str | None
    kind: str
    size: int | None


def cache_path(home: Path, sha256: str, variant: str, frame: int | None = None) -> Path:
    if not _SHA.fullmatch(sha256) or variant not in VARIANTS or (
            frame is not None and not 0 <= frame < STRIP):
        raise ValueError("not a content digest, a thumbnail variant or a frame")
    name = f"{sha256}.{variant}.png" if frame is None else f"{sha256}.f{frame}.{variant}.png"
    return home / "thumbs" / sha256[:2] / name


def _read_verified(item: ItemFile, limit: int) -> bytes | None:
    """The item's bytes when it is a plain file whose SHA-256 is still the item's."""
    if not item.sha256 or b"\0" in item.raw_path or (item.size or 0) > limit:
        return None
    base = os.fsencode(item.location)
    path = os.path.join(base, item.raw_path) if os.path.isdir(base) else base
    try:
        try:  # evidence is read-only: do not even touch its atime where we may say so
            fd = os.open(path, os.O_RDONLY | O_NOATIME | getattr(os, "O_NOFOLLOW", 0))
        except PermissionError:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as f:
            data = f.read(limit + 1)
    except OSError:
        return None
    if len(data) > limit or hashlib.sha256(data).hexdigest() != item.sha256:
        return None
    return data


def _png(picture: decode.Picture | np.ndarray, variant: str) -> bytes | None:
    share = VARIANTS[variant]
    return decode.thumbnail_png(picture, blurred=share is not None,
                                blur=share if share is not None else 0.0)


def _render(item: ItemFile, data: bytes, variant: str, limits: Limits) -> bytes | None:
    if item.kind == "video":  # its first frame: the strip (`frame`) decodes the rest
        try:
            for _, _, luma in luma_frames(io.BytesIO(data), interval=0,
                                          max_pixels=limits.max_pixels, max_frames=1):
                return _png(luma, variant)
        except VideoDecodeError:
            return None
        return None
    return _png(decode.Picture(data, limits.max_pixels), variant)


def _key_frames(data: bytes, limits: Limits) -> list[np.ndarray]:
    """Up to STRIP luma frames spread over the video, decoded once (one a second, the kept
    ones thinned as it goes, so memory stays bounded whatever its length). [] when it
    cannot be decoded."""
    kept: list[np.ndarray] = []
    stride = 1
    try:
        for n, (_, _, luma) in enumerate(luma_frames(
                io.BytesIO(data), interval=1.0, max_pixels=limits.max_pixels,
                max_frames=limits.max_video_frames,
                max_seconds=limits.max_video_seconds)):
            if n % stride:
                continue
            kept.append(_small(luma))
            if len(kept) >= _KEEP:
                kept, stride = kept[::2], stride * 2
    except VideoDecodeError:
        if not kept:
            return []
    if len(kept) <= STRIP:
        return kept
    return [kept[round(k * (len(kept) - 1) / (STRIP - 1))] for k in range(STRIP)]


def _small(luma: np.ndarray) -> np.ndarray:
    """A frame cut down to thumbnail size at once (what is kept while decoding goes on)."""
    step = max(1, max(luma.shape) // (2 * decode.THUMB_SIDE))
    return np.ascontiguousarray(luma[::step, ::step])


def _cached(path: Path | None) -> bytes | None:
    if path is None:
        return None
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _keep(path: Path | None, png: bytes | None) -> None:
    if png is None or path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "wb") as f:
        f.write(png)
    os.replace(tmp, path)  # never a half-written thumbnail under the real name


def thumbnail(home: Path | None, item: ItemFile, blurred: bool = True,
              limits: Limits | None = None, variant: str | None = None) -> bytes | None:
    """The PNG thumbnail of an item (`variant`, else blurred grey unless `blurred` is
    False), from the cache or made now and cached; None when it has no picture to show."""
    limits = limits or Limits()
    variant = variant or ("blur" if blurred else "clear")
    cached = cache_path(home, item.sha256, variant) if home and item.sha256 else None
    png = _cached(cached)
    if png is not None:
        return png
    if item.kind not in ("image", "video"):
        return None
    data = _read_verified(item, limits.max_image_bytes)
    if data is None:
        return None
    png = _render(item, data, variant, limits)
    _keep(cached, png)
    return png


def frame(home: Path | None, item: ItemFile, k: int, variant: str = "blur",
          limits: Limits | None = None) -> bytes | None:
    """Key frame `k` (0 .. STRIP-1) of a video item's strip as a PNG of `variant`; None when
    it is not a video, has no such frame, or cannot be read. Making one makes and caches
    every frame of the strip in that variant (the video is decoded once)."""
    limits = limits or Limits()
    if item.kind != "video" or not 0 <= k < STRIP or variant not in VARIANTS:
        return None
    here = home if home and item.sha256 else None
    cached = cache_path(here, item.sha256, variant, k) if here and item.sha256 else None
    png = _cached(cached)
    if png is not None:
        return png
    data = _read_verified(item, limits.max_image_bytes)
    if data is None:
        return None
    frames = _key_frames(data, limits)
    out = None
    for i, luma in enumerate(frames):
        made = _png(luma, variant)
        if here and item.sha256:
            _keep(cache_path(here, item.sha256, variant, i), made)
        if i == k:
            out = made
    return out


def frame_count(home: Path | None, item: ItemFile, limits: Limits | None = None) -> int:
    """How many key frames the strip of a video item has (0: not a video or unreadable).
    Reads the cache when the strip was made; else makes its default variant."""
    if item.kind != "video":
        return 0
    if home and item.sha256:
        have = [k for k in range(STRIP) if cache_path(home, item.sha256, "blur", k).exists()]
        if have:
            return len(have)
    n = 0
    for k in range(STRIP):
        if frame(home, item, k, "blur", limits) is None:
            break
        n += 1
    return n
