"""The one interface every generator reader implements, and the normalised shape they share."""

from __future__ import annotations

import json
from typing import Any, Protocol

from cairn.provenance.containers import Metadata
from cairn.provenance.finding import Finding, clip

# the normalised fields of a `generator` finding, in report order. Fingerprints that
# trace/links.py links items on: model_hash, loras, `resources` (every model, LoRA, embedding
# or VAE cited: {type, name, version, hash, air, weight}, `air` a normalised Civitai AIR URN),
# `stealth` (Stealth.describe(): metadata carried in pixel LSBs), `account` (a user/account id).
FIELDS = ("generator", "version", "prompt", "negative_prompt", "seed", "sampler", "scheduler",
          "steps", "cfg_scale", "size", "model", "model_hash", "vae", "vae_hash", "loras",
          "embeddings", "resources", "stealth", "user", "account", "job_id")


class GeneratorReader(Protocol):
    """Reads one generator's metadata. `read` returns findings (usually 0 or 1); a reader
    that recognises its generator but cannot parse the metadata returns a finding with
    `error` set and the raw text kept, never raises."""

    name: str

    def read(self, md: Metadata, image: Any = None) -> list[Finding]: ...


def generator_finding(source: str, raw: str | None, fields: dict[str, Any],
                      error: str | None = None, extra: dict[str, Any] | None = None) -> Finding:
    data = {k: fields.get(k) for k in FIELDS}
    data["raw"] = clip(raw)
    if extra:
        data["params"] = extra
    return Finding("generator", "declared", source, data, error)


def as_int(v: Any) -> int | None:
    try:
        return int(str(v).strip())
    except (TypeError, ValueError):
        return None


def as_float(v: Any) -> float | None:
    try:
        return float(str(v).strip())
    except (TypeError, ValueError):
        return None


def load_json(text: str) -> tuple[Any, str | None]:
    """(value, None) or (None, what was wrong)."""
    try:
        return json.loads(text), None
    except (json.JSONDecodeError, RecursionError) as e:
        return None, f"invalid JSON: {e}"
