"""EWF2 (Ex01) images, read through libewf-python (pyewf), libewf's own reader:
dissect.evidence reads only EWF1 (E01). Read-only and streamed: libewf inflates, caches and
bounds-checks the chunks of every segment; nothing is written."""

from __future__ import annotations

from typing import Any, BinaryIO

from cairn.media.disk.rawio import SeekableRaw


class Ex01Error(Exception):
    """The Ex01 cannot be opened: what and why."""


class Ex01Stream(SeekableRaw):
    """An EWF2 (Ex01) image's media through libewf's reader (pyewf), read-only: libewf
    inflates, caches and bounds-checks the chunks; closing it closes the handle."""

    def __init__(self, handle: Any) -> None:
        self.handle, self.size, self.pos = handle, handle.get_media_size(), 0

    def readinto(self, b: Any) -> int:
        view = memoryview(b).cast("B")
        want = min(len(view), self.size - self.pos)
        if want <= 0:
            return 0
        data = self.handle.read_buffer_at_offset(want, self.pos)
        view[: len(data)] = data
        self.pos += len(data)
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self.handle.close()
        super().close()


def open_ex01(files: list[BinaryIO]) -> tuple[BinaryIO, int, dict[str, str]]:
    """(media stream, media size, stored hashes {"md5", "sha1"} where set) of the Ex01 whose
    segment files, in order, are `files`."""
    try:
        import pyewf  # lazy: only Ex01 images pay for the import
    except ImportError:
        raise Ex01Error("EWF2 (Ex01) image: its reader libewf-python (pyewf) is not "
                        "installed here") from None
    handle = pyewf.handle()
    try:
        handle.open_file_objects(files)
    except (OSError, OverflowError, ValueError) as e:
        raise Ex01Error(f"EWF2 (Ex01) image unreadable: {e}") from None
    stream = Ex01Stream(handle)
    hashes = handle.get_hash_values() or {}
    stored = {k: str(hashes[n]).lower() for k, n in (("md5", "MD5"), ("sha1", "SHA1"))
              if hashes.get(n) and any(c != "0" for c in str(hashes[n]))}
    return stream, stream.size, stored  # type: ignore[return-value]
