"""Walking a source on disk without following links or touching anything.

Names are kept as bytes for opening (non-UTF-8 names survive) and shown as text that can be
turned back into those bytes: undecodable bytes are written `\\xNN`, a literal backslash
`\\\\`, and a `!` that a `/` follows `\\!` (an unescaped `!/` is where an archive's members
begin, so a real folder named `x.zip!` never reads like the archive `x.zip`).

Atimes: folders are listed through a descriptor opened with O_NOATIME (Linux, when we own
the folder or are root); where that is refused the entries carry `atime_note` saying so.
Links are examined with lstat; reading a link's target (readlink) updates the link's atime
on Linux whatever the flags, so symlink entries always carry a note.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass

O_NOATIME = getattr(os, "O_NOATIME", 0)  # 0 where the platform has none; the one definition
_BANG_SLASH = re.compile(rb"!(?=/)")
_ESCAPE = re.compile(r"\\(x[0-9a-f]{2}|\\|!)|!/")


def display_name(raw: bytes | str) -> str:
    """Printable, reversible text of a name or '/'-separated path (see the module docstring)."""
    if isinstance(raw, str):
        raw = os.fsencode(raw)
    raw = _BANG_SLASH.sub(rb"\\!", raw.replace(b"\\", b"\\\\"))
    return raw.decode("utf-8", "backslashreplace")


def raw_name(display: str) -> bytes:
    """The bytes `display_name` showed: raw_name(display_name(raw)) == raw. An unescaped `!/`
    (an archive member's boundary in a path) becomes NUL, as in an item's raw path."""
    return _ESCAPE.sub(_unescape, display).encode("utf-8", "surrogateescape")


def _unescape(m: re.Match[str]) -> str:
    esc = m.group(1)
    if esc is None:
        return "\0"
    return chr(0xDC00 + int(esc[1:], 16)) if esc[0] == "x" else esc


@dataclass(frozen=True, slots=True)
class DiskEntry:
    """One thing found on disk: a regular file to read, or something recorded but not read."""

    path: str  # relative to the source root, '/'-separated, printable (display_name)
    fs_path: bytes  # what to open
    kind: str  # file | symlink | special | unreadable-dir
    size: int | None = None
    mtime: float | None = None
    note: str | None = None  # why it was not read (for kinds other than file)
    raw: bytes = b""  # the path below the root as bytes: the item's identity
    atime_note: str | None = None  # why walking may have changed an atime here


_LINK_ATIME = ("reading a symbolic link's target updates the link's atime (Linux readlink "
               "ignores O_NOATIME)")


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


def _symlink_entry(rel: str, raw: bytes, full: bytes, st: os.stat_result) -> DiskEntry:
    """Read the link's target, and lstat what it names (never follow: following a link
    would update the atimes of every link on the way)."""
    try:
        target_b = os.readlink(full)
    except OSError as e:
        return DiskEntry(rel, full, "symlink", st.st_size, st.st_mtime,
                         f"symbolic link, target unreadable: {e.strerror}", raw, _LINK_ATIME)
    target = display_name(target_b)
    where = os.path.join(os.path.dirname(full), target_b)
    try:
        tst = os.lstat(where)
    except OSError as e:
        if e.errno == errno.ELOOP:
            note = f"symbolic link loop ({target!r}); not followed"
        else:
            note = f"broken symbolic link to {target!r}: {e.strerror}"
    else:
        if stat.S_ISLNK(tst.st_mode) and (tst.st_dev, tst.st_ino) == (st.st_dev, st.st_ino):
            note = f"symbolic link loop ({target!r}); not followed"
        elif stat.S_ISLNK(tst.st_mode):
            note = f"symbolic link to {target!r}, itself a symbolic link; not followed"
        else:
            note = f"symbolic link to {target!r}; not followed"
    return DiskEntry(rel, full, "symlink", st.st_size, st.st_mtime, note, raw, _LINK_ATIME)


def _list_dir(directory: bytes) -> tuple[list[tuple[bytes, os.stat_result | OSError]],
                                         str | None]:
    """(name, lstat or the error) of each entry, byte-sorted, and why the folder's atime may
    have changed (None when it was opened with O_NOATIME)."""
    note = None
    flags = os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(directory, flags | O_NOATIME)
    except PermissionError as e:
        if not O_NOATIME:
            raise
        fd = os.open(directory, flags)  # O_NOATIME needs ownership (or CAP_FOWNER)
        note = (f"folder {display_name(directory)!r} listed without O_NOATIME "
                f"({errno.errorcode.get(e.errno or 0, e.errno)}: not its owner); "
                "its atime may have changed")
    if not O_NOATIME:
        note = "O_NOATIME unavailable on this platform; folder atimes may have changed"
    try:
        out: list[tuple[bytes, os.stat_result | OSError]] = []
        with os.scandir(fd) as it:
            for entry in it:
                name = os.fsencode(entry.name)
                try:
                    out.append((name, entry.stat(follow_symlinks=False)))
                except OSError as e:
                    out.append((name, e))
    finally:
        os.close(fd)
    out.sort(key=lambda x: x[0])
    return out, note


def walk(root: str | bytes) -> Iterator[DiskEntry]:
    """Yield every entry below `root`: a folder's files (byte-sorted), then its subfolders.

    A file root yields itself. The order is stable across runs and machines.
    """
    root_b = os.fsencode(root)
    st = os.lstat(root_b)
    if not stat.S_ISDIR(st.st_mode):
        raw = os.path.basename(root_b)
        shown = display_name(raw)
        if stat.S_ISREG(st.st_mode):
            yield DiskEntry(shown, root_b, "file", st.st_size, st.st_mtime, raw=raw)
        elif stat.S_ISLNK(st.st_mode):
            yield _symlink_entry(shown, raw, root_b, st)
        else:
            yield DiskEntry(shown, root_b, "special", None, st.st_mtime,
                            f"{_special_kind(st.st_mode)}; not read", raw)
        return
    # (folder, its path below the root, a note its parent had no entry to carry)
    stack: list[tuple[bytes, bytes, str | None]] = [(root_b, b"", None)]
    while stack:
        directory, prefix, inherited = stack.pop()
        try:
            entries, dir_note = _list_dir(directory)
            dir_note = "; ".join(n for n in (inherited, dir_note) if n) or None
        except OSError as e:
            raw = prefix.rstrip(b"/") or b"."
            yield DiskEntry(display_name(raw), directory, "unreadable-dir", None, None,
                            f"cannot list directory: {e.strerror}", raw)
            continue
        subdirs: list[tuple[bytes, bytes, str | None]] = []
        for name, est in entries:
            raw = prefix + name
            rel = display_name(raw)
            full = os.path.join(directory, name)
            if isinstance(est, OSError):
                yield DiskEntry(rel, full, "special", None, None, f"cannot stat: {est.strerror}",
                                raw, dir_note)
                dir_note = None  # said once per folder, on its first entry
                continue
            mode = est.st_mode
            if stat.S_ISDIR(mode):
                subdirs.append((full, raw + b"/", None))
                continue
            if stat.S_ISLNK(mode):
                link = _symlink_entry(rel, raw, full, est)
                if dir_note:
                    link = DiskEntry(link.path, link.fs_path, link.kind, link.size, link.mtime,
                                     link.note, raw, f"{dir_note}; {link.atime_note}")
                yield link
            elif stat.S_ISREG(mode):
                yield DiskEntry(rel, full, "file", est.st_size, est.st_mtime, raw=raw,
                                atime_note=dir_note)
            else:
                yield DiskEntry(rel, full, "special", None, est.st_mtime,
                                f"{_special_kind(mode)}; not read", raw, dir_note)
            dir_note = None
        if dir_note and subdirs:  # no file here to carry it: the first subfolder's first entry
            subdirs[0] = (subdirs[0][0], subdirs[0][1], dir_note)
        stack.extend(reversed(subdirs))
