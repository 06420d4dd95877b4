"""Triage of suspects (issue 16 §3): crafted suspects land in the tiers the rules say, each
citing its rule; the rules (shipped or given) are printed with the advisory; a bad rules
file is refused naming the problem; platform counts come in through one function."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from cairn.cases import triage
from inprocess import DB_URLS, database, run
from operation_fixtures import CASE, build_operation

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def home(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[Path]:
    for db in database(request.param):
        tmp = tmp_path_factory.mktemp("triage")
        h = tmp / "home"
        DB_URLS[h] = db
        build_operation(tmp, h)
        yield h
        DB_URLS.pop(h)


def _triage(home: Path, *args: object, ok: tuple[int, ...] = (0,)) -> dict:
    return json.loads(run(home, "suspects", "triage", "--case", CASE, "--json", *args, ok=ok))


def test_crafted_suspects_land_in_their_tiers_citing_the_rule(home: Path) -> None:
    r = _triage(home)
    by = {s["id"]: s for s in r["suspects"]}
    assert {k: (s["tier"], s["rule"]) for k, s in by.items()} == {
        "S-PROD": ("producer/distributor", "private-model-and-output"),
        "S-FP": ("producer/distributor", "shared-private-fingerprint"),
        "S-REPEAT": ("repeat buyer", "repeat-holder"),
        "S-SINGLE": ("single buyer", "single-buyer"),
        "S-NONE": ("insufficient evidence", "no-evidence")}
    assert r["tiers"] == {"producer/distributor": 2, "repeat buyer": 1, "single buyer": 1,
                          "insufficient evidence": 1}
    prod, fp = by["S-PROD"]["counts"], by["S-FP"]["counts"]
    assert (prod["model_files"], prod["synthetic_items"], prod["known_material"]) == (1, 1, 1)
    # both cite the public checkpoint 6ce0161689 and the seized LoRA: only the LoRA links them
    assert "6ce0161689" in by["S-FP"]["fingerprints"]
    assert (prod["fingerprints_shared"], fp["fingerprints_shared"]) == (1, 1)
    assert by["S-FP"]["shared_with"] == ["S-PROD"] and fp["model_files"] == 0
    assert by["S-REPEAT"]["counts"]["known_material"] == 2
    assert by["S-NONE"]["counts"]["shared_families"] == 1
    assert by["S-NONE"]["shared_with"] == ["S-SINGLE"]
    assert by["S-PROD"]["conditions"] == ["all: model_files >= 1, synthetic_items >= 1"]
    assert all(s["counts"][k] == 0 for s in r["suspects"] for k in triage.PLATFORM_FIELDS)
    assert "nothing is actioned automatically" in r["advisory"]
    assert r["rules"] == {"source": "default", "text": triage.DEFAULT_RULES.read_text()}


def test_text_output_says_advisory_and_prints_the_rules(home: Path) -> None:
    text = run(home, "suspects", "triage", "--case", CASE)
    assert text.startswith(f"Triage of case {CASE}: suggestion only: nothing is actioned "
                           "automatically")
    assert ("S-FP (NL): suggested tier 'producer/distributor' by rule "
            "shared-private-fingerprint") in text
    assert triage.DEFAULT_RULES.read_text().rstrip() in text


def test_rules_file_overrides_the_default(home: Path, tmp_path: Path) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text('version = 1\n[[rule]]\nname = "holds-known"\ntier = "review first"\n'
                     'why = "any known material"\nall = ["known_material >= 1"]\n')
    r = _triage(home, "--rules", rules)
    tiers = {s["id"]: (s["tier"], s["rule"]) for s in r["suspects"]}
    assert tiers["S-REPEAT"] == tiers["S-PROD"] == ("review first", "holds-known")
    assert tiers["S-FP"] == ("insufficient evidence", None)  # no rule held: said so
    assert r["rules"]["source"] == str(rules) and "holds-known" in r["rules"]["text"]
    assert "holds-known" in run(home, "suspects", "triage", "--case", CASE, "--rules", rules)


@pytest.mark.parametrize(("text", "problem"), [
    ("[[rule]\nname = 'x'", "not TOML"),
    ("version = 1\n", "no [[rule]] tables"),
    ("version = 2\n[[rule]]\nname='a'\ntier='t'\n", "version 2"),
    ("colour = 1\n[[rule]]\nname='a'\ntier='t'\n", "unknown key(s) colour"),
    ("[[rule]]\nname='a'\n", "rule 1 ('a'): `tier` must be a non-empty string"),
    ("[[rule]]\nname='a'\ntier='t'\nall=['evidence >= 1']\n", "unknown field 'evidence'"),
    ("[[rule]]\nname='a'\ntier='t'\nany=['payments => 1']\n", "is not FIELD OP NUMBER"),
    ("[[rule]]\nname='a'\ntier='t'\nall='payments >= 1'\n", "`all` must be a list"),
    ("[[rule]]\nname='a'\ntier='t'\n[[rule]]\nname='a'\ntier='u'\n",
     "rule 2 ('a'): the name is used by an earlier rule"),
    ("[[rule]]\nname='a'\ntier='t'\nwhen=['x']\n", "unknown key(s) when"),
])
def test_bad_rules_are_refused_naming_the_problem(text: str, problem: str) -> None:
    with pytest.raises(triage.TriageError, match="rules file r.toml") as e:
        triage.parse_rules(text, "r.toml")
    assert problem in str(e.value)


def test_bad_rules_file_on_the_command_line(home: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[[rule]]\nname = 'a'\ntier = 't'\nall = ['uploads >> 1']\n")
    out = run(home, "suspects", "triage", "--case", CASE, "--rules", bad, ok=(2,))
    assert "bad.toml: rule 1 ('a'): `all`: 'uploads >> 1' is not FIELD OP NUMBER" in out
    out = run(home, "suspects", "triage", "--case", CASE, "--rules", tmp_path / "none.toml",
              ok=(2,))
    assert "none.toml: cannot read it" in out


def test_platform_counts_enter_through_the_extension_point(
        home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def records(store: object, case_id: int, suspects: list[str]) -> dict:
        out = {s: dict.fromkeys(triage.PLATFORM_FIELDS, 0) for s in suspects}
        out["S-NONE"] |= {"payments": 3, "payments_total": 90.0, "payment_span_days": 40}
        return out

    monkeypatch.setattr(triage, "platform_counts", records)
    r = _triage(home)
    none = next(s for s in r["suspects"] if s["id"] == "S-NONE")
    assert (none["tier"], none["rule"]) == ("repeat buyer", "repeat-buyer-records")
    assert none["counts"]["payments"] == 3


def test_default_rules_parse_and_ship_as_package_data() -> None:
    rules = triage.load_rules()
    assert [r.name for r in rules.rules][-1] == "no-evidence"  # holds for everyone
    assert not rules.rules[-1].all and not rules.rules[-1].any
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "cases/triage_rules.toml" in data["tool"]["setuptools"]["package-data"]["cairn"]


def test_platform_records_of_a_suspects_accounts_count(tmp_path: Path) -> None:
    """A seized platform's records, their account accepted as a suspect's: its downloads and
    payments (count, total, span) enter triage and move the suspect's tier."""
    import csv

    home = tmp_path / "home"
    DB_URLS[home] = None
    try:
        build_operation(tmp_path, home)
        records = tmp_path / "records"
        records.mkdir()
        for name, header, rows in (
                ("accounts", ["id", "emails"], [["user-0042", "user-0042@example.test"]]),
                ("payments", ["account", "time", "amount", "currency", "payment_id"],
                 [["user-0042", f"2024-0{m}-01T10:00:00Z", "30.00", "EUR", "card-0042"]
                  for m in (1, 2, 4)]),
                ("transfers", ["account", "time", "direction", "sha256"],
                 [["user-0042", "2024-02-02T10:00:00Z", "download", "ab" * 32],
                  ["user-0042", "2024-02-03T10:00:00Z", "download", "cd" * 32]])):
            with open(records / f"{name}.csv", "w", newline="", encoding="utf-8") as f:
                csv.writer(f).writerows([header, *rows])
        run(home, "platform", "import", records, "--case", CASE, "--platform", "demo-shop")
        before = {s["id"]: s for s in _triage(home)["suspects"]}
        assert before["S-NONE"]["counts"]["payments"] == 0
        run(home, "suspects", "merge", "--case", CASE, "--into", "S-NONE", "--account",
            "demo-shop:user-0042")
        by = {s["id"]: s for s in _triage(home)["suspects"]}
        counts = by["S-NONE"]["counts"]
        assert (counts["payments"], counts["payments_total"], counts["downloads"],
                counts["uploads"]) == (3, 90.0, 2, 0)
        assert counts["payment_span_days"] == 91.0
        assert (by["S-NONE"]["tier"], by["S-NONE"]["rule"]) == ("repeat buyer",
                                                                 "repeat-buyer-records")
    finally:
        DB_URLS.pop(home)
