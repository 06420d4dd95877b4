"""HFS+ and HFSX (the same format, case-sensitive names) read in place through libfshfs
(`pyfshfs`, libyal's reader, the family of the libewf Cairn already uses; dissect has no
HFS+ reader). Files are read through the library (decmpfs-compressed ones too, by it; no
tool here writes them, so untested), symbolic links named with their target, never
followed; a file's modification time is its catalog record's (HFS+ stores UTC); names are
kept as stored (decomposed, NFD, as macOS shows them). Hard links are listed as libfshfs
lists them (untested: no tool here makes them).

Not read, each said in a note (an error item, never silence): a directory or file record
the library cannot read; resource forks (their count is said). Classic HFS (Mac OS Standard,
"BD") is refused by libfshfs and stays an error item naming it. HFS+ keeps no directory
record of a deleted file, so none are listed; the allocation file is not mapped, so
`--carve` says HFS+ is not carved.

The HFS+ tree of an ISO 9660/HFS+ hybrid disc is read by this reader too, on behalf of
`iso9660`, which reads the disc.
"""

from __future__ import annotations

import io
import re
import stat
from collections.abc import Iterator
from functools import partial
from typing import Any, BinaryIO

from cairn.media.disk.filesystems import FsError, FsFile, Ranges, inode_file

HFS_EPOCH = 2082844800  # seconds from 1904-01-01 (HFS+ time zero) to 1970-01-01, UTC


class _Fork(io.RawIOBase):
    """A file's data fork as a stream of its own: every read names its offset
    (`read_buffer_at_offset`), so two opens of one entry never share a position."""

    def __init__(self, entry: Any, size: int) -> None:
        self.entry, self.size, self.pos = entry, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        base = (0, self.pos, self.size)[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def tell(self) -> int:
        return self.pos

    def read(self, n: int | None = -1) -> bytes:
        left = self.size - self.pos
        n = left if n is None or n < 0 else min(n, left)
        if n <= 0:
            return b""
        data = bytes(self.entry.read_buffer_at_offset(n, self.pos))
        self.pos += len(data)
        return data

    def readall(self) -> bytes:
        return self.read()

    def readinto(self, b: Any) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)


def _why(e: Exception) -> str:
    """libfshfs's error chain without its C function names ("libfshfs_x_y: ")."""
    return re.sub(r"\b[a-z]+_[a-z0-9_]+: ", "", str(e)).strip() or type(e).__name__


def _open(entry: Any, size: int) -> BinaryIO:
    return io.BufferedReader(_Fork(entry, size), 1 << 16)


def _mtime(entry: Any) -> float | None:
    try:
        t = int(entry.get_modification_time_as_integer())
    except Exception:  # noqa: BLE001 - no time is no time
        return None
    return float(t - HFS_EPOCH) if t else None


def _link(entry: Any) -> str | None:
    try:
        return str(entry.symbolic_link_target)
    except Exception:  # noqa: BLE001 - a link whose target does not read
        return None


class HfsReader:
    name = "HFS+"

    def __init__(self, fh: BinaryIO) -> None:
        import pyfshfs

        fh.seek(1024)
        header = fh.read(0x28)
        self.name = "HFSX" if header[:2] == b"HX" else "HFS+"
        # fileCount, folderCount: what the catalog should list (a damaged node drops
        # records without an error from the library: the shortfall is said)
        self.counts = (int.from_bytes(header[0x20:0x24], "big"),
                       int.from_bytes(header[0x24:0x28], "big"))
        self.fh = fh  # libfshfs reads through it: kept alive with the volume
        self.volume = pyfshfs.volume()
        try:
            self.volume.open_file_object(fh)
            self.root = self.volume.get_root_directory()
        except Exception as e:  # noqa: BLE001 - a damaged volume header or catalog is data
            raise FsError(f"{self.name} volume unreadable (libfshfs): {_why(e)}") from None
        self.notes: list[str] = []
        self.starts: dict[str, int] = {}  # a file's first extent, for a hybrid disc

    def files(self) -> Iterator[FsFile]:
        seen: set[int] = {self.root.identifier}
        stack: list[tuple[Any, str]] = [(self.root, "")]
        forks = listed = 0
        while stack:
            d, prefix = stack.pop()
            try:
                entries = sorted((d.get_sub_file_entry(i)
                                  for i in range(d.number_of_sub_file_entries)),
                                 key=lambda e: e.name or "")
            except Exception as e:  # noqa: BLE001 - a damaged catalog node, noted
                self.notes.append(f"{self.name} directory {prefix or '/'!r} unreadable: "
                                  f"{_why(e)}")
                continue
            subdirs = []
            for ent in entries:
                path = prefix + (ent.name or f"cnid-{ent.identifier}")
                try:
                    mode = ent.file_mode
                    if stat.S_ISDIR(mode):
                        if ent.identifier not in seen:
                            seen.add(ent.identifier)
                            subdirs.append((ent, path + "/"))
                        continue
                    size = ent.size or 0
                    listed += 1
                    if stat.S_ISREG(mode):
                        forks += bool(ent.has_resource_fork())
                        if size and ent.number_of_extents:
                            self.starts[path] = int(ent.get_extent(0)[0])
                    yield inode_file(path, mode, size, _mtime(ent), partial(_open, ent, size),
                                     partial(_link, ent))
                except Exception as e:  # noqa: BLE001 - one catalog record, noted
                    self.notes.append(f"{self.name} file {path!r} unreadable: {_why(e)}")
            stack.extend(reversed(subdirs))
        files, folders = self.counts
        if listed < files or len(seen) - 1 < folders:
            self.notes.append(f"{self.name} volume header counts {files} file(s) and {folders} "
                              f"folder(s); the catalog listed {listed} and {len(seen) - 1}: "
                              "records are missing (a damaged catalog node?) and not read, "
                              "or are held where the library does not list them")
        if forks:
            self.notes.append(f"{forks} {self.name} file(s) have a resource fork: only their "
                              "data fork is read")

    def unallocated(self) -> Ranges | None:
        return None  # the allocation file (HFS+'s free-space bitmap) is not read yet
