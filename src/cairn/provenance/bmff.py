"""ISO base media file format (MP4, MOV, M4V, 3GP) boxes, walked by our own code with limits.

A box is a 32-bit big-endian size (0: to the end of its parent; 1: a 64-bit size follows),
a four-character type and, for `uuid`, a 16-byte user type. Evidence files are large and
hostile, so the top level is walked by seeking (the media data is never read) and only two
kinds of top-level box are loaded: `moov` (the metadata, at most MAX_MOOV bytes) and the XMP
`uuid` box (at most MAX_XMP). Inside a loaded box every size is checked against its parent,
nesting is cut at MAX_DEPTH and the number of boxes at MAX_BOXES: damage becomes a line in
`errors`, never an exception, and never more work than the limits allow.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

MAX_MOOV = 64 * 1024 * 1024  # a real moov is KBs to a few MBs (sample tables of long videos)
MAX_XMP = 4 * 1024 * 1024
MAX_TOP = 10_000  # top-level boxes visited: real files have < 20
MAX_BOXES = 200_000  # boxes visited inside loaded boxes, all levels together
MAX_DEPTH = 12  # moov/trak/mdia/minf/stbl/... is 6 deep; meta/ilst/item/data adds 4
XMP_UUID = bytes.fromhex("BE7ACFCB97A942E89C71999491E3AFAC")
# boxes whose payload is a sequence of boxes (`meta` after its version/flags, see meta_start)
CONTAINERS = frozenset({b"moov", b"udta", b"meta", b"ilst", b"trak", b"mdia", b"minf",
                        b"edts", b"dinf", b"stbl", b"mvex", b"moof", b"traf"})


def fourcc(t: bytes) -> str:
    """A box type for messages and tag names (`\\xa9cmt` reads as `©cmt`)."""
    return t.decode("latin-1")


@dataclass(frozen=True, slots=True)
class Box:
    type: bytes
    at: int  # offset of the box header (in the file for top-level boxes, else in the buffer)
    start: int  # offset of the payload
    end: int  # offset just past the payload

    @property
    def size(self) -> int:
        return self.end - self.start


def _header(head: bytes, at: int, limit: int, errors: list[str], where: str
            ) -> tuple[bytes, int, int] | None:
    """(type, header length, box end) of the box whose first bytes are `head`, or None
    (with a note) when the size is impossible; `limit` is the parent's end."""
    size, btype = struct.unpack(">I4s", head[:8])
    hlen = 8
    if size == 1:
        if len(head) < 16:
            errors.append(f"{where} box {fourcc(btype)!r} at byte {at}: truncated 64-bit size")
            return None
        size, hlen = struct.unpack(">Q", head[8:16])[0], 16
    elif size == 0:
        size = limit - at
    if btype == b"uuid":
        hlen += 16
    if size < hlen:
        errors.append(f"{where} box {fourcc(btype)!r} at byte {at}: size {size} is smaller "
                      "than its header")
        return None
    if at + size > limit:
        errors.append(f"{where} box {fourcc(btype)!r} at byte {at}: size {size} runs past "
                      f"the end ({limit - at} bytes left)")
        return btype, hlen, limit  # what is there is still read: a truncated file's moov
    return btype, hlen, at + size


def children(data: bytes, start: int, end: int, errors: list[str], where: str = "MP4",
             budget: list[int] | None = None) -> Iterator[Box]:
    """The boxes laid end to end in `data[start:end]`; stops at the first impossible size.
    `budget`: a one-item list counting boxes still allowed, shared by a whole walk."""
    budget = [MAX_BOXES] if budget is None else budget  # never more than MAX_BOXES a call
    pos = start
    end = min(end, len(data))
    while pos + 8 <= end:
        if budget[0] <= 0:
            errors.append(f"{where}: more than {MAX_BOXES} boxes; rest not read")
            return
        budget[0] -= 1
        parsed = _header(data[pos:pos + 16], pos, end, errors, where)
        if parsed is None:
            return
        btype, hlen, box_end = parsed
        if pos + hlen > box_end:
            errors.append(f"{where} box {fourcc(btype)!r} at byte {pos}: truncated header")
            return
        yield Box(btype, pos, pos + hlen, box_end)
        pos = box_end
    if end - pos not in (0, 4):  # 4 zero bytes close some QuickTime udta lists
        errors.append(f"{where}: {end - pos} stray bytes at byte {pos}")


def meta_start(data: bytes, box: Box) -> int:
    """Where a `meta` box's children begin: ISO `meta` is a full box (4 bytes of version and
    flags first), QuickTime's is not; tell them apart by what follows."""
    if data[box.start + 4:box.start + 8] in (b"hdlr", b"keys", b"ilst"):
        return box.start
    return box.start + 4


def walk(data: bytes, errors: list[str], where: str = "MP4", start: int = 0,
         end: int | None = None) -> Iterator[tuple[tuple[bytes, ...], Box]]:
    """Every box in `data[start:end]`, depth first, with the path of types above it;
    descends into CONTAINERS (and the items of an `ilst`) only, at most MAX_DEPTH deep
    and MAX_BOXES in all."""
    budget = [MAX_BOXES]
    stack: list[tuple[tuple[bytes, ...], Iterator[Box]]] = [
        ((), children(data, start, len(data) if end is None else end, errors, where, budget))]
    while stack:
        path, it = stack[-1]
        box = next(it, None)
        if box is None:
            stack.pop()
            continue
        yield path, box
        inner = path + (box.type,)
        descend = box.type in CONTAINERS or (path and path[-1] == b"ilst")
        if not descend:
            continue
        if len(inner) >= MAX_DEPTH:
            errors.append(f"{where} box {fourcc(box.type)!r} at byte {box.at}: nested more "
                          f"than {MAX_DEPTH} deep; not read")
            continue
        first = meta_start(data, box) if box.type == b"meta" else box.start
        stack.append((inner, children(data, first, box.end, errors, where, budget)))


@dataclass
class TopLevel:
    """What `read_top_level` loaded: the `moov` payload, the XMP packet of the XMP `uuid`
    box, the types seen, and the notes."""
    moov: bytes | None = None
    xmp: bytes | None = None
    types: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def read_top_level(f: BinaryIO, where: str = "MP4") -> TopLevel:
    """Walk the file's top-level boxes by seeking; load `moov` and the XMP `uuid` box."""
    out = TopLevel()
    errors = out.errors
    f.seek(0, 2)
    size = f.tell()
    pos = 0
    for _ in range(MAX_TOP):
        if pos + 8 > size:
            break
        f.seek(pos)
        head = f.read(32)
        if len(head) < 8:
            break
        parsed = _header(head, pos, size, errors, where)
        if parsed is None:
            break
        btype, hlen, end = parsed
        out.types.append(fourcc(btype))
        length = end - pos - hlen
        if btype == b"moov" and out.moov is None:
            if length > MAX_MOOV:
                errors.append(f"{where} box 'moov' at byte {pos}: {length} bytes, over the "
                              f"{MAX_MOOV}-byte limit; not read")
            else:
                f.seek(pos + hlen)
                out.moov = f.read(length)
        elif btype == b"uuid" and head[hlen - 16:hlen] == XMP_UUID and out.xmp is None:
            if length > MAX_XMP:
                errors.append(f"{where} XMP box at byte {pos}: {length} bytes, over the "
                              f"{MAX_XMP}-byte limit; not read")
            else:
                f.seek(pos + hlen)
                out.xmp = f.read(length)
        pos = end
    else:
        errors.append(f"{where}: more than {MAX_TOP} top-level boxes; rest not read")
    return out
