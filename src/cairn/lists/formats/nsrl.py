"""NSRL known-good file lists: RDSv3 (a SQLite database; its FILE view) and RDSv2
(`NSRLFile.txt` CSV). Imported as a `known-good` list: matching items are counted and hidden
from reports, never deleted. One digest type per list keeps tens of millions of rows small
(default SHA-256 for RDSv3, SHA-1 for RDSv2, whose native key it is)."""

from __future__ import annotations

import csv
import io
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from cairn.lists.formats.base import Entry, ListFormatError, Rejected, normalise

SQLITE_MAGIC = b"SQLite format 3\x00"
RDS2_HEADER = '"SHA-1","MD5","CRC32","FileName","FileSize","ProductCode","OpSystemCode"'
RDS2_COLUMN = {"sha1": "SHA-1", "md5": "MD5"}


def sniff(head: bytes) -> str | None:
    if head.startswith(SQLITE_MAGIC):
        return "nsrl-rds3"
    if head.lstrip(b"\xef\xbb\xbf").startswith(RDS2_HEADER.encode()):
        return "nsrl-rds2"
    return None


def read_rds3(path: Path, rejected: list[Rejected], signal_type: str | None
              ) -> Iterator[Entry]:
    st = signal_type or "sha256"
    if st not in ("md5", "sha1", "sha256"):
        raise ListFormatError("an NSRL list holds md5, sha1 or sha256")
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        cur = con.execute(f"SELECT {st}, file_name, file_size, package_id FROM FILE")  # noqa: S608 - st is whitelisted
    except sqlite3.Error as e:
        raise ListFormatError(f"{path}: not an NSRL RDSv3 database ({e})") from None
    try:
        for n, (digest, name, size, package) in enumerate(cur, 1):
            try:
                value = normalise(st, str(digest or ""))
            except ValueError as e:
                rejected.append(Rejected(n, str(digest)[:80], f"FILE row {n}: {e}"))
                continue
            name, size, package = _plain(name), _plain(size), _plain(package)
            yield Entry(st, value, n, None, [f"file:{name}"] if name else [], None,
                        attrs={"nsrl": {"file_name": name, "file_size": size,
                                        "package_id": package}})
    except sqlite3.Error as e:
        raise ListFormatError(f"{path}: NSRL database unreadable: {e}") from None
    finally:
        con.close()


def read_rds2(f: IO[str], rejected: list[Rejected], signal_type: str | None
              ) -> Iterator[Entry]:
    st = signal_type or "sha1"
    if st not in RDS2_COLUMN:
        raise ListFormatError("an RDSv2 list holds sha1 or md5")
    reader = csv.DictReader(f)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as e:  # a field over csv's limit: this row only
            n = reader.reader.line_num  # DictReader's own line_num is set only on success
            rejected.append(Rejected(n, "", f"line {n}: {e}"))
            continue
        n = reader.line_num
        try:
            value = normalise(st, row.get(RDS2_COLUMN[st]) or "")
        except ValueError as e:
            rejected.append(Rejected(n, str(row)[:200], f"line {n}: {e}"))
            continue
        name = row.get("FileName") or ""
        yield Entry(st, value, n, None, [f"file:{name}"] if name else [], None,
                    attrs={"nsrl": {"file_name": name, "file_size": row.get("FileSize"),
                                    "product_code": row.get("ProductCode")}})


def _plain(v: object) -> str | int | float | None:
    """A SQLite cell as JSON can hold it: SQLite keeps any type in any column, so a hostile
    database can put a BLOB where a name belongs."""
    if v is None or isinstance(v, (str, int, float)):
        return v
    if isinstance(v, bytes):
        return v.decode("utf-8", errors="replace")
    return str(v)


def open_text(path: Path) -> IO[str]:
    return io.TextIOWrapper(path.open("rb"), encoding="utf-8-sig", errors="replace",
                            newline="")
