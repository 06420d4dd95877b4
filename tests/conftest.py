"""Shared fixtures: where the reference data lives, and running `cairn` as a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cairn.store.store import Store
from inprocess import DB_URLS, EXAMINER, database

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CAIRN_SHARED", REPO.parent / "shared"))
REFERENCE = SHARED / "reference" / "threatexchange"
CAIRN = str(Path(sys.executable).parent / "cairn")


@pytest.fixture(scope="session")
def reference() -> Path:
    if not (REFERENCE / "expected-pdq-pytx.csv").exists():
        pytest.skip(f"PDQ reference data not found at {REFERENCE} (set CAIRN_SHARED to the "
                    "shared/ folder that holds reference/threatexchange)")
    return REFERENCE


class Cairn:
    """Runs the installed `cairn` console script against one store."""

    def __init__(self, home: Path) -> None:
        self.home = home

    def run(self, *args: str | Path, ok: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess:
        env = os.environ | {"CAIRN_HOME": str(self.home), "COLUMNS": "200"}
        env.pop("CAIRN_DATABASE_URL", None)
        proc = subprocess.run([CAIRN, *map(str, args)], capture_output=True, text=True, env=env,
                              timeout=600)
        assert proc.returncode in ok, (
            f"cairn {' '.join(map(str, args))} exited {proc.returncode}\n"
            f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
        return proc

    def json(self, *args: str | Path, ok: tuple[int, ...] = (0,)) -> object:
        return json.loads(self.run(*args, "--json", ok=ok).stdout)


@pytest.fixture
def cairn(tmp_path: Path) -> Cairn:
    return Cairn(tmp_path / "home")


@pytest.fixture(params=["sqlite", "postgresql"])
def home(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path]:
    """A store home on SQLite or a fresh PostgreSQL database (a module's own `home`
    fixture, where it has one, takes its place)."""
    h = tmp_path / "home"
    for url in database(request.param):
        DB_URLS[h] = url
        yield h
        DB_URLS.pop(h, None)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
          ) -> Iterator[Store]:
    """A store in a fresh home, on SQLite and on PostgreSQL (where one is configured)."""
    monkeypatch.setenv("CAIRN_EXAMINER", EXAMINER)
    home = tmp_path / "home"
    for url in database(request.param):
        home.mkdir(parents=True, exist_ok=True)
        DB_URLS[home] = url
        s = Store(url, home) if url else Store.open(home)
        yield s
        s.close()
        DB_URLS.pop(home, None)
