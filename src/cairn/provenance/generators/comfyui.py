"""ComfyUI: the `prompt` text chunk is the API graph `{node id: {class_type, inputs}}`, the
`workflow` chunk the UI graph `{nodes: [{type, widgets_values}]}`. Checkpoints, LoRAs (with
strengths), seeds, samplers and the text fed to the sampler's positive/negative inputs are
read from the API graph; the UI graph fills in when it is the only one."""

from __future__ import annotations

from typing import Any

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


class ComfyUIReader:
    name = "comfyui"

    def read(self, md: Metadata, image: Any = None) -> list[Finding]:
        prompt, workflow = md.text.get("png:prompt"), md.text.get("png:workflow")
        if prompt is None and workflow is None:
            return []
        source = "png:prompt" if prompt is not None else "png:workflow"
        graph, err = load_json(prompt) if prompt is not None else (None, None)
        if isinstance(graph, dict) and graph and all(
                isinstance(v, dict) and "class_type" in v for v in graph.values()):
            fields = parse_api_graph(graph)
            extra = fields.pop("_all", None)
            return [generator_finding(source, prompt, fields, extra=extra)]
        if workflow is not None:
            ui, err2 = load_json(workflow)
            if isinstance(ui, dict) and isinstance(ui.get("nodes"), list):
                return [generator_finding("png:workflow", workflow, parse_ui_graph(ui))]
            err = err or err2
        if prompt is not None and err is None and not isinstance(graph, dict):
            return []  # a `prompt` chunk that is plain text: some other tool's
        return [generator_finding(source, prompt or workflow, {"generator": "comfyui"},
                                  error=err or "not a ComfyUI graph")]
