"""Provenance of synthetic imagery: pure functions from a file's bytes to findings.

`examine(data)` runs every reader: C2PA content credentials, XMP digital source type,
generator metadata (A1111/Forge/
SD.Next, ComfyUI, InvokeAI, NovelAI with stealth metadata and signature, Fooocus,
Midjourney). Damaged metadata gives a finding with an error, never an exception.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from PIL import Image

from cairn.media.sniff import HEAD_BYTES, sniff
from cairn.provenance.c2pa_reader import read_c2pa
from cairn.provenance.containers import open_for_metadata, read_metadata
from cairn.provenance.detector import DetectorError, load_detector
from cairn.provenance.finding import Finding
from cairn.provenance.generators import read_generators
from cairn.provenance.watermark import read_watermarks
from cairn.provenance.xmp import read_xmp

__all__ = ["Finding", "capture_time", "examine"]


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


def examine(data: bytes, image: Image.Image | None = None,
            novelai_keys: dict[str, str] | None = None, media_type: str | None = None,
            c2pa_trust: str | None = None, watermarks: bool = True,
            detector: str | None = None) -> list[Finding]:
    """Findings of one image file's bytes (the image, if already opened, saves a reopen).
    `c2pa_trust`: PEM bundle of the C2PA trust anchors the examiner accepts; `detector`:
    path of a detector config (see detector.py)."""
    img: Any = image if image is not None else open_for_metadata(data)
    md = read_metadata(data, img)
    findings = read_c2pa(data, media_type or sniff(data[:HEAD_BYTES]), c2pa_trust)
    findings += read_xmp(md.xmp) + read_generators(md, img, novelai_keys)
    taken = capture_time(md.text.get("exif:DateTimeOriginal"))
    if taken:
        findings.append(Finding("capture_time", "declared", "exif:DateTimeOriginal",
                                {"time": taken}))
    if img is not None and watermarks:
        findings += read_watermarks(data, img)
    if img is not None and detector:
        try:
            findings.append(load_detector(detector).finding(img))
        except DetectorError:
            raise  # misconfiguration: the caller stops before scanning, not per file
        except Exception as e:  # noqa: BLE001 - an undecodable picture: a note
            findings.append(Finding("detector", "statistical", "detector", {},
                                    error=f"detector failed: {type(e).__name__}: {e}"))
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
