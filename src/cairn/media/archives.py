"""Archive members read into memory, never extracted to disk, with bomb and depth limits.

Budget: every member is charged to one `Budget` for the whole tree under a top-level file,
archives nested in archives included (media/budget.py, with `Member` and `ArchiveError`).
A phone extraction's members (a UFDR, an iOS or Android file system in a zip or tar) get
their origins from media/phone_origins.py; a thumbnail cache folder's, from
media/thumbstores.py.

Damage: any exception a reader raises for one member makes that member an error; one that
breaks the archive (its directory, its stream) is an `ArchiveError` on the archive, after the
members read so far. gzip, bzip2 and xz streams are decompressed to their end and checked
(CRC, length) before a tarball inside them is read, because tarfile stops at the end blocks
and never reaches the check: members of a damaged stream carry a warning that their hashes
may be of damaged bytes. That checking pass is charged to the budget (the tar's members are
then prepaid), so a tar followed by gigabytes of zeros costs what it inflates, nested or not.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import posixpath
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, BinaryIO, Literal

from cairn.media import carve, thumbcache
from cairn.media.budget import (  # Budget, Member and the errors: imported from here too
    ArchiveError,
    ArchiveMemberTooBig,
    Budget,
    BudgetExhausted,
    Member,
    error_text,
)
from cairn.media.limits import Limits
from cairn.media.phone_origins import PathPhone, annotated, tar_phone, zip_phone
from cairn.media.sniff import ANDROID_THUMBDATA, THUMBCACHE
from cairn.media.thumbstores import thumbnail_origin
from cairn.media.walk import display_name, raw_name

if TYPE_CHECKING:
    from cairn.media.zipparts import ZipPart

CHUNK = 1 << 20

# tarfile's read modes we use: typeshed types `tarfile.open`'s mode by overloads on literals,
# so a mode kept in a table must carry its literal type for the call to type-check
TarMode = Literal["r:", "r:gz", "r:bz2", "r:xz"]


def unsafe_name(name: str) -> str | None:
    """Say why a member name would escape an extraction root, or None if it would not."""
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return f"member name {name!r} is absolute; it would escape the archive root if extracted"
    parts = name.replace("\\", "/").split("/")
    if ".." in parts:
        return (f"member name {name!r} climbs out of the archive ('..'); "
                "not extracted, hashed in memory")
    return None


def _zip_members(f: BinaryIO, budget: Budget, part: ZipPart | None = None
                 ) -> Iterator[Member]:
    """`part`: only the members that part owns (media/zipparts.py), in the same order."""
    limits = budget.limits
    try:
        zf = zipfile.ZipFile(f)
    except Exception as e:  # noqa: BLE001 - any reader failure is data: version, names, ...
        raise ArchiveError(f"not a readable zip archive: {error_text(e)}") from None
    with zf:
        infos = zf.infolist()
        if part is not None:
            from cairn.media.zipparts import owners

            own = owners([_zip_raw(i) for i in infos])
            infos = [i for n, i in enumerate(infos) if part.first <= own[n] < part.stop]
        for info in infos:
            name = info.filename
            if name.endswith("/"):  # ZipInfo.is_dir() raises IndexError on an empty name
                continue
            raw = _zip_raw(info)
            shown = display_name(raw)
            mtime = _zip_time(info)
            try:
                budget.member()
            except BudgetExhausted as e:
                raise ArchiveError(str(e)) from None
            if not name:
                yield Member(shown, None, mtime, "member has an empty name; not read", raw=raw)
                continue
            packed = max(info.compress_size, 1)
            if info.file_size > limits.ratio_floor and info.file_size > limits.max_ratio * packed:
                yield Member(shown, None, mtime, (
                    f"zip bomb suspected: member declares {info.file_size} bytes from "
                    f"{info.compress_size} compressed (ratio over {limits.max_ratio}:1); not read"),
                    raw=raw)
                continue
            try:
                with zf.open(info) as mf:
                    data = budget.read(mf, info.file_size)
            except BudgetExhausted as e:
                yield Member(shown, None, mtime, f"not read: {e}", raw=raw)
                raise ArchiveError(str(e)) from None
            except ArchiveMemberTooBig as e:
                yield Member(shown, None, mtime, f"{e}; not read", raw=raw)
                continue
            except RuntimeError as e:  # encrypted
                yield Member(shown, None, mtime, f"cannot read member: {e}", raw=raw)
                continue
            except Exception as e:  # noqa: BLE001 - zlib, lzma, bz2, version, CRC: all data
                yield Member(shown, None, mtime, f"corrupt member: {error_text(e)}", raw=raw)
                continue
            yield Member(shown, data, mtime, raw=raw)


def _zip_raw(info: zipfile.ZipInfo) -> bytes:
    """The name's bytes as stored: UTF-8 when flagged so, else cp437 (a byte-for-byte map),
    cut at a NUL as zipfile's `filename` and tar's reader cut it: a raw path joins names
    with NUL, and PostgreSQL refuses NUL in the text of the display path."""
    enc = "utf-8" if info.flag_bits & 0x800 else "cp437"
    try:
        raw = info.orig_filename.encode(enc)
    except UnicodeEncodeError:
        raw = info.orig_filename.encode("utf-8", "surrogateescape")
    return raw.split(b"\0", 1)[0]


def _zip_time(info: zipfile.ZipInfo) -> float | None:
    try:
        return datetime(*info.date_time).timestamp()
    except (ValueError, OverflowError):
        return None


def _tar_members(f: BinaryIO, budget: Budget, mode: TarMode, damage: str | None,
                 prepaid: bool = False) -> Iterator[Member]:
    """`prepaid`: the stream was inflated whole and charged before (see `_stream_damage`)."""
    try:
        tf = tarfile.open(fileobj=f, mode=mode)  # noqa: SIM115 - closed by `with tf` below
    except Exception as e:  # noqa: BLE001 - any reader failure is data
        raise ArchiveError(f"not a readable tar archive: {error_text(e)}") from None
    warning = f"{damage}: this member's hash may be of damaged bytes" if damage else None
    seen = 0
    with tf:
        while True:
            try:
                ti = tf.next()
            except Exception as e:  # noqa: BLE001 - zlib.error, LZMAError, EOFError, ...
                raise ArchiveError(f"archive is corrupt after {seen} members: "
                                   f"{error_text(e)}") from None
            if ti is None:
                break
            if ti.isdir():
                continue
            seen += 1
            raw = ti.name.encode("utf-8", "surrogateescape").split(b"\0", 1)[0]
            name = display_name(raw)
            try:
                budget.member()
            except BudgetExhausted as e:
                raise ArchiveError(str(e)) from None
            if ti.issym() or ti.islnk():
                kind = "symbolic" if ti.issym() else "hard"
                yield Member(name, None, ti.mtime,
                             f"{kind} link member to {ti.linkname!r}; not followed", raw=raw)
                continue
            if not ti.isfile():
                yield Member(name, None, ti.mtime, "special member (device or FIFO); not read",
                             raw=raw)
                continue
            try:
                mf = tf.extractfile(ti)
                assert mf is not None
                data = budget.read(mf, ti.size, prepaid)
            except BudgetExhausted as e:
                yield Member(name, None, ti.mtime, f"not read: {e}", raw=raw)
                raise ArchiveError(str(e)) from None
            except ArchiveMemberTooBig as e:
                yield Member(name, None, ti.mtime, f"{e}; not read", raw=raw)
                try:
                    if not prepaid:
                        budget.skip(ti.size)  # tarfile decompresses what it skips
                except BudgetExhausted as stop:
                    raise ArchiveError(str(stop)) from None
                continue
            except Exception as e:  # noqa: BLE001 - the stream broke inside this member
                raise ArchiveError(f"archive is corrupt at member {name!r}: "
                                   f"{error_text(e)}") from None
            yield Member(name, data, ti.mtime, warning=warning, raw=raw)


# name, its file suffix, how to open the decompressed stream, tarfile's mode for it
_STREAMS: dict[str, tuple[str, str, Callable[[BinaryIO], io.BufferedIOBase], TarMode]] = {
    "application/gzip": ("gzip", ".gz", lambda f: gzip.GzipFile(fileobj=f), "r:gz"),
    "application/x-bzip2": ("bzip2", ".bz2", lambda f: bz2.BZ2File(f), "r:bz2"),
    "application/x-xz": ("xz", ".xz", lambda f: lzma.LZMAFile(f), "r:xz"),  # noqa: SIM115
}


def _stream_damage(f: BinaryIO, kind: str, open_stream: Callable[[BinaryIO], io.BufferedIOBase],
                   budget: Budget) -> str | None:
    """Decompress to the end, keeping nothing, so the stream's own check (gzip CRC-32 and
    length, bzip2 block CRCs, xz check) is verified; say what is wrong, or None.

    Every byte inflated here is charged to the budget (a tar followed by gigabytes of zeros
    costs what it inflates, nested or not); the tarball read from the stream afterwards is
    then prepaid. Raises BudgetExhausted when the stream expands past what is left."""
    n = 0
    f.seek(0)
    try:
        with open_stream(f) as s:
            while chunk := s.read(CHUNK):
                n += len(chunk)
                budget.skip(len(chunk))
    except BudgetExhausted:
        raise
    except EOFError as e:
        return f"{kind} stream truncated after {n} bytes: {e}"
    except Exception as e:  # noqa: BLE001 - CRC, invalid block, bad header: all damage
        return f"{kind} stream damaged after {n} bytes: {error_text(e)}"
    finally:
        f.seek(0)
    return None


def _single_member(f: BinaryIO, name: str, kind: str, suffix: str,
                   open_stream: Callable[[BinaryIO], io.BufferedIOBase], budget: Budget
                   ) -> Iterator[Member]:
    """A compressed file that is not a tarball holds one member: the name without suffix."""
    inner = posixpath.basename(name)
    inner = inner[: -len(suffix)] if inner.lower().endswith(suffix) else inner + ".un" + suffix[1:]
    raw = raw_name(inner)
    try:
        budget.member()
    except BudgetExhausted as e:
        raise ArchiveError(str(e)) from None
    try:
        with open_stream(f) as s:
            data = budget.read(s, None)
    except BudgetExhausted as e:
        yield Member(inner, None, None, f"not read: {e}", raw=raw)
        raise ArchiveError(str(e)) from None
    except ArchiveMemberTooBig as e:
        yield Member(inner, None, None, f"{e}; not read", raw=raw)
        return
    except Exception as e:  # noqa: BLE001 - zlib.error, LZMAError, CRC, truncation
        raise ArchiveError(f"corrupt {kind} stream: {error_text(e)}") from None
    yield Member(inner, data, None, raw=raw)


def _is_tar(f: BinaryIO, mode: TarMode) -> bool:
    try:
        f.seek(0)
        with tarfile.open(fileobj=f, mode=mode) as tf:
            return tf.next() is not None
    except Exception:  # noqa: BLE001 - not a tarball, whatever the reason
        return False
    finally:
        f.seek(0)


def iter_members(
    f: BinaryIO, media_type: str, name: str, limits: Limits, compressed_size: int,
    budget: Budget | None = None, part: ZipPart | None = None,
) -> Iterator[Member]:
    """Members of an archive held in a seekable binary file. Raises ArchiveError when broken.

    `budget`: shared with the archives around and inside this one (one per top-level file);
    a fresh one for this archive alone when None. `part`: one part of an ordinary zip read
    in parts (media/zipparts.py): only its members.
    """
    budget = budget or Budget(limits, compressed_size)
    budget.check()
    if part is not None:
        if media_type != "application/zip":
            raise ArchiveError(f"only a zip is read in parts, not {media_type}")
        yield from _thumbnail_origins(_zip_members(f, budget, part))  # an ordinary zip
        return
    if media_type == "application/zip":
        yield from _zip_annotated(f, budget)
    elif media_type == "application/x-tar":
        yield from annotated(_tar_members(f, budget, "r:", None), tar_phone(f, budget))
    elif media_type in (THUMBCACHE, ANDROID_THUMBDATA):
        yield from _thumbs(f, media_type, budget)
    elif media_type in _STREAMS:
        kind, suffix, open_stream, mode = _STREAMS[media_type]
        if _is_tar(f, mode):
            damage = _stream_damage(f, kind, open_stream, budget)
            try:
                yield from annotated(_tar_members(f, budget, mode, damage, prepaid=True),
                                     PathPhone(None))
            except ArchiveError as e:
                raise ArchiveError(f"{damage}; {e}" if damage else str(e)) from None
            if damage:
                raise ArchiveError(f"{damage}; the members read carry a warning")
        else:  # read to its end, so the stream's check is verified by the read itself
            yield from _single_member(f, name, kind, suffix, open_stream, budget)
    else:
        raise ArchiveError(f"unsupported archive type {media_type}")


def _zip_annotated(f: BinaryIO, budget: Budget) -> Iterator[Member]:
    """A zip's members, with their origins when the zip is a UFDR or an FFS extraction."""
    try:
        with zipfile.ZipFile(f) as zf:
            phone = zip_phone(zf, budget)
    except BudgetExhausted as e:
        raise ArchiveError(str(e)) from None
    except Exception:  # noqa: BLE001 - _zip_members says what is wrong with it
        phone = None
    f.seek(0)
    if phone is None:  # an ordinary zip: only a thumbnail cache's files get an origin
        yield from _thumbnail_origins(_zip_members(f, budget))
    else:
        yield from annotated(_zip_members(f, budget), phone, budget)


def _thumbnail_origins(members: Iterator[Member]) -> Iterator[Member]:
    """An ordinary zip's members, a thumbnail cache folder's files with their origin."""
    for member in members:
        member.origin = thumbnail_origin(member.raw.decode("utf-8", "surrogateescape"))
        yield member



def _thumbs(f: BinaryIO, media_type: str, budget: Budget) -> Iterator[Member]:
    """A thumbnail store's thumbnails as members; what the store says about itself as a
    whole is an ArchiveError after them only when it could not be read."""
    lim = budget.limits
    read = thumbcache.windows_entries if media_type == THUMBCACHE else thumbcache.android_thumbdata
    notes: list[str] = []
    try:
        for t in read(f, max_entry=lim.max_member_size, max_entries=lim.max_members,
                      notes=notes):
            try:
                budget.member()
                if t.data is not None:
                    budget.skip(len(t.data))
            except BudgetExhausted as e:
                raise ArchiveError(str(e)) from None
            raw = raw_name(t.name)
            yield Member(t.name, t.data, None, t.error, raw=raw, origin=t.origin)
    except thumbcache.ThumbcacheError as e:
        raise ArchiveError(str(e)) from None
    if notes:  # only damage is noted: bytes that were not entries, slots cut short, caps
        raise ArchiveError("; ".join(notes))


def carved_members(stream: BinaryIO, budget: Budget, *, limit: int | None = None,
                   base_offset: int = 0, kinds: tuple[str, ...] = carve.KINDS
                   ) -> Iterator[Member]:
    """Pictures and clips carved from `stream` (unallocated space, a damaged container) as
    members named by offset (`0x1f3a000.jpg`), each with origin `carved: true` and its
    offset; what was rejected is an ArchiveError after them, so it is never silent."""
    stats = carve.CarveStats()
    lim = budget.limits
    for c in carve.carve(stream, limit=limit, kinds=kinds, base_offset=base_offset,
                         max_size=min(carve.MAX_SIZE, lim.max_member_size),
                         max_video_size=lim.max_member_size, stats=stats):
        try:
            budget.member()
        except BudgetExhausted as e:
            raise ArchiveError(str(e)) from None
        yield Member(c.name, c.data, None, raw=raw_name(c.name),
                     origin={"carved": True, "offset": c.offset, "length": c.length,
                             "kind": c.kind})
    if stats.rejected or stats.stopped:
        raise ArchiveError(f"carving: {stats.summary()}")
