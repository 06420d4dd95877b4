"""A disk image file (or its segments) opened as one seekable stream of the disk it holds.

Formats: EWF/E01 (Expert Witness, single or multi-segment .E01, .E02 ... .EAA), raw (dd),
split raw (.001, .002 ...), VMDK (sparse or descriptor + extents), VHD (fixed and dynamic),
VHDX, QCOW2, VirtualBox VDI and Parallels (.hds), through dissect.evidence and
dissect.hypervisor. QED is recognised and said not read (no maintained reader). Every file is opened
read-only (O_NOATIME where the kernel allows); nothing is written, mounted or extracted.

Integrity: an E01 stores the MD5 (section `hash`) and often SHA-1 (section `digest`) of the
media it acquired; `stored_hashes` reads them and `verify` recomputes them over the whole
stream. EWF2 (Ex01, .Ex01 .Ex02 ...) is read through libewf-python (pyewf), libewf's own
reader: dissect.evidence reads only EWF1. A missing segment or an unreadable header is a
`DiskImageError` naming what and why.
"""

from __future__ import annotations

import hashlib
import io
import os
import queue
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from cairn.media.disk import detect, ewf_chunks, ex01
from cairn.media.disk.rawio import SeekableRaw
from cairn.media.walk import O_NOATIME, display_name

CHUNK = 1 << 20
_EWF_EXT = re.compile(rb"\.([EeLs]|[EeLl][Xx])([0-9A-Za-z]{2})$")  # .E01, .Ex01
_SPLIT_EXT = re.compile(rb"\.(\d{3})$")

Opener = Callable[[bytes], BinaryIO]


class DiskImageError(Exception):
    """The image cannot be opened or read: what and why."""


def open_readonly(path: bytes) -> BinaryIO:
    """Open for reading without touching the atime where the kernel allows it."""
    try:
        fd = os.open(path, os.O_RDONLY | O_NOATIME)
    except PermissionError:
        fd = os.open(path, os.O_RDONLY)
    return os.fdopen(fd, "rb")


@dataclass
class DiskImage:
    format: str  # E01, raw, split raw, VMDK, VHD, VHDX, QCOW2, VDI, Parallels, ISO 9660
    stream: BinaryIO
    size: int
    segments: list[bytes] = field(default_factory=list)  # the files read, in order
    stored: dict[str, str] = field(default_factory=dict)  # hashes the image says it holds
    notes: list[str] = field(default_factory=list)
    _close: list[BinaryIO] = field(default_factory=list)

    def close(self) -> None:
        for f in self._close:
            f.close()

    def __enter__(self) -> DiskImage:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def describe(self) -> dict[str, Any]:
        return {"format": self.format, "size": self.size,
                "segments": [display_name(os.path.basename(s)) for s in self.segments],
                "stored": dict(self.stored)}


def _siblings(path: bytes, pattern: re.Pattern[bytes]) -> list[tuple[bytes, bytes]]:
    """(suffix group, path) of the files in `path`'s folder with its stem and a suffix
    matching `pattern`, sorted by name."""
    folder, base = os.path.split(path)
    m = pattern.search(base)
    if not m:
        return []
    stem = base[: m.start()]
    out = []
    for name in os.listdir(folder or b"."):
        n = pattern.search(name)
        if n and name[: n.start()] == stem:
            out.append((n.group(0), os.path.join(folder, name)))
    return sorted(out)


def ewf_segment_paths(path: bytes) -> list[bytes]:
    """The segment files of the EWF image whose first segment is `path`, in order
    (.E01 ... .E99, .EAA ...), each checked by the number in its own header."""
    found = _siblings(path, _EWF_EXT)
    if not found:
        return [path]
    numbered: dict[int, bytes] = {}
    for _, p in found:
        try:
            with open_readonly(p) as f:
                n = detect.ewf_segment_number(f.read(16))
        except OSError:
            continue
        if n is not None and n not in numbered:
            numbered[n] = p
    out = []
    for i in range(1, len(numbered) + 2):
        if i not in numbered:
            break
        out.append(numbered[i])
    missing = sorted(set(numbered) - set(range(1, len(out) + 1)))
    if missing:
        raise DiskImageError(f"EWF segment {len(out) + 1} is missing (found segments "
                             f"{', '.join(map(str, sorted(numbered)))}); the image cannot be read "
                             "past segment " + str(len(out)))
    return out or [path]


def split_raw_paths(path: bytes) -> list[bytes]:
    """path.001, path.002 ... as long as the numbers run on without a gap."""
    m = _SPLIT_EXT.search(path)
    if not m:
        return [path]
    first = int(m.group(1))
    by_n = {int(s[1:]): p for s, p in _siblings(path, _SPLIT_EXT)}
    out = []
    n = first
    while n in by_n:
        out.append(by_n[n])
        n += 1
    return out or [path]


_VMDK_EXTENT = re.compile(rb'^\s*(?:RW|RDONLY|NOACCESS)\s+\d+\s+\w+\s+"([^"]+)"', re.M)
MAX_DESCRIPTOR = 64 * 1024  # a VMDK text descriptor is a few hundred bytes


def vmdk_descriptor_of(path: bytes) -> bytes | None:
    """When `path` is an extent a VMDK text descriptor beside it names (`vm-flat.vmdk`,
    `vm-s001.vmdk`), that descriptor's path: the extent is read through it, not alone (a
    flat extent would read as a second copy of the disk, a sparse one as a broken VMDK)."""
    folder, base = os.path.split(path)
    if not base.lower().endswith(b".vmdk"):
        return None
    try:
        names = sorted(os.listdir(folder or b"."))
    except OSError:
        return None
    for name in names:
        if name == base or not name.lower().endswith(b".vmdk"):
            continue
        other = os.path.join(folder, name)
        try:
            with open_readonly(other) as f:
                if f.read(21) != b"# Disk DescriptorFile":
                    continue  # a sparse extent or a monolithic image: names no other file
                text = f.read(MAX_DESCRIPTOR)
        except OSError:
            continue
        if base in (os.path.basename(x) for x in _VMDK_EXTENT.findall(text)):
            return other
    return None


def is_later_segment(path: bytes, head: bytes) -> bytes | None:
    """When `path` is segment 2+ of an EWF or split raw image, the first segment's path;
    when it is an extent of a VMDK descriptor beside it, the descriptor's path."""
    if path.lower().endswith(b".vmdk") and not head.startswith(b"# Disk DescriptorFile"):
        return vmdk_descriptor_of(path)
    n = detect.ewf_segment_number(head)
    if n is not None and n > 1:
        for _, p in _siblings(path, _EWF_EXT):
            try:
                with open_readonly(p) as f:
                    if detect.ewf_segment_number(f.read(16)) == 1:
                        return p
            except OSError:
                continue
        return None
    m = _SPLIT_EXT.search(path)
    if m and int(m.group(1)) > 1:
        first = path[: m.start()] + b".001"
        if os.path.isfile(first):
            try:
                with open_readonly(first) as f:
                    if detect.disk_type(f.read(4096)) is not None:
                        return first
            except OSError:
                return None
    return None


class _Concat(SeekableRaw):
    """Several files read as one (split raw)."""

    def __init__(self, files: list[BinaryIO], sizes: list[int]) -> None:
        self.files, self.sizes = files, sizes
        self.starts = [sum(sizes[:i]) for i in range(len(sizes))]
        self.size = sum(sizes)
        self.pos = 0

    def readinto(self, b: Any) -> int:
        view = memoryview(b).cast("B")
        done = 0
        while done < len(view) and self.pos < self.size:
            i = max(j for j, s in enumerate(self.starts) if s <= self.pos)
            f = self.files[i]
            f.seek(self.pos - self.starts[i])
            want = min(len(view) - done, self.starts[i] + self.sizes[i] - self.pos)
            got = f.readinto(view[done: done + want])  # type: ignore[attr-defined]
            if not got:
                raise DiskImageError(f"segment {i + 1} is shorter than it was when opened")
            done += got
            self.pos += got
        return done


class _Unnamed:
    """The file without its `name` (an fd number from os.fdopen), which dissect's VMDK and
    VHDX readers would take for a path to open parent or extent files by."""

    def __init__(self, f: BinaryIO) -> None:
        self._f = f

    def read(self, n: int = -1) -> bytes:
        return self._f.read(n)

    def readinto(self, b: Any) -> int:
        return self._f.readinto(b)  # type: ignore[attr-defined]

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._f.seek(offset, whence)

    def tell(self) -> int:
        return self._f.tell()


def _ewf_stored(ewf: Any) -> dict[str, str]:
    """The MD5 (`hash` section) and SHA-1 (`digest` section) an E01 stores, where set."""
    stored: dict[str, str] = {}
    for i in range(len(ewf.fh)):
        seg = ewf.segment(i)
        for s in seg.sections:
            if s.type not in (b"hash", b"digest"):
                continue
            seg.fh.seek(s.data_offset)
            data = seg.fh.read(36)
            md5 = data[:16]
            if any(md5):
                stored["md5"] = md5.hex()
            if s.type == b"digest" and len(data) >= 36 and any(data[16:36]):
                stored["sha1"] = data[16:36].hex()
    return stored


def _open_ewf(path: bytes | None, f: BinaryIO, img: DiskImage, opener: Opener) -> None:
    from dissect.evidence.ewf import EWF  # lazy: only images pay for the import

    f.seek(0)
    is_ex01 = f.read(8) == detect.EX01_MAGIC
    files = [f]
    if path is not None:
        paths = ewf_segment_paths(path)
        img.segments = paths
        files = [f] + [opener(p) for p in paths[1:]]
        img._close.extend(files[1:])
    if is_ex01:
        f.seek(0)
        img.format = "Ex01"
        try:
            img.stream, img.size, img.stored = ex01.open_ex01(files)
        except ex01.Ex01Error as e:
            raise DiskImageError(str(e)) from None
        img._close.append(img.stream)
        if not img.stored:
            img.notes.append("the Ex01 stores no MD5 or SHA-1 of the acquired media: not "
                             "verifiable")
        return
    try:
        ewf = EWF(files)
    except Exception as e:  # noqa: BLE001 - the reader's failure, named
        why = ("no complete header, volume and table sections (truncated or damaged)"
               if str(e).startswith("Failed to load EWF") else f"{type(e).__name__}: {e}")
        raise DiskImageError(f"EWF image unreadable: {why}") from None
    img.format = "E01"
    # not ewf.open(): files are read through ewf_chunks' own chunk access (its docstring)
    img.stream = ewf_chunks.ChunkStream(ewf, ewf.size)  # type: ignore[assignment]
    img.size = ewf.size
    img.stored = _ewf_stored(ewf)
    if not img.stored:
        img.notes.append("the E01 stores no MD5 or SHA-1 of the acquired media: not verifiable")


def open_image(f: BinaryIO, media_type: str, path: bytes | None = None,
               opener: Opener = open_readonly) -> DiskImage:
    """The disk inside image file `f` (already open, read-only). `path`: where `f` is, so
    that other segments (E02..., .002...) and VMDK extents can be found beside it; None for
    an image held in memory (an archive member), read alone."""
    f.seek(0, 2)
    fsize = f.tell()
    f.seek(0)
    img = DiskImage("raw", f, fsize, [path] if path is not None else [])
    try:
        if media_type == detect.EWF:
            _open_ewf(path, f, img, opener)
        elif media_type == detect.QCOW2:
            from dissect.hypervisor.disk.qcow2 import QCow2
            q = QCow2(f, allow_no_backing_file=True, allow_no_data_file=True)
            if getattr(q, "backing_file", None) is not None or q.header.backing_file_offset:
                img.notes.append("QCOW2 has a backing file: only this overlay's clusters are read")
            img.format, img.stream = "QCOW2", q.open()
            img.size = q.size
        elif media_type == detect.VHDX:
            from dissect.hypervisor.disk.vhdx import VHDX
            v = VHDX(_Unnamed(f))
            img.format, img.stream, img.size = "VHDX", v, v.size
        elif media_type == detect.VHD:
            from dissect.hypervisor.disk.vhd import VHD
            d = VHD(f)
            img.format, img.stream, img.size = "VHD", d, d.size
        elif media_type == detect.VMDK:
            from dissect.hypervisor.disk.vmdk import VMDK
            head = f.read(4)
            f.seek(0)
            if head == b"# Di" and path is not None:
                vm = VMDK(Path(os.fsdecode(path)))  # extents named by the descriptor
            else:
                vm = VMDK(_Unnamed(f))
            img.format, img.stream, img.size = "VMDK", vm, vm.size
        elif media_type == detect.VDI:
            from dissect.hypervisor.disk.vdi import VDI
            vdi = VDI(f)
            if any(bytes(vdi.header.uuidLinkage)):
                img.notes.append("VDI is a differencing image: blocks its parent holds read as "
                                 "zeros")
            img.format, img.stream, img.size = "VDI", vdi.open(), vdi.size
        elif media_type == detect.PARALLELS:
            from dissect.hypervisor.disk.hdd import HDS
            hds = HDS(f)
            img.format, img.stream, img.size = "Parallels", hds, hds.size
        elif media_type == detect.QED:
            raise DiskImageError("QED (QEMU enhanced disk) image: recognised, but Cairn has no "
                                 "reader for it; convert it with `qemu-img convert -O raw`")
        elif media_type == detect.ISO:
            img.format = "ISO 9660"
        elif media_type == detect.RAW:
            paths = split_raw_paths(path) if path is not None else []
            if len(paths) > 1:
                files = [f] + [opener(p) for p in paths[1:]]
                img._close.extend(files[1:])
                sizes = []
                for x in files:
                    x.seek(0, 2)
                    sizes.append(x.tell())
                img.format, img.segments = "split raw", paths
                img.stream = io.BufferedReader(_Concat(files, sizes), CHUNK)
                img.size = sum(sizes)
            elif fsize >= 1024:
                f.seek(fsize - 512)
                if f.read(8) == b"conectix":  # a fixed VHD: the disk, then a footer
                    img.format, img.size = "VHD", fsize - 512
                f.seek(0)
        else:
            raise DiskImageError(f"not a disk image type: {media_type}")
    except DiskImageError:
        img.close()
        raise
    except Exception as e:  # noqa: BLE001 - any reader failure on a hostile header is data
        img.close()
        raise DiskImageError(f"{media_type.split('x-')[-1]} image unreadable: "
                             f"{type(e).__name__}: {e}") from None
    return img


_HASHES = {"md5": lambda: hashlib.md5(usedforsecurity=False),
           "sha1": lambda: hashlib.sha1(usedforsecurity=False)}
_QUEUED = 8  # blocks of CHUNK * 4 held between the reader and a slower hash: 32 MiB at most


def _hash_beside(name: str) -> tuple[queue.Queue[list[Any] | None], Callable[[], str]]:
    """A thread that feeds what is put on its queue (lists of blocks), in order, to hash
    `name` (None ends it), and the call that waits for the hex digest. hashlib releases the
    GIL on large blocks, so MD5, SHA-1 and the reader's inflating run on separate cores."""
    q: queue.Queue[list[Any] | None] = queue.Queue(_QUEUED)
    h = _HASHES[name]()

    def run() -> None:
        while (blocks := q.get()) is not None:
            for block in blocks:
                h.update(block)

    t = threading.Thread(target=run, name=f"disk-verify-{name}", daemon=True)
    t.start()

    def digest() -> str:
        t.join()
        return h.hexdigest()
    return q, digest


def _stream_blocks(img: DiskImage) -> Iterator[list[bytes]]:
    """The disk stream from its start, CHUNK * 4 at a time, up to its size."""
    s = img.stream
    s.seek(0)
    n = 0
    while n < img.size:
        block = s.read(min(CHUNK * 4, img.size - n))
        if not block:
            return
        n += len(block)
        yield [block]


def verify(img: DiskImage, progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Recompute the hashes the image stores over the whole disk stream:
    {"stored": {...}, "computed": {...}, "ok": bool | None (nothing stored), "error": str}.
    Only the stored algorithms are computed, each in its own thread beside the reading; an
    E01 is read chunk by chunk from its tables (ewf_chunks), not through the seekable stream."""
    out: dict[str, Any] = {"format": img.format, "stored": dict(img.stored), "computed": {},
                           "ok": None, "error": None}
    if not img.stored:
        return out
    hashers = {name: _hash_beside(name) for name in _HASHES if name in img.stored}
    ewf = getattr(img.stream, "ewf", None) if img.format == "E01" else None
    n = 0
    try:
        blocks = ewf_chunks.media_pieces(ewf, img.size) if ewf is not None else \
            _stream_blocks(img)
        for block in blocks:
            for q, _ in hashers.values():
                q.put(block)
            got = sum(len(b) for b in block)
            n += got
            if progress:
                progress(got)
        if n < img.size:
            raise DiskImageError(f"image ends after {n} of {img.size} bytes")
    except Exception as e:  # noqa: BLE001 - a damaged chunk is the answer, not a crash
        out["error"] = f"read failed after {n} bytes: {type(e).__name__}: {e}"
        out["ok"] = False
        return out
    finally:
        for q, _ in hashers.values():
            q.put(None)
    out["computed"] = {name: digest() for name, (_, digest) in hashers.items()}
    out["ok"] = all(out["computed"].get(k) == v for k, v in img.stored.items())
    return out


def verify_beside(img: DiskImage, media_type: str, opener: Opener = open_readonly
                  ) -> Callable[[], dict[str, Any]]:
    """Start `verify` of `img` on a second, independent opening of its files, in a
    background thread, and return the call that waits for its answer: the whole-media pass
    (zlib and the hashes release the GIL) overlaps reading the image's files. An image
    held in memory (no path), or one that stores no hash, is verified in the call."""
    if not img.stored or not img.segments:
        return lambda: verify(img)
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            with opener(img.segments[0]) as f, open_image(f, media_type, img.segments[0],
                                                          opener) as second:
                result.update(verify(second))
        except Exception as e:  # noqa: BLE001 - a failure to reopen is the answer
            result.update(format=img.format, stored=dict(img.stored), computed={}, ok=False,
                          error=f"reopening the image to verify it failed: "
                                f"{type(e).__name__}: {e}")

    t = threading.Thread(target=run, name="disk-verify", daemon=True)
    t.start()

    def wait() -> dict[str, Any]:
        t.join()
        return result
    return wait
