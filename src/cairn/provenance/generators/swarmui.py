"""SwarmUI: a JSON object in the PNG text chunk `parameters`, or in EXIF UserComment of a
JPEG/WebP (mcmonkeyprojects/SwarmUI `docs/Image Metadata Format.md`; written by
`T2IParamInput.GenFullMetadataObject`, indented, non-ASCII escaped), or gzip in pixel LSBs
("stealth", provenance/stealth.py). Keys:
- `sui_image_params`: parameter id -> value (`prompt`, `negativeprompt`, `model`, `seed`,
  `steps`, `cfgscale`, `width`, `height`, `sampler`, `scheduler`, `loras`, `loraweights`,
  `swarm_version`, …); numbers are often strings, lists may be comma-separated strings;
- `sui_extra_data`: date, generation time, original prompt, …;
- `sui_models`: [{name, param, hash}], hash = "0x" + SHA-256 of the tensor data (header
  excluded), or null.
C# writers can emit `NaN`: parsed leniently (Python's json accepts it), reported as absent.

Only JSON whose object holds `sui_image_params` is claimed, so Fooocus's JSON `parameters`
is never mistaken for SwarmUI's, nor SwarmUI's for Fooocus's (registered before Fooocus).
"""

from __future__ import annotations

import math
import re
from typing import Any

from cairn.provenance.containers import Metadata
from cairn.provenance.finding import Finding
from cairn.provenance.generators.base import as_int, generator_finding, load_json

KEY = "sui_image_params"
SOURCES = ("png:parameters", "exif:UserComment")
# the `param` of a sui_models entry -> the resource type it is
PARAM_TYPES = {"model": "checkpoint", "refinermodel": "checkpoint", "loras": "lora",
               "used_embeddings": "embedding", "vae": "vae", "refinervae": "vae",
               "videomodel": "checkpoint", "controlnetmodel": "controlnet"}
_HEX = re.compile(r"(?:0x)?([0-9a-fA-F]{64})")
_EXT = re.compile(r"\.(safetensors|ckpt|pt|pth|bin|gguf|sft)$", re.IGNORECASE)


def finite(v: Any) -> float | None:
    """A number as float; NaN, infinities and non-numbers as None (a NaN is no value, and
    strict JSON consumers of our output cannot read one)."""
    try:
        f = float(str(v).strip())
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _clean(v: Any, depth: int = 0) -> Any:
    """JSON value with non-finite floats replaced by None (kept in `params`)."""
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if depth > 20:
        return None
    if isinstance(v, dict):
        return {str(k): _clean(x, depth + 1) for k, x in v.items()}
    if isinstance(v, list):
        return [_clean(x, depth + 1) for x in v]
    return v


def _list(v: Any) -> list[str]:
    """A SwarmUI list value: a JSON list, or a comma-separated string."""
    if isinstance(v, list):
        return [str(x).strip() for x in v if str(x).strip()]
    if isinstance(v, str):
        return [x.strip() for x in v.split(",") if x.strip()]
    return []


def text_of(v: Any) -> str | None:
    """A non-empty string value, else None (JSON from files may hold anything anywhere)."""
    return v if isinstance(v, str) and v else None


def _hash(v: Any) -> str | None:
    m = _HEX.fullmatch(v.strip()) if isinstance(v, str) else None
    return m.group(1).lower() if m else None


def _stem(name: str) -> str:
    return _EXT.sub("", name.strip())


def parse(meta: dict) -> dict[str, Any]:
    params = meta.get(KEY)
    p: dict[str, Any] = params if isinstance(params, dict) else {}
    w, h = as_int(p.get("width")), as_int(p.get("height"))
    names, weights = _list(p.get("loras")), _list(p.get("loraweights"))
    loras: list[dict[str, Any]] = [
        {"name": n, "weight": finite(weights[i]) if i < len(weights) else None}
        for i, n in enumerate(names)]
    weight_of = {}  # stem -> weight: one lookup per model, however many a file cites
    for lora in reversed(loras):
        weight_of[_stem(lora["name"])] = lora["weight"]
    resources: list[dict[str, Any]] = []
    model_hash = None
    models = meta.get("sui_models")
    for m in models if isinstance(models, list) else []:
        if not isinstance(m, dict) or not text_of(m.get("name")):
            continue
        param = str(m.get("param") or "")
        rtype = PARAM_TYPES.get(param, param or None)
        digest = _hash(m.get("hash"))
        weight = weight_of.get(_stem(m["name"])) if rtype == "lora" else None
        resources.append({"type": rtype, "name": m["name"], "version": None, "hash": digest,
                          "air": None, "weight": weight})
        if param == "model" and model_hash is None:
            model_hash = digest
    cited = {_stem(r["name"]) for r in resources}
    model = text_of(p.get("model"))
    if model and _stem(model) not in cited:
        resources.insert(0, {"type": "checkpoint", "name": model, "version": None,
                             "hash": None, "air": None, "weight": None})
    for lora in loras:
        if _stem(lora["name"]) not in cited:
            resources.append({"type": "lora", "name": lora["name"], "version": None,
                              "hash": None, "air": None, "weight": lora["weight"]})
    return {"generator": "swarmui", "version": text_of(p.get("swarm_version")),
            "prompt": text_of(p.get("prompt")), "negative_prompt": text_of(p.get("negativeprompt")),
            "seed": as_int(p.get("seed")), "sampler": text_of(p.get("sampler")),
            "scheduler": text_of(p.get("scheduler")), "steps": as_int(p.get("steps")),
            "cfg_scale": finite(p.get("cfgscale")), "size": f"{w}x{h}" if w and h else None,
            "model": model, "model_hash": model_hash, "vae": text_of(p.get("vae")),
            "loras": loras, "resources": resources}


def _finding(source: str, text: str, meta: dict,
             extra: dict[str, Any] | None = None) -> Finding:
    fields = parse(meta) | (extra or {})
    params = _clean(meta.get("sui_extra_data"))
    return generator_finding(source, text, fields,
                             extra={"extra_data": params} if isinstance(params, dict) else None)


class SwarmUIReader:
    name = "swarmui"

    def read(self, md: Metadata, image: Any = None) -> list[Finding]:
        out = []
        for source in SOURCES:
            text = md.text.get(source)
            if not text or not text.lstrip().startswith("{") or KEY not in text:
                continue
            meta, err = load_json(text)
            if isinstance(meta, dict) and isinstance(meta.get(KEY), dict):
                out.append(_finding(source, text, meta))
            elif err and f'"{KEY}"' in text:  # damaged, but SwarmUI's key: keep the raw text
                out.append(generator_finding(source, text, {"generator": "swarmui"},
                                             error=err))
            else:
                continue  # another tool's JSON that mentions the key (Fooocus's prompt)
            break  # one picture, one SwarmUI record
        stealth = md.stealth
        meta = stealth.json_object() if stealth is not None else None
        if stealth is not None and meta is not None and isinstance(meta.get(KEY), dict):
            out.append(_finding(stealth.source, stealth.text(), meta,
                                {"stealth": stealth.describe()}))
        return out
