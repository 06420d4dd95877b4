"""What a freedesktop.org thumbnail says of the picture it shows, from its PNG's own text.

The Thumbnail Managing Standard (0.9) has every thumbnailer store, in tEXt, zTXt or iTXt
chunks: `Thumb::URI` (the original's URI, required), `Thumb::MTime` (its mtime in seconds,
required), and optionally `Thumb::Size`, `Thumb::Mimetype`, `Thumb::Image::Width/Height`.
The file is named `md5(URI).png`. A thumbnail of a listed picture whose original is gone
still says where the original was, when it last changed and how big it was.

Read from the bytes the scan already holds (scan/worker.py hands over the same buffer the
picture is decoded from; nothing is opened again), and bounded: the walk stops at the first
IDAT (libpng and GdkPixbuf write the keys before the image data), only `Thumb::` keys are
kept, a chunk declaring more than MAX_CHUNK bytes is not read (a URI of a 4096-byte path,
percent-encoded, is at most 12 KiB) and a compressed one inflates to at most MAX_CHUNK.
Damage (a chunk cut short, a length past the end, bad compression, a bad CRC on a Thumb::
chunk) is a note, never an exception; what was read before it is kept.

Two URI forms are met: the standard's `file:///home/u/Pictures/a%20b.jpg`, and a bare path
(`/home/u/Pictures/a b.jpg`: ffmpegthumbnailer writes the path it was given, or the path
of the file:// URI it was given). `thumbnail_of` is the path either way (a URI of another
scheme, `smb://` or `trash:///`, is kept as it is). The name check tries the URI as written
and, for a bare path, its file:// URI as GLib's g_filename_to_uri escapes it.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from datetime import UTC, datetime
from urllib.parse import quote, unquote_to_bytes

from cairn.media.walk import display_name

Origin = dict[str, object]

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MAX_CHUNK = 64 * 1024  # bytes of one Thumb:: text chunk, as stored and as inflated
MAX_CHUNKS = 256  # chunks walked before IDAT (a thumbnail has about ten)
GLIB_PATH_SAFE = "/!$&'()*+,:=@"  # what g_filename_to_uri leaves unescaped, besides A-Za-z0-9-._~
KEYS = {"Thumb::URI": "uri", "Thumb::MTime": "mtime", "Thumb::Size": "size",
        "Thumb::Mimetype": "mime", "Thumb::Image::Width": "width",
        "Thumb::Image::Height": "height"}


def thumb_text(data: bytes) -> tuple[dict[str, str], list[str]]:
    """The `Thumb::` keys of a PNG's text chunks before its image data, and notes on damage
    met on the way. Never raises."""
    found: dict[str, str] = {}
    notes: list[str] = []
    if not data.startswith(PNG_MAGIC):
        return found, ["not a PNG: no Thumb:: text read"]
    pos = len(PNG_MAGIC)
    for _ in range(MAX_CHUNKS):
        if pos + 8 > len(data):
            notes.append(f"PNG ends at byte {len(data)} before its image data")
            return found, notes
        length, ctype = struct.unpack(">I4s", data[pos:pos + 8])
        name = ctype.decode("latin-1")
        if ctype in (b"IDAT", b"IEND"):
            return found, notes
        if ctype in (b"tEXt", b"zTXt", b"iTXt"):
            if length > MAX_CHUNK:
                notes.append(f"PNG chunk {name!r} at byte {pos} declares {length} bytes, over "
                             f"{MAX_CHUNK}: not read")
            elif pos + 12 + length > len(data):
                notes.append(f"PNG chunk {name!r} at byte {pos} is cut short "
                             f"({max(0, len(data) - pos - 8)} of {length} bytes)")
                return found, notes
            else:
                where = f"{name!r} at byte {pos}"
                body = data[pos + 8:pos + 8 + length]
                crc = int.from_bytes(data[pos + 8 + length:pos + 12 + length], "big")
                if _keep(ctype, body, found, notes, where) and zlib.crc32(ctype + body) != crc:
                    notes.append(f"PNG chunk {where}: bad CRC; its text may be damaged")
        pos += 12 + length
    notes.append(f"more than {MAX_CHUNKS} PNG chunks before the image data; rest not read")
    return found, notes


def _keep(ctype: bytes, body: bytes, found: dict[str, str], notes: list[str],
          where: str) -> bool:
    """One text chunk's `Thumb::` key and value into `found` (the first of a key wins);
    whether it was one."""
    key, sep, rest = body.partition(b"\0")
    if not sep or not key.startswith(b"Thumb::"):
        return False
    keyword = key.decode("latin-1")
    try:
        if ctype == b"tEXt":
            raw = rest
        elif ctype == b"zTXt":
            if rest[:1] != b"\0":
                raise ValueError("unknown compression method")
            raw = _inflate(rest[1:])
        else:  # iTXt: flag, method, language\0, translated keyword\0, text
            parts = rest[2:].split(b"\0", 2)
            if len(rest) < 2 or len(parts) != 3:
                raise ValueError("truncated iTXt header")
            if rest[0] and rest[1] != 0:
                raise ValueError("unknown compression method")
            raw = _inflate(parts[2]) if rest[0] else parts[2]
    except ValueError as e:
        notes.append(f"PNG chunk {where} ({keyword}): {e}")
        return True
    found.setdefault(keyword, _text(raw))
    return True


def inflate_text(blob: bytes, limit: int) -> bytes:
    """A PNG zTXt/iTXt chunk's zlib text, inflated to at most `limit` bytes (ValueError past
    it, or when damaged): a few KB may claim gigabytes. The provenance readers' PNG text goes
    through it too."""
    d = zlib.decompressobj()
    try:
        out = d.decompress(blob, limit)
    except zlib.error as e:
        raise ValueError(f"bad compressed text: {e}") from None
    if d.unconsumed_tail:
        raise ValueError(f"compressed text inflates beyond {limit} bytes")
    return out


def _inflate(blob: bytes) -> bytes:
    return inflate_text(blob, MAX_CHUNK)


def _text(raw: bytes) -> str:
    """A value as text, its bytes kept: a bare path is stored as Linux names it (UTF-8, or
    any bytes); bytes that are not UTF-8 become surrogates (`_shown` prints them)."""
    return raw.decode("utf-8", "surrogateescape")


def _shown(text: str) -> str:
    """Printable text of a value: bytes that are not UTF-8 as `\\xNN`."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def uri_path(uri: str) -> str:
    """The local path a Thumb::URI names: a file:// URI percent-decoded (bytes a file name
    may hold that are not UTF-8 shown as media/walk.display_name shows them), a bare path as
    it is, any other URI unchanged."""
    if uri.startswith("file:"):
        path = uri[len("file:"):]
        if path.startswith("//"):  # file://host/path, file:///path: the path
            rest = path[2:]
            path = rest[rest.find("/"):] if "/" in rest else ""
        return display_name(unquote_to_bytes(path.encode("utf-8", "surrogateescape")))
    return display_name(uri) if uri.startswith("/") else _shown(uri)


def name_candidates(uri: str) -> list[str]:
    """The URIs whose MD5 a cache may have named the thumbnail by: the URI as written and,
    for a bare path, its file:// URI as GLib escapes it (the standard's canonical form)."""
    out = [uri]
    if uri.startswith("/"):
        out.append("file://" + quote(uri.encode("utf-8", "surrogateescape"),
                                     safe=GLIB_PATH_SAFE))
    return out


def _iso(seconds: str) -> str | None:
    try:
        return datetime.fromtimestamp(int(float(seconds)), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (ValueError, OverflowError, OSError):
        return None


def _int(text: str) -> int | None:
    try:
        value = int(text.strip())
    except ValueError:
        return None
    return value if value >= 0 else None


def freedesktop_details(origin: Origin, data: bytes) -> tuple[Origin, list[str]]:
    """`origin` (media/thumbstores.thumbnail_origin's, with the name's `uri_md5`) completed
    from the thumbnail's own text: `thumbnail_of` (the original's path), `thumbnail_of_uri`,
    `thumbnail_of_mtime` (ISO-8601 UTC), `thumbnail_of_size`, `thumbnail_of_mime`,
    `thumbnail_of_width`/`_height`, and `uri_md5_matches` (whether the file name is the MD5
    of the URI; a mismatch is a `thumbnail_note`, not an error). Returns a new origin and the
    notes on damage met while reading."""
    found, notes = thumb_text(data)
    values = {KEYS[k]: v for k, v in found.items() if k in KEYS}
    out = dict(origin)
    uri = values.get("uri")
    if not uri:
        out["thumbnail_of"] = "not in the file: no Thumb::URI text before the image data"
        return out, notes
    out["thumbnail_of"] = uri_path(uri)
    out["thumbnail_of_uri"] = _shown(uri)
    if "mtime" in values:
        iso = _iso(values["mtime"])
        if iso is None:
            notes.append(f"Thumb::MTime is not a time in seconds: "
                         f"{_shown(values['mtime'][:80])!r}")
        else:
            out["thumbnail_of_mtime"] = iso
    for key in ("size", "width", "height"):
        if key in values and (n := _int(values[key])) is not None:
            out[f"thumbnail_of_{key}"] = n
    if "mime" in values:
        out["thumbnail_of_mime"] = _shown(values["mime"])
    name_md5 = origin.get("uri_md5")
    if isinstance(name_md5, str):
        hashes = [hashlib.md5(u.encode("utf-8", "surrogateescape")).hexdigest()
                  for u in name_candidates(uri)]
        out["uri_md5_matches"] = name_md5 in hashes
        if name_md5 not in hashes:
            out["thumbnail_note"] = (f"the file name is not the MD5 of its Thumb::URI "
                                     f"({hashes[-1]}): renamed, copied from another cache, "
                                     "or a URI in another encoding")
    return out, notes
