"""Reading a seized platform's tables: CSV or JSON Lines, column names mapped by a TOML file,
every row checked before it is kept.

A platform's export is untrusted and huge (tens of millions of access-log rows), so rows are
read one at a time and never held together; a bad row (a field missing, not a time, an IP
that is not one, a hash of the wrong length, bytes that are not UTF-8) becomes a `Rejected`
naming the file, the line and the reason, and the rest of the file goes on.

The tables, each one file in the folder, `NAME.csv` or `NAME.jsonl` (NAME from the mapping's
`file`, by default the table's name); a missing file is a table the platform did not give:

    accounts     id*, names, emails, created, country
    payments     account*, time*, amount, currency, method, payment_id, country
    access_logs  account*, time*, ip*, user_agent, item
    transfers    account*, time*, direction*, file_name, md5, sha256, pdq

(* required). A CSV file starts with a header line and holds one record per line (a quoted
field with a line break in it is refused: logs are not letters). `names` and `emails` hold
several values split on `list_separator` (or a JSON list). `time` and `created`: ISO 8601
(a time without an offset is read in the mapping's `timezone`, UTC unless set) or Unix
seconds. `country`: ISO 3166-1 alpha-2. `direction`:
upload|download (also up/down, u/d, ul/dl). `amount`: a decimal (kept as text: no float
rounding of money). `ip`: IPv4 or IPv6. E-mails are normalised for matching (lower-case,
a `+tag` dropped from the local part) and kept as written too.

The mapping (`--mapping FILE.toml`) names, per table, the file and the column holding each
field; what it leaves out keeps the default below (the column named as the field):

    list_separator = ";"        # between the values of `names` and `emails`
    delimiter = ","             # between a CSV file's fields
    timezone = "UTC"            # or an offset such as "+01:00"

    [accounts]
    file = "accounts"
    id = "user_id"              # the column `user_id` holds the account's id
    emails = "mail"

    [payments]
    file = "orders"
    payment_id = "card_fingerprint"
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, timedelta, timezone
from pathlib import Path
from typing import Any, BinaryIO

from cairn.platform.fields import (  # noqa: F401 - re-exported: the readers' names
    CONTROL,
    REQUIRED,
    TABLES,
    Mapping,
    RowError,
    check_row,
    ip_ua_key,
    normalise_email,
    parse_time,
    quick_check,
)

SUFFIXES = (".csv", ".jsonl")
MAX_LINE = 1 << 20  # a JSON line or CSV record longer than this is rejected, not read whole
MAX_MAPPING = 1 << 16
_OFFSET = re.compile(r"([+-])(\d{2}):(\d{2})")


class MappingError(ValueError):
    """The mapping or the folder cannot be used at all: nothing is imported."""


@dataclass(frozen=True)
class Rejected:
    file: str
    line: int
    reason: str

    def to_dict(self) -> dict:
        return {"file": self.file, "line": self.line, "reason": self.reason}




def load_mapping(path: Path | None) -> Mapping:
    """The default mapping, changed by what the TOML file at `path` says; refuses an unknown
    table, field or key (a typo must not silently import nothing)."""
    m = Mapping()
    if path is None:
        return m
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_MAPPING + 1)
        if len(raw) > MAX_MAPPING:
            raise MappingError(f"mapping {path}: over {MAX_MAPPING} bytes")
        doc = tomllib.loads(raw.decode("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise MappingError(f"mapping {path}: {e}") from e
    for key, value in doc.items():
        if key in ("list_separator", "delimiter"):
            if not isinstance(value, str) or len(value) != 1 or value in "\"\r\n":
                raise MappingError(f"mapping: {key} is one character (not a quote or a "
                                   "line break)")
            setattr(m, key, value)
        elif key == "timezone":
            m.tz = _zone(value)
        elif key in TABLES:
            if not isinstance(value, dict):
                raise MappingError(f"mapping: [{key}] is a table of field = \"column\"")
            for fname, col in value.items():
                if not isinstance(col, str) or not col or len(col) > 200:
                    raise MappingError(f"mapping: {key}.{fname} is a column name (text)")
                if fname == "file":
                    if "/" in col or "\\" in col or col.startswith("."):
                        raise MappingError(f"mapping: {key}.file {col!r} is a name in the "
                                           "folder, without a suffix")
                    m.files[key] = col
                elif fname in TABLES[key]:
                    m.columns[key][fname] = col
                else:
                    raise MappingError(f"mapping: {key} has no field {fname!r}; its fields: "
                                       f"{', '.join(TABLES[key])}")
        else:
            raise MappingError(f"mapping: unknown key {key!r}; tables: {', '.join(TABLES)}, "
                               "and list_separator, delimiter, timezone")
    return m


def _zone(value: object) -> timezone:
    if value in ("UTC", "Z"):
        return UTC
    if isinstance(value, str) and (mt := _OFFSET.fullmatch(value)):
        sign = -1 if mt[1] == "-" else 1
        return timezone(sign * timedelta(hours=int(mt[2]), minutes=int(mt[3])))
    raise MappingError(f"mapping: timezone {value!r}: UTC or an offset like +01:00")


def table_files(folder: Path, mapping: Mapping) -> dict[str, Path]:
    """The file of each table the folder has; refuses a folder with none, or with both a
    CSV and a JSON Lines file for one table."""
    found: dict[str, Path] = {}
    for table in TABLES:
        paths = [folder / f"{mapping.files[table]}{s}" for s in SUFFIXES]
        present = [p for p in paths if p.is_file()]
        if len(present) > 1:
            raise MappingError(f"{folder}: both {present[0].name} and {present[1].name}; "
                               "keep one")
        if present:
            found[table] = present[0]
    if not found:
        names = ", ".join(f"{mapping.files[t]}.csv|jsonl" for t in TABLES)
        raise MappingError(f"{folder}: no platform tables ({names})")
    return found


class HashingReader(io.RawIOBase):
    """A file read once: its SHA-256 is computed from the same bytes the rows come from."""

    def __init__(self, f: Any) -> None:
        self.f, self.sha256, self.size = f, hashlib.sha256(), 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        n = self.f.readinto(b)
        if n:
            self.sha256.update(memoryview(b)[:n])
            self.size += n
        return n or 0

    def finish(self) -> None:
        """Hash what the rows did not read (after a file's last line, or after a stop)."""
        while chunk := self.f.read(1 << 20):
            self.sha256.update(chunk)
            self.size += len(chunk)


def _lines(f: BinaryIO, name: str) -> Iterator[tuple[int, str | None, str | None]]:
    """(line number, text, error) per physical line, bounded: a line over MAX_LINE or not
    UTF-8 is an error for that line only.

    From a buffered reader the complete lines already in its buffer (at most MAX_LINE + 1
    bytes, so none of them is too long) are taken and decoded together; a buffer that does
    not decode, and whatever straddles a buffer's end, go line by line as before."""
    n = 0
    peek = getattr(f, "peek", None)
    while True:
        if peek is not None:
            buf = peek(1)
            cut = buf.rfind(b"\n", 0, MAX_LINE + 1) + 1
            if cut:
                body = f.read(cut)
                try:
                    text = body.decode("utf-8")
                except UnicodeDecodeError:
                    for raw in body.split(b"\n")[:-1]:
                        n += 1
                        yield n, *_decoded(raw + b"\n")
                    continue
                for line in text.split("\n")[:-1]:
                    n += 1
                    yield n, line.rstrip("\r\n"), None
                continue
        raw = f.readline(MAX_LINE + 1)
        if not raw:
            return
        n += 1
        if len(raw) > MAX_LINE and not raw.endswith(b"\n"):
            while raw and not raw.endswith(b"\n"):  # skip the rest of the long line
                raw = f.readline(MAX_LINE)
            yield n, None, f"line over {MAX_LINE} bytes"
            continue
        yield n, *_decoded(raw)


def _decoded(raw: bytes) -> tuple[str | None, str | None]:
    try:
        return raw.decode("utf-8").rstrip("\r\n"), None
    except UnicodeDecodeError as e:
        return None, f"not UTF-8 at byte {e.start}"


def read_rows(f: BinaryIO, path: Path, columns: dict[str, str], delimiter: str
              ) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    """(line, {field: value or None}, error) per row of a CSV (header first) or JSON Lines
    file. Values are as written (text, or a list for list fields in JSON)."""
    wanted = {col: fld for fld, col in columns.items()}
    if path.suffix == ".jsonl":
        for n, text, error in _lines(f, path.name):
            if error or not text or not text.strip():
                if error:
                    yield n, None, error
                continue
            try:
                obj = json.loads(text)
            except (ValueError, RecursionError) as e:
                yield n, None, f"not JSON: {e}"
                continue
            if not isinstance(obj, dict):
                yield n, None, "not a JSON object"
                continue
            yield n, {fld: obj.get(col) for col, fld in wanted.items()}, None
        return
    for n, _, cells, at, error in _csv_cells(f, path, columns, delimiter):
        if error is not None or cells is None:
            yield n, None, error
            continue
        yield n, {fld: cells[i] for fld, i in at}, None


def _csv_cells(f: BinaryIO, path: Path, columns: dict[str, str], delimiter: str
               ) -> Iterator[tuple[int, str, list[str] | None, list[tuple[str, int]],
                                   str | None]]:
    """(line, its text, its cells, (field, cell index) per mapped field, error) per record
    of a CSV file after its header."""
    wanted = {col: fld for fld, col in columns.items()}
    header: list[str] | None = None
    at: list[tuple[str, int]] = []
    for n, text, error in _lines(f, path.name):
        if error:
            if header is None:
                raise MappingError(f"{path.name}: header line: {error}")
            yield n, "", None, at, error
            continue
        if text is None or not text.strip():
            continue
        if '"' in text:
            try:
                cells = next(csv.reader([text], strict=True, delimiter=delimiter))
            except csv.Error as e:
                yield n, text, None, at, f"not CSV: {e}"
                continue
        else:  # no quoting: what the csv module would return, at a fraction of the cost
            cells = text.split(delimiter)
        if header is None:
            header = [c.strip().lstrip("\ufeff") for c in cells]
            missing = [c for c in wanted if c not in header]
            required = [c for c in missing if wanted[c] in _required_for(columns)]
            if required:
                raise MappingError(f"{path.name}: no column {', '.join(map(repr, required))} "
                                   f"(its columns: {', '.join(header)[:300]}); map it in "
                                   "the mapping file")
            at = [(fld, header.index(col)) for col, fld in wanted.items() if col in header]
            continue
        if len(cells) != len(header):
            yield n, text, None, at, f"{len(cells)} fields, the header has {len(header)}"
            continue
        yield n, text, cells, at, None


def checked_rows(f: BinaryIO, path: Path, table: str, mapping: Mapping
                 ) -> Iterator[tuple[int, tuple | None, str | None]]:
    """(line, the row's values in TABLES[table] order, error) per row: `read_rows` then
    `check_row`, with one shortcut for a CSV record whose line holds no control character
    (the usual one): its cells are checked in place, and a text field needs no further
    check than its length. Whatever the shortcut does not accept outright goes the long
    way, so each row gets the same values, or the same error, as check_row gives it."""
    fields = TABLES[table]
    if path.suffix != ".csv" or CONTROL.search(mapping.delimiter):
        for n, raw, error in read_rows(f, path, mapping.columns[table], mapping.delimiter):
            if error is None and raw is not None:
                try:
                    row = check_row(table, raw, mapping)
                except RowError as e:
                    error = str(e)
                else:
                    yield n, tuple(row[k] for k in fields), None
                    continue
            yield n, None, error or "empty"
        return
    quick: Callable[[list[str]], tuple | None] | None = None
    for n, text, cells, at, error in _csv_cells(f, path, mapping.columns[table],
                                                 mapping.delimiter):
        if error is not None or cells is None:
            yield n, None, error or "empty"
            continue
        if quick is None:
            quick = quick_check(table, at, mapping)
        values = None if CONTROL.search(text) else quick(cells)
        if values is None:
            try:
                row = check_row(table, {fld: cells[i] for fld, i in at}, mapping)
            except RowError as e:
                yield n, None, str(e)
                continue
            values = tuple(row[k] for k in fields)
        yield n, values, None


def _required_for(columns: dict[str, str]) -> tuple[str, ...]:
    for table, fields in TABLES.items():
        if set(fields) == set(columns):
            return REQUIRED[table]
    return ()
