"""The volumes of a disk: partitions of an MBR (extended/logical included), GPT or APM table,
or the whole disk when a file system starts at sector 0 (a partition image, a USB stick
formatted without a table); an LVM2 physical volume (whole disk or partition) gives its
logical volumes instead, named `<vg>-<lv>` (linear and striped segments, through
dissect.volume's LVM2 reader). MBR and GPT tables are read by dissect.volume; an Apple
Partition Map by `apm` (its block size may be 2048, which dissect.volume does not follow).

Names: `p1`, `p2` ... in the table's order (logical partitions after the primary ones), the
item path's component after the image (`laptop.E01!/p2/Users/...`); a whole-disk file
system has no component.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, BinaryIO

from dissect.util.stream import RangeStream

from cairn.media.disk.apm import apm_entries
from cairn.media.disk.detect import file_system_at, iso9660_at


class VolumeError(Exception):
    """No partition table and no file system: nothing on the disk can be read."""


@dataclass(frozen=True, slots=True)
class Volume:
    name: str  # "p1" ... or "" for a whole-disk file system
    offset: int  # bytes from the start of the disk
    size: int
    scheme: str  # MBR, GPT, APM, LVM2, or "none"
    type: str  # the table's type for the partition, in words
    lv: Any = field(default=None, compare=False)  # an LVM2 logical volume (dissect.volume)

    def open(self, disk: BinaryIO) -> BinaryIO:
        if self.lv is not None:  # its extents, mapped from the physical volume's
            return self.lv.open()
        return RangeStream(disk, self.offset, self.size)


LVM_LABEL = b"LABELONE"  # an LVM2 physical volume's label, in its second sector


def _is_pv(disk: BinaryIO, offset: int) -> bool:
    disk.seek(offset + 512)
    head = disk.read(32)
    return head[:8] == LVM_LABEL and head[24:32] == b"LVM2 001"


def _logical_volumes(disk: BinaryIO, pv: Volume) -> tuple[list[Volume], list[str]]:
    """The logical volumes of the LVM2 volume group whose physical volume is `pv`, named
    `<vg>-<lv>` (as /dev/mapper does) after `pv`'s own name."""
    from dissect.volume.lvm import LVM2

    where = f"{pv.name}/" if pv.name else ""
    what = f"LVM2 physical volume {pv.name or 'on the whole disk'}"
    try:
        vg = LVM2(RangeStream(disk, pv.offset, pv.size)).vg
        lvs = sorted((vg.logical_volumes or {}).items())
    except Exception as e:  # noqa: BLE001 - damaged or foreign metadata is data
        return [], [f"{what}: metadata unreadable: {type(e).__name__}: {e}"]
    out, notes = [], []
    if len(vg.physical_volumes) > 1:
        notes.append(f"{what}: volume group {vg.name} spans {len(vg.physical_volumes)} physical "
                     "volumes; extents on the others are not in this image and read as missing")
    for name, lv in lvs:
        try:
            stream = lv.open()
            size = stream.seek(0, 2)
        except Exception as e:  # noqa: BLE001 - a segment type not read (thin, cache, RAID)
            notes.append(f"{what}: logical volume {vg.name}/{name} unreadable: "
                         f"{type(e).__name__}: {e}")
            continue
        out.append(Volume(f"{where}{vg.name}-{name}", pv.offset, size, "LVM2",
                          f"logical volume {vg.name}/{name} ({lv.type})", lv))
    if not out and not notes:
        notes.append(f"{what}: volume group {vg.name} holds no logical volume")
    return out, notes


def _expand_lvm(disk: BinaryIO, vols: list[Volume], notes: list[str]
                ) -> tuple[list[Volume], list[str]]:
    out: list[Volume] = []
    for v in vols:
        if v.lv is None and _is_pv(disk, v.offset):
            lvs, more = _logical_volumes(disk, v)
            out.extend(lvs)
            notes = notes + more
        else:
            out.append(v)
    return out, notes


def volumes(disk: BinaryIO, size: int) -> tuple[list[Volume], list[str]]:
    """The disk's volumes and notes (partitions that run past the disk's end, ...); an
    LVM2 physical volume (the whole disk or a partition) gives its logical volumes."""
    vols, notes = _volumes(disk, size)
    return _expand_lvm(disk, vols, notes)


def _volumes(disk: BinaryIO, size: int) -> tuple[list[Volume], list[str]]:
    disk.seek(0)
    head = disk.read(4096)
    if file_system_at(head) is not None and head[510:512] != b"\x55\xaa" or _is_vbr(head):
        return [Volume("", 0, size, "none", "whole disk")], []
    if _is_pv(disk, 0):
        return [Volume("", 0, size, "none", "whole disk")], []
    if iso9660_at(disk):  # a disc image (an isohybrid one's MBR only points back at it)
        return [Volume("", 0, size, "none", "ISO 9660 disc")], []
    apm = apm_entries(disk)
    if apm:
        return _table("APM", [(e.offset, e.size, e.type) for e in apm
                              if e.type not in ("Apple_partition_map", "Apple_Free")], size)
    from dissect.volume.disk import Disk  # lazy: only images pay for the import

    try:
        disk.seek(0)
        table = Disk(disk)
    except Exception as e:  # noqa: BLE001 - any table reader failure is data
        raise VolumeError(f"no partition table or file system recognised: "
                          f"{type(e).__name__}: {str(e).splitlines()[0]}") from None
    scheme = type(table.scheme).__name__
    parts = [(p.offset, p.size, str(getattr(p, "type_name", None) or p.type))
             for p in table.partitions if not (scheme == "MBR" and p.type == 0xEE)]
    return _table(scheme, parts, size)


def _table(scheme: str, parts: list[tuple[int, int, str]], size: int
           ) -> tuple[list[Volume], list[str]]:
    """A table's partitions (offset, size, type in words) as volumes p1, p2 ... in its order;
    one past the disk's end is a note, one that runs past it is cut there and noted."""
    out: list[Volume] = []
    notes: list[str] = []
    for offset, psize, ptype in parts:
        name = f"p{len(out) + 1}"
        if offset >= size:
            notes.append(f"{name} ({ptype}) starts at byte {offset}, past the disk's end "
                         f"({size}); not read")
            continue
        if offset + psize > size:
            notes.append(f"{name} ({ptype}) runs past the disk's end; read up to it")
            psize = size - offset
        out.append(Volume(name, offset, psize, scheme, ptype))
    if not out:
        raise VolumeError(f"{scheme} partition table with no readable partition"
                          + "".join(f"; {n}" for n in notes))
    return out, notes


def _is_vbr(head: bytes) -> bool:
    """A FAT/NTFS/exFAT boot sector at sector 0 (it carries 0x55AA like an MBR does)."""
    return file_system_at(head) in ("FAT", "NTFS", "exFAT", "BitLocker")
