"""Which disk image format a file's first bytes say it is, by magic only (never the name).

A raw image is recognised by what its first sectors hold: a partition table (MBR with a
plausible entry, GPT's "EFI PART" at LBA 1, APM's "ER"/"PM") or a file system's boot block
(FAT, NTFS, exFAT, ext2/3/4, HFS+/HFSX, classic HFS, APFS). A fixed VHD is a raw image with
a footer, so it sniffs as raw and `images.open_image` notices the footer. Needs the first
4096 bytes (sniff.HEAD_BYTES).
"""

from __future__ import annotations

from typing import BinaryIO

from cairn.media.disk.apm import map_unit

EWF = "application/x-ewf"
VMDK = "application/x-vmdk"
VHD = "application/x-vhd"
VHDX = "application/x-vhdx"
QCOW2 = "application/x-qcow2"
RAW = "application/x-raw-disk-image"
ISO = "application/x-iso9660-image"
VDI = "application/x-virtualbox-vdi"
PARALLELS = "application/x-parallels-disk"
QED = "application/x-qed"  # recognised so that opening says it is not read: never silent

DISK_TYPES = {EWF, VMDK, VHD, VHDX, QCOW2, RAW, ISO, VDI, PARALLELS, QED}
VDI_SIGNATURE = b"\x7f\x10\xda\xbe"  # u32 0xBEDA107F at 64, after the text banner
PARALLELS_MAGIC = (b"WithoutFreeSpace", b"WithouFreSpacExt")
ISO_DESCRIPTOR = 0x8001  # "CD001" of the first volume descriptor, past the 32 KiB system area

EWF_MAGIC = (b"EVF\x09\x0d\x0a\xff\x00", b"LVF\x09\x0d\x0a\xff\x00")
EX01_MAGIC = b"EVF2\x0d\x0a\x81\x00"  # EWF2 (Ex01): read through libewf (pyewf)


def _mbr_plausible(head: bytes) -> bool:
    """A boot signature and four entries that look like partitions (status 0 or 0x80, at
    least one typed entry with a start and a length): a random 0x55AA is not a disk."""
    if len(head) < 512 or head[510:512] != b"\x55\xaa":
        return False
    typed = 0
    for i in range(4):
        e = head[446 + 16 * i: 462 + 16 * i]
        if e[0] not in (0, 0x80):
            return False
        if e[4]:
            start = int.from_bytes(e[8:12], "little")
            length = int.from_bytes(e[12:16], "little")
            if not start or not length:
                return False
            typed += 1
    return typed > 0


def _classic_hfs(mdb: bytes) -> bool:
    """A classic HFS master directory block: 'BD', allocation blocks of a multiple of
    512 bytes and some of them (two letters alone are too weak a sign)."""
    blocks = int.from_bytes(mdb[18:20], "big")
    block_size = int.from_bytes(mdb[20:24], "big")
    return blocks > 0 and block_size > 0 and block_size % 512 == 0


def file_system_at(head: bytes) -> str | None:
    """The file system whose boot block begins `head` (a volume's first bytes), or None."""
    if len(head) >= 512:
        if head[3:11] == b"NTFS    ":
            return "NTFS"
        if head[3:11] == b"EXFAT   ":
            return "exFAT"
        if head[510:512] == b"\x55\xaa" and (head[54:59] in (b"FAT12", b"FAT16")
                                             or head[82:87] == b"FAT32"):
            return "FAT"
    if len(head) >= 1104 and head[1080:1082] == b"\x53\xef":
        inodes = int.from_bytes(head[1024:1028], "little")
        log_block = int.from_bytes(head[1048:1052], "little")
        rev = int.from_bytes(head[1100:1104], "little")
        if inodes and log_block <= 6 and rev in (0, 1):
            return "ext"
    if len(head) >= 1026 and head[1024:1026] in (b"H+", b"HX"):
        return "HFS+"  # HFSX (case-sensitive names) is the same format
    if len(head) >= 1048 and head[1024:1026] == b"BD" and _classic_hfs(head[1024:1048]):
        return "HFS"
    if len(head) >= 36 and head[32:36] == b"NXSB":
        return "APFS"
    if head[:8] == b"-FVE-FS-" or head[3:11] == b"-FVE-FS-":
        return "BitLocker"
    return None


def disk_type(head: bytes) -> str | None:
    """The disk image media type of a file starting with `head`, or None if it is not one."""
    if head[:8] in EWF_MAGIC:
        return EWF
    if head[:8] == EX01_MAGIC:
        return EWF  # images.py tells the two apart by this magic
    if head[:4] == b"QFI\xfb":
        return QCOW2
    if head[:8] == b"vhdxfile":
        return VHDX
    if head[:8] == b"conectix":
        return VHD
    if head[64:68] == VDI_SIGNATURE:
        return VDI
    if head[:16] in PARALLELS_MAGIC:
        return PARALLELS
    if head[:4] == b"QED\x00":
        return QED
    if head[:4] == b"KDMV" or head[:4] == b"COWD" or b"# Disk DescriptorFile" in head[:1024]:
        return VMDK
    if len(head) >= 520 and head[512:520] in (b"EFI PART", b"LABELONE"):  # GPT, LVM2 PV
        return RAW
    if map_unit(head) is not None:  # APM, its entries in 512- or 2048-byte blocks
        return RAW
    if file_system_at(head) is not None:
        return RAW
    if _mbr_plausible(head):
        return RAW
    return None


def ewf_segment_number(head: bytes) -> int | None:
    """An EWF segment file's number (1 for .E01), from its file header; None if not EWF."""
    if head[:8] == EX01_MAGIC and len(head) >= 16:  # EWF2: u32 at 12, after version and
        return int.from_bytes(head[12:16], "little")  # compression method
    if head[:8] not in EWF_MAGIC or len(head) < 11:
        return None
    return int.from_bytes(head[9:11], "little")


def iso9660_at(f: BinaryIO) -> str | None:
    """"ISO 9660" when `f` holds an ISO 9660 volume descriptor at 32 KiB (beyond the head a
    sniff sees: the system area before it is usually zeros), else None; `f` is left at 0."""
    try:
        f.seek(ISO_DESCRIPTOR)
        magic = f.read(5)
    except (OSError, ValueError):
        magic = b""
    f.seek(0)
    return "ISO 9660" if magic == b"CD001" else None


def deep_disk_type(f: BinaryIO) -> str | None:
    """The disk image type of a file whose head sniffed as nothing: an ISO 9660 image."""
    return ISO if iso9660_at(f) else None
