"""Fooocus: `parameters` (JSON, or A1111 text when `fooocus_scheme` says a1111) plus
`fooocus_scheme` in PNG; in JPEG/WebP the same text in EXIF UserComment, `Fooocus v…` in
Software and the scheme in MakerNote."""

from __future__ import annotations

from typing import Any

from cairn.provenance.containers import Metadata
from cairn.provenance.finding import Finding
from cairn.provenance.generators.a1111 import parse_parameters
from cairn.provenance.generators.base import as_float, as_int, generator_finding, load_json


def _get(meta: dict, *keys: str) -> Any:
    for k in keys:
        if meta.get(k) not in (None, ""):
            return meta[k]
    return None


def parse_json(meta: dict) -> dict[str, Any]:
    loras = []
    loras_in = meta.get("loras")
    for item in loras_in if isinstance(loras_in, list) else []:  # [[name, weight, hash]]
        if isinstance(item, list) and item:
            loras.append({"name": item[0], "weight": as_float(item[1]) if len(item) > 1
                          else None, "hash": item[2] if len(item) > 2 else None})
    for i in range(1, 9):  # old scheme: "LoRA 1": "name : weight"
        v = meta.get(f"LoRA {i}")
        if isinstance(v, str) and v:
            name, _, weight = v.rpartition(" : ")
            loras.append({"name": name or v, "weight": as_float(weight)})
    res = _get(meta, "resolution", "Resolution")
    return {"generator": "fooocus", "version": _get(meta, "version", "Version"),
            "prompt": _get(meta, "prompt", "Prompt"),
            "negative_prompt": _get(meta, "negative_prompt", "Negative Prompt"),
            "seed": as_int(_get(meta, "seed", "Seed")),
            "sampler": _get(meta, "sampler", "Sampler"),
            "scheduler": _get(meta, "scheduler", "Scheduler"),
            "steps": as_int(_get(meta, "steps", "Steps")),
            "cfg_scale": as_float(_get(meta, "guidance_scale", "Guidance Scale")),
            "size": str(res).strip("()").replace(", ", "x") if res else None,
            "model": _get(meta, "base_model", "Base Model"),
            "model_hash": _get(meta, "base_model_hash"), "loras": loras}


class FooocusReader:
    name = "fooocus"

    def read(self, md: Metadata, image: Any = None) -> list[Finding]:
        scheme = md.text.get("png:fooocus_scheme") or md.text.get("exif:MakerNote")
        software = md.text.get("exif:Software", "")
        hit = md.get("png:parameters", "exif:UserComment")
        if hit is None:
            return []
        source, text = hit
        is_json = text.lstrip().startswith("{")
        if not (scheme or "fooocus" in software.lower() or
                (is_json and "fooocus" in text[:20000].lower())):
            return []
        if is_json:
            meta, err = load_json(text)
            if not isinstance(meta, dict):
                return [generator_finding(source, text, {"generator": "fooocus"},
                                          error=err or "parameters are not a JSON object")]
            return [generator_finding(source, text, parse_json(meta))]
        parsed = parse_parameters(text)
        if parsed is None:
            return [generator_finding(source, text, {"generator": "fooocus"},
                                      error="parameters in neither Fooocus nor A1111 layout")]
        fields = parsed[0] | {"generator": "fooocus"}
        return [generator_finding(source, text, fields)]
