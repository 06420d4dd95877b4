"""Stealth metadata in pixel LSBs, read once for every writer (provenance/stealth.py): the A1111
stealth pnginfo extension's four variants, embedded as its `add_stealth_pnginfo` does
(tests/stealth_fixtures.py), give the A1111 finding; NovelAI's payloads stay NovelAI's
whatever the signature; damage is a note; pictures without a signature give nothing."""

from __future__ import annotations

import gzip
import json
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

import stealth_fixtures as sf
from cairn import demo_provenance as dp
from cairn.demo import picture
from cairn.provenance import examine
from cairn.provenance.containers import Metadata
from cairn.provenance.generators.a1111 import A1111Reader
from cairn.provenance.generators.novelai import NovelAIReader
from cairn.provenance.stealth import (
    MAX_INFLATED,
    Stealth,
    StealthError,
    error_source,
    lsb_bytes,
    read_stealth,
)

VARIANTS = [("alpha", False, "stealth_pnginfo"), ("alpha", True, "stealth_pngcomp"),
            ("rgb", False, "stealth_rgbinfo"), ("rgb", True, "stealth_rgbcomp")]


def generators(data: bytes) -> list[dict]:
    return [f.to_dict() for f in examine(data) if f.kind == "generator"]


class FakePicture:
    """A decoded picture as read_stealth sees one: planes, a format, and a record of whether
    the RGB plane was asked for (a full decode in the real Picture)."""

    def __init__(self, alpha: np.ndarray | None = None, rgb: np.ndarray | None = None,
                 format: str = "PNG") -> None:
        self._alpha, self._rgb, self.format, self.rgb_asked = alpha, rgb, format, False

    def alpha(self) -> np.ndarray | None:
        return self._alpha

    def rgb(self) -> np.ndarray | None:
        self.rgb_asked = True
        return self._rgb


def plant(plane: np.ndarray, stream: bytes) -> np.ndarray:
    """`stream` written into the LSBs of a HxWxC plane, column by column (numpy; the
    pixel-loop writer in stealth_fixtures checks the reader independently)."""
    h, w, c = plane.shape
    flat = plane.transpose(1, 0, 2).reshape(-1).copy()
    bits = np.unpackbits(np.frombuffer(stream, dtype=np.uint8))
    flat[:len(bits)] = (flat[:len(bits)] & 0xFE) | bits
    return flat.reshape(w, h, c).transpose(1, 0, 2)


# -- the A1111 extension's four variants ------------------------------------------------------
@pytest.mark.parametrize("mode,compressed,signature", VARIANTS)
def test_each_a1111_variant_is_automatic1111_from_pixels(mode: str, compressed: bool,
                                                         signature: str) -> None:
    data = dp.png(sf.stealth_picture(mode, compressed))
    assert b"lighthouse" not in data  # text chunk stripped: only the pixels hold it
    (g,) = generators(data)
    assert g["generator"] == "automatic1111" and g["source"] == f"{mode}-lsb"
    assert g["stealth"] == {"signature": signature, "channel": mode, "compressed": compressed}
    assert (g["seed"], g["model_hash"], g["steps"]) == (3141592, "6ce0161689", 28)
    assert g["prompt"] == "a lighthouse on a cliff at dusk, oil painting"
    assert g["negative_prompt"] == "blurry, lowres" and "error" not in g
    assert {"type": "lora", "name": "seaside", "version": None, "hash": "0123456789ab",
            "air": None, "weight": None} in g["resources"]


def test_chunk_and_pixels_alike_give_one_finding_that_says_both() -> None:
    img = sf.stealth_picture("alpha", True)
    (g,) = generators(dp.png(img, {"parameters": sf.LIGHTHOUSE}))
    assert g["source"] == "png:parameters" and g["stealth"]["signature"] == "stealth_pngcomp"


def test_chunk_edited_after_the_fact_leaves_the_pixels_version_beside_it() -> None:
    img = sf.stealth_picture("rgb", False)
    edited = sf.LIGHTHOUSE.replace("Seed: 3141592", "Seed: 1")
    by = {g["source"]: g for g in generators(dp.png(img, {"parameters": edited}))}
    assert by["png:parameters"]["seed"] == 1 and "stealth" not in by["png:parameters"]
    assert by["rgb-lsb"]["seed"] == 3141592 and by["rgb-lsb"]["stealth"]["channel"] == "rgb"


# -- NovelAI: the payload decides ----------------------------------------------------------------
def test_novelai_stealth_stays_novelai_and_says_its_carrier() -> None:
    (g,) = generators(dp.stealth_png())
    assert g["generator"] == "novelai" and g["source"] == "alpha-lsb" and g["seed"] == 99
    assert g["stealth"] == {"signature": "stealth_pngcomp", "channel": "alpha",
                            "compressed": True}


@pytest.mark.parametrize("mode,compressed", [("alpha", False), ("rgb", True)])
def test_novelai_json_under_any_signature_is_novelai(mode: str, compressed: bool) -> None:
    payload = {"Software": "NovelAI", "Source": "NovelAI Diffusion V3 7BCCAA2C",
               "Comment": json.dumps(dp.novelai_comment(seed=55))}
    text = json.dumps(payload)
    img = sf.stealth_picture(mode, compressed, text=text, size=(160, 120))
    (g,) = generators(dp.png(img))
    assert g["generator"] == "novelai" and g["source"] == f"{mode}-lsb" and g["seed"] == 55
    assert g["model_hash"] == "7bccaa2c"


def test_novelai_second_length_and_fec_after_the_payload_are_ignored() -> None:
    payload = {"Software": "NovelAI", "Comment": json.dumps(dp.novelai_comment(seed=31))}
    (g,) = generators(dp.png(sf.novelai_stealth_with_fec(payload)))
    assert g["generator"] == "novelai" and g["seed"] == 31 and "error" not in g


def test_neither_a1111_nor_novelai_payload_is_left_to_other_readers() -> None:
    comfy = Stealth("stealth_pngcomp", "alpha", True, json.dumps({"prompt": "{}"}).encode())
    md = Metadata(stealth=comfy)
    assert A1111Reader().read(md) == [] and NovelAIReader().read(md) == []


def test_unexplained_text_in_pixels_is_noted_without_a_generator() -> None:
    img = sf.stealth_picture("alpha", False, text="a note hidden in the pixels, nothing more")
    (g,) = generators(dp.png(img))
    assert "generator" not in g and g["source"] == "alpha-lsb"
    assert g["raw"] == "a note hidden in the pixels, nothing more"
    assert g["stealth"]["signature"] == "stealth_pnginfo" and "neither A1111" in g["error"]


# -- damage is a note ---------------------------------------------------------------------------
def test_damaged_length_of_a_gzip_payload_is_recovered_with_a_note() -> None:
    bits = sf.with_length(sf.stealth_bits(sf.LIGHTHOUSE, "alpha", True), 10**9)
    (g,) = generators(dp.png(sf.stealth_picture("alpha", True, bits=bits)))
    assert g["generator"] == "automatic1111" and g["seed"] == 3141592
    assert "payload of 1000000000 bits" in g["error"] and "gzip stream" in g["error"]


@pytest.mark.parametrize("mode,length,words", [
    ("alpha", 10**9, "the picture holds"), ("rgb", 8 * 40 + 3, "not whole bytes"),
    ("alpha", 0, "(none)")])
def test_damaged_length_of_a_plain_payload_claims_no_generator(mode: str, length: int,
                                                               words: str) -> None:
    bits = sf.with_length(sf.stealth_bits(sf.LIGHTHOUSE, mode, False), length)
    (g,) = generators(dp.png(sf.stealth_picture(mode, False, bits=bits)))
    assert "generator" not in g and g["source"] == f"{mode}-lsb"
    sig = "stealth_pnginfo" if mode == "alpha" else "stealth_rgbinfo"
    assert g["error"].startswith(f"{sig}: the header gives a payload of {length} bits")
    assert words in g["error"]


@pytest.mark.parametrize("mode", ["alpha", "rgb"])
def test_damaged_gzip_claims_no_generator(mode: str) -> None:
    bits = sf.stealth_bits(sf.LIGHTHOUSE, mode, True)
    flipped = bits[:152 + 8 * 12] + "".join("1" if b == "0" else "0"
                                            for b in bits[152 + 8 * 12:152 + 8 * 40])
    (g,) = generators(dp.png(sf.stealth_picture(mode, True, bits=flipped + bits[152 + 320:])))
    assert "generator" not in g and g["source"] == f"{mode}-lsb"
    assert "gzip" in g["error"] and g["error"].startswith("stealth_")


def test_gzip_bomb_is_refused() -> None:
    data = gzip.compress(b"\0" * (MAX_INFLATED + 1024), 9)
    stream = b"stealth_pngcomp" + struct.pack(">I", len(data) * 8) + data
    side = int((len(stream) * 8) ** 0.5) + 2
    alpha = plant(np.zeros((side, side, 1), np.uint8), stream)[:, :, 0]
    with pytest.raises(StealthError, match="inflates beyond"):
        read_stealth(FakePicture(alpha))


def test_error_source_names_the_channel() -> None:
    assert error_source("stealth_rgbcomp: payload is not gzip") == "rgb-lsb"
    assert error_source("stealth_pnginfo: the header …") == "alpha-lsb"
    assert error_source("something else") == "pixels-lsb"


# -- no signature, no claim; no needless decode --------------------------------------------------
def test_rgb_picture_without_signature_gives_nothing() -> None:
    assert examine(dp.png(picture(720, (96, 64)))) == []
    noisy = np.random.default_rng(3).integers(0, 256, (64, 96, 3), dtype=np.uint8)
    assert examine(dp.png(Image.fromarray(noisy, "RGB"))) == []


def test_rgb_bits_of_a_lossy_format_are_not_read() -> None:
    rgb = plant(np.zeros((64, 96, 3), np.uint8), b"stealth_rgbinfo" + struct.pack(">I", 8)
                + b"x")
    assert read_stealth(FakePicture(None, rgb, "PNG")).payload == b"x"
    jpeg = FakePicture(None, rgb, "JPEG")
    assert read_stealth(jpeg) is None and not jpeg.rgb_asked


def test_large_picture_without_signature() -> None:
    big = FakePicture(np.full((4096, 4096), 255, np.uint8), np.zeros((4096, 4096, 3), np.uint8))
    assert read_stealth(big) is None and big.rgb_asked


def test_tiny_pictures_hold_no_header() -> None:
    assert read_stealth(FakePicture(np.zeros((3, 3), np.uint8), np.zeros((3, 3, 3), np.uint8))
                        ) is None


# -- the bit reader against brute force; hostile planes ------------------------------------------
@settings(max_examples=60, deadline=None)
@given(st.integers(1, 9), st.integers(1, 9), st.sampled_from([1, 3]), st.data())
def test_lsb_bytes_matches_a_pixel_by_pixel_walk(h: int, w: int, c: int, data) -> None:
    plane = np.frombuffer(data.draw(st.binary(min_size=h * w * c, max_size=h * w * c)),
                          np.uint8).reshape(h, w, c)
    total = h * w * c // 8 * 8
    if total == 0:
        return
    start = data.draw(st.integers(0, total // 8 - 1)) * 8
    nbits = data.draw(st.integers(1, (total - start) // 8)) * 8
    walk = [int(plane[y, x, k]) & 1 for x in range(w) for y in range(h) for k in range(c)]
    want = bytes(int("".join(map(str, walk[i:i + 8])), 2)
                 for i in range(start, start + nbits, 8))
    assert lsb_bytes(plane, start, nbits) == want


@settings(max_examples=80, deadline=None)
@given(st.sampled_from(sorted(VARIANTS)), st.integers(0, 2**32 - 1), st.binary(max_size=300),
       st.integers(12, 60))
def test_hostile_headers_give_a_payload_none_or_stealtherror(variant, length: int,
                                                             body: bytes, side: int) -> None:
    mode, compressed, signature = variant
    stream = signature.encode() + struct.pack(">I", length) + body
    c = 1 if mode == "alpha" else 3
    plane = plant(np.zeros((side, side, c), np.uint8), stream[:side * side * c // 8])
    pic = FakePicture(plane[:, :, 0], None) if c == 1 else FakePicture(None, plane)
    try:
        found = read_stealth(pic)
    except StealthError as e:
        assert str(e).startswith(signature)
        return
    assert found is None or found.signature == signature
