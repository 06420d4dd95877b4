"""The incident report (issue 15 §4): the field's sections, every figure computed from the
store, indicators defanged, actions by country, families shared between suspects, the
examiner's lessons and recommendations from their notes; the same store gives the same
bytes in every format."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from cairn.demo_provenance import a1111_png
from inprocess import DB_URLS, database, pictures, report_json, run

NOTES = """# Examiner's notes (benign test case)

Context that is not a section of the report.

## Lessons learned
- Archives on the phone held most of the material.

## Recommendations
- Share the new hashes with partner agencies over TAXII.
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest) -> Iterator[str | None]:
    yield from database(request.param)


@pytest.fixture
def operation(tmp_path: Path, db: str | None) -> Iterator[Path]:
    """Two suspects in two countries, a device each; one picture on both devices (a family
    shared between them), one listed picture, one generated picture; four actions."""
    home = tmp_path / "home"
    DB_URLS[home] = db
    phone = pictures(tmp_path / "phone", n=2, seed=810)
    (phone / "gen.png").write_bytes(a1111_png())
    laptop = tmp_path / "laptop"
    laptop.mkdir()
    Image.open(phone / "photo-0.png").save(laptop / "copy-of-0.png")  # same picture
    sha = json.loads(run(home, "hash", phone / "photo-1.png", "--json"))["sha256"]
    (tmp_path / "known.txt").write_text(f"sha256 {sha}\n")
    run(home, "lists", "import", tmp_path / "known.txt", "--name", "known-demo", "--format",
        "te-local")
    run(home, "cases", "create", "op-harbour")
    run(home, "suspects", "add", "S-01", "--case", "op-harbour", "--country", "DK",
        "--account", "telegram:user-0042", "--email", "user-0042@example.test",
        "--payment", "DK0000000000001234")
    run(home, "suspects", "add", "S-02", "--case", "op-harbour", "--country", "NL",
        "--account", "forum:user-0043")
    run(home, "devices", "add", "D-01", "--case", "op-harbour", "--suspect", "S-01", "--kind",
        "phone", "--seized-at", "2024-11-05", "--seized-where", "Aarhus")
    run(home, "devices", "add", "D-02", "--case", "op-harbour", "--suspect", "S-02", "--kind",
        "laptop", "--seized-at", "2024-11-06")
    run(home, "scan", phone, "--case", "op-harbour", "--device", "D-01", "--no-progress")
    run(home, "scan", laptop, "--case", "op-harbour", "--device", "D-02", "--no-progress")
    for kind, country, suspect, date in (("arrest", "DK", "S-01", "2024-11-05"),
                                         ("house-search", "NL", "S-02", "2024-11-06"),
                                         ("knock-and-talk", "NL", "S-02", "2024-11-20"),
                                         ("warning-letter", "DK", "S-01", "2024-12-01")):
        run(home, "actions", "add", "--case", "op-harbour", "--kind", kind, "--suspect",
            suspect, "--date", date, "--country", country, "--agency", "Police-North")
    (tmp_path / "notes.md").write_text(NOTES)
    yield home
    DB_URLS.pop(home)


def incident(home: Path, out: Path) -> dict:
    run(home, "report", "--case", "op-harbour", "--format", "incident", "--notes",
        out.parent / "notes.md", "-o", out)
    return json.loads(out.read_text()) if out.suffix == ".json" else {}


def test_sections_and_figures_come_from_the_store(operation: Path, tmp_path: Path) -> None:
    r = incident(operation, tmp_path / "incident.json")
    imp = r["impact"]
    assert (imp["items"], imp["items_known_material"], imp["items_synthetic"]) == (4, 1, 1)
    assert (imp["suspects"], imp["devices"], imp["families_across_suspects"]) == (2, 2, 1)
    assert imp["suspects_with_known_material"] == 1
    d = r["incident_details"]
    assert d["countries"] == ["DK", "NL"] and d["agencies"] == ["Police-North"]
    assert {(s["name"], s["device"], s["suspect"]) for s in d["sources"]} == {
        ("phone", "D-01", "S-01"), ("laptop", "D-02", "S-02")}
    assert r["response_actions"] == [
        {"country": "DK", "actions": {"arrest": 1, "warning-letter": 1}, "total": 2},
        {"country": "NL", "actions": {"house-search": 1, "knock-and-talk": 1}, "total": 2}]
    kinds = [e["kind"] for e in r["timeline"]]
    assert {"record", "seizure", "action"} <= set(kinds)
    assert [e["time"] for e in r["timeline"]] == sorted(e["time"] for e in r["timeline"])
    assert any("device D-01 (phone) seized at Aarhus" in e["what"] for e in r["timeline"])
    f = r["findings"]
    assert f["known_material"] == {"items": 1, "by_list": {"known-demo": 1}}
    assert f["synthetic"]["generators"] == {"automatic1111": 1}
    assert [x["sources"] for x in f["families_across_suspects"]] == [["laptop", "phone"]]
    assert r["lessons_learned"].startswith("- Archives on the phone")
    assert r["recommendations"].startswith("- Share the new hashes")
    assert "Context that is not a section" in r["notes"]
    assert "2 suspect(s)" in r["executive_summary"] and "1 arrest" in r["executive_summary"]


def test_indicators_are_defanged_and_payments_masked(operation: Path, tmp_path: Path) -> None:
    r = incident(operation, tmp_path / "incident.json")
    values = {(i["suspect"], i["kind"]): i["value"] for i in r["indicators"]["identifiers"]}
    assert values[("S-01", "email")] == "user-0042[@]example[.]test"
    assert values[("S-01", "payment")] == "*" * 14 + "1234"
    assert values[("S-01", "account")] == "telegram:user-0042"
    md = (tmp_path / "x.md")
    incident(operation, md)
    text = md.read_text()
    assert "DK0000000000001234" not in text and "user-0042@example.test" not in text
    for title in ("Executive summary", "Incident details", "Timeline of events", "Methodology",
                  "Impact assessment", "Indicators (defanged)", "Response actions by country",
                  "Findings", "Lessons learned", "Recommendations"):
        assert f"## {title}" in text


def test_every_format_is_deterministic(operation: Path, tmp_path: Path) -> None:
    for ext in ("json", "md", "html"):
        a, b = tmp_path / f"a.{ext}", tmp_path / f"b.{ext}"
        incident(operation, a)
        incident(operation, b)
        assert a.read_bytes() == b.read_bytes(), ext
    html = (tmp_path / "a.html").read_text()
    assert "@page" in html and "counter(pages)" in html and "op-harbour" in html
    log = json.loads(run(operation, "custody", "show", "--case", "op-harbour", "--json"))
    assert [e["details"]["format"] for e in log if e["action"] == "report.written"][:2] == [
        "incident-json", "incident-json"]


def test_pdf_where_chromium_is(operation: Path, tmp_path: Path) -> None:
    if not any(shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome")):
        out = run(operation, "report", "--case", "op-harbour", "--format", "incident", "-o",
                  tmp_path / "r.pdf", ok=(2,))
        assert "needs Chromium" in out
        return
    run(operation, "report", "--case", "op-harbour", "--format", "incident", "-o",
        tmp_path / "r.pdf")
    assert (tmp_path / "r.pdf").read_bytes().startswith(b"%PDF-")


def test_the_case_report_shows_what_was_found_per_suspect_and_device(operation: Path) -> None:
    rep = report_json(operation, "op-harbour")
    by = {s["id"]: s for s in rep["people"]["suspects"]}
    assert (by["S-01"]["devices"], by["S-01"]["matched_items"], by["S-01"]["synthetic_items"]) \
        == (["D-01"], 1, 1)
    assert (by["S-02"]["items"], by["S-02"]["matched_items"]) == (1, 0)
    html = run(operation, "report", "--case", "op-harbour", "--format", "html")
    assert "Suspects and devices" in html and "D-02" in html
