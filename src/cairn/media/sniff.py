"""Media type from magic bytes. The extension is never consulted: evidence lies about it."""

from __future__ import annotations

from cairn.media.disk.detect import DISK_TYPES, disk_type

HEAD_BYTES = 4096

_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}
_AVIF_BRANDS = {b"avif", b"avis"}
_QT_BRANDS = {b"qt  "}
_AUDIO_BRANDS = {b"M4A ", b"M4B ", b"M4P "}
_M4V_BRANDS = {b"M4V ", b"M4VH", b"M4VP"}  # iTunes video: an MP4 by another name
_BZ2_BLOCKS = (b"1AY&SY", b"\x17rE8P\x90")  # a block's magic (pi), or an empty stream's end

THUMBCACHE = "application/x-thumbcache"  # Windows thumbcache_*.db (media/thumbcache.py)
ANDROID_THUMBDATA = "application/x-android-thumbdata"  # MediaStore .thumbdata* slots
IOS_ITHMB = "application/x-ios-ithmb"  # raw pixel strips: recognised, not read
# gzip, bzip2 and xz hold a tarball or one compressed file: either way, members to read;
# thumbnail stores hold thumbnails: read the same way, as members
ARCHIVE_TYPES = {"application/zip", "application/x-tar", "application/gzip",
                 "application/x-bzip2", "application/x-xz", THUMBCACHE, ANDROID_THUMBDATA}
MODEL_TYPES = {"application/x-safetensors", "application/x-pytorch-checkpoint"}
CHECKPOINT_EXT = (".ckpt", ".pt", ".pth")
# not pictures or videos, yet able to carry C2PA credentials: provenance reads their stream
STREAM_PROVENANCE_TYPES = {"audio/mp4", "audio/wav", "audio/mpeg", "audio/flac",
                           "application/pdf"}  # PyTorch zip checkpoints: a model, not an archive


def _ftyp(head: bytes) -> str | None:
    if len(head) < 12 or head[4:8] != b"ftyp":
        return None
    major = head[8:12]
    box_len = int.from_bytes(head[0:4], "big")
    brands = {major}
    end = min(max(box_len, 16), len(head))
    brands.update(head[i : i + 4] for i in range(16, end - 3, 4))
    if brands & _AVIF_BRANDS:
        return "image/avif"
    if brands & _HEIF_BRANDS:
        return "image/heic"
    if major in _AUDIO_BRANDS:
        return "audio/mp4"
    if major in _QT_BRANDS:
        return "video/quicktime"
    if major in _M4V_BRANDS:
        return "video/x-m4v"
    if major.startswith(b"3g"):
        return "video/3gpp"
    return "video/mp4"


def sniff(head: bytes) -> str:
    """Return a MIME type for the first bytes of a file (at least HEAD_BYTES when available)."""
    if not head:
        return "application/x-empty"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] == b"RIFF" and len(head) >= 12:
        fourcc = head[8:12]
        if fourcc == b"WEBP":
            return "image/webp"
        if fourcc == b"AVI ":
            return "video/x-msvideo"
        if fourcc == b"WAVE":
            return "audio/wav"
    if head.startswith(b"BM") and len(head) >= 26 and head[6:10] == b"\0\0\0\0":
        return "image/bmp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "image/tiff"
    ftyp = _ftyp(head)
    if ftyp:
        return ftyp
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/webm" if b"webm" in head[:64] else "video/x-matroska"
    if head.startswith(b"FLV\x01"):
        return "video/x-flv"
    if head.startswith(b"\x30\x26\xb2\x75\x8e\x66\xcf\x11"):
        return "video/x-ms-asf"
    if head[:4] in (b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3"):
        return "video/mpeg"
    if len(head) > 376 and head[0] == 0x47 and head[188] == 0x47 and head[376] == 0x47:
        return "video/mp2t"
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "application/zip"
    if len(head) >= 262 and head[257:262] == b"ustar":
        return "application/x-tar"
    if head.startswith(b"\x1f\x8b"):
        return "application/gzip"
    if head.startswith(b"BZh") and head[3:4].isdigit() and head[4:10] in _BZ2_BLOCKS:
        return "application/x-bzip2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "application/x-xz"
    if head.startswith(b"7z\xbc\xaf\x27\x1c"):
        return "application/x-7z-compressed"
    if head.startswith(b"Rar!\x1a\x07"):
        return "application/vnd.rar"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head[:4] == b"CMMM" and len(head) >= 24 and head[4] in (20, 21, 30, 31, 32) \
            and head[5:8] == b"\0\0\0":
        return THUMBCACHE
    audio = _audio(head)
    if audio:
        return audio
    if _safetensors(head):
        return "application/x-safetensors"
    return disk_type(head) or "application/octet-stream"  # last: a raw disk is any bytes


# MPEG audio frame header (ISO/IEC 11172-3 2.4.2.3, 13818-3 for MPEG-2/2.5): kbit/s by
# (MPEG-1?, layer) and bitrate index 1..14, samples/s by version and index 0..2
_KBPS = {(True, 1): (32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
         (True, 2): (32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
         (True, 3): (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
         (False, 1): (32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
         (False, 2): (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)}
_KBPS[(False, 3)] = _KBPS[(False, 2)]
_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def _mpeg_frame(head: bytes, pos: int) -> int | None:
    """Length of the MPEG audio frame whose header is at `pos`, None if none is there."""
    if pos + 4 > len(head) or head[pos] != 0xFF or head[pos + 1] & 0xE0 != 0xE0:
        return None
    version, layer = (head[pos + 1] >> 3) & 3, 4 - ((head[pos + 1] >> 1) & 3)
    rate_i, bitrate_i = (head[pos + 2] >> 2) & 3, head[pos + 2] >> 4
    if version == 1 or layer == 4 or rate_i == 3 or bitrate_i in (0, 15):
        return None  # reserved values, or free format (too rare to be worth a false match)
    kbps, rate = _KBPS[(version == 3, layer)][bitrate_i - 1], _RATES[version][rate_i]
    pad = (head[pos + 2] >> 1) & 1
    if layer == 1:
        return (12 * kbps * 1000 // rate + pad) * 4
    per = 144 if version == 3 or layer == 2 else 72  # MPEG-2/2.5 layer III: half the samples
    return per * kbps * 1000 // rate + pad


def _audio(head: bytes) -> str | None:
    """MP3 or FLAC, behind an ID3v2 tag or not (C2PA puts its manifest in one, in front of
    either). After a tag, anything but FLAC is taken for MP3, the usual case (padding may
    sit between the tag and the first frame, and a long tag hides what follows)."""
    if head.startswith(b"ID3") and len(head) >= 10 and head[3] in (2, 3, 4):
        size = head[6:10]
        if any(b & 0x80 for b in size):
            return None  # not a syncsafe integer: not an ID3v2 tag
        pos = 10 + (size[0] << 21 | size[1] << 14 | size[2] << 7 | size[3])
        pos += 10 if head[5] & 0x10 else 0  # a footer
        return "audio/flac" if head[pos:pos + 4] == b"fLaC" else "audio/mpeg"
    if head.startswith(b"fLaC"):
        return "audio/flac"
    length = _mpeg_frame(head, 0)
    if length is None:
        return None
    if length + 4 <= len(head) and _mpeg_frame(head, length) is None:
        return None  # a stray 0xFFE: the next frame must follow where this one ends
    return "audio/mpeg"


def _safetensors(head: bytes) -> bool:
    """8-byte little-endian header length, then a JSON object naming tensors' dtypes."""
    if len(head) < 16 or head[8:9] != b"{":
        return False
    n = int.from_bytes(head[:8], "little")
    return 2 <= n <= 100 * 1024 * 1024 and (b'"dtype"' in head or b'"__metadata__"' in head)


def refine(media_type: str, name: str) -> str:
    """Stores whose bytes carry no signature of their own, told by their fixed names: an
    Android `.thumbdata3--1967290299` (its first slot is often empty) and an iOS `.ithmb`.
    Only bytes that sniffed as nothing else are renamed so; the reader still checks them."""
    if media_type not in ("application/octet-stream", "application/x-empty"):
        return media_type
    base = name.rsplit("/", 1)[-1].lower()
    if base.startswith((".thumbdata", "thumbdata")) and media_type != "application/x-empty":
        return ANDROID_THUMBDATA
    if base.endswith(".ithmb"):
        return IOS_ITHMB
    return media_type


def kind_of(media_type: str) -> str:
    """Coarse kind used for counting and dispatch: image, video, archive, disk, model or
    other."""
    if media_type.startswith("image/"):
        return "image"
    if media_type.startswith("video/"):
        return "video"
    if media_type in ARCHIVE_TYPES:
        return "archive"
    if media_type in MODEL_TYPES:
        return "model"
    if media_type in DISK_TYPES:
        return "disk"
    return "other"
