"""Metadata as the file carries it: PNG text chunks, EXIF text tags, the XMP packet.

Read by our own code from the bytes, with limits, so that a damaged or hostile chunk becomes
a note on a finding rather than an exception, and so that nothing depends on what a decoder
chose to keep.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

from cairn.media.decode import exif_of
from cairn.media.thumbtext import inflate_text
from cairn.provenance.stealth import Stealth

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MAX_TEXT = 8 * 1024 * 1024  # bytes of one text chunk, decompressed
MAX_TEXT_TOTAL = 32 * 1024 * 1024  # of all text chunks of a file

EXIF_USER_COMMENT = 0x9286
EXIF_DATETIME_ORIGINAL = 0x9003
EXIF_OFFSET_TIME_ORIGINAL = 0x9011
EXIF_MAKER_NOTE = 0x927C
EXIF_IFD = 0x8769
TIFF_TAGS = {0x010E: "ImageDescription", 0x0131: "Software", 0x013B: "Artist",
             0x8298: "Copyright", 0x010F: "Make", 0x0110: "Model"}


@dataclass
class Metadata:
    text: dict[str, str] = field(default_factory=dict)  # source ("png:parameters") -> text
    xmp: bytes | None = None
    errors: list[str] = field(default_factory=list)
    exif: bytes | None = None  # a PNG's eXIf chunk (Pillow would decode pixels to find it)
    # metadata hidden in pixel LSBs (provenance/stealth.py), read once by examine() from the
    # decoded frame; None when absent. `stealth_error`: a signature whose payload is damaged.
    stealth: Stealth | None = None
    stealth_error: str | None = None

    def get(self, *keys: str) -> tuple[str, str] | None:
        """The first present of several keys, as (source, text)."""
        for k in keys:
            if k in self.text:
                return k, self.text[k]
        return None


def read_metadata(data: bytes, image: Any = None) -> Metadata:
    """Text metadata of a PNG (tEXt/zTXt/iTXt) or, through Pillow's EXIF reader, of a
    JPEG/WebP/TIFF/HEIC; plus the raw XMP packet wherever it lives. `image`: the header
    media/decode opened (`Picture.header`): metadata only, its pixels are never touched."""
    md = Metadata()
    if data.startswith(PNG_MAGIC):
        _png_text(data, md)
    if image is not None:
        _exif_text(image, md)
        xmp = image.info.get("xmp") or image.info.get("XML:com.adobe.xmp")
        if isinstance(xmp, str):
            xmp = xmp.encode("utf-8", "replace")
        if xmp and md.xmp is None:
            md.xmp = bytes(xmp)
    if md.xmp is None:
        md.xmp = _find_xmp_packet(data)
    return md


def _png_text(data: bytes, md: Metadata) -> None:
    pos, total = len(PNG_MAGIC), 0
    while pos + 8 <= len(data):
        length, ctype = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        where = f"PNG chunk {ctype.decode('latin-1')!r} at byte {pos}"
        if len(body) < length:
            md.errors.append(f"{where}: truncated ({len(body)} of {length} bytes)")
            return
        pos += 12 + length
        if ctype == b"IEND":
            return
        if ctype == b"eXIf" and md.exif is None:
            md.exif = body
            continue
        if ctype not in (b"tEXt", b"zTXt", b"iTXt", b"comf"):
            continue
        try:  # `comf`: ComfyUI SaveAnimatedPNG's private chunk, laid out as tEXt
            key, text = _text_chunk(b"tEXt" if ctype == b"comf" else ctype, body)
        except ValueError as e:
            md.errors.append(f"{where}: {e}")
            continue
        total += len(text)
        if total > MAX_TEXT_TOTAL:
            md.errors.append(f"{where}: text chunks exceed {MAX_TEXT_TOTAL} bytes; rest ignored")
            return
        if key == "XML:com.adobe.xmp":
            md.xmp = text.encode("utf-8")
        else:
            md.text.setdefault(f"png:comf:{key}" if ctype == b"comf" else f"png:{key}", text)


def _inflate(blob: bytes) -> bytes:
    return inflate_text(blob, MAX_TEXT)


def _text_chunk(ctype: bytes, body: bytes) -> tuple[str, str]:
    key, sep, rest = body.partition(b"\0")
    if not sep or not 1 <= len(key) <= 79:
        raise ValueError("no keyword")
    keyword = key.decode("latin-1")
    if ctype == b"tEXt":
        if len(rest) > MAX_TEXT:
            raise ValueError(f"text larger than {MAX_TEXT} bytes")
        return keyword, rest.decode("latin-1")
    if ctype == b"zTXt":
        if not rest or rest[0] != 0:
            raise ValueError("unknown compression method")
        return keyword, _inflate(rest[1:]).decode("latin-1")
    if len(rest) < 2:  # iTXt: flag, method, language\0, translated keyword\0, text
        raise ValueError("truncated iTXt header")
    flag, method = rest[0], rest[1]
    parts = rest[2:].split(b"\0", 2)
    if len(parts) != 3:
        raise ValueError("truncated iTXt header")
    text = parts[2]
    if flag:
        if method != 0:
            raise ValueError("unknown compression method")
        text = _inflate(text)
    elif len(text) > MAX_TEXT:
        raise ValueError(f"text larger than {MAX_TEXT} bytes")
    return keyword, text.decode("utf-8", "replace")


def decode_user_comment(raw: bytes | str) -> str:
    """EXIF UserComment: an 8-byte charset id, then the text. A1111 writes `UNICODE\\0` +
    UTF-16 big-endian (piexif); some tools write little-endian; tell them apart by where the
    zero bytes of ASCII text fall."""
    if isinstance(raw, str):
        return raw
    head, body = raw[:8], raw[8:]
    if head == b"UNICODE\0":
        if body[:2] in (b"\xfe\xff", b"\xff\xfe"):
            return body.decode("utf-16")
        even_zeros = body[0::2].count(0)
        odd_zeros = body[1::2].count(0)
        return body.decode("utf-16-be" if even_zeros >= odd_zeros else "utf-16-le",
                           "replace")
    if head in (b"ASCII\0\0\0", b"\0" * 8):
        return body.decode("latin-1").rstrip("\0")
    return raw.decode("utf-8", "replace").rstrip("\0")


def _exif_text(image: Any, md: Metadata) -> None:
    raw = md.exif
    profile = md.text.get("png:Raw profile type exif")  # ImageMagick's hex-in-text EXIF
    if raw is None and profile:
        try:
            raw = bytes.fromhex("".join(profile.split("\n")[3:]))
        except ValueError:
            md.errors.append("PNG text 'Raw profile type exif': not hexadecimal")
    try:
        exif = exif_of(image, raw)
    except Exception as e:  # noqa: BLE001 - Pillow raises many types for bad EXIF
        md.errors.append(f"EXIF: unreadable ({type(e).__name__}: {e})")
        return
    for tag, name in TIFF_TAGS.items():
        v = exif.get(tag)
        if isinstance(v, bytes):
            v = v.decode("utf-8", "replace")
        if isinstance(v, str) and v.strip("\0 "):
            md.text.setdefault(f"exif:{name}", v.rstrip("\0"))
    try:
        ifd = exif.get_ifd(EXIF_IFD)
    except Exception as e:  # noqa: BLE001
        md.errors.append(f"EXIF IFD: unreadable ({type(e).__name__}: {e})")
        return
    taken = ifd.get(EXIF_DATETIME_ORIGINAL)
    if isinstance(taken, str) and taken.strip("\0 "):
        offset = ifd.get(EXIF_OFFSET_TIME_ORIGINAL)
        md.text.setdefault("exif:DateTimeOriginal", taken.strip("\0 ") + (
            " " + offset.strip("\0 ") if isinstance(offset, str) else ""))
    uc = ifd.get(EXIF_USER_COMMENT)
    if uc:
        text = decode_user_comment(uc)
        if text.strip("\0 "):
            md.text.setdefault("exif:UserComment", text)
    mn = ifd.get(EXIF_MAKER_NOTE)
    if isinstance(mn, bytes) and mn.lstrip()[:1] in (b"{", b"["):  # JSON maker notes only
        md.text.setdefault("exif:MakerNote", mn.decode("utf-8", "replace"))


def _find_xmp_packet(data: bytes, limit: int = 4 * 1024 * 1024) -> bytes | None:
    """The XMP packet of a format Pillow did not surface it for (it is plain text)."""
    start = data.find(b"<x:xmpmeta")
    if start < 0:
        return None
    end = data.find(b"</x:xmpmeta>", start, start + limit)
    return data[start:end + len(b"</x:xmpmeta>")] if end > 0 else None
