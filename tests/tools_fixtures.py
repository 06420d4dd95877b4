"""Benign files carrying the metadata real generation tools and image services write, each
made the way the tool makes it (its own code's calls, where they run here; else its
documented layout). Prompts are benign; pictures are gradients from cairn.demo.picture."""

from __future__ import annotations

import io
import json
import struct
from fractions import Fraction
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import numpy as np
from PIL import Image

from cairn import demo_provenance as dp
from cairn.demo import picture

PROMPT = "a lighthouse at dusk, oil painting"
NEGATIVE = "blurry, low quality"
MODEL_HASH = "d7a9105a900fd52748f20725fe52fe52b507fd36bee4fc107b1550a26e6ee1d7"
LORA_HASH = "8e3d7c1b0a2f4e5d6c7b8a9f0e1d2c3b4a5f6e7d8c9b0a1f2e3d4c5b6a7f8e9d"


# -- SwarmUI -------------------------------------------------------------------------------
def swarmui_meta(cfg: Any = 7.0) -> dict:
    """The object SwarmUI's `T2IParamInput.GenFullMetadataObject` builds (mcmonkeyprojects/
    SwarmUI src/Text2Image/T2IParamInput.cs; docs/Image Metadata Format.md "Full Example"):
    params (numbers sometimes strings, lists as JSON lists), extra data, and `sui_models`
    with "0x" + tensor SHA-256 when ImageMetadataIncludeModelHash is on."""
    return {
        "sui_image_params": {
            "prompt": PROMPT, "negativeprompt": NEGATIVE,
            "model": "OfficialStableDiffusion/sd_xl_base_1.0", "seed": "1234567",
            "steps": 20, "cfgscale": cfg, "aspectratio": "1:1", "width": 1024,
            "height": 1024, "sampler": "euler", "scheduler": "normal",
            "loras": ["styles/harbour-light"], "loraweights": ["0.8"],
            "automaticvae": True, "swarm_version": "0.9.6.2"},
        "sui_extra_data": {"date": "2025-01-25", "prep_time": "6.11 sec",
                           "generation_time": "4.84 sec"},
        "sui_models": [
            {"name": "OfficialStableDiffusion/sd_xl_base_1.0.safetensors", "param": "model",
             "hash": "0x" + MODEL_HASH.upper()},
            {"name": "styles/harbour-light.safetensors", "param": "loras",
             "hash": "0x" + LORA_HASH}],
    }


def swarmui_text(meta: dict, nan: bool = False) -> str:
    """`T2IParamInput.MetadataToString`: Newtonsoft indented (2 spaces), non-ASCII escaped,
    `\\r\\n` -> `\\n`. `nan`: a bare NaN where a C# double was NaN (parsed leniently)."""
    text = json.dumps(meta, indent=2, ensure_ascii=True)
    return text.replace('"cfgscale": "NaN"', '"cfgscale": NaN') if nan else text


def swarmui_png(text: str) -> bytes:
    """`ImageFile.ConvertTo("PNG", metadata)`: ImageSharp PngTextData("parameters", text,
    "", "") with TextCompressionThreshold = int.MaxValue: an uncompressed Latin-1 tEXt."""
    return dp.png(picture(601, (96, 96)), {"parameters": text})


def swarmui_jpeg(text: str) -> bytes:
    """`ImageFile.ConvertTo("JPG", metadata)`: ExifProfile.SetValue(UserComment, text);
    ImageSharp writes EXIF little-endian and an EncodedString as "UNICODE\\0" + UTF-16LE
    (SixLabors.ImageSharp ExifEncodedStringHelpers.Write, ByteOrder.LittleEndian)."""
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9286] = b"UNICODE\0" + text.encode("utf-16-le")
    b = io.BytesIO()
    picture(602, (96, 96)).save(b, "JPEG", exif=exif.tobytes(), quality=90)
    return b.getvalue()


# -- ComfyUI ---------------------------------------------------------------------------------
def comfy_prompt() -> dict:
    return dp.comfyui_graph()


def comfy_workflow() -> dict:
    return dp.comfyui_workflow()


def comfyui_apng() -> bytes:
    """ComfyUI SaveAnimatedPNG (comfy_api/latest/_ui.py `_create_animated_png_metadata`,
    `save_animated_png`): PngInfo.add(b"comf", b"prompt\0" + JSON, after_idat=True), the same
    per extra_pnginfo key, then `save(pnginfo=…, compress_level=4, save_all=True, …)`."""
    from PIL.PngImagePlugin import PngInfo

    frames = [picture(630 + i, (48, 48)) for i in range(3)]
    info = PngInfo()
    info.add(b"comf", b"prompt\0" + json.dumps(comfy_prompt()).encode("latin-1"),
             after_idat=True)
    info.add(b"comf", b"workflow\0" + json.dumps(comfy_workflow()).encode("latin-1"),
             after_idat=True)
    b = io.BytesIO()
    frames[0].save(b, "PNG", pnginfo=info, compress_level=4, save_all=True,
                   duration=int(1000.0 / 6.0), append_images=frames[1:])
    return b.getvalue()


def comfyui_webp(prompt: dict | None = None, workflow: dict | None = None,
                 extra_first: dict | None = None) -> bytes:
    """ComfyUI SaveAnimatedWEBP (comfy_api/latest/_ui.py `ImageSaveHelper._create_webp_metadata`
    and `save_animated_webp`): `exif = pil_images[0].getexif()`, `exif[0x0110] = "prompt:{}"
    .format(json.dumps(prompt))`, each extra_pnginfo key from 0x010F down as "key:" + JSON,
    then `save(save_all=True, duration=…, append_images=…, exif=exif, lossless=True,
    quality=80, method=4)`. `extra_first`: extra_pnginfo keys ahead of `workflow` (which
    then lands in ImageDescription, 0x010E)."""
    frames = [picture(610 + i, (64, 64)) for i in range(3)]
    exif = frames[0].getexif()
    exif[0x0110] = f"prompt:{json.dumps(prompt or comfy_prompt())}"
    tag = 0x010F
    for key, value in {**(extra_first or {}), "workflow": workflow or comfy_workflow()}.items():
        exif[tag] = f"{key}:{json.dumps(value)}"
        tag -= 1
    b = io.BytesIO()
    frames[0].save(b, "WEBP", save_all=True, duration=int(1000.0 / 6.0),
                   append_images=frames[1:], exif=exif, lossless=True, quality=80, method=4)
    return b.getvalue()


def _frames(n: int = 4, size: tuple[int, int] = (64, 48)) -> list[np.ndarray]:
    w, h = size
    out = []
    for i in range(n):
        a = np.zeros((h, w, 3), np.uint8)
        a[..., 0] = np.arange(w)[None, :] * 3
        a[..., 1] = np.arange(h)[:, None] * 4
        a[..., 2] = 40 * i
        out.append(a)
    return out


def video(path: Path, tags: dict[str, str], movflags: bool = True,
          fmt: str | None = None, codec: str = "h264") -> Path:
    """A short H.264 video written as ComfyUI's core video node does
    (comfy_api/latest/_input_impl/video_types.py `VideoFromComponents.save_to`):
    `av.open(path, mode='w', options={'movflags': 'use_metadata_tags'})`, then
    `output.metadata[key] = json.dumps(value)` before the stream is added. `movflags=False`:
    FFmpeg's default tags, as older VideoHelperSuite got them (its `comment` tag).
    `fmt="webm"`, `codec="libvpx"`: the same calls into FFmpeg's Matroska muxer."""
    import av  # PyAV, as ComfyUI uses it

    kw: dict[str, Any] = {"format": fmt} if fmt else {}
    opts = {"movflags": "use_metadata_tags"} if movflags else {}
    with av.open(str(path), mode="w", options=opts, **kw) as out:
        for k, v in tags.items():
            out.metadata[k] = v
        stream = out.add_stream(codec, rate=Fraction(8000, 1000))
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for a in _frames():
            for packet in stream.encode(av.VideoFrame.from_ndarray(a, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def comfyui_mp4(path: Path, twice: bool = False) -> Path:
    """The core SaveVideo node: tags `prompt` and `workflow` = json.dumps(graph).
    `twice`: a value that was already a JSON string, dumped again (seen from custom nodes)."""
    prompt, workflow = json.dumps(comfy_prompt()), json.dumps(comfy_workflow())
    if twice:
        prompt = json.dumps(prompt)
    return video(path, {"prompt": prompt, "workflow": workflow})


def vhs_comment_video(path: Path, fmt: str | None = None) -> Path:
    """Older VideoHelperSuite (Kosinkadink/ComfyUI-VideoHelperSuite videohelpersuite/nodes.py
    `VideoCombine.combine_video`): FFMETADATA `comment=` + json.dumps({"prompt": prompt,
    "workflow": workflow}) fed to ffmpeg without use_metadata_tags: FFmpeg's MP4 muxer puts
    it in `udta/meta/ilst/©cmt`, its MOV muxer in `udta/©cmt`."""
    comment = json.dumps({"prompt": comfy_prompt(), "workflow": comfy_workflow()})
    return video(path, {"comment": comment}, movflags=False, fmt=fmt)


# -- Draw Things ---------------------------------------------------------------------------
def drawthings_settings() -> dict:
    """The `exif:UserComment` JSON Draw Things writes: `c` prompt, `uc` negative, model,
    sampler, scale, seed, seed_mode, shift, size, steps, strength, `lora` [{file, weight}],
    `v2` (full config)."""
    return {"c": PROMPT, "uc": NEGATIVE, "model": "sd_xl_base_1.0_f16.ckpt",
            "sampler": "DPM++ 2M Karras", "scale": 5.5, "seed": 2441935286,
            "seed_mode": "Scale Alike", "shift": 1, "size": "768x768", "steps": 24,
            "strength": 1, "lora": [{"file": "harbour_light_lora_f16.ckpt", "weight": 0.6}],
            "v2": {"guidanceScale": 5.5, "seed": 2441935286, "steps": 24,
                   "loras": [{"file": "harbour_light_lora_f16.ckpt", "weight": 0.6}]}}


def drawthings_xmp(settings: dict | None = None) -> str:
    """Draw Things' XMP packet layout (dc:description text, xmp:CreatorTool "Draw Things",
    exif:UserComment rdf:Alt holding the JSON), as Draw Things metadata readers' tests
    reproduce it. JSON escaped for XML as Draw Things' packets are."""
    s = settings or drawthings_settings()
    lines = [str(s["c"]), f"-{s['uc']}",
             f"Steps: {s['steps']}, Sampler: {s['sampler']}, Guidance Scale: {s['scale']}, "
             f"Seed: {s['seed']}, Size: {s['size']}, Model: {s['model']}, "
             f"Strength: {s['strength']}, Seed Mode: {s['seed_mode']}"]
    desc = "&#xA;".join(escape(x) for x in lines)
    body = escape(json.dumps(s))
    return f"""<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="XMP Core 6.0.0">
   <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
      <rdf:Description rdf:about=""
            xmlns:dc="http://purl.org/dc/elements/1.1/"
            xmlns:xmp="http://ns.adobe.com/xap/1.0/"
            xmlns:exif="http://ns.adobe.com/exif/1.0/">
         <dc:description>
            <rdf:Alt>
               <rdf:li xml:lang="x-default">{desc}</rdf:li>
            </rdf:Alt>
         </dc:description>
         <xmp:CreatorTool>Draw Things</xmp:CreatorTool>
         <exif:UserComment>
            <rdf:Alt>
               <rdf:li xml:lang="x-default">{body}</rdf:li>
            </rdf:Alt>
         </exif:UserComment>
      </rdf:Description>
   </rdf:RDF>
</x:xmpmeta>
"""


def xmp_png(packet: str, seed: int = 620) -> bytes:
    """XMP in a PNG the standard way: an iTXt chunk keyed `XML:com.adobe.xmp`."""
    return dp.png(picture(seed, (96, 96)), {"XML:com.adobe.xmp": packet})


def xmp_jpeg(packet: str, seed: int = 621) -> bytes:
    """XMP in a JPEG's APP1 segment (`http://ns.adobe.com/xap/1.0/\\0` + packet)."""
    b = io.BytesIO()
    picture(seed, (96, 96)).save(b, "JPEG", quality=90, xmp=packet.encode())
    return b.getvalue()


# -- IPTC "made with AI" labels ---------------------------------------------------------------
def iptc_ai_xmp(dst: str | None = "trainedAlgorithmicMedia") -> str:
    """IPTC Photo Metadata Standard 2025.1 property names (iptc.org/std/photometadata/
    specification, IPTC Extension schema `Iptc4xmpExt`: DigitalSourceType, AISystemUsed,
    AISystemVersionUsed, AIPromptInformation, AIPromptWriterName), with the credit line and
    creator a service writes (photoshop:Credit, dc:creator) and PLUS DataMining."""
    dst_el = ("" if dst is None else
              "<Iptc4xmpExt:DigitalSourceType>http://cv.iptc.org/newscodes/digitalsourcetype/"
              f"{dst}</Iptc4xmpExt:DigitalSourceType>")
    return f"""<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
    xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:plus="http://ns.useplus.org/ldf/xmp/1.0/">
   {dst_el}
   <Iptc4xmpExt:AISystemUsed>Example Image Model</Iptc4xmpExt:AISystemUsed>
   <Iptc4xmpExt:AISystemVersionUsed>3.1</Iptc4xmpExt:AISystemVersionUsed>
   <Iptc4xmpExt:AIPromptInformation>{PROMPT}</Iptc4xmpExt:AIPromptInformation>
   <Iptc4xmpExt:AIPromptWriterName>user-0042</Iptc4xmpExt:AIPromptWriterName>
   <photoshop:Credit>Made with Example AI</photoshop:Credit>
   <dc:creator><rdf:Seq><rdf:li>Example Image Service</rdf:li></rdf:Seq></dc:creator>
   <plus:DataMining>http://ns.useplus.org/ldf/vocab/DMI-PROHIBITED-AIMLTRAINING</plus:DataMining>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>"""


# -- raw ISO-BMFF boxes, for damaged files --------------------------------------------------
def box(btype: bytes, payload: bytes = b"", size: int | None = None) -> bytes:
    return struct.pack(">I4s", len(payload) + 8 if size is None else size, btype) + payload


def full(btype: bytes, payload: bytes) -> bytes:
    return box(btype, b"\0\0\0\0" + payload)


def mdta_meta(tags: dict[str, str], count: int | None = None) -> bytes:
    """`meta` (hdlr mdta, keys, ilst) as FFmpeg's mov muxer writes with use_metadata_tags."""
    keys = b"".join(struct.pack(">I4s", len(k.encode()) + 8, b"mdta") + k.encode()
                    for k in tags)
    items = b"".join(box(struct.pack(">I", i + 1), box(b"data", struct.pack(">II", 1, 0)
                                                        + v.encode()))
                     for i, v in enumerate(tags.values()))
    hdlr = full(b"hdlr", b"\0\0\0\0mdta" + b"\0" * 12 + b"\0")
    return full(b"meta", hdlr + full(b"keys", struct.pack(">I", len(tags) if count is None
                                                          else count) + keys)
                + box(b"ilst", items))


def mp4_file(moov_payload: bytes, moov_size: int | None = None) -> bytes:
    ftyp = box(b"ftyp", b"isom\0\0\2\0isomiso2mp41")
    return ftyp + box(b"mdat", b"\0" * 64) + box(b"moov", moov_payload, moov_size)


# -- raw Matroska elements ----------------------------------------------------------------
def ebml(eid: int, payload: bytes = b"", unknown: bool = False) -> bytes:
    """One EBML element: ID (marker bits kept), 8-byte size (all ones: unknown), payload."""
    size = b"\x01\xff\xff\xff\xff\xff\xff\xff" if unknown else (
        b"\x01" + len(payload).to_bytes(7, "big"))
    return eid.to_bytes((eid.bit_length() + 7) // 8, "big") + size + payload


def matroska(tags: dict[str, str], live: bool = False) -> bytes:
    """EBML header + Segment (SeekHead -> Tags, a Cluster, Tags). `live`: Segment and
    Cluster of unknown size, as a live stream writes them: only the SeekHead finds Tags."""
    head = ebml(0x1A45DFA3, ebml(0x4282, b"webm"))
    simple = b"".join(ebml(0x7373, ebml(0x63C0, b"") + ebml(0x67C8, ebml(0x45A3, k.encode())
                                                         + ebml(0x4487, v.encode())))
                      for k, v in tags.items())
    tags_el = ebml(0x1254C367, simple)
    cluster = ebml(0x1F43B675, ebml(0xE7, b"\0") + b"\xa3\x84\x81\0\0\x80", unknown=live)
    def seekhead(position: int) -> bytes:  # 8-byte position: the same size for any value
        return ebml(0x114D9B74, ebml(0x4DBB, ebml(0x53AB, (0x1254C367).to_bytes(4, "big"))
                                     + ebml(0x53AC, position.to_bytes(8, "big"))))

    seek = seekhead(len(seekhead(0)) + len(cluster))  # relative to the Segment's payload
    return head + ebml(0x18538067, seek + cluster + tags_el, unknown=live)
