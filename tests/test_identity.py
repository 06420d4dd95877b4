"""Item identity: every file and member is its own item, even where display names collide;
display paths read back into the raw bytes; a file that changes is a new version, noted."""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import sqlite3
import string
import tarfile
import uuid
import zipfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cairn.demo import jpeg_bytes, picture
from cairn.media.limits import Limits
from cairn.media.walk import display_name, walk
from cairn.scan import worker
from inprocess import invoke, report_json, scan_case


def jpg(seed: int) -> bytes:
    return jpeg_bytes(picture(seed, (48, 32)))


class Case:
    """`cairn scan` and `cairn report` in-process against one store."""

    def __init__(self, tmp: Path) -> None:
        self.home = tmp / "home"
        self.db = self.home / "cairn.db"

    def scan(self, where: Path) -> dict:
        return scan_case(self.home, where, "c", "--workers", "1")

    def items(self) -> list[dict]:
        return report_json(self.home, "c")["items"]


@pytest.mark.filterwarnings("ignore:Duplicate name")
def test_colliding_names_are_distinct_items(tmp_path: Path) -> None:
    ev = tmp_path / "ev"
    ev.mkdir()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for i in range(3):
            z.writestr("same.jpg", jpg(i))  # zipfile warns about the duplicate: that is the point
    (ev / "s.zip").write_bytes(buf.getvalue())
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as t:
        for i, name in enumerate((b"a\xff.jpg", b"a\\xff.jpg")):
            ti = tarfile.TarInfo(name.decode("utf-8", "surrogateescape"))
            data = jpg(10 + i)
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
    (ev / "t.tar").write_bytes(buf.getvalue())
    disk = os.fsencode(ev / "disk")
    os.mkdir(disk)
    for i, name in enumerate((b"a\xff.jpg", b"a\\xff.jpg")):
        with open(os.path.join(disk, name), "wb") as f:
            f.write(jpg(20 + i))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("y.jpg", jpg(30))
    (ev / "x.zip").write_bytes(buf.getvalue())
    (ev / "x.zip!").mkdir()
    (ev / "x.zip!" / "y.jpg").write_bytes(jpg(31))

    case = Case(tmp_path)
    first = case.scan(ev)
    items = case.items()
    by_path: dict[str, list[dict]] = {}
    for it in items:
        by_path.setdefault(it["path"], []).append(it)
    same = by_path["s.zip!/same.jpg"]
    assert [it.get("ordinal", 0) for it in same] == [0, 1, 2]
    assert len({it["sha256"] for it in same}) == 3
    assert {"t.tar!/a\\xff.jpg", "t.tar!/a\\\\xff.jpg", "disk/a\\xff.jpg",
            "disk/a\\\\xff.jpg"} <= set(by_path)
    assert by_path["t.tar!/a\\xff.jpg"][0]["sha256"] != by_path["t.tar!/a\\\\xff.jpg"][0][
        "sha256"]
    member, folder = by_path["x.zip!/y.jpg"], by_path["x.zip\\!/y.jpg"]
    assert member[0]["sha256"] != folder[0]["sha256"]
    # s.zip + 3, t.tar + 2, 2 on disk, x.zip + 1, the folder's file
    assert first["new_items"] == len(items) == 4 + 3 + 2 + 2 + 1
    assert case.scan(ev)["new_items"] == 0  # rescanning a location never duplicates a row


@given(st.lists(st.binary(min_size=1, max_size=12).filter(lambda b: b"\0" not in b),
                min_size=1, max_size=4))
def test_display_paths_read_back_into_their_bytes(parts: list[bytes]) -> None:
    from cairn.media.walk import raw_name

    raw = b"/".join(parts)
    shown = display_name(raw)
    assert raw_name(shown) == raw
    assert "!/" not in shown.replace("\\\\", "").replace("\\!", "")  # never an archive joint


def test_x_zip_bang_folder_is_not_read_as_a_member() -> None:
    assert display_name(b"x.zip!/y.jpg") == "x.zip\\!/y.jpg"
    assert display_name(b"a\\xff") == "a\\\\xff" and display_name(b"a\xff") == "a\\xff"


def test_file_edited_between_scans_is_a_new_version(tmp_path: Path) -> None:
    ev = tmp_path / "ev"
    ev.mkdir()
    f = ev / "p.jpg"
    f.write_bytes(jpg(1))
    os.utime(f, (1_700_000_000, 1_700_000_000))
    (ev / "q.jpg").write_bytes(jpg(2))
    case = Case(tmp_path)
    case.scan(ev)
    f.write_bytes(jpg(3))
    os.utime(f, (1_700_000_100, 1_700_000_100))
    again = case.scan(ev)
    assert again["new_items"] == 1 and again["skipped_already_recorded"] == 1
    versions = [it for it in case.items() if it["path"] == "p.jpg"]
    assert [it.get("version", 1) for it in versions] == [1, 2]
    assert versions[0]["sha256"] != versions[1]["sha256"]
    note = versions[1]["note"]
    assert "changed since version 1" in note and "sha256" in note
    assert "earlier version is kept" in note
    assert case.scan(ev)["new_items"] == 0  # the latest version is what a rescan compares


def test_file_changed_while_hashed_says_so(tmp_path: Path) -> None:
    f = tmp_path / "grow.jpg"
    f.write_bytes(jpg(1))
    (entry,) = list(walk(tmp_path))

    def append(_fd: int) -> None:
        with open(f, "ab") as out:
            out.write(b"more")

    worker.after_read = append
    try:
        (rec,) = worker.process_entry(entry, Limits())
    finally:
        worker.after_read = None
    said = " | ".join(e["message"] for e in rec["errors"])
    assert "file changed while it was read" in said and "may match no state" in said
    (rec,) = worker.process_entry(entry, Limits())
    assert not rec["errors"]


@pytest.fixture(params=["sqlite", "postgresql"])
def old_db(request, tmp_path: Path):
    """An empty store at revision 0007, on SQLite and (where one is set up) PostgreSQL."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine, text

    from cairn.store.store import HERE

    admin, name = None, ""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
    else:
        base = os.environ.get("CAIRN_TEST_POSTGRES_URL")
        if not base:
            pytest.skip("no PostgreSQL: set CAIRN_TEST_POSTGRES_URL (.ci/run starts one)")
        name = f"cairn_{uuid.uuid4().hex[:12]}"
        admin = create_engine(base, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
        head, _, query = base.partition("?")
        url = f"{head.rsplit('/', 1)[0]}/{name}?{query}"
    engine = create_engine(url)
    cfg = Config(str(HERE / "alembic.ini"))
    cfg.set_main_option("script_location", str(HERE / "migrations"))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0007")
    yield url, engine
    engine.dispose()
    if admin is not None:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


def test_migration_0008_keeps_rows_and_reads_raw_paths_back(old_db) -> None:
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    from cairn.store import Store

    url, engine = old_db
    with engine.begin() as con:
        con.execute(text("insert into cases values (1, 'c', 'x')"))
        con.execute(text("insert into sources values (1, 1, 's', '/ev', 'x')"))
        con.execute(text("insert into scan_runs (id, case_id, source_id, tool_version, "
                         "examiner, host, started_at, status, arguments) values (1, 1, 1, 'v', "
                         "'e', 'h', 'x', 'complete', '{}')"))
        rows = [(101, "d/a\\xff.jpg", None), (102, "d/z.zip", None),
                (103, "d/z.zip!/m\\n.jpg", "d/z.zip"), (104, "plain.jpg", None)]
        for i, path, parent in rows:
            con.execute(text("insert into items (id, source_id, scan_run_id, path, parent_path, "
                             "kind) values (:i, 1, 1, :p, :pp, 'image')"),
                        {"i": i, "p": path, "pp": parent})
        con.execute(text("insert into errors (item_id, stage, message) "
                         "values (103, 'read', 'kept')"))
    Store(url).close()
    with engine.connect() as con:
        got = [tuple(r) for r in con.execute(text(
            "select id, path, raw_path, ordinal, version from items order by id"))]
        keys = [(bytes(r), bytes(k)) for r, k in con.execute(text(
            "select raw_path, location_key from items"))]
        errors = [tuple(r) for r in con.execute(text("select item_id, message from errors"))]
    assert all(k == hashlib.sha256(r).digest() for r, k in keys)
    assert [(i, p, bytes(r), o, v) for i, p, r, o, v in got] == [
        (101, "d/a\\xff.jpg", b"d/a\xff.jpg", 0, 1), (102, "d/z.zip", b"d/z.zip", 0, 1),
        (103, "d/z.zip!/m\\\\n.jpg", b"d/z.zip\0m\\n.jpg", 0, 1),
        (104, "plain.jpg", b"plain.jpg", 0, 1)]
    assert errors == [(103, "kept")]
    insert = text("insert into items (source_id, scan_run_id, path, kind, raw_path, "
                  "location_key, ordinal) values (1, 1, 'same display path', 'image', :raw, "
                  ":key, :o)")
    raw = b"d/z.zip\0m\\n.jpg"
    row = {"raw": raw, "key": hashlib.sha256(raw).digest(), "o": 1}
    with engine.begin() as con:  # a second location sharing raw bytes needs its own ordinal
        con.execute(insert, row)
    with pytest.raises(IntegrityError), engine.begin() as con:
        con.execute(insert, row)


def test_rehash_finds_a_file_under_a_folder_named_like_an_archive(tmp_path: Path) -> None:
    """`cairn rehash` cut paths at their first `!/`: a real folder `x.zip!` (shown `x.zip\\!/`)
    was then cut mid-name and its files reported missing."""
    ev = tmp_path / "ev"
    (ev / "x.zip!").mkdir(parents=True)
    (ev / "x.zip!" / "y.jpg").write_bytes(jpeg_bytes(picture(7, (600, 600))))
    case = Case(tmp_path)
    case.scan(ev)
    done = json.loads(invoke(case.home, "rehash", "--case", "c", "--all", "--json").stdout)
    assert done["missing"] == [] and done["files_read"] == 1
    assert done["exact_signals_added"] == 1


def long_name(n: int = 3000) -> str:
    """A member name of `n` incompressible bytes: past PostgreSQL's 2,704-byte btree entry."""
    rnd = random.Random(n)
    return "".join(rnd.choices(string.ascii_letters + string.digits, k=n - 4)) + ".jpg"


def long_name_zip(where: Path) -> str:
    name = long_name()
    with zipfile.ZipFile(where, "w") as z:
        z.writestr(name, jpg(5))
    return name


def test_a_member_name_past_the_btree_entry_limit_is_recorded(tmp_path: Path) -> None:
    """The unique key held the raw path itself; now its SHA-256 (PostgreSQL: test_postgres)."""
    ev = tmp_path / "ev"
    ev.mkdir()
    name = long_name_zip(ev / "long.zip")
    case = Case(tmp_path)
    assert case.scan(ev)["status"] == "complete"
    assert f"long.zip!/{name}" in {it["path"] for it in case.items()}
    with sqlite3.connect(case.db) as con:
        rows = con.execute("select raw_path, location_key from items").fetchall()
    assert len(rows) == 2
    assert all(bytes(k) == hashlib.sha256(bytes(r)).digest() for r, k in rows)
