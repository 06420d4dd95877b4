"""Metadata of media that is not decoded as a picture (video, audio): the container's own
tags and XMP packet, read from the stream by our own code, with limits, into the same
`Metadata` the generator readers take for pictures (ComfyUI's `prompt`/`workflow` MP4 tags,
a video's XMP digital source type).

MP4/MOV/M4V/3GP (provenance/bmff.py walks the boxes) carry tags in three layouts, all read
into `Metadata.text` as `mp4:<name>`:
- `meta` with an `mdta` `keys` box and an `ilst` whose items are numbered by key (what
  FFmpeg writes with `movflags=use_metadata_tags`, as ComfyUI's video nodes do, and Apple's
  QuickTime metadata): `mp4:prompt`, `mp4:workflow`;
- `meta`/`ilst` iTunes-style items (`©cmt`, `©too`, `----` with a `name`): FFmpeg's MP4
  default, where older VideoHelperSuite's `comment` lands (`mp4:comment`);
- QuickTime `udta` text boxes (`©cmt`: 16-bit length, 16-bit language, text): FFmpeg's MOV.
The XMP packet comes from the XMP `uuid` box or `udta/XMP_`.

WebM/MKV (provenance/ebml.py): the Segment's global `Tags/Tag/SimpleTag` pairs, as
`mkv:<name>` (FFmpeg upper-cases the names; they are lower-cased here: `mkv:prompt`).
"""

from __future__ import annotations

import struct
from typing import BinaryIO

from cairn.provenance import bmff, ebml
from cairn.provenance.containers import MAX_TEXT_TOTAL, Metadata

BMFF_TYPES = {"video/mp4", "video/quicktime", "video/3gpp", "audio/mp4", "video/x-m4v"}
MATROSKA_TYPES = {"video/webm", "video/x-matroska", "audio/webm", "audio/x-matroska"}
MAX_KEYS = 4096  # entries of one `keys` box: FFmpeg writes one per tag
# iTunes/QuickTime item types -> the names FFmpeg gives them (its mov muxer's table)
ITEM_NAMES = {b"\xa9cmt": "comment", b"\xa9des": "description", b"desc": "description",
              b"\xa9nam": "title", b"\xa9too": "encoder", b"\xa9swr": "encoder",
              b"\xa9ART": "artist", b"\xa9day": "date", b"\xa9inf": "information",
              b"\xa9key": "keywords", b"cprt": "copyright", b"\xa9cpy": "copyright"}


def read_media_tags(f: BinaryIO, media_type: str) -> Metadata:
    """The tags of a video or audio file as `Metadata.text` (`mp4:prompt`, `mp4:comment`, …)
    and its XMP packet; an empty `Metadata` for formats not read (yet). Damage is a note in
    `errors`."""
    md = Metadata()
    if media_type in MATROSKA_TYPES:
        total = [0]
        for name, text in ebml.read_tags(f, md.errors).items():
            _put(md, name, text, total, "mkv")
        return md
    if media_type not in BMFF_TYPES:
        return md
    top = bmff.read_top_level(f)
    md.errors.extend(top.errors)
    md.xmp = top.xmp
    if top.moov is not None:
        _read_moov(top.moov, md)
    elif "moov" not in top.types:
        md.errors.append("MP4: no 'moov' box (truncated, or not an MP4)")
    return md


def _put(md: Metadata, name: str, text: str, total: list[int], prefix: str = "mp4") -> None:
    total[0] += len(text)
    if total[0] > MAX_TEXT_TOTAL:
        if not any("tags exceed" in e for e in md.errors):
            md.errors.append(f"{prefix}: tags exceed {MAX_TEXT_TOTAL} characters; rest ignored")
        return
    md.text.setdefault(f"{prefix}:{name}", text)


def _read_moov(moov: bytes, md: Metadata) -> None:
    total = [0]
    for path, box in bmff.walk(moov, md.errors, "MP4 moov"):
        if box.type == b"meta":
            _read_meta(moov, box, md, total)
        elif path and path[-1] == b"udta" and box.type[:1] == b"\xa9":
            text = _qt_text(moov, box)
            if text is not None:
                _put(md, ITEM_NAMES.get(box.type, bmff.fourcc(box.type)), text, total)
        elif box.type == b"XMP_" and path and path[-1] == b"udta" and md.xmp is None:
            md.xmp = moov[box.start:box.end]


def _read_meta(data: bytes, meta: bmff.Box, md: Metadata, total: list[int]) -> None:
    """One `meta` box: its `keys` (if any) name the numbered items of its `ilst`."""
    errors = md.errors
    kids = list(bmff.children(data, bmff.meta_start(data, meta), meta.end, [], "MP4 meta"))
    keys: list[str] = []
    for box in kids:
        if box.type == b"keys":
            keys = _keys(data, box, errors)
    for box in kids:
        if box.type != b"ilst":
            continue
        for item in bmff.children(data, box.start, box.end, [], "MP4 ilst"):
            name = _item_name(data, item, keys)
            if name is None:
                continue
            text = _item_text(data, item)
            if text is not None:
                _put(md, name, text, total)


def _keys(data: bytes, box: bmff.Box, errors: list[str]) -> list[str]:
    """`keys`: version/flags, entry count, then (size, namespace, name) per key."""
    if box.size < 8:
        errors.append(f"MP4 'keys' box at byte {box.at}: truncated")
        return []
    count = struct.unpack(">I", data[box.start + 4:box.start + 8])[0]
    if count > MAX_KEYS:
        errors.append(f"MP4 'keys' box at byte {box.at}: {count} keys, over the {MAX_KEYS} "
                      "limit; the first are read")
    out: list[str] = []
    pos = box.start + 8
    for _ in range(min(count, MAX_KEYS)):
        if pos + 8 > box.end:
            errors.append(f"MP4 'keys' box at byte {box.at}: says {count} keys, holds "
                          f"{len(out)}")
            break
        size = struct.unpack(">I", data[pos:pos + 4])[0]
        if size < 8 or pos + size > box.end:
            errors.append(f"MP4 'keys' box at byte {box.at}: key {len(out) + 1} has an "
                          f"impossible size {size}")
            break
        out.append(data[pos + 8:pos + size].decode("utf-8", "replace"))
        pos += size
    return out


def _item_name(data: bytes, item: bmff.Box, keys: list[str]) -> str | None:
    if item.type == b"----":  # iTunes freeform: `mean`, `name`, `data`
        for sub in bmff.children(data, item.start, item.end, []):
            if sub.type == b"name" and sub.size >= 4:
                return data[sub.start + 4:sub.end].decode("utf-8", "replace")
        return None
    index = struct.unpack(">I", item.type)[0]
    if keys and 1 <= index <= len(keys):  # mdta items are numbered by their key
        return keys[index - 1]
    return ITEM_NAMES.get(item.type) or (bmff.fourcc(item.type) if item.type[:1] == b"\xa9"
                                         else None)


def _item_text(data: bytes, item: bmff.Box) -> str | None:
    """The first text `data` box of an item: type (1 = UTF-8, 2 = UTF-16BE), locale, value."""
    for sub in bmff.children(data, item.start, item.end, []):
        if sub.type != b"data" or sub.size < 8:
            continue
        kind = struct.unpack(">I", data[sub.start:sub.start + 4])[0] & 0xFFFFFF
        value = data[sub.start + 8:sub.end]
        if kind == 1:
            return value.decode("utf-8", "replace")
        if kind == 2:
            return value.decode("utf-16-be", "replace")
    return None


def _qt_text(data: bytes, box: bmff.Box) -> str | None:
    """A QuickTime `udta` text box: (16-bit length, 16-bit language, text), first entry;
    some writers put an iTunes `data` box there instead."""
    if data[box.start + 4:box.start + 8] == b"data":
        return _item_text(data, box)
    if box.size < 4:
        return None
    length = struct.unpack(">H", data[box.start:box.start + 2])[0]
    text = data[box.start + 4:min(box.start + 4 + length, box.end)]
    return text.decode("utf-8", "replace")
