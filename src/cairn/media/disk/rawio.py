"""One base for the read-only, seekable byte streams the disk readers build over other
streams (split segments joined, an Ex01's media through libewf): the subclass sets `size`
and `pos` and reads in `readinto`; seeking is only arithmetic on `pos`."""

from __future__ import annotations

import io


class SeekableRaw(io.RawIOBase):
    size: int
    pos: int

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self.pos, 2: self.size}[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def tell(self) -> int:
        return self.pos
