"""A disk image's files as archive-like members: image -> volumes -> file systems -> files.

Each member is named by its path below the image (`p2/Users/x/Pictures/a.jpg`; a whole-disk
file system has no volume component), so an item's path reads `laptop.E01!/p2/Users/...` as
archive members do; its `origin` says where it came from in full
(`laptop.E01/p2/NTFS/Users/x/Pictures/a.jpg`) and `deleted` whether the file system still
allocates it; the item's `origin` is `record_origin()`. Bytes are not read here: `open()`
gives a stream, so the caller decides what fits in memory. A volume that cannot be read,
and every note a reader makes, is a member with an `error`, never silence.

Carving: with `carve=True`, each file system's free space is handed to `cairn.media.carve`
when that module exists (imported lazily); when it does not, one member says so.

Parts: a large image can be read as several work units (`plan_parts`, then
`iter_disk_members(..., part=p)` for each `DiskPart`), each yielding exactly the members a
whole read yields for it, in the same order; the disk's own notes (`disk_notes`) go with the
image's record. Every part lists its volume's files (metadata only, cheap) and reads the
bytes of its own: files `first` to `stop` in the file system's order, and every later file
sharing the path of one of those (a deleted entry named like a live one) so that repeated
paths are counted (their ordinals) in one place, as a whole read counts them.
"""

from __future__ import annotations

import contextlib
import io
import math
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from cairn.media.disk.filesystems import FsError, FsFile, open_fs
from cairn.media.disk.images import DiskImage
from cairn.media.disk.volumes import VolumeError, volumes
from cairn.media.thumbstores import thumbnail_origin
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

    def record_origin(self) -> dict[str, object]:
        """The item's `origin`, in the shape every container's members share (a phone
        extraction's, a thumbnail cache's): what holds it, where, deleted or carved."""
        return {"container": "disk image", "location": self.origin, "deleted": self.deleted,
                "carved": self.carved, **(thumbnail_origin(self.name) or {})}


def _member(name: str, origin: str, **kw: object) -> DiskMember:
    raw = name.encode("utf-8", "surrogateescape")
    return DiskMember(display_name(raw), raw, origin=origin, **kw)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class DiskPart:
    """One work unit of a disk image: files `first` to `stop` (in the file system's order)
    of volume number `volume` (`name` for messages), or its free space when `carve`. The
    volume's last part (`index == count - 1`) also yields the volume's notes."""

    volume: int
    name: str
    index: int
    count: int
    first: int = 0
    stop: int = 0
    carve: bool = False

    def describe(self) -> str:
        where = f"volume {self.name}" if self.name else "the disk"
        what = "free space (carving)" if self.carve else f"files {self.first}-{self.stop - 1}"
        return f"part {self.index + 1} of {self.count} of {where}: {what}"


def disk_notes(img: DiskImage, image_name: str) -> Iterator[DiskMember]:
    """The disk's own notes (its partition table's), as members: read with the image's
    record when the image is read in parts."""
    try:
        _, notes = volumes(img.stream, img.size)
    except VolumeError as e:
        notes = [f"{img.format} image: {e}"]
    for note in notes:
        yield _member("$disk", image_name, size=None, mtime=None, error=note)


LISTED_MOST = 100_000  # files of a volume a Listed keeps (each holds its reader's record)

# volume number -> (its file system, its files in order), or None where it has too many
Listed = dict[int, "tuple[Any, list[FsFile]] | None"]


def _listing(fs: Any) -> list[FsFile] | None:
    """Every file `fs` lists, in order (a reader that stops: its note, the files before),
    or None past LISTED_MOST."""
    files: list[FsFile] = []
    try:
        for f in fs.files():
            files.append(f)
            if len(files) > LISTED_MOST:
                return None
    except Exception as e:  # noqa: BLE001 - the reader broke mid-volume: what was read stays
        fs.notes.append(f"{fs.name} reader stopped: {type(e).__name__}: {e}; rest not read")
    return files


def iter_disk_members(img: DiskImage, image_name: str, carve: bool = False,
                      part: DiskPart | None = None, listed: Listed | None = None
                      ) -> Iterator[DiskMember]:
    """Every file of every readable volume, then each volume's notes, in a stable order;
    with `part`, only that part's members (see the module's docstring), no disk notes.
    `listed`: where the parts of one opening of the image keep each volume's listing, so
    that every part after the first lists nothing (an NTFS listing is ~1 ms a file: 32
    parts of a 4 GiB image listed it 32 times, 74 s of CPU)."""
    try:
        vols, notes = volumes(img.stream, img.size)
    except VolumeError as e:
        if part is None:
            yield _member("$disk", image_name, size=None, mtime=None,
                          error=f"{img.format} image: {e}")
        return
    if part is None:
        for note in notes:
            yield _member("$disk", image_name, size=None, mtime=None, error=note)
    for i, v in enumerate(vols):
        if part is not None and i != part.volume:
            continue
        last = part is None or part.index == part.count - 1
        prefix = f"{v.name}/" if v.name else ""
        where = f"{image_name}/{prefix}"
        held = listed.get(i) if listed is not None else None
        files: list[FsFile] | None = None
        if held is not None:
            fs, files = held
        else:
            try:
                fs = open_fs(v.open(img.stream))
            except FsError as e:
                what = f"volume {v.name} ({v.scheme} {v.type})" if v.name else "the disk"
                if last:
                    yield _member(f"{prefix}$volume", where.rstrip("/"), size=v.size,
                                  mtime=None, error=f"{what}: {e}")
                continue
            if listed is not None and i not in listed:
                files = _listing(fs)
                listed[i] = None if files is None else (fs, files)
                if files is None:  # too many to keep: listed again, by a fresh reader
                    fs = open_fs(v.open(img.stream))
        origin_fs = f"{where}{fs.name}/"
        first_seen: dict[str, int] = {}  # a path's first file: whose part reads it
        try:
            for n, f in enumerate(fs.files() if files is None else files):
                if part is not None:
                    owner = first_seen.setdefault(f.path, n)
                    if part.carve or not part.first <= owner < part.stop:
                        continue
                yield _member(prefix + f.path, origin_fs + f.path, size=f.size, mtime=f.mtime,
                              deleted=f.deleted, open=f.open,
                              error=None if f.open else (f.note or "not read"),
                              warning=f.note if f.open else None)
        except Exception as e:  # noqa: BLE001 - the reader broke mid-volume: what was read stays
            fs.notes.append(f"{fs.name} reader stopped: {type(e).__name__}: {e}; rest not read")
        if carve and (part is None or part.carve):
            yield from _carve(fs, v.open(img.stream), prefix, origin_fs)
        if last:
            for note in fs.notes:
                yield _member(f"{prefix}$volume", origin_fs.rstrip("/"), size=None, mtime=None,
                              error=note)


def plan_parts(img: DiskImage, carve: bool, part_bytes: int, most: int) -> list[DiskPart]:
    """The parts to read `img` in: per volume, runs of files of about `part_bytes` of data
    (at most `most`), then its carving part when `carve`; a volume that cannot be opened
    is one part (its error). Empty when the image is better read whole: no volume, or a
    single part in all."""
    try:
        vols, _ = volumes(img.stream, img.size)
    except VolumeError:
        return []
    out: list[DiskPart] = []
    for i, v in enumerate(vols):
        try:
            fs = open_fs(v.open(img.stream))
        except FsError:
            out.append(DiskPart(i, v.name, 0, 1))
            continue
        sizes: list[int] = []
        with contextlib.suppress(Exception):  # a reader that stops: the last part says why
            sizes.extend((f.size or 0) if f.open else 0 for f in fs.files())
        spans = runs(sizes, part_bytes, most)
        count = len(spans) + (1 if carve else 0)
        out += [DiskPart(i, v.name, k, count, a, b) for k, (a, b) in enumerate(spans)]
        if carve:
            out.append(DiskPart(i, v.name, count - 1, count, carve=True))
    return out if len(out) > 1 else []


def runs(sizes: list[int], part_bytes: int, most: int) -> list[tuple[int, int]]:
    """[first, stop) runs of `sizes` holding about equal bytes, about `part_bytes` each and
    at most `most`; the last run ends past every file (one listed later is still read).
    Shared with a zip's parts (media/zipparts.py)."""
    total = sum(sizes)
    count = max(1, min(most, math.ceil(total / max(1, part_bytes)), len(sizes)))
    share = total / count
    cuts: list[int] = []
    held = 0
    for n, size in enumerate(sizes):
        if held >= share * (len(cuts) + 1) and len(cuts) < count - 1:
            cuts.append(n)
        held += size
    bounds = [0, *cuts, 1 << 62]
    return list(zip(bounds, bounds[1:], strict=False))


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


Read = bytes | BaseException | None  # the member's bytes, why reading failed, or not read


def read_ahead(members: Iterator[DiskMember], max_member: int, budget: int = 64 << 20
               ) -> Iterator[tuple[DiskMember, Read]]:
    """`members` with their bytes, read by a background thread while the caller hashes and
    decodes the previous ones: decompressing an E01 chunk (zlib) and hashing or decoding a
    picture both release the GIL, so the two overlap on two cores.

    A member with nothing to read or over `max_member` comes with None, and the thread
    waits until the caller asks for the next one: the caller may stream it from the image
    itself (the image's stream is never used by two threads at once). At most `budget`
    bytes are held ahead (always at least one member). An exception the iteration raises
    is raised here, in the caller, after the members read before it."""
    cond = threading.Condition()
    ready: deque[tuple[DiskMember | None, Read]] = deque()
    held = [0]
    state = {"stop": False, "turn": True}  # turn: the reader may use the image's stream

    def produce() -> None:
        it = iter(members)
        try:
            while True:
                with cond:  # the next directory entry is read from the image too: wait
                    cond.wait_for(lambda: state["turn"] or state["stop"])
                    if state["stop"]:
                        return
                m = next(it, None)
                if m is None:
                    break
                data: Read = None
                if m.open is not None and (m.size or 0) <= max_member:
                    try:
                        data = m.open().read()
                    except Exception as e:  # noqa: BLE001 - the caller records it on the member
                        data = e
                with cond:
                    cond.wait_for(lambda: held[0] < budget or not ready or state["stop"])
                    if isinstance(data, bytes):
                        held[0] += len(data)
                    if data is None and m.open is not None:
                        state["turn"] = False  # the caller streams it: wait for it
                    ready.append((m, data))
                    cond.notify_all()
        except BaseException as e:  # noqa: BLE001 - handed to the caller, raised there
            with cond:
                ready.append((None, e))
                cond.notify_all()
            return
        with cond:
            ready.append((None, None))
            cond.notify_all()

    t = threading.Thread(target=produce, name="disk-read-ahead", daemon=True)
    t.start()
    try:
        while True:
            with cond:
                cond.wait_for(lambda: bool(ready))
                m, data = ready.popleft()
                if isinstance(data, bytes):
                    held[0] -= len(data)
                cond.notify_all()
            if m is None:
                if isinstance(data, BaseException):
                    raise data
                return
            yield m, data
            if data is None and m.open is not None:
                with cond:
                    state["turn"] = True
                    cond.notify_all()
    finally:
        with cond:
            state["stop"] = True
            cond.notify_all()
        t.join(timeout=5)
