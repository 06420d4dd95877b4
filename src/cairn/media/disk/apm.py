"""Apple Partition Map (Inside Macintosh: Devices, "The Partition Map"), read here rather than
by dissect.volume: its reader assumes 512-byte map blocks, but a CD or an ISO 9660/HFS+
hybrid (xorriso's `-hfsplus on`, Apple's own hybrid discs) says 2048 in the driver
descriptor, and the map's entries and partition starts are then counted in 2048-byte blocks
(dissect.volume reads such a map as partitions of size 0).

Block 0 is the driver descriptor ('ER', sbBlkSize, sbBlkCount); the map's entries ('PM',
pmMapBlkCnt entries, pmPyPartStart, pmPartBlkCnt, pmPartName, pmParType) follow from block 1,
one a block. Some discs say 2048 in the descriptor yet keep 512-byte entries (and starts in
512-byte units): the unit is where the first entry actually lies.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import BinaryIO

ENTRY = struct.Struct(">2sHIII32s32s")
MAX_ENTRIES = 256  # a map of more entries is damaged: read no further


@dataclass(frozen=True, slots=True)
class ApmEntry:
    offset: int  # bytes from the start of the disk
    size: int
    name: str
    type: str  # pmParType: Apple_HFS, Apple_partition_map, Apple_Free, ...


def map_unit(head: bytes) -> int | None:
    """The map's block size when `head` (a disk's first 4096 bytes at least up to the first
    entry) begins with a driver descriptor and a first map entry, else None: 512 when an
    entry is at 512, else the descriptor's block size when the entry is there."""
    if head[:2] != b"ER" or len(head) < 514:
        return None
    if head[512:514] == b"PM":
        return 512
    size = int.from_bytes(head[2:4], "big")
    if size in (1024, 2048, 4096) and head[size: size + 2] == b"PM":
        return size
    return None


def _text(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("mac_roman", "replace")


def apm_entries(disk: BinaryIO) -> list[ApmEntry]:
    """Every entry of the map (the map's own and free space included), in its order; empty
    when the disk has no map."""
    disk.seek(0)
    head = disk.read(4096 + 2)
    unit = map_unit(head)
    if unit is None:
        return []
    out: list[ApmEntry] = []
    count = 1
    i = 1
    while i <= min(count, MAX_ENTRIES):
        disk.seek(i * unit)
        raw = disk.read(ENTRY.size)
        if len(raw) < ENTRY.size or raw[:2] != b"PM":
            break
        _, _, n, start, blocks, name, ptype = ENTRY.unpack(raw)
        if i == 1:
            count = n
        out.append(ApmEntry(start * unit, blocks * unit, _text(name), _text(ptype)))
        i += 1
    return out
