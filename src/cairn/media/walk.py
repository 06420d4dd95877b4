"""Walking a source on disk without following links or touching anything.

Names are kept as bytes for opening (non-UTF-8 names survive) and shown as text with
undecodable bytes written `\\xNN`, so every path is both printable and reproducible.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass


def display_name(raw: bytes | str) -> str:
    if isinstance(raw, str):
        raw = os.fsencode(raw)
    return raw.decode("utf-8", "backslashreplace")


@dataclass(frozen=True, slots=True)
class DiskEntry:
    """One thing found on disk: a regular file to read, or something recorded but not read."""

    path: str  # relative to the source root, '/'-separated, printable
    fs_path: bytes  # what to open
    kind: str  # file | symlink | special | unreadable-dir
    size: int | None = None
    mtime: float | None = None
    note: str | None = None  # why it was not read (for kinds other than file)


def _special_kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode):
        return "character device"
    if stat.S_ISBLK(mode):
        return "block device"
    return "special file"


def _symlink_entry(rel: str, full: bytes, st: os.stat_result) -> DiskEntry:
    try:
        target = display_name(os.readlink(full))
    except OSError as e:
        target = f"<unreadable: {e.strerror}>"
    try:
        os.stat(full)
        note = f"symbolic link to {target!r}; not followed"
    except OSError as e:
        if e.errno == errno.ELOOP:
            note = f"symbolic link loop ({target!r}); not followed"
        else:
            note = f"broken symbolic link to {target!r}: {e.strerror}"
    return DiskEntry(rel, full, "symlink", st.st_size, st.st_mtime, note)


def walk(root: str | bytes) -> Iterator[DiskEntry]:
    """Yield every entry below `root`: a folder's files (byte-sorted), then its subfolders.

    A file root yields itself. The order is stable across runs and machines.
    """
    root_b = os.fsencode(root)
    st = os.lstat(root_b)
    if not stat.S_ISDIR(st.st_mode):
        name = display_name(os.path.basename(root_b))
        if stat.S_ISREG(st.st_mode):
            yield DiskEntry(name, root_b, "file", st.st_size, st.st_mtime)
        elif stat.S_ISLNK(st.st_mode):
            yield _symlink_entry(name, root_b, st)
        else:
            yield DiskEntry(name, root_b, "special", None, st.st_mtime,
                            f"{_special_kind(st.st_mode)}; not read")
        return
    stack: list[tuple[bytes, str]] = [(root_b, "")]
    while stack:
        directory, prefix = stack.pop()
        try:
            with os.scandir(directory) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as e:
            yield DiskEntry(prefix.rstrip("/") or ".", directory, "unreadable-dir", None, None,
                            f"cannot list directory: {e.strerror}")
            continue
        subdirs: list[tuple[bytes, str]] = []
        for entry in entries:
            rel = prefix + display_name(entry.name)
            full = entry.path
            try:
                est = entry.stat(follow_symlinks=False)
            except OSError as e:
                yield DiskEntry(rel, full, "special", None, None, f"cannot stat: {e.strerror}")
                continue
            mode = est.st_mode
            if stat.S_ISLNK(mode):
                yield _symlink_entry(rel, full, est)
            elif stat.S_ISDIR(mode):
                subdirs.append((full, rel + "/"))
            elif stat.S_ISREG(mode):
                yield DiskEntry(rel, full, "file", est.st_size, est.st_mtime)
            else:
                yield DiskEntry(rel, full, "special", None, est.st_mtime,
                                f"{_special_kind(mode)}; not read")
        stack.extend(reversed(subdirs))
