"""What one scan worker may use for one file (memory and time), and sizes as people write them.

Memory: `default_caps` gives each worker min(4 GiB, 80% of RAM / workers), never under
`MEMORY_FLOOR`. Measured (Python 3.11, the pinned wheels): a worker holds 0.32 GB of address
space after imports and peaks at 0.85 GB on ordinary photos, a 720p video and a zip in
`fast` mode; a 100-megapixel JPEG (the default `--max-pixels`) in `exact` mode peaks at 3.84 GB.
The ceiling is on address space, not resident memory, so it holds whatever the allocator does.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

GiB = 1 << 30
MEMORY_CEILING = 4 * GiB  # enough for a 100 MP picture in exact mode (3.84 GB measured)
MEMORY_FLOOR = 2 * GiB  # the default never goes below: ordinary files peak at 0.85 GB
MEMORY_MIN = 1 * GiB  # less is refused: a worker holds 0.32 GB before reading anything
DEFAULT_TIMEOUT = 300.0


@dataclass(frozen=True, slots=True)
class Caps:
    """What one worker may use for one top-level file."""

    memory: int = MEMORY_CEILING  # bytes of address space (RLIMIT_AS)
    timeout: float = DEFAULT_TIMEOUT  # seconds

    def to_dict(self) -> dict:
        return {"max_worker_memory": self.memory, "file_timeout": self.timeout}


def physical_memory() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def default_caps(workers: int, memory: int | None = None, timeout: float | None = None) -> Caps:
    """A fair share of RAM per worker, so all of them at their ceiling still fit."""
    if memory is None:
        memory = max(MEMORY_FLOOR, min(MEMORY_CEILING, int(0.8 * physical_memory() / workers)))
    return Caps(memory, DEFAULT_TIMEOUT if timeout is None else timeout)


_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?\s*", re.IGNORECASE)


def parse_size(text: str) -> int:
    """'4G', '1536M', '2.5GiB', '4294967296' -> bytes (K, M, G, T are powers of 1024)."""
    m = _SIZE.fullmatch(text)
    if not m:
        raise ValueError(f"not a size: {text!r} (e.g. 4G, 1536M)")
    return int(float(m.group(1)) * 1024 ** " KMGT".index(m.group(2).upper() or " "))


def format_size(n: int) -> str:
    return f"{n / GiB:.1f} GiB" if n >= GiB else f"{n / (1 << 20):.0f} MiB"
