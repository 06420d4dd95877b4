"""ISO 9660 discs, read in place through pycdlib: names as the disc's own reader would show
them (Rock Ridge where present, else Joliet, else ISO 9660 without its version number), a
Rock Ridge symbolic link named with its target, never followed. A disc is written once:
nothing deleted, no free space to carve.

An ISO 9660/HFS+ hybrid disc (xorriso's `-hfsplus on`, Apple's hybrid CDs) holds one set of
files under two trees whose records point at the same data. It is read as the ISO 9660 disc
(paths as for any disc); its HFS+ tree adds only the files whose data no ISO 9660 record
points at (hidden from the ISO 9660 tree: each with a warning saying so), so no file is
listed twice and none is missed.

Apart from `filesystems` (which recognises a volume's file system and hands it to its
reader) because a disc is more than one file system's reader: the hybrid brings the Apple
Partition Map and the HFS+ reader (`hfs`) in with it.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from functools import partial
from typing import Any, BinaryIO

from dissect.util.stream import RangeStream

from cairn.media.disk.apm import apm_entries
from cairn.media.disk.filesystems import FsError, FsFile, Ranges
from cairn.media.disk.hfs import HfsReader


class IsoReader:
    """ISO 9660 (with Rock Ridge or Joliet names where present, as the disc's own reader
    would show them) through pycdlib. A disc is written once: nothing deleted, no free
    space to carve."""

    name = "ISO 9660"

    def __init__(self, fh: BinaryIO) -> None:
        import pycdlib
        self.iso = pycdlib.PyCdlib()
        self.iso.open_fp(fh)
        self.notes: list[str] = []
        self.starts: dict[str, int] = {}  # where each file's data begins (a hybrid's HFS+)
        if self.iso.has_rock_ridge():
            self.key, self.name = "rr_path", "ISO 9660 (Rock Ridge)"
        elif self.iso.has_joliet():
            self.key, self.name = "joliet_path", "ISO 9660 (Joliet)"
        else:
            self.key = "iso_path"

    def files(self) -> Iterator[FsFile]:
        for here, _dirs, names in self.iso.walk(**{self.key: "/"}):
            for n in sorted(names):
                full = here.rstrip("/") + "/" + n
                try:
                    rec = self.iso.get_record(**{self.key: full})
                    size, mtime = rec.get_data_length(), _iso_time(getattr(rec, "date", None))
                except Exception as e:  # noqa: BLE001 - one damaged record, noted
                    self.notes.append(f"ISO record {full!r} unreadable: {type(e).__name__}: {e}")
                    continue
                path = full.lstrip("/")
                if self.key == "iso_path":
                    path = path.rsplit(";", 1)[0]  # the version number is not part of a name
                rr = getattr(rec, "rock_ridge", None)
                if rr is not None and rec.is_symlink():
                    target = rr.symlink_path().decode("utf-8", "replace")
                    yield FsFile(path, 0, mtime, False, None,
                                 f"symbolic link to {target!r}; not followed")
                    continue
                if size:
                    self.starts[path] = rec.extent_location() * self.iso.logical_block_size
                yield FsFile(path, size, mtime, False, partial(self._open, full))

    def _open(self, path: str) -> BinaryIO:
        # PyCdlibIO sets its position up on entering; it re-seeks the image on every read
        return self.iso.open_file_from_iso(**{self.key: path}).__enter__()

    def unallocated(self) -> Ranges | None:
        return []


def _iso_time(d: Any) -> float | None:
    try:
        tz = timezone(timedelta(minutes=15 * d.gmtoffset))
        return datetime(1900 + d.years_since_1900, d.month, d.day_of_month, d.hour, d.minute,
                        d.second, tzinfo=tz).timestamp()
    except (AttributeError, ValueError, OverflowError, TypeError):
        return None


class HybridReader:
    """An ISO 9660/HFS+ hybrid disc (see the module's docstring): the ISO 9660 tree, then
    what only the HFS+ tree(s) of the disc's Apple Partition Map hold."""

    def __init__(self, iso: IsoReader, hfs: list[tuple[int, HfsReader]],
                 notes: list[str]) -> None:
        self.iso = iso
        self.hfs = hfs  # (the volume's offset on the disc, its reader)
        self.name = f"{iso.name} + HFS+"
        self.notes = notes

    def files(self) -> Iterator[FsFile]:
        paths: set[str] = set()  # composed (NFC): HFS+ stores names decomposed
        for f in self.iso.files():
            paths.add(unicodedata.normalize("NFC", f.path))
            yield f
        starts = set(self.iso.starts.values())
        for offset, hfs in self.hfs:
            for f in hfs.files():
                start = hfs.starts.get(f.path)
                if (start + offset in starts if start is not None
                        else unicodedata.normalize("NFC", f.path) in paths):
                    continue  # the same data (or, with none, the same name) as an ISO file
                why = ("only in the disc's HFS+ tree: the ISO 9660 tree does not list "
                       "this data")
                yield FsFile(f.path, f.size, f.mtime, f.deleted, f.open,
                             f"{f.note}; {why}" if f.note else why)
            self.notes.extend(f"HFS+ tree: {n}" for n in hfs.notes)

    def unallocated(self) -> Ranges | None:
        return []  # a disc is written once: no free space


def iso_or_hybrid(disc: BinaryIO) -> IsoReader | HybridReader:
    """An ISO 9660 disc's reader; a hybrid one's when its Apple Partition Map holds HFS+
    volumes (one that does not open is a note: the ISO 9660 tree is read either way)."""
    iso = IsoReader(disc)
    hfs: list[tuple[int, HfsReader]] = []
    notes: list[str] = []
    for e in apm_entries(disc):
        if e.type != "Apple_HFS":
            continue
        vol = RangeStream(disc, e.offset, e.size)
        vol.seek(1024)
        sig = vol.read(2)
        if sig == b"BD":
            notes.append(f"HFS tree of the hybrid disc ({e.name!r}) is classic HFS: not read "
                         "(libfshfs reads HFS+ and HFSX only); its ISO 9660 tree is")
        if sig not in (b"H+", b"HX"):
            continue
        try:
            hfs.append((e.offset, HfsReader(vol)))
        except FsError as err:
            notes.append(f"HFS+ tree of the hybrid disc ({e.name!r}): {err}")
    disc.seek(0)
    return HybridReader(iso, hfs, notes) if hfs or notes else iso
