"""PDQ must be bit-identical to python-threatexchange on every reference image and variant."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from PIL import Image

from cairn.media.decode import open_image
from cairn.signals.pdq import DIHEDRAL, pdq_from_image

COLUMNS = ["pdq", "rot90", "rot180", "rot270", "flipx", "flipy", "flipplus1", "flipminus1"]


def _rows(reference: Path) -> list[dict]:
    with open(reference / "expected-pdq-pytx.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_reference_has_every_image(reference: Path) -> None:
    rows = _rows(reference)
    assert len(rows) >= 49
    for r in rows:
        assert (reference / r["path"]).is_file(), r["path"]


def test_pdq_bit_identical_to_threatexchange(reference: Path) -> None:
    mismatches = []
    rows = _rows(reference)
    for r in rows:
        data = (reference / r["path"]).read_bytes()
        result = pdq_from_image(open_image(data, 200_000_000))
        expected = [r[c] for c in COLUMNS]
        if list(result.dihedral) != expected or result.quality != int(r["quality"]):
            wrong = [DIHEDRAL[i] for i, (a, b) in enumerate(zip(result.dihedral, expected,
                                                                  strict=True)) if a != b]
            mismatches.append(f"{r['path']}: quality {result.quality} vs {r['quality']}, "
                              f"differs in {wrong}")
    assert not mismatches, "\n".join(mismatches)
    assert len(rows) == 49


def test_no_exif_rotation_before_hashing(reference: Path) -> None:
    """EXIF orientation 6 must hash the stored pixels, as deployed lists do."""
    path = reference / "pdq/data/reg-test-input/exif-rotn/exif-rotn-6.jpg"
    img = Image.open(path)
    assert img.getexif().get(0x0112) == 6
    row = next(r for r in _rows(reference) if r["path"].endswith("exif-rotn-6.jpg"))
    assert pdq_from_image(open_image(path.read_bytes(), 200_000_000)).hash == row["pdq"]


@pytest.mark.parametrize("name", ["aaa-orig.jpg", "blur-a-lot.jpg", "shrink-a-lot.jpg"])
def test_cli_hash_agrees_with_reference(reference: Path, cairn, name: str) -> None:
    rel = f"pdq/data/bridge-mods/{name}"
    row = next(r for r in _rows(reference) if r["path"] == rel)
    out = cairn.json("hash", reference / rel)
    assert out["pdq"] == {"hash": row["pdq"], "quality": int(row["quality"]), "mode": "exact"}
