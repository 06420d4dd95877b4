"""Metadata that generation tools and image services write today, read from benign files made
as each tool makes them (tools_fixtures.py names the upstream code or document): SwarmUI,
ComfyUI outside PNG (WebP EXIF, MP4/MOV tags), Draw Things XMP, IPTC 2025.1 AI labels.
Damaged boxes and JSON are notes, never exceptions; plain files get no claim."""

from __future__ import annotations

import io
import json
import struct
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

import tools_fixtures as tf
from cairn import demo_provenance as dp
from cairn.cli import cli
from cairn.media.sniff import sniff
from cairn.provenance import bmff, ebml, examine, examine_stream
from cairn.provenance.containers import Metadata, read_metadata
from cairn.provenance.generators import read_generators
from cairn.provenance.media_tags import read_media_tags
from cairn.provenance.stealth import Stealth


def found(data: bytes) -> list[dict]:
    return [f.to_dict() for f in examine(data)]


def gens(data: bytes) -> list[dict]:
    return [f for f in found(data) if f["kind"] == "generator"]


def stream(path: Path, media_type: str = "video/mp4") -> list[dict]:
    with path.open("rb") as f:
        return [x.to_dict() for x in examine_stream(f, media_type)]


def read_metadata_of(data: bytes) -> Metadata:
    return read_metadata(data, Image.open(io.BytesIO(data)))


def tags(data: bytes, media_type: str = "video/mp4") -> Metadata:
    return read_media_tags(io.BytesIO(data), media_type)


def cli_json(tmp_path: Path, path: Path) -> dict:
    res = CliRunner().invoke(cli, ["--home", str(tmp_path / "home"), "provenance", "--json",
                                   str(path)])
    assert res.exit_code in (0, 1), res.output
    return json.loads(res.output)


# -- SwarmUI -----------------------------------------------------------------------------------
def test_swarmui_png_fields_models_and_resources() -> None:
    (g,) = gens(tf.swarmui_png(tf.swarmui_text(tf.swarmui_meta())))
    assert (g["generator"], g["source"], g["version"]) == ("swarmui", "png:parameters",
                                                           "0.9.6.2")
    assert (g["prompt"], g["negative_prompt"]) == (tf.PROMPT, tf.NEGATIVE)
    assert (g["seed"], g["steps"], g["cfg_scale"], g["size"]) == (1234567, 20, 7.0, "1024x1024")
    assert (g["sampler"], g["scheduler"]) == ("euler", "normal")
    assert g["model"] == "OfficialStableDiffusion/sd_xl_base_1.0"
    assert g["model_hash"] == tf.MODEL_HASH  # "0x" dropped, lower-cased
    assert g["loras"] == [{"name": "styles/harbour-light", "weight": 0.8}]
    assert g["resources"] == [
        {"type": "checkpoint", "name": "OfficialStableDiffusion/sd_xl_base_1.0.safetensors",
         "version": None, "hash": tf.MODEL_HASH, "air": None, "weight": None},
        {"type": "lora", "name": "styles/harbour-light.safetensors", "version": None,
         "hash": tf.LORA_HASH, "air": None, "weight": 0.8}]
    assert g["params"]["extra_data"]["generation_time"] == "4.84 sec"
    assert "error" not in g


def test_swarmui_jpeg_user_comment_with_nan() -> None:
    """ImageSharp's UNICODE + UTF-16LE UserComment; a bare NaN (and a "NaN" string) where
    the guidance was: parsed, reported as absent, and the finding stays strict JSON."""
    for text in (tf.swarmui_text(tf.swarmui_meta("NaN"), nan=True),
                 tf.swarmui_text(tf.swarmui_meta("NaN"))):
        assert "NaN" in text
        (g,) = gens(tf.swarmui_jpeg(text))
        assert (g["generator"], g["source"]) == ("swarmui", "exif:UserComment")
        assert g["seed"] == 1234567 and g["prompt"] == tf.PROMPT
        assert "cfg_scale" not in g and "error" not in g
        json.dumps(g, allow_nan=False)  # no NaN reaches our output


def test_swarmui_and_fooocus_json_are_told_apart() -> None:
    meta = tf.swarmui_meta()
    meta["sui_image_params"]["prompt"] = "a lighthouse, Fooocus style"
    (g,) = gens(tf.swarmui_png(tf.swarmui_text(meta)))
    assert g["generator"] == "swarmui"  # one claim, SwarmUI's, though it says "fooocus"
    (g,) = gens(dp.fooocus_png())
    assert g["generator"] == "fooocus" and g["seed"] == 1234567
    text = json.dumps({"prompt": 'a "sui_image_params" poster', "seed": 5,
                       "version": "Fooocus v2.5.0"})
    (g,) = gens(dp.png(tf.picture(603, (64, 64)), {"parameters": text,
                                                     "fooocus_scheme": "fooocus"}))
    assert g["generator"] == "fooocus" and g["seed"] == 5  # mentions the key, is Fooocus's


def test_swarmui_damaged_json_is_a_note() -> None:
    text = tf.swarmui_text(tf.swarmui_meta())[:-40]
    (g,) = gens(tf.swarmui_png(text))
    assert g["generator"] == "swarmui" and "invalid JSON" in g["error"]
    assert g["raw"] == text  # kept for the examiner


def test_swarmui_stealth_payload() -> None:
    payload = tf.swarmui_text(tf.swarmui_meta()).encode()
    md = Metadata(stealth=Stealth("stealth_pngcomp", "alpha", True, payload))
    (f,) = read_generators(md)
    assert (f.source, f.data["generator"], f.data["seed"]) == ("alpha-lsb", "swarmui", 1234567)
    assert f.data["stealth"] == {"signature": "stealth_pngcomp", "channel": "alpha",
                                 "compressed": True}
    assert f.data["model_hash"] == tf.MODEL_HASH
    other = Metadata(stealth=Stealth("stealth_pngcomp", "alpha", True, b'{"Comment": "{}"}'))
    assert not [x for x in read_generators(other) if x.data.get("generator") == "swarmui"]


# -- ComfyUI outside PNG -----------------------------------------------------------------------
def test_comfyui_webp_exif_as_save_animated_webp_writes_it(tmp_path: Path) -> None:
    data = tf.comfyui_webp()
    exif = Image.open(io.BytesIO(data)).getexif()
    assert exif[0x0110].startswith("prompt:{") and exif[0x010F].startswith("workflow:{")
    (g,) = gens(data)
    assert (g["generator"], g["source"]) == ("comfyui", "exif:Model")
    assert (g["model"], g["seed"], g["prompt"]) == ("private-finetune-v3.safetensors",
                                                    987654321, "a red kite over dunes")
    assert g["loras"][0]["name"] == "harbour-style.safetensors"
    path = tmp_path / "ComfyUI_00001_.webp"
    path.write_bytes(data)
    res = cli_json(tmp_path, path)
    (g,) = [x for x in res["findings"] if x["kind"] == "generator"]
    assert (res["media_type"], g["source"], g["seed"]) == ("image/webp", "exif:Model",
                                                           987654321)


def test_comfyui_webp_workflow_only_reads_the_ui_graph() -> None:
    frames = [tf.picture(615, (48, 48))]
    exif = frames[0].getexif()
    exif[0x010F] = "workflow:" + json.dumps(tf.comfy_workflow())  # no prompt: Make only
    b = io.BytesIO()
    frames[0].save(b, "WEBP", exif=exif, lossless=True)
    (g,) = gens(b.getvalue())
    assert (g["source"], g["model"], g["seed"]) == ("exif:Make",
                                                    "private-finetune-v3.safetensors",
                                                    987654321)


def test_comfyui_webp_workflow_in_image_description() -> None:
    data = tf.comfyui_webp(extra_first={"note": {"text": "first extra key"}})
    exif = Image.open(io.BytesIO(data)).getexif()
    assert exif[0x010F].startswith("note:") and exif[0x010E].startswith("workflow:")
    md = read_metadata_of(data)
    assert md.text["exif:ImageDescription"].startswith("workflow:{")
    (g,) = gens(data)
    assert g["source"] == "exif:Model" and g["seed"] == 987654321


def test_comfyui_animated_png_comf_chunks() -> None:
    data = tf.comfyui_apng()
    assert data.index(b"comf") > data.index(b"IDAT")  # after the first frame, as ComfyUI
    (g,) = gens(data)
    assert (g["generator"], g["source"]) == ("comfyui", "png:comf:prompt")
    assert (g["seed"], g["prompt"]) == (987654321, "a red kite over dunes")


def test_comfyui_mp4_tags_through_the_cli(tmp_path: Path) -> None:
    path = tf.comfyui_mp4(tmp_path / "ComfyUI_00001_.mp4")
    md = tags(path.read_bytes())
    assert json.loads(md.text["mp4:prompt"]) == tf.comfy_prompt()
    assert json.loads(md.text["mp4:workflow"]) == tf.comfy_workflow()
    res = cli_json(tmp_path, path)
    assert res["media_type"] == "video/mp4"
    (g,) = [x for x in res["findings"] if x["kind"] == "generator"]
    assert (g["generator"], g["source"]) == ("comfyui", "mp4:prompt")
    assert (g["model"], g["seed"], g["steps"]) == ("private-finetune-v3.safetensors",
                                                   987654321, 30)
    assert "error" not in g


def test_comfyui_mp4_tag_encoded_twice(tmp_path: Path) -> None:
    path = tf.comfyui_mp4(tmp_path / "twice.mp4", twice=True)
    (g,) = [x for x in stream(path) if x["kind"] == "generator"]
    assert (g["source"], g["seed"]) == ("mp4:prompt", 987654321)


@pytest.mark.parametrize(("name", "fmt", "mt"), [("vhs.mp4", None, "video/mp4"),
                                                  ("vhs.mov", "mov", "video/quicktime")])
def test_older_videohelpersuite_comment(tmp_path: Path, name: str, fmt: str | None,
                                        mt: str) -> None:
    path = tf.vhs_comment_video(tmp_path / name, fmt)
    assert json.loads(tags(path.read_bytes(), mt).text["mp4:comment"])["prompt"]
    (g,) = [x for x in stream(path, mt) if x["kind"] == "generator"]
    assert (g["generator"], g["source"], g["seed"]) == ("comfyui", "mp4:comment", 987654321)


def test_comfyui_webm_tags(tmp_path: Path) -> None:
    tags_ = {"prompt": json.dumps(tf.comfy_prompt()), "workflow": json.dumps(tf.comfy_workflow())}
    path = tf.video(tmp_path / "ComfyUI_00001_.webm", tags_, movflags=False, fmt="webm",
                    codec="libvpx")
    mt = sniff(path.read_bytes()[:4096])
    assert mt == "video/webm"
    md = tags(path.read_bytes(), mt)
    assert json.loads(md.text["mkv:workflow"]) == tf.comfy_workflow()
    assert "mkv:duration" not in md.text  # FFmpeg's per-track tags are not the file's
    (g,) = [x for x in stream(path, mt) if x["kind"] == "generator"]
    assert (g["source"], g["seed"], g["model"]) == ("mkv:prompt", 987654321,
                                                    "private-finetune-v3.safetensors")


def test_matroska_live_stream_seekhead_and_damage(monkeypatch: pytest.MonkeyPatch) -> None:
    tags_ = {"PROMPT": json.dumps(tf.comfy_prompt())}
    for live in (False, True):  # live: unknown-size Cluster, Tags found through the SeekHead
        md = tags(tf.matroska(tags_, live), "video/webm")
        assert "mkv:prompt" in md.text and md.errors == []
    data = tf.matroska(tags_, live=True)
    at = data.rindex((0x1254C367).to_bytes(4, "big"))  # the Tags element (not the SeekID)
    md = tags(data[:at + 40], "video/webm")  # Tags cut short
    assert md.text == {} and any("Tags at byte" in e and "truncated" in e for e in md.errors)
    md = tags(data[:at - 2], "video/webm")  # cut before Tags: the SeekHead points past it
    assert md.text == {} and any("outside the file" in e for e in md.errors)
    moved = data[:at] + b"\xec" + data[at:]  # the SeekHead now points one byte early
    md = tags(moved, "video/webm")
    assert md.text == {} and any("no Tags element" in e for e in md.errors)
    assert any("no EBML header" in e for e in tags(b"\x1a\x45\xdf" + b"\0" * 10,
                                                   "video/webm").errors)
    monkeypatch.setattr(ebml, "MAX_TAGS", 32)
    md = tags(tf.matroska(tags_), "video/webm")
    assert md.text == {} and any("over the 32-byte limit" in e for e in md.errors)


def test_plain_videos_and_camera_exif_get_no_claim(tmp_path: Path) -> None:
    path = tf.video(tmp_path / "holiday.mp4", {"title": "beach, 2019",
                                               "comment": "with the kids"})
    md = tags(path.read_bytes())
    assert md.text["mp4:title"] == "beach, 2019" and md.errors == []
    assert stream(path) == []
    mov = tf.video(tmp_path / "holiday.mov", {"comment": '{"note": "json, not comfy"}'},
                   movflags=False, fmt="mov")
    assert stream(mov, "video/quicktime") == []
    assert found(dp.camera_jpeg()) == []  # Make/Model without "prompt:" are a camera's


def test_xmp_in_a_video_gives_its_source_type() -> None:
    packet = tf.iptc_ai_xmp().encode()
    data = tf.mp4_file(tf.box(b"udta", b"")) + tf.box(b"uuid", bmff.XMP_UUID + packet)
    (d,) = [f.to_dict() for f in examine_stream(io.BytesIO(data), "video/mp4")]
    assert (d["kind"], d["code"], d["ai_system"]) == ("digital_source_type",
                                                      "trainedAlgorithmicMedia",
                                                      "Example Image Model")
    udta = tf.box(b"udta", tf.box(b"XMP_", packet))
    assert tags(tf.mp4_file(udta)).xmp == packet


# -- damaged and hostile boxes -----------------------------------------------------------------
def test_truncated_moov_is_a_note(tmp_path: Path) -> None:
    data = tf.comfyui_mp4(tmp_path / "cut.mp4").read_bytes()
    at = data.index(b"moov") - 4
    md = tags(data[:at + 200])
    assert any("'moov'" in e and "runs past" in e for e in md.errors)
    md = tags(data[:at + 2])  # not even a header
    assert md.text == {} and md.errors
    found_ = [x for x in examine_stream(io.BytesIO(data[:-30]), "video/mp4")
              if x.kind == "generator"]
    assert found_ and found_[0].error  # what was read, and a note that the file is cut


def test_box_sizes_past_the_end_and_64_bit() -> None:
    meta = tf.mdta_meta({"prompt": json.dumps(tf.comfy_prompt())})
    past = tf.mp4_file(tf.box(b"udta", meta), moov_size=1 << 31)
    md = tags(past)
    assert any("runs past" in e for e in md.errors)
    assert "mp4:prompt" in md.text  # what the box held is still read
    huge = tf.mp4_file(b"") + struct.pack(">I4sQ", 1, b"free", 1 << 62)
    assert any("runs past" in e for e in tags(huge).errors)
    tiny = tf.mp4_file(tf.box(b"udta", struct.pack(">I4s", 4, b"meta")))
    assert any("smaller than its header" in e for e in tags(tiny).errors)
    max32 = tf.mp4_file(tf.box(b"udta", struct.pack(">I4s", 0xFFFFFFFF, b"\xa9cmt")))
    assert any("runs past" in e for e in tags(max32).errors)


def test_nested_depth_bomb_is_cut() -> None:
    inner = b""
    for _ in range(5000):
        inner = tf.box(b"udta", inner)
    start = time.monotonic()
    md = tags(tf.mp4_file(inner))
    assert time.monotonic() - start < 5
    assert any(f"more than {bmff.MAX_DEPTH} deep" in e for e in md.errors)


def test_huge_keys_count_and_impossible_key() -> None:
    tags_ = {"prompt": json.dumps(tf.comfy_prompt()), "workflow": "{}"}
    md = tags(tf.mp4_file(tf.box(b"udta", tf.mdta_meta(tags_, count=0x7FFFFFFF))))
    assert any("over the 4096 limit" in e for e in md.errors)
    assert any("holds 2" in e for e in md.errors)
    assert "mp4:prompt" in md.text  # the keys that are there still name their items
    bad = tf.mdta_meta(tags_).replace(struct.pack(">I4s", 14, b"mdta"),
                                      struct.pack(">I4s", 3, b"mdta"))
    md = tags(tf.mp4_file(tf.box(b"udta", bad)))
    assert any("impossible size 3" in e for e in md.errors)


def test_moov_over_the_limit_is_not_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bmff, "MAX_MOOV", 64)
    md = tags(tf.mp4_file(tf.box(b"udta", tf.mdta_meta({"prompt": "{}"}))))
    assert md.text == {} and any("over the 64-byte limit" in e for e in md.errors)


def test_box_count_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bmff, "MAX_BOXES", 1000)
    md = tags(tf.mp4_file(tf.box(b"udta", tf.box(b"free") * 5000)))
    assert any("more than 1000 boxes" in e for e in md.errors)


def test_not_an_mp4_and_unread_types() -> None:
    assert tags(b"\x1a\x45\xdf\xa3" + b"\0" * 60, "video/webm").text == {}
    md = tags(b"GIF89a" + b"\0" * 40)
    assert md.text == {} and md.errors  # sniffed as MP4, holds no boxes: a note


@st.composite
def box_trees(draw: st.DrawFn, depth: int = 0) -> bytes:
    btype = draw(st.sampled_from([b"moov", b"udta", b"meta", b"ilst", b"keys", b"data",
                                  b"\xa9cmt", b"\0\0\0\1", b"XMP_", b"trak", b"free"]))
    if depth < 4 and draw(st.booleans()):
        payload = b"".join(draw(st.lists(box_trees(depth + 1), max_size=4)))
    else:
        payload = draw(st.binary(max_size=40))
    if draw(st.booleans()):  # sometimes a lie about the size
        return struct.pack(">I4s", draw(st.integers(0, 0xFFFFFFFF)), btype) + payload
    return struct.pack(">I4s", len(payload) + 8, btype) + payload


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree=box_trees(), noise=st.binary(max_size=64))
def test_walker_on_random_box_trees(tree: bytes, noise: bytes) -> None:
    for data in (tf.mp4_file(tree), tf.mp4_file(tree + noise), tree, noise + tree):
        md = tags(data)  # never raises
        assert len(md.errors) < 2000
        n = sum(1 for _ in bmff.walk(data, []))
        assert n <= bmff.MAX_BOXES


@settings(max_examples=150, deadline=None)
@given(body=st.binary(max_size=300), live=st.booleans())
def test_matroska_reader_on_random_bytes(body: bytes, live: bool) -> None:
    good = tf.matroska({"PROMPT": "{}"}, live)
    for data in (good[:40] + body, good + body, body, good[: len(body) % len(good)]):
        md = tags(data, "video/x-matroska")  # never raises
        assert len(md.errors) < 50


# -- Draw Things ---------------------------------------------------------------------------
@pytest.mark.parametrize("make", [tf.xmp_png, tf.xmp_jpeg])
def test_drawthings_xmp(make) -> None:  # noqa: ANN001
    (g,) = gens(make(tf.drawthings_xmp()))
    assert (g["generator"], g["source"]) == ("drawthings", "xmp:exif:UserComment")
    assert (g["prompt"], g["negative_prompt"]) == (tf.PROMPT, tf.NEGATIVE)
    assert (g["seed"], g["steps"], g["cfg_scale"], g["size"]) == (2441935286, 24, 5.5,
                                                                  "768x768")
    assert (g["model"], g["sampler"]) == ("sd_xl_base_1.0_f16.ckpt", "DPM++ 2M Karras")
    assert g["loras"] == [{"name": "harbour_light_lora_f16.ckpt", "weight": 0.6}]
    assert [r["type"] for r in g["resources"]] == ["checkpoint", "lora"]


def test_drawthings_description_only_and_damaged_json() -> None:
    packet = tf.drawthings_xmp()
    start = packet.index("<exif:UserComment>")
    end = packet.index("</exif:UserComment>") + len("</exif:UserComment>")
    (g,) = gens(tf.xmp_png(packet[:start] + packet[end:]))
    assert (g["source"], g["seed"], g["prompt"]) == ("xmp:dc:description", 2441935286,
                                                     tf.PROMPT)
    assert g["negative_prompt"] == tf.NEGATIVE and g["cfg_scale"] == 5.5
    broken = packet.replace('"seed": 2441935286,', '"seed": 2441935286,,', 1)
    (g,) = gens(tf.xmp_png(broken))
    assert g["generator"] == "drawthings" and "invalid JSON" in g["error"]


def test_xmp_user_comment_of_another_tool_is_not_drawthings() -> None:
    packet = tf.drawthings_xmp().replace("Draw Things", "Photo Editor 3")
    assert gens(tf.xmp_png(packet)) == []


# -- IPTC 2025.1 AI labels --------------------------------------------------------------------
@pytest.mark.parametrize("make", [tf.xmp_png, tf.xmp_jpeg])
def test_iptc_ai_properties_and_credit(make) -> None:  # noqa: ANN001
    (d,) = found(make(tf.iptc_ai_xmp()))
    assert d["source"] == "xmp:Iptc4xmpExt:DigitalSourceType" and d["synthetic"] is True
    assert (d["ai_system"], d["ai_system_version"]) == ("Example Image Model", "3.1")
    assert (d["ai_prompt"], d["ai_prompt_writer"]) == (tf.PROMPT, "user-0042")
    assert (d["credit"], d["creator"]) == ("Made with Example AI", "Example Image Service")
    assert d["data_mining"].endswith("DMI-PROHIBITED-AIMLTRAINING")


def test_ai_system_without_source_type_still_a_finding() -> None:
    (d,) = found(tf.xmp_jpeg(tf.iptc_ai_xmp(dst=None)))
    assert (d["source"], d["synthetic"], d["ai_system"]) == (
        "xmp:Iptc4xmpExt:AISystemUsed", True, "Example Image Model")
    assert "code" not in d
    plain = tf.iptc_ai_xmp(dst=None).replace(
        "<Iptc4xmpExt:AISystemUsed>Example Image Model</Iptc4xmpExt:AISystemUsed>", "")
    assert found(tf.xmp_jpeg(plain)) == []  # a credit line alone claims nothing


xml_text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=20)  # XML 1.0
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | xml_text,
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(xml_text, kids, max_size=4),
    max_leaves=20)


@settings(max_examples=150, deadline=None)
@given(params=st.dictionaries(st.sampled_from(["prompt", "model", "seed", "cfgscale", "loras",
                                               "loraweights", "width", "height", "sampler"]),
                              json_values, max_size=9),
       models=json_values, settings_=st.dictionaries(
           st.sampled_from(["c", "uc", "model", "seed", "scale", "size", "lora", "v2"]),
           json_values, max_size=8), comment=json_values)
def test_readers_on_json_of_any_shape(params: dict, models: object, settings_: dict,
                                      comment: object) -> None:
    """Values of any type where each tool's JSON has its fields: a finding, never a crash,
    and nothing our strict-JSON output cannot carry."""
    swarm = json.dumps({"sui_image_params": params, "sui_models": models})
    dt = tf.drawthings_xmp(settings_ | {k: v for k, v in tf.drawthings_settings().items()
                                        if k not in settings_})
    md = Metadata(text={"png:parameters": swarm,
                        "mp4:comment": json.dumps({"prompt": comment, "workflow": comment})},
                  xmp=dt.encode())
    out = read_generators(md)
    assert not [f for f in out if f.source.startswith("reader:")], out
    assert {f.data.get("generator") for f in out} >= {"swarmui", "drawthings"}
    for f in out:
        json.dumps(f.to_dict(), allow_nan=False)
