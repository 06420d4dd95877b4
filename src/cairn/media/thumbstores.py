"""Thumbnail cache folders known by where they sit, wherever the walk meets them (a folder, an
SD card or phone partition image, an extraction): each cached thumbnail is an ordinary
picture file, so it is hashed and PDQ-matched like any other; this module says, from its
path alone, that it is a thumbnail and what the cache records about it. A thumbnail of a
listed picture is evidence the picture was on the device even when the picture is gone.

Folders followed (public descriptions of each layout):
- Android MediaStore `.thumbnails/` folders (`DCIM/.thumbnails/`, `Pictures/.thumbnails/`,
  on the SD card or in shared storage): one JPEG per thumbnail, named by MediaStore (the
  picture's id or a timestamp); which picture it shows is kept in MediaStore's
  `external.db` (`thumbnails` table, `image_id`), which is not read here: the origin says so.
  The legacy `.thumbdata*` stores beside them are containers (media/thumbcache.py).
- iOS Photos `Media/PhotoData/Thumbnails/V2/<path of the picture>/<n>.JPG`: the folder is
  named after the picture the thumbnail shows, so `thumbnail_of` is known even when the
  picture is gone. `.ithmb` stores (raw pixel strips) are not read (scan/worker.py notes).
- freedesktop.org thumbnails (Linux desktops: `.cache/thumbnails/<size>/<md5>.png`, legacy
  `.thumbnails/<size>/`): named by the MD5 of the picture's URI; the URI itself, the
  picture's mtime, size and type are in the PNG's `Thumb::` text, read from the bytes the
  scan decodes by media/thumbtext.py (scan/worker.py), which completes this origin.
"""

from __future__ import annotations

import re

Origin = dict[str, object]  # the shape media/extraction.py gives (it imports this module)

_IOS_V2 = re.compile(r"(?:^|/)(?:Media/)?PhotoData/Thumbnails/V2/(.+)/([^/]+)$")
_FREEDESKTOP = re.compile(r"(?:^|/)(?:\.cache/thumbnails|\.thumbnails)/"
                          r"(normal|large|x-large|xx-large|fail/[^/]+)/([0-9a-f]{32})\.png$")
_ANDROID = re.compile(r"(?:^|/)\.thumbnails/([^/]+)$")
_PICTURE_EXT = (".jpg", ".jpeg", ".png", ".webp")


def thumbnail_origin(path: str) -> Origin | None:
    """What a thumbnail cache says of the file at `path` ('/'-separated, below any root),
    or None when `path` is not in a thumbnail cache folder Cairn knows."""
    if (m := _IOS_V2.search(path)) is not None:
        return {"thumbnail": True, "cache": "iOS Photos thumbnails (PhotoData/Thumbnails/V2)",
                "thumbnail_of": "/private/var/mobile/Media/" + m.group(1),
                "cache_entry": m.group(2)}
    if (m := _FREEDESKTOP.search(path)) is not None:
        return {"thumbnail": True, "cache": f"freedesktop.org thumbnails ({m.group(1)})",
                "uri_md5": m.group(2),
                "thumbnail_of": "not read: the PNG's Thumb::URI text names the picture (read "
                                "when the picture is decoded; the file is named by its MD5)"}
    if (m := _ANDROID.search(path)) is not None:
        name = m.group(1)
        if name.startswith(".thumbdata") or not name.lower().endswith(_PICTURE_EXT):
            return None  # the legacy store is a container; other files are not thumbnails
        stem = name.rsplit(".", 1)[0]
        out: Origin = {"thumbnail": True, "cache": "Android MediaStore .thumbnails",
                       "cache_entry": name,
                       "thumbnail_of": "not in the file: MediaStore's external.db "
                                       "(thumbnails table, image_id) names the picture"}
        if stem.isdigit():
            out["cache_key"] = int(stem)
        return out
    return None
