"""Cases that stay true as lists change (issue 15 §3): a list imported after a scan applies
to the case; matches are never deleted but change status (withdrawn, false positive, list
removed) with who and when, shown in every report format and not counted; feedback takes the
path as on disk; reports name their record (examiner, runs, custody head) and stay
byte-identical however often they are written."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from inprocess import DB_URLS, EXAMINER, database, pictures, report_json, run


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest) -> Iterator[str | None]:
    yield from database(request.param)


@pytest.fixture
def scanned(tmp_path: Path, db: str | None) -> Iterator[tuple[Path, Path, list[str]]]:
    """A case scanned before any list exists; (home, evidence, sha256 of photo-0..2)."""
    home = tmp_path / "home"
    DB_URLS[home] = db
    ev = pictures(tmp_path / "exhibit-07")
    run(home, "scan", ev, "--case", "op-demo", "--new-case", "--no-progress")
    shas = [json.loads(run(home, "hash", ev / f"photo-{i}.png", "--json"))["sha256"]
            for i in range(3)]
    yield home, ev, shas
    DB_URLS.pop(home)


def _list(tmp_path: Path, name: str, *shas: str) -> Path:
    p = tmp_path / f"{name}.txt"
    p.write_text("".join(f"sha256 {s}\n" for s in shas))
    return p


def report(home: Path) -> dict:
    return report_json(home, "op-demo")


def statuses(rep: dict) -> dict[str, list[str]]:
    return {it["path"]: [m["status"] for m in it["matches"]] for it in rep["items"]
            if it["matches"]}


def test_a_list_imported_after_the_scan_applies_to_the_case(scanned, tmp_path: Path) -> None:
    home, ev, shas = scanned
    assert report(home)["summary"]["items_matched"] == 0
    out = json.loads(run(home, "lists", "import", _list(tmp_path, "later", shas[0]),
                         "--name", "later", "--format", "te-local", "--json"))
    assert out["rematch"] == [{"case": "op-demo", "items": 3, "new_matches": 1,
                               "entries": 1, "by_list": {"later": 1}}]
    assert statuses(report(home)) == {"photo-0.png": ["active"]}
    # --no-rematch leaves it to `cairn rematch`, which then agrees with `cairn match`
    run(home, "lists", "import", _list(tmp_path, "quiet", shas[1]), "--name", "quiet",
        "--format", "te-local", "--no-rematch")
    assert "photo-1.png" not in statuses(report(home))
    assert json.loads(run(home, "match", ev / "photo-1.png", "--json"))["matches"]
    res = json.loads(run(home, "rematch", "--case", "op-demo", "--json"))
    assert res["new_matches"] == 1 and res["by_list"] == {"quiet": 1}
    assert json.loads(run(home, "rematch", "--case", "op-demo", "--json"))["new_matches"] == 0
    log = json.loads(run(home, "custody", "show", "--case", "op-demo", "--json"))
    added = [e["details"] for e in log if e["action"] == "matches.added"]
    assert added == [{"why": "list later imported", "matches": 1, "by_list": {"later": 1}},
                     {"why": "rematch", "matches": 1, "by_list": {"quiet": 1}}]


def test_removing_a_list_keeps_its_matches_as_history(scanned, tmp_path: Path) -> None:
    home, ev, shas = scanned
    run(home, "lists", "import", _list(tmp_path, "demo", *shas[:2]), "--name", "demo-list",
        "--format", "te-local")
    assert report(home)["summary"]["items_matched"] == 2
    refused = run(home, "lists", "remove", "demo-list", ok=(2,))
    assert "2 active match(es)" in refused and "op-demo: 2" in refused and "--force" in refused
    assert report(home)["summary"]["items_matched"] == 2  # nothing changed
    res = json.loads(run(home, "lists", "remove", "demo-list", "--force", "--json"))
    assert res["matches_by_case"] == {"1": 2}
    rep = report(home)
    assert rep["summary"]["items_matched"] == 0
    assert rep["summary"]["matches_not_counted"] == {"list_removed": 2}
    assert statuses(rep) == {"photo-0.png": ["list_removed"], "photo-1.png": ["list_removed"]}
    m = rep["items"][0]["matches"][0]
    assert m["status_by"] == EXAMINER and m["status_at"] and m["list"].startswith("demo-list (")
    names = [x["name"] for x in json.loads(run(home, "lists", "--json"))]
    assert "demo-list" not in names  # out of use; a new list may take the name
    assert not json.loads(run(home, "match", ev / "photo-0.png", "--json",
                              ok=(1,)))["matches"]  # its entries no longer match
    run(home, "lists", "import", _list(tmp_path, "again", shas[0]), "--name", "demo-list",
        "--format", "te-local")
    assert sorted(statuses(report(home))["photo-0.png"]) == ["active", "list_removed"]
    assert json.loads(run(home, "custody", "verify", "--json"))["ok"]


def test_false_positive_shows_in_every_format_and_is_not_counted(scanned,
                                                                 tmp_path: Path) -> None:
    home, ev, shas = scanned
    run(home, "lists", "import", _list(tmp_path, "demo", *shas), "--name", "demo-list",
        "--format", "te-local")
    # the path as on disk, not only as the report shows it
    run(home, "feedback", ev / "photo-2.png", "--case", "op-demo", "--false-positive",
        "--note", "a test pattern, not the listed picture")
    run(home, "lists", "withdraw", "demo-list", shas[1], "--note", "publisher retracted")
    rep = report(home)
    assert statuses(rep) == {"photo-0.png": ["active"], "photo-1.png": ["withdrawn"],
                             "photo-2.png": ["false_positive"]}
    assert rep["summary"]["items_matched"] == 1
    assert rep["summary"]["matches_not_counted"] == {"withdrawn": 1, "false_positive": 1}
    fp = next(it for it in rep["items"] if it["path"] == "photo-2.png")["matches"][0]
    assert fp["status_by"] == EXAMINER and "1 false-positive opinion" in fp["status_note"]
    rows = {r["path"]: r for r in csv.DictReader(io.StringIO(
        run(home, "report", "--case", "op-demo", "--format", "csv")))}
    assert rows["photo-2.png"]["matched"] == "no" and "[false_positive]" in \
        rows["photo-2.png"]["matches"]
    assert rows["photo-0.png"]["matched"] == "yes"
    html = run(home, "report", "--case", "op-demo", "--format", "html")
    assert "Matches (1 items)" in html and "false positive" in html and "withdrawn" in html
    vics = json.loads(run(home, "report", "--case", "op-demo", "--format", "vics"))
    media = vics["value"][0]["Media"]
    assert [m["MediaFiles"][0]["FilePath"] for m in media] == ["photo-0.png"]
    run(home, "lists", "reinstate", "demo-list", shas[1])
    assert statuses(report(home))["photo-1.png"] == ["active"]
    log = [e["action"] for e in json.loads(run(home, "custody", "show", "--case", "op-demo",
                                               "--json"))]
    assert {"matches.false_positive", "matches.withdrawn", "matches.active"} <= set(log)


def test_feedback_refuses_a_path_with_no_match(scanned) -> None:
    home, ev, _ = scanned
    out = run(home, "feedback", ev / "photo-0.png", "--case", "op-demo", "--confirmed",
              ok=(2,))
    assert "no recorded match" in out and "as on disk" in out


def test_reports_name_their_record_and_stay_identical(scanned, tmp_path: Path) -> None:
    home, _, shas = scanned
    run(home, "lists", "import", _list(tmp_path, "demo", shas[0]), "--name", "demo-list",
        "--format", "te-local")
    first = run(home, "report", "--case", "op-demo", "--format", "json")
    html = [run(home, "report", "--case", "op-demo", "--format", "html") for _ in range(2)]
    assert run(home, "report", "--case", "op-demo", "--format", "json") == first
    assert html[0] == html[1]
    rec = json.loads(first)["record"]
    assert rec["examiners"] == [EXAMINER]
    assert [(r["run"], r["status"], r["tool_version"]) for r in rec["scan_runs"]] == [
        (1, "complete", rec["scan_runs"][0]["tool_version"])]
    log = json.loads(run(home, "custody", "show", "--case", "op-demo", "--json"))
    changes = [e for e in log if e["action"] not in ("report.written",)]
    assert rec["custody_head"]["hash"] == changes[-1]["hash"]
    written = [e for e in log if e["action"] == "report.written"]
    assert len(written) == 4 and written[0]["details"]["format"] == "json"
    assert f"custody log entry {changes[-1]['seq']}" in html[0]


def test_two_sources_of_one_name_are_refused(scanned, tmp_path: Path) -> None:
    home, _, _ = scanned
    other = pictures(tmp_path / "elsewhere" / "exhibit-07", n=1, seed=900)
    out = run(home, "scan", other, "--case", "op-demo", "--new-case", "--no-progress", ok=(2,))
    assert "already has a source named 'exhibit-07'" in out and "--source-name" in out
    log = json.loads(run(home, "custody", "show", "--case", "op-demo", "--json"))
    assert [e["action"] for e in log].count("source.added") == 1  # nothing written
    run(home, "scan", other, "--case", "op-demo", "--new-case", "--source-name", "exhibit-07b",
        "--no-progress")
    rep = report(home)
    assert {s["name"] for s in rep["sources"]} == {"exhibit-07", "exhibit-07b"}
    run(home, "scan", tmp_path / "exhibit-07", "--case", "op-demo", "--new-case",
        "--no-progress")  # again


def test_a_typo_in_the_case_does_not_open_a_new_one(scanned, tmp_path: Path) -> None:
    home, ev, _ = scanned
    out = run(home, "scan", ev, "--case", "op-dmeo", "--no-progress", ok=(2,))
    assert "no case named 'op-dmeo'; did you mean 'op-demo'?" in out and "--new-case" in out
    assert [c["name"] for c in json.loads(run(home, "cases", "--json"))] == ["op-demo"]
    run(home, "scan", ev, "--case", "op-2", "--new-case", "--no-progress")
    assert len(json.loads(run(home, "cases", "--json"))) == 2
