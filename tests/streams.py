"""Streams as readers of evidence meet them beyond a plain file: one that cannot seek."""

from __future__ import annotations

import io


class ForwardOnly(io.RawIOBase):
    """A stream that cannot seek (a pipe, a decompressor)."""

    def __init__(self, data: bytes) -> None:
        self.f = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # noqa: ANN001 - a writable buffer
        data = self.f.read(len(b))
        b[:len(data)] = data
        return len(data)
