"""What the archives under one top-level file may expand to, and what they yield.

Budget: one `Budget` holds for the whole tree under a top-level file (archives nested in
archives included): total bytes expanded, members and the expansion ratio against the
top-level file's size. A 42.zip-style nest therefore stops once the tree has expanded past
max(ratio_floor, max_ratio x file size), not at each level's own limit; what was read before
is kept.

The readers (media/archives.py: archives, thumbnail stores, carving) yield `Member`s charged
to it; a phone extraction's annotation (media/phone_origins.py) charges what it reads ahead
(the UFDR report, iOS app metadata) and the members its report lists but the zip lacks; a
zip read in parts (media/zipparts.py) gives each part its share. Kept apart from the
readers, so that those modules need not import the readers for it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

from cairn.media.limits import Limits


class Readable(Protocol):
    """What `Budget.read` needs: zip and tar members and the decompressed streams have it."""

    def read(self, size: int, /) -> bytes: ...


@dataclass(slots=True)
class Member:
    """One member of a container as a reader yields it: its bytes, or why they are not read."""

    name: str  # printable and reversible (walk.display_name of `raw`)
    data: bytes | None
    mtime: float | None = None
    error: str | None = None  # set when the member could not (safely) be read
    warning: str | None = None  # set when it was read but something about it is suspicious
    raw: bytes = b""  # the name's bytes as stored in the archive
    # where the member came from, when its container says (a phone extraction's path and
    # app, a UFDR's deleted flag and timestamps, a cache entry's metadata): JSON-able
    origin: dict | None = None


class ArchiveError(Exception):
    """The archive as a whole cannot be opened or stops being readable."""


class BudgetExhausted(ArchiveError):
    """The tree under one top-level file has expanded as far as it may."""


class ArchiveMemberTooBig(Exception):
    """One member is larger than a member may be (declared, or found when read)."""


def error_text(e: BaseException) -> str:
    """A reader's exception as a member's or archive's error says it: any of them is data."""
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__


class Budget:
    """What one top-level file may expand to, shared by every archive nested inside it.

    `share`: (bytes, members), the fractions of the tree's allowance and member count one
    part of a zip read in parts may use (media/zipparts.py), so that the parts together
    never expand further than the whole read may."""

    def __init__(self, limits: Limits, compressed_size: int,
                 share: tuple[float, float] = (1.0, 1.0)) -> None:
        self.limits = limits
        self.compressed = max(compressed_size, 1)
        self.share = share
        self.total = 0
        self.count = 0
        self.exhausted: str | None = None  # why the tree stopped being read

    @property
    def allowance(self) -> int:
        """Total bytes the tree may expand to: past it, the ratio or total limit is broken.
        Never less than twice the file's own size: a 100 GB UFDR or phone tar, its pictures
        stored as they are, expands to about its size and is no bomb."""
        lim = self.limits
        whole = max(min(lim.max_archive_total,
                        max(lim.ratio_floor, lim.max_ratio * self.compressed)),
                    2 * self.compressed)
        return whole if self.share[0] >= 1 else math.ceil(whole * self.share[0])

    def _stop(self) -> BudgetExhausted:
        lim = self.limits
        if self.allowance == 2 * self.compressed > lim.max_archive_total:
            why = f"expands past twice its own size ({self.allowance} bytes)"
        elif self.allowance == lim.max_archive_total:
            why = f"expands past {lim.max_archive_total} bytes in total"
        else:
            why = (f"expands past {self.allowance} bytes from {self.compressed} "
                   f"(ratio over {lim.max_ratio}:1, possible archive bomb)")
        if self.share[0] < 1:
            why = f"expands past {self.allowance} bytes, this part's share of the file's allowance"
        self.exhausted = (f"the file (with every archive nested in it) {why}; rest not read")
        return BudgetExhausted(self.exhausted)

    def check(self) -> None:
        if self.exhausted:
            raise BudgetExhausted(self.exhausted)

    def member(self) -> None:
        """Count one member of any archive in the tree."""
        self.check()
        self.count += 1
        if self.count > math.ceil(self.limits.max_members * self.share[1]):
            self.exhausted = (f"the file holds more than {self.limits.max_members} members "
                              "(nested archives included); rest not read")
            raise BudgetExhausted(self.exhausted)

    def skip(self, n: int) -> None:
        """Count bytes decompressed to get past a member that is not kept."""
        self.total += n
        if self.total > self.allowance:
            raise self._stop()

    def read(self, f: Readable, declared: int | None, prepaid: bool = False) -> bytes:
        """A member's bytes, charged to the tree; `prepaid`: already charged when its whole
        stream was inflated to check it (archives' `_stream_damage`), so only the member cap
        holds."""
        self.check()
        lim = self.limits
        if declared is not None and declared > lim.max_member_size:
            raise ArchiveMemberTooBig(
                f"member declares {declared} bytes, over the member limit of {lim.max_member_size}"
            )
        if prepaid:
            data = f.read(lim.max_member_size + 1)
            if len(data) > lim.max_member_size:
                raise ArchiveMemberTooBig(
                    f"member expands past the member limit of {lim.max_member_size} bytes")
            return data
        room = self.allowance - self.total
        cap = min(lim.max_member_size, room)
        data = f.read(cap + 1)
        if len(data) > cap:
            if cap == lim.max_member_size and room > cap:
                raise ArchiveMemberTooBig(
                    f"member expands past the member limit of {lim.max_member_size} bytes")
            self.total += len(data)
            raise self._stop()
        self.total += len(data)
        return data

