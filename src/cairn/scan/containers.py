"""Records of what a container holds: an archive's members (media/archives) and a disk
image's files (media/disk), each appended as it is done, members before their container.

Apart from scan/worker.py, which calls these for a file that is a container, and which they
call back (`process_blob`) for each member read, as a member may be a container too. Nothing
here raises for bad evidence: a reader's failure is an error on a member or the container.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, BinaryIO

from cairn.media.limits import Limits
from cairn.media.sniff import HEAD_BYTES
from cairn.records import ScanRecord
from cairn.scan.options import HashOptions
from cairn.scan.worker import (
    Records,
    Tree,
    add_error,
    base_record,
    open_noatime,
    process_blob,
    sniff_type,
)
from cairn.signals import crypto

if TYPE_CHECKING:
    from cairn.media.disk.members import DiskMember
    from cairn.media.zipparts import ZipPart


def read_archive(rec: ScanRecord, f: BinaryIO, depth: int, limits: Limits, out: Records,
             opts: HashOptions, tree: Tree | None = None, taint: str | None = None,
             part: ZipPart | None = None) -> None:
    """Append the records of an archive's members (and theirs), each as it is done.

    Whatever a reader raises becomes an error on a member or on the archive: no exception
    type of a hostile archive leaves this function. Reading one `part` of a zip
    (scan/units.py), `rec` is a stand-in for the archive's record (the tail's): its errors
    are handed to that record."""
    if depth >= limits.max_archive_depth:
        add_error(rec, "archive", f"archive nested deeper than {limits.max_archive_depth} levels; "
             "members not opened")
        return
    from cairn.media.archives import ArchiveError, iter_members, unsafe_name
    from cairn.media.budget import Budget

    tree = tree or Tree(Budget(limits, rec["size"] or 0))
    try:
        for member in iter_members(f, rec["media_type"], rec["path"], limits, rec["size"] or 0,  # type: ignore[arg-type]
                                   tree.budget, part):
            path = f"{rec['path']}!/{member.name}"
            raw = rec["raw_path"] + b"\0" + member.raw
            warnings = [w for w in (unsafe_name(member.name), member.warning, taint) if w]
            if member.data is None:
                mrec = base_record(path, rec["path"], None, member.mtime, raw, tree.ordinal(raw))
                mrec["kind"] = "other"
                if member.origin:
                    mrec["origin"] = member.origin
                add_error(mrec, "archive", member.error or "member not read")
                for w in warnings:
                    add_error(mrec, "archive", w)
                out.append(mrec)
                continue
            try:
                process_blob(path, rec["path"], member.data, member.mtime, depth + 1, limits,
                             out, opts, raw=raw, tree=tree, warnings=warnings,
                             taint=member.warning or taint, origin=member.origin)
            except Exception as e:  # noqa: BLE001 - one member's failure is that member's error
                mrec = base_record(path, rec["path"], len(member.data), member.mtime, raw,
                             tree.seen[raw] - 1)
                h = crypto.hash_bytes(member.data)  # its content stays evidence
                mrec.update({"kind": "other", "md5": h.md5, "sha1": h.sha1, "sha256": h.sha256})
                if member.origin:
                    mrec["origin"] = member.origin
                add_error(mrec, "archive",
                          f"member could not be processed: {type(e).__name__}: {e}")
                out.append(mrec)
    except ArchiveError as e:
        add_error(rec, "archive", str(e))
    except Exception as e:  # noqa: BLE001 - a reader bug or an exception type not foreseen
        add_error(rec, "archive", f"archive reader failed: {type(e).__name__}: {e}; rest not read")


def read_disk(rec: ScanRecord, f: BinaryIO, path: bytes | None, depth: int, limits: Limits,
          out: Records, opts: HashOptions, tree: Tree | None = None,
          members: bool = True) -> None:
    """Append the records of a disk image's files (media/disk), then verify the hashes an
    E01 stores. `path`: the image file's own path (its other segments lie beside it); None
    for an image held in memory. `members` False: the disk's notes only, its files being
    read in parts (scan/units.py)."""
    from cairn.media.budget import Budget
    from cairn.media.disk.images import DiskImageError, open_image, verify_beside
    from cairn.media.disk.members import disk_notes, iter_disk_members, read_ahead

    if depth >= limits.max_archive_depth:
        add_error(rec, "disk", f"disk image nested deeper than {limits.max_archive_depth} levels; "
             "not opened")
        return
    def opener(p: bytes) -> BinaryIO:
        return os.fdopen(open_noatime(p, rec), "rb")

    try:
        img = open_image(f, rec["media_type"], path, opener=opener)  # type: ignore[arg-type]
    except DiskImageError as e:
        add_error(rec, "disk", str(e))
        return
    tree = tree or Tree(Budget(limits, rec["size"] or 0))
    with img:
        verified = verify_beside(img, rec["media_type"], opener)  # type: ignore[arg-type]
        segs = f", {len(img.segments)} segments" if len(img.segments) > 1 else ""
        rec["origin"] = f"{img.format} disk image of {img.size} bytes{segs}"
        for note in img.notes:
            add_error(rec, "disk", note)
        try:
            listed = (iter_disk_members(img, rec["path"], carve=opts.carve) if members
                      else disk_notes(img, rec["path"]))
            for m, data in read_ahead(listed, limits.max_member_size):
                disk_member(rec, m, data, depth, limits, out, opts, tree)
        except Exception as e:  # noqa: BLE001 - a reader bug: what was read stays
            add_error(rec, "disk", f"disk reader failed: {type(e).__name__}: {e}; rest not read")
        check = verified()
        if img.stored:
            stored = ", ".join(f"{k.upper()} {v}" for k, v in sorted(img.stored.items()))
            if check["ok"]:
                rec["origin"] += f"; stored {stored} verified"  # type: ignore[operator]
            else:
                why = check["error"] or ", ".join(
                    f"{k.upper()} {v}" for k, v in sorted(check["computed"].items()))
                add_error(rec, "integrity", f"{img.format} verification FAILED: stored {stored}, "
                     f"media read gives {why}: the image is damaged or altered")


def disk_member(rec: ScanRecord, m: DiskMember, data: bytes | BaseException | None,
                 depth: int, limits: Limits, out: Records, opts: HashOptions,
                 tree: Tree) -> None:
    """One file of a disk image: `data` its bytes as read ahead (members.read_ahead), the
    exception reading raised, or None (nothing to read, or too big: streamed here)."""
    path = f"{rec['path']}!/{m.name}"
    raw = rec["raw_path"] + b"\0" + m.raw
    extra = {"origin": m.record_origin()}  # one shape with every container's members
    if data is None:
        mrec: ScanRecord = base_record(path, rec["path"], m.size, m.mtime, raw,  # type: ignore[assignment]
                                       tree.ordinal(raw)) | extra
        mrec.update({"kind": "other", "media_type": None})
        if m.open is not None:  # too big to hold: hashed as a stream, not decoded
            try:
                stream = m.open()
                mt, kind = sniff_type(stream.read(HEAD_BYTES), path)
                stream.seek(0)
                h, _ = crypto.hash_stream(stream, keep_up_to=0)
                mrec.update({"md5": h.md5, "sha1": h.sha1, "sha256": h.sha256, "size": h.size,
                             "media_type": mt, "kind": kind})
                add_error(mrec, "disk", f"file over the member limit of {limits.max_member_size} "
                     "bytes: hashed, not decoded")
            except Exception as e:  # noqa: BLE001 - a damaged run is this file's error
                add_error(mrec, "disk", f"cannot read file: {type(e).__name__}: {e}")
        else:
            add_error(mrec, "disk", m.error or "not read")
        out.append(mrec)
        return
    if isinstance(data, BaseException):  # a damaged run or chunk is this file's error
        mrec = base_record(path, rec["path"], m.size, m.mtime, raw, tree.ordinal(raw)) | extra  # type: ignore[assignment]
        mrec.update({"kind": "other", "media_type": None})
        add_error(mrec, "disk", f"cannot read file: {type(data).__name__}: {data}")
        out.append(mrec)
        return
    warnings = [m.warning] if m.warning else []
    if m.size is not None and len(data) != m.size:
        warnings.append(f"read {len(data)} bytes of the {m.size} the file system records")
    try:
        process_blob(path, rec["path"], data, m.mtime, depth + 1, limits, out, opts, raw=raw,
                     tree=tree, warnings=warnings, origin=extra["origin"])
    except Exception as e:  # noqa: BLE001 - one file's failure is that file's error
        mrec = base_record(path, rec["path"], len(data), m.mtime, raw, tree.seen[raw] - 1) | extra  # type: ignore[assignment]
        h = crypto.hash_bytes(data)
        mrec.update({"kind": "other", "md5": h.md5, "sha1": h.sha1, "sha256": h.sha256})
        add_error(mrec, "disk", f"file could not be processed: {type(e).__name__}: {e}")
        out.append(mrec)
