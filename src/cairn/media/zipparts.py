"""A large zip read as several work units: runs of its members by their index in the
central directory, each about `part_bytes` of declared uncompressed data.

Each part yields exactly the members a whole read yields for it, in the same order and with
the same names, so their records are the same (media/archives.iter_members(part=...)). A
member belongs to the part holding the first member of its name (`owners`): a repeated name
is counted (its ordinals) in one place, as a whole read counts it. A nested archive inside a
member is read inside that member's part, as a whole read reads it.

Only an ordinary zip is split: a UFDR or phone extraction is read whole, because its report
(or app metadata) annotates every member and the files the report lists but the zip lacks
come after all members. Nor is a zip split whose declared data or member count is past what
the whole read may expand to (`Budget`): the whole read says where it stops. Each part gets
its share of the tree's allowance and member count, in proportion to what it declares, so
the parts together never expand past what the whole read may (a nested bomb stops in its
part, where the whole read might have stopped it a little later or sooner).

Why not tar: a tar has no directory; a member's header is found only by reading (and, for
.tar.gz, inflating) every byte before it, so a part could start only where the stream before
it has been read: one worker reading it whole does the least work.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from typing import BinaryIO

from cairn.media import extraction, ufdr
from cairn.media.archives import _zip_raw
from cairn.media.budget import Budget
from cairn.media.disk.members import runs
from cairn.media.limits import Limits


@dataclass(frozen=True, slots=True)
class ZipPart:
    """One work unit of a zip: the members whose name first occurs at a central-directory
    index in [first, stop); `data` and `members` what they declare, against the zip's
    `total_data` and `total_members` (their budget's share)."""

    index: int
    count: int
    first: int
    stop: int
    data: int = 0
    members: int = 0
    total_data: int = 0
    total_members: int = 0

    def describe(self) -> str:
        return (f"part {self.index + 1} of {self.count} of the archive: "
                f"members {self.first}-{self.stop - 1}")

    def budget(self, limits: Limits, compressed_size: int) -> Budget:
        """This part's budget: its share of what the whole zip's tree may expand to."""
        share = (self.data / self.total_data if self.total_data else 1.0,
                 self.members / self.total_members if self.total_members else 1.0)
        return Budget(limits, compressed_size, share)


def owners(keys: list[bytes]) -> list[int]:
    """For each member, the index of the first member of the same name: whose part reads it."""
    first: dict[bytes, int] = {}
    return [first.setdefault(k, n) for n, k in enumerate(keys)]


def plan_zip_parts(f: BinaryIO, size: int, limits: Limits, part_bytes: int, most: int
                   ) -> list[ZipPart]:
    """The parts to read the zip in `f` (`size` bytes) in, or [] to read it whole: not a
    readable zip, a UFDR or extraction, past its budget, or a single part."""
    try:
        with zipfile.ZipFile(f) as zf:
            infos = zf.infolist()
    except Exception:  # noqa: BLE001 - the whole read says what is wrong with it
        return []
    names = [i.filename for i in infos]
    if ufdr.report_name(names) is not None or extraction.looks_like_extraction(names):
        return []
    own = owners([_zip_raw(i) for i in infos])
    sizes = [0] * len(infos)
    counts = [0] * len(infos)
    for n, info in enumerate(infos):
        if not info.filename.endswith("/"):  # a directory is no member
            sizes[own[n]] += info.file_size
            counts[own[n]] += 1
    total, members = sum(sizes), sum(counts)
    if total > Budget(limits, size).allowance or members > limits.max_members:
        return []
    spans = [(a, min(b, len(infos))) for a, b in runs(sizes, part_bytes, most)]
    if len(spans) < 2:
        return []
    return [ZipPart(k, len(spans), a, b, sum(sizes[a:b]), sum(counts[a:b]), total, members)
            for k, (a, b) in enumerate(spans)]
