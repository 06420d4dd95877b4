"""`cairn` run in-process (click's runner: no interpreter start per command) on a store in
SQLite or, where the CI started one, PostgreSQL; the scan-then-report steps most report tests
begin with; and benign pictures to scan."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result
from PIL import Image
from sqlalchemy import create_engine, text

from cairn.cli import cli

EXAMINER = "examiner-01"
PG = os.environ.get("CAIRN_TEST_POSTGRES_URL")
DB_URLS: dict[Path, str | None] = {}  # home -> the database its store is in (None: SQLite)


def database(kind: str) -> Iterator[str | None]:
    """None (the home's SQLite file) or a fresh database on the CI's PostgreSQL, dropped
    afterwards; a test without PostgreSQL skips, saying why."""
    if kind == "sqlite":
        yield None
        return
    if not PG:
        pytest.skip("no PostgreSQL: set CAIRN_TEST_POSTGRES_URL (.ci/run starts one)")
    name = f"cairn_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    base, _, query = PG.partition("?")
    yield f"{base.rsplit('/', 1)[0]}/{name}?{query}"
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


def invoke(home: Path, *args: object, ok: tuple[int, ...] = (0,), examiner: str = EXAMINER
           ) -> Result:
    """`cairn` in-process, as the examiner, on the home's database; its result, both streams
    kept apart (`stdout`) and together (`output`)."""
    res = CliRunner().invoke(cli, [str(a) for a in args], obj={}, catch_exceptions=False,
                             env={"CAIRN_HOME": str(home), "CAIRN_EXAMINER": examiner,
                                  "CAIRN_DATABASE_URL": DB_URLS.get(home), "COLUMNS": "200"})
    assert res.exit_code in ok, f"cairn {args} exited {res.exit_code}:\n{res.output}"
    return res


def run(home: Path, *args: object, ok: tuple[int, ...] = (0,), examiner: str = EXAMINER
        ) -> str:
    """`cairn` in-process, as the examiner, on the home's database; its output."""
    return invoke(home, *args, ok=ok, examiner=examiner).output


def scan_case(home: Path, exhibit: Path, case: str, *extra: object) -> dict:
    """`cairn scan EXHIBIT --case CASE --new-case` (and `extra`), which must succeed; its
    JSON summary."""
    return json.loads(invoke(home, "scan", exhibit, "--case", case, "--new-case", "--json",
                             "--no-progress", *extra).stdout)


def report_json(home: Path, case: str, *extra: object) -> dict:
    """The case's JSON report (`cairn report --case CASE --format json`, and `extra`), read
    back as the data it holds."""
    return json.loads(invoke(home, "report", "--case", case, "--format", "json", *extra).stdout)


def scan_report(home: Path, exhibit: Path, case: str, *extra: object) -> dict:
    """The steps most report tests begin with: scan the exhibit into the case (made anew
    where it is not there yet), with the scan's `extra` options; the case's JSON report."""
    scan_case(home, exhibit, case, *extra)
    return report_json(home, case)


def pictures(folder: Path, n: int = 3, seed: int = 700) -> Path:
    """`n` noise pictures (benign), photo-0.png ... in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        px = (np.random.default_rng(seed + i).random((48, 64, 3)) * 255).astype("uint8")
        Image.fromarray(px).save(folder / f"photo-{i}.png")
    return folder
