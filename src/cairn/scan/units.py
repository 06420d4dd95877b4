"""Work units: a whole file of evidence, or one part of a large disk image, or its tail.

A disk image of `Split.min_image` bytes or more is not read by one worker: the worker that
meets it first plans it (`plan_entry`: the image's volumes and the sizes of their files,
metadata only) into parts (`media.disk.members.DiskPart`: per volume, runs of files of about
`Split.part` bytes, then its carving), which any worker reads (`process_part`), and a tail
(`process_entry(..., members=False)`: the image file's hashes, its stored-hash verification,
the disk's notes, the image's own record). Each part yields exactly the records a whole read
yields for its files, with the same identities (paths, ordinals), so a split scan records the
same rows; the scan records the tail after every part (a recorded image implies its files are
recorded, as an archive implies its members: what resuming relies on).

Why: one worker per image leaves every other core idle on a seized disk, the usual source.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

from cairn.media.limits import Limits
from cairn.media.walk import DiskEntry
from cairn.scan.options import HashOptions, Split

if TYPE_CHECKING:
    from cairn.media.disk.images import DiskImage
    from cairn.media.disk.members import DiskPart
    from cairn.scan.worker import Records


@dataclass(frozen=True, slots=True)
class Unit:
    """What an isolated worker is given: `entry` whole (planned into parts if it is a large
    disk image and the pool splits), one `part` of it, or its `tail`."""

    entry: DiskEntry
    part: DiskPart | None = None
    tail: bool = False

    def describe(self) -> str:
        if self.part is not None:
            return f"{self.entry.path} ({self.part.describe()})"
        return f"{self.entry.path} (its own record)" if self.tail else self.entry.path


class PartError(Exception):
    """A part cannot be read as planned (the image is no longer a disk image, or no longer
    opens): the part fails, is retried, and is then an error on the image's record."""


def plan_entry(entry: DiskEntry, limits: Limits, opts: HashOptions, split: Split
               ) -> list[DiskPart]:
    """The parts to read `entry` in, or [] to read it whole: not a disk image, under
    `split.min_image`, not openable (the whole read says why) or not worth splitting."""
    from cairn.media.disk.images import DiskImageError
    from cairn.media.disk.members import plan_parts

    if (entry.size or 0) < split.min_image or limits.max_archive_depth <= 0:
        return []
    try:
        with _open_image(entry) as (img, _):
            return plan_parts(img, opts.carve, split.part, split.most)
    except (PartError, DiskImageError, OSError):
        return []


def process_part(entry: DiskEntry, part: DiskPart, limits: Limits, opts: HashOptions,
                 out: Records) -> None:
    """Append the records of one part's files, as a whole read of the image makes them."""
    from cairn.media.archives import Budget
    from cairn.media.disk.members import iter_disk_members, read_ahead
    from cairn.scan.containers import disk_member
    from cairn.scan.worker import Tree, entry_record

    rec = entry_record(entry)
    with _open_image(entry) as (img, size):
        tree = Tree(Budget(limits, size))
        members = iter_disk_members(img, rec["path"], carve=opts.carve, part=part)
        for m, data in read_ahead(members, limits.max_member_size):
            disk_member(rec, m, data, 0, limits, out, opts, tree)


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
