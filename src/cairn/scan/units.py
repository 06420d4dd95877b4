"""Work units: a whole file of evidence, or one part of a large disk image or zip, or its tail.

A disk image of `Split.min_image` bytes or more is not read by one worker: the worker that
meets it first plans it (`plan_entry`: the image's volumes and the sizes of their files,
metadata only) into parts (`media.disk.members.DiskPart`: per volume, runs of files of about
`Split.part` bytes, then its carving), which any worker reads (`process_part`), and a tail
(`process_entry(..., members=False)`: the image file's hashes, its stored-hash verification,
the disk's notes, the image's own record). Each part yields exactly the records a whole read
yields for its files, with the same identities (paths, ordinals), so a split scan records the
same rows; the scan records the tail after every part (a recorded image implies its files are
recorded, as an archive implies its members: what resuming relies on).

A zip of `Split.min_image` bytes or more is planned the same way (media/zipparts.py: runs
of its members of about `Split.part` bytes of declared data, at most `Split.most`); its
tail is the zip's own record (`process_entry(..., members=False)`: its hashes only).

Who reads the parts (the local pool, scan/isolation.py, or Ray's driver, cluster/scan.py)
keeps a `SplitImage` per image: the image's own record waits there for every part, with the
errors its parts found for it.

Why: one worker per image leaves every other core idle on a seized disk, the usual source;
one worker per zip does the same on a phone's or a cloud account's 2 GB export.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO

from cairn.media.limits import Limits
from cairn.media.walk import DiskEntry
from cairn.records import ErrorRecord, ScanRecord
from cairn.scan.options import HashOptions, Split

if TYPE_CHECKING:
    from cairn.media.disk.images import DiskImage
    from cairn.media.disk.members import DiskPart, Listed
    from cairn.media.zipparts import ZipPart
    from cairn.scan.worker import Records

    Part = DiskPart | ZipPart


@dataclass(frozen=True, slots=True)
class Unit:
    """What an isolated worker is given: `entry` whole (planned into parts if it is a large
    disk image or zip and the pool splits), one `part` of it, or its `tail`."""

    entry: DiskEntry
    part: Part | None = None
    tail: bool = False

    def describe(self) -> str:
        if self.part is not None:
            return f"{self.entry.path} ({self.part.describe()})"
        return f"{self.entry.path} (its own record)" if self.tail else self.entry.path


@dataclass(slots=True)
class SplitImage:
    """A disk image (or zip) read in parts: its tail's records (the image's own) are held
    until every part is done, then handed on once, with what its parts found as errors on
    the last of them (the image's record): a part given up, a problem with the container.
    The events may come in any order: the tail before, between or after the parts."""

    parts: int  # parts not done yet
    held: list[ScanRecord] = field(default_factory=list)  # the tail's records so far
    errors: list[ErrorRecord] = field(default_factory=list)  # for the image's record
    tail: bool = False  # the tail is done
    handed_on: bool = False

    def hold(self, records: Sequence[ScanRecord]) -> None:
        """Records the tail sent, kept back (a retried tail's first records included)."""
        self.held += records

    def tail_done(self, records: Sequence[ScanRecord] = ()) -> None:
        """The tail is done, `records` its last ones."""
        self.held += records
        self.tail = True

    def part_done(self) -> None:
        self.parts -= 1

    def part_failed(self, why: str) -> None:
        """A part given up (its files recorded before are kept, the rest not read)."""
        self.errors.append({"stage": "worker", "message": why})
        self.parts -= 1

    def noted(self, why: str) -> None:
        """What a part found wrong with the container itself (a zip's budget spent)."""
        self.errors.append({"stage": "archive", "message": why})

    def ready(self) -> list[ScanRecord] | None:
        """The image's records to hand on, once every part and the tail are done; None
        before, and after they have been handed on."""
        if self.parts > 0 or not self.tail or self.handed_on:
            return None
        records, self.held, self.handed_on = self.held, [], True
        if records and self.errors:
            records[-1].setdefault("errors", []).extend(self.errors)
        return records


class PartError(Exception):
    """A part cannot be read as planned (the image is no longer a disk image, or no longer
    opens): the part fails, is retried, and is then an error on the image's record."""


def plan_entry(entry: DiskEntry, limits: Limits, opts: HashOptions, split: Split
               ) -> list[Part]:
    """The parts to read `entry` in, or [] to read it whole: not a disk image or zip, under
    `split.min_image`, not openable (the whole read says why) or not worth splitting."""
    from cairn.media.disk.images import DiskImageError
    from cairn.media.disk.members import plan_parts

    if (entry.size or 0) < split.min_image or limits.max_archive_depth <= 0:
        return []
    try:
        with _open_zip(entry) as (f, size, kind):
            if f is not None:
                from cairn.media.zipparts import plan_zip_parts

                zipped: list[Part] = [*plan_zip_parts(f, size, limits, split.part, split.most)]
                return zipped
            if kind != "disk":  # a large video, say: read whole, not opened again
                return []
    except OSError:
        return []
    try:
        with _open_image(entry) as (img, _):
            parts: list[Part] = [*plan_parts(img, opts.carve, split.part, split.most)]
            return parts
    except (PartError, DiskImageError, OSError):
        return []


def process_part(entry: DiskEntry, part: Part, limits: Limits, opts: HashOptions,
                 out: Records) -> list[str]:
    """Append the records of one part's files, as a whole read of the image makes them;
    return the errors it found on the container itself, for the container's record."""
    from cairn.media.budget import Budget
    from cairn.media.zipparts import ZipPart

    if isinstance(part, ZipPart):
        return _zip_part(entry, part, limits, opts, out)
    from cairn.media.disk.members import iter_disk_members, read_ahead
    from cairn.scan.containers import disk_member
    from cairn.scan.worker import Tree, entry_record

    rec = entry_record(entry)
    with _held_image(entry) as (img, size, listed):
        tree = Tree(Budget(limits, size))
        members = iter_disk_members(img, rec["path"], carve=opts.carve, part=part,
                                    listed=listed)
        for m, data in read_ahead(members, limits.max_member_size):
            disk_member(rec, m, data, 0, limits, out, opts, tree)
    return []


_HELD: dict[str, Any] = {}  # the disk image this process read a part of last, kept open


@contextmanager
def _held_image(entry: DiskEntry) -> Iterator[tuple[DiskImage, int, Listed]]:
    """The image of `entry` opened as `_open_image` does, kept open (with its volumes'
    listings) for the next part this process reads of the same file, unchanged (path,
    inode, size, mtime): a worker reads many parts of an image one after another, and each
    would otherwise open it and list its files again. Another image, or a part that fails,
    closes it."""
    st = os.stat(entry.fs_path)
    key = (entry.fs_path, st.st_ino, st.st_size, st.st_mtime_ns)
    if _HELD.get("key") != key:
        release_held()
        stack = ExitStack()
        try:
            img, size = stack.enter_context(_open_image(entry))
        except BaseException:
            stack.close()
            raise
        _HELD.update(key=key, stack=stack, img=img, size=size, listed={})
    try:
        yield _HELD["img"], _HELD["size"], _HELD["listed"]
    except BaseException:
        release_held()
        raise


def release_held() -> None:
    """Close the image a part left open (see `_held_image`)."""
    stack = _HELD.pop("stack", None)
    _HELD.clear()
    if stack is not None:
        stack.close()


def _zip_part(entry: DiskEntry, part: ZipPart, limits: Limits, opts: HashOptions,
              out: Records) -> list[str]:
    """Append the records of one part's members, as a whole read of the zip makes them; what
    a whole read would add to the zip's record as an error (its budget spent, the reader
    broken: scan/containers.read_archive raises it for a part) is returned, for that record:
    the part's later members are not read, the other parts are."""
    from cairn.scan.containers import read_archive
    from cairn.scan.worker import Tree, entry_record

    rec = entry_record(entry)
    with _open_zip(entry) as (f, size, _):
        if f is None:
            raise PartError(f"{entry.path} is no longer a zip archive")
        rec.update({"size": size, "media_type": "application/zip"})
        tree = Tree(part.budget(limits, size))
        read_archive(rec, f, 0, limits, out, opts, tree, part=part)
    said = [e["message"] for e in rec["errors"]]
    if tree.budget.exhausted and not said:  # spent by its last member's nested archive:
        said.append(tree.budget.exhausted)  # a whole read would stop at the next member
    return said


@contextmanager
def _open_zip(entry: DiskEntry) -> Iterator[tuple[BinaryIO | None, int, str]]:
    """A top-level entry opened as a whole read opens it (O_NOATIME), its size and kind,
    the file None when it is not a zip (sniffed as a whole read sniffs it)."""
    from cairn.media.sniff import HEAD_BYTES
    from cairn.scan.worker import open_noatime, sniff_deeper, sniff_type

    with os.fdopen(open_noatime(entry.fs_path, {}), "rb") as f:
        mt, kind = sniff_type(f.read(HEAD_BYTES), entry.path)
        mt, kind = sniff_deeper(f, mt, kind)
        f.seek(0)
        yield (f if mt == "application/zip" else None), os.fstat(f.fileno()).st_size, kind


@contextmanager
def _open_image(entry: DiskEntry) -> Iterator[tuple[DiskImage, int]]:
    """The disk image of a top-level entry, opened as a whole read opens it (O_NOATIME,
    its other segments beside it), with the image file's size."""
    from cairn.media.disk.images import is_later_segment, open_image
    from cairn.media.sniff import HEAD_BYTES
    from cairn.scan.worker import open_noatime, sniff_deeper, sniff_type

    note: dict = {}  # where a refused O_NOATIME is said: on the tail's record, not here

    def opener(p: bytes) -> BinaryIO:
        return os.fdopen(open_noatime(p, note), "rb")

    with opener(entry.fs_path) as f:
        head = f.read(HEAD_BYTES)
        mt, kind = sniff_type(head, entry.path)
        mt, kind = sniff_deeper(f, mt, kind)
        if kind != "disk" or is_later_segment(entry.fs_path, head) is not None:
            raise PartError(f"{entry.path} is not a disk image ({mt})")
        f.seek(0)
        with open_image(f, mt, entry.fs_path, opener=opener) as img:
            yield img, os.fstat(f.fileno()).st_size
