"""Civitai's AI Resource Identifiers (AIR), parsed and normalised so that two citations of one
resource link however they were spelled.

Spec (developer.civitai.com, guide "AIR identifiers"; FACTS.md):
`urn:air:{ecosystem}:{type}:{source}:{id}[@{version}][+{fileId}][.{format}]`. `urn:` and
`air:` are optional; ecosystem and type are optional; source and id are required; for source
`civitai` id is the model id, version the model-version id and fileId a file id, all numbers.
`.` may occur inside id and version (Hugging Face file names), so a trailing `.{format}` is
taken only when it names a known format; the normalised form joins the parts back, so where
that split falls never changes it.

Normalised: `urn:air:` + the present ones of ecosystem, type, source (lower-case) + id, with
version, fileId and format as written. With one of ecosystem/type present it is read as the
type when it names a known type, else as the ecosystem. Pure and linear: no regex backtracks
(each pattern is one character class, matched whole), and the input is bounded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_AIR = 1024  # characters; real AIRs are under 100
TYPES = frozenset({"checkpoint", "lora", "lycoris", "locon", "dora", "embedding", "vae",
                   "controlnet", "upscaler", "hypernetwork", "motionmodule", "textencoder",
                   "model", "wildcards", "workflows", "poses", "other"})
FORMATS = frozenset({"safetensors", "ckpt", "pt", "pth", "bin", "gguf", "onnx", "diffusers",
                     "zip", "tensorrt", "pickletensor", "safetensor"})
_NAME = re.compile(r"[A-Za-z0-9_\-/.]+")  # ecosystem, type, source (no `.` in practice)
_ID = re.compile(r"[A-Za-z0-9_\-/.=,]+")  # id, version: file names and repo paths
_TOKEN = re.compile(r"[A-Za-z0-9_\-]+")  # fileId, format
_NUMBER = re.compile(r"[0-9]+")


class AirError(ValueError):
    """Not an AIR; the message says which part is wrong."""


@dataclass(frozen=True, slots=True)
class Air:
    source: str
    id: str
    ecosystem: str | None = None
    type: str | None = None
    version: str | None = None
    file_id: str | None = None
    format: str | None = None

    def urn(self) -> str:
        head = ":".join(x for x in (self.ecosystem, self.type, self.source) if x)
        tail = self.id + (f"@{self.version}" if self.version else "") + \
            (f"+{self.file_id}" if self.file_id else "") + (f".{self.format}" if self.format
                                                              else "")
        return f"urn:air:{head}:{tail}"


def _strip_prefix(text: str, prefix: str) -> str:
    return text[len(prefix):] if text[:len(prefix)].lower() == prefix else text


def parse_air(text: str) -> Air:
    """The parts of an AIR; AirError when it is not one."""
    if not isinstance(text, str) or not text.strip():
        raise AirError("empty AIR")
    s = text.strip()
    if len(s) > MAX_AIR:
        raise AirError(f"AIR longer than {MAX_AIR} characters")
    s = _strip_prefix(_strip_prefix(s, "urn:"), "air:")
    parts = s.split(":")
    if not 2 <= len(parts) <= 4:
        raise AirError(f"AIR needs [ecosystem:][type:]source:id, got {len(parts)} part(s)")
    *head, rest = parts
    for part in head:
        if not _NAME.fullmatch(part):
            raise AirError(f"bad AIR part {part!r}")
    head = [p.lower() for p in head]
    source = head[-1]
    ecosystem = kind = None
    if len(head) == 3:
        ecosystem, kind = head[0], head[1]
    elif len(head) == 2:
        if head[0] in TYPES:
            kind = head[0]
        else:
            ecosystem = head[0]
    ident, at, version = rest.partition("@")
    if at and not version:
        raise AirError(f"AIR version missing after '@' in {rest!r}")
    fmt = file_id = None
    last = version if version else ident
    stem, dot, suffix = last.rpartition(".")
    if dot and stem and suffix.lower() in FORMATS:
        fmt, last = suffix, stem
    last, plus, file_id = last.partition("+")
    if version:
        version = last
    else:
        ident = last
    if not plus:
        file_id = None
    if not ident or not _ID.fullmatch(ident):
        raise AirError(f"bad AIR id {ident!r}")
    if version and not _ID.fullmatch(version):
        raise AirError(f"bad AIR version {version!r}")
    if rest.count("@") > 1 or (plus and not _TOKEN.fullmatch(file_id or "")):
        raise AirError(f"bad AIR version or file id in {rest!r}")
    if source == "civitai" and not all(_NUMBER.fullmatch(x) for x in
                                       (ident, version or "0", file_id or "0")):
        raise AirError("civitai AIR ids, versions and file ids are numbers")
    return Air(source, ident, ecosystem, kind, version or None, file_id, fmt)


def normalise_air(text: str) -> str | None:
    """The canonical `urn:air:...` of an AIR, or None when it is not one."""
    try:
        return parse_air(text).urn()
    except AirError:
        return None
