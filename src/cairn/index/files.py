"""What every persisted index folder shares: a header.json naming its format and version."""

from __future__ import annotations

import json
from pathlib import Path


class IndexFileError(Exception):
    """An index on disk that is truncated, foreign, or of another version."""


def read_header(folder: Path, fmt: str, version: int, what: str) -> dict:
    """The folder's header, or IndexFileError saying why it cannot be used."""
    try:
        header = json.loads((folder / "header.json").read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise IndexFileError(f"{folder}: not a cairn {what} ({e})") from None
    if not isinstance(header, dict) or header.get("format") != fmt:
        raise IndexFileError(f"{folder}: not a cairn {what}")
    if header.get("version") != version:
        raise IndexFileError(f"{folder}: {what} version {header.get('version')}, this cairn "
                             f"reads version {version}; rebuild it")
    return header
