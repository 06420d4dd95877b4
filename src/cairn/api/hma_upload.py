"""Uploads to the HMA endpoints: multipart bytes read under a size cap, hashed as `cairn hash`
hashes a file.

HMA names the content type by the form field (`photo` or `video`). The body is counted as it
arrives and refused with 413 once past `max_bytes` (a Content-Length over it is refused before
a byte is read). The bytes are sniffed, then hashed by `scan.worker.process_blob` with
`cairn hash`'s defaults (PDQ `exact`: bit-identical to python-threatexchange; one video frame
a second), so a picture's PDQ here is the one `cairn hash` prints. Pixels are decoded once, by
media/decode, under `Limits.max_pixels`; video frames under the video limits. A file that is
not what its field says, or cannot be decoded, is refused with the reason. Nothing is stored:
the bytes live only for the request. Hashing runs in the request's thread, not in an isolated
worker process as a scan's files do (the size and pixel caps bound it instead).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass

from fastapi import Request
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from cairn.api.hma_index import CONTENT_TYPES
from cairn.media.limits import Limits
from cairn.media.sniff import HEAD_BYTES, kind_of, sniff
from cairn.records import ScanRecord
from cairn.scan.worker import HashOptions, process_blob
from cairn.signals.pdq import MIN_QUALITY

MiB = 1 << 20
DEFAULT_MAX_UPLOAD = 64 * MiB  # a photo or a short video; larger ones belong to `cairn scan`
OPTIONS = HashOptions(mode="exact", video_interval=1.0, provenance=False)  # `cairn hash`'s


class UploadError(Exception):
    """A refused upload: `status` and HMA's `{"message": ...}` text."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class Upload:
    content_type: str  # photo | video
    data: bytes
    fields: dict[str, str]  # the other (text) form fields


async def _capped(request: Request, max_bytes: int) -> AsyncGenerator[bytes, None]:
    seen = 0
    async for chunk in request.stream():
        seen += len(chunk)
        if seen > max_bytes:
            raise UploadError(413, f"upload over the limit of {max_bytes} bytes")
        yield chunk


async def read_upload(request: Request, max_bytes: int) -> Upload:
    """The one `photo` or `video` file of a multipart body, read under `max_bytes`."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise UploadError(413, f"upload of {declared} bytes is over the limit of {max_bytes}")
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise UploadError(400, "expected a multipart/form-data upload with a `photo` or "
                               "`video` file (Cairn never fetches content: send the bytes)")
    parser = MultiPartParser(request.headers, _capped(request, max_bytes), max_files=2,
                             max_fields=16, max_part_size=64 * 1024)
    try:
        form = await parser.parse()
    except MultiPartException as e:
        raise UploadError(400, f"malformed multipart body: {e.message}") from None
    try:
        files = [(k, v) for k, v in form.multi_items() if isinstance(v, UploadFile)]
        given = [k for k, _ in files if k in CONTENT_TYPES]
        if len(given) != 1:
            got = ", ".join(k for k, _ in files) or "none"
            raise UploadError(400, "send exactly one file, in a form field named `photo` or "
                                   f"`video` (file fields sent: {got})")
        upload = dict(files)[given[0]]
        data = await upload.read()
        fields = {k: v for k, v in form.multi_items() if isinstance(v, str)}
        return Upload(given[0], data, fields)
    finally:
        await form.close()


def hash_upload(upload: Upload, limits: Limits) -> dict[str, str]:
    """HMA's `/h/hash` answer for the bytes: `{"pdq": HEX}` for a photo (`""` when its quality
    is under 50, as HMA writes it), `{"video_md5": MD5, "vpdq": SIGNAL}` for a video."""
    kind_expected = "image" if upload.content_type == "photo" else "video"
    media_type = sniff(upload.data[:HEAD_BYTES])
    if kind_of(media_type) != kind_expected:
        raise UploadError(400, f"the `{upload.content_type}` file is not a {kind_expected} "
                               f"Cairn can decode (its bytes read as {media_type})")
    out: list[ScanRecord] = []
    process_blob("upload", None, upload.data, None, 0, limits, out, OPTIONS)
    rec = out[-1]
    why = "; ".join(e["message"] for e in rec.get("errors", [])) or "no frame could be hashed"
    if upload.content_type == "photo":
        p = rec.get("pdq")
        if not p:
            raise UploadError(400, f"the photo could not be decoded: {why}")
        return {"pdq": p["hash"] if p["quality"] >= MIN_QUALITY else ""}
    v = rec.get("vpdq")
    if not v:
        raise UploadError(400, f"the video could not be decoded: {why}")
    return {"video_md5": rec["md5"], "vpdq": v["signal"]}
