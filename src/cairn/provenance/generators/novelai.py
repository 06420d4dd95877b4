"""NovelAI: text chunks (`Software` = NovelAI, `Source` = model name and id, `Comment` =
generation JSON with `signed_hash`) and the same metadata hidden in the alpha channel's least
significant bits ("stealth" metadata, which survives stripping of text chunks). The pixels are
read once for every writer by provenance/stealth.py (`Metadata.stealth`); this reader takes a
payload only when it is NovelAI's: a JSON object of the text chunks (`Comment`, or
`Description` / `Software`), whatever signature carried it. A damaged payload whose writer
cannot be told is not claimed here (generators/a1111.py notes it, claiming no generator).

`signed_hash` is an Ed25519 signature over the RGB pixels plus the comment without the
signature; verifying it against NovelAI's published key is a `cryptographic` finding.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

import numpy as np
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from cairn.media.decode import Picture
from cairn.provenance.containers import Metadata
from cairn.provenance.finding import Finding, clip
from cairn.provenance.generators.base import as_float, as_int, generator_finding, load_json

# fuzz/targets.py's stealth adapter imports these from here (they lived here before the one
# stealth reader): kept as names of this module until it imports them from stealth.py
from cairn.provenance.stealth import MAX_PAYLOAD, StealthError, read_stealth  # noqa: F401

# NovelAI/novelai-image-metadata, nai_sig.py
NOVELAI_KEY = "Y2JcQAOhLwzwSDUJPNgL04nS0Tbqm7cSRc4xk0vRMic="


def is_novelai_payload(payload: dict | None) -> bool:
    """A stealth JSON object is NovelAI's when it holds its text chunks."""
    if not payload:
        return False
    software = payload.get("Software")
    return "Comment" in payload or "Description" in payload or (
        isinstance(software, str) and software.strip().startswith("NovelAI"))


def signed_message(rgb: np.ndarray, comment: dict) -> bytes:
    """What NovelAI signs: the RGB pixels (row-major, as decoded) + the unsigned comment."""
    unsigned = {k: v for k, v in comment.items() if k != "signed_hash"}
    return np.ascontiguousarray(rgb).tobytes() + json.dumps(unsigned).encode("utf-8")


def verify(picture: Picture, comment: dict, keys: dict[str, str]) -> str | None:
    """Name of the key whose Ed25519 signature verifies, or None (also without pixels)."""
    try:
        sig = base64.b64decode(str(comment["signed_hash"]), validate=True)
    except (KeyError, binascii.Error, ValueError):
        return None
    rgb = picture.rgb()
    if rgb is None:
        return None
    message = signed_message(rgb, comment)
    for name, key in keys.items():
        try:
            Ed25519PublicKey.from_public_bytes(base64.b64decode(key)).verify(sig, message)
            return name
        except (InvalidSignature, ValueError):
            continue
    return None


_MODEL_ID = re.compile(r"[0-9A-Fa-f]{8}")


def _source_model(source: str | None) -> tuple[str | None, str | None]:
    """`NovelAI Diffusion V4.5 4BDE2A90` -> (name, id)."""
    if not source:
        return None, None
    # split at the last run of white space, not with a regex: `(.*?)\s+HEX$` backtracks
    # quadratically on long runs of spaces (fuzz/novelai regression: 100 KB took minutes)
    parts = source.strip().rsplit(None, 1)
    if len(parts) == 2 and _MODEL_ID.fullmatch(parts[1]):
        return parts[0], parts[1].lower()
    return source, None


class NovelAIReader:
    name = "novelai"

    def __init__(self, keys: dict[str, str] | None = None) -> None:
        self.keys = keys if keys is not None else {"novelai": NOVELAI_KEY}

    def read(self, md: Metadata, image: Any = None) -> list[Finding]:
        chunks: dict[str, str] = {}
        source = ""
        if md.text.get("png:Software", "").strip() == "NovelAI":
            chunks = {k[4:]: v for k, v in md.text.items() if k.startswith("png:")}
            source = "png:Comment"
        stealth = md.stealth  # NovelAI writes both; the chunks win, the finding says both
        payload = stealth.json_object() if stealth is not None else None
        if not is_novelai_payload(payload):
            stealth = None
        elif stealth is not None and not chunks:
            chunks = {str(k): v if isinstance(v, str) else json.dumps(v)
                      for k, v in (payload or {}).items()}
            source = stealth.source
        if not chunks:
            return []
        raw = chunks.get("Comment")
        comment, err = load_json(raw) if raw else (None, "no Comment")
        if not isinstance(comment, dict):
            comment, err = {}, err or "Comment is not a JSON object"
        name, model_id = _source_model(chunks.get("Source"))
        w, h = comment.get("width"), comment.get("height")
        fields = {"generator": "novelai", "version": comment.get("version"),
                  "prompt": comment.get("prompt") or chunks.get("Description"),
                  "negative_prompt": comment.get("uc"), "seed": as_int(comment.get("seed")),
                  "sampler": comment.get("sampler"), "steps": as_int(comment.get("steps")),
                  "cfg_scale": as_float(comment.get("scale")),
                  "size": f"{w}x{h}" if w and h else None, "model": name,
                  "model_hash": model_id,
                  "stealth": stealth.describe() if stealth is not None else None}
        if stealth is not None and stealth.note:
            err = "; ".join(e for e in (stealth.note, err) if e)
        findings = [generator_finding(source, raw, fields, error=err,
                                      extra={"request_type": comment.get("request_type"),
                                             "generation_time": chunks.get("Generation time")})]
        if comment.get("signed_hash") and isinstance(image, Picture):
            signer = verify(image, comment, self.keys)
            data = {"scheme": "novelai-ed25519", "signer": signer, "valid": signer is not None,
                    "signed_hash": clip(str(comment["signed_hash"]))}
            if image.rgb() is None:
                data["valid"] = None
                findings.append(Finding("signature", "declared", source, data,
                                        error=f"signature not checked: pixels not decoded "
                                              f"({image.error})"))
            elif signer:
                findings.append(Finding("signature", "cryptographic", source, data))
            else:
                findings.append(Finding(
                    "signature", "declared", source, data,
                    error="signature does not verify against "
                          + ", ".join(self.keys) + " key(s): the pixels or the comment changed "
                          "after signing, or another key signed it"))
        return findings
