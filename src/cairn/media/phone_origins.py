"""A phone extraction's members annotated with where they sat on the phone.

A zip that is a UFDR (a Cellebrite report: `report.xml` describes its files) gets each
member's origin from that report, and the files the report lists but the zip lacks come
after the members, as members that could not be read; a zip or tar that is a full-file-
system extraction of an iPhone or an Android phone (media/extraction.py) gets origins from
its paths, and an iPhone's app names from the container metadata read from it first.
What is read ahead (the report, the metadata) is charged to the tree's `Budget`.

The archive readers (media/archives.py) hand it their members; it reads only what comes
before them (the report, the app metadata). Why apart: the readers read bytes, this knows
phone layouts.
"""

from __future__ import annotations

import tarfile
import zipfile
from collections.abc import Iterator
from typing import BinaryIO

from cairn.media import extraction, ufdr
from cairn.media.budget import ArchiveError, Budget, BudgetExhausted, Member, error_text
from cairn.media.walk import display_name, raw_name


class PathPhone:
    """Origins of an FFS extraction's members, from their paths (and, when known, the iOS
    container metadata read before them)."""

    def __init__(self, apps: extraction.Apps | None) -> None:
        self.apps = apps or extraction.Apps()
        self.checked = 0
        self.is_phone: bool | None = None

    def origin(self, name: str) -> dict | None:
        return self.apps.origin(name)

    def absent(self, present: set[str], budget: Budget) -> Iterator[Member]:
        return iter(())


class _UfdrPhone:
    """Origins of a UFDR's members from its report.xml; the files the report lists but the
    zip lacks come after the members, as members that could not be read."""

    MAX_ABSENT = 10_000

    def __init__(self, report: ufdr.Report, report_name: str) -> None:
        self.report, self.report_name = report, report_name

    def origin(self, name: str) -> dict | None:
        if name == self.report_name:
            out: dict = {"container": "ufdr", "role": "report.xml",
                         **{f"project_{k}": v for k, v in self.report.project.items()},
                         "files_listed": self.report.files}
            if self.report.error:
                out["report_error"] = self.report.error
            return out
        found = self.report.origin(name)
        if found is not None:
            return found
        if name.endswith("ThumbnailCache.s3dd"):
            return {"container": "ufdr", "role": "Cellebrite thumbnail cache",
                    "note": "format not publicly documented; hashed, not examined"}
        return {"container": "ufdr", "note": "not described by report.xml"}

    def absent(self, present: set[str], budget: Budget) -> Iterator[Member]:
        yield from self._absent(present, budget)
        if self.report.error:
            raise ArchiveError(f"{self.report_name}: {self.report.error}; members past that "
                               "point carry no phone path")

    def _absent(self, present: set[str], budget: Budget) -> Iterator[Member]:
        for i, (name, why, origin) in enumerate(ufdr.absent(self.report, present)):
            if i >= self.MAX_ABSENT:
                raise ArchiveError(f"report.xml lists more than {self.MAX_ABSENT} files whose "
                                   "content is not in the UFDR; the rest are not itemised")
            try:
                budget.member()
            except BudgetExhausted as e:
                raise ArchiveError(str(e)) from None
            raw = raw_name(name)
            yield Member(display_name(raw), None, None, why, raw=raw, origin=origin)


def zip_phone(zf: zipfile.ZipFile, budget: Budget) -> PathPhone | _UfdrPhone | None:
    """How to annotate a zip's members: a UFDR by its report, an FFS extraction by its
    paths, None for any other zip. A report that cannot be read is an ArchiveError after
    the members (they are still read, without origins); one read in part annotates what
    it covers and says where it broke on the report's own member."""
    names = [i.filename for i in zf.infolist()]
    report = ufdr.report_name(names)
    if report is not None:
        try:
            with zf.open(report) as rf:
                return _UfdrPhone(ufdr.read_report(rf, charge=budget.skip), report)
        except BudgetExhausted:
            raise
        except ufdr.ReportError as e:
            return _Broken(f"UFDR {report} unreadable: {e}")
        except Exception as e:  # noqa: BLE001 - zlib, CRC, encryption: the report is damaged
            return _Broken(f"UFDR {report} unreadable: {error_text(e)}")
    if not extraction.looks_like_extraction(names):
        return None
    apps = extraction.Apps()

    def read(name: str) -> bytes | None:
        try:
            info = zf.getinfo(name)
            if info.file_size > extraction.MAX_PLIST:
                return None
            with zf.open(info) as mf:
                return budget.read(mf, info.file_size)
        except BudgetExhausted:
            raise
        except Exception:  # noqa: BLE001 - unreadable metadata: the app stays unknown
            return None

    apps.learn_from(names, read)
    return PathPhone(apps)


class _Broken(PathPhone):
    """A UFDR whose report cannot be read: members get path origins only, and the archive
    an error after them."""

    def __init__(self, why: str) -> None:
        super().__init__(None)
        self.why = why

    def origin(self, name: str) -> dict | None:
        return {"container": "ufdr", "note": self.why}

    def absent(self, present: set[str], budget: Budget) -> Iterator[Member]:
        raise ArchiveError(self.why)


def tar_phone(f: BinaryIO, budget: Budget) -> PathPhone:
    """An uncompressed tar's iOS container metadata, read from its headers first (seeking
    over the data); what cannot be read leaves the app unknown, never an error."""
    apps = extraction.Apps()
    try:
        f.seek(0)
        with tarfile.open(fileobj=f, mode="r:") as tf:
            for n, ti in enumerate(tf):
                if n >= budget.limits.max_members:
                    break
                if ti.isfile() and extraction.Apps.metadata_key(ti.name) is not None \
                        and ti.size <= extraction.MAX_PLIST:
                    mf = tf.extractfile(ti)
                    if mf is not None:
                        apps.learn(ti.name, mf.read(extraction.MAX_PLIST + 1))
    except Exception:  # noqa: BLE001 - the member pass reports the damage itself
        pass
    finally:
        f.seek(0)
    return PathPhone(apps)


def annotated(members: Iterator[Member], phone: PathPhone | _UfdrPhone,
              budget: Budget | None = None) -> Iterator[Member]:
    """`members` with their origins; `budget` (a zip's): then the files its UFDR report
    lists but it lacks, as members not read."""
    present = set()
    for member in members:
        key = member.raw.decode("utf-8", "surrogateescape")
        if budget is not None:
            present.add(key)
        member.origin = phone.origin(key)
        yield member
    if budget is not None:
        yield from phone.absent(present, budget)
