"""`fast` PDQ mode: reduced-scale JPEG decode, labelled as such, close to exact, same matches."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from cairn.demo import EDITS, jpeg_bytes, picture, write_known_lists
from cairn.signals.pdq import hamming
from inprocess import scan_report


def _expected(reference: Path, rel: str) -> dict:
    with open(reference / "expected-pdq-pytx.csv", newline="") as f:
        return next(r for r in csv.DictReader(f) if r["path"] == rel)


def test_fast_reduces_large_jpegs_and_says_so(reference: Path, cairn) -> None:
    rel = "pdq/data/reg-test-input/exif-rotn/exif-rotn-1.jpg"  # 4032x3024
    fast = cairn.json("hash", reference / rel, "--mode", "fast")
    exact = cairn.json("hash", reference / rel)
    assert exact["pdq"]["hash"] == _expected(reference, rel)["pdq"]
    assert fast["pdq"]["mode"] == "fast" and exact["pdq"]["mode"] == "exact"
    assert (fast["width"], fast["height"]) == (4032, 3024)  # the evidence's size, not the decode's
    assert hamming(fast["pdq"]["hash"], exact["pdq"]["hash"]) <= 24
    assert fast["sha256"] == exact["sha256"]


def test_fast_on_non_jpeg_is_exact(reference: Path, cairn) -> None:
    for rel in ("pdq/data/misc-images/c.png", "pdq/data/misc-images/modes/P.png",
                "pdq/data/misc-images/modes/CMYK.jpg"):  # not a colour/grey JPEG
        out = cairn.json("hash", reference / rel, "--mode", "fast")
        assert out["pdq"]["mode"] == "exact"
        assert out["pdq"]["hash"] == _expected(reference, rel)["pdq"]


def test_fast_jpegs_stay_close_to_exact_on_every_reference_jpeg(reference: Path) -> None:
    from cairn.media.decode import open_image
    from cairn.signals.image import image_signals

    worst = 0
    with open(reference / "expected-pdq-pytx.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["path"].endswith(".jpg")
                and "CMYK" not in r["path"] and int(r["quality"]) >= 50]
    for r in rows:
        data = (reference / r["path"]).read_bytes()
        sig = image_signals(data, 10**9, "fast")
        assert sig.pdq.mode == "fast", r["path"]
        assert abs(sig.pdq.quality - int(r["quality"])) <= 5
        worst = max(worst, hamming(sig.pdq.hash, r["pdq"]))
        assert (sig.width, sig.height) == open_image(data, 10**9).size
    assert len(rows) >= 30
    assert worst <= 16, worst


def test_fast_scan_records_fast_hashes_and_finds_the_same_matches(tmp_path: Path) -> None:
    lists, ev = tmp_path / "lists", tmp_path / "ev"
    lists.mkdir()
    ev.mkdir()
    known = [picture(300 + i, (1920, 1080)) for i in range(3)]
    write_known_lists(lists, known, "c")
    (ev / "resized.jpg").write_bytes(jpeg_bytes(EDITS["resize50"](known[0]), 85))
    (ev / "grey.jpg").write_bytes(jpeg_bytes(EDITS["grey"](known[1]), 85))
    (ev / "rot.jpg").write_bytes(jpeg_bytes(EDITS["rotate90"](known[2]), 85))
    for k in range(4):
        (ev / f"other{k}.jpg").write_bytes(jpeg_bytes(picture(400 + k, (1920, 1080)), 85))
    from conftest import Cairn

    found = {}
    for mode in ("exact", "fast"):
        # one store each: a store reports an exact hash for content wherever it has one
        c = Cairn(tmp_path / f"home-{mode}")
        c.run("lists", "import", lists / "known.csv", "--name", "pdqs")
        report = scan_report(c.home, ev, "c", "--mode", mode)
        found[mode] = {it["path"] for it in report["items"] if it["matches"]}
        modes = {it["path"]: it["pdq"]["mode"] for it in report["items"]}
        if mode == "fast":
            assert set(modes.values()) == {"fast"}
        else:
            assert set(modes.values()) == {"exact"}
    assert found["exact"] == found["fast"] == {"resized.jpg", "grey.jpg", "rot.jpg"}


def _dense_operator(n: int) -> np.ndarray:
    """The operator as first written: the two box passes as an n x n matrix (O(n^2) memory)."""
    from cairn.signals.pdq_fast import _WINDOW_DIVISOR

    w = (n + _WINDOW_DIVISOR - 1) // _WINDOW_DIVISOR
    half = (w + 2) // 2
    box = np.zeros((n, n))
    for i in range(n):
        lo, hi = max(0, i - (w - half)), min(n - 1, i + half - 1)
        box[i, lo:hi + 1] = 1.0 / (hi - lo + 1)
    sample = ((np.arange(64) + 0.5) * n / 64).astype(np.int64)
    return (box[sample] @ box).astype(np.float32)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 1500))
def test_sampled_operator_equals_the_dense_one_without_its_memory(n: int) -> None:
    """Only the 64 sampled rows are formed (a 48 x 63787 GIF asked the dense form for
    24.6 GiB); the values are the dense operator's, to float32."""
    from cairn.signals.pdq_fast import _sample_operator

    got, want = _sample_operator(n), _dense_operator(n)
    assert got.shape == (64, n)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9)
    assert np.array_equal(got != 0, want != 0)
