"""The workbench's test world (test_web.py, test_web_browser.py): a real `cairn serve
--port 0` on loopback over a case scanned from benign noise pictures the test makes: photo-0
in two exhibits (the same bytes: one family), photo-1 matched by an MD5 list; a second case
granted to another reviewer."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Table, select

from cairn.store import schema as t
from inprocess import DB_URLS, database, pictures, run
from serve_fixtures import PASSWORD, Server, add_user, open_store

CASE, OTHER = "op-harbour", "op-lantern"


def build(home: Path, tmp: Path) -> None:
    ex1 = pictures(tmp / "exhibit-01", 3, seed=910)
    ex2 = pictures(tmp / "exhibit-02", 1, seed=930)
    shutil.copy(ex1 / "photo-0.png", ex2 / "copy-of-0.png")  # the same bytes: one family
    other = pictures(tmp / "exhibit-09", 1, seed=990)
    for name in (CASE, OTHER):
        run(home, "cases", "create", name)
    run(home, "scan", ex1, "--case", CASE, "--no-progress")
    run(home, "scan", ex2, "--case", CASE, "--no-progress")
    run(home, "scan", other, "--case", OTHER, "--no-progress")
    (tmp / "md5.txt").write_text(hashlib.md5((ex1 / "photo-1.png").read_bytes()).hexdigest()
                                 + "\n")
    run(home, "lists", "import", tmp / "md5.txt", "--name", "known-md5", "--format",
        "plain", "--type", "md5")
    for name, role in (("rev-01", "reviewer"), ("rev-02", "reviewer")):
        add_user(home, name, role)
    run(home, "cases", "grant", CASE, "--user", "rev-01")
    run(home, "cases", "grant", OTHER, "--user", "rev-02")


class World:
    def __init__(self, home: Path, tmp: Path, server: Server) -> None:
        self.home, self.tmp, self.url = home, tmp, server.url
        self.csrf: dict[int, str] = {}

    def session(self, user: str = "rev-01") -> tuple[httpx.Client, str]:
        """A logged-in browser-like client and its CSRF token."""
        client = httpx.Client(base_url=self.url, timeout=60)
        r = client.post("/login", data={"user": user, "password": PASSWORD})
        assert r.status_code == 200, r.text
        self.csrf[id(client)] = r.json()["csrf_token"]
        return client, r.json()["csrf_token"]

    def reveal(self, client: httpx.Client, item: int, frame: int | None = None
               ) -> httpx.Response:
        """POST a reveal with the session's CSRF header (what the page's script does)."""
        url = f"/ui/thumb/{item}" + (f"/frames/{frame}" if frame is not None else "")
        return client.post(url + "/reveal", headers={"X-CSRF-Token": self.csrf[id(client)]})

    def item_ids(self, case: str) -> dict[str, int]:
        """{"source: path": id} of a case's items."""
        store = open_store(self.home)
        try:
            with store.engine.connect() as c:
                rows = c.execute(select(t.items.c.id, t.sources.c.name, t.items.c.path)
                                 .join(t.sources, t.items.c.source_id == t.sources.c.id)
                                 .join(t.cases, t.sources.c.case_id == t.cases.c.id)
                                 .where(t.cases.c.name == case)).all()
        finally:
            store.close()
        return {f"{s}: {p}": i for i, s, p in rows}

    def rows(self, table: Table) -> list[dict]:
        store = open_store(self.home)
        try:
            with store.engine.connect() as c:
                return [dict(r) for r in c.execute(select(table).order_by(table.c.id))
                        .mappings()]
        finally:
            store.close()

    def custody(self, action: str) -> list[dict]:
        return [r for r in self.rows(t.custody) if r["action"] == action]


def make_world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[World]:
    """The world on the database `request.param` names (a module fixture's body)."""
    tmp = tmp_path_factory.mktemp("web")
    home = tmp / "home"
    for url in database(request.param):
        DB_URLS[home] = url
        build(home, tmp)
        server = Server(home)
        try:
            yield World(home, tmp, server)
        finally:
            server.stop()
            DB_URLS.pop(home, None)
