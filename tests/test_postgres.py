"""The same work on a real PostgreSQL as on SQLite: migrations, list import and index,
withdrawal, scan, report, trace. `.ci/run` starts a throwaway cluster and sets
CAIRN_TEST_POSTGRES_URL; elsewhere these tests say why they skip."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from conftest import CAIRN
from exhibit import EXPECT_MATCHES, build
from inprocess import DB_URLS, database, report_json, scan_case, scan_report
from test_archives_hostile import zip_with_nul_in_name
from test_identity import long_name_zip

URL = os.environ.get("CAIRN_TEST_POSTGRES_URL")
pytestmark = pytest.mark.skipif(not URL, reason="no PostgreSQL: set CAIRN_TEST_POSTGRES_URL "
                                "(.ci/run starts one)")


@pytest.fixture
def pg_url() -> Iterator[str | None]:
    """A fresh database on the test cluster, dropped afterwards."""
    yield from database("postgresql")


@pytest.fixture(autouse=True)
def _forget_homes(tmp_path: Path) -> Iterator[None]:
    """The homes a test pointed at a database (for the in-process scan and report) are
    forgotten after it."""
    yield
    for home in [h for h in DB_URLS if tmp_path in h.parents]:
        DB_URLS.pop(home)


def run(home: Path, db: str | None, *args: str | Path, ok: tuple[int, ...] = (0,)) -> str:
    env = os.environ | {"CAIRN_HOME": str(home), "COLUMNS": "200"}
    env.pop("CAIRN_DATABASE_URL", None)
    if db:
        env["CAIRN_DATABASE_URL"] = db
    proc = subprocess.run([CAIRN, *map(str, args)], capture_output=True, text=True, env=env,
                          timeout=600)
    assert proc.returncode in ok, proc.stderr
    return proc.stdout


def _flow(home: Path, db: str | None, evidence: Path, lists: dict) -> tuple[dict, dict]:
    for name, path in lists.items():
        run(home, db, "lists", "import", path, "--name", name, ok=(0, 3))
    DB_URLS[home] = db
    report = scan_report(home, evidence, "pg")
    trace = json.loads(run(home, db, "trace", "--case", "pg", "--json"))
    return report, trace


def _essence(report: dict) -> dict:
    return {it["path"]: (it["sha256"], (it["pdq"] or {}).get("hash"),
                         sorted((m["list"], m["signal"], m["distance"]) for m in it["matches"]),
                         len(it["errors"]))
            for it in report["items"]}


def test_postgres_gives_what_sqlite_gives(pg_url: str, tmp_path: Path) -> None:
    made = build(tmp_path / "ev")
    evidence = made["exhibit"]
    lists = {"pdqs": made["lists"] / "known.csv", "md5s": made["lists"] / "known.md5",
             "videos": made["lists"] / "videos.csv"}
    pg_report, pg_trace = _flow(tmp_path / "pg-home", pg_url, evidence, lists)
    lite_report, lite_trace = _flow(tmp_path / "lite-home", None, evidence, lists)
    assert _essence(pg_report) == _essence(lite_report)
    matched = {p: {(m[0], m[1]) for m in e[2]} for p, e in _essence(pg_report).items() if e[2]}
    assert matched == EXPECT_MATCHES
    assert [f["size"] for f in pg_trace["families"]] == [
        f["size"] for f in lite_trace["families"]]
    engine = create_engine(pg_url)
    with engine.connect() as c:  # it really is PostgreSQL holding the rows
        assert c.execute(text("select count(*) from items")).scalar_one() == len(
            pg_report["items"])
        assert c.execute(text("select version_num from alembic_version")).scalar_one()
    engine.dispose()
    # idempotent rescan, list withdrawal and the list index work the same on PostgreSQL
    again = scan_report(tmp_path / "pg-home", evidence, "pg")
    assert _essence(again) == _essence(pg_report)
    name = next(iter(lists))
    info = json.loads(run(tmp_path / "pg-home", pg_url, "lists", "index", "--json"))
    assert info["active_entries"] > 0
    run(tmp_path / "pg-home", pg_url, "lists", "remove", name, "--force")  # matches kept
    after = json.loads(run(tmp_path / "pg-home", pg_url, "lists", "index", "--json"))
    assert after["active_entries"] < info["active_entries"]


def test_hostile_member_names_are_recorded_on_postgres(pg_url: str, tmp_path: Path) -> None:
    """A member name holding NUL (PostgreSQL refuses NUL in text) and one of 3,000
    incompressible bytes (past a btree entry's 2,704) failed the batch insert, and the run
    stayed `running`; both are recorded now, the run complete, a rescan adds nothing."""
    ev = tmp_path / "ev"
    ev.mkdir()
    name = long_name_zip(ev / "long.zip")
    (ev / "nul.zip").write_bytes(zip_with_nul_in_name())
    home = tmp_path / "home"
    DB_URLS[home] = pg_url
    first = scan_case(home, ev, "pg")
    assert first["status"] == "complete" and first["new_items"] == 4
    paths = {it["path"] for it in report_json(home, "pg")["items"]}
    assert paths == {"long.zip", f"long.zip!/{name}", "nul.zip", "nul.zip!/a.jpg"}
    again = scan_case(home, ev, "pg")
    assert again["status"] == "complete" and again["new_items"] == 0
