"""A disk image's files as archive-like members: image -> volumes -> file systems -> files.

Each member is named by its path below the image (`p2/Users/x/Pictures/a.jpg`; a whole-disk
file system has no volume component), so an item's path reads `laptop.E01!/p2/Users/...` as
archive members do; its `origin` says where it came from in full
(`laptop.E01/p2/NTFS/Users/x/Pictures/a.jpg`) and `deleted` whether the file system still
allocates it. Bytes are not read here: `open()` gives a stream, so the caller decides what
fits in memory. A volume that cannot be read, and every note a reader makes, is a member
with an `error`, never silence.

Carving: with `carve=True`, each file system's free space is handed to `cairn.media.carve`
when that module exists (imported lazily); when it does not, one member says so.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from cairn.media.disk.filesystems import FsError, open_fs
from cairn.media.disk.images import DiskImage
from cairn.media.disk.volumes import VolumeError, volumes
from cairn.media.walk import display_name


@dataclass(slots=True)
class DiskMember:
    name: str  # path below the image, printable (walk.display_name)
    raw: bytes  # the same as bytes: the item's identity below the image
    size: int | None
    mtime: float | None
    origin: str  # image/volume/FS/path, for the record
    deleted: bool = False
    open: Callable[[], BinaryIO] | None = None  # None: nothing to read (`error` says why)
    error: str | None = None  # set when the member (or a whole volume) could not be read
    warning: str | None = None  # read, with something to know (deleted: may be reused)
    carved: bool = False


def _member(name: str, origin: str, **kw: object) -> DiskMember:
    raw = name.encode("utf-8", "surrogateescape")
    return DiskMember(display_name(raw), raw, origin=origin, **kw)  # type: ignore[arg-type]


def iter_disk_members(img: DiskImage, image_name: str, carve: bool = False
                      ) -> Iterator[DiskMember]:
    """Every file of every readable volume, then each volume's notes, in a stable order."""
    try:
        vols, notes = volumes(img.stream, img.size)
    except VolumeError as e:
        yield _member("$disk", image_name, size=None, mtime=None,
                      error=f"{img.format} image: {e}")
        return
    for note in notes:
        yield _member("$disk", image_name, size=None, mtime=None, error=note)
    for v in vols:
        prefix = f"{v.name}/" if v.name else ""
        where = f"{image_name}/{prefix}"
        try:
            fs = open_fs(v.open(img.stream))
        except FsError as e:
            what = f"volume {v.name} ({v.scheme} {v.type})" if v.name else "the disk"
            yield _member(f"{prefix}$volume", where.rstrip("/"), size=v.size, mtime=None,
                          error=f"{what}: {e}")
            continue
        origin_fs = f"{where}{fs.name}/"
        try:
            for f in fs.files():
                yield _member(prefix + f.path, origin_fs + f.path, size=f.size, mtime=f.mtime,
                              deleted=f.deleted, open=f.open,
                              error=None if f.open else (f.note or "not read"),
                              warning=f.note if f.open else None)
        except Exception as e:  # noqa: BLE001 - the reader broke mid-volume: what was read stays
            fs.notes.append(f"{fs.name} reader stopped: {type(e).__name__}: {e}; rest not read")
        if carve:
            yield from _carve(fs, v.open(img.stream), prefix, origin_fs)
        for note in fs.notes:
            yield _member(f"{prefix}$volume", origin_fs.rstrip("/"), size=None, mtime=None,
                          error=note)


def _carve(fs: object, vol: BinaryIO, prefix: str, origin: str) -> Iterator[DiskMember]:
    """The file system's free space, run by run, to `cairn.media.carve`: each file carved
    is a member `$unallocated/0x<offset>.<ext>` (offset within the volume); what was
    rejected or cut short is one error member after them (never silent)."""
    from cairn.media import carve as carver

    try:
        ranges = fs.unallocated()  # type: ignore[attr-defined]
    except Exception as e:  # noqa: BLE001 - a damaged allocation map is data, not a crash
        ranges = None
        why = f"free space map unreadable: {type(e).__name__}: {e}"
    else:
        why = f"free space of {fs.name} not mapped yet; not carved"  # type: ignore[attr-defined]
    if ranges is None:
        yield _member(f"{prefix}$unallocated", origin + "$unallocated", size=None, mtime=None,
                      error=why)
        return
    stats = carver.CarveStats()
    for start, length in ranges:
        vol.seek(start)
        for c in carver.carve(vol, limit=length, base_offset=start, stats=stats):
            name = f"{prefix}$unallocated/{c.name}"
            yield _member(name, origin + name[len(prefix):], size=c.length, mtime=None,
                          deleted=True, carved=True,
                          open=(lambda d=c.data: io.BytesIO(d)))
    if stats.rejected or stats.too_big or stats.stopped:
        yield _member(f"{prefix}$unallocated", origin + "$unallocated", size=None, mtime=None,
                      error=f"carving: {stats.summary()}")
