"""exFAT read in place (SD cards, USB sticks, cameras): dissect.fat gives the header, the FAT
and run lists; the directories are parsed here from their raw entry sets, because dissect
lists only the live ones and a seized card's deleted files are what an examiner asks for
first. Its own module, beside the FAT, NTFS and ext readers of `filesystems`, which reaches it
through `open_fs`.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from functools import partial
from typing import BinaryIO

from cairn.media.disk.filesystems import FsFile, Ranges, dos_time, merge_runs


class ExFatReader:
    """exFAT through dissect.fat's header, FAT and run lists; directories are read from
    their raw entry sets (0x85 file, 0xC0 stream, 0xC1 names) so that deleted sets (0x05,
    0x40, 0x41: the in-use bit cleared, everything else kept) are read too: a deleted file
    whose clusters were contiguous (NoFatChain) is read from them; one whose first cluster
    the allocation bitmap gives to a file again is read with a note."""

    name = "exFAT"

    def __init__(self, fh: BinaryIO) -> None:
        from dissect.fat.exfat import ExFAT
        self.fs = ExFAT(fh)
        self.fh = fh
        self.notes: list[str] = []
        self._bitmap: bytes | None = None
        self._seen: set[int] = set()

    def _stream(self, cluster: int, size: int, contiguous: bool) -> BinaryIO:
        from dissect.util.stream import RunlistStream
        runs = self.fs.runlist(cluster, contiguous, size if contiguous else None)
        return RunlistStream(self.fh, runs, size, self.fs.sector_size)

    def bitmap(self) -> bytes:
        if self._bitmap is None:
            e = self.fs.alloc_bitmap
            self._bitmap = self._stream(e.bitmap_start_cluster, e.bitmap_length, False).read()
        return self._bitmap

    def _allocated(self, cluster: int) -> bool:
        bm, i = self.bitmap(), cluster - 2
        return 0 <= i < len(bm) * 8 and bool(bm[i >> 3] >> (i & 7) & 1)

    def files(self) -> Iterator[FsFile]:
        root = self.fs.root_directory.root_dir
        root.seek(0)
        yield from self._dir(root.read(), "")

    def _dir(self, raw: bytes, prefix: str) -> Iterator[FsFile]:
        subdirs: list[tuple[int, int, bool, str]] = []
        i = 0
        while i + 32 <= len(raw):
            kind, count = raw[i], raw[i + 1]
            if kind == 0:
                break  # end of directory
            if kind not in (0x85, 0x05) or not 2 <= count <= 18:
                i += 32
                continue
            deleted = kind == 0x05
            sets = raw[i + 32: i + 32 + 32 * count]
            if len(sets) < 64 or sets[0] & 0x7F != 0x40:
                i += 32
                continue
            attrs, = struct.unpack_from("<H", raw, i + 4)
            stamp, = struct.unpack_from("<I", raw, i + 12)  # last modified, DOS-style
            flags, name_len = sets[1], sets[3]
            cluster, size = struct.unpack_from("<IQ", sets, 20)
            name = b"".join(sets[32 * k + 2: 32 * k + 32] for k in range(1, count)
                            if sets[32 * k] & 0x7F == 0x41).decode("utf-16-le", "replace")
            name = name[:name_len] or f"unnamed-{i // 32}"
            path = prefix + name
            contiguous = bool(flags & 0x2)
            mtime = dos_time(stamp >> 16, stamp & 0xFFFF)
            i += 32 * (1 + count)
            if attrs & 0x10:
                if deleted:
                    self.notes.append(f"exFAT deleted directory {path!r}: its entries are not "
                                      "followed")
                elif cluster in self._seen:
                    self.notes.append(f"exFAT directory {path!r} loops back; not read twice")
                else:
                    self._seen.add(cluster)
                    subdirs.append((cluster, size, contiguous, path + "/"))
                continue
            if size and cluster < 2:
                yield FsFile(path, size, mtime, deleted, None,
                             "exFAT entry with no first cluster: content not recoverable")
                continue
            note = None
            if deleted:
                if not contiguous:
                    note = ("deleted exFAT file whose clusters were chained in the FAT: read "
                            "by the chain left there, which may be another file's by now")
                elif self._allocated(cluster):
                    note = ("deleted exFAT file whose first cluster is in use again: the "
                            "content read may be another file's")
            yield FsFile(path, size, mtime, deleted,
                         partial(self._stream, cluster, size, contiguous) if size
                         else partial(io.BytesIO, b""), note)
        for cluster, size, contiguous, p in subdirs:
            try:
                data = self._stream(cluster, size, contiguous).read()
            except Exception as e:  # noqa: BLE001 - a damaged directory, noted
                self.notes.append(f"exFAT directory {p!r} unreadable: {type(e).__name__}: {e}")
                continue
            yield from self._dir(data, p)

    def unallocated(self) -> Ranges | None:
        fs = self.fs
        base = fs.cluster_heap_sector * fs.sector_size
        csize = fs.cluster_size
        bm = self.bitmap()
        return merge_runs((c * csize + base, csize) for c in range(fs.cluster_count)
                       if c >> 3 < len(bm) and not bm[c >> 3] >> (c & 7) & 1)
