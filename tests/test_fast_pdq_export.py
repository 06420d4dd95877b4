"""Exports share only exact PDQ (DESIGN: "exported lists are always `exact`"): a case scanned
`--mode fast` exports its pictures without their fast PDQ, counted and said (exit 3, the
JSON, the package's summary and README); after `cairn rehash` the exact PDQ travels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from cairn.cases.report import FAST_PDQ_NOTE, write_report
from cairn.lists.formats.stix import _PDQ_PATTERN
from cairn.store.store import Store
from inprocess import report_json

CASE = "fast-c"


def _case(cairn, tmp_path: Path) -> tuple[Path, str]:
    """One benign JPEG large enough for the fast decode, matched by its SHA-256 in a list,
    on the device of a suspect in NL, scanned `--mode fast`."""
    ex = tmp_path / "exhibit"
    ex.mkdir()
    y, x = np.mgrid[0:900, 0:1200]
    px = np.stack([(x * 255 // 1199), (y * 255 // 899), ((x + y) % 256)], axis=-1)
    pic = ex / "sunset.jpg"
    Image.fromarray(px.astype("uint8")).save(pic, quality=90)
    exact = cairn.json("hash", pic)
    assert exact["pdq"]["mode"] == "exact"
    (tmp_path / "known.txt").write_text(f"sha256 {exact['sha256']}\n")
    cairn.run("lists", "import", tmp_path / "known.txt", "--name", "known", "--format",
              "te-local")
    cairn.run("cases", "create", CASE)
    cairn.run("suspects", "add", "S-1", "--case", CASE, "--country", "NL")
    cairn.run("devices", "add", "D-1", "--case", CASE, "--suspect", "S-1", "--kind", "laptop",
              "--seized-at", "2024-11-05")
    cairn.run("scan", ex, "--case", CASE, "--device", "D-1", "--mode", "fast", "--no-progress")
    return pic, exact["pdq"]["hash"]


def _written_fast(cairn) -> tuple[str, ...]:
    """write_report's count (the API's `X-Cairn-Fast-PDQ-Left-Out`) on the CLI's store."""
    store = Store(f"sqlite:///{cairn.home / 'cairn.db'}", cairn.home)
    try:
        return write_report(store, CASE, "vics").fast_pdq
    finally:
        store.close()


def _vics_pdq(doc: dict) -> list[str]:
    return [x["Value"] for m in doc["value"][0]["Media"] for x in m.get("MediaMetadata", [])
            if x["Name"] == "PDQ"]


def _stix_pdq(bundle: dict) -> list[str]:
    """The PDQ values a STIX bundle's indicators carry."""
    return sorted({m.group(2) for o in bundle["objects"] if o.get("type") == "indicator"
                   for m in [_PDQ_PATTERN.search(o["pattern"])] if m})


def test_fast_pdq_is_left_out_of_exports_until_rehash(cairn, tmp_path: Path) -> None:
    _pic, exact = _case(cairn, tmp_path)
    report = report_json(cairn.home, CASE)
    (item,) = report["items"]
    assert item["pdq"]["mode"] == "fast" and item["pdq"]["note"] == FAST_PDQ_NOTE
    fast = item["pdq"]["hash"]
    assert fast != exact  # the fast decode's hash: not the reference's

    # VICS: the Media travels without its PDQ; stderr counts it, exit 3
    proc = cairn.run("report", "--case", CASE, "--format", "vics", ok=(3,))
    doc = json.loads(proc.stdout)
    assert len(doc["value"][0]["Media"]) == 1 and _vics_pdq(doc) == []
    assert fast not in proc.stdout
    assert "1 picture(s) have only a fast PDQ" in proc.stderr
    assert f"cairn rehash --case {CASE}" in proc.stderr
    assert _written_fast(cairn) == (item["sha256"],)  # what the HTTP download's header counts

    # the referral package: no fast hash in any file, the count in the JSON and summary
    pkg = tmp_path / "pkg-fast"
    res = cairn.json("referral", "--case", CASE, "--country", "NL", "-o", pkg, ok=(3,))
    assert res["items"] == 1 and res["fast_pdq_left_out"] == 1
    assert f"cairn rehash --case {CASE}" in res["fast_pdq_note"]
    for f in pkg.rglob("*"):
        if f.is_file():
            assert fast not in f.read_text(encoding="utf-8", errors="replace"), f
    summary = json.loads((pkg / "summary.json").read_text())
    assert summary["items"][0]["pdq"] is None
    assert summary["fast_pdq_left_out"]["items"] == 1
    assert summary["fast_pdq_left_out"]["sha256"] == [item["sha256"]]
    assert "PDQ left out" in (pkg / "README.txt").read_text()
    assert _vics_pdq(json.loads((pkg / "case.vics.json").read_text())) == []
    assert _stix_pdq(json.loads((pkg / "bundle.stix.json").read_text())) == []
    proc = cairn.run("referral", "--case", CASE, "--country", "NL", "-o",
                     tmp_path / "pkg-text", ok=(3,))
    assert "1 picture(s) have only a fast PDQ" in proc.stdout

    # made exact from the evidence: now the exact PDQ travels, and nothing is said
    res = cairn.json("rehash", "--case", CASE, "--all")
    assert res["exact_signals_added"] == 1 and res["failed"] == []
    proc = cairn.run("report", "--case", CASE, "--format", "vics")
    assert _vics_pdq(json.loads(proc.stdout)) == [exact]
    assert "fast PDQ" not in proc.stderr and _written_fast(cairn) == ()
    pkg = tmp_path / "pkg-exact"
    res = cairn.json("referral", "--case", CASE, "--country", "NL", "-o", pkg)
    assert "fast_pdq_left_out" not in res
    summary = json.loads((pkg / "summary.json").read_text())
    assert summary["items"][0]["pdq"] == exact and "fast_pdq_left_out" not in summary
    assert _vics_pdq(json.loads((pkg / "case.vics.json").read_text())) == [exact]
    stix = (pkg / "bundle.stix.json").read_text()
    assert _stix_pdq(json.loads(stix)) == [exact] and fast not in stix
    assert "PDQ left out" not in (pkg / "README.txt").read_text()
