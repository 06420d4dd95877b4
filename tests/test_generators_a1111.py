"""The A1111 family's infotext: Forge / reForge / Forge Classic told apart by `Version`, Forge's
modules as resources, Civitai's JSON-valued parameters (`Civitai resources`, `Civitai
metadata`, the extension's `Hashes`) read whole, and AIR URNs normalised. Texts are built to
the writers' code (tests/stealth_fixtures.py cites each); the line parser is linear and never
raises on junk."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import stealth_fixtures as sf
from cairn import demo_provenance as dp
from cairn.demo import picture
from cairn.provenance import examine
from cairn.provenance.generators.a1111 import (
    MAX_RESOURCES,
    json_value,
    parse_parameters,
    parse_params_line,
    scan_json,
)
from cairn.provenance.generators.air import Air, AirError, normalise_air, parse_air


def generator(text: str) -> dict:
    (g,) = [f.to_dict() for f in examine(dp.png(picture(730, (64, 48)), {"parameters": text}))
            if f.kind == "generator"]
    return g


# -- Forge / reForge -------------------------------------------------------------------------------
def test_forge_flux_infotext() -> None:
    g = generator(sf.forge_flux_text())
    assert g["generator"] == "forge" and g["version"].startswith("f2.0.1v1.10.1")
    assert (g["seed"], g["steps"], g["cfg_scale"], g["scheduler"]) == (1083098466, 20, 1.0,
                                                                      "Simple")
    assert g["params"]["Distilled CFG Scale"] == "3.5"
    assert g["params"]["Diffusion in Low Bits"] == "Automatic (fp16 LoRA)"
    assert g["params"]["Hires Module 1"] == "Use same choices"
    modules = [r["name"] for r in g["resources"] if r["type"] == "module"]
    assert modules == ["ae", "clip_l", "t5xxl_fp8_e4m3fn"]  # "Use same choices" is no file
    assert {"type": "checkpoint", "name": "flux1-dev-demo", "version": None,
            "hash": "58725940e3", "air": None, "weight": None} in g["resources"]


@pytest.mark.parametrize("version,name", [
    ("f2.0.1v1.10.1-previous-669-gdfdcbab6", "forge"),
    ("f0.0.17v1.8.0rc-latest-276-g29be1da7", "forge"),
    ("f1.7.0-v1.10.1RC-latest-2190-g8731f1e9", "reforge"),
    ("f2.0.0dev-v1.10.1RC-latest-12-gabcdef12", "reforge"),
    ("neo", "forge"), ("classic", "forge"),
    ("v1.10.1", "automatic1111"), ("1.6.0-RC-28-ga2e3a6b3", "automatic1111"),
])
def test_version_tells_the_webui_apart(version: str, name: str) -> None:
    text = sf.reforge_text().replace("f1.7.0-v1.10.1RC-latest-2190-g8731f1e9", version)
    fields, params = parse_parameters(text)
    assert fields["generator"] == name and params["Version"] == version


# -- Civitai ---------------------------------------------------------------------------------------
def test_civitai_generator_resources_and_metadata() -> None:
    g = generator(sf.civitai_text())
    assert g["generator"] == "civitai" and g["seed"] == 987654321 and g["steps"] == 30
    assert g["params"]["Clip skip"] == "2"
    assert json.loads(g["params"]["Civitai metadata"]) == {"remixOfId": 4242}
    assert g["resources"] == [
        {"type": "checkpoint", "name": "Demo Checkpoint XL", "version": "v6", "hash": None,
         "air": "urn:air:sdxl:checkpoint:civitai:257749@290640", "weight": None},
        {"type": "lora", "name": "Harbour, Style", "version": "v1.0", "hash": None,
         "air": "urn:air:sdxl:lora:civitai:328553@368189", "weight": 0.8},
        {"type": "embedding", "name": "calm-neg", "version": "v2", "hash": None, "air": None,
         "weight": 1.0}]
    assert "error" not in g


def test_civitai_air_spelled_otherwise_is_normalised_and_a_bad_one_kept_as_a_name() -> None:
    res = [{"type": "LORA", "weight": 0.5, "air": "AIR:SDXL:LORA:CIVITAI:328553@368189"},
           {"type": "lora", "weight": 1, "air": "urn:air:sdxl:lora:civitai:not-a-number"}]
    fields, _ = parse_parameters(sf.civitai_text(res))
    good, bad = fields["resources"]
    assert good["air"] == "urn:air:sdxl:lora:civitai:328553@368189" and good["type"] == "lora"
    assert bad["air"] is None and bad["name"] == "urn:air:sdxl:lora:civitai:not-a-number"
    g = generator(sf.civitai_text(res))
    assert "malformed AIR" in g["error"] and g["generator"] == "civitai"


def test_civitai_extension_hashes_json_no_longer_hides_the_text() -> None:
    g = generator(sf.civitai_extension_text())
    assert g["generator"] == "automatic1111" and g["seed"] == 3141592 and "error" not in g
    by = {(r["type"], r["hash"]): r for r in g["resources"]}
    # the checkpoint cited by Model hash and by Hashes is one resource
    assert [r for r in g["resources"] if r["type"] == "checkpoint"] == [
        {"type": "checkpoint", "name": "v1-5-pruned-emaonly", "version": None,
         "hash": "6ce0161689", "air": None, "weight": None}]
    assert by[("lora", "aa11bb22cc")]["name"] == "seaside"
    assert by[("lora", "aa11bb22cc")]["weight"] == 0.7  # from <lora:seaside:0.7>
    assert by[("lora", "0123456789ab")]["name"] == "seaside"
    assert by[("vae", "735e4c3a44")]["type"] == "vae"
    assert by[("embedding", "c74b4e810b")]["name"] == "easyneg"


def test_a1111_resources_from_its_own_fields() -> None:
    fields, _ = parse_parameters(dp.A1111_TEXT.format(lora="0123456789ab"))
    kinds = [(r["type"], r["name"], r["hash"]) for r in fields["resources"]]
    assert kinds == [("checkpoint", "v1-5-pruned-emaonly", "6ce0161689"),
                     ("vae", "vae-ft-mse.safetensors", "735e4c3a44"),
                     ("lora", "seaside", "0123456789ab"), ("lora", "brushwork", "abcdefabcdef"),
                     ("embedding", "easyneg", "c74b4e810b03")]


def test_resources_are_bounded_and_merged_once() -> None:
    loras = ", ".join(f"l{i}: {i:012x}" for i in range(1000))
    text = f'p\nSteps: 1, Seed: 2, Sampler: x, Lora hashes: "{loras}", Lora hashes 2: x'
    fields, _ = parse_parameters(text)
    assert len(fields["loras"]) == 1000 and len(fields["resources"]) == MAX_RESOURCES
    assert fields["resources"][3] == {"type": "lora", "name": "l3", "version": None,
                                      "hash": f"{3:012x}", "air": None, "weight": None}


# -- the parameter line ---------------------------------------------------------------------------
def test_values_json_strings_arrays_objects_and_plain() -> None:
    line = ('Steps: 20, Hires prompt: "a, \\"b\\": c", List: [1, "x,]", {"k": [2]}], '
            'Obj: {"a": "}", "b": [1, 2]} , Plain: 1.5, Seed: 3')
    p = parse_params_line(line)
    assert p["Hires prompt"] == 'a, "b": c' and p["Plain"] == "1.5" and p["Seed"] == "3"
    assert json_value(p["List"]) == [1, "x,]", {"k": [2]}]
    assert json_value(p["Obj"]) == {"a": "}", "b": [1, 2]}


def test_unbalanced_brackets_fall_back_to_plain_values() -> None:
    p = parse_params_line('Steps: 20, Odd: [1 2, Seed: 3, Note: "a, b", Late: [4]')
    assert (p["Odd"], p["Seed"], p["Note"]) == ("[1 2", "3", "a, b")
    assert p["Late"] == "[4]"  # read plain: no bracket scan again past a failed one
    # so a later JSON array with commas no longer parses: the price of staying linear
    assert parse_params_line("Steps: 20, Odd: [1 2, Seed: 3, List: [4, 5]") is None
    p = parse_params_line("Steps: 20, Bad: [}, Seed: 3, Junk: [1]x")
    assert (p["Bad"], p["Junk"]) == ("[}", "[1]x")
    assert scan_json("[" * 100 + "]" * 100, 0) == -1  # past MAX_DEPTH


@pytest.mark.parametrize("chunk", ["a: [, ", 'a: ", ', "a: {\"x\": [, ", 'k: "\\', "[{" * 3,
                                   "<lora:x", "a: [\"", ":" * 7])
def test_adversarial_lines_finish(chunk: str) -> None:
    line = "Steps: 1, Seed: 2, " + chunk * 20_000  # quadratic parsing would not finish
    parse_parameters(line)
    parse_parameters("<lora:" * 20_000 + "\nSteps: 1, Seed: 2, Sampler: x")
    parse_parameters("Steps: 1, Seed: 2, " + "a: [, " * 20_000 + "]" * 20_000 + "x")


JUNK = st.lists(st.sampled_from(list('ab :,"[]{}\\\n0.') + [
    "Steps: ", "Seed: ", "Civitai resources: ", "Hashes: ", '{"air": "', "urn:air:",
    "<lora:", "Module 1: "]), max_size=120).map("".join)


@settings(max_examples=300, deadline=None)
@given(JUNK)
def test_parser_never_raises_on_junk(text: str) -> None:
    p = parse_params_line(text)
    assert p is None or all(isinstance(k, str) and isinstance(v, str) for k, v in p.items())
    parse_parameters(text)


NAMES = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=30).filter(
    lambda s: s.strip() == s and s)


@st.composite
def civitai_resources(draw) -> list[dict]:
    out = []
    for i in range(draw(st.integers(1, 6))):
        model, version = draw(st.integers(1, 10**6)) * 10 + i, draw(st.integers(1, 10**7))
        kind = draw(st.sampled_from(["checkpoint", "lora", "embed", "vae", "lycoris"]))
        item = {"type": kind, "modelVersionId": version, "modelName": draw(NAMES) + f"#{i}",
                "modelVersionName": draw(NAMES),
                "weight": draw(st.floats(-2, 2, allow_nan=False).map(lambda x: round(x, 2))),
                "air": f"urn:air:{draw(st.sampled_from(['sdxl', 'sd1', 'flux1']))}:"
                       f"{kind}:civitai:{model}@{version}"}
        out.append(item)
    return out


@settings(max_examples=100, deadline=None)
@given(civitai_resources())
def test_generated_civitai_resources_come_back(items: list[dict]) -> None:
    fields, _ = parse_parameters(sf.civitai_text(items))
    kinds = {"embed": "embedding"}
    assert fields["resources"] == [
        {"type": kinds.get(r["type"], r["type"]), "name": r["modelName"],
         "version": r["modelVersionName"], "hash": None, "air": r["air"],
         "weight": r["weight"]} for r in items]


# -- AIR -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text,urn", [
    ("urn:air:sdxl:lora:civitai:328553@368189", "urn:air:sdxl:lora:civitai:328553@368189"),
    ("air:sdxl:checkpoint:civitai:827184@2514310",
     "urn:air:sdxl:checkpoint:civitai:827184@2514310"),
    ("sdxl:checkpoint:civitai:827184@2514310", "urn:air:sdxl:checkpoint:civitai:827184@2514310"),
    ("URN:AIR:FLUX1:LORA:CIVITAI:685229@766909", "urn:air:flux1:lora:civitai:685229@766909"),
    ("urn:air:sdxl:checkpoint:civitai:827184@2514310+2403711.safetensors",
     "urn:air:sdxl:checkpoint:civitai:827184@2514310+2403711.safetensors"),
    ("urn:air:sdxl:vae:huggingface:stabilityai/sdxl-vae@sdxl_vae.safetensors",
     "urn:air:sdxl:vae:huggingface:stabilityai/sdxl-vae@sdxl_vae.safetensors"),
    ("  lora:civitai:1@2 ", "urn:air:lora:civitai:1@2"),
    ("sdxl:civitai:1", "urn:air:sdxl:civitai:1"),
    ("civitai:328553", "urn:air:civitai:328553"),
])
def test_air_spec_examples_normalise(text: str, urn: str) -> None:
    assert normalise_air(text) == urn
    assert normalise_air(urn) == urn


def test_air_parts() -> None:
    a = parse_air("urn:air:sdxl:checkpoint:civitai:827184@2514310+2403711.safetensors")
    assert a == Air("civitai", "827184", "sdxl", "checkpoint", "2514310", "2403711",
                    "safetensors")
    assert parse_air("lora:civitai:1").type == "lora"
    assert parse_air("sdxl:civitai:1").ecosystem == "sdxl"


@pytest.mark.parametrize("bad", [
    "", "civitai", "urn:air:", "urn:air:civitai:", "urn:air:sdxl:lora:civitai:abc@1",
    "urn:air:a:b:c:d:1", "civitai:1@", "civitai:1+", "civitai:1@2@3", "civitai:1 2",
    "sd xl:lora:civitai:1", "urn:air:sdxl:lora:civitai:1@2+x y", "x" * 2000 + ":civitai:1"])
def test_malformed_air_is_refused(bad: str) -> None:
    assert normalise_air(bad) is None
    with pytest.raises(AirError):
        parse_air(bad)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("urnai:sdxlcvt@+.1/-_ ")), max_size=60))
def test_air_parser_total_and_idempotent(text: str) -> None:
    urn = normalise_air(text)
    assert urn is None or (urn.startswith("urn:air:") and normalise_air(urn) == urn)
