"""Benign, fictional phone evidence in the layouts police receive (media/ufdr.py,
media/extraction.py, media/thumbcache.py, media/carve.py describe them and their sources):

- `exhibit-09.ufdr`: a Cellebrite-style UFDR (zip + report.xml): pictures filed under
  `files/Image/`, a clip under `files/Video/`, one picture marked deleted, one file listed
  without content, one in the zip the report does not list, a `ThumbnailCache.s3dd`.
- `iphone-ffs.zip` and the same tree unpacked in `iphone-ffs/`: an iOS full-file-system
  extraction (camera roll, a Photos thumbnail of a picture no longer in the camera roll,
  WhatsApp and Telegram containers named by their metadata plists).
- `android-ffs.tar`: an Android full-file-system tar (camera, WhatsApp sent media, Telegram
  cache, an AOSP `.thumbdata3` store with two thumbnails).
- `thumbcache_256.db` (Windows 10 layout) and `thumbcache_96.db` (Windows 7 layout), each
  with thumbnails, an empty entry and a damaged gap.
- `unallocated.bin`: noise and zeros with a JPEG, PNG, GIF, WebP and MP4 planted at known
  offsets, plus a JPEG cut short (to be rejected, not carved).

Every picture is a generated gradient with shapes (cairn.demo.picture); every name, number
and account is fictional (user-0042, +44 7700 900042, example.test).
"""

from __future__ import annotations

import hashlib
import io
import plistlib
import random
import shutil
import tarfile
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from cairn.demo import jpeg_bytes, picture, png_bytes, tiny_video

WHATSAPP_GROUP = "4C0FFEE0-0042-4000-8000-0000000000A1"
TELEGRAM_APP = "7E1E0000-0042-4000-8000-0000000000B2"
CHAT = "447700900042@s.whatsapp.net"
IOS = "private/var/mobile"
ANDROID = "data/media/0"
THUMBDATA = f"{ANDROID}/DCIM/.thumbnails/.thumbdata3--1967290299"
CAMERA = "files/Image/IMG_20240105_101500.jpg"
ALTERED = "files/Image/IMG-20240106-WA0001.jpg"  # its report MD5 is not its bytes


def _jpeg(seed: int, size: tuple[int, int] = (160, 120)) -> bytes:
    return jpeg_bytes(picture(seed, size))


def _save(seed: int, fmt: str, size: tuple[int, int] = (96, 72), **kw: object) -> bytes:
    b = io.BytesIO()
    picture(seed, size).save(b, fmt, **kw)  # Pillow quantises to a palette for GIF itself
    return b.getvalue()


def _clip(tmp: Path) -> bytes:
    path = tmp / "clip.mp4"
    tiny_video(path, seconds=1, size=(96, 72))
    return path.read_bytes()


# -- UFDR ------------------------------------------------------------------------------------
def _file_xml(fid: int, device_path: str, local: str | None, size: int, deleted: str,
              created: str, hashes: dict[str, str] | None = None) -> str:
    items = [f'<item name="Local Path"><![CDATA[{local}]]></item>'] if local else []
    items.append('<item name="Tags">Image</item>')
    items += [f'<item name="{k.upper()}">{v}</item>' for k, v in (hashes or {}).items()]
    return (f'<file fs="Data" fsid="fs-1" path={quoteattr(device_path)} size="{size}" '
            f'id="{fid}" extractionId="0" deleted="{deleted}" embedded="false" '
            f'isrelated="False"><metadata section="File">{"".join(items)}</metadata>'
            f'<accessInfo><timestamp name="CreationTime">{escape(created)}</timestamp>'
            f'<timestamp name="ModifyTime">{escape(created)}</timestamp></accessInfo></file>')


def ufdr(path: Path, tmp: Path) -> dict:
    """Write a UFDR; return what a scan must find in it."""
    wa = "/data/media/0/Android/media/com.whatsapp/WhatsApp/Media/WhatsApp Images"
    pics = {  # zip member -> (phone path, deleted state, content)
        CAMERA: ("/data/media/0/DCIM/Camera/"
                                                "IMG_20240105_101500.jpg", "Intact", _jpeg(900)),
        "files/Image/IMG-20240106-WA0001.jpg": (f"{wa}/IMG-20240106-WA0001.jpg", "Intact",
                                                _jpeg(901)),
        "files/Image/IMG-20240107-WA0002.jpg": (f"{wa}/Sent/IMG-20240107-WA0002.jpg",
                                                "Deleted", _jpeg(902)),
        "files/Video/VID-20240108-WA0003.mp4": (wa.replace("Images", "Video")
                                                + "/VID-20240108-WA0003.mp4", "Intact",
                                                _clip(tmp)),
    }
    # the report's hashes: right for the camera picture, wrong for the first WhatsApp one
    # (as if the file had changed after the extraction)
    stated = {0: {"sha256": hashlib.sha256(pics[CAMERA][2]).hexdigest()},
              1: {"md5": "0" * 32}}
    files = [_file_xml(i + 1, dev, local.replace("/", "\\"), len(data), state,
                       f"2024-01-0{5 + i}T10:15:00.000+00:00", stated.get(i))
             for i, (local, (dev, state, data)) in enumerate(pics.items())]
    files.append(_file_xml(99, "/data/data/org.telegram.messenger/cache/-6012345_99.jpg", None,
                           4096, "Deleted", "2024-01-09T08:00:00.000+00:00"))
    report = (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<project id="demo-0042" name="Exhibit 09 (fictional)" reportVersion="5.3.0.0" '
        'containsGarbage="False" extractionType="FileSystem" '
        'xmlns="http://pa.cellebrite.com/report/2.0">'
        '<sourceExtractions><extractionInfo id="0" name="File System" isCustomName="False" '
        'type="FileSystem" deviceName="user-0042 phone" fullName="Demo Phone"/>'
        '</sourceExtractions>'
        '<metadata section="Additional Fields"><item name="Examiner">examiner-01</item>'
        '</metadata>'
        f'<taggedFiles>{"".join(files)}</taggedFiles>'
        '<decodedData><modelType type="Chat"><model type="Chat" id="c1">'
        '<field name="Source" type="String"><value type="String">WhatsApp</value></field>'
        '</model></modelType></decodedData></project>')
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("report.xml", report)
        for local, (_, _, data) in pics.items():
            zf.writestr(local, data)
        zf.writestr("files/Image/unlisted.png", png_bytes(picture(903, (64, 48))))
        zf.writestr("ThumbnailCache.s3dd", b"S3DD" + bytes(60))
    return {
        "path": path,
        "members": {m: dev for m, (dev, _, _) in pics.items()},
        "deleted": ["files/Image/IMG-20240107-WA0002.jpg"],
        "absent": "/data/data/org.telegram.messenger/cache/-6012345_99.jpg",
        "unlisted": "files/Image/unlisted.png",
        "altered": ALTERED,
    }


# -- iOS and Android full file systems ------------------------------------------------------
def _plist(bundle: str) -> bytes:
    return plistlib.dumps({"MCMMetadataIdentifier": bundle, "MCMMetadataContentClass": 2},
                          fmt=plistlib.FMT_BINARY)


def ios_tree() -> dict[str, bytes]:
    group = f"{IOS}/Containers/Shared/AppGroup/{WHATSAPP_GROUP}"
    app = f"{IOS}/Containers/Data/Application/{TELEGRAM_APP}"
    return {
        f"{IOS}/Media/DCIM/100APPLE/IMG_0001.JPG": _jpeg(910),
        f"{IOS}/Media/DCIM/100APPLE/IMG_0002.PNG": png_bytes(picture(911, (120, 90))),
        # a thumbnail of IMG_0003.JPG, which is no longer in the camera roll
        f"{IOS}/Media/PhotoData/Thumbnails/V2/DCIM/100APPLE/IMG_0003.JPG/5005.JPG":
            _jpeg(912, (64, 48)),
        f"{IOS}/Media/PhotoData/Thumbnails/3141.ithmb": bytes(4096),
        f"{group}/.com.apple.mobile_container_manager.metadata.plist":
            _plist("group.net.whatsapp.WhatsApp.shared"),
        f"{group}/Message/Media/{CHAT}/a/1/5b2e0000-0042-4000-8000-00000000c001.jpg":
            _jpeg(913),
        f"{app}/.com.apple.mobile_container_manager.metadata.plist":
            _plist("ph.telegra.Telegraph"),
        f"{app}/Documents/telegram-data/account-0042/postbox/media/telegram-cloud-photo-0042"
        ".jpg": _jpeg(914),
    }


def android_thumbdata(jpegs: list[bytes], slot: int = 10000) -> bytes:
    """An AOSP MiniThumbFile: slot 0 empty, then one thumbnail per slot (1, magic, length)."""
    out = bytearray(slot)  # slot 0: MediaStore ids start at 1
    for i, data in enumerate(jpegs, 1):
        block = b"\x01" + (0x0D15EA5E0042 + i).to_bytes(8, "big") + len(data).to_bytes(4, "big")
        out += (block + data).ljust(slot, b"\0")
    return bytes(out)


def android_tree() -> dict[str, bytes]:
    wa = f"{ANDROID}/Android/media/com.whatsapp/WhatsApp/Media/WhatsApp Images"
    return {
        f"{ANDROID}/DCIM/Camera/IMG_20240110_090000.jpg": _jpeg(920),
        f"{wa}/Sent/IMG-20240111-WA0004.jpg": _jpeg(921),
        "data/data/org.telegram.messenger/cache/-6012345_120.jpg": _jpeg(922),
        THUMBDATA: android_thumbdata([_jpeg(923, (48, 36)), _jpeg(924, (48, 36))]),
    }


def _tar(path: Path, tree: dict[str, bytes]) -> None:
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in tree.items():
            ti = tarfile.TarInfo(name)
            ti.size, ti.mtime = len(data), 1_704_067_200
            tf.addfile(ti, io.BytesIO(data))


# -- Windows thumbcache ----------------------------------------------------------------------
def thumbcache_db(version: int, thumbs: list[bytes], cache_type: int) -> bytes:
    """A thumbcache_*.db after the libwtcdb layout of `version` (21 or 32): the thumbnails,
    one entry without data, and 40 bytes of damage between two entries."""
    hdr_size, id_at = (48, 16) if version == 21 else (56, 16)
    out = bytearray(b"CMMM" + version.to_bytes(4, "little") + cache_type.to_bytes(4, "little")
                    + (24).to_bytes(4, "little") + bytes(4) + len(thumbs).to_bytes(4, "little"))

    def entry(h: int, ident: str, data: bytes) -> bytes:
        idb = ident.encode("utf-16-le")
        body = bytearray(hdr_size)
        body[0:4] = b"CMMM"
        size = hdr_size + len(idb) + len(data)
        body[4:8] = size.to_bytes(4, "little")
        body[8:16] = h.to_bytes(8, "little")
        body[id_at:id_at + 4] = len(idb).to_bytes(4, "little")
        body[id_at + 8:id_at + 12] = len(data).to_bytes(4, "little")
        return bytes(body) + idb + data

    for i, data in enumerate(thumbs):
        h = 0x1F3A_0000_0000_0042 + i
        out += entry(h, f"{h:x}", data)
        if i == 0:
            out += entry(0x77, "77", b"")  # a placeholder without data
            out += random.Random(version).randbytes(40).replace(b"CMMM", b"cmmm")  # damage
    return bytes(out)


# -- unallocated space -------------------------------------------------------------------------
def unallocated(tmp: Path) -> tuple[bytes, dict[int, bytes]]:
    rnd = random.Random(42)
    planted = [_jpeg(930), _save(931, "PNG"), _save(932, "GIF"), _save(933, "WEBP", quality=70),
               _clip(tmp)]
    blob, at = bytearray(), {}
    for data in planted:
        blob += rnd.randbytes(rnd.randrange(3000, 9000)) + bytes(rnd.randrange(100, 5000))
        at[len(blob)] = data
        blob += data
    cut = _jpeg(934)
    blob += bytes(2048) + cut[: len(cut) // 2] + bytes(4096)  # a JPEG cut short: not carved
    return bytes(blob), at


def make_phone(out: Path) -> dict:
    """Write every phone exhibit under `out/phone/`; return their paths and expectations."""
    root = out / "phone"
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    tmp = root / ".tmp"
    tmp.mkdir()
    made: dict = {"root": root, "ufdr": ufdr(root / "exhibit-09.ufdr", tmp)}
    ios = ios_tree()
    with zipfile.ZipFile(root / "iphone-ffs.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in ios.items():
            zf.writestr(name, data)
    for name, data in ios.items():
        p = root / "iphone-ffs" / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    _tar(root / "android-ffs.tar", android_tree())
    (root / "thumbcache_256.db").write_bytes(
        thumbcache_db(32, [_jpeg(940, (64, 48)), _save(941, "PNG", (64, 48))], 4))
    (root / "thumbcache_96.db").write_bytes(
        thumbcache_db(21, [_save(942, "BMP", (32, 24)), _jpeg(943, (32, 24))], 1))
    blob, planted = unallocated(tmp)
    (root / "unallocated.bin").write_bytes(blob)
    shutil.rmtree(tmp)
    made.update(ios=ios, ios_zip=root / "iphone-ffs.zip", ios_dir=root / "iphone-ffs",
                android=root / "android-ffs.tar", thumbcache=root / "thumbcache_256.db",
                thumbcache7=root / "thumbcache_96.db", unallocated=root / "unallocated.bin",
                carved=planted)
    return made


if __name__ == "__main__":  # python -m cairn.demo_phone OUT: the phone exhibits alone
    import sys

    made = make_phone(Path(sys.argv[1] if len(sys.argv) > 1 else "demo-out"))
    print("\n".join(str(p) for p in sorted(made["root"].iterdir())))
