"""An interrupted scan (Ctrl-C, kill -9) resumes on rerun and never duplicates an item; the
rerun that finishes the work closes the unfinished runs, so the report counts none."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from cairn.cases.report import build as build_report
from cairn.demo import jpeg_bytes, picture
from cairn.scan.isolation import FAULT_ENV
from cairn.scan.pipeline import scan
from cairn.store import Store
from cairn.store.common import StoreError
from conftest import CAIRN

N_FILES = 1500


def _count(db: Path) -> int:
    try:
        with sqlite3.connect(db, timeout=5) as con:
            return con.execute("select count(*) from items").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def _start(home: Path, exhibit: Path) -> subprocess.Popen:
    """A scan to be stopped: one worker stalls on the last file, so however late the test
    sees its progress under load, the scan cannot have finished first."""
    env = os.environ | {"CAIRN_HOME": str(home), FAULT_ENV: f"{N_FILES - 1:05d}.jpg:hang"}
    return subprocess.Popen([CAIRN, "scan", str(exhibit), "--case", "c", "--new-case",
                             "--workers", "2",
                             "--no-progress"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _interrupt_after(proc: subprocess.Popen, db: Path, at_least: int, sig: int) -> int:
    deadline = time.monotonic() + 120
    while _count(db) < at_least:
        if proc.poll() is not None:
            pytest.fail(f"scan finished before it could be interrupted: {proc.stderr.read()}")
        assert time.monotonic() < deadline, "scan made no progress"
        time.sleep(0.01)
    proc.send_signal(sig)
    proc.wait(timeout=60)
    return proc.returncode


@pytest.fixture(scope="module")
def many_files(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("many")
    for i in range(N_FILES):
        d = root / f"d{i % 10}"
        d.mkdir(exist_ok=True)
        (d / f"{i:05d}.jpg").write_bytes(jpeg_bytes(picture(i, (64, 48)), 80))
    return root


def test_ctrl_c_then_kill_9_then_resume(many_files: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    db = home / "cairn.db"

    proc = _start(home, many_files)
    assert _interrupt_after(proc, db, 50, signal.SIGINT) == 130
    assert "rerun the same command to resume" in proc.stderr.read()
    after_int = _count(db)
    assert 50 <= after_int < N_FILES

    proc = _start(home, many_files)
    assert _interrupt_after(proc, db, after_int + 50, signal.SIGKILL) == -signal.SIGKILL
    after_kill = _count(db)
    assert after_int < after_kill < N_FILES

    store = Store.open(home)
    killed = store.runs.all(store.cases.id("c"))[-1]
    assert (killed["status"], killed["process"]) == ("running", "gone")  # shown as dead
    assert _incomplete(home) == (2, 1)

    env = os.environ | {"CAIRN_HOME": str(home)}
    done = subprocess.run([CAIRN, "scan", str(many_files), "--case", "c", "--new-case",
                           "--no-progress"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(db) as con:
        total, distinct = con.execute(
            "select count(*), count(distinct path) from items").fetchone()
        versions = con.execute("select max(version), max(ordinal) from items").fetchone()
        statuses = [r[0] for r in con.execute("select status from scan_runs order by id")]
        signals = con.execute(  # one PDQ per content (its dihedral set is another row)
            "select count(*) from signals where signal_type = 'pdq'").fetchone()[0]
    assert total == distinct == N_FILES
    assert versions == (1, 0)  # resuming re-reads unchanged files: never a second version
    assert signals == N_FILES
    # the complete rescan finished their work: it closes them, the report counts nothing undone
    assert statuses == ["superseded", "superseded", "complete"]
    runs = store.runs.all(store.cases.id("c"))
    assert [(json.loads(r["summary"])["superseded_by"], json.loads(r["summary"])["status_before"])
            for r in runs[:2]] == [(3, "interrupted"), (3, "running")]
    assert _incomplete(home) == (0, 0)


def _incomplete(home: Path) -> tuple[int, int]:
    """The report's count of unfinished runs, and of those whose process is gone."""
    s = build_report(Store.open(home), "c", with_trace=False)["summary"]
    return s["incomplete_runs"], s["incomplete_runs_dead"]


def _refusing_store(tmp_path: Path, names: list[str]) -> tuple[Store, Path]:
    """Evidence of small pictures, and a store whose database refuses `refused.jpg` (a
    trigger), as PostgreSQL refused a NUL or an over-long index entry."""
    ev = tmp_path / "ev"
    ev.mkdir()
    for i, name in enumerate(names):
        (ev / name).write_bytes(jpeg_bytes(picture(i, (64, 48)), 80))
    store = Store.open(tmp_path / "home")
    with store.engine.begin() as c:
        c.execute(text("create trigger refuse before insert on items "
                       "when new.path = 'refused.jpg' "
                       "begin select raise(abort, 'refused by the test'); end"))
    return store, ev


def test_a_record_the_store_refuses_fails_the_run_once_and_keeps_the_rest(
        tmp_path: Path) -> None:
    """A batch the database refused was flushed again in `finally`, raised again, and the run
    was never ended (left `running`; every rerun the same)."""
    store, ev = _refusing_store(tmp_path, ["a.jpg", "b.jpg", "refused.jpg", "z.jpg"])
    with pytest.raises(StoreError, match="cannot record 'refused.jpg'.*refused by the test"):
        scan(store, "c", ev, workers=1)
    (run,) = store.runs.all(store.cases.id("c"))
    assert run["status"] == "failed"
    assert "refused by the test" in json.loads(run["summary"])["error"]
    with store.engine.connect() as c:
        kept = [r[0] for r in c.execute(text("select path from items order by path"))]
    assert kept == ["a.jpg", "b.jpg"]  # recorded before the refusal: never lost


def test_cairn_scan_says_a_store_refusal_in_one_line(tmp_path: Path) -> None:
    """`cairn scan` printed the StoreError's traceback, SQL included."""
    from click.testing import CliRunner

    from cairn.cli import cli

    _refusing_store(tmp_path, ["a.jpg", "refused.jpg"])
    res = CliRunner().invoke(cli, ["scan", str(tmp_path / "ev"), "--case", "c", "--new-case",
                                   "--workers", "1",
                                   "--no-progress"], env={"CAIRN_HOME": str(tmp_path / "home")})
    assert res.exit_code == 2 and not isinstance(res.exception, StoreError)
    message = " ".join(res.stderr.split())  # one message (the console wraps it)
    assert "Traceback" not in res.stderr and message.startswith("error: cannot record")
    assert "refused by the test" in message and "what was recorded before it stays" in message
