"""Matroska/WebM global tags (`Segment/Tags/Tag/SimpleTag`: TagName, TagString), read by our
own EBML walker with limits.

An EBML element is a variable-length ID (1-4 bytes, marker bits kept), a variable-length
size (1-8 bytes, marker removed; all ones = unknown) and the payload. The Segment's children
are walked by seeking, so clusters (the media) are never read; an unknown-size child (a live
stream's cluster) ends the walk, and the SeekHead's pointer to `Tags`, when there is one,
is followed instead. Only `Tags` is loaded (at most MAX_TAGS bytes). FFmpeg writes the
container's metadata there with upper-cased names (`PROMPT`, `COMMENT`); they come back
lower-cased. Damage is a note in `errors`, never an exception.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

EBML = 0x1A45DFA3
SEGMENT = 0x18538067
SEEKHEAD, SEEK, SEEK_ID, SEEK_POSITION = 0x114D9B74, 0x4DBB, 0x53AB, 0x53AC
TAGS, TAG, TARGETS, SIMPLE_TAG = 0x1254C367, 0x7373, 0x63C0, 0x67C8
TAG_NAME, TAG_STRING = 0x45A3, 0x4487
TRACK_UID = 0x63C5
UNKNOWN = -1
MAX_TAGS = 16 * 1024 * 1024
MAX_SEEKHEAD = 1024 * 1024
MAX_CHILDREN = 100_000  # Segment children visited (clusters of a long video: thousands)
MAX_ELEMENTS = 200_000  # elements parsed inside Tags


def _vint(data: bytes, pos: int, keep_marker: bool) -> tuple[int, int] | None:
    """(value, length) of the variable-length integer at `pos`, or None."""
    if pos >= len(data):
        return None
    first = data[pos]
    length = 1
    while length <= 8 and not first & (0x80 >> (length - 1)):
        length += 1
    if length > (4 if keep_marker else 8) or pos + length > len(data):
        return None
    value = first if keep_marker else first & (0xFF >> length)
    for b in data[pos + 1:pos + length]:
        value = (value << 8) | b
    if not keep_marker and value == (1 << (7 * length)) - 1:
        return UNKNOWN, length
    return value, length


def header(data: bytes, pos: int) -> tuple[int, int, int] | None:
    """(id, size or UNKNOWN, header length) of the element at `pos`, or None."""
    eid = _vint(data, pos, True)
    if eid is None:
        return None
    size = _vint(data, pos + eid[1], False)
    if size is None:
        return None
    return eid[0], size[0], eid[1] + size[1]


def elements(data: bytes, start: int, end: int, errors: list[str],
             budget: list[int]) -> Iterator[tuple[int, int, int]]:
    """(id, payload start, payload end) of the elements laid end to end in data[start:end]."""
    pos = start
    while pos < end:
        if budget[0] <= 0:
            errors.append(f"Matroska tags: more than {MAX_ELEMENTS} elements; rest not read")
            return
        budget[0] -= 1
        h = header(data, pos)
        if h is None:
            errors.append(f"Matroska tags: bad element header at byte {pos}")
            return
        eid, size, hlen = h
        if size == UNKNOWN or pos + hlen + size > end:
            errors.append(f"Matroska tags: element {eid:#x} at byte {pos} runs past its parent")
            return
        yield eid, pos + hlen, pos + hlen + size
        pos += hlen + size


def _read_at(f: BinaryIO, pos: int, n: int) -> bytes:
    f.seek(pos)
    return f.read(n)


def _seek_tags(f: BinaryIO, at: int, size: int, seg_start: int, errors: list[str]
               ) -> int | None:
    """The file offset of `Tags` that a SeekHead (at `at`, payload `size`) points to."""
    if size == UNKNOWN or size > MAX_SEEKHEAD:
        return None
    data = _read_at(f, at, size)
    budget = [MAX_ELEMENTS]
    for eid, s, e in elements(data, 0, len(data), errors, budget):
        if eid != SEEK:
            continue
        target = position = None
        for cid, cs, ce in elements(data, s, e, errors, budget):
            if cid == SEEK_ID:
                target = int.from_bytes(data[cs:ce], "big")
            elif cid == SEEK_POSITION and ce - cs <= 8:
                position = int.from_bytes(data[cs:ce], "big")
        if target == TAGS and position is not None:
            return seg_start + position
    return None


def read_tags(f: BinaryIO, errors: list[str]) -> dict[str, str]:
    """Global tag name (lower case) -> string value of a Matroska/WebM file."""
    f.seek(0, 2)
    file_size = f.tell()
    head = _read_at(f, 0, 64)
    h = header(head, 0)
    if h is None or h[0] != EBML or h[1] == UNKNOWN:
        errors.append("Matroska: no EBML header")
        return {}
    pos = h[2] + h[1]
    seg = header(_read_at(f, pos, 16), 0)
    if seg is None or seg[0] != SEGMENT:
        errors.append(f"Matroska: no Segment at byte {pos}")
        return {}
    seg_start = pos + seg[2]
    seg_end = file_size if seg[1] == UNKNOWN else min(seg_start + seg[1], file_size)
    if seg[1] != UNKNOWN and seg_start + seg[1] > file_size:
        errors.append(f"Matroska: Segment runs past the end of the file ({file_size} bytes)")
    pos, tags_at, seek_tags = seg_start, None, None
    for _ in range(MAX_CHILDREN):
        if pos >= seg_end:
            break
        h = header(_read_at(f, pos, 16), 0)
        if h is None:
            errors.append(f"Matroska: bad element header at byte {pos}")
            break
        eid, size, hlen = h
        if eid == TAGS:
            tags_at = pos
            break
        if eid == SEEKHEAD and seek_tags is None:
            seek_tags = _seek_tags(f, pos + hlen, size, seg_start, errors)
        if size == UNKNOWN:
            break  # a live stream's cluster: only the SeekHead can say where Tags are
        pos += hlen + size
    else:
        errors.append(f"Matroska: more than {MAX_CHILDREN} Segment children; rest not read")
    if tags_at is None and seek_tags is not None:
        if not seg_start <= seek_tags < file_size:
            errors.append(f"Matroska: SeekHead puts Tags at byte {seek_tags}, outside the "
                          f"file ({file_size} bytes)")
            return {}
        tags_at = seek_tags
    if tags_at is None:
        return {}
    h = header(_read_at(f, tags_at, 16), 0)
    if h is None or h[0] != TAGS:
        errors.append(f"Matroska: no Tags element at byte {tags_at} (SeekHead points there)")
        return {}
    if h[1] == UNKNOWN or h[1] > MAX_TAGS:
        errors.append(f"Matroska Tags at byte {tags_at}: size over the {MAX_TAGS}-byte limit; "
                      "not read")
        return {}
    data = _read_at(f, tags_at + h[2], h[1])
    if len(data) < h[1]:
        errors.append(f"Matroska Tags at byte {tags_at}: truncated ({len(data)} of {h[1]} "
                      "bytes)")
    return _simple_tags(data, errors)


def _simple_tags(data: bytes, errors: list[str]) -> dict[str, str]:
    """SimpleTags of the Tags whose Targets name no track: the container's own tags."""
    out: dict[str, str] = {}
    budget = [MAX_ELEMENTS]
    for eid, s, e in elements(data, 0, len(data), errors, budget):
        if eid != TAG:
            continue
        pairs, per_track = [], False
        for cid, cs, ce in elements(data, s, e, errors, budget):
            if cid == TARGETS:
                per_track = any(t == TRACK_UID for t, _, _ in
                                elements(data, cs, ce, errors, budget))
            elif cid == SIMPLE_TAG:
                name = value = None
                for tid, ts, te in elements(data, cs, ce, errors, budget):
                    if tid == TAG_NAME:
                        name = data[ts:te].decode("utf-8", "replace").rstrip("\0")
                    elif tid == TAG_STRING:
                        value = data[ts:te].decode("utf-8", "replace").rstrip("\0")
                if name and value is not None:
                    pairs.append((name.lower(), value))
        for name, value in pairs if not per_track else []:
            out.setdefault(name, value)
    return out
