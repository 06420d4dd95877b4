"""What a worker process does with one file of evidence: hash, sniff, decode, open archives.

Returns plain dicts (cheap to pickle). Every failure becomes an error on the record; nothing
here raises for bad evidence. Evidence is opened read-only and never written.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol, TypeVar, overload

from cairn.media.decode import DecodeError, Picture
from cairn.media.disk.detect import deep_disk_type
from cairn.media.disk.images import is_later_segment as disk_segment_of
from cairn.media.extraction import origin_on_disk
from cairn.media.limits import Limits
from cairn.media.sniff import (
    CHECKPOINT_EXT,
    HEAD_BYTES,
    IOS_ITHMB,
    STREAM_PROVENANCE_TYPES,
    kind_of,
    refine,
    sniff,
)
from cairn.media.thumbtext import freedesktop_details
from cairn.media.walk import O_NOATIME, DiskEntry, display_name, raw_name
from cairn.provenance import examine, examine_stream
from cairn.provenance.finding import Finding
from cairn.provenance.generators.novelai import NOVELAI_KEY
from cairn.provenance.models import ModelFileError, hash_model
from cairn.provenance.watermark import examinable
from cairn.records import ScanRecord
from cairn.scan.options import HashOptions
from cairn.signals import crypto
from cairn.signals.image import ImageSignals, WantVariants, image_signals

if TYPE_CHECKING:
    from cairn.media.budget import Budget

# Called with the descriptor after a file is read and before it is stat-ed again: lets a test
# change the file at exactly that moment. None in use.
after_read: Callable[[int], None] | None = None


_IMAGE_EXT = {".jpg", ".jpeg", ".jpe", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff",
              ".heic", ".heif", ".avif"}
_VIDEO_EXT = {".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".wmv", ".flv", ".3gp", ".mpg",
              ".mpeg", ".ts"}


class Records(Protocol):
    """Where records go as each is done: a list, or an isolated worker's stream to the scan."""

    def append(self, rec: ScanRecord, /) -> None: ...


_Out = TypeVar("_Out", bound=Records)


def sniff_type(head: bytes, path: str) -> tuple[str, str]:
    mt = refine(sniff(head), path)
    if mt == "application/zip" and path.lower().endswith(CHECKPOINT_EXT):
        mt = "application/x-pytorch-checkpoint"
    return mt, kind_of(mt)


def sniff_deeper(f: BinaryIO, mt: str, kind: str) -> tuple[str, str]:
    """What a head that sniffed as nothing may still be: an ISO 9660 image (CD001 at 32K)."""
    if mt != "application/octet-stream":
        return mt, kind
    deep = deep_disk_type(f)
    return (deep, kind_of(deep)) if deep else (mt, kind)


_ITHMB = ("not examined: iOS .ithmb thumbnail store (raw pixel strips whose geometry is kept "
          "in the Photos database, not in the file)")


def _provenance(rec: ScanRecord, data: bytes, picture: Picture, opts: HashOptions) -> None:
    keys = {"novelai": NOVELAI_KEY, **dict(opts.novelai_keys)}
    try:
        found = examine(data, picture, novelai_keys=keys, media_type=rec.get("media_type"),
                        c2pa_trust=opts.c2pa_trust, detector=opts.detector)
    except Exception as e:  # noqa: BLE001 - a reader's failure is data, not a crash
        add_error(rec, "provenance", f"provenance failed: {type(e).__name__}: {e}")
        return
    if found:
        rec["findings"] = [f.to_dict() for f in found]


def _stream_provenance(rec: ScanRecord, f: BinaryIO, opts: HashOptions) -> None:
    """Provenance of a video, audio file or PDF, from its stream (C2PA, container tags)."""
    try:
        found = examine_stream(f, rec["media_type"], c2pa_trust=opts.c2pa_trust)  # type: ignore[arg-type]
    except Exception as e:  # noqa: BLE001 - a reader's failure is data, not a crash
        add_error(rec, "provenance", f"provenance failed: {type(e).__name__}: {e}")
        return
    if found:
        rec["findings"] = [f.to_dict() for f in found]


def _model(rec: ScanRecord, f: BinaryIO) -> None:
    try:
        h = hash_model(f, "checkpoint" if rec["media_type"].endswith("checkpoint") else None)  # type: ignore[union-attr]
    except (ModelFileError, OSError) as e:
        add_error(rec, "provenance", f"model file: {e}")
        return
    except Exception as e:  # noqa: BLE001 - hostile headers reach the reader
        add_error(rec, "provenance", f"model file: reader failed: {type(e).__name__}: {e}")
        return
    rec["findings"] = [Finding("model_file", "cryptographic", "file", h.to_dict(),
                               error=h.note).to_dict()]


def _check_name(rec: ScanRecord) -> None:
    """Flag a file named like media whose bytes are not media (renamed, wiped or corrupt)."""
    name = rec["path"].rsplit("/", 1)[-1]
    ext = ("." + name.rsplit(".", 1)[-1].lower()) if "." in name else ""
    if rec.get("media_type") == IOS_ITHMB:
        add_error(rec, "sniff", _ITHMB)
    expected = "image" if ext in _IMAGE_EXT else "video" if ext in _VIDEO_EXT else None
    if expected and rec["kind"] not in ("image", "video") and rec["size"]:
        add_error(rec, "sniff", f"named like {'an' if expected == 'image' else 'a'} {expected} "
             f"({ext}) but its bytes are {rec['media_type']}, not a known {expected} format")


def _check_reported(rec: ScanRecord, reported: dict) -> None:
    """A phone extraction's report states hashes of what it exported: bytes that differ
    were changed (or damaged) after the extraction, and the item says so."""
    for algo in ("md5", "sha1", "sha256"):
        want = reported.get(algo)
        if isinstance(want, str) and want and rec.get(algo) and want.lower() != rec[algo]:
            add_error(rec, "integrity", f"{algo.upper()} differs from the extraction report's "
                 f"({want.lower()}): the file changed after it was extracted")


def add_error(rec: ScanRecord, stage: str, message: str) -> None:
    rec.setdefault("errors", []).append({"stage": stage, "message": message})


def base_record(path: str, parent: str | None, size: int | None, mtime: float | None,
          raw: bytes | None = None, ordinal: int = 0) -> ScanRecord:
    """A record's identity: `raw_path` is its location's bytes (the path below the source,
    then each member name, joined by NUL, which no file or member name holds); `ordinal`
    tells apart locations of one file that share those bytes (repeated member names)."""
    return {"path": path, "parent": parent, "size": size, "mtime": mtime, "errors": [],
            "raw_path": raw if raw else raw_name(path), "ordinal": ordinal}


@dataclass
class Tree:
    """One top-level file and everything nested in it: one budget, one count of locations."""

    budget: Budget
    seen: Counter[bytes] = field(default_factory=Counter)

    def ordinal(self, raw: bytes) -> int:
        n = self.seen[raw]
        self.seen[raw] += 1
        return n


def _image(rec: ScanRecord, data: bytes, limits: Limits, opts: HashOptions) -> None:
    """PDQ and provenance of one picture from ONE media/decode `Picture`: decoded once under
    `limits.max_pixels`, its frames shared by every pixel reader."""
    _thumbnail_text(rec, data)
    picture = Picture(data, limits.max_pixels)
    for note in picture.notes:
        add_error(rec, "decode", note)
    if opts.mode == "fast" and opts.provenance and (opts.detector or examinable(picture) is None):
        # a reader will decode the full frame (a 4:4:4 JPEG may carry a dwtDct watermark; a
        # detector resizes the full frame): PDQ hashes that one decode, exactly, rather than
        # decoding the picture a second time at reduced scale
        opts = replace(opts, mode="exact")
    _image_signals(rec, picture, opts)
    if opts.provenance:
        _provenance(rec, data, picture, opts)


def _thumbnail_text(rec: ScanRecord, data: bytes) -> None:
    """A freedesktop.org thumbnail (its origin has the name's `uri_md5`) says in its own
    text which picture it shows: read from these bytes, onto a copy of the origin (a
    container's member origin may be shared)."""
    origin = rec.get("origin")
    if isinstance(origin, dict) and "uri_md5" in origin:
        rec["origin"], notes = freedesktop_details(origin, data)
        for note in notes:
            add_error(rec, "thumbnail", note)


def _image_signals(rec: ScanRecord, picture: Picture, opts: HashOptions) -> None:
    try:
        sig = image_signals(picture, mode=opts.mode, variants=_want_variants(opts))
    except DecodeError as e:
        add_error(rec, "decode", str(e))
        return
    except Exception as e:  # noqa: BLE001 - a hashing failure is data, not a crash
        add_error(rec, "hash", f"PDQ failed: {type(e).__name__}: {e}")
        return
    rec["width"], rec["height"] = sig.width, sig.height
    rec["pdq"] = _plain_pdq(sig)  # type: ignore[typeddict-item]
    # looked up only when nothing else matched
    rec["pdq"]["fallbacks"] = [{"name": name, "quality": v.quality, "dihedral": list(v.dihedral)}
                               for name, v in sig.variants]


def _plain_pdq(sig: ImageSignals) -> dict:
    p = sig.pdq
    d = {"hash": p.hash, "quality": p.quality, "mode": p.mode, "dihedral": list(p.dihedral)}
    if sig.visual is not None:
        d["variants"] = [{"name": "rgb", "quality": sig.visual.quality,
                          "dihedral": list(sig.visual.dihedral)}]
    return d


# One lookup per worker process and list index: (folder, thresholds) -> its answer.
_lookups: dict[tuple[str, tuple[tuple[int, int], ...]], WantVariants | None] = {}


def _want_variants(opts: HashOptions) -> bool | WantVariants:
    """Whether to make a picture's trimmed/cropped variants, or how to decide it."""
    if not opts.fallbacks:
        return False
    if opts.list_index is None:
        return True
    key = (opts.list_index, opts.pdq_thresholds)
    if key not in _lookups:
        _lookups[key] = _plain_lookup(opts.list_index, dict(opts.pdq_thresholds))
    return _lookups[key] or True


def _plain_lookup(folder: str, thresholds: dict[int, int]) -> WantVariants | None:
    """A function telling whether a picture's plain signals matched nothing in the list
    index saved in `folder` (memory-mapped, the one the scan's matcher was opened from);
    None when it cannot be opened, and then every picture gets its variants (never fewer
    lookups than the matcher would make)."""
    from cairn.index import IndexFileError
    from cairn.lists.matcher import Matcher

    try:
        matcher, _ = Matcher.load(folder, thresholds)
    except (IndexFileError, OSError):
        return None
    if not len(matcher.pdq):
        return lambda _sig: False  # no list holds PDQ: a variant could never match

    broken: list[bool] = []

    def unmatched(sig: ImageSignals) -> bool:
        if broken:
            return True
        try:
            (found,) = matcher.match_many([{"pdq": _plain_pdq(sig)}])
        except Exception:  # noqa: BLE001 - damage met by a query (the scan's matcher rebuilds
            broken.append(True)  # the index): from here on, every picture gets its variants
            return True
        return not any(m.signal == "pdq" for m in found)

    return unmatched


def _video_signals(rec: ScanRecord, source: str | bytes | BinaryIO, limits: Limits,
                   opts: HashOptions) -> None:
    from cairn.signals.vpdq import VideoError, to_signal, vpdq_frames  # PyAV: videos only

    try:
        frames = vpdq_frames(source, opts.video_interval, limits=limits, mode=opts.mode)
    except VideoError as e:
        frames = e.frames
        add_error(rec, "decode", str(e))
    except Exception as e:  # noqa: BLE001 - a demuxer's failure is data, not a crash
        frames = []
        add_error(rec, "decode", f"video decoder failed: {type(e).__name__}: {e}")
    if frames:
        rec["vpdq"] = {"mode": opts.mode, "interval": opts.video_interval,
                       "signal": to_signal(frames),
                       "frames": [(f.timestamp, f.hash, f.quality) for f in frames]}


UNKNOWN_CONTAINER = 64 << 20  # an unrecognised binary this big is said to be unexamined
THREADED_HASH = 64 << 20  # from here a file's three digests hash on threads of their own
# (an E01's later segments, a video, a large zip): MD5's time, not the three's, where a
# core is free


def _unknown(rec: ScanRecord) -> None:
    """A large binary nothing recognises may be a container Cairn cannot open: say so."""
    if rec.get("media_type") == "application/octet-stream" and (rec.get("size") or 0) > \
            UNKNOWN_CONTAINER:
        add_error(rec, "sniff", f"not examined: unknown container ({rec['size']} bytes that no "
             "known format's signature starts)")


def process_blob(path: str, parent: str | None, data: bytes, mtime: float | None, depth: int,
                 limits: Limits, out: Records, opts: HashOptions | None = None,
                 name_warning: str | None = None, *, raw: bytes | None = None,
                 tree: Tree | None = None, warnings: list[str] | None = None,
                 taint: str | None = None, origin: dict | None = None) -> None:
    """An in-memory file (an archive member): append its record and those of its members.

    `tree`: the top-level file's budget and location counts; `taint`: why the bytes may be
    damaged (a stream that failed its check), repeated on every member read from them;
    `origin`: where its container says it came from (media/budget.Member.origin), kept
    on the record as `origin` (a phone path and app, a deleted flag, a cache entry)."""
    opts = opts or HashOptions()
    rec = base_record(path, parent, len(data), mtime, raw)
    if origin:
        rec["origin"] = origin
    if tree is not None:
        rec["ordinal"] = tree.ordinal(rec["raw_path"])
    h = crypto.hash_bytes(data)
    rec.update({"md5": h.md5, "sha1": h.sha1, "sha256": h.sha256})
    rec["media_type"], rec["kind"] = mt, kind = sniff_type(data[:HEAD_BYTES], path)
    if mt == "application/octet-stream":
        rec["media_type"], rec["kind"] = mt, kind = sniff_deeper(io.BytesIO(data), mt, kind)
    if origin and isinstance(origin.get("hashes_reported"), dict):
        _check_reported(rec, origin["hashes_reported"])
    for w in [name_warning, *(warnings or [])]:
        if w:
            add_error(rec, "archive", w)
    if mt == "application/x-empty":
        add_error(rec, "read", "empty file (0 bytes)")
    _check_name(rec)
    if kind == "image":
        _image(rec, data, limits, opts)
    elif kind == "video":
        _video_signals(rec, io.BytesIO(data), limits, opts)
        if opts.provenance:
            _stream_provenance(rec, io.BytesIO(data), opts)
    elif mt in STREAM_PROVENANCE_TYPES and opts.provenance:
        _stream_provenance(rec, io.BytesIO(data), opts)
    elif kind == "model" and opts.provenance:
        _model(rec, io.BytesIO(data))
    elif kind == "archive":
        from cairn.scan.containers import read_archive  # it calls back here: imported late

        read_archive(rec, io.BytesIO(data), depth, limits, out, opts, tree, taint)
    elif kind == "disk":
        from cairn.scan.containers import read_disk

        read_disk(rec, io.BytesIO(data), None, depth, limits, out, opts, tree)
    _unknown(rec)
    out.append(rec)  # after its members: a recorded archive implies recorded members


@overload
def process_entry(entry: DiskEntry, limits: Limits, opts: HashOptions | None = None,
                  out: None = None, *, members: bool = True) -> list[ScanRecord]: ...


@overload
def process_entry(entry: DiskEntry, limits: Limits, opts: HashOptions | None,
                  out: _Out, *, members: bool = True) -> _Out: ...


def process_entry(entry: DiskEntry, limits: Limits, opts: HashOptions | None = None,
                  out: Records | None = None, *, members: bool = True) -> Records:
    """One entry found on disk -> its record, preceded by its archive members' records.

    `opts.mode`: `exact` hashes the full-resolution decode (bit-identical to the reference);
    `fast` lets JPEGs decode at reduced scale (>= 512 px a side) and records hashes as `fast`.
    `out`: where records go as each is done (anything with `.append`; an isolated worker
    streams them to the scan), returned; a new list by default. `members` False: a disk
    image's or zip's own record only (its files are read in parts: scan/units.py).
    """
    opts = opts or HashOptions()
    out = [] if out is None else out
    rec = entry_record(entry)
    if entry.kind != "file":
        rec["kind"] = entry.kind if entry.kind in ("symlink", "special") else "other"
        rec["media_type"] = "inode/symlink" if entry.kind == "symlink" else None
        stage = "walk"
        add_error(rec, stage, entry.note or "not read")
        out.append(rec)
        return out
    try:
        fd = open_noatime(entry.fs_path, rec)
    except OSError as e:
        return _unreadable(rec, e, out)
    hashed: Callable[[], crypto.CryptoHashes] | None = None
    try:
        with os.fdopen(fd, "rb") as f:
            before = os.fstat(fd)
            rec["size"], rec["mtime"] = before.st_size, before.st_mtime  # the state hashed
            head = f.read(HEAD_BYTES)
            mt, kind = sniff_type(head, entry.path)
            mt, kind = sniff_deeper(f, mt, kind)
            first = disk_segment_of(entry.fs_path, head)
            if first is not None:  # E02.., .002..: read with the image's first segment
                kind = "other"
                rec["origin"] = (f"a later segment of the image "
                                 f"{display_name(os.path.basename(first))}: read with it")
            f.seek(0)
            keep = limits.max_image_bytes if kind == "image" else 0
            if kind == "disk":  # its own hashes on another core, beside reading its disk
                hashed, data = crypto.hash_fd_beside(fd), None
            else:
                hashes, data = crypto.hash_stream(f, keep_up_to=keep,
                                                  threaded=before.st_size >= THREADED_HASH)
                _hashes_into(rec, hashes)
            rec.update({"media_type": mt, "kind": kind})
            if mt == "application/x-empty":
                add_error(rec, "read", "empty file (0 bytes)")
            _check_name(rec)
            if kind == "image":
                if data is None:
                    add_error(rec, "decode", f"image larger than {limits.max_image_bytes} bytes; "
                         "hashed, not decoded")
                else:
                    _image(rec, data, limits, opts)
            elif kind == "model" and opts.provenance:
                _model(rec, f)
            elif kind == "video":
                f.seek(0)
                _video_signals(rec, f, limits, opts)
                if opts.provenance:
                    _stream_provenance(rec, f, opts)
            elif mt in STREAM_PROVENANCE_TYPES and opts.provenance:
                _stream_provenance(rec, f, opts)
            elif kind == "archive":
                from cairn.scan.containers import read_archive  # it calls back: imported late

                f.seek(0)
                if members:  # else a zip read in parts: its record only (scan/units.py)
                    read_archive(rec, f, 0, limits, out, opts)
            elif kind == "disk":
                from cairn.scan.containers import read_disk

                read_disk(rec, f, entry.fs_path, 0, limits, out, opts, members=members)
            if hashed is not None:
                hashes = hashed()
                _hashes_into(rec, hashes)
                hashed = None
            if first is None:
                _unknown(rec)
            if after_read is not None:
                after_read(fd)
            _check_unchanged(rec, before, os.fstat(fd), hashes.size)
    except OSError as e:
        if hashed is not None:  # the disk image's own hashes, as when they came first
            with contextlib.suppress(OSError):
                _hashes_into(rec, hashed())
        return _unreadable(rec, e, out)
    out.append(rec)
    return out


def _hashes_into(rec: ScanRecord, hashes: crypto.CryptoHashes) -> None:
    rec.update({"md5": hashes.md5, "sha1": hashes.sha1, "sha256": hashes.sha256,
                "size": hashes.size})


def entry_record(entry: DiskEntry) -> ScanRecord:
    """A top-level entry's record before it is read: its identity (display path, raw path
    bytes) and what walking to it may have done to atimes. Every record of an entry starts
    here, the isolated worker's fallbacks after a failure included."""
    rec = base_record(entry.path, None, entry.size, entry.mtime, raw=entry.raw)
    if entry.atime_note:
        rec["atime_note"] = entry.atime_note
    origin = origin_on_disk(entry.path, entry.fs_path)  # an unpacked phone extraction
    if origin:
        rec["origin"] = origin
    return rec


def identity_record(entry: DiskEntry) -> ScanRecord:
    """The hash-only read of a file whose worker failed on it: sniffed and hashed, nothing
    decoded, no archive opened; opened as every read is (O_NOATIME, noted where refused)."""
    rec = entry_record(entry)
    rec.update({"kind": "other", "media_type": None})
    try:
        with os.fdopen(open_noatime(entry.fs_path, rec), "rb") as f:
            mt, kind = sniff_type(f.read(HEAD_BYTES), entry.path)
            f.seek(0)
            h, _ = crypto.hash_stream(f, keep_up_to=0)
        rec.update({"md5": h.md5, "sha1": h.sha1, "sha256": h.sha256, "size": h.size,
                    "media_type": mt, "kind": kind})
    except OSError as e:
        add_error(rec, "read", f"cannot read file: {e.strerror or e}")
    return rec


def open_noatime(path: bytes, rec: ScanRecord | dict[str, Any]) -> int:
    """Open read-only without updating the atime; where the kernel refuses O_NOATIME (EPERM:
    not the file's owner and not root) open anyway and say so on the record."""
    if not O_NOATIME:
        rec["atime_note"] = "O_NOATIME unavailable on this platform; reading may update the atime"
        return os.open(path, os.O_RDONLY)
    try:
        return os.open(path, os.O_RDONLY | O_NOATIME)
    except PermissionError:
        fd = os.open(path, os.O_RDONLY)  # O_NOATIME needs ownership (or CAP_FOWNER)
        note = "opened without O_NOATIME (EPERM: not the file's owner); its atime may have changed"
        rec["atime_note"] = f"{rec['atime_note']}; {note}" if rec.get("atime_note") else note
        return fd


def _check_unchanged(rec: ScanRecord, before: os.stat_result, after: os.stat_result,
                     read: int) -> None:
    """A file written to while it was read has hashes that may match no state of it."""
    changes = [f"{what} {a} -> {b}" for what, a, b in (
        ("size", before.st_size, after.st_size), ("mtime_ns", before.st_mtime_ns,
                                                  after.st_mtime_ns),
        ("ctime_ns", before.st_ctime_ns, after.st_ctime_ns)) if a != b]
    if read != before.st_size:
        changes.insert(0, f"{read} bytes read of {before.st_size} stat-ed")
    if changes:
        add_error(rec, "read", "file changed while it was read (" + ", ".join(changes) + "): its "
             "hashes may match no state of the file; rescan when it is quiet")


def _unreadable(rec: ScanRecord, e: OSError, out: _Out) -> _Out:
    rec["kind"] = "other"
    add_error(rec, "read", f"cannot read file: {e.strerror or e}")
    out.append(rec)
    return out
