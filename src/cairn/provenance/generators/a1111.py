"""AUTOMATIC1111 and its family (Forge, reForge, SD.Next, Civitai's generator) `parameters`
text (PNG tEXt, EXIF UserComment in JPEG and WebP, or hidden in pixel LSBs by the stealth
pnginfo extension):

    <prompt>
    Negative prompt: <negative>
    Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 512x512, Model hash: …, …

The last line holds `Key: value` pairs; a value holding `,` `:` or a newline is JSON-quoted,
and Civitai writes JSON arrays and objects unquoted (`Civitai resources: [{…}]`,
`Civitai metadata: {…}`, its extension's `Hashes: {…}`). The line is read by one linear
scan (no regex over the whole line: fuzz/a1111 found quadratic backtracking before): a value
is a JSON string, a bracket-balanced JSON array/object (string-aware), or runs to the next
comma. Every model, LoRA, embedding, VAE and Forge module the text cites becomes one entry
of `resources` ({type, name, version, hash, air, weight}), so linking has one list to read.

Which tool wrote it: `Civitai resources`/`Civitai metadata` -> civitai; `Version:` says
Forge (`f2.0.1v1.10.1-…`, git describe of a Forge checkout; Forge Classic/Neo write
`classic`/`neo`), reForge (`f1.7.0-v1.10.1RC-…`: `'f' + forge_version + '-' + git describe`,
Panchovix/stable-diffusion-webui-reForge `modules/launch_utils.py` `git_tag`) or SD.Next.
"""

from __future__ import annotations

import json
import re
from typing import Any

from cairn.provenance.containers import Metadata
from cairn.provenance.finding import Finding, clip
from cairn.provenance.generators.air import normalise_air
from cairn.provenance.generators.base import as_float, as_int, generator_finding
from cairn.provenance.stealth import error_source

_MIN_PAIRS = 3  # fewer on the last line: it is part of the prompt, not parameters
_HASH = re.compile(r"[0-9A-Fa-f]{8,64}")
_KEY = re.compile(r"[A-Za-z][\w \-/.()]*")  # matched whole on one key: linear
_STRING_STOP = re.compile(r'["\\]')
_JSON_STOP = re.compile(r'["\[\]{}]')
_CLOSE = {"[": "]", "{": "}"}
MAX_DEPTH = 64  # JSON nesting a value may have (json.loads recursion stays far away)
MAX_PARAMS = 256  # parameters kept in a finding's `params`
MAX_RESOURCES = 256  # resources kept per finding: hostile texts cite millions
_REFORGE = re.compile(r"f\d+(?:\.\d+)*[A-Za-z]*-v\d")
_FORGE = re.compile(r"f\d+(?:\.\d+)*[A-Za-z]*v\d")
# `<lora:name:0.8>` in a prompt: the weight of a LoRA cited in Lora hashes / Hashes; the name
# excludes `<` and `:`, so each match attempt ends at the next `:`: linear
_EXTRA_NET = re.compile(r"<(lora|lyco|hypernet):([^:<>]{1,256}):(-?[0-9.]{1,16})")
# Civitai and its extension's type words -> the resource types linking uses
TYPE_WORDS = {"model": "checkpoint", "checkpoint": "checkpoint", "embed": "embedding",
              "embedding": "embedding", "textualinversion": "embedding", "ti": "embedding",
              "lora": "lora", "lyco": "lycoris", "lycoris": "lycoris", "locon": "lycoris",
              "hypernet": "hypernetwork", "hypernetwork": "hypernetwork", "vae": "vae"}


def scan_string(s: str, i: int) -> int:
    """End (index past the closing quote) of the JSON string opening at s[i], or -1."""
    j = i + 1
    while True:
        m = _STRING_STOP.search(s, j)
        if m is None:
            return -1
        if m.group() == '"':
            return m.end()
        j = m.end() + 1  # skip the escaped character


def scan_json(s: str, i: int) -> int:
    """End of the bracket-balanced JSON array/object opening at s[i] (strings skipped whole),
    or -1 when it never closes, closes with the wrong bracket or nests past MAX_DEPTH."""
    stack = [_CLOSE[s[i]]]
    j = i + 1
    while stack:
        m = _JSON_STOP.search(s, j)
        if m is None:
            return -1
        c = m.group()
        if c == '"':
            j = scan_string(s, m.start())
            if j < 0:
                return -1
        elif c in _CLOSE:
            if len(stack) >= MAX_DEPTH:
                return -1
            stack.append(_CLOSE[c])
            j = m.end()
        elif stack.pop() != c:
            return -1
        else:
            j = m.end()
    return j


def _ends_value(line: str, end: int) -> int:
    """Index past the separating comma when only spaces lie between `end` and a comma or the
    end of the line, else -1."""
    k = end
    while k < len(line) and line[k].isspace():
        k += 1
    if k == len(line):
        return k
    return k + 1 if line[k] == "," else -1


def parse_params_line(line: str) -> dict[str, str] | None:
    """The `Key: value, …` line as a dict (JSON arrays/objects kept as their JSON text), or
    None if the line is not one.

    Linear: keys and plain values are scanned once and consumed. A JSON string scan ends at
    the first unescaped quote, which no later value can start before (a value opens after
    `:` or a space, never after a backslash), so string scans never overlap. A bracket scan
    that fails (never closes, wrong bracket, junk after it) sets a horizon: no bracket scan
    starts before it again, so no text is bracket-scanned twice."""
    out: dict[str, str] = {}
    line = line.strip()
    n, pos, horizon = len(line), 0, 0
    while pos < n:
        while pos < n and line[pos].isspace():
            pos += 1
        colon = line.find(":", pos)
        if colon < 0:
            return None
        key = line[pos:colon].strip()
        if not _KEY.fullmatch(key):
            return None
        v = colon + 1
        while v < n and line[v].isspace():
            v += 1
        value: str | None = None
        if v < n and (line[v] == '"' or (line[v] in "[{" and v >= horizon)):
            end = scan_string(line, v) if line[v] == '"' else scan_json(line, v)
            nxt = _ends_value(line, end) if end > 0 else -1
            if nxt >= 0:
                value, pos = line[v:end], nxt
                if value.startswith('"'):
                    try:
                        value = json.loads(value)
                    except (json.JSONDecodeError, RecursionError):
                        value = value[1:-1]
            elif line[v] != '"':
                horizon = n if end < 0 else end
        if value is None:
            comma = line.find(",", v)
            end = n if comma < 0 else comma
            value, pos = line[v:end].strip(), end + 1
        out[key] = str(value)
    return out if len(out) >= _MIN_PAIRS else None


def json_value(text: str | None) -> Any:
    """A parameter's JSON array/object value, or None when it is not one."""
    if not text or text[0] not in "[{":
        return None
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        return None


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


def _hex(value: Any) -> str | None:
    text = str(value).strip() if value not in (None, "") else ""
    return text.lower() if _HASH.fullmatch(text) else None


def resource(kind: str, name: Any = None, version: Any = None, hash: Any = None,
             air: str | None = None, weight: Any = None) -> dict[str, Any]:
    """One entry of `resources`, in the agreed shape (generators/base.py FIELDS)."""
    def text(v: Any) -> str | None:
        return (str(v).strip()[:512] or None) if v not in (None, "") else None
    word = kind.strip().lower()[:64]
    return {"type": TYPE_WORDS.get(word, word), "name": text(name),
            "version": text(version), "hash": _hex(hash), "air": air,
            "weight": as_float(weight) if weight is not None else None}


class Resources:
    """Resources cited by one text, merged: a second citation of the same type and hash (or
    AIR), or of the same type and name without a conflicting hash or AIR, fills the first's
    missing fields instead of repeating it. Indexed, so a text citing a million LoRAs costs
    a million lookups, and bounded to MAX_RESOURCES entries."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self.notes: list[str] = []
        self._index: dict[tuple[str, str, str], dict[str, Any]] = {}

    def note(self, text: str) -> None:
        if len(self.notes) < 5:
            self.notes.append(text)

    def _find(self, r: dict[str, Any]) -> dict[str, Any] | None:
        for k in ("hash", "air"):
            have = self._index.get((k, r["type"], r[k])) if r[k] else None
            if have is not None:
                return have
        have = self._index.get(("name", r["type"], r["name"])) if r["name"] else None
        if have is not None and not any(have[k] and r[k] and have[k] != r[k]
                                        for k in ("hash", "air")):
            return have
        return None

    def add(self, r: dict[str, Any]) -> None:
        if not any(r[k] for k in ("name", "hash", "air")):
            return
        have = self._find(r)
        if have is None:
            if len(self.items) >= MAX_RESOURCES:
                return
            have = r
            self.items.append(r)
        else:
            for k, v in r.items():
                if have[k] is None:
                    have[k] = v
        for k in ("hash", "air", "name"):
            if have[k]:
                self._index.setdefault((k, have["type"], have[k]), have)

    def civitai(self, items: Any) -> None:
        """`Civitai resources`: [{type, modelVersionId, modelName, modelVersionName |
        versionName, weight | strength, air}]; a malformed AIR is kept as the name, noted."""
        for item in items if isinstance(items, list) else []:
            if not isinstance(item, dict):
                continue
            raw_air = item.get("air")
            air = normalise_air(raw_air) if isinstance(raw_air, str) else None
            name = item.get("modelName")
            if raw_air and air is None:
                self.note(f"Civitai resources: malformed AIR {str(raw_air)[:80]!r} kept as "
                          "the name")
                name = name or raw_air
            kind = item.get("type") or ""
            self.add(resource(str(kind) or "unknown", name,
                              item.get("modelVersionName") or item.get("versionName"),
                              item.get("hash"), air, item.get("weight", item.get("strength"))))

    def hashes(self, table: Any, weights: dict[str, float]) -> None:
        """Civitai's extension: {"model": h, "vae": h, "lora:NAME": h, "embed:NAME": h}."""
        for key, digest in (table.items() if isinstance(table, dict) else ()):
            kind, _, name = str(key).partition(":")
            self.add(resource(kind, name or None, hash=digest,
                              weight=weights.get(name) if name else None))


def _generator(params: dict[str, str]) -> str:
    version, app = params.get("Version", ""), params.get("App", "")
    if "Civitai resources" in params or "Civitai metadata" in params:
        return "civitai"
    if "sd.next" in app.lower() or "sd.next" in version.lower():
        return "sd.next"
    if _REFORGE.match(version) or "reforge" in version.lower():
        return "reforge"
    if _FORGE.match(version) or "forge" in version.lower() or version in ("classic", "neo"):
        return "forge"
    return "automatic1111"


def _resources(params: dict[str, str], prompt: str, fields: dict[str, Any]
               ) -> tuple[list[dict[str, Any]], list[str]]:
    res = Resources()
    weights = {m.group(2): w for m in _EXTRA_NET.finditer(prompt[:1_000_000])
               if (w := as_float(m.group(3))) is not None}
    res.civitai(json_value(params.get("Civitai resources")))
    res.add(resource("checkpoint", params.get("Model"), hash=params.get("Model hash")))
    res.add(resource("vae", params.get("VAE"), hash=params.get("VAE hash")))
    for lora in fields["loras"]:
        res.add(resource("lora", lora["name"], hash=lora["hash"],
                         weight=weights.get(lora["name"])))
    for emb in fields["embeddings"]:
        res.add(resource("embedding", emb["name"], hash=emb["hash"]))
    res.hashes(json_value(params.get("Hashes")), weights)
    for prefix in ("Module ", "Hires Module "):  # Forge: VAE / text encoder file stems
        for i in range(1, 33):
            name = params.get(f"{prefix}{i}")
            if name is None:
                break
            if name not in ("Built-in", "Use same choices"):
                res.add(resource("module", name))
    return res.items, res.notes


def parse_parameters(text: str) -> tuple[dict[str, Any], dict[str, str]] | None:
    """(normalised fields, every parameter) of an A1111 text, or None if it is not one.
    `fields["notes"]`, when present, lists what was malformed (a bad AIR)."""
    text = text.replace("\r\n", "\n").strip()
    lines = text.split("\n")
    params = parse_params_line(lines[-1]) if lines else None
    if params is None or not ({"Steps", "Sampler", "Seed"} & params.keys()):
        return None
    body = "\n".join(lines[:-1])
    prompt, _, negative = body.partition("\nNegative prompt:")
    if body.startswith("Negative prompt:"):
        prompt, negative = "", body[len("Negative prompt:"):]
    fields: dict[str, Any] = {
        "generator": _generator(params), "version": params.get("Version") or None,
        "prompt": prompt.strip() or None, "negative_prompt": negative.strip() or None,
        "seed": as_int(params.get("Seed")), "sampler": params.get("Sampler"),
        "scheduler": params.get("Schedule type"), "steps": as_int(params.get("Steps")),
        "cfg_scale": as_float(params.get("CFG scale")), "size": params.get("Size"),
        "model": params.get("Model"), "model_hash": (params.get("Model hash") or "").lower()
        or None, "vae": params.get("VAE"), "vae_hash": params.get("VAE hash"),
        "loras": parse_hash_list(params.get("Lora hashes", "")),
        "embeddings": parse_hash_list(params.get("TI hashes", "")),
        "user": params.get("User"),
    }
    fields["resources"], notes = _resources(params, prompt, fields)
    if notes:
        fields["notes"] = notes
    return fields, params


def _params(params: dict[str, str]) -> dict[str, str]:
    """Every parameter for the finding, bounded (a hostile line has millions)."""
    return {k: clip(v) or "" for k, v in list(params.items())[:MAX_PARAMS]}


def _finding(source: str, text: str, parsed: tuple[dict[str, Any], dict[str, str]],
             stealth: dict[str, Any] | None = None, error: str | None = None) -> Finding:
    fields, params = parsed
    notes = "; ".join(fields.get("notes", [])[:5])
    errors = "; ".join(e for e in (error, notes) if e) or None
    return generator_finding(source, text, fields | {"stealth": stealth}, error=errors,
                             extra=_params(params))


def _same(a: str, b: str) -> bool:
    return a.replace("\r\n", "\n").strip() == b.replace("\r\n", "\n").strip()


class A1111Reader:
    """Text chunks and stealth pixels both. When the pixels hold the same text as the chunk,
    one finding (the chunk's) says so in `stealth`; when they differ (a chunk edited after
    the fact, or stripped and replaced), each is its own finding: the pixels' text is the one
    that survives stripping, and a difference is evidence. Stealth payloads that are JSON are
    left to their writers' readers (NovelAI, ComfyUI, SwarmUI); plain text that is not A1111
    infotext, and a signature whose payload is lost (`Metadata.stealth_error`), are noted
    with no generator claimed, since the pixels alone cannot say whose they were."""

    name = "automatic1111"

    def read(self, md: Metadata, image: Any = None) -> list[Finding]:
        found: list[Finding] = []
        chunk_text = None
        for source in ("png:parameters", "exif:UserComment"):
            text = md.text.get(source)
            if not text or text.lstrip().startswith("{"):
                continue  # JSON parameters: Fooocus's
            parsed = parse_parameters(text)
            if parsed is None:
                if source == "png:parameters":  # the key itself is A1111's: keep what it said
                    found.append(generator_finding(
                        source, text, {"generator": "automatic1111"},
                        error="parameters text without a parameter line (Steps/Sampler/Seed)"))
                    break
                continue
            software = md.text.get("exif:Software", "")
            if "fooocus" in (parsed[1].get("Version", "") + software).lower():
                continue  # Fooocus in A1111 layout: the Fooocus reader owns it
            found.append(_finding(source, text, parsed))
            chunk_text = text
            break
        stealth = md.stealth
        if stealth is not None:
            text = stealth.text()
            json_like = text.lstrip()[:1] in ("{", "[")  # NovelAI, ComfyUI, SwarmUI: theirs
            parsed = parse_parameters(text) if not json_like else None
            if parsed is not None:
                if chunk_text is not None and _same(chunk_text, text) and not stealth.note:
                    found[0].data["stealth"] = stealth.describe()
                else:
                    found.append(_finding(stealth.source, text, parsed, stealth.describe(),
                                          stealth.note))
            elif not json_like:  # text hidden in pixels that no writer's layout explains
                found.append(generator_finding(
                    stealth.source, text, {"stealth": stealth.describe()},
                    error="; ".join(e for e in (stealth.note, "stealth payload is neither A1111 "
                                                "parameters nor JSON") if e)))
        elif md.stealth_error:
            # a signature whose payload is lost: whose it was cannot be told; claim nothing
            found.append(generator_finding(error_source(md.stealth_error), None, {},
                                           error=md.stealth_error))
        return found
