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
import functools
import hashlib
import io
import ipaddress
import json
import re
import socket
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, BinaryIO

from cairn.cases.people import COUNTRIES

TABLES: dict[str, tuple[str, ...]] = {
    "accounts": ("id", "names", "emails", "created", "country"),
    "payments": ("account", "time", "amount", "currency", "method", "payment_id", "country"),
    "access_logs": ("account", "time", "ip", "user_agent", "item"),
    "transfers": ("account", "time", "direction", "file_name", "md5", "sha256", "pdq"),
}
REQUIRED = {"accounts": ("id",), "payments": ("account", "time"),
            "access_logs": ("account", "time", "ip"),
            "transfers": ("account", "time", "direction")}
SUFFIXES = (".csv", ".jsonl")
MAX_LINE = 1 << 20  # a JSON line or CSV record longer than this is rejected, not read whole
MAX_MAPPING = 1 << 16
MAX_LIST = 20  # names or e-mails per account
LIMITS = {"id": 200, "account": 200, "names": 200, "method": 40, "payment_id": 200,
          "user_agent": 1000, "item": 4096, "file_name": 1000}
DIRECTIONS = {"upload": "upload", "up": "upload", "u": "upload", "ul": "upload",
              "download": "download", "down": "download", "d": "download", "dl": "download"}
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_HEX = {"md5": 32, "sha256": 64, "pdq": 64}
_CURRENCY = re.compile(r"[A-Z0-9]{3,10}")
_OFFSET = re.compile(r"([+-])(\d{2}):(\d{2})")
_EARLIEST, _LATEST = datetime(1990, 1, 1, tzinfo=UTC), datetime(2100, 1, 1,
                                                                          tzinfo=UTC)


class MappingError(ValueError):
    """The mapping or the folder cannot be used at all: nothing is imported."""


class RowError(ValueError):
    """One row refused: the message says which field and why."""


@dataclass(frozen=True)
class Rejected:
    file: str
    line: int
    reason: str

    def to_dict(self) -> dict:
        return {"file": self.file, "line": self.line, "reason": self.reason}


@dataclass
class Mapping:
    """Per table: the file's name (no suffix) and field -> column."""

    files: dict[str, str] = field(default_factory=lambda: {t: t for t in TABLES})
    columns: dict[str, dict[str, str]] = field(
        default_factory=lambda: {t: {f: f for f in fs} for t, fs in TABLES.items()})
    list_separator: str = ";"
    delimiter: str = ","  # between a CSV file's fields
    tz: timezone = UTC

    def describe(self) -> dict:
        return {"list_separator": self.list_separator, "delimiter": self.delimiter,
                "timezone": str(self.tz),
                **{t: {"file": self.files[t], **self.columns[t]} for t in TABLES}}


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
    if path.suffix != ".csv" or _CONTROL.search(mapping.delimiter):
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
            quick = _quick(table, at, mapping)
        values = None if _CONTROL.search(text) else quick(cells)
        if values is None:
            try:
                row = check_row(table, {fld: cells[i] for fld, i in at}, mapping)
            except RowError as e:
                yield n, None, str(e)
                continue
            values = tuple(row[k] for k in fields)
        yield n, values, None


def _quick(table: str, at: list[tuple[str, int]], mapping: Mapping
           ) -> Callable[[list[str]], tuple | None]:
    """check_row over a record's cells for a line known to hold no control character:
    the values, or None where check_row would refuse the row (it then says why)."""
    index = dict(at)
    steps = []
    for fld, check, required, many in _PLANS[table]:
        if CHECKS[fld] is _LIMITED.get(fld):
            kind = _TEXT  # _text: the length; no control characters on this line
        elif check is _ip:
            kind = _IP
        elif check is _time and mapping.tz is UTC:
            kind = _SECONDS
        else:
            kind = _OTHER
        steps.append((index.get(fld), required, many, kind, LIMITS.get(fld, 0), check))

    def quick(cells: list[str]) -> tuple | None:
        out: list[Any] = []
        for i, required, many, kind, limit, check in steps:
            value = cells[i].strip() if i is not None else ""
            if not value:
                if required:
                    return None
                out.append([] if many else None)
            elif kind is _TEXT:
                if len(value) > limit:
                    return None
                out.append(value)
            elif kind is _IP:
                ip = _ip_text(value) if len(value) <= 45 else None
                if ip is None:
                    return None
                out.append(ip)
            elif (kind is _SECONDS and value.isdigit() and value.isascii() and len(value) <= 12
                  and _EARLIEST_S <= (n := int(value)) < _LATEST_S):
                out.append(_utc_text(n))
            else:
                try:
                    out.append(check(value, mapping))
                except RowError:
                    return None
        return tuple(out)
    return quick


_TEXT, _IP, _SECONDS, _OTHER = "text", "ip", "seconds", "other"


def _required_for(columns: dict[str, str]) -> tuple[str, ...]:
    for table, fields in TABLES.items():
        if set(fields) == set(columns):
            return REQUIRED[table]
    return ()


# -- checking a row ---------------------------------------------------------------------------
# Tens of millions of rows pass here: each table's fields are looked up once (`_PLANS`: field,
# checker, required, list-valued), not per row, and the checkers that see most rows (`_ip`,
# `parse_time`) take a C fast path for the forms logs write and fall back to the general
# parser for the rest, so what is accepted, and the error for what is not, stay the same.
def check_row(table: str, raw: dict[str, Any], mapping: Mapping) -> dict[str, Any]:
    """The row's fields typed and bounded, or RowError naming the field."""
    out: dict[str, Any] = {}
    for fld, check, required, many in _PLANS[table]:
        value = raw.get(fld)
        if type(value) is str:
            value = value.strip()
        if value is None or value == "" or value == []:
            if required:
                raise RowError(f"{fld} missing")
            out[fld] = [] if many else None
            continue
        try:
            out[fld] = check(value, mapping)
        except RowError as e:
            raise RowError(f"{fld}: {e}") from None
    return out


def _text(value: Any, limit: int) -> str:
    if type(value) is not str:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise RowError("not text")
        value = str(value).strip()
    if len(value) > limit:
        raise RowError(f"{len(value)} characters; at most {limit}")
    if _CONTROL.search(value):
        raise RowError("holds control characters")
    return value


def _many(value: Any, sep: str) -> list[Any]:
    items = value if isinstance(value, list) else str(value).split(sep)
    items = [i.strip() if isinstance(i, str) else i for i in items]
    items = [i for i in items if i not in ("", None)]
    if len(items) > MAX_LIST:
        raise RowError(f"{len(items)} values; at most {MAX_LIST}")
    return items


def _names(value: Any, m: Mapping) -> list[str]:
    return list(dict.fromkeys(_text(v, LIMITS["names"]) for v in _many(value, m.list_separator)))


def _emails(value: Any, m: Mapping) -> list[str]:
    out = []
    for v in _many(value, m.list_separator):
        e = _text(v, 320)
        if not _EMAIL.fullmatch(e):
            raise RowError(f"{e!r} is not an e-mail address")
        out.append(e)
    return list(dict.fromkeys(out))


def _country(value: Any, m: Mapping) -> str:
    code = _text(value, 10).upper()
    if code not in COUNTRIES:
        raise RowError(f"{code!r} is not an ISO 3166-1 alpha-2 code")
    return code


def _amount(value: Any, m: Mapping) -> str:
    try:
        d = Decimal(_text(value, 40))
    except InvalidOperation:
        raise RowError(f"{value!r} is not a number") from None
    if not d.is_finite() or abs(d) >= _MAX_AMOUNT:
        raise RowError(f"{value!r} is out of range")
    return str(d)


def _currency(value: Any, m: Mapping) -> str:
    cur = _text(value, 10).upper()
    if not _CURRENCY.fullmatch(cur):
        raise RowError(f"{value!r}: a currency code (EUR, BTC)")
    return cur


@functools.lru_cache(maxsize=1 << 16)  # logs repeat their addresses
def _ip_text(text: str) -> str | None:
    """The address in `ipaddress`'s compressed form. inet_pton/inet_ntop (C, 13x faster) give
    that same text for what they accept, except an IPv6 address they print with an IPv4 tail
    (::ffff:192.0.2.1, which `ipaddress` writes ::ffff:c000:201); that, and whatever they
    refuse (a scope id, a typo), goes to `ipaddress`, whose verdict stands (equality checked
    on generated addresses in tests/test_platform.py)."""
    family = socket.AF_INET6 if ":" in text else socket.AF_INET
    try:
        out = socket.inet_ntop(family, socket.inet_pton(family, text))
    except (OSError, ValueError):
        out = None
    if out is None or (family == socket.AF_INET6 and "." in out):
        try:
            return ipaddress.ip_address(text).compressed
        except ValueError:
            return None
    return out


def _ip(value: Any, m: Mapping) -> str:
    ip = _ip_text(_text(value, 45))
    if ip is None:
        raise RowError(f"{value!r} is not an IP address")
    return ip


def _direction(value: Any, m: Mapping) -> str:
    d = DIRECTIONS.get(_text(value, 10).lower())
    if d is None:
        raise RowError(f"{value!r}: upload or download")
    return d


def _hex(n: int) -> Callable[[Any, Mapping], str]:
    def check(value: Any, m: Mapping) -> str:
        h = _text(value, 200).lower()
        if len(h) != n or h.strip("0123456789abcdef"):
            raise RowError(f"{value!r} is not {n} hex digits")
        return h
    return check


def _limited(fld: str) -> Callable[[Any, Mapping], str]:
    limit = LIMITS[fld]
    return lambda value, m: _text(value, limit)


_LIMITED = {f: _limited(f) for f in LIMITS if f != "names"}  # text bounded, nothing more


def _time(value: Any, m: Mapping) -> str:
    return parse_time(value, m.tz)


_MAX_AMOUNT = Decimal(10) ** 15
CHECKS: dict[str, Callable[[Any, Mapping], Any]] = {
    **_LIMITED,
    "names": _names, "emails": _emails, "time": _time, "created": _time,
    "country": _country, "amount": _amount, "currency": _currency, "ip": _ip,
    "direction": _direction, **{f: _hex(n) for f, n in _HEX.items()}}


def parse_time(value: Any, tz: timezone = UTC) -> str:
    """ISO 8601 or Unix seconds -> ISO 8601 UTC (seconds), within 1990..2100."""
    if type(value) is str and value.isascii() and value.isdigit() and len(value) <= 12:
        # Unix seconds as logs write them: gmtime is the same UTC second as fromtimestamp,
        # at a third of the cost; 1990..2100 checked on the integer
        n = int(value)
        if _EARLIEST_S <= n < _LATEST_S:
            return _utc_text(n)
    if isinstance(value, bool):
        raise RowError("not a time")
    try:
        if isinstance(value, (int, float)) or _EPOCH.fullmatch(value):
            t = datetime.fromtimestamp(float(value), UTC)
        else:
            t = datetime.fromisoformat(_text(value, 40))
            if t.tzinfo is None:
                t = t.replace(tzinfo=tz)
    except (ValueError, OverflowError, OSError, TypeError):
        raise RowError(f"{value!r} is not a time (ISO 8601 or Unix seconds)") from None
    if not _EARLIEST <= t < _LATEST:
        raise RowError(f"{value!r} is outside 1990..2100")
    return t.astimezone(UTC).replace(microsecond=0, tzinfo=None).isoformat() + "Z"


_EPOCH = re.compile(r"\d{1,12}(\.\d{1,9})?")
_EARLIEST_S, _LATEST_S = int(_EARLIEST.timestamp()), int(_LATEST.timestamp())
_HOURS: dict[int, str] = {}  # hour since 1970 -> "YYYY-MM-DDTHH:": logs run in time order


def _utc_text(seconds: int) -> str:
    """Unix seconds (1990..2100) as parse_time writes them: time.gmtime once an hour, then
    arithmetic, the same UTC second as datetime.fromtimestamp at a fifth of its cost."""
    hour, rest = divmod(seconds, 3600)
    prefix = _HOURS.get(hour)
    if prefix is None:
        if len(_HOURS) > 100_000:
            _HOURS.clear()
        prefix = _HOURS[hour] = time.strftime("%Y-%m-%dT%H:", time.gmtime(hour * 3600))
    minute, second = divmod(rest, 60)
    return f"{prefix}{minute:02d}:{second:02d}Z"
_PLANS: dict[str, tuple[tuple[str, Callable[[Any, Mapping], Any], bool, bool], ...]] = {
    table: tuple((f, CHECKS[f], f in REQUIRED[table], f in ("names", "emails"))
                 for f in fields) for table, fields in TABLES.items()}


def normalise_email(address: str) -> str:
    """The form two accounts' addresses are compared in: lower-case, without a `+tag` in the
    local part (user-0042+shop@example.test is user-0042@example.test)."""
    local, _, domain = address.lower().rpartition("@")
    return f"{local.split('+', 1)[0] or local}@{domain}"


def ip_ua_key(ip: str, user_agent: str | None) -> str:
    """A short key for an IP + user-agent pair: what resolution groups accesses on."""
    return hashlib.sha256(f"{ip}\0{user_agent or ''}".encode()).hexdigest()[:32]
