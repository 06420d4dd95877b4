"""Server hardening (issue 17 §3, §4): evidence roots per case, the login lockout claimed
atomically and every attempt recorded, cross-site logins refused, Secure cookies.

Evidence roots (service/evidence.py): `CASE=DIR` roots serve only their case, `DIR` every
case; `..`, symlinks and absolute paths that lead out are refused with a 403 naming the path,
for scans started over HTTP and for thumbnails alike; with no roots, a thumbnail is read only
inside its own source's location. Logins (store/users.py `check_login`, store/logins.py):
concurrent wrong passwords are each counted and none is checked once another has locked the
account, on SQLite and PostgreSQL; each attempt is a row with its outcome and remote address;
an Origin or Referer that is not the server's own is a 403 before anything is read or counted;
`cairn serve --secure-cookies --http h11` sets Secure, HttpOnly, SameSite=Strict;
`cairn users logins` lists the attempts.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from cairn.service.evidence import ENV_ROOTS, EvidenceRootError, EvidenceRoots, OutsideRoots
from cairn.store import logins, users
from cairn.store import schema as t
from cairn.web.app import serve_app
from inprocess import pictures, run
from serve_fixtures import PASSWORD, Server, add_user, cli_json, open_store, token


# -- evidence roots: the rules ----------------------------------------------------------------
@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """a/ (case op-a's root) with a file, b/ (op-b's), outside/, and links out of a/."""
    for d in ("a/exhibit", "b/exhibit", "outside"):
        (tmp_path / d).mkdir(parents=True)
        (tmp_path / d / "f.bin").write_bytes(b"benign")
    (tmp_path / "a" / "out").symlink_to(tmp_path / "outside", target_is_directory=True)
    (tmp_path / "a" / "to-b").symlink_to(tmp_path / "b", target_is_directory=True)
    return tmp_path


def test_roots_serve_their_own_case_only(tree: Path) -> None:
    roots = EvidenceRoots.parse([f"op-a={tree / 'a'}", f"op-b={tree / 'b'}"])
    assert roots.resolve("exhibit", "op-a") == (tree / "a" / "exhibit").resolve()
    assert roots.resolve(str(tree / "b" / "exhibit"), "op-b") == (tree / "b/exhibit").resolve()
    for path, case in ((str(tree / "b" / "exhibit"), "op-a"), ("exhibit/../../b", "op-a"),
                       ("to-b/exhibit", "op-a"), ("out", "op-a"), ("out/f.bin", "op-a"),
                       (str(tree / "a" / ".." / "outside"), "op-a"), ("/etc", "op-b"),
                       (str(tree / "a" / "exhibit"), "op-b")):
        with pytest.raises(OutsideRoots) as e:
            roots.resolve(path, case)
        assert str(e.value) == f"{path!r} is outside the evidence roots of case {case!r}"
    with pytest.raises(OutsideRoots, match="no evidence root for case 'op-c'"):
        roots.resolve("exhibit", "op-c")
    with pytest.raises(OutsideRoots, match="not a path"):
        roots.resolve("exhibit\0/x", "op-a")
    with pytest.raises(FileNotFoundError):
        roots.resolve("exhibit/none", "op-a")


def test_a_root_without_a_case_serves_every_case_after_their_own(tree: Path) -> None:
    roots = EvidenceRoots.parse([str(tree / "b"), f"op-a={tree / 'a'}"])
    assert roots.for_case("op-a") == [str((tree / "a").resolve()), str((tree / "b").resolve())]
    assert roots.resolve("exhibit", "op-a") == (tree / "a" / "exhibit").resolve()
    assert roots.resolve("exhibit", "op-z") == (tree / "b" / "exhibit").resolve()
    again = EvidenceRoots.from_env(roots.to_env())
    assert again == roots
    legacy = EvidenceRoots.from_env(os.pathsep.join([str(tree / "a"), str(tree / "b")]))
    assert legacy.for_case("anything") == [str((tree / d).resolve()) for d in ("a", "b")]
    odd = tree / "x=y"  # a folder whose name holds "=" is a root of every case
    odd.mkdir()
    assert EvidenceRoots.parse([str(odd)]).for_case("x") == [str(odd.resolve())]
    for bad in ("op-a=" + str(tree / "none"), str(tree / "a" / "exhibit" / "f.bin"), "op-a="):
        with pytest.raises(EvidenceRootError, match="is not a folder"):
            EvidenceRoots.parse([bad])


def test_files_of_items_are_checked_the_same_way(tree: Path) -> None:
    roots = EvidenceRoots.parse([f"op-a={tree / 'a'}"])
    roots.check_file("op-a", str(tree / "a" / "exhibit"), b"f.bin")
    for location, raw in ((str(tree / "a"), b"out/f.bin"), (str(tree / "outside"), b"f.bin"),
                          (str(tree / "a" / "exhibit"), b"../../outside/f.bin")):
        with pytest.raises(OutsideRoots, match="outside the evidence roots of case 'op-a'"):
            roots.check_file("op-a", location, raw)
    with pytest.raises(OutsideRoots):
        roots.check_file("op-b", str(tree / "a" / "exhibit"), b"f.bin")  # not its case's
    none = EvidenceRoots()  # no roots: inside the item's own source only
    none.check_file("op-a", str(tree / "a"), b"exhibit/f.bin")
    none.check_file("op-a", str(tree / "a" / "exhibit" / "f.bin"), b"")  # a one-file source
    with pytest.raises(OutsideRoots, match="resolves outside its source's location"):
        none.check_file("op-a", str(tree / "a"), b"out/f.bin")


def test_serve_refuses_a_root_that_is_no_folder(tmp_path: Path) -> None:
    out = run(tmp_path / "home", "serve", "--port", "0", "--evidence-root",
              f"op-a={tmp_path / 'none'}", ok=(2,))
    assert f"op-a={tmp_path / 'none'}" in out and "is not a folder" in out


# -- evidence roots: scans and thumbnails over HTTP --------------------------------------------
@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict]:
    """Cases op-a (exhibit-a, under root a/) and op-b (exhibit-b, scanned from outside any
    root), an examiner granted both, and a function making the app with given roots."""
    monkeypatch.setenv("CAIRN_EXAMINER", "examiner-01")
    home = tmp_path / "home"
    add_user(home, "user-0042", "examiner")
    a, b = pictures(tmp_path / "a" / "exhibit-a", 1, seed=3), pictures(
        tmp_path / "b" / "exhibit-b", 1, seed=4)
    pictures(tmp_path / "a" / "later", 1, seed=5)
    for case, folder in (("op-a", a), ("op-b", b)):
        run(home, "cases", "create", case)
        run(home, "scan", folder, "--case", case, "--no-progress")
        run(home, "cases", "grant", case, "--user", "user-0042")
    bearer = {"Authorization": f"Bearer {token(home, 'user-0042', 'write')}"}
    stores = []

    def client(*roots: str) -> TestClient:
        store = open_store(home)
        stores.append(store)
        c = TestClient(serve_app(store, evidence_roots=roots))
        c.headers.update(bearer)
        return c

    yield {"tmp": tmp_path, "client": client}
    for s in stores:
        s.close()


def _item_ids(client: TestClient, case: str) -> list[int]:
    r = client.get(f"/api/v1/cases/{case}/items")
    assert r.status_code == 200, r.text
    return [i["id"] for i in r.json()["items"]]


def test_scans_and_thumbnails_keep_to_their_case_roots(served: dict) -> None:
    tmp: Path = served["tmp"]
    api = served["client"](f"op-a={tmp / 'a'}")
    r = api.post("/api/v1/scans", json={"case": "op-b", "path": str(tmp / "a" / "later")})
    assert r.status_code == 403  # op-a's root is not op-b's, and op-b has none
    assert r.json()["detail"] == ("forbidden: this server has no evidence root for case "
                                  "'op-b' (`cairn serve --evidence-root CASE=DIR`): it scans "
                                  "nothing for it")
    r = api.post("/api/v1/scans", json={"case": "op-a", "path": str(tmp / "b" / "exhibit-b")})
    assert r.status_code == 403
    assert r.json()["detail"] == (f"forbidden: {str(tmp / 'b' / 'exhibit-b')!r} is outside "
                                  "the evidence roots of case 'op-a'")
    r = api.post("/api/v1/scans", json={"case": "op-a", "path": "later"})
    assert r.status_code == 202, r.text

    (a_item,), (b_item,) = _item_ids(api, "op-a"), _item_ids(api, "op-b")
    assert api.get(f"/ui/thumb/{a_item}").status_code == 200
    r = api.get(f"/ui/thumb/{b_item}")  # scanned by the CLI from outside every root
    assert r.status_code == 403
    path = tmp / "b" / "exhibit-b" / "photo-0.png"
    assert r.json()["detail"] == (f"forbidden: {str(path)!r} is outside the evidence roots "
                                  "of case 'op-b'")
    assert r.headers["cache-control"] == "no-store"
    everyone = served["client"](str(tmp / "b"))  # a root of every case
    assert everyone.get(f"/ui/thumb/{b_item}").status_code == 200
    assert everyone.get(f"/ui/thumb/{a_item}").status_code == 403


def test_without_roots_a_thumbnail_stays_inside_its_source(served: dict) -> None:
    tmp: Path = served["tmp"]
    api = served["client"]()
    (b_item,) = _item_ids(api, "op-b")
    assert api.get(f"/ui/thumb/{b_item}", params={"reveal": 1}).status_code == 200
    picture = tmp / "b" / "exhibit-b" / "photo-0.png"
    moved = tmp / "elsewhere.png"
    picture.rename(moved)
    picture.symlink_to(moved)  # the same bytes, now reached through a link leading out
    api = served["client"]()  # a fresh cache would not help: the check comes first
    r = api.get(f"/ui/thumb/{b_item}", params={"reveal": 1})
    assert r.status_code == 403 and "resolves outside its source's location" in r.text
    assert api.post("/api/v1/scans", json={"case": "op-b", "path": str(tmp / "b")}
                    ).status_code == 403  # and with no roots, nothing is scanned


# -- logins: atomic lockout, the record of attempts -------------------------------------------
def _attempts(store: object, name: str) -> list[dict]:
    return list(reversed(logins.attempts(store, name)))  # type: ignore[arg-type]


def test_every_attempt_is_recorded_with_its_outcome(home: Path) -> None:
    add_user(home, "user-0042", "reviewer")
    store = open_store(home)
    unknown = users.Backoff()
    try:
        remote = "192.0.2.7"
        assert users.check_login(store, "user-0042", PASSWORD, unknown, remote).user
        for _ in range(users.FREE_FAILURES):
            users.check_login(store, "user-0042", "wrong password!", unknown, remote)
        assert users.check_login(store, "user-0042", PASSWORD, unknown, remote).retry_after
        users.check_login(store, "user-0099", PASSWORD, unknown, remote)
        with store.engine.begin() as c:
            c.execute(update(t.users).values(locked_until=None))
        users.set_disabled(store, "user-0042", True)
        assert users.check_login(store, "user-0042", PASSWORD, unknown).user is None
        got = [(a["outcome"], a["remote"]) for a in _attempts(store, "user-0042")]
        assert got == ([("ok", remote)] + [("wrong_password", remote)] * 5
                       + [("locked", remote), ("disabled", None)])
        assert [a["outcome"] for a in _attempts(store, "user-0099")] == ["unknown_user"]
        with store.engine.connect() as c:
            stored = " ".join(repr(tuple(r)) for r in c.execute(select(t.login_attempts)))
        assert PASSWORD not in stored and "wrong password!" not in stored
    finally:
        store.close()
    shown = cli_json(home, "users", "logins", "user-0042", "--limit", "2")
    assert [(a["outcome"], a["remote"]) for a in shown] == [  # type: ignore[union-attr]
        ("disabled", None), ("locked", remote)]
    everyone = run(home, "users", "logins")
    assert "unknown_user" in everyone and "user-0099" in everyone


def test_the_lock_is_claimed_with_the_count(home: Path) -> None:
    """The attempt that reaches FREE_FAILURES sets the lock in the same statement that
    counts it: the next attempt is refused unchecked, even before the first has finished."""
    add_user(home, "user-0042", "reviewer")
    store = open_store(home)
    try:
        with store.engine.begin() as c:
            c.execute(update(t.users).values(failed_logins=users.FREE_FAILURES - 1))
        before = time.time()
        users.check_login(store, "user-0042", "wrong password!", users.Backoff())
        u = users.user(store, "user-0042")
        assert u.failed_logins == users.FREE_FAILURES
        until = users._parse(u.locked_until or "").timestamp()
        assert before + 1 <= until <= time.time() + 3  # the 5th failure's 2 s
        refused = users.check_login(store, "user-0042", PASSWORD, users.Backoff())
        assert refused.user is None and refused.retry_after >= 1
        assert users.user(store, "user-0042").failed_logins == users.FREE_FAILURES
    finally:
        store.close()


def test_concurrent_wrong_passwords_cannot_race_past_the_lock(home: Path) -> None:
    """Sixteen wrong passwords at once: each is recorded; those whose password was checked
    are exactly those counted, and once locked no password is checked: at most as many are
    checked as could claim before the lock, never all sixteen."""
    add_user(home, "user-0042", "reviewer")
    stores = [open_store(home) for _ in range(4)]
    start = threading.Barrier(16)
    results: list[users.Login] = []

    def attempt(i: int) -> None:
        start.wait()
        results.append(users.check_login(stores[i % 4], "user-0042", "wrong password!",
                                          users.Backoff(), f"192.0.2.{i}"))

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(16)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    try:
        outcomes = [a["outcome"] for a in _attempts(stores[0], "user-0042")]
        checked = outcomes.count("wrong_password")
        assert len(outcomes) == 16 and checked + outcomes.count("locked") == 16
        assert users.user(stores[0], "user-0042").failed_logins == checked
        assert users.FREE_FAILURES <= checked < 16
        assert sum(r.retry_after > 0 for r in results) == 16 - checked
    finally:
        for s in stores:
            s.close()


# -- logins over HTTP: Origin, cookies, remote address -----------------------------------------
@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path]]:
    home = tmp_path_factory.mktemp("hardening") / "home"
    add_user(home, "admin-01", "admin")
    srv = Server(home, "--secure-cookies", "--http", "h11")
    try:
        yield srv, home
    finally:
        srv.stop()


def test_cross_site_logins_are_refused(server: tuple[Server, Path]) -> None:
    srv, home = server
    form = {"user": "admin-01", "password": PASSWORD}
    for headers in ({"Origin": "https://evil.example.test"}, {"Origin": "null"},
                    {"Referer": "http://evil.example.test/login"},
                    {"Origin": srv.url.replace("127.0.0.1", "127.0.0.2")},
                    {"Origin": srv.url.replace("http:", "https:")}):
        r = httpx.post(srv.url + "/login", data=form, headers=headers)
        assert r.status_code == 403, headers
        shown = headers.get("Origin") or headers["Referer"]
        assert r.json()["detail"] == (f"cross-site login refused: Origin/Referer {shown!r} "
                                      "is not this server")
        assert "set-cookie" not in r.headers
    store = open_store(home)
    try:
        assert _attempts(store, "admin-01") == []  # refused before anything was counted
    finally:
        store.close()
    for headers in ({"Origin": srv.url}, {"Referer": srv.url + "/ui/login"}, {}):
        r = httpx.post(srv.url + "/login", data=form, headers=headers)
        assert r.status_code == 200, (headers, r.text)


def test_secure_cookies_and_the_remote_address(server: tuple[Server, Path]) -> None:
    srv, home = server
    r = httpx.post(srv.url + "/login", data={"user": "admin-01", "password": PASSWORD},
                   headers={"Origin": srv.url})
    cookie = [p.strip().lower() for p in r.headers["set-cookie"].split(";")]
    assert {"secure", "httponly", "samesite=strict", "path=/"} <= set(cookie)
    store = open_store(home)
    try:
        last = _attempts(store, "admin-01")[-1]
        assert (last["outcome"], last["remote"]) == ("ok", "127.0.0.1")
    finally:
        store.close()


def test_under_h11_both_framings_meet_the_body_limit(server: tuple[Server, Path]) -> None:
    import socket
    from urllib.parse import urlsplit

    u = urlsplit(server[0].url)
    with socket.create_connection((u.hostname, u.port), timeout=10) as sock:
        sock.sendall(b"POST /login HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n")
        reply = b""
        while chunk := sock.recv(4096):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 400") and b"together" in reply
    assert json.loads(reply.split(b"\r\n\r\n", 1)[1]) == {
        "detail": "Content-Length and Transfer-Encoding together"}


def test_workers_get_the_roots_and_the_cookie_setting(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """What `cairn serve --workers N` hands each process through the environment."""
    from cairn.web.app import app_from_env

    (tmp_path / "a").mkdir()
    roots = EvidenceRoots.parse([f"op-a={tmp_path / 'a'}"])
    monkeypatch.setenv("CAIRN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CAIRN_EXAMINER", "examiner-01")
    monkeypatch.setenv(ENV_ROOTS, roots.to_env())
    monkeypatch.setenv("CAIRN_SERVE_SECURE_COOKIES", "1")
    add_user(tmp_path / "home", "admin-01", "admin")
    app = app_from_env()
    assert app.state.evidence_roots == roots
    with TestClient(app) as c:
        r = c.post("/login", data={"user": "admin-01", "password": PASSWORD})
        assert "secure" in r.headers["set-cookie"].lower()
    app.state.store.close()
