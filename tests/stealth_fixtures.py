"""Test-only fixtures for stealth metadata and the A1111 family's texts, built as the tools
build them, over benign generated pictures (cairn.demo.picture) with benign prompts.

- `add_stealth_pnginfo`: the A1111 stealth pnginfo extension's embedding
  (ashen-sensored/sd_webui_stealth_pnginfo, `scripts/stealth_pnginfo.py`, functions
  `add_stealth_pnginfo` -> `add_data` / `prepare_data`), restated in our own words: the bit
  string is signature + 32-bit length in bits + payload, bytes MSB first; alpha mode first sets
  the alpha plane to 255 (`putalpha(255)`), then replaces each pixel's alpha LSB with the next
  bit; rgb mode replaces the R, G and B LSBs of each pixel in turn, a last pixel keeping the
  bits of the channels the stream no longer reaches; pixels column by column, x outer, y inner.
  Written pixel by pixel through Pillow's pixel access, as the extension does, so the
  vectorised reader is checked against a loop that shares none of its code.
- Forge / reForge / Civitai texts: A1111 infotexts with the keys those tools' code writes
  (sources in each function's docstring).
"""

from __future__ import annotations

import gzip
import json
import struct

from PIL import Image

from cairn.demo import picture

LIGHTHOUSE = (
    "a lighthouse on a cliff at dusk, oil painting\n"
    "Negative prompt: blurry, lowres\n"
    "Steps: 28, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 3141592, "
    "Size: 96x64, Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, "
    'Lora hashes: "seaside: 0123456789ab", TI hashes: "easyneg: c74b4e810b03", '
    "Version: v1.10.1"
)


def stealth_bits(text: str, mode: str, compressed: bool) -> str:
    """`prepare_data`: the bit string the extension writes, as '0'/'1' characters."""
    signature = f"stealth_{'png' if mode == 'alpha' else 'rgb'}{'comp' if compressed else 'info'}"
    payload = gzip.compress(text.encode("utf-8")) if compressed else text.encode("utf-8")
    body = "".join(f"{b:08b}" for b in payload)
    return "".join(f"{b:08b}" for b in signature.encode("ascii")) + f"{len(body):032b}" + body


def add_stealth_pnginfo(img: Image.Image, text: str, mode: str = "alpha",
                        compressed: bool = True, bits: str | None = None) -> Image.Image:
    """`add_data`: the picture with `text` hidden in its LSBs (`bits` overrides the stream,
    to damage it). Alpha mode gives RGBA, rgb mode keeps RGB, as the extension's callers do."""
    out = img.convert("RGB")
    if mode == "alpha":
        out.putalpha(255)
    data = stealth_bits(text, mode, compressed) if bits is None else bits
    width, height = out.size
    px = out.load()
    i = 0
    for x in range(width):
        for y in range(height):
            if i >= len(data):
                return out
            if mode == "alpha":
                r, g, b, a = px[x, y]
                px[x, y] = (r, g, b, (a & ~1) | int(data[i]))
                i += 1
            else:
                r, g, b = px[x, y]
                r = (r & ~1) | int(data[i])
                if i + 1 < len(data):
                    g = (g & ~1) | int(data[i + 1])
                if i + 2 < len(data):
                    b = (b & ~1) | int(data[i + 2])
                px[x, y] = (r, g, b)
                i += 3
    assert i >= len(data), "picture too small for the payload"
    return out


def stealth_picture(mode: str = "alpha", compressed: bool = True, text: str = LIGHTHOUSE,
                    seed: int = 700, size: tuple[int, int] = (96, 64), bits: str | None = None
                    ) -> Image.Image:
    return add_stealth_pnginfo(picture(seed, size), text, mode, compressed, bits)


def with_length(bits: str, length: int) -> str:
    """The stream with its 32-bit length field replaced (a damaged header)."""
    return bits[:120] + f"{length:032b}" + bits[152:]


def novelai_stealth_with_fec(payload: dict, seed: int = 710) -> Image.Image:
    """NovelAI's layout (NovelAI/novelai-image-metadata `nai_meta_writer.py`, `LSBInjector`):
    alpha LSBs, `stealth_pngcomp`, bit length, gzip JSON, then a second 32-bit length and
    FEC bytes (here a stand-in of 16 bytes; the reader must stop at the first payload), and
    every alpha byte past the stream 0xff, as `finalize` leaves it."""
    data = gzip.compress(json.dumps(payload).encode("utf-8"))
    fec = bytes(range(16))
    stream = (b"stealth_pngcomp" + struct.pack(">I", len(data) * 8) + data
              + struct.pack(">I", len(fec) * 8) + fec)
    bits = "".join(f"{b:08b}" for b in stream)
    img = picture(seed, (128, 96)).convert("RGBA")
    w, h = img.size
    px = img.load()
    for x in range(w):
        for y in range(h):
            i = x * h + y
            r, g, b, _ = px[x, y]
            px[x, y] = (r, g, b, 0xFE | int(bits[i]) if i < len(bits) else 0xFF)
    return img


# -- Forge, reForge, Civitai infotexts ------------------------------------------------------
def forge_flux_text() -> str:
    """Forge (lllyasviel/stable-diffusion-webui-forge `modules/processing.py`
    `create_infotext`): `Distilled CFG Scale` after `CFG scale` for distilled models,
    `Diffusion in Low Bits` when not Automatic, `Module N` = basename without extension of
    each of `forge_additional_modules`; txt2img hires adds `Hires Module 1`, `Hires CFG Scale`;
    `Version` = git describe of a Forge checkout (`f2.0.1v1.10.1-previous-...`)."""
    return ("a paper boat on a pond, watercolour\n"
            "Steps: 20, Sampler: Euler, Schedule type: Simple, CFG scale: 1, "
            "Distilled CFG Scale: 3.5, Seed: 1083098466, Size: 1024x768, "
            "Model hash: 58725940e3, Model: flux1-dev-demo, "
            'Lora hashes: "pond_style: e3b0c44298fc", '
            "Hires Module 1: Use same choices, Hires CFG Scale: 1, "
            "Version: f2.0.1v1.10.1-previous-669-gdfdcbab6, "
            "Diffusion in Low Bits: Automatic (fp16 LoRA), "
            "Module 1: ae, Module 2: clip_l, Module 3: t5xxl_fp8_e4m3fn")


def reforge_text() -> str:
    """reForge (Panchovix/stable-diffusion-webui-reForge `modules/launch_utils.py`
    `git_tag`: `'f' + forge_version.version + '-' + git describe`, e.g.
    `f1.7.0-v1.10.1RC-latest-2190-g8731f1e9`)."""
    return ("a windmill in a tulip field\nNegative prompt: lowres\n"
            "Steps: 24, Sampler: Euler a, Schedule type: Automatic, CFG scale: 5, "
            "Seed: 24680, Size: 832x1216, Model hash: 0123abcdef, Model: demoXL_v1, "
            "Version: f1.7.0-v1.10.1RC-latest-2190-g8731f1e9")


CIVITAI_RESOURCES = [
    {"type": "checkpoint", "modelVersionId": 290640, "modelName": "Demo Checkpoint XL",
     "modelVersionName": "v6", "air": "urn:air:sdxl:checkpoint:civitai:257749@290640"},
    {"type": "lora", "weight": 0.8, "modelVersionId": 368189, "modelName": "Harbour, Style",
     "versionName": "v1.0", "air": "urn:air:sdxl:lora:civitai:328553@368189"},
    {"type": "embed", "weight": 1, "modelVersionId": 106916, "modelName": "calm-neg",
     "modelVersionName": "v2"},
]


def civitai_text(resources: list | None = None, metadata: dict | None = None) -> str:
    """Civitai's generator in A1111 layout, as civitai/civitai
    `src/utils/metadata/automatic.metadata.ts` reads it: in the `Steps:` line,
    `Civitai resources: [ {...} ]` (type, modelVersionId, modelName, modelVersionName or
    versionName, weight, air) and `Civitai metadata: {...}`, both JSON, unquoted."""
    res = CIVITAI_RESOURCES if resources is None else resources
    meta = {"remixOfId": 4242} if metadata is None else metadata
    return ("a red kite over dunes\nNegative prompt: text, watermark\n"
            "Steps: 30, Sampler: DPM++ 2M Karras, CFG scale: 5.5, Seed: 987654321, "
            "Size: 832x1216, Clip skip: 2, "
            f"Civitai resources: {json.dumps(res)}, Civitai metadata: {json.dumps(meta)}")


def civitai_extension_text() -> str:
    """A1111 with Civitai's extension (civitai/sd_civitai_extension, its resource-hash
    script, as FACTS.md records it): appends
    `Hashes: {"model": ..., "vae": ..., "lora:NAME": ..., "embed:NAME": ...}`, JSON, each
    value the first 10 hex of the resource's SHA-256."""
    hashes = {"model": "6ce0161689", "vae": "735e4c3a44", "lora:seaside": "aa11bb22cc",
              "embed:easyneg": "c74b4e810b"}
    return ("a lighthouse on a cliff at dusk, oil painting <lora:seaside:0.7>\n"
            "Negative prompt: easyneg\n"
            "Steps: 28, Sampler: DPM++ 2M, CFG scale: 6.5, Seed: 3141592, Size: 512x384, "
            "Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, "
            'Lora hashes: "seaside: 0123456789ab", Version: v1.10.1, '
            f"Hashes: {json.dumps(hashes)}")
