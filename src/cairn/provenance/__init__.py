"""Provenance of synthetic imagery: pure functions from a file's bytes to findings.

`examine(data)` runs every reader on a picture: C2PA content credentials (embedded, or a
remote manifest's address, never fetched), XMP digital source type and IPTC AI labels,
metadata hidden in pixel LSBs (stealth.py, read once for every writer), generator metadata
(A1111/Forge/reForge/SD.Next, Civitai, SwarmUI, ComfyUI, InvokeAI, NovelAI with its
signature, Fooocus, Midjourney, Draw Things). `examine_stream(f)` does the same for video,
audio and PDF from their stream (C2PA, container tags, XMP). Damaged metadata gives a
finding with an error, never an exception.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import BinaryIO

from cairn.media.decode import Picture
from cairn.media.limits import Limits
from cairn.media.sniff import HEAD_BYTES, sniff
from cairn.provenance.c2pa_reader import read_c2pa
from cairn.provenance.containers import Metadata, read_metadata
from cairn.provenance.detector import DetectorError, load_detector
from cairn.provenance.finding import Finding
from cairn.provenance.generators import read_generators
from cairn.provenance.media_tags import read_media_tags
from cairn.provenance.stealth import StealthError, read_stealth
from cairn.provenance.watermark import read_watermarks
from cairn.provenance.xmp import read_xmp

__all__ = ["Finding", "capture_time", "examine", "examine_stream"]


def capture_time(text: str | None) -> str | None:
    """EXIF `2019:05:01 12:00:00[ +02:00]` -> ISO 8601 (UTC when an offset is given, else
    the camera's local time as written); None when it is not a time."""
    if not text:
        return None
    date, _, rest = text.strip().partition(" ")
    clock, _, offset = rest.partition(" ")
    try:
        dt = datetime.fromisoformat(f"{date.replace(':', '-')}T{clock}{offset}")
    except ValueError:
        return None
    if dt.year < 1970:
        return None  # 0000:00:00 placeholders and cameras never set
    return (dt.astimezone(UTC) if dt.tzinfo else dt).isoformat(timespec="seconds")


def _guarded(kind: str, source: str, read: Callable[[], list[Finding]]) -> list[Finding]:
    """A reader's findings, or, when it raises on hostile bytes (whatever the type), one
    finding of its kind whose error names the reader and the exception: a note, never a
    crash (as generators/ does for each generator reader)."""
    try:
        return read()
    except DetectorError:
        raise  # misconfiguration: the caller stops before scanning, not per file
    except Exception as e:  # noqa: BLE001 - hostile input reaches every reader
        return [Finding(kind, "declared" if kind != "detector" else "statistical", source, {},
                        error=f"{source} reader failed: {type(e).__name__}: {e}")]


def examine(data: bytes, picture: Picture | None = None,
            novelai_keys: dict[str, str] | None = None, media_type: str | None = None,
            c2pa_trust: str | None = None, watermarks: bool = True,
            detector: str | None = None, max_pixels: int | None = None
            ) -> list[Finding]:
    """Findings of one image file's bytes. `picture`: the file as media/decode opened it for
    PDQ, so pixel readers reuse that decode (without it, one is opened here under
    `max_pixels`); readers get its header for metadata and its frames, never the bytes to
    decode themselves. `c2pa_trust`: PEM bundle of the C2PA trust anchors the examiner
    accepts; `detector`: path of a detector config (see detector.py). A reader that raises
    gives a finding with an error."""
    pic = picture if picture is not None else Picture(data, max_pixels or Limits().max_pixels)
    md = Metadata()

    def metadata() -> list[Finding]:
        nonlocal md
        md = read_metadata(data, pic.header)
        if pic.header is not None:
            try:  # once, from the frame media/decode gives; every generator reader shares it
                md.stealth = read_stealth(pic)
            except StealthError as e:
                md.stealth_error = str(e)
        return []

    findings = _guarded("generator", "metadata", metadata)
    findings += _guarded("c2pa", "c2pa", lambda: read_c2pa(
        data, media_type or sniff(data[:HEAD_BYTES]), c2pa_trust, md.xmp))
    findings += _guarded("digital_source_type", "xmp", lambda: read_xmp(md.xmp))
    findings += _guarded("generator", "generators",
                         lambda: read_generators(md, pic, novelai_keys))
    taken = capture_time(md.text.get("exif:DateTimeOriginal"))
    if taken:
        findings.append(Finding("capture_time", "declared", "exif:DateTimeOriginal",
                                {"time": taken}))
    if pic.header is not None and watermarks:
        findings += _guarded("watermark", "pixels:dwtDct", lambda: read_watermarks(pic))
    if pic.header is not None and detector:
        findings += _guarded("detector", "detector",
                             lambda: [load_detector(detector).finding(pic)])
    text_errors = [e for e in md.errors if e.startswith("PNG chunk")]
    if text_errors and not any(f.kind == "generator" for f in findings):
        # a damaged text chunk may have been the generator's: say so, claim nothing
        findings.append(Finding("generator", "declared", "png:text", {},
                                error="; ".join(text_errors[:5])))
    elif md.errors:
        for f in findings:
            if f.kind == "generator" and not f.error:
                f.error = "; ".join(md.errors[:5])
    return findings


def examine_stream(f: BinaryIO, media_type: str, c2pa_trust: str | None = None
                   ) -> list[Finding]:
    """Findings of a file that is not decoded as a picture (video, audio, PDF), read from its
    seekable stream, never loaded whole: the container's tags and XMP (media_tags), C2PA (the
    SDK reads the boxes it needs), and the generator readers over those tags. Same findings,
    same shapes as `examine` gives a picture, so a video links into families like one."""
    md = Metadata()

    def metadata() -> list[Finding]:
        nonlocal md
        f.seek(0)
        md = read_media_tags(f, media_type)
        return []

    findings = _guarded("generator", "metadata", metadata)
    findings += _guarded("c2pa", "c2pa", lambda: read_c2pa(f, media_type, c2pa_trust, md.xmp))
    findings += _guarded("digital_source_type", "xmp", lambda: read_xmp(md.xmp))
    findings += _guarded("generator", "generators", lambda: read_generators(md, None))
    if md.errors:
        for x in findings:
            if x.kind == "generator" and not x.error:
                x.error = "; ".join(md.errors[:5])
    return findings
