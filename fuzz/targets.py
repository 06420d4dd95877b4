"""Fuzz targets: one per reader of evidence bytes, each a small adapter registered in TARGETS.

An adapter turns one fuzz input (bytes) into one call of a reader, the way the scan calls it,
and consumes the result (every archive member, every frame). What a reader may raise is its
documented error type (`expected`); anything else escaping it is a finding, and so is a
timeout or running out of memory (the harness caps both, fuzz/harness.py).

Readers are imported inside `load()`, not at module level, for two reasons: the harness
imports them under atheris' instrumentation (coverage), and a reader renamed by someone else
breaks its own adapter here, in one place, and nothing else.
"""

from __future__ import annotations

import contextlib
import io
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image

    from cairn.media.limits import Limits
    from cairn.provenance.containers import Metadata

# modules whose Python code is instrumented for coverage, besides `cairn` itself
STDLIB_ARCHIVES = ("zipfile", "tarfile", "gzip", "bz2", "lzma", "_compression", "shutil")
PIL_PY = ("PIL",)  # Pillow's format plugins are Python: PNG chunks, EXIF/TIFF IFDs, JPEG markers
GENERATOR_KEYS: dict[str, tuple[str, ...]] = {  # the text keys each generator reader looks at
    "a1111": ("png:parameters", "exif:UserComment", "exif:Software"),
    "comfyui": ("png:prompt", "png:workflow"),
    "invokeai": ("png:invokeai_metadata", "png:sd-metadata", "png:Dream",
                 "png:invokeai_graph"),
    "fooocus": ("png:parameters", "png:fooocus_scheme", "exif:Software", "exif:MakerNote",
                "exif:UserComment"),
    "midjourney": ("png:Description", "png:Author", "exif:ImageDescription", "exif:Artist"),
    "novelai": ("png:Software", "png:Source", "png:Comment", "png:Description",
                "png:Generation time"),
    "swarmui": ("png:parameters", "exif:UserComment"),
}


@dataclass(frozen=True, slots=True)
class Adapter:
    run: Callable[[bytes], object]
    expected: tuple[type[BaseException], ...] = ()  # the reader's documented error types


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    doc: str  # what is fuzzed and what counts as a finding
    load: Callable[[], Adapter]
    instrument: tuple[str, ...] = ("cairn",)
    max_len: int = 64 * 1024  # largest input libFuzzer makes (seeds stay below it)
    timeout: int = 10  # seconds one input may take before it is a finding
    tokens: tuple[str, ...] = ()  # a libFuzzer dictionary: words the format is made of


def _limits() -> Limits:
    """The scan's default limits: what evidence meets."""
    from cairn.media.limits import Limits

    return Limits()


def _sniff() -> Adapter:
    from cairn.media.sniff import HEAD_BYTES, kind_of, sniff

    def run(data: bytes) -> object:
        return kind_of(sniff(data[:HEAD_BYTES]))

    return Adapter(run)


def _archive(media_type: str | None, name: str) -> Callable[[], Adapter]:
    """Members of a zip / tar / compressed file (media type from sniff when None), read to
    the end: what `scan` does with an archive before looking inside its members."""

    def load() -> Adapter:
        from cairn.media.archives import ArchiveError, iter_members
        from cairn.media.sniff import HEAD_BYTES, sniff

        limits = _limits()

        def run(data: bytes) -> object:
            mt = media_type or sniff(data[:HEAD_BYTES])
            n = 0
            for member in iter_members(io.BytesIO(data), mt, name, limits, len(data)):
                n += len(member.data or b"")
            return n

        return Adapter(run, (ArchiveError,))

    return load


def _decode() -> Adapter:
    """Pixels and the metadata read beside them: PNG chunks, EXIF IFDs, XMP, ICC."""
    from PIL import ImageCms

    from cairn.media.decode import DecodeError, open_image
    from cairn.provenance.containers import read_metadata

    limits = _limits()

    def run(data: bytes) -> object:
        try:
            image = open_image(data, limits.max_pixels)
        except DecodeError:
            return read_metadata(data, None)
        md = read_metadata(data, image)
        icc = image.info.get("icc_profile")
        if icc:
            # a damaged profile: Pillow's documented refusals
            with contextlib.suppress(OSError, ImageCms.PyCMSError):
                ImageCms.ImageCmsProfile(io.BytesIO(icc))
        return md

    return Adapter(run)


def _image_signals() -> Adapter:
    from cairn.media.decode import DecodeError
    from cairn.signals.image import image_signals

    limits = _limits()

    def run(data: bytes) -> object:
        mode = "fast" if zlib.crc32(data) & 1 else "exact"  # deterministic: replays alike
        return image_signals(data, limits.max_pixels, mode)

    return Adapter(run, (DecodeError,))


def _examine() -> Adapter:
    """Every provenance reader at once, as the scan calls them: never raises (documented).
    media.decode is imported as in a scan worker: it turns Pillow's own pixel guard off."""
    import cairn.media.decode  # noqa: F401 - for that side effect
    from cairn.media.sniff import HEAD_BYTES, sniff
    from cairn.provenance import examine

    def run(data: bytes) -> object:
        return [f.to_dict() for f in examine(data, media_type=sniff(data[:HEAD_BYTES]))]

    return Adapter(run)


def _c2pa() -> Adapter:
    from cairn.media.sniff import HEAD_BYTES, sniff
    from cairn.provenance.c2pa_reader import read_c2pa

    def run(data: bytes) -> object:
        mt = sniff(data[:HEAD_BYTES])
        return read_c2pa(data, mt if mt.startswith(("image/", "video/")) else "image/jpeg")

    return Adapter(run)


def _xmp() -> Adapter:
    from cairn.provenance.xmp import read_xmp

    return Adapter(read_xmp)


def generator_metadata(name: str, data: bytes) -> Metadata:
    """A generator reader's input from fuzz bytes: NUL-separated values of its text keys, in
    GENERATOR_KEYS order (empty values are left out, as an absent chunk)."""
    from cairn.provenance.containers import Metadata

    keys = GENERATOR_KEYS[name]
    values = data.split(b"\0", len(keys) - 1)
    text = {k: v.decode("utf-8", "replace") for k, v in zip(keys, values, strict=False) if v}
    return Metadata(text=text)


def _generator(name: str) -> Callable[[], Adapter]:
    """One generator reader on its own text: its Protocol says it never raises."""

    def load() -> Adapter:
        from cairn.provenance.generators import readers

        reader = next(r for r in readers() if _short(r.name) == name)

        def run(data: bytes) -> object:
            return [f.to_dict() for f in reader.read(generator_metadata(name, data), None)]

        return Adapter(run)

    return load


def _short(reader_name: str) -> str:
    return {"automatic1111": "a1111"}.get(reader_name, reader_name)


def stealth_image(data: bytes) -> Image.Image:
    """An RGBA picture whose alpha plane is the fuzz bytes, column-major as NovelAI reads it:
    byte 0-1 the height (big-endian), then alpha column by column (one LSB = one bit)."""
    import numpy as np
    from PIL import Image

    height = max(1, int.from_bytes(data[:2], "big") % 1024)
    alpha = np.frombuffer(data[2:], dtype=np.uint8)
    width = max(1, len(alpha) // height)
    plane = np.zeros(width * height, dtype=np.uint8)
    plane[:min(len(alpha), len(plane))] = alpha[:len(plane)]
    rgba = np.zeros((height, width, 4), dtype=np.uint8)
    rgba[:, :, 3] = plane.reshape(width, height).T
    rgba[:, :, 0] = rgba[:, :, 3] ^ 0x5A  # some colour, so the signature covers real pixels
    return Image.fromarray(rgba, "RGBA")


def _stealth() -> Adapter:
    """Pixel-LSB metadata (provenance.stealth, alpha then RGB) read as examine() reads it,
    then every generator reader over it (A1111, NovelAI with its Ed25519 signature,
    SwarmUI): the payload decides whose it is. Only StealthError leaves the bit reader."""
    from cairn.media.decode import Picture
    from cairn.provenance.containers import Metadata
    from cairn.provenance.generators import read_generators
    from cairn.provenance.stealth import StealthError, read_stealth

    def run(data: bytes) -> object:
        buf = io.BytesIO()
        stealth_image(data).save(buf, "PNG", compress_level=0)
        picture = Picture(buf.getvalue(), _limits().max_pixels)  # as a worker hands it over
        md = Metadata()
        try:
            md.stealth = read_stealth(picture)
        except StealthError as e:  # documented: a signature, then damage
            md.stealth_error = str(e)
        return [f.to_dict() for f in read_generators(md, picture)]

    return Adapter(run)


def _models() -> Adapter:
    """safetensors headers and checkpoint files: hashed, headers parsed, never unpickled."""
    from cairn.provenance.models import ModelFileError, hash_model

    def run(data: bytes) -> object:
        fmt = "checkpoint" if data.startswith(b"PK") else None
        return hash_model(io.BytesIO(data), fmt).to_dict()

    return Adapter(run, (ModelFileError,))


def _media_tags() -> Adapter:
    """A video's container tags and XMP (provenance.media_tags: our own ISO-BMFF and EBML
    walkers, by seeking) from the stream; damage is a note, never an exception."""
    from cairn.provenance.media_tags import read_media_tags

    def run(data: bytes) -> object:
        mt = "video/webm" if data[:4] == b"\x1a\x45\xdf\xa3" else "video/mp4"
        md = read_media_tags(io.BytesIO(data), mt)
        return md.text, md.xmp, md.errors

    return Adapter(run)


def _video() -> Adapter:
    from cairn.signals.vpdq import VideoError, vpdq_frames

    def run(data: bytes) -> object:  # both modes: the scan's fast path skips packets
        try:
            exact = vpdq_frames(io.BytesIO(data), 1.0, mode="exact")
        except VideoError as e:
            exact = e.frames
        return exact, vpdq_frames(io.BytesIO(data), 1.0, mode="fast")

    return Adapter(run, (VideoError,))


def _ufdr() -> Adapter:
    """A UFDR's report.xml, stream-parsed as the scan reads it (defusedxml, bounded); the
    origin of every file listed is built. ReportError only (damage after the root is data)."""
    from cairn.media.ufdr import ReportError, read_report

    def run(data: bytes) -> object:
        report = read_report(io.BytesIO(data), max_bytes=1 << 20, max_files=10_000)
        return [f.origin() for files in report.by_local.values() for f in files], \
            [f.origin() for f in report.without_content], report.error

    return Adapter(run, (ReportError,))


def _thumbcache() -> Adapter:
    """Windows thumbcache_*.db (CMMM) or Android .thumbdata slots, as archive members read to
    the end; ArchiveError only."""
    from cairn.media.archives import ArchiveError, iter_members
    from cairn.media.sniff import ANDROID_THUMBDATA, THUMBCACHE

    limits = _limits()

    def run(data: bytes) -> object:
        mt = THUMBCACHE if data[:4] == b"CMMM" else ANDROID_THUMBDATA
        return [(m.name, len(m.data or b""), m.origin, m.error)
                for m in iter_members(io.BytesIO(data), mt, "fuzz.db", limits, len(data))]

    return Adapter(run, (ArchiveError,))


def _thumb_text() -> Adapter:
    """A freedesktop.org thumbnail's Thumb:: text (media.thumbtext), as the scan completes
    its origin from the PNG's bytes: never raises, and the origin is JSON (it is stored)."""
    import json

    from cairn.media.thumbtext import freedesktop_details

    def run(data: bytes) -> object:
        origin, notes = freedesktop_details({"uri_md5": "0" * 32}, data)
        json.dumps(origin)
        json.dumps(notes)
        return origin, notes

    return Adapter(run)


def _carve() -> Adapter:
    """Signature carving over the input, seekable and forward-only alike: never raises,
    and the two readings carve the same files."""
    from cairn.media.carve import CarveStats, carve

    def run(data: bytes) -> object:
        stats = CarveStats()
        seek = [(c.offset, c.length, c.kind) for c in carve(io.BytesIO(data), stats=stats)]
        fwd = [(c.offset, c.length, c.kind)
               for c in carve(io.BufferedReader(_Forward(data)), stats=CarveStats())]
        if seek != fwd:
            raise AssertionError(f"seekable and forward-only carving differ: {seek} {fwd}")
        return seek, stats.to_dict()

    return Adapter(run)


def _volumes() -> Adapter:
    """A disk's partition table (MBR, GPT, an Apple Partition Map of 512-4096-byte blocks,
    LVM2) read as an image's volumes are; VolumeError only."""
    from cairn.media.disk.volumes import VolumeError, volumes

    def run(data: bytes) -> object:
        vols, notes = volumes(io.BytesIO(data), len(data))
        return [(v.name, v.offset, v.size, v.scheme, v.type) for v in vols], notes

    return Adapter(run, (VolumeError,))


class _Forward(io.RawIOBase):
    """A stream that cannot seek."""

    def __init__(self, data: bytes) -> None:
        self.f = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.f.read(len(b))
        b[:len(data)] = data
        return len(data)


JSON = ("{", "}", "[", "]", '":', '","', "null", "true", "1e999", "-1", '"\\u0000"')
TOKENS: dict[str, tuple[str, ...]] = {
    "a1111": ("Steps: ", "Sampler: ", "Seed: ", "\nNegative prompt:", "Lora hashes: ",
              "TI hashes: ", "Version: ", "App: ", "forge", "sd.next", ": ", ", ", '"', '\\"',
              "0123456789ab", "Civitai resources: ", "Civitai metadata: ", "Hashes: ", "[",
              "{", "<lora:", "urn:air:sdxl:lora:civitai:328553@368189", "Module 1: "),
    "comfyui": (*JSON, '"class_type"', '"inputs"', '"KSampler"', '"positive"', '"negative"',
                '"text"', '"ckpt_name"', '"lora_name"', '"seed"', '"nodes"',
                '"widgets_values"', '"type"', '"CheckpointLoaderSimple"', '"LoraLoader"',
                '"width"', '"height"', '"EmptyLatentImage"', '"sampler_name"',
                '"conditioning"', '"strength_model"'),
    "invokeai": (*JSON, '"loras"', '"model"', '"vae"', '"image"', '"prompt"',
                 '"positive_prompt"', '"width"', '"height"', '"seed"', '"name"', '"hash"',
                 '"weight"', " -s ", " -S ", " -W ", " -H ", " -C ", " -A ", "'"),
    "fooocus": (*JSON, '"loras"', '"LoRA 1"', '"resolution"', '"seed"', "fooocus",
                "Steps: ", "Sampler: ", "Seed: ", " : "),
    "midjourney": ("Job ID: ", "3f2b6c1e-8a4d-4f0b-9c7e-1d2e3f4a5b6c", " --v ", " --seed ",
                   " --niji", " --"),
    "swarmui": (*JSON, '"sui_image_params"', '"sui_models"', '"sui_extra_data"', '"prompt"',
                '"seed"', '"model"', '"loras"', '"loraweights"', '"hash"', '"0x', "NaN",
                '"cfgscale"', '"width"'),
    "novelai": (*JSON, "NovelAI", '"signed_hash"', '"width"', '"height"', '"seed"', '"steps"',
                '"scale"', '"prompt"', '"uc"', " 4BDE2A90"),
}


def _gen(name: str, doc: str) -> Target:
    """Text readers: fast, so an input taking seconds is a finding (superlinear parsing)."""
    return Target(name, doc, _generator(name), max_len=16 * 1024, timeout=3,
                  tokens=TOKENS[name])


TARGETS: dict[str, Target] = {t.name: t for t in (
    Target("sniff", "media type from magic bytes; never raises", _sniff, max_len=4096),
    Target("zip", "zip members read to the end; ArchiveError only",
           _archive("application/zip", "fuzz.zip"), ("cairn", *STDLIB_ARCHIVES)),
    Target("tar", "tar members read to the end; ArchiveError only",
           _archive("application/x-tar", "fuzz.tar"), ("cairn", *STDLIB_ARCHIVES)),
    Target("compressed", "gzip/bz2/xz (and tarballs in them) by sniffed type; ArchiveError only",
           _archive(None, "fuzz.gz"), ("cairn", *STDLIB_ARCHIVES)),
    Target("decode", "media.decode.open_image + PNG chunks, EXIF, XMP, ICC; DecodeError only",
           _decode, ("cairn", *PIL_PY)),
    Target("image_signals", "decode + PDQ (exact or fast by input); DecodeError only",
           _image_signals, ("cairn", *PIL_PY)),
    Target("examine", "provenance.examine, every reader at once; never raises", _examine,
           ("cairn", *PIL_PY, "defusedxml")),
    Target("c2pa", "provenance.c2pa_reader.read_c2pa (native SDK); never raises", _c2pa),
    Target("media_tags", "MP4/MOV boxes and Matroska tags of a video stream; never raises",
           _media_tags, timeout=5,
           tokens=("ftyp", "moov", "udta", "meta", "hdlr", "mdta", "keys", "ilst", "data",
                   "uuid", "\xa9cmt", "----", "XMP_", "prompt", "workflow", "comment",
                   "\x1a\x45\xdf\xa3", "\x18\x53\x80\x67", "\x12\x54\xc3\x67")),
    Target("xmp", "provenance.xmp.read_xmp (defusedxml); never raises", _xmp,
           ("cairn", "defusedxml"), max_len=16 * 1024, timeout=3,
           tokens=("<!DOCTYPE x [", "<!ENTITY e ", "SYSTEM ", "&e;", "xmlns:", "rdf:resource=",
                   "Iptc4xmpExt:DigitalSourceType", "xmp:CreatorTool", "<![CDATA[", "&#")),
    _gen("a1111", "A1111/Forge/SD.Next parameters text; never raises"),
    _gen("comfyui", "ComfyUI prompt/workflow graphs; never raises"),
    _gen("invokeai", "InvokeAI metadata JSON / Dream line; never raises"),
    _gen("fooocus", "Fooocus JSON / A1111-layout parameters; never raises"),
    _gen("midjourney", "Midjourney Description with Job ID and flags; never raises"),
    _gen("novelai", "NovelAI text chunks (Comment JSON, Source); never raises"),
    _gen("swarmui", "SwarmUI sui_image_params/sui_models JSON (NaN too); never raises"),
    Target("stealth", "NovelAI alpha-LSB stealth metadata + signature; StealthError only "
           "from read_stealth, nothing from the reader", _stealth),
    Target("models", "provenance.models.hash_model (safetensors header, checkpoints); "
           "ModelFileError only", _models),
    Target("video", "signals.vpdq.vpdq_frames on bytes, exact and fast (PyAV demux+decode); "
           "VideoError only",
           _video),
    Target("ufdr", "Cellebrite report.xml (media.ufdr.read_report, defusedxml); ReportError "
           "only", _ufdr, ("cairn", "defusedxml", "xml"), max_len=32 * 1024, timeout=3,
           tokens=('<project xmlns="http://pa.cellebrite.com/report/2.0">', "<taggedFiles>",
                   "<file ", 'path="/data/media/0/DCIM/a.jpg" ', 'deleted="Deleted" ',
                   '<metadata section="File">', '<item name="Local Path">', "<![CDATA[",
                   "]]>", "</item>", "</file>", '<timestamp name="CreationTime">',
                   "<accessInfo>", "<!DOCTYPE x [", "<!ENTITY e ", "&e;", 'embedded="true"',
                   "<decodedData>", "<model ")),
    Target("thumbcache", "Windows thumbcache / Android thumbdata members; ArchiveError only",
           _thumbcache, tokens=("CMMM", "\x15\x00\x00\x00", " \x00\x00\x00",
                                "\x01\x00\x00\x00\x00")),  # ASCII: the dict is UTF-8
    Target("volumes", "media.disk.volumes: MBR, GPT, APM (any block size), LVM2; VolumeError "
           "only", _volumes, ("cairn", "dissect.volume"),
           tokens=("ER", "PM", "Apple_HFS", "Apple_partition_map", "Apple_Free", "EFI PART",
                   "LABELONE", "LVM2 001")),
    Target("thumb_text", "freedesktop.org thumbnail Thumb:: text chunks before IDAT "
           "(media.thumbtext); never raises, origin is JSON", _thumb_text, max_len=16 * 1024,
           timeout=3, tokens=("PNG\r\n\x1a\n", "tEXt", "zTXt", "iTXt", "IDAT", "IEND",
                              "Thumb::URI\x00", "Thumb::MTime\x00", "Thumb::Size\x00",
                              "Thumb::Mimetype\x00", "Thumb::Image::Width\x00", "file://",
                              "%C3%BC", "%")),  # ASCII only: the dict is UTF-8
    Target("carve", "media.carve.carve, seekable and forward-only agree; never raises",
           _carve, tokens=("PNG\r\n\x1a\n", "IHDR", "IEND", "GIF89a", "RIFF", "WEBPVP8 ",
                           "ftypisom", "moov", "mdat")),  # ASCII only: the dict is UTF-8
)}
