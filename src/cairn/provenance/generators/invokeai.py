"""InvokeAI: `invokeai_metadata` JSON (3.x+, model hashes as `blake3_multi:<hex>`), with
`invokeai_graph`/`invokeai_workflow` beside it; older releases wrote `sd-metadata` JSON or a
`Dream` command line."""

from __future__ import annotations

import re
import shlex
from typing import Any

from cairn.provenance.containers import Metadata
from cairn.provenance.finding import Finding
from cairn.provenance.generators.base import as_float, as_int, generator_finding, load_json


def _model(v: Any) -> tuple[str | None, str | None]:
    if isinstance(v, dict):
        return v.get("name") or v.get("model_name") or v.get("key"), v.get("hash")
    return (v if isinstance(v, str) else None), None


def _list(v: Any) -> list:
    """A JSON value that should be a list: anything else (a number, an object) is none."""
    return v if isinstance(v, list) else []


def parse_metadata(meta: dict) -> dict[str, Any]:
    model, model_hash = _model(meta.get("model"))
    vae, vae_hash = _model(meta.get("vae"))
    loras = []
    for lora in _list(meta.get("loras")):
        if isinstance(lora, dict):
            name, h = _model(lora.get("model") or lora.get("lora"))
            loras.append({"name": name, "hash": h, "weight": as_float(lora.get("weight"))})
    w, h = meta.get("width"), meta.get("height")
    return {"generator": "invokeai", "version": meta.get("app_version"),
            "prompt": meta.get("positive_prompt"), "negative_prompt": meta.get("negative_prompt"),
            "seed": as_int(meta.get("seed")), "sampler": meta.get("scheduler"),
            "steps": as_int(meta.get("steps")), "cfg_scale": as_float(meta.get("cfg_scale")),
            "size": f"{w}x{h}" if w and h else None, "model": model, "model_hash": model_hash,
            "vae": vae, "vae_hash": vae_hash, "loras": loras}


def parse_sd_metadata(meta: dict) -> dict[str, Any]:
    image = meta.get("image")
    img: dict[str, Any] = image if isinstance(image, dict) else {}
    prompt = img.get("prompt")
    if isinstance(prompt, list):
        prompt = " ".join(str(p.get("prompt", "")) for p in prompt if isinstance(p, dict))
    w, h = img.get("width"), img.get("height")
    return {"generator": "invokeai", "version": meta.get("app_version"), "prompt": prompt,
            "seed": as_int(img.get("seed")), "sampler": img.get("sampler"),
            "steps": as_int(img.get("steps")), "cfg_scale": as_float(img.get("cfg_scale")),
            "size": f"{w}x{h}" if w and h else None,
            "model": meta.get("model_weights") or meta.get("model"),
            "model_hash": meta.get("model_hash")}


_DREAM_FLAGS = {"-s": "steps", "-S": "seed", "-W": "width", "-H": "height", "-C": "cfg_scale",
                "-A": "sampler"}


def parse_dream(text: str) -> dict[str, Any]:
    """`"a prompt" -s 50 -S 42 -W 512 -H 512 -C 7.5 -A k_lms`"""
    try:
        words = shlex.split(text)
    except ValueError:
        words = text.split()
    fields: dict[str, Any] = {"generator": "invokeai"}
    prompt_words = []
    it = iter(words)
    for w in it:
        key = _DREAM_FLAGS.get(w)
        if key:
            fields[key] = next(it, None)
        elif re.fullmatch(r"-[A-Za-z]\d.*", w) and w[:2] in _DREAM_FLAGS:
            fields[_DREAM_FLAGS[w[:2]]] = w[2:]
        elif not w.startswith("-"):
            prompt_words.append(w)
    fields["prompt"] = " ".join(prompt_words) or None
    fields["seed"], fields["steps"] = as_int(fields.get("seed")), as_int(fields.get("steps"))
    fields["cfg_scale"] = as_float(fields.get("cfg_scale"))
    if fields.get("width") and fields.get("height"):
        fields["size"] = f"{fields.pop('width')}x{fields.pop('height')}"
    return fields


class InvokeAIReader:
    name = "invokeai"

    def read(self, md: Metadata, image: Any = None) -> list[Finding]:
        for key, parse in (("png:invokeai_metadata", parse_metadata),
                           ("png:sd-metadata", parse_sd_metadata)):
            text = md.text.get(key)
            if text is None:
                continue
            meta, err = load_json(text)
            if not isinstance(meta, dict):
                return [generator_finding(key, text, {"generator": "invokeai"},
                                          error=err or "metadata is not a JSON object")]
            return [generator_finding(key, text, parse(meta))]
        dream = md.text.get("png:Dream")
        if dream:
            return [generator_finding("png:Dream", dream, parse_dream(dream))]
        if "png:invokeai_graph" in md.text or "png:invokeai_workflow" in md.text:
            key = "png:invokeai_graph" if "png:invokeai_graph" in md.text else \
                "png:invokeai_workflow"
            return [generator_finding(key, md.text[key], {"generator": "invokeai"})]
        return []
