"""AUTOMATIC1111 / Forge / SD.Next `parameters` text (PNG tEXt, or EXIF UserComment in JPEG
and WebP):

    <prompt>
    Negative prompt: <negative>
    Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 512x512, Model hash: …, …

The last line holds `Key: value` pairs; a value holding `,` `:` or a newline is JSON-quoted.
"""

from __future__ import annotations

import json
import re
from typing import Any

from cairn.provenance.containers import Metadata
from cairn.provenance.finding import Finding
from cairn.provenance.generators.base import as_float, as_int, generator_finding

# Key: value, where a value is a JSON string or runs to the next comma
_PAIR = re.compile(r'\s*([A-Za-z][\w \-/.()]*?):\s*("(?:\\.|[^\\"])*"|[^,]*)(?:,|$)')
_MIN_PAIRS = 3  # fewer on the last line: it is part of the prompt, not parameters
_HASH = re.compile(r"[0-9A-Fa-f]{8,64}")


def parse_params_line(line: str) -> dict[str, str] | None:
    """The `Key: value, …` line as a dict, or None if the line is not one."""
    out: dict[str, str] = {}
    pos = 0
    line = line.strip()
    while pos < len(line):
        m = _PAIR.match(line, pos)
        if not m or m.end() == pos:
            return None
        key, value = m.group(1).strip(), m.group(2).strip()
        if value.startswith('"') and value.endswith('"') and len(value) >= 2:
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                value = value[1:-1]
        out[key] = value
        pos = m.end()
    return out if len(out) >= _MIN_PAIRS else None


def parse_hash_list(value: str) -> list[dict[str, str]]:
    """`alias: 0123456789ab, other: …` (Lora hashes, TI hashes): split at commas, then at
    the last colon. Linear in the text: the regex search this replaces backtracked
    quadratically (40 KB without a colon took 45 s; an 8 MB chunk, days)."""
    out = []
    for part in (value or "").split(","):
        left, colon, digest = part.rpartition(":")
        name, digest = left.rpartition(":")[2].strip(), digest.strip()
        if colon and name and _HASH.fullmatch(digest):
            out.append({"name": name, "hash": digest.lower()})
    return out


def parse_parameters(text: str) -> tuple[dict[str, Any], dict[str, str]] | None:
    """(normalised fields, every parameter) of an A1111 text, or None if it is not one."""
    text = text.replace("\r\n", "\n").strip()
    lines = text.split("\n")
    params = parse_params_line(lines[-1]) if lines else None
    if params is None or not ({"Steps", "Sampler", "Seed"} & params.keys()):
        return None
    body = "\n".join(lines[:-1])
    prompt, _, negative = body.partition("\nNegative prompt:")
    if body.startswith("Negative prompt:"):
        prompt, negative = "", body[len("Negative prompt:"):]
    version = params.get("Version", "")
    app = params.get("App", "")
    if "sd.next" in app.lower() or "sd.next" in version.lower():
        generator = "sd.next"
    elif re.match(r"^f\d", version) or "forge" in version.lower():
        generator = "forge"
    else:
        generator = "automatic1111"
    loras = parse_hash_list(params.get("Lora hashes", ""))
    fields = {
        "generator": generator, "version": version or None,
        "prompt": prompt.strip() or None, "negative_prompt": negative.strip() or None,
        "seed": as_int(params.get("Seed")), "sampler": params.get("Sampler"),
        "scheduler": params.get("Schedule type"), "steps": as_int(params.get("Steps")),
        "cfg_scale": as_float(params.get("CFG scale")), "size": params.get("Size"),
        "model": params.get("Model"), "model_hash": (params.get("Model hash") or "").lower()
        or None, "vae": params.get("VAE"), "vae_hash": params.get("VAE hash"),
        "loras": loras, "embeddings": parse_hash_list(params.get("TI hashes", "")),
    }
    return fields, params


class A1111Reader:
    name = "automatic1111"

    def read(self, md: Metadata, image: Any = None) -> list[Finding]:
        for source in ("png:parameters", "exif:UserComment"):
            text = md.text.get(source)
            if not text or text.lstrip().startswith("{"):
                continue  # JSON parameters: Fooocus's
            parsed = parse_parameters(text)
            if parsed is None:
                if source == "png:parameters":  # the key itself is A1111's: keep what it said
                    return [generator_finding(source, text, {"generator": "automatic1111"},
                                              error="parameters text without a parameter "
                                              "line (Steps/Sampler/Seed)")]
                continue
            fields, params = parsed
            software = md.text.get("exif:Software", "")
            if "fooocus" in (params.get("Version", "") + software).lower():
                continue  # Fooocus in A1111 layout: the Fooocus reader owns it
            return [generator_finding(source, text, fields)]
        return []
