"""Phone extractions: where a file sat on the phone, and which app put it there.

A full-file-system (FFS) extraction of an iPhone (GrayKey, Cellebrite, checkm8 tools: a zip or
tar of the data partition) or of an Android phone (a tar of /data) is walked like any
archive or folder; this module reads each path the way the phone laid it out and returns its
`origin`: a small JSON-able dict the item keeps (`container`, `device_path`, `app`,
`app_id`, `area`, `basis`, and for thumbnails `thumbnail_of`). Paths are matched on anchors
that only these layouts have, anywhere in the path (extractions put them under roots of
their own: `fs/`, `filesystem1/`, `Dump/`), so a folder that merely holds a `DCIM/` gets
no origin.

Layouts followed (public descriptions, never vendor code):
- iOS: `private/var/mobile/Media/DCIM/` (camera roll), `.../Media/PhotoData/Thumbnails/V2/
  <original path>/<n>.JPG` (Photos' thumbnails, named after the picture they show), app
  sandboxes `private/var/mobile/Containers/Data/Application/<UUID>/` and app groups
  `.../Containers/Shared/AppGroup/<UUID>/`, each named by its
  `.com.apple.mobile_container_manager.metadata.plist` (key `MCMMetadataIdentifier`: the
  bundle id). WhatsApp keeps chat media in its app group under `Message/Media/<chat>/`.
- Android: app-private `data/data/<package>/` and `data/user/<n>/<package>/`; shared storage
  `data/media/<n>/` (= `/sdcard`, `/storage/emulated/<n>`), where `Android/media/<package>/`
  and `Android/data/<package>/` belong to the package; WhatsApp's `WhatsApp/Media/WhatsApp
  Images/` (before Android 11) and `Android/media/com.whatsapp/WhatsApp/Media/...` (after),
  `Sent/` for what the phone sent, `.Statuses/` for statuses seen; Telegram's `Telegram/
  Telegram Images/`; `DCIM/Camera/`, `Pictures/Screenshots/`; `.thumbnails/` folders and
  `.thumbdata*` stores (media/thumbcache.py).

The container metadata of an iOS app is read from the extraction itself (`Apps.learn`):
from a zip's directory and an uncompressed tar's headers before the members are read, and
beside the file on disk for an extracted folder. Where it is not known the origin says so
(`app_id` None, `basis` "path layout").
"""

from __future__ import annotations

import functools
import os
import plistlib
import re
from collections.abc import Callable, Iterable

from cairn.media.thumbstores import thumbnail_origin

Origin = dict[str, object]

METADATA_PLIST = ".com.apple.mobile_container_manager.metadata.plist"
MAX_PLIST = 64 * 1024  # a container's metadata plist is a few hundred bytes
MAX_CONTAINERS = 10_000

# bundle ids and packages of the apps investigators ask about first: names for people
IOS_APPS = {
    "net.whatsapp.WhatsApp": "WhatsApp", "group.net.whatsapp.WhatsApp.shared": "WhatsApp",
    "net.whatsapp.WhatsAppSMB": "WhatsApp Business",
    "group.net.whatsapp.WhatsAppSMB.shared": "WhatsApp Business",
    "ph.telegra.Telegraph": "Telegram", "group.ph.telegra.Telegraph": "Telegram",
    "org.whispersystems.signal": "Signal", "group.org.whispersystems.signal.group": "Signal",
    "com.toyopagroup.picaboo": "Snapchat", "com.burbn.instagram": "Instagram",
    "com.facebook.Messenger": "Messenger", "com.hammerandchisel.discord": "Discord",
    "com.kik.chat": "Kik", "com.viber": "Viber", "jp.naver.line": "LINE",
    "com.apple.mobileslideshow": "Photos", "com.apple.MobileSMS": "Messages",
    "com.google.photos": "Google Photos", "com.apple.mobilesafari": "Safari",
}
ANDROID_APPS = {
    "com.whatsapp": "WhatsApp", "com.whatsapp.w4b": "WhatsApp Business",
    "org.telegram.messenger": "Telegram", "org.thunderdog.challegram": "Telegram X",
    "org.thoughtcrime.securesms": "Signal", "com.snapchat.android": "Snapchat",
    "com.instagram.android": "Instagram", "com.facebook.orca": "Messenger",
    "com.discord": "Discord", "kik.android": "Kik", "com.viber.voip": "Viber",
    "jp.naver.line.android": "LINE", "com.google.android.apps.photos": "Google Photos",
    "com.sec.android.gallery3d": "Samsung Gallery", "com.android.chrome": "Chrome",
    "com.google.android.apps.messaging": "Messages",
}

_UUID = r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
_IOS_MOBILE = re.compile(r"(?:^|/)private/var/mobile/(.*)$")
_IOS_CONTAINER = re.compile(
    rf"^Containers/(Data/Application|Shared/AppGroup|Data/PluginKitPlugin)/({_UUID})(?:/(.*))?$")
_IOS_THUMB = re.compile(r"^Media/PhotoData/Thumbnails/V2/(.+)/[^/]+$")
_AND_PRIVATE = re.compile(r"(?:^|/)data/(?:data|user/\d+|user_de/\d+)/([A-Za-z][\w.]*)(?:/(.*))?$")
_AND_SHARED = re.compile(r"(?:^|/)(?:data/media/\d+|sdcard|storage/emulated/\d+|"
                         r"mnt/sdcard)/(.*)$")
_AND_APPDIR = re.compile(r"^Android/(?:media|data|obb)/([A-Za-z][\w.]*)(?:/(.*))?$")


def _app(app_id: str | None, table: dict[str, str]) -> str | None:
    return table.get(app_id, app_id) if app_id else None


class Apps:
    """What a given extraction says about its iOS containers: `<kind>/<UUID>` -> bundle id."""

    def __init__(self) -> None:
        self.containers: dict[str, str] = {}
        self.errors: list[str] = []

    @staticmethod
    def metadata_key(path: str) -> str | None:
        """The container a metadata plist names, or None when `path` is not one."""
        m = _IOS_MOBILE.search(path)
        if not m or not path.endswith("/" + METADATA_PLIST):
            return None
        c = _IOS_CONTAINER.match(m.group(1))
        return f"{c.group(1)}/{c.group(2).upper()}" if c and c.group(3) == METADATA_PLIST \
            else None

    def learn(self, path: str, data: bytes) -> None:
        """Read one container's metadata plist (bounded; damage noted, never raised)."""
        key = self.metadata_key(path)
        if key is None or len(self.containers) >= MAX_CONTAINERS:
            return
        if len(data) > MAX_PLIST:
            self.errors.append(f"{path}: metadata plist over {MAX_PLIST} bytes; not read")
            return
        try:
            meta = plistlib.loads(data)
        except Exception as e:  # noqa: BLE001 - any damage is a note
            self.errors.append(f"{path}: unreadable metadata plist ({type(e).__name__})")
            return
        ident = meta.get("MCMMetadataIdentifier") if isinstance(meta, dict) else None
        if isinstance(ident, str) and ident:
            self.containers[key] = ident

    def learn_from(self, names: Iterable[str], read: Callable[[str], bytes | None]) -> None:
        """Learn every container whose metadata plist is among `names` (`read` gives its
        bytes, None when it cannot)."""
        for name in names:
            if self.metadata_key(name) is not None:
                data = read(name)
                if data is not None:
                    self.learn(name, data)

    def origin(self, path: str) -> Origin | None:
        """Where `path` (a member or file path inside an extraction) sat on the phone; a
        thumbnail cache's file outside a phone layout still gets what its cache says."""
        return ios_origin(path, self.containers) or android_origin(path) \
            or thumbnail_origin(path)


def ios_origin(path: str, containers: dict[str, str] | None = None) -> Origin | None:
    m = _IOS_MOBILE.search(path)
    if not m:
        return None
    rest = m.group(1)
    out: Origin = {"container": "ios-ffs", "device_path": "/private/var/mobile/" + rest,
                   "basis": "path layout"}
    if rest.startswith("Media/DCIM/"):
        out.update(area="camera roll", app="Photos", app_id="com.apple.mobileslideshow")
    elif (t := _IOS_THUMB.match(rest)) is not None:
        out.update(area="Photos thumbnail cache", app="Photos",
                   app_id="com.apple.mobileslideshow", thumbnail=True,
                   thumbnail_of="/private/var/mobile/Media/" + t.group(1))
        out.update(thumbnail_origin(rest) or {})
    elif rest.startswith("Media/PhotoData/"):
        out.update(area="Photos library data", app="Photos", app_id="com.apple.mobileslideshow")
    elif (c := _IOS_CONTAINER.match(rest)) is not None:
        kind, uuid, inner = c.group(1), c.group(2).upper(), c.group(3) or ""
        app_id = (containers or {}).get(f"{kind}/{uuid}")
        out.update(area="app group" if kind == "Shared/AppGroup" else "app sandbox",
                   container_uuid=uuid, app_id=app_id, app=_app(app_id, IOS_APPS))
        if app_id:
            out["basis"] = "container metadata"
        elif inner.startswith("Message/Media/"):  # WhatsApp's layout, known by its shape
            out.update(app="WhatsApp", note="app named by its folder layout; the container's "
                       "metadata plist was not read")
        else:
            out["note"] = "bundle id unknown: the container's metadata plist was not read"
        if inner.startswith("Message/Media/"):
            out["area"] = "chat media"
    elif rest.startswith("Media/"):
        out["area"] = "media"
    return out


def android_origin(path: str) -> Origin | None:
    m = _AND_PRIVATE.search(path)
    if m:
        pkg = m.group(1)
        return {"container": "android-ffs", "device_path": "/" + path[m.start():].lstrip("/"),
                "area": "app private data", "app_id": pkg, "app": _app(pkg, ANDROID_APPS),
                "basis": "path layout"}
    m = _AND_SHARED.search(path)
    if not m:
        return None
    rest = m.group(1)
    out: Origin = {"container": "android-ffs", "device_path": "/sdcard/" + rest,
                   "area": "shared storage", "basis": "path layout"}
    app_id: str | None = None
    inner = rest
    if (a := _AND_APPDIR.match(rest)) is not None:
        app_id, inner = a.group(1), a.group(2) or ""
    if inner.startswith("WhatsApp/") or inner.startswith("WhatsApp Business/"):
        app_id = app_id or ("com.whatsapp.w4b" if inner.startswith("WhatsApp B")
                            else "com.whatsapp")
        parts = inner.split("/")
        out["area"] = "chat media" if "Media" in parts else "app files"
        if "Sent" in parts:
            out["sent"] = True
        if ".Statuses" in parts:
            out["area"] = "statuses seen"
    elif inner.startswith("Telegram/"):
        app_id = app_id or "org.telegram.messenger"
        out["area"] = "chat media"
    elif rest.startswith("DCIM/Camera/"):
        out.update(area="camera", app="Camera")
    elif rest.startswith("Pictures/Screenshots/") or rest.startswith("DCIM/Screenshots/"):
        out.update(area="screenshots")
    if "/.thumbnails/" in "/" + rest or rest.rsplit("/", 1)[-1].startswith(".thumbdata"):
        out.update(area="thumbnail cache", thumbnail=True)
        out.update(thumbnail_origin(rest) or {})
    if app_id:
        out.update(app_id=app_id, app=_app(app_id, ANDROID_APPS))
    return out


def origin_of(path: str) -> Origin | None:
    """A path's origin on its own (no container metadata known)."""
    return ios_origin(path) or android_origin(path)


def looks_like_extraction(names: Iterable[str], sample: int = 5000) -> bool:
    """Whether an archive's names follow a phone layout (checks the first `sample`)."""
    for i, name in enumerate(names):
        if i >= sample:
            break
        if _IOS_MOBILE.search(name) or _AND_PRIVATE.search(name) or _AND_SHARED.search(name):
            return True
    return False


@functools.lru_cache(maxsize=4096)
def _container_on_disk(container_dir: bytes) -> str | None:
    """The bundle id in a container folder's metadata plist on disk (read without touching
    its atime where the kernel allows), None when absent or unreadable."""
    flags = os.O_RDONLY | getattr(os, "O_NOATIME", 0) | getattr(os, "O_NOFOLLOW", 0)
    path = os.path.join(container_dir, METADATA_PLIST.encode())
    try:
        try:
            fd = os.open(path, flags)
        except PermissionError:
            fd = os.open(path, flags & ~getattr(os, "O_NOATIME", 0))
        with os.fdopen(fd, "rb") as f:
            data = f.read(MAX_PLIST + 1)
    except OSError:
        return None
    try:
        meta = plistlib.loads(data) if len(data) <= MAX_PLIST else None
    except Exception:  # noqa: BLE001 - damage: unknown
        return None
    ident = meta.get("MCMMetadataIdentifier") if isinstance(meta, dict) else None
    return ident if isinstance(ident, str) and ident else None


def origin_on_disk(path: str, fs_path: bytes) -> Origin | None:
    """The origin of a file in an extraction unpacked to a folder: `path` as walked (below
    the source root), `fs_path` what to open; an iOS container's metadata is read beside.
    Outside a phone layout, a thumbnail cache's file (a copied SD card's `DCIM/.thumbnails/`)
    still gets what the cache says of it (media/thumbstores.py)."""
    return _origin_on_disk(path, fs_path) or thumbnail_origin(path)


def _origin_on_disk(path: str, fs_path: bytes) -> Origin | None:
    m = _IOS_MOBILE.search(path)
    if m:
        c = _IOS_CONTAINER.match(m.group(1))
        if c and c.group(3):
            depth = c.group(3).count("/") + 1  # components below the container folder
            container_dir = fs_path.rsplit(b"/", depth)[0]
            app_id = _container_on_disk(container_dir)
            if app_id:
                return ios_origin(path, {f"{c.group(1)}/{c.group(2).upper()}": app_id})
        return ios_origin(path)
    return android_origin(path)
