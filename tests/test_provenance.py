"""Provenance findings on benign pictures carrying each generator's metadata in its real
format; plain photos get no claim; damaged metadata gives an error note, never a crash."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import provenance_fixtures as fx
from cairn import demo_provenance as dp
from cairn.demo import jpeg_bytes, picture
from cairn.provenance import examine
from cairn.provenance.containers import decode_user_comment
from cairn.provenance.generators.a1111 import parse_parameters
from cairn.provenance.generators.novelai import NOVELAI_KEY
from cairn.provenance.models import AUTOV1_AT, AUTOV1_LEN, hash_model
from cairn.provenance.watermark import MARKS
from conftest import Cairn
from inprocess import scan_report


@pytest.fixture(scope="module")
def creds() -> tuple[str, str, str]:
    return dp.c2pa_credentials()


def findings(data: bytes, **kw) -> list[dict]:
    return [f.to_dict() for f in examine(data, **kw)]


def generators(data: bytes, **kw) -> list[dict]:
    return [f for f in findings(data, **kw) if f["kind"] == "generator"]


# -- AUTOMATIC1111 / Forge -----------------------------------------------------------------
def test_a1111_png_parameters_normalised() -> None:
    (g,) = generators(dp.a1111_png())
    assert g["generator"] == "automatic1111" and g["source"] == "png:parameters"
    assert g["strength"] == "declared"
    assert g["prompt"] == "a lighthouse on a cliff at dusk, oil painting"
    assert g["negative_prompt"] == "blurry, lowres"
    assert (g["seed"], g["steps"], g["cfg_scale"], g["size"]) == (3141592, 28, 6.5, "512x384")
    assert (g["sampler"], g["scheduler"]) == ("DPM++ 2M", "Karras")
    assert (g["model"], g["model_hash"]) == ("v1-5-pruned-emaonly", "6ce0161689")
    assert (g["vae"], g["vae_hash"]) == ("vae-ft-mse.safetensors", "735e4c3a44")
    assert g["loras"] == [{"name": "seaside", "hash": "0123456789ab"},
                          {"name": "brushwork", "hash": "abcdefabcdef"}]
    assert g["embeddings"] == [{"name": "easyneg", "hash": "c74b4e810b03"}]
    assert g["version"] == "v1.10.1" and "Negative prompt" in g["raw"]


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP"])
def test_a1111_exif_user_comment_utf16be(fmt: str) -> None:
    text = dp.A1111_TEXT.format(lora="0123456789ab").replace("Version: v1.10.1",
                                                               "Version: f2.0.1v1.10.1")
    data = dp.with_exif(picture(510, (320, 240)), fmt, comment=text, quality=90)
    (g,) = generators(data)
    assert g["source"] == "exif:UserComment" and g["generator"] == "forge"
    assert g["seed"] == 3141592 and g["loras"][0]["hash"] == "0123456789ab"


def test_user_comment_encodings() -> None:
    assert decode_user_comment(b"UNICODE\0" + "Steps: 1".encode("utf-16-be")) == "Steps: 1"
    assert decode_user_comment(b"UNICODE\0" + "Steps: 1".encode("utf-16-le")) == "Steps: 1"
    assert decode_user_comment(b"ASCII\0\0\0hello\0") == "hello"


def test_a1111_quoted_values_and_prompt_only_lines() -> None:
    text = ('a cat: sitting, "quoted"\nSteps: 20, Sampler: Euler a, Seed: 5, '
            'Hires prompt: "a, b: c", Size: 64x64')
    fields, params = parse_parameters(text)
    assert fields["prompt"] == 'a cat: sitting, "quoted"' and params["Hires prompt"] == "a, b: c"
    assert parse_parameters("just a prompt, with commas: and colons") is None


# -- ComfyUI, InvokeAI, Fooocus, Midjourney ----------------------------------------------------
def test_comfyui_api_graph() -> None:
    data = dp.png(picture(511, (320, 240)), {"prompt": json.dumps(dp.comfyui_graph()),
                                             "workflow": json.dumps(dp.comfyui_workflow())})
    (g,) = generators(data)
    assert g["generator"] == "comfyui" and g["source"] == "png:prompt"
    assert g["model"] == "private-finetune-v3.safetensors" and g["seed"] == 987654321
    assert g["loras"] == [{"name": "harbour-style.safetensors", "weight": 0.8,
                           "clip_weight": 0.6}]
    assert (g["prompt"], g["negative_prompt"]) == ("a red kite over dunes", "text, watermark")
    assert (g["sampler"], g["steps"], g["cfg_scale"], g["size"]) == ("euler", 30, 5.5, "768x512")


def test_comfyui_workflow_only_and_invalid_json() -> None:
    (g,) = generators(dp.png(picture(512, (320, 240)),
                             {"workflow": json.dumps(dp.comfyui_workflow())}))
    assert g["source"] == "png:workflow" and g["model"] == "private-finetune-v3.safetensors"
    assert g["loras"][0]["weight"] == 0.8 and g["seed"] == 987654321
    (bad,) = generators(dp.png(picture(512, (320, 240)), {"prompt": '{"3": {"class_type": '}))
    assert bad["generator"] == "comfyui" and "invalid JSON" in bad["error"]
    assert bad["raw"].startswith('{"3"')


def test_invokeai_metadata_sd_metadata_and_dream() -> None:
    (g,) = generators(dp.png(picture(513, (320, 240)),
                             {"invokeai_metadata": json.dumps(dp.invokeai_metadata())}))
    assert g["generator"] == "invokeai" and g["model"] == "sdxl-base"
    assert g["model_hash"] == "blake3_multi:" + "ab" * 32 and g["seed"] == 4242
    assert g["loras"] == [{"name": "frost", "hash": "blake3_multi:" + "cd" * 32,
                           "weight": 0.75}]
    old = {"model": "stable diffusion", "model_weights": "sd-1.5", "model_hash": "cc6cb27103",
           "app_id": "invoke-ai/InvokeAI", "app_version": "2.3.0",
           "image": {"prompt": [{"prompt": "an owl", "weight": 1}], "seed": 8, "steps": 30,
                     "cfg_scale": 7.5, "width": 512, "height": 512, "sampler": "k_lms"}}
    (g,) = generators(dp.png(picture(513, (320, 240)), {"sd-metadata": json.dumps(old)}))
    assert (g["prompt"], g["seed"], g["model_hash"]) == ("an owl", 8, "cc6cb27103")
    (g,) = generators(dp.png(picture(513, (320, 240)),
                             {"Dream": '"an owl at night" -s 30 -S 8 -W 512 -H 512 -C 7.5'}))
    assert (g["prompt"], g["seed"], g["steps"], g["size"]) == ("an owl at night", 8, 30,
                                                               "512x512")


def test_fooocus_json_and_jpeg_exif() -> None:
    (g,) = generators(dp.fooocus_png())
    assert g["generator"] == "fooocus" and g["model"] == "juggernautXL_v8"
    assert (g["seed"], g["size"], g["model_hash"]) == (1234567, "896x1152", "aeb7e9e689")
    assert g["loras"][0] == {"name": "sd_xl_offset_example-lora_1.0.safetensors",
                             "weight": 0.1, "hash": "4852686128"}
    (g,) = generators(dp.fooocus_jpeg())  # A1111 layout, but Fooocus's: one claim, Fooocus
    assert g["generator"] == "fooocus" and g["source"] == "exif:UserComment"
    assert g["seed"] == 1234567


def test_midjourney_description_and_xmp() -> None:
    found = findings(dp.midjourney_png())
    (g,) = [f for f in found if f["kind"] == "generator"]
    assert g["generator"] == "midjourney" and g["user"] == "demo_user"
    assert g["job_id"] == "3f2b6c1e-8a4d-4f0b-9c7e-1d2e3f4a5b6c"
    assert g["prompt"] == "a paper boat on a pond" and g["version"] == "6.1"
    (d,) = [f for f in found if f["kind"] == "digital_source_type"]
    assert d["code"] == "trainedAlgorithmicMedia" and d["synthetic"] is True


# -- XMP digital source type ---------------------------------------------------------------
def test_xmp_digital_source_type_and_defusedxml_present() -> None:
    data = dp.xmp_jpeg()
    # Pillow returns {} without defusedxml: this fails if the dependency is missing
    assert Image.open(io.BytesIO(data)).getxmp(), "defusedxml missing: Pillow reads no XMP"
    (d,) = findings(data)
    assert d == {"kind": "digital_source_type", "strength": "declared",
                 "source": "xmp:Iptc4xmpExt:DigitalSourceType",
                 "value": "http://cv.iptc.org/newscodes/digitalsourcetype/"
                          "trainedAlgorithmicMedia", "code": "trainedAlgorithmicMedia",
                 "synthetic": True, "creator_tool": "Demo Generator 1.0"}
    (d,) = findings(dp.xmp_jpeg("digitalCapture"))
    assert d["synthetic"] is False and d["code"] == "digitalCapture"
    for code in ("compositeSynthetic", "compositeWithTrainedAlgorithmicMedia",
                 "algorithmicMedia"):
        assert findings(dp.xmp_jpeg(code))[0]["synthetic"] is True


def test_broken_xmp_is_a_note() -> None:
    data = dp.png(picture(514, (64, 64)), {"XML:com.adobe.xmp": "<x:xmpmeta><rdf:RDF>"})
    (d,) = findings(data)
    assert d["kind"] == "digital_source_type" and "XMP packet unreadable" in d["error"]


# -- NovelAI: text chunks, signature, stealth alpha metadata ----------------------------------
def test_novelai_signature_verifies_with_its_key_only() -> None:
    key, pub = dp.signing_key()
    data = dp.novelai_png(key)
    found = findings(data, novelai_keys={"test-signer": pub})
    (g,) = [f for f in found if f["kind"] == "generator"]
    assert g["generator"] == "novelai" and g["seed"] == 77
    assert (g["model"], g["model_hash"]) == ("NovelAI Diffusion V4.5", "4bde2a90")
    (s,) = [f for f in found if f["kind"] == "signature"]
    assert s["strength"] == "cryptographic" and s["valid"] and s["signer"] == "test-signer"
    # NovelAI's own key did not sign our picture: a claim, not proof
    (s,) = [f for f in findings(data) if f["kind"] == "signature"]
    assert s["strength"] == "declared" and s["valid"] is False and "does not verify" in s[
        "error"]
    assert len(NOVELAI_KEY) == 44


def test_novelai_signature_fails_after_one_pixel_changes() -> None:
    key, pub = dp.signing_key()
    img = picture(502, (320, 240))
    signed = Image.open(io.BytesIO(dp.novelai_png(key, img)))
    signed.load()
    tampered = signed.copy()
    tampered.putpixel((10, 10), (0, 0, 0))
    b = io.BytesIO()
    tampered.save(b, "PNG", pnginfo=_pnginfo(signed.text))
    (s,) = [f for f in findings(b.getvalue(), novelai_keys={"t": pub})
            if f["kind"] == "signature"]
    assert s["strength"] == "declared" and "does not verify" in s["error"]


def _pnginfo(text: dict):  # noqa: ANN202
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    for k, v in text.items():
        info.add_text(k, v)
    return info


def test_novelai_stealth_alpha_metadata() -> None:
    data = dp.stealth_png()
    assert b"NovelAI" not in data  # nothing in text chunks: only the alpha channel holds it
    (g,) = generators(data)
    assert g["source"] == "alpha-lsb" and g["generator"] == "novelai"
    assert g["seed"] == 99 and g["model_hash"] == "7bccaa2c"


def test_novelai_stealth_wrong_length_is_a_note() -> None:
    (g,) = generators(dp.stealth_png(length_override=10**9))
    assert g["generator"] == "novelai" and "payload of 1000000000 bits" in g["error"]


# -- plain photos: no claims ------------------------------------------------------------------
@pytest.mark.parametrize("make", [
    lambda: jpeg_bytes(picture(520, (320, 240))),
    lambda: dp.png(picture(521, (320, 240))),
    dp.camera_jpeg,
    dp.plain_png_with_text,
    lambda: dp.png(picture(522, (320, 240)).convert("RGBA")),  # alpha, but no stealth magic
])
def test_plain_photos_get_no_generator_claim(make) -> None:  # noqa: ANN001
    assert findings(make()) == []


# -- damaged metadata --------------------------------------------------------------------------
def test_huge_and_malformed_chunks_are_notes() -> None:
    base = dp.png(picture(523, (64, 64)))
    bomb = zlib.compress(b"A" * (20 * 1024 * 1024), 9)
    data = fx.insert_chunks(base, fx.png_chunk(b"zTXt", b"parameters\0\0" + bomb),
                            fx.png_chunk(b"tEXt", b"no-separator"),
                            fx.png_chunk(b"iTXt", b"parameters\0\1\0"))
    (g,) = generators(data)
    assert "generator" not in g  # claims nothing
    assert "inflates beyond" in g["error"] and "no keyword" in g["error"]
    assert "at byte" in g["error"]
    (g,) = generators(dp.png(picture(524, (64, 64)), {"parameters": "not a1111 at all"}))
    assert g["generator"] == "automatic1111" and "without a parameter line" in g["error"]


def test_truncated_png_keeps_what_was_read() -> None:
    data = dp.a1111_png()
    cut = data[: data.index(b"IDAT") + 40]
    (g,) = generators(cut)
    assert g["generator"] == "automatic1111" and g["seed"] == 3141592
    assert "truncated" in g["error"]


# -- model files and the catalogue --------------------------------------------------------------
def _tensor_bytes() -> bytes:
    return os.urandom(AUTOV1_AT + AUTOV1_LEN + 4096)


def test_model_hashes_match_their_definitions(tmp_path: Path) -> None:
    tensors = _tensor_bytes()
    data = dp.safetensors(tensors, {"ss_network_dim": "16"})
    h = hash_model(io.BytesIO(data))
    sha = hashlib.sha256(data).hexdigest()
    assert (h.format, h.size, h.sha256, h.autov2) == ("safetensors", len(data), sha, sha[:10])
    assert h.autov1 == hashlib.sha256(data[AUTOV1_AT:AUTOV1_AT + AUTOV1_LEN]).hexdigest()[:8]
    assert h.tensor_sha256 == hashlib.sha256(tensors).hexdigest()
    assert h.short_hash == h.tensor_sha256[:12] and h.metadata == {"ss_network_dim": "16"}
    # editing the header's metadata changes the file hash, not the tensor hash
    edited = hash_model(io.BytesIO(dp.safetensors(tensors, {"ss_network_dim": "32",
                                                            "note": "renamed"})))
    assert edited.sha256 != h.sha256 and edited.tensor_sha256 == h.tensor_sha256
    given = hash_model(io.BytesIO(dp.safetensors(tensors, {"sshs_model_hash": "F" * 64})))
    assert given.short_hash == "f" * 12


def test_cli_hash_and_provenance_with_catalogue(cairn: Cairn, tmp_path: Path) -> None:
    tensors = _tensor_bytes()
    lora = tmp_path / "seaside.safetensors"
    lora.write_bytes(dp.safetensors(tensors))
    h = cairn.json("hash", lora)
    assert h["kind"] == "model" and h["media_type"] == "application/x-safetensors"
    short = h["model"]["short_hash"]
    assert short == hashlib.sha256(tensors).hexdigest()[:12]
    img = tmp_path / "gen.png"
    img.write_bytes(dp.a1111_png(lora_hash=short))
    cat = tmp_path / "models.csv"
    cat.write_text("name,kind,autov1,autov2,sha256,blake3,tensor_sha256\n"
                   "SD 1.5 base,checkpoint,,6ce0161689,,,\n"
                   f"seaside LoRA,lora,,,{h['sha256']},,{h['model']['tensor_sha256']}\n")
    res = cairn.json("provenance", img, "--catalogue", cat)
    (g,) = res["findings"]
    assert g["known_models"] == {"6ce0161689": "SD 1.5 base (checkpoint)",
                                 short: "seaside LoRA (lora)"}
    plain = tmp_path / "plain.jpg"
    plain.write_bytes(jpeg_bytes(picture(530, (320, 240))))
    assert cairn.json("provenance", plain, ok=(1,))["findings"] == []
    bad = tmp_path / "bad.csv"
    bad.write_text("title,md5\nx,y\n")
    assert "header needs" in cairn.run("provenance", img, "--catalogue", bad, ok=(2,)).stderr


# -- scan and report ------------------------------------------------------------------------------
def test_scan_reports_findings_and_links_model_files(cairn: Cairn, tmp_path: Path,
                                                     creds) -> None:  # noqa: ANN001
    ev = tmp_path / "exhibit"
    (ev / "models").mkdir(parents=True)
    tensors = _tensor_bytes()
    (ev / "models" / "seaside.safetensors").write_bytes(dp.safetensors(tensors))
    short = hashlib.sha256(tensors).hexdigest()[:12]
    key, pub = dp.signing_key()
    files = {"a1111.png": dp.a1111_png(lora_hash=short), "comfy.png": dp.png(
        picture(540, (320, 240)), {"prompt": json.dumps(dp.comfyui_graph())}),
        "nai.png": dp.novelai_png(key), "stealth.png": dp.stealth_png(),
        "xmp.jpg": dp.xmp_jpeg(), "mj.png": dp.midjourney_png(),
        "camera.jpg": dp.camera_jpeg(), "garden.png": dp.plain_png_with_text(),
        "credentials.jpg": dp.c2pa_signed(creds, jpeg_bytes(picture(541, (320, 240)))),
        "marked.png": dp.png(fx.embed_dwtdct(picture(542, (512, 384)),
                                             MARKS["sdxl"]))}
    for name, data in files.items():
        (ev / name).write_bytes(data)
    pem = tmp_path / "anchors.pem"
    pem.write_text(creds[0])
    rep = scan_report(cairn.home, ev, "prov", "--c2pa-trust", pem, "--novelai-key",
                      f"test-signer={pub}")
    by = {it["path"]: it for it in rep["items"]}
    gen = {p: [f for f in by[p]["findings"] if f["kind"] == "generator"] for p in by}
    assert gen["a1111.png"][0]["generator"] == "automatic1111"
    assert gen["a1111.png"][0]["model_files"] == {short: ["exhibit/models/seaside.safetensors"]}
    assert gen["comfy.png"][0]["generator"] == "comfyui"
    assert gen["nai.png"][0]["generator"] == "novelai"
    assert gen["stealth.png"][0]["source"] == "alpha-lsb"
    assert gen["mj.png"][0]["generator"] == "midjourney"
    assert by["camera.jpg"]["findings"] == [] and by["garden.png"]["findings"] == []
    (m,) = by["models/seaside.safetensors"]["findings"]
    assert m["kind"] == "model_file" and m["short_hash"] == short
    assert by["models/seaside.safetensors"]["kind"] == "model"
    assert rep["summary"]["items_with_generator_claims"] == 5
    (sig,) = [f for f in by["nai.png"]["findings"] if f["kind"] == "signature"]
    assert (sig["strength"], sig["signer"]) == ("cryptographic", "test-signer")
    (w,) = by["marked.png"]["findings"]
    assert (w["kind"], w["mark"], w["decision"]) == ("watermark", "sdxl", "very likely")
    (c,) = by["credentials.jpg"]["findings"]
    assert (c["kind"], c["state"], c["synthetic"]) == ("c2pa", "trusted", True)
    assert rep["summary"]["items_declared_synthetic"] == 3  # xmp.jpg, mj.png, credentials.jpg
    assert rep["summary"]["models"] == 1
    csv_text = cairn.run("report", "--case", "prov", "--format", "csv").stdout
    assert "generator (declared, png:parameters): automatic1111" in csv_text
    html = cairn.run("report", "--case", "prov", "--format", "html").stdout
    assert "Provenance (" in html and "a lighthouse on a cliff" in html


def test_gzip_is_not_mistaken_for_stealth() -> None:
    # an RGBA picture whose alpha LSBs are random noise carries no magic
    import numpy as np

    rgba = np.array(picture(550, (64, 64)).convert("RGBA"))
    rgba[:, :, 3] = np.random.default_rng(1).integers(0, 256, (64, 64), dtype=np.uint8)
    assert findings(dp.png(Image.fromarray(rgba, "RGBA"))) == []
    assert gzip.decompress(gzip.compress(b"x")) == b"x"


# -- C2PA -----------------------------------------------------------------------------------------
def _c2pa(data: bytes, trust: str | None = None) -> dict:
    (f,) = [f.to_dict() for f in examine(data, c2pa_trust=trust) if f.kind == "c2pa"]
    return f


def test_c2pa_trusted_valid_and_signer(creds) -> None:  # noqa: ANN001
    ingredient = jpeg_bytes(picture(561, (160, 120)))
    signed = dp.c2pa_signed(creds, jpeg_bytes(picture(560, (320, 240))), ingredient=ingredient)
    f = _c2pa(signed, trust=creds[0])
    assert (f["state"], f["strength"]) == ("trusted", "cryptographic")
    assert f["claim_generator"].startswith("Demo Generator 1.0")
    assert f["signer"]["common_name"] == "Demo Generator Signer"
    assert f["signer"]["issuer"] == "Cairn Test CA" and f["signer"]["serial"] == str(0x1234ABCD)
    (act,) = [a for a in f["actions"] if a["action"] == "c2pa.created"]
    assert act["digital_source_type"] == "trainedAlgorithmicMedia"
    assert act["software_agent"] == "Demo Model 2"
    assert f["synthetic"] is True and f["digital_source_types"] == ["trainedAlgorithmicMedia"]
    assert [i["title"] for i in f["ingredients"]] == ["sketch.jpg"]
    assert "failures" not in f
    # no anchor configured: the signature still verifies, but nobody vouches for the signer
    f = _c2pa(signed)
    assert (f["state"], f["strength"]) == ("valid", "cryptographic")
    # an anchor that is not this signer's: valid, not trusted
    other = dp.c2pa_credentials()[0]
    assert _c2pa(signed, trust=other)["state"] == "valid"


def test_c2pa_tampered_copy_names_the_failed_check(creds) -> None:  # noqa: ANN001
    signed = bytearray(dp.c2pa_signed(creds, jpeg_bytes(picture(562, (320, 240)))))
    signed[-300] ^= 0xFF  # one byte of the picture's entropy-coded data
    f = _c2pa(bytes(signed), trust=creds[0])
    assert (f["state"], f["strength"]) == ("invalid", "declared")
    assert "assertion.dataHash.mismatch" in [x["code"] for x in f["failures"]]
    assert "dataHash.mismatch" in f["error"]


def test_c2pa_png_and_non_synthetic(creds) -> None:  # noqa: ANN001
    signed = dp.c2pa_signed(creds, dp.png(picture(563, (160, 120))), mime="image/png",
                            dst_type="http://cv.iptc.org/newscodes/digitalsourcetype/"
                                     "digitalCapture")
    f = _c2pa(signed, trust=creds[0])
    assert f["state"] == "trusted" and f["synthetic"] is False
    assert [f["kind"] for f in findings(signed)] == ["c2pa"]  # no generator claim from C2PA


def test_c2pa_broken_store_is_a_note(creds) -> None:  # noqa: ANN001
    signed = bytearray(dp.c2pa_signed(creds, jpeg_bytes(picture(564, (320, 240)))))
    at = signed.index(b"jumb")
    signed[at + 40:at + 400] = bytes(360)  # zero the middle of the manifest store
    f = _c2pa(bytes(signed))
    assert f["kind"] == "c2pa" and f["strength"] == "declared" and f["error"]


def test_cli_c2pa_trust_option(cairn: Cairn, tmp_path: Path, creds) -> None:  # noqa: ANN001
    img = tmp_path / "signed.jpg"
    img.write_bytes(dp.c2pa_signed(creds, jpeg_bytes(picture(565, (320, 240)))))
    pem = tmp_path / "anchors.pem"
    pem.write_text(creds[0])
    res = cairn.json("provenance", img, "--c2pa-trust", pem)
    assert res["findings"][0]["state"] == "trusted"
    assert cairn.json("provenance", img)["findings"][0]["state"] == "valid"
    notpem = tmp_path / "x.pem"
    notpem.write_text("hello")
    assert "no PEM certificate" in cairn.run("provenance", img, "--c2pa-trust", notpem,
                                             ok=(2,)).stderr


# -- invisible watermarks (Stable Diffusion's dwtDct) ------------------------------------------
def _wm(data: bytes) -> list[dict]:
    return [f for f in findings(data) if f["kind"] == "watermark"]


@pytest.mark.parametrize("mark", ["sdxl", "sd1", "sd2"])
def test_watermark_decoded_from_png(mark: str) -> None:
    marked = fx.embed_dwtdct(picture(570, (512, 512)), MARKS[mark])
    (w,) = _wm(dp.png(marked))
    assert (w["mark"], w["decision"], w["strength"]) == (mark, "very likely", "statistical")
    assert w["matching_bits"] >= 0.95 * w["bits"]


def test_watermark_robustness_is_what_upstream_says() -> None:
    marked = fx.embed_dwtdct(picture(571, (640, 512)), MARKS["sdxl"])
    b = io.BytesIO()
    marked.save(b, "JPEG", quality=95, subsampling=0)  # 4:4:4 keeps the U channel
    assert [w["decision"] for w in _wm(b.getvalue())] in (["very likely"], ["likely"])
    b = io.BytesIO()
    marked.save(b, "JPEG", quality=95, subsampling=2)  # 4:2:0 halves it: not examined
    assert _wm(b.getvalue()) == []
    assert _wm(dp.png(marked.resize((600, 480)))) == []  # resized: the blocks move
    assert _wm(dp.png(marked.crop((7, 5, 600, 500)))) == []  # cropped: likewise


def test_no_watermark_on_plain_pictures() -> None:
    for seed in range(580, 590):
        assert _wm(dp.png(picture(seed, (512, 384)))) == []
    assert _wm(dp.png(fx.embed_dwtdct(picture(591, (200, 200)),
                                      np.ones(48, np.uint8)))) == []  # < 256x256: skipped


# -- a pluggable ONNX detector ----------------------------------------------------------------
def _laplacian_detector(tmp_path: Path, sha: str | None = None) -> Path:
    """A tiny real ONNX model built here: high-frequency energy (|Laplacian| of the grey
    picture, averaged) through a logistic head. Proves loading, pre-processing, scoring."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    grey = np.array([[[[0.299]], [[0.587]], [[0.114]]]], dtype=np.float32)  # 1x3x1x1
    lap = np.array([[[[0, 1, 0], [1, -4, 1], [0, 1, 0]]]], dtype=np.float32)  # 1x1x3x3
    nodes = [helper.make_node("Conv", ["x", "grey"], ["g"]),
             helper.make_node("Conv", ["g", "lap"], ["e"]),
             helper.make_node("Abs", ["e"], ["a"]),
             helper.make_node("ReduceMean", ["a"], ["m"], keepdims=0),
             helper.make_node("Mul", ["m", "w"], ["z0"]),
             helper.make_node("Add", ["z0", "b"], ["logit"])]
    graph = helper.make_graph(
        nodes, "hf-energy", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                           [1, 3, 64, 64])],
        [helper.make_tensor_value_info("logit", TensorProto.FLOAT, [])],
        [numpy_helper.from_array(grey, "grey"), numpy_helper.from_array(lap, "lap"),
         numpy_helper.from_array(np.array(40.0, np.float32), "w"),
         numpy_helper.from_array(np.array(-2.0, np.float32), "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path / "hf.onnx"
    onnx.save(model, path)
    cfg = tmp_path / "detector.json"
    cfg.write_text(json.dumps({
        "name": "hf-energy", "model": "hf.onnx",
        "sha256": sha or hashlib.sha256(path.read_bytes()).hexdigest(),
        "input": {"size": [64, 64], "layout": "NCHW", "scale": 255.0},
        "output": {"index": 0, "activation": "sigmoid"}, "threshold": 0.5}))
    return cfg


def _expected_score(img: Image.Image) -> float:
    x = np.asarray(img.convert("RGB").resize((64, 64), Image.Resampling.BILINEAR),
                   dtype=np.float32) / 255
    g = x @ np.array([0.299, 0.587, 0.114], np.float32)
    e = (g[:-2, 1:-1] + g[2:, 1:-1] + g[1:-1, :-2] + g[1:-1, 2:] - 4 * g[1:-1, 1:-1])
    return float(1 / (1 + np.exp(-(40 * np.abs(e).mean() - 2))))


def test_onnx_detector_scores_are_the_models(tmp_path: Path) -> None:
    cfg = _laplacian_detector(tmp_path)
    smooth = Image.new("RGB", (300, 200), (90, 120, 150))
    rng = np.random.default_rng(3)
    noisy = Image.fromarray(rng.integers(0, 256, (200, 300, 3), dtype=np.uint8))
    scores = {}
    for name, img in (("smooth", smooth), ("noisy", noisy)):
        (d,) = [f for f in findings(dp.png(img), detector=str(cfg)) if f["kind"] == "detector"]
        assert d["strength"] == "statistical" and d["name"] == "hf-energy"
        assert d["score"] == pytest.approx(_expected_score(img), abs=1e-4)
        scores[name] = d["score"]
    assert scores["smooth"] < 0.5 <= scores["noisy"]


def test_scan_with_detector(cairn: Cairn, tmp_path: Path) -> None:
    cfg = _laplacian_detector(tmp_path)
    ev = tmp_path / "ev"
    ev.mkdir()
    (ev / "a.png").write_bytes(dp.png(picture(610, (128, 96))))
    (ev / "b.jpg").write_bytes(jpeg_bytes(picture(611, (128, 96))))
    rep = scan_report(cairn.home, ev, "det", "--detector", cfg)
    for it in rep["items"]:
        (d,) = it["findings"]
        assert d["kind"] == "detector" and 0 < d["score"] < 1


def test_detector_pin_is_enforced(cairn: Cairn, tmp_path: Path) -> None:
    cfg = _laplacian_detector(tmp_path, sha="0" * 64)
    img = tmp_path / "p.png"
    img.write_bytes(dp.png(picture(600, (128, 96))))
    err = cairn.run("provenance", img, "--detector", cfg, ok=(2,)).stderr
    assert "refusing a model that is not the one configured" in err
    (tmp_path / "ok").mkdir()
    good = _laplacian_detector(tmp_path / "ok")
    res = cairn.json("provenance", img, "--detector", good, ok=(1,))  # a score is no claim
    assert [f["kind"] for f in res["findings"]] == ["detector"]
    cfg.write_text("{not json")
    assert "detector config unreadable" in cairn.run("provenance", img, "--detector", cfg,
                                                     ok=(2,)).stderr
