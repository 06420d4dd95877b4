"""Reviewers' decisions reach what leaves the store (issue 18): `cairn report` as JSON, CSV,
HTML and VICS, and the incident report, each carrying the active decision of each item (never
a superseded or undone one), and never a pixel.

The case is scanned in-process from benign noise pictures: photo-1 is matched by an MD5 list,
photo-2 is matched by nothing; photo-0 stays unreviewed.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path

import pytest

from cairn.store import Store, reviews
from inprocess import pictures, report_json, run

CASE = "op-ledger"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("exports")
    home = tmp / "home"
    ex = pictures(tmp / "exhibit-01", 3, seed=1210)
    run(home, "cases", "create", CASE)
    run(home, "scan", ex, "--case", CASE, "--no-progress")
    (tmp / "md5.txt").write_text(hashlib.md5((ex / "photo-1.png").read_bytes()).hexdigest()
                                 + "\n")
    run(home, "lists", "import", tmp / "md5.txt", "--name", "known-md5", "--format", "plain",
        "--type", "md5")
    store = Store.open(home)
    try:
        case_id = store.cases.id(CASE)
        assert case_id is not None
        ids = {it["path"]: it["id"] for it in store.records.case_items(case_id)}
        reviews.record(store, case_id, [ids["photo-1.png"]], "rev-01", "vic-us", "4")
        reviews.record(store, case_id, [ids["photo-1.png"]], "rev-02", "vic-us", "1")
        reviews.record(store, case_id, [ids["photo-2.png"]], "rev-01", "dhs", "CAT-5")
        reviews.record(store, case_id, [ids["photo-0.png"]], "rev-01", "vic-us", "2")
        reviews.undo(store, case_id, ids["photo-0.png"], "rev-01")  # back to no category
    finally:
        store.close()
    return home


def test_the_json_report_carries_each_items_active_decision(home: Path) -> None:
    rep = report_json(home, CASE)
    got = {it["path"]: it.get("review") for it in rep["items"]}
    assert got["photo-0.png"] is None  # undone: no decision
    assert {k: (v["scheme"], v["category"], v["by"]) for k, v in got.items() if v} == {
        "photo-1.png": ("vic-us", "1", "rev-02"), "photo-2.png": ("dhs", "CAT-5", "rev-01")}
    assert rep["summary"]["items_reviewed"] == 2
    assert rep["summary"]["reviewed_by_category"] == {"dhs CAT-5": 1, "vic-us 1": 1}
    assert run(home, "report", "--case", CASE) == run(home, "report", "--case", CASE)


def test_the_csv_and_html_reports_show_the_decisions(home: Path) -> None:
    rows = {r["path"]: r for r in csv.DictReader(io.StringIO(
        run(home, "report", "--case", CASE, "--format", "csv")))}
    assert (rows["photo-1.png"]["review"], rows["photo-1.png"]["reviewed_by"]) == (
        "vic-us:1", "rev-02")
    assert rows["photo-2.png"]["review"] == "dhs:CAT-5" and rows["photo-0.png"]["review"] == ""
    html = run(home, "report", "--case", CASE, "--format", "html")
    assert "Review decisions (2 items)" in html
    section = html[html.index('id="reviews"'):html.index('id="provenance"')]
    assert "CAT-5" in section and "rev-02" in section and "photo-0.png" not in section
    assert "<img" not in html


def test_vics_takes_a_vic_decision_as_the_category(home: Path) -> None:
    doc = json.loads(run(home, "report", "--case", CASE, "--format", "vics"))
    media = {m["MediaFiles"][0]["FileName"]: m for m in doc["value"][0]["Media"]}
    assert sorted(media) == ["photo-1.png", "photo-2.png"]  # matched or reviewed
    one, two = media["photo-1.png"], media["photo-2.png"]
    assert (one["Category"], one["IsPrecategorized"]) == (1, False)  # a person decided
    assert {"Name": "Review", "Value": "vic-us:1"} in one["MediaMetadata"]
    assert "Category" not in two  # DHS is not mapped onto the VIC integers
    assert two["MediaMetadata"] == [{"Name": "PDQ", "Value": two["MediaMetadata"][0]["Value"]},
                                    {"Name": "PDQQuality",
                                     "Value": two["MediaMetadata"][1]["Value"]},
                                    {"Name": "Review", "Value": "dhs:CAT-5"}]


def test_the_incident_report_counts_the_reviews(home: Path, tmp_path: Path) -> None:
    out = tmp_path / "incident.json"
    run(home, "report", "--case", CASE, "--format", "incident", "-o", out)
    r = json.loads(out.read_text())
    assert r["impact"]["items_reviewed"] == 2
    assert r["impact"]["reviewed_by_category"] == {"dhs CAT-5": 1, "vic-us 1": 1}
    assert "2 item(s) reviewed by a person" in r["executive_summary"]
    md = tmp_path / "incident.md"
    run(home, "report", "--case", CASE, "--format", "incident", "-o", md)
    assert "items reviewed: 2" in md.read_text()
