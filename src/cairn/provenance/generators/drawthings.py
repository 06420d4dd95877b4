"""Draw Things (iOS/macOS): an XMP packet (PNG iTXt `XML:com.adobe.xmp`, JPEG APP1) with
`xmp:CreatorTool` = "Draw Things", `exif:UserComment` (rdf:Alt) = the generation settings as
JSON, and `dc:description` = the same as text (prompt, `-`negative, `Steps: …, Sampler: …,
Guidance Scale: …, Seed: …, Size: …, Model: …`). JSON keys: `c` prompt, `uc` negative prompt,
`model`, `sampler`, `scale` guidance, `seed`, `seed_mode`, `size` "WxH", `steps`, `strength`,
`shift`, `lora` [{file, weight}], and `v2` (the full configuration, camelCase, `loras`).
Layout as open readers of Draw Things files document it (S1D1T1/metaDataBot README: "c" and
"uc"; the XMP layout in the tests of several Draw Things metadata readers); no official
specification is published.
"""

from __future__ import annotations

from typing import Any

from cairn.provenance import xmp as xmpns
from cairn.provenance.containers import Metadata
from cairn.provenance.finding import Finding
from cairn.provenance.generators.a1111 import parse_params_line
from cairn.provenance.generators.base import as_float, as_int, generator_finding, load_json
from cairn.provenance.generators.swarmui import finite, text_of

EXIF_NS = "http://ns.adobe.com/exif/1.0/"
DC_NS = "http://purl.org/dc/elements/1.1/"
TOOL = "draw things"


def _loras(meta: dict) -> list[dict[str, Any]]:
    v2_raw = meta.get("v2")
    v2: dict[str, Any] = v2_raw if isinstance(v2_raw, dict) else {}
    items = meta.get("lora") if isinstance(meta.get("lora"), list) else v2.get("loras")
    out = []
    for x in items if isinstance(items, list) else []:
        if isinstance(x, dict) and isinstance(x.get("file"), str) and x["file"]:
            out.append({"name": x["file"], "weight": finite(x.get("weight"))})
    return out


def parse(meta: dict) -> dict[str, Any]:
    loras = _loras(meta)
    model = meta.get("model") if isinstance(meta.get("model"), str) else None
    resources = ([{"type": "checkpoint", "name": model, "version": None, "hash": None,
                   "air": None, "weight": None}] if model else [])
    resources += [{"type": "lora", "name": x["name"], "version": None, "hash": None,
                   "air": None, "weight": x["weight"]} for x in loras]
    return {"generator": "drawthings", "prompt": text_of(meta.get("c")),
            "negative_prompt": text_of(meta.get("uc")), "seed": as_int(meta.get("seed")),
            "sampler": text_of(meta.get("sampler")), "steps": as_int(meta.get("steps")),
            "cfg_scale": finite(meta.get("scale")), "size": text_of(meta.get("size")),
            "model": model, "loras": loras, "resources": resources}


def _from_description(text: str) -> dict[str, Any] | None:
    """The dc:description text: prompt lines, `-negative` lines, a `Key: value, …` line."""
    lines = text.replace("\r\n", "\n").strip().split("\n")
    params = parse_params_line(lines[-1]) if lines else None
    if not params or not ({"Steps", "Seed", "Sampler"} & params.keys()):
        return None
    body = lines[:-1]
    negative = [x[1:] for x in body if x.startswith("-")]
    prompt = [x for x in body if not x.startswith("-")]
    return {"generator": "drawthings", "prompt": "\n".join(prompt).strip() or None,
            "negative_prompt": "\n".join(negative).strip() or None,
            "seed": as_int(params.get("Seed")), "sampler": params.get("Sampler"),
            "steps": as_int(params.get("Steps")),
            "cfg_scale": as_float(params.get("Guidance Scale")), "size": params.get("Size"),
            "model": params.get("Model")}


class DrawThingsReader:
    name = "drawthings"

    def read(self, md: Metadata, image: Any = None) -> list[Finding]:
        root = xmpns.parse_packet(md.xmp) if md.xmp else None
        if root is None:
            return []
        tool = next(iter(xmpns.values(root, xmpns.XMP, "CreatorTool")), "")
        if not tool.lower().startswith(TOOL):
            return []
        comment = next(iter(xmpns.values(root, EXIF_NS, "UserComment")), None)
        if comment is not None and comment.lstrip().startswith("{"):
            meta, err = load_json(comment)
            if isinstance(meta, dict):
                return [generator_finding("xmp:exif:UserComment", comment, parse(meta))]
            return [generator_finding("xmp:exif:UserComment", comment,
                                      {"generator": "drawthings"},
                                      error=err or "UserComment is not a JSON object")]
        description = next(iter(xmpns.values(root, DC_NS, "description")), None)
        fields = _from_description(description) if description else None
        if fields:
            return [generator_finding("xmp:dc:description", description, fields)]
        return [generator_finding("xmp:xmp:CreatorTool", tool, {"generator": "drawthings"},
                                  error="Draw Things named as creator, no settings found")]
