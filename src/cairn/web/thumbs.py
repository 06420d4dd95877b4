"""Thumbnails for the reviewer UI: made lazily from the evidence, cached in the store's home.

- Made from the evidence bytes through media/decode (`Picture`, under the scan's pixel
  limit) or, for a video, from its first frame through media/video (its luma: a grey key
  frame; a video is never played). The bytes are read only when their SHA-256 is the item's:
  a file changed since the scan gives no picture rather than another one.
- Two variants per content: `blur` (greyscale, Gaussian-blurred: the default, what a page
  shows) and `clear` (what a reveal fetches). Blurring is done here, on the server, so the
  unblurred pixels reach a browser only when a reviewer reveals one item (a custody entry).
- Cached as `$CAIRN_HOME/thumbs/<sha[:2]>/<sha256>.<variant>.png`, written atomically (a
  temporary file renamed): never beside the evidence, never in an export. A store kept in
  memory (no home) caches nothing.
- Archive members and carved items are not read back yet (`None`: the page says so).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cairn.media import decode
from cairn.media.limits import Limits
from cairn.media.video import VideoDecodeError, luma_frames
from cairn.media.walk import O_NOATIME

VARIANTS = ("blur", "clear")
_SHA = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class ItemFile:
    """Where an item's bytes are and what they must hash to."""

    location: str  # the source's location (a folder, or a file)
    raw_path: bytes  # below it; NUL separates archive members
    sha256: str | None
    kind: str
    size: int | None


def cache_path(home: Path, sha256: str, variant: str) -> Path:
    if not _SHA.fullmatch(sha256) or variant not in VARIANTS:
        raise ValueError("not a content digest or a thumbnail variant")
    return home / "thumbs" / sha256[:2] / f"{sha256}.{variant}.png"


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


def _render(item: ItemFile, data: bytes, blurred: bool, limits: Limits) -> bytes | None:
    if item.kind == "video":
        try:
            for _, _, luma in luma_frames(data, interval=0, max_pixels=limits.max_pixels,
                                          max_frames=1):
                return decode.thumbnail_png(luma, blurred=blurred)
        except VideoDecodeError:
            return None
        return None
    return decode.thumbnail_png(decode.Picture(data, limits.max_pixels), blurred=blurred)


def thumbnail(home: Path | None, item: ItemFile, blurred: bool,
              limits: Limits | None = None) -> bytes | None:
    """The PNG thumbnail of an item (blurred grey unless `blurred` is False), from the cache
    or made now and cached; None when the item has no picture to show."""
    limits = limits or Limits()
    variant = "blur" if blurred else "clear"
    cached = cache_path(home, item.sha256, variant) if home and item.sha256 else None
    if cached is not None:
        try:
            return cached.read_bytes()
        except FileNotFoundError:
            pass
    if item.kind not in ("image", "video"):
        return None
    data = _read_verified(item, limits.max_image_bytes)
    if data is None:
        return None
    png = _render(item, data, blurred, limits)
    if png is not None and cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=cached.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(png)
        os.replace(tmp, cached)  # never a half-written thumbnail under the real name
    return png
