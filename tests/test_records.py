"""The shapes in cairn.records hold what really crosses the packages: a small generated
exhibit (pictures, one with generator metadata, a zip, an empty file, a text file named like
a JPEG) is read by the scan worker, matched, scanned into a store, reported as JSON, paged
and read through the API's service and looked up in batch; every record at every level has
exactly the keys its TypedDict declares (all its required keys, nothing undeclared), and the
item and match keys of DESIGN.md's example are among them."""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from c2pa_fixtures import video
from cairn import records as R
from cairn.cases import report
from cairn.media.limits import Limits
from cairn.media.walk import walk
from cairn.scan.listindex import match_records, open_matcher
from cairn.scan.worker import process_entry
from cairn.service import items as svc_items
from cairn.service import lookup as svc_lookup
from cairn.store import items as store_items
from cairn.store.items import ItemFilter
from conftest import SHARED
from inprocess import pictures, run
from serve_fixtures import open_store

CASE = "op-shapes"
GENERATED = ("a lighthouse at dusk, oil painting\nNegative prompt: blurry\nSteps: 20, "
             "Sampler: Euler a, CFG scale: 7, Seed: 42, Size: 64x48, Model hash: 6ce0161689, "
             "Model: m-6ce0, Version: v1.10.1")


def shape(d: Any, td: Any, where: str) -> set[str]:
    """Assert `d` is a dict with every required key of `td` and no undeclared one."""
    assert isinstance(d, dict), f"{where}: {type(d).__name__}, not a dict"
    keys, req, opt = set(d), set(td.__required_keys__), set(td.__optional_keys__)
    assert req <= keys, f"{where}: missing {sorted(req - keys)} ({td.__name__})"
    assert keys <= req | opt, f"{where}: undeclared {sorted(keys - req - opt)} ({td.__name__})"
    return keys


def finding(f: Any, where: str) -> None:
    """FindingRecord: Finding.to_dict(), its three fixed keys and its reader's own."""
    assert isinstance(f, dict) and {"kind", "strength", "source"} <= set(f), where
    assert f["strength"] in ("cryptographic", "declared", "statistical"), where


def errors(es: Any, where: str) -> None:
    for e in es:
        shape(e, R.ErrorRecord, where + " error")


def exhibit(folder: Path) -> Path:
    pictures(folder, 3, seed=1701)
    px = (np.random.default_rng(77).random((48, 64, 3)) * 255).astype("uint8")
    info = PngInfo()
    info.add_text("parameters", GENERATED)
    Image.fromarray(px).save(folder / "generated.png", pnginfo=info)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("inner/photo-0.png", (folder / "photo-0.png").read_bytes())
        z.writestr("inner/readme.txt", "benign text")
    (folder / "bundle.zip").write_bytes(buf.getvalue())
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "notes.jpg").write_text("not a picture at all\n")
    (folder / "clip.mp4").write_bytes(video("mp4", 30)())  # drawings, 1.2 s
    return folder


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("shapes")
    home, ex = tmp / "home", exhibit(tmp / "exhibit-07")
    recs = [r for e in walk(str(ex)) for r in process_entry(e, Limits())]
    photo1 = next(r for r in recs if r["path"] == "photo-1.png")
    (tmp / "md5.txt").write_text(hashlib.md5((ex / "photo-0.png").read_bytes()).hexdigest())
    (tmp / "pdq.txt").write_text(photo1["pdq"]["hash"] + "\n")
    run(home, "cases", "create", CASE)
    run(home, "lists", "import", tmp / "md5.txt", "--name", "known-md5", "--format", "plain",
        "--type", "md5")
    run(home, "lists", "import", tmp / "pdq.txt", "--name", "known-pdq", "--format", "plain",
        "--type", "pdq")
    run(home, "scan", ex, "--case", CASE, "--no-progress")
    return {"home": home, "records": recs, "pdq": photo1["pdq"]["hash"],
            "md5": (tmp / "md5.txt").read_text()}


def test_scan_worker_records(scanned: dict[str, Any]) -> None:
    recs = scanned["records"]
    seen: set[str] = set()
    for r in recs:
        where = r["path"]
        seen |= shape(r, R.ScanRecord, where)
        errors(r["errors"], where)
        if "pdq" in r:
            shape(r["pdq"], R.ScanPdq, where + " pdq")
            for v in r["pdq"]["fallbacks"] + r["pdq"].get("variants", []):
                shape(v, R.PdqVariant, where + " pdq variant")
        if "vpdq" in r:
            shape(r["vpdq"], R.ScanVpdq, where + " vpdq")
            assert all(len(f) == 3 for f in r["vpdq"]["frames"])
        for f in r.get("findings", []):
            finding(f, where)
    # the exhibit reaches every part of the shape a picture set can: not a vacuous pass
    assert {"kind", "md5", "sha256", "media_type", "pdq", "vpdq", "width", "findings"} <= seen
    assert any(r["parent"] == "bundle.zip" for r in recs)
    assert any(e["stage"] == "sniff" for r in recs for e in r["errors"])
    assert any(f["kind"] == "generator" for r in recs for f in r.get("findings", []))


def test_matcher_output(scanned: dict[str, Any]) -> None:
    store = open_store(scanned["home"])
    try:
        _, found = match_records(store, open_matcher(store), scanned["records"])
    finally:
        store.close()
    new = [m.to_dict() for ms in found for m in ms]
    assert {m["signal"] for m in new} == {"md5", "pdq"}
    for m in new:
        shape(m, R.NewMatch, "match")


def test_report_json_items(scanned: dict[str, Any]) -> None:
    store = open_store(scanned["home"])
    try:
        doc = json.loads(report.to_json(report.build(store, CASE)))
    finally:
        store.close()
    items = doc["items"]
    assert len(items) >= 8
    for it in items:
        where = f"{it['source']}/{it['path']}"
        shape(it, R.ReportItem, where)
        if it["pdq"] is not None:
            keys = shape(it["pdq"], R.PdqSignal, where)
            # a fast PDQ carries the reason it is not shared as it is; an exact one does not
            assert keys == {"hash", "quality", "mode"} | (
                {"note"} if it["pdq"]["mode"] == "fast" else set()), where
        if "vpdq" in it:
            keys = shape(it["vpdq"], R.VpdqSignal, where + " vpdq")
            assert ("note" in keys) == (it["vpdq"]["mode"] == "fast"), where
        errors(it["errors"], where)
        for f in it["findings"]:
            finding(f, where)
        for m in it["matches"]:
            shape(m, R.MatchRecord, where + " match")
            shape(m["entry"], R.MatchEntry, where + " match entry")
    assert {m["signal"] for it in items for m in it["matches"]} == {"md5", "pdq"}
    assert any("vpdq" in it for it in items)


def test_design_example_keys_are_declared_and_present(scanned: dict[str, Any]) -> None:
    path = SHARED / "DESIGN.md"
    if not path.exists():
        pytest.skip(f"DESIGN.md not found at {path} (set CAIRN_SHARED to the shared/ folder)")
    body = re.search(r"## Signal and finding shapes.*?```json\n(.*?)```", path.read_text(),
                     re.S)
    assert body, "DESIGN.md has no JSON example under 'Signal and finding shapes'"
    design = json.loads(body.group(1))
    store = open_store(scanned["home"])
    try:
        items = report.build(store, CASE)["items"]
    finally:
        store.close()
    item_keys = set(R.ReportItem.__required_keys__ | R.ReportItem.__optional_keys__)
    # the example's item keys are ours, and a matched picture carries every one of them
    assert set(design) <= item_keys, sorted(set(design) - item_keys)
    matched = next(it for it in items if it["matches"] and it["pdq"])
    assert set(design) <= set(matched), sorted(set(design) - set(matched))
    assert set(design["pdq"]) == set(R.PdqSignal.__required_keys__)
    match_keys = set(R.MatchRecord.__required_keys__ | R.MatchRecord.__optional_keys__)
    assert set(design["matches"][0]) <= match_keys
    assert set(design["matches"][0]) <= set(matched["matches"][0])


def test_api_item_page_and_detail(scanned: dict[str, Any]) -> None:
    store = open_store(scanned["home"])
    try:
        case_id = store.cases.id(CASE)
        assert case_id is not None
        page = svc_items.list_items(store, case_id, svc_items.ItemQuery(
            ItemFilter(None, None, None, None, None)))
        assert len(page.items) >= 8
        for row in page.items:
            shape(row, R.ItemRow, row["path"])
            assert "synthetic" in row
        matched = [row for row in page.items if row["active_matches"]]
        assert matched
        for row in [*matched, page.items[0]]:
            it = svc_items.view_item(store, case_id, row["id"], "user-0042", "test")
            assert it is not None
            shape(it, R.ItemDetail, row["path"])
            for s in it["signals"]:
                shape(s, R.StoredSignal, row["path"] + " signal")
            errors(it["errors"], row["path"])
            for m in it["matches"]:
                shape(m, R.ItemMatch, row["path"] + " match")
                shape(m["entry"], R.ItemMatchEntry, row["path"] + " match entry")
        assert store_items.item(store, case_id, 10**9) is None
    finally:
        store.close()


def test_batch_lookup_results(scanned: dict[str, Any]) -> None:
    store = open_store(scanned["home"])
    try:
        signals = svc_lookup.check([("md5", scanned["md5"]), ("pdq", scanned["pdq"]),
                                    ("sha256", "ab" * 32)])
        results = svc_lookup.lookup(store, signals)
        body = json.loads(svc_lookup.lookup_json(store, signals))
    finally:
        store.close()
    assert body == {"results": results}
    assert [len(r["matches"]) for r in results] == [1, 1, 0]
    for r in results:
        shape(r, R.LookupResult, r["value"])
        for m in r["matches"]:
            shape(m, R.LookupMatch, r["value"] + " match")
            shape(m["entry"], R.LookupEntry, r["value"] + " entry")
