"""Checked fields for the typed records each format reader builds from a partner's JSON or CSV.

Every check takes the raw value and the field's name and returns the typed value or raises
ValueError saying which field is wrong and why (`Tags: expected a list of strings, got int`),
so a reader rejects that one entry by position and goes on. Nothing here trusts a type:
a partner's file can hold a number where a string belongs, a list where a map does, a map
where a list does.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

from cairn.lists.formats.jsonstream import Malformed

MAX_TEXT = 4096  # characters in one label, tag, comment, name or id
MAX_ITEMS = 1024  # labels, tags, files or hashes on one entry
MAX_INT = (1 << 63) - 1  # what SQLite and PostgreSQL store
_DIGITS = re.compile(r"-?[0-9]{1,19}")


def kind(v: Any) -> str:
    """JSON's name for a value's type, for messages."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float, Decimal)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "list"
    if isinstance(v, dict):
        return "object"
    return type(v).__name__


def json_object(v: Any, what: str = "expected a JSON object") -> dict:
    """The item a record is built from: a dict, else ValueError saying what it is instead
    (for a streamed item too deep or too large to build, its own reason)."""
    if isinstance(v, Malformed):
        raise ValueError(v.reason)
    if not isinstance(v, dict):
        raise ValueError(f"{what}, got {kind(v)}")
    return v


def text(v: Any, field: str, max_len: int = MAX_TEXT) -> str | None:
    """An optional string (None, or "" as None)."""
    if v is None or v == "":
        return None
    if not isinstance(v, str):
        raise ValueError(f"{field}: expected a string, got {kind(v)}")
    if len(v) > max_len:
        raise ValueError(f"{field}: {len(v):,} characters (limit {max_len:,})")
    return v


def required_text(v: Any, field: str, max_len: int = MAX_TEXT) -> str:
    s = text(v, field, max_len)
    if s is None:
        raise ValueError(f"{field}: missing")
    return s


def text_list(v: Any, field: str, numbers: bool = False) -> list[str]:
    """An optional list of strings (`numbers`: integers allowed too, kept as text)."""
    if v is None:
        return []
    if not isinstance(v, list):
        raise ValueError(f"{field}: expected a list of strings, got {kind(v)}")
    if len(v) > MAX_ITEMS:
        raise ValueError(f"{field}: {len(v):,} items (limit {MAX_ITEMS:,})")
    out = []
    for i, x in enumerate(v):
        if numbers and isinstance(x, int) and not isinstance(x, bool):
            x = str(integer(x, f"{field}[{i}]"))
        elif not isinstance(x, str):
            raise ValueError(f"{field}[{i}]: expected a string, got {kind(x)}")
        if len(x) > MAX_TEXT:
            raise ValueError(f"{field}[{i}]: {len(x):,} characters (limit {MAX_TEXT:,})")
        out.append(x)
    return out


def mapping(v: Any, field: str) -> dict:
    """An optional JSON object ({} when absent)."""
    if v is None:
        return {}
    if not isinstance(v, dict):
        raise ValueError(f"{field}: expected an object, got {kind(v)}")
    if len(v) > MAX_ITEMS:
        raise ValueError(f"{field}: {len(v):,} keys (limit {MAX_ITEMS:,})")
    return v


def items(v: Any, field: str) -> list:
    """An optional JSON list ([] when absent)."""
    if v is None:
        return []
    if not isinstance(v, list):
        raise ValueError(f"{field}: expected a list, got {kind(v)}")
    if len(v) > MAX_ITEMS:
        raise ValueError(f"{field}: {len(v):,} items (limit {MAX_ITEMS:,})")
    return v


def integer(v: Any, field: str, lo: int = -MAX_INT, hi: int = MAX_INT,
            strings: bool = False) -> int | None:
    """An optional whole number in [lo, hi]; `strings`: decimal digits in a string too.
    Never converts a huge Decimal (1E+999999) to int: that alone takes minutes."""
    if v is None or (strings and v == ""):
        return None
    if isinstance(v, bool):
        raise ValueError(f"{field}: expected a whole number, got boolean")
    if strings and isinstance(v, str):
        if not _DIGITS.fullmatch(v.strip()):
            raise ValueError(f"{field}: {v[:40]!r} is not a whole number")
        v = int(v)
    if isinstance(v, float):
        v = Decimal(repr(v)) if v == v and abs(v) != float("inf") else None
        if v is None:
            raise ValueError(f"{field}: not a finite number")
    if isinstance(v, Decimal):
        if not v.is_finite() or v.adjusted() > 18 or v != v.to_integral_value():
            raise ValueError(f"{field}: {str(v)[:40]} is not a whole number in range")
        v = int(v)
    if not isinstance(v, int):
        raise ValueError(f"{field}: expected a whole number, got {kind(v)}")
    if not lo <= v <= hi:
        raise ValueError(f"{field}: {v} is outside {lo}..{hi}")
    return v


def scalar(v: Any, field: str) -> str | int | float | bool | None:
    """A JSON scalar as plain Python (Decimal to int or float), strings bounded."""
    if v is None or isinstance(v, (bool, int)):
        return integer(v, field) if isinstance(v, int) and not isinstance(v, bool) else v
    if isinstance(v, str):
        return text(v, field) or ""
    if isinstance(v, (Decimal, float)):
        if v == v.to_integral_value() if isinstance(v, Decimal) else v.is_integer():
            return integer(v, field)
        f = float(v)
        if f != f or f in (float("inf"), float("-inf")):
            raise ValueError(f"{field}: not a finite number")
        return f
    raise ValueError(f"{field}: expected a string or number, got {kind(v)}")


def preview(v: Any, limit: int = 200) -> str:
    """A short text of a rejected item for the report (its depth is bounded by the reader)."""
    try:
        s = v if isinstance(v, str) else json.dumps(v, default=str, ensure_ascii=False)
    except (ValueError, TypeError, RecursionError):
        s = f"<{kind(v)}>"
    return s[:limit]
