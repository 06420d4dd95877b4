"""Disk images as sources: image formats (E01, raw, split raw, VMDK, VHD(X), QCOW2), partition
tables (MBR, GPT, APM) and file systems (FAT, NTFS, ext), read in place, never mounted or
extracted. Built on Fox-IT's dissect.* readers (AGPL-3.0); see README.md "Disk images"."""
