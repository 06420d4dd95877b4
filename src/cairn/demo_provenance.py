"""Benign demo pictures carrying each generator's provenance in its real format.

Every picture is a procedural demo picture (cairn.demo.picture); only the metadata around it
imitates what each generator writes: A1111 parameters, ComfyUI graphs, InvokeAI, NovelAI
(text chunks, a signature, stealth alpha metadata), Fooocus, Midjourney, IPTC XMP, C2PA
credentials signed by a CA made on the spot, and model files. Used by `cairn demo`, the
tests and the benchmarks.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import struct
from pathlib import Path

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from PIL import Image, PngImagePlugin

from cairn.demo import picture, tiny_video
from cairn.provenance.generators.novelai import signed_message

A1111_TEXT = (
    "a lighthouse on a cliff at dusk, oil painting\n"
    "Negative prompt: blurry, lowres\n"
    'Steps: 28, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 3141592, '
    'Size: 512x384, Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, VAE hash: 735e4c3a44, '
    'VAE: vae-ft-mse.safetensors, Lora hashes: "seaside: {lora}, brushwork: abcdefabcdef", '
    'TI hashes: "easyneg: c74b4e810b03", Version: v1.10.1'
)
XMP_DST = (
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
    'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
    'xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
    'xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:CreatorTool="Demo Generator 1.0" '
    'Iptc4xmpExt:DigitalSourceType="http://cv.iptc.org/newscodes/digitalsourcetype/{code}"/>'
    '</rdf:RDF></x:xmpmeta>'
)


def png(img: Image.Image, text: dict[str, str] | None = None, ztxt: dict | None = None) -> bytes:
    info = PngImagePlugin.PngInfo()
    for k, v in (text or {}).items():
        info.add_text(k, v)
    for k, v in (ztxt or {}).items():
        info.add_text(k, v, zip=True)
    b = io.BytesIO()
    img.save(b, "PNG", pnginfo=info)
    return b.getvalue()


def user_comment(text: str) -> bytes:
    """EXIF UserComment as A1111 (piexif) writes it: UNICODE\\0 + UTF-16BE."""
    return b"UNICODE\0" + text.encode("utf-16-be")


def with_exif(img: Image.Image, fmt: str, comment: str | None = None,
              software: str | None = None, maker_note: bytes | None = None,
              **save: object) -> bytes:
    exif = Image.Exif()
    if software:
        exif[0x0131] = software
    ifd = exif.get_ifd(0x8769)
    if comment is not None:
        ifd[0x9286] = user_comment(comment)
    if maker_note is not None:
        ifd[0x927C] = maker_note
    b = io.BytesIO()
    img.save(b, fmt, exif=exif, **save)
    return b.getvalue()


def a1111_png(lora_hash: str = "0123456789ab") -> bytes:
    return png(picture(501, (320, 240)), {"parameters": A1111_TEXT.format(lora=lora_hash)})


def comfyui_graph() -> dict:
    return {
        "4": {"class_type": "CheckpointLoaderSimple",
              "inputs": {"ckpt_name": "private-finetune-v3.safetensors"}},
        "10": {"class_type": "LoraLoader",
               "inputs": {"lora_name": "harbour-style.safetensors", "strength_model": 0.8,
                          "strength_clip": 0.6, "model": ["4", 0], "clip": ["4", 1]}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a red kite over dunes",
                                                          "clip": ["10", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "text, watermark",
                                                          "clip": ["10", 1]}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 768, "height": 512,
                                                            "batch_size": 1}},
        "3": {"class_type": "KSampler",
              "inputs": {"seed": 987654321, "steps": 30, "cfg": 5.5, "sampler_name": "euler",
                         "scheduler": "normal", "denoise": 1.0, "model": ["10", 0],
                         "positive": ["6", 0], "negative": ["7", 0],
                         "latent_image": ["5", 0]}},
    }


def comfyui_workflow() -> dict:
    return {"nodes": [
        {"id": 4, "type": "CheckpointLoaderSimple",
         "widgets_values": ["private-finetune-v3.safetensors"]},
        {"id": 10, "type": "LoraLoader", "widgets_values": ["harbour-style.safetensors", 0.8,
                                                             0.6]},
        {"id": 3, "type": "KSampler", "widgets_values": [987654321, "fixed", 30, 5.5]},
    ], "links": [], "version": 0.4}


def invokeai_metadata() -> dict:
    return {
        "generation_mode": "txt2img", "positive_prompt": "a glass greenhouse in snow",
        "negative_prompt": "", "width": 1024, "height": 768, "seed": 4242, "steps": 25,
        "cfg_scale": 7.0, "scheduler": "dpmpp_2m", "app_version": "5.4.2",
        "model": {"key": "k1", "hash": "blake3_multi:" + "ab" * 32, "name": "sdxl-base",
                  "base": "sdxl", "type": "main"},
        "loras": [{"model": {"key": "k2", "hash": "blake3_multi:" + "cd" * 32,
                             "name": "frost"}, "weight": 0.75}],
    }


def novelai_comment(seed: int = 77) -> dict:
    return {"prompt": "a lantern festival, watercolor", "steps": 28, "height": 240,
            "width": 320, "scale": 5.0, "seed": seed, "sampler": "k_euler_ancestral",
            "uc": "lowres", "request_type": "PromptGenerateRequest", "version": 1}


def signing_key() -> tuple[Ed25519PrivateKey, str]:
    key = Ed25519PrivateKey.generate()
    pub = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return key, base64.b64encode(pub).decode()


def novelai_png(key: Ed25519PrivateKey | None, img: Image.Image | None = None) -> bytes:
    img = img or picture(502, (320, 240))
    comment = novelai_comment()
    if key is not None:
        sig = key.sign(signed_message(np.asarray(img), comment))
        comment["signed_hash"] = base64.b64encode(sig).decode()
    return png(img, {"Title": "NovelAI generated image", "Description": comment["prompt"],
                     "Software": "NovelAI", "Source": "NovelAI Diffusion V4.5 4BDE2A90",
                     "Generation time": "3.1", "Comment": json.dumps(comment)})


def embed_stealth(img: Image.Image, payload: dict | str, length_override: int | None = None
                  ) -> Image.Image:
    """Hide `payload` in the alpha channel's LSBs, column-major, gzip (`stealth_pngcomp`):
    NovelAI's chunk JSON (a dict) or A1111's infotext (a str), as each writes it."""
    text = payload if isinstance(payload, str) else json.dumps(payload)
    data = gzip.compress(text.encode())
    bits_len = len(data) * 8 if length_override is None else length_override
    header = b"stealth_pngcomp" + struct.pack(">I", bits_len)
    bits = np.unpackbits(np.frombuffer(header + data, dtype=np.uint8))
    rgba = np.array(img.convert("RGBA"))
    alpha_t = rgba[:, :, 3].T.copy()  # column-major order
    flat = alpha_t.ravel()
    assert len(bits) <= len(flat), "picture too small for the payload"
    flat[:len(bits)] = (flat[:len(bits)] & 0xFE) | bits
    rgba[:, :, 3] = flat.reshape(alpha_t.shape).T
    return Image.fromarray(rgba, "RGBA")


def stealth_png(length_override: int | None = None) -> bytes:
    payload = {"Software": "NovelAI", "Source": "NovelAI Diffusion V3 7BCCAA2C",
               "Comment": json.dumps(novelai_comment(seed=99))}
    return png(embed_stealth(picture(503, (320, 240)), payload, length_override))


def fooocus_png() -> bytes:
    meta = {"prompt": "a tram in the rain", "negative_prompt": "", "resolution": "(896, 1152)",
            "guidance_scale": 4.0, "sharpness": 2.0, "steps": 30, "sampler": "dpmpp_2m_sde_gpu",
            "scheduler": "karras", "seed": "1234567", "base_model": "juggernautXL_v8",
            "base_model_hash": "aeb7e9e689",
            "loras": [["sd_xl_offset_example-lora_1.0.safetensors", 0.1, "4852686128"]],
            "version": "Fooocus v2.5.5", "metadata_scheme": "fooocus"}
    return png(picture(504, (320, 240)), {"parameters": json.dumps(meta),
                                          "fooocus_scheme": "fooocus"})


def fooocus_jpeg() -> bytes:
    text = ("a tram in the rain\nNegative prompt: \nSteps: 30, Sampler: DPM++ 2M SDE Karras, "
            "CFG scale: 4, Seed: 1234567, Size: 896x1152, Model hash: aeb7e9e689, "
            "Model: juggernautXL_v8, Version: Fooocus v2.5.5")
    return with_exif(picture(505, (320, 240)), "JPEG", comment=text,
                     software="Fooocus v2.5.5", maker_note=b"a1111", quality=90)


def midjourney_png() -> bytes:
    desc = ("a paper boat on a pond --ar 4:3 --v 6.1 --stylize 250 "
            "Job ID: 3f2b6c1e-8a4d-4f0b-9c7e-1d2e3f4a5b6c")
    return png(picture(506, (320, 240)), {"Description": desc, "Author": "demo_user",
                                          "XML:com.adobe.xmp": XMP_DST.format(
                                              code="trainedAlgorithmicMedia")})


def xmp_jpeg(code: str = "trainedAlgorithmicMedia") -> bytes:
    b = io.BytesIO()
    picture(507, (320, 240)).save(b, "JPEG", quality=90, xmp=XMP_DST.format(code=code).encode())
    return b.getvalue()


def camera_jpeg() -> bytes:
    """A plain photo: camera EXIF, an ordinary comment; no generator said anything."""
    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x0131] = "DemoCam", "Model 7", "Firmware 1.2"
    exif.get_ifd(0x8769)[0x9286] = b"ASCII\0\0\0Holiday, beach, 2019"
    b = io.BytesIO()
    picture(508, (320, 240)).save(b, "JPEG", exif=exif, quality=90)
    return b.getvalue()


def plain_png_with_text() -> bytes:
    return png(picture(509, (320, 240)), {"Software": "GIMP 2.10", "Comment": "scanned page",
                                          "Description": "my garden in spring"})


def safetensors(tensor_bytes: bytes, metadata: dict | None = None) -> bytes:
    header = {"w": {"dtype": "U8", "shape": [len(tensor_bytes)],
                    "data_offsets": [0, len(tensor_bytes)]}}
    if metadata is not None:
        header["__metadata__"] = metadata
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + tensor_bytes


# -- C2PA: a CA made here, a signer it issued, benign pictures signed with it -----------------
def c2pa_credentials() -> tuple[str, str, str]:
    """(CA PEM, signer chain PEM, signer key PEM): ES256, the C2PA certificate profile."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Cairn Test CA")])

    def usage(**on: bool) -> x509.KeyUsage:
        keys = ("digital_signature", "content_commitment", "key_encipherment",
                "data_encipherment", "key_agreement", "key_cert_sign", "crl_sign",
                "encipher_only", "decipher_only")
        return x509.KeyUsage(**{k: on.get(k, False) for k in keys})

    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(name("Cairn Test Root"))
          .issuer_name(name("Cairn Test Root")).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(days=1))
          .not_valid_after(now + datetime.timedelta(days=3650))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(usage(key_cert_sign=True, crl_sign=True), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                         critical=False)
          .sign(ca_key, hashes.SHA256()))
    leaf = (x509.CertificateBuilder().subject_name(name("Demo Generator Signer"))
            .issuer_name(ca.subject).public_key(key.public_key()).serial_number(0x1234ABCD)
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(usage(digital_signature=True), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))

    def pem(c: x509.Certificate) -> str:
        return c.public_bytes(serialization.Encoding.PEM).decode()

    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return pem(ca), pem(leaf) + pem(ca), key_pem


C2PA_SYNTHETIC = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"


def c2pa_signed(creds: tuple[str, str, str], source: bytes, mime: str = "image/jpeg",
                dst_type: str = C2PA_SYNTHETIC, ingredient: bytes | None = None) -> bytes:
    import c2pa

    _, chain, key = creds
    manifest = {"claim_generator_info": [{"name": "Demo Generator", "version": "1.0"}],
                "title": "benign-demo", "assertions": [{"label": "c2pa.actions", "data": {
                    "actions": [{"action": "c2pa.created", "digitalSourceType": dst_type,
                                 "softwareAgent": {"name": "Demo Model", "version": "2"}}]}}]}
    ctx = c2pa.Context.from_dict({"verify": {"remote_manifest_fetch": False},
                                  "builder": {"thumbnail": {"enabled": False}}})
    signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256,
                                                       chain.encode(), key.encode(), None))
    with c2pa.Builder(manifest, context=ctx) as builder:
        if ingredient is not None:
            builder.add_ingredient({"title": "sketch.jpg", "relationship": "parentOf"},
                                   "image/jpeg", io.BytesIO(ingredient))
        out = io.BytesIO()
        builder.sign(signer, mime, io.BytesIO(source), out)
    return out.getvalue()




def make_ai_exhibit(out: Path) -> dict:
    """A second demo exhibit, a seized workstation with a generation set-up: pictures
    carrying generator metadata, credentials and source types, the LoRA file one of them
    cites, and ordinary photos. Writes the C2PA trust anchor the demo CA issued beside it."""
    exhibit = out / "exhibit-12"
    gallery, models, photos = exhibit / "outputs", exhibit / "models" / "Lora", exhibit / "Photos"
    for d in (gallery, models, photos):
        d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(12)
    tensors = rng.bytes(1_200_000)
    (models / "harbour-style.safetensors").write_bytes(
        safetensors(tensors, {"ss_output_name": "harbour-style", "ss_network_dim": "16"}))
    short = hashlib.sha256(tensors).hexdigest()[:12]
    creds = c2pa_credentials()
    key, pub = signing_key()
    files = {
        "outputs/00001-3141592.png": a1111_png(lora_hash=short),
        # the same set-up again: a second picture citing the same private LoRA
        "outputs/00002-3141593.png": png(picture(5404, (320, 240)), {
            "parameters": A1111_TEXT.format(lora=short).replace("3141592", "3141593")}),
        "outputs/ComfyUI_00007_.png": png(picture(5401, (512, 384)),
                                          {"prompt": json.dumps(comfyui_graph()),
                                           "workflow": json.dumps(comfyui_workflow())}),
        "outputs/invoke/abc123.png": png(picture(5402, (512, 384)),
                                         {"invokeai_metadata": json.dumps(invokeai_metadata())}),
        "outputs/nai-lantern.png": novelai_png(key),
        "outputs/nai-stripped.png": stealth_png(),
        # the same set-up, its text chunk stripped: the parameters survive in the alpha LSBs
        "outputs/00003-3141594.png": png(embed_stealth(
            picture(5405, (320, 240)),
            A1111_TEXT.format(lora=short).replace("3141592", "3141594"))),
        "outputs/fooocus/2024-05-01_10-00-00.png": fooocus_png(),
        "outputs/mj/paper_boat.png": midjourney_png(),
        "outputs/credentials.jpg": c2pa_signed(creds, _jpeg(picture(5403, (480, 360)))),
        "outputs/stock-ai.jpg": xmp_jpeg(),
        "Photos/IMG_0001.jpg": camera_jpeg(),
        "Photos/garden.png": plain_png_with_text(),
    }
    clip = out / "clip.mp4"  # a short benign clip, signed like the credentials picture
    tiny_video(clip, seconds=2, seed=5406)
    files["outputs/video/clip-signed.mp4"] = c2pa_signed(creds, clip.read_bytes(),
                                                         mime="video/mp4")
    clip.unlink()
    for rel, data in files.items():
        (exhibit / rel).parent.mkdir(parents=True, exist_ok=True)
        (exhibit / rel).write_bytes(data)
    # one output left the workstation: the phone (exhibit-07) holds a copy, sent on as JPEG
    phone = out / "exhibit-07" / "WhatsApp" / "Media"
    if phone.is_dir():
        sent = Image.open(io.BytesIO(files["outputs/00001-3141592.png"])).convert("RGB")
        (phone / "IMG-2024-0100-WA.jpg").write_bytes(_jpeg(sent))
    trust = out / "trust"
    trust.mkdir(exist_ok=True)
    (trust / "anchors.pem").write_text(creds[0])
    return {"exhibit": exhibit, "anchors": trust / "anchors.pem", "novelai_key": pub,
            "generators": 7, "lora_short_hash": short}


def _jpeg(img: Image.Image) -> bytes:
    b = io.BytesIO()
    img.save(b, "JPEG", quality=90)
    return b.getvalue()
