"""Archive members read into memory, never extracted to disk, with bomb and depth limits."""

from __future__ import annotations

import gzip
import posixpath
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO

from cairn.media.limits import Limits
from cairn.media.walk import display_name


@dataclass(slots=True)
class Member:
    name: str
    data: bytes | None
    mtime: float | None = None
    error: str | None = None  # set when the member could not (safely) be read
    warning: str | None = None  # set when it was read but something about it is suspicious


class ArchiveError(Exception):
    """The archive as a whole cannot be opened or stops being readable."""


def unsafe_name(name: str) -> str | None:
    """Say why a member name would escape an extraction root, or None if it would not."""
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return f"member name {name!r} is absolute; it would escape the archive root if extracted"
    parts = name.replace("\\", "/").split("/")
    if ".." in parts:
        return (f"member name {name!r} climbs out of the archive ('..'); "
                "not extracted, hashed in memory")
    return None


class _Budget:
    def __init__(self, limits: Limits, compressed_size: int) -> None:
        self.limits = limits
        self.compressed = max(compressed_size, 1)
        self.total = 0
        self.count = 0

    def read(self, f: BinaryIO, declared: int | None) -> bytes:
        lim = self.limits
        if declared is not None and declared > lim.max_member_size:
            raise ArchiveMemberTooBig(
                f"member declares {declared} bytes, over the member limit of {lim.max_member_size}"
            )
        data = f.read(lim.max_member_size + 1)
        if len(data) > lim.max_member_size:
            raise ArchiveMemberTooBig(
                f"member expands past the member limit of {lim.max_member_size} bytes"
            )
        self.total += len(data)
        return data

    def check_archive(self) -> None:
        lim = self.limits
        if self.total > lim.max_archive_total:
            raise ArchiveError(
                f"archive expands past {lim.max_archive_total} bytes in total; rest not read"
            )
        if self.total > lim.ratio_floor and self.total > lim.max_ratio * self.compressed:
            raise ArchiveError(
                f"archive expands {self.total} bytes from {self.compressed} "
                f"(ratio over {lim.max_ratio}:1, possible archive bomb); rest not read"
            )


class ArchiveMemberTooBig(Exception):
    pass


def _zip_members(f: BinaryIO, limits: Limits, compressed_size: int) -> Iterator[Member]:
    try:
        zf = zipfile.ZipFile(f)
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise ArchiveError(f"not a readable zip archive: {e}") from None
    budget = _Budget(limits, compressed_size)
    with zf:
        for info in zf.infolist():
            if info.is_dir():
                continue
            budget.count += 1
            if budget.count > limits.max_members:
                raise ArchiveError(f"more than {limits.max_members} members; rest not read")
            name = info.filename
            mtime = _zip_time(info)
            packed = max(info.compress_size, 1)
            if info.file_size > limits.ratio_floor and info.file_size > limits.max_ratio * packed:
                yield Member(name, None, mtime, (
                    f"zip bomb suspected: member declares {info.file_size} bytes from "
                    f"{info.compress_size} compressed (ratio over {limits.max_ratio}:1); not read"))
                continue
            try:
                with zf.open(info) as mf:
                    data = budget.read(mf, info.file_size)
            except ArchiveMemberTooBig as e:
                yield Member(name, None, mtime, f"{e}; not read")
                continue
            except RuntimeError as e:  # encrypted
                yield Member(name, None, mtime, f"cannot read member: {e}")
                continue
            except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as e:
                yield Member(name, None, mtime, f"corrupt member: {e}")
                continue
            yield Member(name, data, mtime)
            budget.check_archive()


def _zip_time(info: zipfile.ZipInfo) -> float | None:
    try:
        return datetime(*info.date_time).timestamp()
    except (ValueError, OverflowError):
        return None


def _tar_members(f: BinaryIO, limits: Limits, compressed_size: int) -> Iterator[Member]:
    try:
        tf = tarfile.open(fileobj=f, mode="r:*")  # noqa: SIM115 - closed by `with tf` below
    except (tarfile.TarError, OSError, EOFError) as e:
        raise ArchiveError(f"not a readable tar archive: {e}") from None
    budget = _Budget(limits, compressed_size)
    with tf:
        while True:
            try:
                ti = tf.next()
            except (tarfile.TarError, OSError, EOFError, gzip.BadGzipFile) as e:
                raise ArchiveError(
                    f"archive is corrupt after {budget.count} members: {e}") from None
            if ti is None:
                break
            if ti.isdir():
                continue
            budget.count += 1
            if budget.count > limits.max_members:
                raise ArchiveError(f"more than {limits.max_members} members; rest not read")
            name = display_name(ti.name)
            if ti.issym() or ti.islnk():
                kind = "symbolic" if ti.issym() else "hard"
                yield Member(name, None, ti.mtime,
                             f"{kind} link member to {ti.linkname!r}; not followed")
                continue
            if not ti.isfile():
                yield Member(name, None, ti.mtime, "special member (device or FIFO); not read")
                continue
            try:
                mf = tf.extractfile(ti)
                assert mf is not None
                data = budget.read(mf, ti.size)
            except ArchiveMemberTooBig as e:
                yield Member(name, None, ti.mtime, f"{e}; not read")
                continue
            except (tarfile.TarError, OSError, EOFError, gzip.BadGzipFile) as e:
                raise ArchiveError(f"archive is corrupt at member {name!r}: {e}") from None
            yield Member(name, data, ti.mtime)
            budget.check_archive()


def _gzip_members(f: BinaryIO, name: str, limits: Limits, compressed_size: int) -> Iterator[Member]:
    """A gzip that is not a tarball holds one member: the name without `.gz`."""
    inner = posixpath.basename(name)
    inner = inner[:-3] if inner.lower().endswith(".gz") else inner + ".ungz"
    budget = _Budget(limits, compressed_size)
    try:
        with gzip.GzipFile(fileobj=f) as gz:
            data = budget.read(gz, None)
    except ArchiveMemberTooBig as e:
        yield Member(inner, None, None, f"{e}; not read")
        return
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise ArchiveError(f"corrupt gzip stream: {e}") from None
    budget.check_archive()
    yield Member(inner, data, None)


def _is_tar(f: BinaryIO) -> bool:
    try:
        f.seek(0)
        with tarfile.open(fileobj=f, mode="r:*") as tf:
            return tf.next() is not None
    except (tarfile.TarError, OSError, EOFError):
        return False
    finally:
        f.seek(0)


def iter_members(
    f: BinaryIO, media_type: str, name: str, limits: Limits, compressed_size: int
) -> Iterator[Member]:
    """Members of an archive held in a seekable binary file. Raises ArchiveError when broken."""
    if media_type == "application/zip":
        yield from _zip_members(f, limits, compressed_size)
    elif media_type == "application/x-tar":
        yield from _tar_members(f, limits, compressed_size)
    elif media_type == "application/gzip":
        if _is_tar(f):
            yield from _tar_members(f, limits, compressed_size)
        else:
            yield from _gzip_members(f, name, limits, compressed_size)
    else:
        raise ArchiveError(f"unsupported archive type {media_type}")
