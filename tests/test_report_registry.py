"""The report registries hold together: every report format the CLI offers is a registered
renderer (and the reverse), every renderer turns a real case's report into text of its media
type, and every finding kind the provenance readers can emit has a one-line summary."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from tests.inprocess import pictures, run

from cairn.cases.report import FORMATS, RENDERERS, SUMMARIES, build, finding_summary
from cairn.cli import REPORT_FORMATS
from cairn.provenance.finding import KINDS
from cairn.store import Store


def test_cli_offers_every_renderer() -> None:
    assert set(REPORT_FORMATS) == set(RENDERERS) == set(FORMATS)


def test_every_finding_kind_has_a_summary() -> None:
    assert set(KINDS) <= set(SUMMARIES), set(KINDS) - set(SUMMARIES)
    for kind in KINDS:  # the summary of an empty finding of each kind never raises
        line = finding_summary({"kind": kind, "strength": "declared", "source": "test"})
        assert line.startswith(f"{kind} (declared, test)")


@pytest.fixture
def report(tmp_path: Path) -> dict:
    home = tmp_path / "home"
    run(home, "scan", pictures(tmp_path / "evidence"), "--case", "reg", "--new-case")
    store = Store.open(home)
    try:
        return build(store, "reg")
    finally:
        store.close()


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_renderer_writes_its_media_type(report: dict, fmt: str) -> None:
    r = RENDERERS[fmt]
    text, held = r.render(report, "amber")
    assert text and held == []
    if r.media_type == "application/json":
        json.loads(text)
    elif r.media_type == "text/csv":
        rows = list(csv.reader(io.StringIO(text)))
        assert len(rows) == 1 + len(report["items"])
    else:
        assert text.lstrip().lower().startswith("<!doctype html")
