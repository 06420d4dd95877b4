"""An item's identity in the store: its location's bytes, and the note a new version carries.

A location is (source, raw path, ordinal): the raw path is the path below the source, then each
archive member's name, joined by NUL (no file or member name holds one); the ordinal tells
apart locations of one file whose bytes are equal (a zip holding `same.jpg` three times).
"""

from __future__ import annotations

import re

_DISPLAY_ESCAPE = re.compile(r"\\(x[0-9a-f]{2}|\\|!)|!/")


def location_bytes(rec: dict) -> bytes:
    """A record's location bytes; for a record made without them (say, by the scan for a
    file whose worker died), read back from its display path (media.walk.raw_name's rule,
    restated here: the store does not import media)."""
    raw = rec.get("raw_path")
    if raw:
        return bytes(raw)
    return _DISPLAY_ESCAPE.sub(_unescape, rec["path"]).encode("utf-8", "surrogateescape")


def _unescape(m: re.Match[str]) -> str:
    esc = m.group(1)
    if esc is None:
        return "\0"  # an unescaped '!/': where an archive's members begin
    return chr(0xDC00 + int(esc[1:], 16)) if esc[0] == "x" else esc


def version_note(prev: dict | None, state: tuple) -> str | None:
    """What changed since the version recorded before, said on the new version."""
    if prev is None:
        return None
    what = [f"{name} {a} -> {b}" for name, a, b in zip(
        ("size", "mtime", "sha256"), (prev["size"], prev["mtime"], prev["sha256"]), state,
        strict=True) if a != b]
    return (f"changed since version {prev['version']} (scan run {prev['scan_run_id']}): "
            + ", ".join(what) + "; the earlier version is kept")
