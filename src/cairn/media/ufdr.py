"""Cellebrite UFDR: a zip holding `report.xml` at its root and the extracted files, filed by
category (`files/Image/`, `files/Video/`, ...) rather than where they sat on the phone.

The report says where: in `<taggedFiles>`, one `<file>` per exported file, with attributes
`path` (its path on the phone), `size`, `id`, `fs`, `extractionId`, `deleted` (`Intact`,
`Deleted`, ...), `embedded`, and children `<metadata section="File">` whose `<item
name="Local Path">` is the file's name inside the zip (backslashes) beside `MD5`, `SHA256`,
`Tags`, and `<accessInfo><timestamp name="CreationTime|ModifyTime|AccessTime">`. Namespace
`http://pa.cellebrite.com/report/2.0` (read with or without it). Public descriptions
followed: the DFIR Science write-up of the UFDR layout (dfir.science, 2022, "How to extract
files from Cellebrite Reader UFDR"), the UFDR2DIR converter's README, and open parsers'
documentation of the `file` element; no vendor code or sample is used.

Reading: `read_report` stream-parses report.xml with defusedxml's iterparse (no DTD, no
entities, no external references), bounded in bytes (`max_bytes`) and in files
(`max_files`); each `<file>` is read and dropped as soon as it ends, and `<decodedData>`
models (chats, calls: not used here) are dropped as they end, so memory holds one entry per
exported file, not the document. A report that breaks mid-way keeps the files read before
and says where it broke (`Report.error`). The app a file belongs to comes from its phone
path (media/extraction.py), or from a metadata item naming it (`Source`, `Application`)
when the report gives one.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO

from cairn.media.extraction import Origin, origin_of

NS = "http://pa.cellebrite.com/report/2.0"
REPORT_NAMES = ("report.xml", "Report.xml")
MAX_REPORT_BYTES = 8 << 30  # report.xml of a large phone runs to gigabytes
MAX_FILES = 2_000_000
MAX_ALSO = 20  # other phone paths kept for one exported file
_APP_ITEMS = {"source", "application", "app", "source application", "sourceapplication"}


class ReportError(Exception):
    """report.xml cannot be read at all."""


@dataclass(slots=True)
class UfdrFile:
    device_path: str
    local: str | None  # the zip member name, '/'-separated
    size: int | None = None
    deleted: bool | None = None
    deleted_state: str | None = None  # as written: Intact, Deleted, Trash, Unknown, ...
    file_id: str | None = None
    fs: str | None = None
    extraction_id: str | None = None
    embedded: bool = False
    timestamps: dict[str, str] = field(default_factory=dict)
    hashes: dict[str, str] = field(default_factory=dict)
    tags: str | None = None
    app: str | None = None

    def origin(self) -> Origin:
        out: Origin = {"container": "ufdr", "device_path": self.device_path,
                       "deleted": self.deleted}
        phone = origin_of(self.device_path.lstrip("/")) or {}
        for k in ("app", "app_id", "area", "thumbnail", "thumbnail_of", "sent"):
            if phone.get(k) is not None:
                out[k] = phone[k]
        if self.app:
            out["app"] = self.app
            out["app_basis"] = "report"
        elif "app" in out:
            out["app_basis"] = "path layout"
        for k, v in (("deleted_state", self.deleted_state), ("report_id", self.file_id),
                     ("file_system", self.fs), ("extraction_id", self.extraction_id),
                     ("tags", self.tags), ("size_reported", self.size)):
            if v is not None:
                out[k] = v
        if self.embedded:
            out["embedded"] = True
        if self.timestamps:
            out["timestamps"] = dict(self.timestamps)
        if self.hashes:
            out["hashes_reported"] = dict(self.hashes)
        return out


@dataclass
class Report:
    project: dict[str, str] = field(default_factory=dict)
    by_local: dict[str, list[UfdrFile]] = field(default_factory=dict)
    without_content: list[UfdrFile] = field(default_factory=list)  # no Local Path
    files: int = 0
    error: str | None = None  # why reading stopped before the end, if it did

    def origin(self, member: str) -> Origin | None:
        found = self.by_local.get(_norm(member))
        if not found:
            return None
        out = found[0].origin()
        if len(found) > 1:
            out["also_at"] = [f.device_path for f in found[1:1 + MAX_ALSO]]
        return out


class _Counted(io.RawIOBase):
    """A read-only stream that refuses to give more than `cap` bytes and reports each read."""

    def __init__(self, f: IO[bytes], cap: int, charge: Callable[[int], None] | None) -> None:
        self.f, self.cap, self.charge, self.n = f, cap, charge, 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        if self.n >= self.cap and self.f.read(1):
            raise ReportError(f"report.xml is larger than {self.cap} bytes; rest not read")
        data = self.f.read(min(len(b), self.cap - self.n))
        self.n += len(data)
        if self.charge is not None:
            self.charge(len(data))
        b[:len(data)] = data
        return len(data)


def _norm(local: str) -> str:
    p = local.replace("\\", "/")
    while p.startswith(("./", "/")):
        p = p[2:] if p.startswith("./") else p[1:]
    return p


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _deleted(state: str | None) -> bool | None:
    if not state:
        return None
    s = state.strip().lower()
    if s in ("deleted", "trash", "true", "yes"):
        return True
    if s in ("intact", "false", "no"):
        return False
    return None


def _file(elem: object) -> UfdrFile:
    e = elem  # an ElementTree element; typed loosely: defusedxml's stubs are partial
    get = e.get  # type: ignore[attr-defined]
    size = get("size")
    f = UfdrFile(device_path=get("path") or get("name") or "", local=None,
                 size=int(size) if size and size.isdigit() else None,
                 deleted_state=get("deleted"), file_id=get("id"), fs=get("fs"),
                 extraction_id=get("extractionId"),
                 embedded=(get("embedded") or "").lower() == "true")
    f.deleted = _deleted(f.deleted_state)
    for child in e:  # type: ignore[attr-defined]
        tag = _local(child.tag)
        if tag == "metadata":
            for item in child:
                if _local(item.tag) != "item":
                    continue
                name, text = (item.get("name") or ""), (item.text or "").strip()
                low = name.lower()
                if low == "local path" and text:
                    f.local = _norm(text)
                elif low in ("md5", "sha256", "sha1") and text:
                    f.hashes[low] = text.lower()
                elif low == "tags" and text:
                    f.tags = text[:200]
                elif low in _APP_ITEMS and text:
                    f.app = text[:200]
                elif low in ("creationtime", "modifytime", "accesstime", "deletedtime") and text:
                    f.timestamps[name] = text[:64]
        elif tag == "accessInfo":
            for ts in child:
                name = ts.get("name") or ""
                text = (ts.get("formattedTimestamp") or ts.text or "").strip()
                if name and text:
                    f.timestamps[name[:64]] = text[:64]
    return f


def read_report(stream: IO[bytes], *, max_bytes: int = MAX_REPORT_BYTES,
                max_files: int = MAX_FILES, charge: Callable[[int], None] | None = None
                ) -> Report:
    """Parse report.xml from `stream`; damage after the start is `Report.error`, a document
    that is not a report at all raises ReportError. `charge(n)` is told of each read (the
    scan's archive budget), and may raise to stop reading."""
    from defusedxml.ElementTree import iterparse

    report = Report()
    counted = _Counted(stream, max_bytes, charge)  # unbuffered: the cap falls mid-parse
    stack: list[object] = []
    root_seen = False
    try:
        for event, elem in iterparse(counted, events=("start", "end"), forbid_dtd=True):
            tag = _local(elem.tag)
            if event == "start":
                if not root_seen:
                    if tag != "project":
                        raise ReportError(f"report.xml's root is <{tag}>, not <project>")
                    root_seen = True
                    report.project = {k: v[:200] for k, v in elem.attrib.items()
                                      if k in ("id", "name", "reportVersion", "containsGarbage",
                                               "extractionType")}
                stack.append(elem)
                continue
            stack.pop()
            parent = stack[-1] if stack else None
            if tag == "file" and parent is not None and _local(parent.tag) == "taggedFiles":  # type: ignore[attr-defined]
                report.files += 1
                f = _file(elem)
                if f.local:
                    report.by_local.setdefault(f.local, []).append(f)
                else:
                    report.without_content.append(f)
                if report.files >= max_files:
                    report.error = f"more than {max_files} files listed; rest not read"
                    break
            if tag in ("file", "model", "modelType") and parent is not None:
                parent.remove(elem)  # type: ignore[attr-defined]  # read: memory stays flat
    except ReportError as e:
        if not root_seen:
            raise
        report.error = str(e)
    except Exception as e:  # noqa: BLE001 - ParseError, DTDForbidden, EntitiesForbidden, ...
        if not root_seen:
            raise ReportError(f"report.xml is not readable: {type(e).__name__}: {e}") from None
        report.error = (f"report.xml is damaged after {report.files} file entries: "
                        f"{type(e).__name__}: {e}")
    if not root_seen and report.error is None:
        raise ReportError("report.xml is empty")
    return report


def report_name(names: list[str]) -> str | None:
    """The report's name among a zip's member names, None when the zip is not a UFDR."""
    return next((n for n in REPORT_NAMES if n in names), None)


def absent(report: Report, present: set[str]) -> Iterator[tuple[str, str, Origin]]:
    """(name, why, origin) of each file the report lists whose content the zip lacks."""
    present = {_norm(p) for p in present}  # a zip made on Windows may store backslashes
    for f in report.without_content:
        why = ("listed in report.xml without content in the UFDR (no Local Path)"
               + ("; marked deleted" if f.deleted else ""))
        yield f"$report/{f.file_id or 'entry'}{f.device_path}", why, f.origin()
    for local, files in report.by_local.items():
        if local not in present:
            f = files[0]
            yield local, "listed in report.xml but not in the UFDR zip", f.origin()
