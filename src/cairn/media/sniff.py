"""Media type from magic bytes. The extension is never consulted: evidence lies about it."""

from __future__ import annotations

HEAD_BYTES = 4096

_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}
_AVIF_BRANDS = {b"avif", b"avis"}
_QT_BRANDS = {b"qt  "}
_AUDIO_BRANDS = {b"M4A ", b"M4B ", b"M4P "}
_BZ2_BLOCKS = (b"1AY&SY", b"\x17rE8P\x90")  # a block's magic (pi), or an empty stream's end

# gzip, bzip2 and xz hold a tarball or one compressed file: either way, members to read
ARCHIVE_TYPES = {"application/zip", "application/x-tar", "application/gzip",
                 "application/x-bzip2", "application/x-xz"}
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
    if _safetensors(head):
        return "application/x-safetensors"
    return "application/octet-stream"


def _safetensors(head: bytes) -> bool:
    """8-byte little-endian header length, then a JSON object naming tensors' dtypes."""
    if len(head) < 16 or head[8:9] != b"{":
        return False
    n = int.from_bytes(head[:8], "little")
    return 2 <= n <= 100 * 1024 * 1024 and (b'"dtype"' in head or b'"__metadata__"' in head)


def kind_of(media_type: str) -> str:
    """Coarse kind used for counting and dispatch: image, video, archive, model or other."""
    if media_type.startswith("image/"):
        return "image"
    if media_type.startswith("video/"):
        return "video"
    if media_type in ARCHIVE_TYPES:
        return "archive"
    if media_type in MODEL_TYPES:
        return "model"
    return "other"
