"""APFS containers read in place through dissect.apfs (Fox-IT, the same family as the other
disk readers): every unencrypted volume of the container, its files below
`<volume name>/` (a Mac's container holds several: "Macintosh HD", "Macintosh HD - Data",
"Preboot", ...; the volume name keeps their paths apart, `mac.E01!/p2/Macintosh HD - Data/
Users/x/Pictures/a.jpg`). Compressed files (decmpfs) are read decompressed by the library.

Not read, each said in a note (an error item, never silence): an encrypted volume (FileVault:
its key is wrapped by a password or recovery key Cairn does not have); a volume whose tree is
damaged; a volume's snapshots (their count is said: a snapshot may still hold files deleted
since). A container of encrypted volumes only is an `FsError`. Deleted files: APFS keeps no
directory entry of a deleted file, so none are listed; free space is not mapped yet (the
space manager's bitmaps), so `--carve` says APFS is not carved.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Any, BinaryIO

from cairn.media.disk.filesystems import FsError, FsFile, Ranges, attribute, inode_file, timestamp


def _volume_dir(name: str, index: int) -> str:
    """A volume's name as one path component (a '/' in it would read as a folder)."""
    clean = name.replace("/", "_").strip() or f"volume-{index}"
    return clean if clean not in (".", "..") else f"volume-{index}"


def _link(node: Any) -> str | None:
    try:
        return str(node.readlink())
    except Exception:  # noqa: BLE001 - a link without its target attribute
        return None


class ApfsReader:
    name = "APFS"

    def __init__(self, fh: BinaryIO) -> None:
        from dissect.apfs import APFS

        self.container = APFS(fh)
        self.notes: list[str] = []
        self.volumes: list[tuple[str, Any]] = []
        for i, vol in enumerate(self.container.volumes):
            label = attribute(vol, "name") or f"volume-{i}"
            if vol.is_encrypted:
                self.notes.append(f"APFS volume {label!r} is encrypted (FileVault): cannot be "
                                  "read without its password or recovery key; not read")
                continue
            top = _volume_dir(label, i)
            if top in (t for t, _ in self.volumes):
                top = f"{top} ({i})"  # two volumes of one name: their paths kept apart
            self.volumes.append((top, vol))
            try:
                snaps = len(vol.snapshots)
            except Exception as e:  # noqa: BLE001 - a damaged snapshot tree, said
                self.notes.append(f"APFS volume {label!r}: snapshot list unreadable: "
                                  f"{type(e).__name__}: {e}")
            else:
                if snaps:
                    self.notes.append(f"APFS volume {label!r} has {snaps} snapshot(s): only "
                                      "its current state is read (files deleted since a "
                                      "snapshot are not)")
        if not self.volumes:
            raise FsError("APFS container with no readable volume"
                          + "".join(f"; {n}" for n in self.notes))

    def files(self) -> Iterator[FsFile]:
        for top, vol in self.volumes:
            try:
                yield from self._walk(vol, top + "/")
            except Exception as e:  # noqa: BLE001 - one volume's tree broke: the others read
                self.notes.append(f"APFS volume {top!r} reader stopped: {type(e).__name__}: "
                                  f"{e}; rest of the volume not read")

    def _walk(self, vol: Any, top: str) -> Iterator[FsFile]:
        seen: set[int] = {vol.root.oid}
        stack = [(vol.root, top)]
        while stack:
            d, prefix = stack.pop()
            try:
                entries = sorted(d.iterdir(), key=lambda e: e.name)
            except Exception as e:  # noqa: BLE001 - a damaged directory, noted
                self.notes.append(f"APFS directory {prefix!r} unreadable: "
                                  f"{type(e).__name__}: {e}")
                continue
            subdirs = []
            for ent in entries:
                path = prefix + ent.name
                try:
                    if ent.is_dir():
                        if ent.file_id not in seen:
                            seen.add(ent.file_id)
                            subdirs.append((ent.inode, path + "/"))
                        continue
                    node = ent.inode
                    yield inode_file(path, node.mode, node.size,
                                     timestamp(attribute(node, "mtime")), node.open,
                                     partial(_link, node))
                except Exception as e:  # noqa: BLE001 - one inode, noted
                    self.notes.append(f"APFS inode {ent.file_id} ({path!r}) unreadable: "
                                      f"{type(e).__name__}: {e}")
            stack.extend(reversed(subdirs))

    def unallocated(self) -> Ranges | None:
        return None  # the space manager's free-space bitmaps are not read yet
