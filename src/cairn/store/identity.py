"""An item's identity in the store: its location's bytes, and the note a new version carries.

A location is (source, raw path, ordinal): the raw path is the path below the source, then each
archive member's name, joined by NUL (no file or member name holds one: archive readers cut a
name at a NUL, as zipfile and tarfile do); the ordinal tells apart locations of one file whose
bytes are equal (a zip holding `same.jpg` three times). The unique key holds the SHA-256 of the
raw path (`location_key`), not the raw path itself: a btree entry on PostgreSQL is limited to
2,704 bytes, and a member name or a nest of them can be longer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any


def location_bytes(rec: Mapping[str, Any]) -> bytes:
    """A record's location bytes: its `raw_path` (every record a scan makes carries one).
    A hand-made record without one may give a plain display path, whose bytes are its text;
    one holding an escape or a member boundary (`\\`, `!/`) is refused rather than guessed."""
    raw = rec.get("raw_path")
    if raw:
        return bytes(raw)
    path = rec["path"]
    if "\\" in path or "!/" in path:
        raise ValueError(f"record for {path!r} carries no raw_path, and its display path "
                         "holds escapes: give the location's bytes")
    return path.encode("utf-8")


def location_key(raw: bytes) -> bytes:
    """The fixed-width key a location is unique on: SHA-256 of its raw path (32 bytes)."""
    return hashlib.sha256(raw).digest()


def version_note(prev: dict | None, state: tuple) -> str | None:
    """What changed since the version recorded before, said on the new version."""
    if prev is None:
        return None
    where = f"version {prev['version']} (scan run {prev['scan_run_id']})"
    what = [f"{name} {a} -> {b}" for name, a, b in zip(
        ("size", "mtime", "sha256"), (prev["size"], prev["mtime"], prev["sha256"]), state,
        strict=True) if a != b]
    if not what:
        return (f"read again: its worker failed on {where}, which recorded its hashes only; "
                "the earlier version is kept")
    return f"changed since {where}: " + ", ".join(what) + "; the earlier version is kept"
