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
- An archive member (zip, tar, compressed tar, nested) or a file inside a disk image is read
  back through the scan's own readers (media/archives.py `iter_members` under a fresh
  budget, media/disk), in memory, never extracted; a carved one from its volume at the
  offset its name gives. Its SHA-256 must still be the item's, as for a file.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from cairn.media import decode
from cairn.media.archives import ArchiveError, iter_members
from cairn.media.limits import Limits
from cairn.media.sniff import HEAD_BYTES, kind_of, refine, sniff
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


def _top_path(item: ItemFile) -> bytes:
    """The file on disk holding the item: itself, or the archive / disk image its raw path
    starts with (NUL separates the members below it)."""
    base = os.fsencode(item.location)
    top = item.raw_path.split(b"\0", 1)[0]
    return os.path.join(base, top) if os.path.isdir(base) and top else base


def _open_evidence(path: bytes) -> BinaryIO:
    try:  # evidence is read-only: do not even touch its atime where we may say so
        fd = os.open(path, os.O_RDONLY | O_NOATIME | getattr(os, "O_NOFOLLOW", 0))
    except PermissionError:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    return os.fdopen(fd, "rb")


def _read_verified(item: ItemFile, limit: int, limits: Limits | None = None) -> bytes | None:
    """The item's bytes when their SHA-256 is still the item's: a plain file read whole, or
    a member read back out of its archive or disk image (`_read_member`)."""
    if not item.sha256 or (item.size or 0) > limit:
        return None
    try:
        with _open_evidence(_top_path(item)) as f:
            if b"\0" in item.raw_path:
                data = _read_member(f, item, limits or Limits())
            else:
                data = f.read(limit + 1)
    except OSError:
        return None
    if data is None or len(data) > limit or hashlib.sha256(data).hexdigest() != item.sha256:
        return None
    return data


# a carved member's name below its disk image: `[<volume>/]$unallocated/0x<offset>.<ext>`
# (media/disk/members.py), the offset within the volume
_CARVED = re.compile(rb"(?:(?P<vol>[^/\0]+)/)?\$unallocated/0x(?P<off>[0-9a-f]+)\.[a-z0-9]+")


def _read_member(f: BinaryIO, item: ItemFile, limits: Limits) -> bytes | None:
    """An archive member's or a disk image file's bytes, read back through the readers the
    scan used (media/archives.py `iter_members` under a fresh Budget, media/disk), level by
    level down the NUL-separated raw path, in memory, never extracted; a carved item's from
    its volume at the offset its name gives, `item.size` bytes. None when a level cannot be
    opened or holds no such member (the caller then checks the SHA-256 of what came back)."""
    parts = item.raw_path.split(b"\0")
    if len(parts) - 1 > limits.max_archive_depth:
        return None
    stream: BinaryIO = f
    where: bytes | None = _top_path(item)  # an image's other segments lie beside it
    name = os.fsdecode(parts[0])
    data: bytes | None = None
    try:
        for k, part in enumerate(parts[1:], 1):
            stream.seek(0)
            head = stream.read(HEAD_BYTES)
            mt = refine(sniff(head), name)
            last = k == len(parts) - 1
            if kind_of(mt) == "archive":
                data = _archive_member(stream, mt, name, part, limits,
                                       item.sha256 if last else None)
            elif kind_of(mt) == "disk":
                data = _disk_member(stream, mt, where, name, part, limits,
                                    item.size if last else None)
            else:
                return None
            if data is None:
                return None
            stream, where, name = io.BytesIO(data), None, os.fsdecode(part)
    except Exception:  # noqa: BLE001 - a reader's failure on hostile bytes: no picture
        return None
    return data


def _archive_member(stream: BinaryIO, media_type: str, name: str, raw: bytes, limits: Limits,
                    sha256: str | None) -> bytes | None:
    """The member `raw` of the archive in `stream` (of those so named, the one whose
    SHA-256 is `sha256` when given)."""
    stream.seek(0, 2)
    size = stream.tell()
    stream.seek(0)
    first = None
    try:
        for m in iter_members(stream, media_type, name, limits, size):
            if m.raw != raw or m.data is None:
                continue
            if sha256 is None or hashlib.sha256(m.data).hexdigest() == sha256:
                return m.data
            first = first or m.data
    except ArchiveError:
        pass  # members read before the damage were looked at
    return first


def _disk_member(stream: BinaryIO, media_type: str, where: bytes | None, name: str,
                 raw: bytes, limits: Limits, size: int | None) -> bytes | None:
    """The file `raw` below the disk image in `stream`: a carved one read at its offset in
    its volume (`size` bytes), any other through media/disk's file systems."""
    from cairn.media.disk.images import open_image
    from cairn.media.disk.members import iter_disk_members
    from cairn.media.disk.volumes import volumes

    with open_image(stream, media_type, where) as img:
        carved = _CARVED.fullmatch(raw)
        if carved is not None:
            if size is None or size > limits.max_member_size:
                return None
            vols, _ = volumes(img.stream, img.size)
            vol = (carved["vol"] or b"").decode("ascii", "replace")
            for v in vols:
                if v.name == vol:
                    s = v.open(img.stream)
                    s.seek(int(carved["off"], 16))
                    return s.read(size)
            return None
        for m in iter_disk_members(img, name):
            if m.raw == raw:
                if m.open is None or (m.size or 0) > limits.max_member_size:
                    return None
                return m.open().read(limits.max_member_size + 1)
    return None


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
    data = _read_verified(item, limits.max_image_bytes, limits)
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
    data = _read_verified(item, limits.max_image_bytes, limits)
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
