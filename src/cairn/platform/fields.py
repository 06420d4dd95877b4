"""The fields of a seized platform's tables and the checking of one row: each value typed
and bounded (a time in 1990..2100, an IP that is one, a hash of its width, text without
control characters), or a `RowError` naming the field. `records` reads the files and hands
each row here; tens of millions of rows pass, so each table's checks are planned once."""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

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
MAX_LIST = 20  # names or e-mails per account
LIMITS = {"id": 200, "account": 200, "names": 200, "method": 40, "payment_id": 200,
          "user_agent": 1000, "item": 4096, "file_name": 1000}
DIRECTIONS = {"upload": "upload", "up": "upload", "u": "upload", "ul": "upload",
              "download": "download", "down": "download", "d": "download", "dl": "download"}
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_HEX = {"md5": 32, "sha256": 64, "pdq": 64}
_CURRENCY = re.compile(r"[A-Z0-9]{3,10}")
_EARLIEST, _LATEST = datetime(1990, 1, 1, tzinfo=UTC), datetime(2100, 1, 1,
                                                                          tzinfo=UTC)


class RowError(ValueError):
    """One row refused: the message says which field and why."""


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
    if CONTROL.search(value):
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



def quick_check(table: str, at: list[tuple[str, int]], mapping: Mapping
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
