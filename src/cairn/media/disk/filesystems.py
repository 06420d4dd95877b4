"""File systems on a volume, read in place: FAT12/16/32, exFAT, NTFS, ext2/3/4 (dissect.fat,
dissect.ntfs, dissect.extfs), each as one small reader with `files()` and `unallocated()`;
`open_fs` recognises a volume's file system and hands it to its reader, here or in its own
module.

Deleted files, where the file system still describes them:
- FAT: directory entries whose first byte is 0xE5. The cluster chain is zeroed on deletion,
  so the content is read as the classic undelete does: `size` bytes of contiguous clusters
  from the entry's first cluster; a cluster since allocated to another file is noted.
- NTFS: MFT records not in use (the MFT keeps their attributes and data runs); clusters may
  have been reused since, which is noted.
- ext: inodes with a deletion time. ext3/ext4 clear an inode's block map (and size) on
  deletion, so most are unrecoverable from the inode: those are counted in one note rather
  than listed (carving is what finds their content); names are gone, so a recovered one is
  `$deleted/inode-N`.
- exFAT: entry sets whose in-use bits are cleared (0x05/0x40/0x41), names kept; content
  from the clusters the stream entry names (contiguous ones reliably).

exFAT: `cairn.media.disk.exfat`. APFS: `cairn.media.disk.apfs` (unencrypted volumes; an
encrypted one is a note). HFS+/HFSX:
`cairn.media.disk.hfs`. ISO 9660 (pycdlib) and ISO 9660/HFS+ hybrid discs:
`cairn.media.disk.iso9660`.
Recognised but not read (each an `FsError` naming it): classic HFS, BitLocker.
`unallocated()`: byte ranges of free clusters (FAT: FAT entries 0; NTFS: $Bitmap; exFAT:
its allocation bitmap; ext: the groups' block bitmaps), for carving; ISO 9660 has none.
"""

from __future__ import annotations

import stat
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, BinaryIO, Protocol

from dissect.util.stream import RangeStream

from cairn.media.disk.detect import file_system_at, iso9660_at

Ranges = list[tuple[int, int]]  # (offset, length) in bytes from the volume's start


class FsError(Exception):
    """The volume's file system cannot be read: what and why."""


@dataclass(slots=True)
class FsFile:
    path: str  # below the file system's root, '/'-separated, no leading '/'
    size: int
    mtime: float | None
    deleted: bool
    open: Callable[[], BinaryIO] | None  # None: nothing to read (`note` says why)
    note: str | None = None


def inode_file(path: str, mode: int, size: int, mtime: float | None,
               opener: Callable[[], BinaryIO], link: Callable[[], Any]) -> FsFile:
    """A Unix-style inode as an FsFile: a regular file is read; a symbolic link is named with
    its target (`link()`, asked only for links), never followed; anything else is noted."""
    if stat.S_ISREG(mode):
        return FsFile(path, size, mtime, False, opener)
    if stat.S_ISLNK(mode):
        return FsFile(path, 0, mtime, False, None, f"symbolic link to {link()!r}; not followed")
    return FsFile(path, 0, mtime, False, None, "special file (device, FIFO or socket); not read")


class FileSystem(Protocol):
    name: str
    notes: list[str]

    def files(self) -> Iterator[FsFile]: ...

    def unallocated(self) -> Ranges | None: ...


def timestamp(dt: Any) -> float | None:
    try:
        if dt is None:
            return None
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)  # FAT stores local time: read as UTC, deterministic
        return float(dt.timestamp())
    except (ValueError, OverflowError, OSError, AttributeError):
        return None


def merge_runs(runs: Iterator[tuple[int, int]]) -> Ranges:
    out: Ranges = []
    for off, n in runs:
        if out and out[-1][0] + out[-1][1] == off:
            out[-1] = (out[-1][0], out[-1][1] + n)
        else:
            out.append((off, n))
    return out


# -- FAT -----------------------------------------------------------------------------------
class FatReader:
    name = "FAT"

    def __init__(self, fh: BinaryIO) -> None:
        from dissect.fat.fat import FATFS
        self.fs = FATFS(fh)
        self.name = self.fs.type.name if hasattr(self.fs.type, "name") else "FAT"
        self.notes: list[str] = []
        self._seen: set[int] = set()

    def files(self) -> Iterator[FsFile]:
        yield from self._dir(self.fs.root, "")

    def _dir(self, d: Any, prefix: str) -> Iterator[FsFile]:
        subdirs = []
        try:
            entries = list(d.iterdir())
        except Exception as e:  # noqa: BLE001 - a damaged directory is noted, the rest read
            self.notes.append(f"FAT directory {prefix or '/'!r} unreadable: "
                              f"{type(e).__name__}: {e}")
            entries = []
        for ent in entries:
            if ent.name in (".", "..") or ent.is_volume_id():
                continue
            path = prefix + _fat_case(ent.name, ent.dirent.DIR_NTRes, bool(ent.ldirents))
            if ent.is_directory():
                if ent.cluster in self._seen:
                    self.notes.append(f"FAT directory {path!r} loops back; not read twice")
                    continue
                self._seen.add(ent.cluster)
                subdirs.append((ent, path + "/"))
                continue
            yield FsFile(path, ent.size, timestamp(attribute(ent, "mtime")), False, ent.open)
        yield from self._deleted(d, prefix)
        for sd, p in subdirs:
            yield from self._dir(sd, p)

    def _deleted(self, d: Any, prefix: str) -> Iterator[FsFile]:
        try:
            raw = d.open().read()
        except Exception:  # noqa: BLE001 - already noted by iterdir
            return
        lfn: list[str] = []
        fs = self.fs
        csize = fs.cluster_size
        for i in range(0, len(raw) - 31, 32):
            ent = raw[i: i + 32]
            if ent[0] == 0:
                break
            attr = ent[11]
            if attr == 0x0F:
                part = (ent[1:11] + ent[14:26] + ent[28:32]).decode("utf-16-le", "replace")
                lfn.insert(0, part.split("\0", 1)[0].replace("\uffff", ""))
                continue
            names, lfn = lfn, []
            if ent[0] != 0xE5 or attr & 0x18:  # live, or a volume label / directory
                continue
            short = ent[1:8].decode("cp437").rstrip()
            ext = ent[8:11].decode("cp437").rstrip()
            name = "".join(names) or _fat_case("_" + short + ("." + ext if ext else ""),
                                               ent[12], False)
            size = int.from_bytes(ent[28:32], "little")
            cluster = int.from_bytes(ent[20:22], "little") << 16 | int.from_bytes(ent[26:28],
                                                                                 "little")
            mtime = dos_time(int.from_bytes(ent[24:26], "little"),
                              int.from_bytes(ent[22:24], "little"))
            note = None
            if size == 0 or cluster < 2 or cluster >= fs.fat.entry_count:
                yield FsFile(prefix + name, size, mtime, True, None,
                             "deleted FAT entry with no first cluster: content not recoverable")
                continue
            try:
                reused = fs.fat.get(cluster) != 0
            except Exception:  # noqa: BLE001
                reused = False
            if reused:
                note = ("deleted FAT entry whose first cluster is in use again: the content "
                        "read may be another file's")
            start = (cluster - 2) * csize
            yield FsFile(prefix + name, size, mtime, True,
                         partial(RangeStream, fs.data_stream, start, size), note)

    def unallocated(self) -> Ranges | None:
        fs = self.fs
        base = fs.first_data_sector * fs.sector_size
        csize = fs.cluster_size
        count = (fs.total_sectors - fs.first_data_sector) // fs.bpb.BPB_SecPerClus
        fat = fs.fat
        free = (((c - 2) * csize + base, csize) for c in range(2, min(count + 2, fat.entry_count))
                if fat.get(c) == 0)
        return merge_runs(free)


def _fat_case(name: str, ntres: int, long_name: bool) -> str:
    """A short (8.3) name as Windows and Linux show it: the entry's NT flags (0x08: base
    in lower case, 0x10: extension) say `pic0.jpg` was stored as PIC0.JPG; a long name is
    kept as written."""
    if long_name or not ntres & 0x18:
        return name
    base, dot, ext = name.partition(".")
    return (base.lower() if ntres & 0x08 else base) + dot + (ext.lower() if ntres & 0x10
                                                              else ext)


def attribute(obj: object, name: str) -> Any:
    """A reader's property that parses on access (a date, a link target), None if it fails."""
    try:
        return getattr(obj, name)
    except Exception:  # noqa: BLE001 - an impossible date is no date
        return None


def dos_time(date: int, time: int) -> float | None:
    try:
        dt = datetime(1980 + (date >> 9), (date >> 5) & 15, date & 31, time >> 11,
                      (time >> 5) & 63, (time & 31) * 2, tzinfo=UTC)
    except ValueError:
        return None
    return dt.timestamp()


# -- NTFS ----------------------------------------------------------------------------------
class NtfsReader:
    name = "NTFS"

    def __init__(self, fh: BinaryIO) -> None:
        from dissect.ntfs import NTFS
        self.fs = NTFS(fh)
        self.notes: list[str] = []

    def files(self) -> Iterator[FsFile]:
        from dissect.ntfs.c_ntfs import ATTRIBUTE_TYPE_CODE
        mft = self.fs.mft
        for rec in mft.segments():
            try:
                h = rec.header
                if rec.segment is None or rec.segment < 24:
                    continue
                base = h.BaseFileRecordSegment
                if base.SegmentNumberLowPart or base.SegmentNumberHighPart:
                    continue  # an extension record: read with its base record
                if rec.is_dir():
                    continue
                deleted = not h.Flags & 0x0001
                try:
                    path = (rec.full_path(ignore_dos=True) or "").replace("\\", "/").lstrip("/")
                except Exception:  # noqa: BLE001 - a deleted record's parent may be gone
                    path = ""
                if not path:
                    name = rec.filenames(ignore_dos=True)
                    path = f"$orphan/{rec.segment}-{name[0] if name else 'unnamed'}"
                if path.startswith("$") and not deleted and "/" not in path:
                    continue  # the file system's own metadata files
                if not rec.attributes[ATTRIBUTE_TYPE_CODE.DATA]:
                    continue
                size = rec.size()
                si = rec.attributes[ATTRIBUTE_TYPE_CODE.STANDARD_INFORMATION]
                mtime = timestamp(attribute(si[0], "last_modification_time")) if si else None
            except Exception as e:  # noqa: BLE001 - one broken record, noted, the rest read
                self.notes.append(f"MFT record {rec.segment} unreadable: {type(e).__name__}: {e}")
                continue
            yield FsFile(path, size, mtime, deleted, rec.open)

    def unallocated(self) -> Ranges | None:
        bitmap = self.fs.mft.get(6).open().read()
        csize = self.fs.cluster_size
        total = self.fs.boot_sector.NumberSectors // (csize // self.fs.sector_size)

        def free() -> Iterator[tuple[int, int]]:
            for i, byte in enumerate(bitmap):
                if byte == 0xFF:
                    continue
                for bit in range(8):
                    c = i * 8 + bit
                    if c < total and not byte >> bit & 1:
                        yield c * csize, csize
        return merge_runs(free())


# -- ext2/3/4 ------------------------------------------------------------------------------
class ExtReader:
    name = "ext"

    def __init__(self, fh: BinaryIO) -> None:
        from dissect.extfs import ExtFS
        self.fs = ExtFS(fh)
        sb = self.fs.sb
        has_journal = bool(sb.s_feature_compat & 0x4)
        extents = bool(sb.s_feature_incompat & 0x40)
        self.name = "ext4" if extents else "ext3" if has_journal else "ext2"
        self.notes: list[str] = []

    def files(self) -> Iterator[FsFile]:
        seen: set[int] = {2}
        stack = [(self.fs.root, "")]
        while stack:
            d, prefix = stack.pop()
            subdirs = []
            try:
                entries = sorted(d.iterdir(), key=lambda n: n.filename or "")
            except Exception as e:  # noqa: BLE001 - a damaged directory, noted
                self.notes.append(f"ext directory {prefix or '/'!r} unreadable: "
                                  f"{type(e).__name__}: {e}")
                continue
            for n in entries:
                if n.filename in (".", ".."):
                    continue
                path = prefix + (n.filename or f"inode-{n.inum}")
                try:
                    ft = n.filetype
                    if ft == stat.S_IFDIR:
                        if n.inum not in seen:
                            seen.add(n.inum)
                            subdirs.append((n, path + "/"))
                        continue
                    yield inode_file(path, ft, n.size, timestamp(attribute(n, "mtime")), n.open,
                                     partial(attribute, n, "link"))
                except Exception as e:  # noqa: BLE001 - one inode, noted
                    self.notes.append(f"ext inode {n.inum} ({path!r}) unreadable: "
                                      f"{type(e).__name__}: {e}")
            stack.extend(reversed(subdirs))
        yield from self._deleted()

    def _deleted(self) -> Iterator[FsFile]:
        fs = self.fs
        sb = fs.sb
        isize = sb.s_inode_size or 128
        per = sb.s_inodes_per_group
        groups = (sb.s_inodes_count + per - 1) // per
        lost = 0
        for g in range(groups):
            try:
                desc = fs._read_group_desc(g)
                if getattr(desc, "bg_flags", 0) & 0x1:  # EXT4_BG_INODE_UNINIT: never used
                    continue
                table = desc.bg_inode_table_lo | (getattr(desc, "bg_inode_table_hi", 0) << 32
                                                  if fs._group_desc_struct.__name__.startswith(
                                                      "ext4") else 0)
                fs.fh.seek(table * fs.block_size)
                raw = fs.fh.read(per * isize)
            except Exception as e:  # noqa: BLE001
                self.notes.append(f"ext inode table of group {g} unreadable: {e}")
                continue
            for i in range(0, len(raw) - isize + 1, isize):
                mode, size_lo = struct.unpack_from("<HxxI", raw, i)
                dtime, = struct.unpack_from("<I", raw, i + 20)
                links, = struct.unpack_from("<H", raw, i + 26)
                if not dtime or links or mode & 0xF000 != stat.S_IFREG:
                    continue
                inum = g * per + i // isize + 1
                try:
                    node = fs.get_inode(inum)
                    runs = [r for r in node.dataruns() if r[0]]
                except Exception:  # noqa: BLE001 - a cleared or damaged map: not recoverable
                    runs = []
                if not size_lo or not runs:
                    lost += 1
                    continue
                yield FsFile(f"$deleted/inode-{inum}", node.size,
                             timestamp(attribute(node, "mtime")), True, node.open)
        if lost:
            self.notes.append(f"{lost} deleted inode(s) whose block map {self.name} cleared on "
                              "deletion: content not recoverable from the file system (carving "
                              "may find it)")

    def unallocated(self) -> Ranges | None:
        """Free blocks by the groups' block bitmaps; a group flagged BLOCK_UNINIT (its
        bitmap never written: nothing allocated there but its own metadata) is free whole."""
        fs = self.fs
        sb, bs = fs.sb, fs.block_size
        per, first = sb.s_blocks_per_group, sb.s_first_data_block
        wide = fs._group_desc_struct.__name__.startswith("ext4")

        def free() -> Iterator[tuple[int, int]]:
            for g in range(fs.groups_count):
                desc = fs._read_group_desc(g)
                start = first + g * per
                n = min(per, fs.block_count - start)
                if getattr(desc, "bg_flags", 0) & 0x2:
                    yield start * bs, n * bs
                    continue
                at = desc.bg_block_bitmap_lo | (desc.bg_block_bitmap_hi << 32 if wide else 0)
                fs.fh.seek(at * bs)
                bitmap = fs.fh.read((n + 7) // 8)
                for i, byte in enumerate(bitmap):
                    if byte == 0xFF:
                        continue
                    for bit in range(8):
                        b = i * 8 + bit
                        if b < n and not byte >> bit & 1:
                            yield (start + b) * bs, bs
        return merge_runs(free())


def _apfs(fh: BinaryIO) -> FileSystem:
    from cairn.media.disk.apfs import ApfsReader  # its module imports this one
    return ApfsReader(fh)


def _hfs(fh: BinaryIO) -> FileSystem:
    from cairn.media.disk.hfs import HfsReader  # its module imports this one
    return HfsReader(fh)


def _exfat(fh: BinaryIO) -> FileSystem:
    from cairn.media.disk.exfat import ExFatReader  # its module imports this one
    return ExFatReader(fh)


def _iso(fh: BinaryIO) -> FileSystem:
    from cairn.media.disk.iso9660 import iso_or_hybrid  # its module imports this one
    return iso_or_hybrid(fh)


READERS: dict[str, Callable[[BinaryIO], FileSystem]] = {
    "FAT": FatReader, "NTFS": NtfsReader, "ext": ExtReader, "exFAT": _exfat,
    "ISO 9660": _iso, "APFS": _apfs, "HFS+": _hfs}

_NOT_READ = {
    "HFS": "classic HFS (Mac OS Standard) file system: recognised, not read (libfshfs, "
           "Cairn's HFS reader, reads HFS+ and HFSX only)",
    "BitLocker": "BitLocker-encrypted volume: cannot be read without its recovery key",
}


def open_fs(vol: BinaryIO) -> FileSystem:
    vol.seek(0)
    head = vol.read(4096)
    kind = file_system_at(head) or iso9660_at(vol)
    if kind is None:
        if not head.strip(b"\0"):
            raise FsError("volume starts with zeros: no file system (unformatted or wiped)")
        raise FsError("no file system recognised on the volume")
    if kind == "HFS" and head[1024 + 0x7C: 1024 + 0x7E] == b"H+":  # drEmbedSigWord
        raise FsError("HFS wrapper around an embedded HFS+ volume: recognised, not read yet")
    if kind in _NOT_READ:
        raise FsError(_NOT_READ[kind])
    try:
        return READERS[kind](vol)
    except FsError:
        raise
    except Exception as e:  # noqa: BLE001 - a damaged boot block or superblock is data
        raise FsError(f"{kind} file system unreadable: {type(e).__name__}: {e}") from None
