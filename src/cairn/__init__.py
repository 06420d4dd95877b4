"""Cairn: detect known and synthetic abuse imagery in evidence, trace it, share hash signals."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

__version__ = "0.1.0"


def default_home() -> Path:
    """The store directory when none is given: $CAIRN_HOME, else ~/.cairn. Here, not in
    cairn.store, so that a command that records nothing (`cairn hash`) never loads the
    store's SQLAlchemy and Alembic (~1 s of a whole `cairn hash` run)."""
    import os
    from pathlib import Path

    return Path(os.environ.get("CAIRN_HOME") or Path.home() / ".cairn")
