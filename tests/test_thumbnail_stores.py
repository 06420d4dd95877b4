"""Phone and desktop thumbnail caches where they are met in seized media: an SD card image
(FAT, by mkfs.vfat/mtools) with Android's `DCIM/.thumbnails/` JPEGs and a legacy
`.thumbdata3--1967290299` store, an iPhone data partition image (ext4 by `mkfs.ext4 -d`, its
root /private/var) with Photos' `Thumbnails/V2/` JPEGs and an `.ithmb`, and the same trees
copied to folders. Every cached thumbnail is an image item, PDQ-hashed, marked as a
thumbnail with what its cache records; pictures outside the caches are not marked. Benign
generated pictures only."""

from __future__ import annotations

import hashlib
import io
import tarfile
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from cairn.demo_phone import android_thumbdata
from cairn.media.limits import Limits
from cairn.media.thumbstores import thumbnail_origin
from cairn.media.walk import walk
from cairn.scan.worker import process_entry
from test_disk_images import need, records, sh

THUMBDATA = ".thumbdata3--1967290299"
IOS_THUMB = "mobile/Media/PhotoData/Thumbnails/V2/DCIM/100APPLE/IMG_0003.JPG/5005.JPG"
FREEDESKTOP = ".cache/thumbnails/normal/0123456789abcdef0123456789abcdef.png"


def jpeg(seed: int, size: tuple[int, int] = (64, 48)) -> bytes:
    im = Image.linear_gradient("L").resize(size).convert("RGB")
    im.paste((seed * 37 % 256, 90, 255 - seed * 11 % 256), (0, 0, size[0] // 2, size[1] // 2))
    b = io.BytesIO()
    im.save(b, "JPEG", quality=90)
    return b.getvalue()


def png(seed: int) -> bytes:
    b = io.BytesIO()
    Image.new("RGB", (32, 32), (seed, 200, 40)).save(b, "PNG")
    return b.getvalue()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def sdcard(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """What an Android phone's SD card holds: camera pictures, MediaStore's thumbnails."""
    return {"DCIM/Camera/IMG_20240110_090000.jpg": jpeg(1, (120, 90)),
            "DCIM/.thumbnails/1700000000001.jpg": jpeg(2),
            "DCIM/.thumbnails/37.jpg": jpeg(3),
            f"DCIM/.thumbnails/{THUMBDATA}": android_thumbdata([jpeg(4), jpeg(5)])}


def plant(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return root


def check_android(recs: dict[str, dict], prefix: str, files: dict[str, bytes],
                  container: str) -> None:
    for key, name in ((1700000000001, "1700000000001.jpg"), (37, "37.jpg")):
        r = recs[f"{prefix}DCIM/.thumbnails/{name}"]
        assert r["kind"] == "image" and r["pdq"] and not r["errors"]
        assert r["sha256"] == sha(files[f"DCIM/.thumbnails/{name}"])
        o = r["origin"]
        assert o["thumbnail"] is True and o["cache"] == "Android MediaStore .thumbnails"
        assert o["cache_key"] == key and o["cache_entry"] == name
        assert "external.db" in o["thumbnail_of"]
        if container:
            assert o["container"] == container
    store = f"{prefix}DCIM/.thumbnails/{THUMBDATA}"
    slots = {r["origin"]["slot"]: r for p, r in recs.items() if p.startswith(store + "!/")}
    assert sorted(slots) == [1, 2]
    assert [slots[i]["sha256"] for i in (1, 2)] == [sha(jpeg(4)), sha(jpeg(5))]
    assert all(r["origin"]["thumbnail"] is True and r["pdq"] for r in slots.values())
    cam = recs[f"{prefix}DCIM/Camera/IMG_20240110_090000.jpg"]
    assert cam["kind"] == "image" and "thumbnail" not in (cam.get("origin") or {})


def test_sd_card_image_android_thumbnails(tmp_path: Path, sdcard: dict[str, bytes]) -> None:
    need("mkfs.vfat", "mcopy")
    tree = plant(tmp_path / "card", sdcard)
    img = tmp_path / "sdcard.img"
    sh("truncate", "-s", "8M", img)
    sh("mkfs.vfat", "-n", "SDCARD", img)
    sh("mcopy", "-s", "-i", img, tree / "DCIM", "::/")
    recs = records(img)
    check_android(recs, "sdcard.img!/", sdcard, "disk image")
    loc = recs["sdcard.img!/DCIM/.thumbnails/37.jpg"]["origin"]["location"]
    assert loc.startswith("sdcard.img/FAT") and loc.endswith("/DCIM/.thumbnails/37.jpg")


def test_sd_card_copied_to_a_folder(tmp_path: Path, sdcard: dict[str, bytes]) -> None:
    root = plant(tmp_path / "exhibit-3", sdcard)
    recs = {r["path"]: r for e in walk(root) for r in process_entry(e, Limits())}
    check_android(recs, "", sdcard, "")


@pytest.fixture(scope="module")
def iphone() -> dict[str, bytes]:
    """An iPhone data partition's files below /private/var: a camera roll picture, Photos'
    thumbnail of a picture no longer there, an .ithmb store, an app's cached picture."""
    return {"mobile/Media/DCIM/100APPLE/IMG_0001.JPG": jpeg(10, (120, 90)),
            IOS_THUMB: jpeg(11),
            "mobile/Media/PhotoData/Thumbnails/3141.ithmb": bytes(4096),
            f"mobile/{FREEDESKTOP}": png(12)}


def test_iphone_partition_image_photos_thumbnails(tmp_path: Path,
                                                  iphone: dict[str, bytes]) -> None:
    need("mkfs.ext4")
    tree = plant(tmp_path / "var", iphone)
    img = tmp_path / "iphone-data.img"
    sh("truncate", "-s", "8M", img)
    sh("mkfs.ext4", "-q", "-d", tree, img)
    recs = records(img)
    r = recs[f"iphone-data.img!/{IOS_THUMB}"]
    assert r["kind"] == "image" and r["pdq"] and r["sha256"] == sha(iphone[IOS_THUMB])
    o = r["origin"]
    assert o["container"] == "disk image" and o["deleted"] is False
    assert o["thumbnail"] is True and o["cache_entry"] == "5005.JPG"
    assert o["cache"] == "iOS Photos thumbnails (PhotoData/Thumbnails/V2)"
    assert o["thumbnail_of"] == "/private/var/mobile/Media/DCIM/100APPLE/IMG_0003.JPG"
    assert "IMG_0003.JPG" not in {p.rsplit("/", 1)[-1] for p in recs}  # the picture is gone
    ithmb = recs["iphone-data.img!/mobile/Media/PhotoData/Thumbnails/3141.ithmb"]
    assert "not examined: iOS .ithmb thumbnail store" in ithmb["errors"][0]["message"]
    cam = recs["iphone-data.img!/mobile/Media/DCIM/100APPLE/IMG_0001.JPG"]
    assert "thumbnail" not in cam["origin"]
    fd = recs[f"iphone-data.img!/mobile/{FREEDESKTOP}"]
    assert fd["origin"]["thumbnail"] is True and fd["pdq"]
    assert fd["origin"]["uri_md5"] == "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize("path", [
    "DCIM/.thumbnails/notes.txt", "DCIM/.thumbnails/.thumbdata4--1967290299",
    "Pictures/thumbnails/1.jpg", "DCIM/Camera/.thumbnails.jpg",
    "home/u/.cache/thumbnails/normal/not-an-md5.png", "PhotoData/Thumbnails/3141.ithmb",
])
def test_not_a_cached_thumbnail(path: str) -> None:
    assert thumbnail_origin(path) is None


def test_ios_thumbnail_anywhere_below_a_root() -> None:
    for root in ("", "fs/private/var/", "Dump/", "iphone.E01!/p1/"):
        o = thumbnail_origin(root + IOS_THUMB)
        assert o is not None
        assert o["thumbnail_of"] == "/private/var/mobile/Media/DCIM/100APPLE/IMG_0003.JPG"


@pytest.mark.parametrize("kind", ["zip", "tar", "tar.gz"])
def test_sd_card_copied_into_an_archive(tmp_path: Path, sdcard: dict[str, bytes],
                                        kind: str) -> None:
    """An SD card's files zipped or tarred (not a phone extraction: no phone layout):
    the thumbnails are still marked, the camera picture still has no origin."""
    root = plant(tmp_path / "card", sdcard)
    out = tmp_path / f"card.{kind}"
    if kind == "zip":
        with zipfile.ZipFile(out, "w") as zf:
            for name in sdcard:
                zf.write(root / name, name)
    else:
        with tarfile.open(out, "w:gz" if kind == "tar.gz" else "w") as tf:
            for name in sdcard:
                tf.add(root / name, name)
    recs = records(out)
    prefix = f"{out.name}!/"
    for name in ("1700000000001.jpg", "37.jpg"):
        o = recs[f"{prefix}DCIM/.thumbnails/{name}"]["origin"]
        assert o["thumbnail"] is True and o["cache"] == "Android MediaStore .thumbnails"
    assert "origin" not in recs[f"{prefix}DCIM/Camera/IMG_20240110_090000.jpg"]
    assert len([p for p in recs if f"{THUMBDATA}!/slot-" in p]) == 2
