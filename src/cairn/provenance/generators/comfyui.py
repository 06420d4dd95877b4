"""ComfyUI: the `prompt` text chunk is the API graph `{node id: {class_type, inputs}}`, the
`workflow` chunk the UI graph `{nodes: [{type, widgets_values}]}`. Checkpoints, LoRAs (with
strengths), seeds, samplers and the text fed to the sampler's positive/negative inputs are
read from the API graph; the UI graph fills in when it is the only one.

The same graphs elsewhere (FACTS.md "ComfyUI outside PNG"): APNG from SaveAnimatedPNG in
private `comf` chunks (`key\0JSON` after IDAT: `png:comf:prompt`); WebP from
SaveAnimatedWEBP in EXIF `Model` ("prompt:" + JSON) and `Make` ("workflow:" + JSON); MP4
from the core video node and VideoHelperSuite in container tags `prompt`/`workflow`
(media_tags.py: `mp4:prompt`, possibly JSON-encoded twice; WebM/MKV: `mkv:prompt`), or, from
older VideoHelperSuite, one `comment` tag holding both.
The finding's source names where it was read: `png:prompt`, `exif:Model`, `mp4:prompt`."""

from __future__ import annotations

from typing import Any, TypeGuard

from cairn.provenance.containers import Metadata
from cairn.provenance.finding import Finding
from cairn.provenance.generators.base import as_float, as_int, generator_finding, load_json

CKPT_KEYS = ("ckpt_name", "unet_name", "model_name")
SEED_KEYS = ("seed", "noise_seed")


def _text_of(graph: dict, ref: Any, depth: int = 0) -> str | None:
    """Follow a [node id, slot] link back to the text that was encoded."""
    if not isinstance(ref, list) or not ref or depth > 20:
        return None
    node = graph.get(str(ref[0]))
    inputs = node.get("inputs") if isinstance(node, dict) else None
    if not isinstance(inputs, dict):  # a node's inputs as a list or text: nothing to follow
        return None
    for key in ("text", "text_g", "prompt", "string"):
        v = inputs.get(key)
        if isinstance(v, str):
            return v
        if isinstance(v, list):
            return _text_of(graph, v, depth + 1)
    for key in ("conditioning", "conditioning_1", "positive"):  # pass-through nodes
        if isinstance(inputs.get(key), list):
            return _text_of(graph, inputs[key], depth + 1)
    return None


def parse_api_graph(graph: dict) -> dict[str, Any]:
    models, loras, seeds, samplers = [], [], [], []
    fields: dict[str, Any] = {"generator": "comfyui"}
    for node_id in sorted(graph, key=lambda k: (len(str(k)), str(k))):
        node = graph[node_id]
        if not isinstance(node, dict):
            continue
        ct, inputs = str(node.get("class_type", "")), node.get("inputs") or {}
        if not isinstance(inputs, dict):
            continue
        for k in CKPT_KEYS:
            if isinstance(inputs.get(k), str):
                models.append(inputs[k])
        if isinstance(inputs.get("lora_name"), str):
            loras.append({"name": inputs["lora_name"],
                          "weight": as_float(inputs.get("strength_model")),
                          "clip_weight": as_float(inputs.get("strength_clip"))})
        for k in SEED_KEYS:
            if isinstance(inputs.get(k), (int, float, str)) and as_int(inputs[k]) is not None:
                seeds.append(as_int(inputs[k]))
        if isinstance(inputs.get("vae_name"), str):
            fields.setdefault("vae", inputs["vae_name"])
        if "width" in inputs and "height" in inputs and "Latent" in ct:
            fields.setdefault("size", f"{inputs['width']}x{inputs['height']}")
        if "sampler_name" in inputs or ct.startswith("KSampler"):
            samplers.append(node)
            if fields.get("prompt") is None:
                fields["prompt"] = _text_of(graph, inputs.get("positive"))
                fields["negative_prompt"] = _text_of(graph, inputs.get("negative"))
    if samplers:
        inputs = samplers[0].get("inputs") or {}
        fields.update(sampler=inputs.get("sampler_name"), scheduler=inputs.get("scheduler"),
                      steps=as_int(inputs.get("steps")), cfg_scale=as_float(inputs.get("cfg")))
    fields.update(model=models[0] if models else None, seed=seeds[0] if seeds else None,
                  loras=loras)
    if len(models) > 1 or len(seeds) > 1:
        fields["_all"] = {"models": models, "seeds": seeds}
    return fields


def parse_ui_graph(workflow: dict) -> dict[str, Any]:
    models, loras, seeds = [], [], []
    for node in workflow.get("nodes") or []:
        if not isinstance(node, dict):
            continue
        t, w = str(node.get("type", "")), node.get("widgets_values")
        if not isinstance(w, list) or not w:
            continue
        if "Checkpoint" in t and isinstance(w[0], str):
            models.append(w[0])
        elif t.startswith("LoraLoader") and isinstance(w[0], str):
            loras.append({"name": w[0], "weight": as_float(w[1]) if len(w) > 1 else None})
        elif t.startswith("KSampler") and as_int(w[0]) is not None:
            seeds.append(as_int(w[0]))
    return {"generator": "comfyui", "model": models[0] if models else None,
            "seed": seeds[0] if seeds else None, "loras": loras}


def _decode(text: str) -> tuple[Any, str | None]:
    """JSON that writers may have encoded more than once (a graph already serialised, passed
    through `json.dumps` again by a video node): decode until it is not a string."""
    value, err = load_json(text)
    for _ in range(3):
        if not isinstance(value, str) or not value.lstrip().startswith(("{", "[", '"')):
            break
        inner, inner_err = load_json(value)
        if inner_err:
            break
        value = inner
    return value, err


def _tagged(md: Metadata) -> dict[str, tuple[str, str]]:
    """`key -> (source, JSON text)` of ComfyUI's EXIF tags in WebP/JPEG: SaveAnimatedWEBP
    writes `Model` = "prompt:" + JSON and `Make`, `ImageDescription`, … = "<extra key>:" +
    JSON (comfy_api/latest/_ui.py `_create_webp_metadata`)."""
    out: dict[str, tuple[str, str]] = {}
    for source in ("exif:Model", "exif:Make", "exif:ImageDescription"):
        key, sep, rest = md.text.get(source, "").partition(":")
        if sep and key in ("prompt", "workflow") and rest.lstrip()[:1] in ("{", "["):
            out.setdefault(key, (source, rest))
    return out


def _comment(md: Metadata) -> tuple[str, str, dict] | None:
    """Older VideoHelperSuite: one container `comment` tag holding {"prompt", "workflow"}."""
    hit = md.get("mp4:comment", "mkv:comment")
    if hit is None or not hit[1].lstrip().startswith("{"):
        return None
    value, _ = _decode(hit[1])
    if isinstance(value, dict) and ("prompt" in value or "workflow" in value):
        return hit[0], hit[1], value
    return None


def _is_api_graph(graph: Any) -> TypeGuard[dict[str, Any]]:
    return isinstance(graph, dict) and bool(graph) and all(
        isinstance(v, dict) and "class_type" in v for v in graph.values())


class ComfyUIReader:
    name = "comfyui"

    def read(self, md: Metadata, image: Any = None) -> list[Finding]:
        tagged = _tagged(md)
        prompt = md.get("png:prompt", "png:comf:prompt", "mp4:prompt", "mkv:prompt") or \
            tagged.get("prompt")
        workflow = md.get("png:workflow", "png:comf:workflow", "mp4:workflow",
                          "mkv:workflow") or tagged.get("workflow")
        if prompt is None and workflow is None:
            comment = _comment(md)
            return self._from_comment(*comment) if comment else []
        source, raw = prompt if prompt is not None else workflow  # type: ignore[misc]
        graph, err = _decode(prompt[1]) if prompt is not None else (None, None)
        if _is_api_graph(graph):
            fields = parse_api_graph(graph)
            extra = fields.pop("_all", None)
            return [generator_finding(source, raw, fields, extra=extra)]
        if workflow is not None:
            ui, err2 = _decode(workflow[1])
            if isinstance(ui, dict) and isinstance(ui.get("nodes"), list):
                return [generator_finding(workflow[0], workflow[1], parse_ui_graph(ui))]
            err = err or err2
        if prompt is not None and err is None and not isinstance(graph, dict):
            return []  # a `prompt` chunk that is plain text: some other tool's
        return [generator_finding(source, raw, {"generator": "comfyui"},
                                  error=err or "not a ComfyUI graph")]

    def _from_comment(self, source: str, raw: str, value: dict) -> list[Finding]:
        graph, ui = value.get("prompt"), value.get("workflow")
        graph = _decode(graph)[0] if isinstance(graph, str) else graph
        ui = _decode(ui)[0] if isinstance(ui, str) else ui
        if _is_api_graph(graph):
            fields = parse_api_graph(graph)
            extra = fields.pop("_all", None)
            return [generator_finding(source, raw, fields, extra=extra)]
        if isinstance(ui, dict) and isinstance(ui.get("nodes"), list):
            return [generator_finding(source, raw, parse_ui_graph(ui))]
        return [generator_finding(source, raw, {"generator": "comfyui"},
                                  error="comment holds no ComfyUI graph")]
