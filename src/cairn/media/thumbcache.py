"""Thumbnail stores read as containers: each cached thumbnail becomes a member (then an item,
PDQ-hashed like any picture), its cache entry's metadata kept as the member's `origin`. A
thumbnail of a listed picture is evidence the picture was once on the device, even when the
picture itself is gone.

Windows Explorer `thumbcache_*.db` (Vista to 11), after Joachim Metz's "Windows Explorer
Thumbnail Cache database format" (libwtcdb documentation): a 24-byte header (`CMMM`, format
version 20 Vista, 21 Win 7, 30 Win 8, 31 Win 8.1, 32 Win 10/11, cache type, offsets, count),
then cache entries, each `CMMM`, entry size, 64-bit entry hash, identifier size, padding
size, data size, CRC-64s, the UTF-16 identifier, padding, and the data (BMP, JPEG or PNG):

    version  header  identifier size at  data size at
    20       56      24                  32   (an 8-byte UTF-16 file extension at 16)
    21       48      16                  24
    30+      56      16                  24

Entries are walked by their sizes; where the bytes at the next offset are not an entry (a
header variant of 28 bytes, damage, an overwritten tail) the reader scans forward for the
next `CMMM` and says how many bytes it skipped. The CRC-64s are not verified: their
polynomial is not documented. Entries with no data (hash 0, or data size 0) are counted.

Android `.thumbdata*` files (MediaStore's MiniThumbFile, AOSP `android.media`): fixed-size
slots (10000 bytes in AOSP; OEM builds vary), each 1 byte "has data", 8 bytes magic, 4 bytes
length, then a JPEG. Because slot sizes vary the JPEGs are carved (media/carve.py) and each
one's slot header is read where the AOSP layout predicts it: slot number and magic when it
matches, the offset alone when it does not.

iOS `.ithmb` stores hold raw pixel strips whose geometry lives in the Photos database; they
are not read (the scan notes them), but iOS `PhotoData/Thumbnails/V2/.../<n>.JPG` files are
ordinary JPEGs, marked by media/thumbstores.py (with Android `.thumbnails/` JPEGs and
freedesktop.org thumbnails) with the picture they show, wherever they are met.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from cairn.media.carve import CarveStats, carve
from cairn.media.extraction import Origin

SIG = b"CMMM"
RESYNC_WINDOW = 1 << 20
MAX_IDENTIFIER = 64 * 1024  # bytes of UTF-16; a path or a hex id, far less in practice
WINDOWS = {20: "Vista", 21: "7", 30: "8", 31: "8.1", 32: "10/11"}
_CACHE_TYPES = {
    20: ("32", "96", "256", "1024", "sr"), 21: ("32", "96", "256", "1024", "sr"),
    30: ("16", "32", "48", "96", "256", "1024", "sr", "wide", "exif"),
    31: ("16", "32", "48", "96", "256", "1024", "1600", "sr", "wide", "exif",
         "wide_alternate"),
    32: ("16", "32", "48", "96", "256", "768", "1280", "1920", "2560", "sr", "wide", "exif",
         "wide_alternate", "custom_stream"),
}
# version -> (header size, identifier size offset); padding and data sizes follow it
_LAYOUT = {20: (56, 24), 21: (48, 16)}
ANDROID_SLOT = 10000
ANDROID_HEADER = 13


class ThumbcacheError(Exception):
    """Not a thumbnail store, or one whose header cannot be read."""


@dataclass(frozen=True, slots=True)
class Thumb:
    name: str
    data: bytes | None
    origin: Origin
    error: str | None = None


def _ext(data: bytes) -> str:
    if data.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if data.startswith(b"\x89PNG"):
        return "png"
    if data.startswith(b"BM"):
        return "bmp"
    return "bin"


def _le(b: bytes, at: int, n: int) -> int:
    return int.from_bytes(b[at:at + n], "little")


def _resync(f: BinaryIO, at: int, size: int) -> int | None:
    """The next offset >= at holding `CMMM`, None when there is none before the end."""
    while at < size:
        f.seek(at)
        block = f.read(RESYNC_WINDOW + 3)
        i = block.find(SIG)
        if i >= 0:
            return at + i
        if len(block) <= 3:
            return None
        at += len(block) - 3
    return None


def windows_entries(f: BinaryIO, *, max_entry: int, max_entries: int,
                    notes: list[str] | None = None) -> Iterator[Thumb]:
    """The thumbnails of a Windows thumbcache_*.db held in a seekable stream. `notes`
    receives what is worth saying about the file as a whole (skipped bytes, empty entries)."""
    notes = notes if notes is not None else []
    f.seek(0, 2)
    size = f.tell()
    f.seek(0)
    head = f.read(24)
    if len(head) < 24 or head[:4] != SIG:
        raise ThumbcacheError("not a Windows thumbcache database (no CMMM header)")
    version, ctype = _le(head, 4, 4), _le(head, 8, 4)
    if version not in WINDOWS:
        raise ThumbcacheError(f"thumbcache format version {version} is not one Cairn reads "
                              f"(known: {', '.join(map(str, WINDOWS))})")
    hdr_size, id_at = _LAYOUT.get(version, (56, 16))
    types = _CACHE_TYPES[version]
    cache = f"thumbcache_{types[ctype]}.db" if ctype < len(types) else f"type {ctype}"
    base: Origin = {"container": "thumbcache", "thumbnail": True, "format_version": version,
                    "windows": WINDOWS[version], "cache": cache,
                    "checksums": "not verified (the CRC-64 polynomial is not documented)"}
    p, n, empty, skipped = 24, 0, 0, 0
    while p + hdr_size <= size:
        f.seek(p)
        hdr = f.read(hdr_size)
        if hdr[:4] != SIG:
            nxt = _resync(f, p + 1, size)
            if nxt is None:
                break
            skipped += nxt - p
            p = nxt
            continue
        entry_size, entry_hash = _le(hdr, 4, 4), _le(hdr, 8, 8)
        id_size, pad, data_size = _le(hdr, id_at, 4), _le(hdr, id_at + 4, 4), \
            _le(hdr, id_at + 8, 4)
        if entry_size < hdr_size or p + entry_size > size or \
                hdr_size + id_size + pad + data_size > entry_size or id_size > MAX_IDENTIFIER:
            nxt = _resync(f, p + 4, size)  # not a consistent entry: find the next one
            skipped += (nxt if nxt is not None else size) - p
            if nxt is None:
                break
            p = nxt
            continue
        if entry_hash == 0 or data_size == 0:
            empty += 1
            p += entry_size
            continue
        ident = f.read(id_size).decode("utf-16-le", "replace").rstrip("\0")
        origin: Origin = dict(base, entry_hash=f"{entry_hash:016x}", identifier=ident[:512],
                              entry_offset=p)
        n += 1
        if n > max_entries:
            notes.append(f"more than {max_entries} entries; rest not read")
            return
        name = f"{entry_hash:016x}"
        if data_size > max_entry:
            yield Thumb(name + ".bin", None, origin,
                        f"cache entry declares {data_size} bytes, over the limit of "
                        f"{max_entry}; not read")
        else:
            f.seek(p + hdr_size + id_size + pad)
            data = f.read(data_size)
            yield Thumb(f"{name}.{_ext(data)}", data, origin)
        p += entry_size
    if skipped:
        notes.append(f"{skipped} bytes between entries were not entries (damage, a header "
                     "variant or an overwritten tail); skipped to the next CMMM")
    if empty and notes:
        notes.append(f"{empty} cache entries without data (free or placeholder)")


def android_thumbdata(f: BinaryIO, *, max_entry: int, max_entries: int,
                      notes: list[str] | None = None) -> Iterator[Thumb]:
    """The JPEG thumbnails of an Android `.thumbdata*` store (seekable stream)."""
    notes = notes if notes is not None else []
    stats = CarveStats()
    f.seek(0)
    for n, c in enumerate(carve(f, kinds=("jpeg",), max_size=max_entry, stats=stats), 1):
        if n > max_entries:
            notes.append(f"more than {max_entries} thumbnails; rest not read")
            break
        origin: Origin = {"container": "android-thumbdata", "thumbnail": True,
                          "offset": c.offset}
        slot_start = c.offset - ANDROID_HEADER
        name = c.name
        if slot_start >= 0 and slot_start % ANDROID_SLOT == 0:
            f.seek(slot_start)
            hdr = f.read(ANDROID_HEADER)
            length = int.from_bytes(hdr[9:13], "big")
            if hdr[:1] == b"\x01" and length >= c.length:
                slot = slot_start // ANDROID_SLOT
                origin.update(slot=slot, magic=f"{int.from_bytes(hdr[1:9], 'big'):016x}",
                              layout="AOSP MiniThumbFile (10000-byte slots)")
                name = f"slot-{slot}.jpg"
        if "slot" not in origin:
            origin["layout"] = "slot header not where AOSP puts it; carved by signature"
        yield Thumb(name, c.data, origin)
    rejected = sum(stats.rejected.values())
    if rejected:
        notes.append(f"{rejected} JPEG signature(s) that were not whole pictures "
                     "(overwritten or cut slots): " + stats.summary())
