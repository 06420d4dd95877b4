"""Files written into an empty APFS volume that `mkapfs` made (apfsprogs can make nothing
else, and no maintained library writes APFS): the records Apple's "Apple File System
Reference" describes, added to the file system tree's single root leaf node that mkapfs
leaves (directory records with hashed names, inodes with a name and a data stream, file
extents, a symlink's target attribute), the node rebuilt and re-checksummed; file contents
go to blocks nothing uses. The container's space manager is not updated (apfsck would say
so): a reader of the tree, as Cairn is, does not consult it. Test-only."""

from __future__ import annotations

import stat
import struct
import unicodedata
from pathlib import Path

from dissect.util.hash.crc32c import crc32c

BLOCK = 4096
INFO = 40  # btree_info_t at the end of a root node
HEADER = 56  # obj_phys_t (32) + btree_node_phys_t fields (24)
TYPE_INODE, TYPE_XATTR, TYPE_EXTENT, TYPE_DREC = 3, 4, 8, 9
DT_DIR, DT_REG, DT_LNK = 4, 8, 10
FIRST_DATA_BLOCK = 30000  # past everything mkapfs writes in a 128 MiB container
ROOT_INO, FIRST_OID = 2, 16
NS = 1_700_000_000 * 10**9  # 2023-11-14, every timestamp


def fletcher64(block: bytes) -> bytes:
    """An APFS object's checksum over its block past the checksum field (Apple's APFS
    Reference, "Object Checksums"), little-endian."""
    s1 = s2 = 0
    for (w,) in struct.iter_unpack("<I", block[8:]):
        s1 = (s1 + w) % 0xFFFFFFFF
        s2 = (s2 + s1) % 0xFFFFFFFF
    lo = 0xFFFFFFFF - ((s1 + s2) % 0xFFFFFFFF)
    hi = 0xFFFFFFFF - ((s1 + lo) % 0xFFFFFFFF)
    return struct.pack("<II", lo, hi)


def _jkey(oid: int, kind: int) -> bytes:
    return struct.pack("<Q", oid | kind << 60)


def _drec(parent: int, name: str, oid: int, dt: int) -> tuple[tuple, bytes, bytes]:
    """A hashed directory record (case-insensitive volume): 22-bit hash of the name's
    NFD, case-folded UTF-32LE CRC-32C, then its length with the NUL."""
    raw = name.encode() + b"\0"
    h = (crc32c(unicodedata.normalize("NFD", name).casefold().encode("utf-32-le"))
         ^ 0xFFFFFFFF) & 0x3FFFFF
    key = _jkey(parent, TYPE_DREC) + struct.pack("<I", h << 10 | len(raw)) + raw
    return (parent, TYPE_DREC, h, raw), key, struct.pack("<QQH", oid, NS, dt)


def _xfields(fields: list[tuple[int, int, bytes]]) -> bytes:
    head = b"".join(struct.pack("<BBH", t, f, len(d)) for t, f, d in fields)
    data = b"".join(d.ljust((len(d) + 7) // 8 * 8, b"\0") for _, _, d in fields)
    return struct.pack("<HH", len(fields), len(data)) + head + data


def _inode(oid: int, parent: int, name: str, mode: int, children: int,
           size: int | None) -> tuple[tuple, bytes, bytes]:
    fields = [(4, 0x02, name.encode() + b"\0")]  # INO_EXT_TYPE_NAME, XF_DO_NOT_COPY
    if size is not None:  # INO_EXT_TYPE_DSTREAM, XF_SYSTEM_FIELD: j_dstream_t
        alloced = (size + BLOCK - 1) // BLOCK * BLOCK
        fields.append((8, 0x20, struct.pack("<QQQQQ", size, alloced, 0, size, 0)))
    val = struct.pack("<QQQQQQQiIIIIIHHQ", parent, oid, NS, NS, NS, NS, 0, children, 0, 0,
                      0, 501, 20, mode, 0, 0) + _xfields(fields)
    return (oid, TYPE_INODE, 0, b""), _jkey(oid, TYPE_INODE), val


def _extent(oid: int, block: int, length: int) -> tuple[tuple, bytes, bytes]:
    return ((oid, TYPE_EXTENT, 0, b""), _jkey(oid, TYPE_EXTENT) + struct.pack("<Q", 0),
            struct.pack("<QQQ", length, block, 0))


def _symlink_target(oid: int, target: str) -> tuple[tuple, bytes, bytes]:
    name = b"com.apple.fs.symlink\0"
    data = target.encode() + b"\0"
    return ((oid, TYPE_XATTR, 0, name), _jkey(oid, TYPE_XATTR) + struct.pack("<H", len(name))
            + name, struct.pack("<HH", 0x2, len(data)) + data)  # XATTR_DATA_EMBEDDED


def _parse_leaf(block: bytes) -> list[tuple[bytes, bytes]]:
    nkeys, = struct.unpack_from("<I", block, 36)
    _, tlen = struct.unpack_from("<HH", block, 40)
    out = []
    for i in range(nkeys):
        ko, kl, vo, vl = struct.unpack_from("<HHHH", block, HEADER + 8 * i)
        k = HEADER + tlen + ko
        out.append((block[k: k + kl], block[BLOCK - INFO - vo: BLOCK - INFO - vo + vl]))
    return out


def _sort_key(key: bytes) -> tuple:
    word, = struct.unpack_from("<Q", key)
    oid, kind = word & ((1 << 60) - 1), word >> 60
    if kind == TYPE_DREC:
        nh, = struct.unpack_from("<I", key, 8)
        return oid, kind, nh >> 10, key[12:]
    if kind == TYPE_XATTR:
        return oid, kind, 0, key[10:]
    return oid, kind, 0, key[8:]


def _build_leaf(old: bytes, records: list[tuple[bytes, bytes]]) -> bytes:
    records = sorted(records, key=lambda r: _sort_key(r[0]))
    tlen = max(0x80, (len(records) * 8 + 63) // 64 * 64)
    toc, keys, vals = b"", b"", b""
    for k, v in records:
        vals = v + vals
        toc += struct.pack("<HHHH", len(keys), len(k), len(vals), len(v))
        keys += k
    free = BLOCK - INFO - HEADER - tlen - len(keys) - len(vals)
    assert free >= 0, "the files do not fit in one leaf node: plant fewer"
    out = bytearray(old[:HEADER])
    struct.pack_into("<HHI", out, 32, 0x3, 0, len(records))  # root | leaf, level 0
    struct.pack_into("<HHHHHHHH", out, 40, 0, tlen, len(keys), free, 0xFFFF, 0, 0xFFFF, 0)
    out += toc.ljust(tlen, b"\0") + keys + b"\0" * free + vals
    info = bytearray(old[BLOCK - INFO:])
    struct.pack_into("<IIQQ", info, 16, max(len(k) for k, _ in records),
                     max(len(v) for _, v in records), len(records), 1)
    out += info
    out[:8] = fletcher64(bytes(out))
    assert len(out) == BLOCK
    return bytes(out)


def plant(img: Path, files: dict[str, bytes], links: dict[str, str] | None = None) -> None:
    """Write `files` (path -> bytes, folders made as needed) and symbolic `links`
    (path -> target) into the only volume of the mkapfs container `img`."""
    data = bytearray(img.read_bytes())
    at = next(a for a in range(0, len(data), BLOCK)
              if struct.unpack_from("<II", data, a + 24) == (0x2, 0xE)  # virtual fs B-tree
              and struct.unpack_from("<H", data, a + 32)[0] & 0x3 == 0x3)
    records = _parse_leaf(bytes(data[at: at + BLOCK]))
    dirs: dict[str, int] = {"": ROOT_INO}
    children: dict[int, int] = {}
    oid, block = FIRST_OID, FIRST_DATA_BLOCK
    new: list[tuple[tuple, bytes, bytes]] = []
    made: list[tuple[int, int, str]] = []  # folders: (oid, parent, name); inodes at the end

    def folder(path: str) -> int:
        nonlocal oid
        if path in dirs:
            return dirs[path]
        parent_path, _, name = path.rpartition("/")
        parent = folder(parent_path)
        dirs[path] = me = oid
        oid += 1
        children[parent] = children.get(parent, 0) + 1
        new.append(_drec(parent, name, me, DT_DIR))
        made.append((me, parent, name))
        return me

    for path, content in sorted(files.items()):
        parent_path, _, name = path.rpartition("/")
        parent = folder(parent_path)
        me, oid = oid, oid + 1
        children[parent] = children.get(parent, 0) + 1
        nblocks = max(1, (len(content) + BLOCK - 1) // BLOCK)
        data[block * BLOCK: block * BLOCK + len(content)] = content
        new += [_drec(parent, name, me, DT_REG),
                _inode(me, parent, name, stat.S_IFREG | 0o644, 1, len(content)),
                _extent(me, block, nblocks * BLOCK)]
        block += nblocks
    for path, target in sorted((links or {}).items()):
        parent_path, _, name = path.rpartition("/")
        parent = folder(parent_path)
        me, oid = oid, oid + 1
        children[parent] = children.get(parent, 0) + 1
        new += [_drec(parent, name, me, DT_LNK),
                _inode(me, parent, name, stat.S_IFLNK | 0o755, 1, None),
                _symlink_target(me, target)]
    new += [_inode(me, parent, name, stat.S_IFDIR | 0o755, children.get(me, 0), None)
            for me, parent, name in made]
    out = [(k, v) for _, k, v in new]
    root = [i for i, (k, _) in enumerate(records) if k == _jkey(ROOT_INO, TYPE_INODE)]
    for i in root:  # the root folder's child count
        k, v = records[i]
        records[i] = (k, v[:56] + struct.pack("<i", children.get(ROOT_INO, 0)) + v[60:])
    data[at: at + BLOCK] = _build_leaf(bytes(data[at: at + BLOCK]), records + out)
    img.write_bytes(bytes(data))


def snapshot(img: Path, name: str, xid: int = 1) -> None:
    """A snapshot's metadata record (j_snap_metadata, keyed by its transaction id) added to
    the volume's snapshot metadata tree, as `tmutil localsnapshot` would leave one; its
    state is the volume's own (no extent reference tree of its own: not read by Cairn)."""
    data = bytearray(img.read_bytes())
    at = next(a for a in range(0, len(data), BLOCK)
              if struct.unpack_from("<II", data, a + 24) == (0x40000002, 0x10))
    raw = name.encode() + b"\0"
    value = struct.pack("<QQQQQIIH", 0, 0, NS, NS, 0, 0, 0, len(raw)) + raw
    records = _parse_leaf(bytes(data[at: at + BLOCK])) + [(_jkey(xid, 1), value)]
    data[at: at + BLOCK] = _build_leaf(bytes(data[at: at + BLOCK]), records)
    img.write_bytes(bytes(data))
