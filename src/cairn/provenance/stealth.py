"""Metadata hidden in pixels' least significant bits ("stealth" metadata), the one reader of
it for every generator that writes it (A1111's stealth pnginfo extension, NovelAI, SwarmUI,
ComfyUI stealth nodes). The signature says where the bits are and whether they are gzip; the
payload says whose they are, so generator readers tell the writers apart by what they find
in `Stealth.payload`, never by the signature alone (NovelAI and A1111 share `stealth_pngcomp`).

Layout (FACTS.md "Stealth metadata in pixels"): pixels visited column by column; a 15-byte
ASCII signature, a 32-bit big-endian length in bits, the payload; bytes MSB first.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


class StealthError(ValueError):
    """A signature is there, but what follows is damaged; the message says how."""


@dataclass(frozen=True, slots=True)
class Stealth:
    signature: str  # stealth_pnginfo | stealth_pngcomp | stealth_rgbinfo | stealth_rgbcomp
    channel: str  # "alpha" (alpha LSBs) or "rgb" (the R, G, B LSBs of each pixel in turn)
    compressed: bool  # the payload was gzip (it is stored here decompressed)
    payload: bytes

    @property
    def source(self) -> str:
        """A finding's `source` for what this payload carried: `alpha-lsb` or `rgb-lsb`."""
        return f"{self.channel}-lsb"

    def describe(self) -> dict[str, Any]:
        """What a finding says of the carrier: signature, channel, compression."""
        return {"signature": self.signature, "channel": self.channel,
                "compressed": self.compressed}

    def text(self) -> str:
        return self.payload.decode("utf-8", "replace")

    def json_object(self) -> dict | None:
        """The payload as a JSON object, or None when it is not one (A1111's infotext)."""
        try:
            value = json.loads(self.payload.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            return None
        return value if isinstance(value, dict) else None


def read_stealth(picture: Any) -> Stealth | None:
    """The stealth payload of a decoded picture (media/decode `Picture`): alpha LSBs first,
    then RGB; None when none is there; StealthError when a signature's payload is damaged.
    (Filled in by the stealth work; until then NovelAI's own reader handles alpha.)"""
    return None
