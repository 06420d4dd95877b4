"""A finding: one provenance signal read from one file, with how much it can be trusted.

Strengths (DESIGN.md): `cryptographic` (a signature that verified), `declared` (metadata
anyone could write or strip), `statistical` (a detector's score or a watermark's bit
agreement: evidence, never proof).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

STRENGTHS = ("cryptographic", "declared", "statistical")
KINDS = ("c2pa", "digital_source_type", "generator", "watermark", "signature", "detector",
         "model_file", "capture_time")
RAW_LIMIT = 16_384  # characters of raw metadata kept in a finding


@dataclass(slots=True)
class Finding:
    kind: str
    strength: str
    source: str  # where it was read: "png:parameters", "exif:UserComment", "alpha-lsb", ...
    data: dict[str, Any] = field(default_factory=dict)
    error: str | None = None  # damaged metadata: what was wrong; `raw` keeps the text

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown finding kind {self.kind!r}")
        if self.strength not in STRENGTHS:
            raise ValueError(f"unknown finding strength {self.strength!r}")

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"kind": self.kind, "strength": self.strength, "source": self.source}
        d.update({k: v for k, v in self.data.items() if v not in (None, "", [], {})})
        if self.error:
            d["error"] = self.error
        return d


def clip(text: str | None) -> str | None:
    """Raw text kept in a finding, bounded: a 50 MB text chunk must not become a 50 MB row."""
    if text is None or len(text) <= RAW_LIMIT:
        return text
    return text[:RAW_LIMIT] + f"... [{len(text) - RAW_LIMIT} more characters]"
