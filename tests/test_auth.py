"""Users, roles, tokens, sessions and case grants (issue 17 §3, §4).

The store's side through the CLI in-process, on SQLite and PostgreSQL: every change is one
custody entry and the chains stay intact; refusals exit 2 naming the value and write nothing;
tokens expire, are revoked, stop with their user, and note their last use at most once a
minute; the login back-off treats names that are no user like users; no password, token,
session id or CSRF token is ever stored in clear.

The HTTP side against a real `cairn serve --port 0` on loopback: 401 without (or with a dead)
credential, 403 for a missing capability or scope and, with one body, for a case that does not
exist and one not granted; a TAXII partner's token is a 403 on the user API and our tokens a
401 on TAXII, which keeps working; 413 past the body cap; session cookies HttpOnly,
SameSite=Strict, Secure under https, and a CSRF token on every state-changing request.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, text, update

from cairn.store import Store, users
from cairn.store import schema as t
from cairn.store.custody import STORE_CHAIN
from inprocess import DB_URLS, database, run
from serve_fixtures import PASSWORD, Server, add_user, cli_json, open_store, token


def chain(home: Path, name: str) -> list[dict]:
    store = open_store(home)
    try:
        return store.custody_entries(chain=name)
    finally:
        store.close()


def every_stored_text(home: Path) -> str:
    """Every row of every table as text (both databases), and on SQLite the files' bytes."""
    store = open_store(home)
    parts = []
    with store.engine.connect() as c:
        for table in t.metadata.sorted_tables:
            parts += [repr(tuple(r)) for r in c.execute(select(table))]
    store.close()
    if DB_URLS.get(home) is None:
        for f in home.glob("cairn.db*"):
            parts.append(f.read_bytes().decode("latin-1"))
    return "\n".join(parts)


# -- the store, through the CLI --------------------------------------------------------------
def test_users_change_only_through_custody(home: Path) -> None:
    out = cli_json(home, "users", "add", "user-0042", "--role", "examiner")
    password = out["password"]  # type: ignore[index]
    assert len(password) >= users.MIN_PASSWORD and out["role"] == "examiner"  # type: ignore[index]
    add_user(home, "auditor-01", "auditor")
    listed = cli_json(home, "users", "list")
    assert [(u["name"], u["role"]) for u in listed] == [  # type: ignore[union-attr,index]
        ("auditor-01", "auditor"), ("user-0042", "examiner")]
    run(home, "users", "disable", "user-0042")
    run(home, "users", "enable", "user-0042")
    new = cli_json(home, "users", "reset-password", "user-0042")["password"]  # type: ignore[index]
    assert new != password

    # refusals: exit 2, the value named, nothing written
    before = len(chain(home, users.USERS_CHAIN))
    assert "a user named 'user-0042' exists" in run(home, "users", "add", "user-0042",
                                                   "--role", "admin", ok=(2,))
    assert "'no such user'" in run(home, "users", "add", "no such user", "--role", "admin",
                                   ok=(2,))
    assert "no user named 'user-0099'" in run(home, "users", "disable", "user-0099", ok=(2,))
    assert "already enabled" in run(home, "users", "enable", "user-0042", ok=(2,))
    assert "'root'" in run(home, "users", "add", "x", "--role", "root", ok=(2,))
    from click.testing import CliRunner

    from cairn.cli import cli
    res = CliRunner().invoke(cli, ["users", "add", "user-0043", "--role", "reviewer",
                                   "--password-stdin"], input="short\n", obj={},
                             env={"CAIRN_HOME": str(home),
                                  "CAIRN_DATABASE_URL": DB_URLS.get(home)})
    assert res.exit_code == 2 and "12 to 1024 characters" in res.output
    log = chain(home, users.USERS_CHAIN)
    assert len(log) == before
    assert [e["action"] for e in log] == ["user.added", "user.added", "user.disabled",
                                          "user.enabled", "user.password_reset"]
    assert all(e["examiner"] == "examiner-01" for e in log)
    assert "intact" in run(home, "custody", "verify")


def test_tokens_expire_revoke_and_stop_with_their_user(home: Path) -> None:
    add_user(home, "user-0042", "examiner")
    add_user(home, "auditor-01", "auditor")
    secret = token(home, "user-0042", "read", "--name", "script")
    assert secret.startswith("cairn_") and len(secret) == 6 + 43
    assert "gives a auditor nothing" in run(home, "tokens", "create", "--user", "auditor-01",
                                            "--scope", "lookup", ok=(2,))
    assert "--expires '3w'" in run(home, "tokens", "create", "--user", "user-0042",
                                   "--scope", "read", "--expires", "3w", ok=(2,))
    store = open_store(home)
    try:
        p = users.principal_for_token(store, secret)
        assert p is not None and p.name == "user-0042" and p.via == "token"
        assert p.capabilities == {"lookup", "read", "custody"}  # examiner ∩ read scope
        first = users.tokens(store)[0].last_used_at
        assert first is not None
        users.principal_for_token(store, secret)
        assert users.tokens(store)[0].last_used_at == first  # written at most once a minute
        earlier = (datetime.now(UTC) - timedelta(minutes=2)).isoformat(timespec="seconds")
        with store.engine.begin() as c:  # a use two minutes ago: the next one is written
            c.execute(update(t.api_tokens).values(last_used_at=earlier))
        users.principal_for_token(store, secret)
        assert users.tokens(store)[0].last_used_at not in (earlier, None)

        run(home, "users", "disable", "user-0042")
        assert users.principal_for_token(store, secret) is None
        run(home, "users", "enable", "user-0042")
        assert users.principal_for_token(store, secret) is not None

        with store.engine.begin() as c:
            c.execute(update(t.api_tokens).values(
                expires_at=(datetime.now(UTC) - timedelta(seconds=1)).isoformat()))
        assert users.principal_for_token(store, secret) is None
        assert users.tokens(store)[0].status == "expired"

        other = token(home, "user-0042", "write", "--expires", "never")
        listed = cli_json(home, "tokens", "list", "--user", "user-0042")
        assert [x["status"] for x in listed] == ["expired", "active"]  # type: ignore[index]
        prefix = listed[1]["prefix"]  # type: ignore[index]
        assert other.startswith(prefix) and listed[1]["expires_at"] is None  # type: ignore[index]
        run(home, "tokens", "revoke", prefix)
        assert users.principal_for_token(store, other) is None
        assert "was revoked" in run(home, "tokens", "revoke", prefix, ok=(2,))
        assert "no token '999'" in run(home, "tokens", "revoke", "999", ok=(2,))
        assert users.principal_for_token(store, "cairn_" + "A" * 43) is None
    finally:
        store.close()
    actions = [e["action"] for e in chain(home, users.USERS_CHAIN)]
    assert actions.count("token.created") == 2 and actions.count("token.revoked") == 1


def test_login_backoff_never_tells_whether_a_user_exists(home: Path) -> None:
    add_user(home, "user-0042", "reviewer")
    store = open_store(home)
    unknown = users.Backoff()
    try:
        for name in ("user-0042", "user-0099"):  # a user, and a name that is none
            outcomes = [users.check_login(store, name, "wrong password!", unknown)
                        for _ in range(users.FREE_FAILURES)]
            assert [(o.user, o.retry_after) for o in outcomes] == [(None, 0)] * 5
            locked = users.check_login(store, name, PASSWORD, unknown)  # not even checked
            assert locked.user is None and 1 <= locked.retry_after <= 2
        u = users.user(store, "user-0042")
        assert u.failed_logins == 5 and u.locked_until is not None
        with store.engine.begin() as c:  # the lock ran out
            c.execute(update(t.users).values(locked_until=None))
        ok = users.check_login(store, "user-0042", PASSWORD, unknown)
        assert ok.user is not None and users.user(store, "user-0042").failed_logins == 0
        users.set_disabled(store, "user-0042", True)
        assert users.check_login(store, "user-0042", PASSWORD, unknown).user is None
    finally:
        store.close()
    locks = [e for e in chain(home, users.USERS_CHAIN) if e["action"] == "user.locked"]
    assert [(e["details"]["user"], e["details"]["locked_for_s"]) for e in locks] == [
        ("user-0042", 2)]
    assert users._lock_seconds(4) == 0 and users._lock_seconds(6) == 4
    assert users._lock_seconds(100) == users.MAX_LOCK_S


def test_grants_decide_which_cases_a_user_sees(home: Path) -> None:
    for name, role in (("user-0042", "examiner"), ("rev-01", "reviewer"),
                       ("admin-01", "admin"), ("auditor-01", "auditor")):
        add_user(home, name, role)
    for case in ("op-harbour", "op-lantern", "op-gone"):
        run(home, "cases", "create", case)
    run(home, "cases", "grant", "op-harbour", "--user", "user-0042")
    run(home, "cases", "grant", "op-gone", "--user", "user-0042")
    run(home, "cases", "grant", "op-lantern", "--user", "rev-01")
    run(home, "cases", "delete", "op-gone", "--force")
    assert "already granted" in run(home, "cases", "grant", "op-harbour", "--user",
                                    "user-0042", ok=(2,))
    assert "sees every case" in run(home, "cases", "grant", "op-harbour", "--user",
                                    "admin-01", ok=(2,))
    assert "no case named 'op-nowhere'" in run(home, "cases", "grant", "op-nowhere",
                                               "--user", "user-0042", ok=(2,))
    assert "no user named 'user-0099'" in run(home, "cases", "grant", "op-harbour",
                                              "--user", "user-0099", ok=(2,))
    grants = cli_json(home, "cases", "grants")
    assert [(g["case"], g["user"]) for g in grants] == [  # type: ignore[union-attr,index]
        ("op-gone", "user-0042"), ("op-harbour", "user-0042"), ("op-lantern", "rev-01")]
    store = open_store(home)
    try:
        def sees(name: str) -> list[str]:
            return users.visible_case_names(store, users.user(store, name))

        assert sees("user-0042") == ["op-harbour"]  # a deleted case is no longer seen
        assert sees("rev-01") == ["op-lantern"]
        assert sees("admin-01") == sees("auditor-01") == ["op-harbour", "op-lantern"]
        examiner = users.user(store, "user-0042")
        assert users.case_visible(store, examiner, "op-lantern") is None  # not granted
        assert users.case_visible(store, examiner, "op-nowhere") is None  # no such case
        run(home, "cases", "revoke", "op-harbour", "--user", "user-0042")
        assert sees("user-0042") == []
        assert "is not granted" in run(home, "cases", "revoke", "op-harbour", "--user",
                                       "user-0042", ok=(2,))
        harbour = store.cases.id("op-harbour")
    finally:
        store.close()
    log = [e for e in chain(home, f"case:{harbour}") if e["action"].startswith("case.")]
    assert [e["action"] for e in log] == ["case.created", "case.granted",
                                          "case.grant_revoked"]
    assert "intact" in run(home, "custody", "verify")


def test_partners_are_listed_and_revoked(home: Path) -> None:
    from cairn.store import exchange as ex

    run(home, "exchange", "add-partner", "agency-b")
    store = open_store(home)
    try:
        (secret,) = [line for line in run(home, "exchange", "add-partner", "agency-c")
                     .splitlines() if line and " " not in line]
        assert ex.partner_for_token(store, secret) is not None
        run(home, "exchange", "revoke", "agency-c")
        assert ex.partner_for_token(store, secret) is None
    finally:
        store.close()
    listed = cli_json(home, "exchange", "partners")
    assert [(p["name"], p["status"]) for p in listed] == [  # type: ignore[union-attr,index]
        ("agency-b", "active"), ("agency-c", "revoked")]
    assert listed[1]["revoked_at"]  # type: ignore[index]
    assert "already revoked" in run(home, "exchange", "revoke", "agency-c", ok=(2,))
    assert "no partner named 'agency-z'" in run(home, "exchange", "revoke", "agency-z",
                                                ok=(2,))


def test_no_secret_is_stored_in_clear(home: Path) -> None:
    out = cli_json(home, "users", "add", "user-0042", "--role", "examiner")
    secrets_ = [out["password"], PASSWORD]  # type: ignore[index]
    add_user(home, "rev-01", "reviewer")
    secrets_.append(token(home, "user-0042", "write"))
    store = open_store(home)
    try:
        session, csrf = users.create_session(store, users.user(store, "rev-01"))
        p = users.principal_for_session(store, session)
        assert p is not None and users.check_csrf(p, csrf) and not users.check_csrf(p, "x")
    finally:
        store.close()
    secrets_ += [session, csrf]
    stored = every_stored_text(home)
    assert "$argon2id$" in stored  # the passwords' hashes are there
    for s in secrets_:
        assert s not in stored
        assert s.removeprefix("cairn_")[6:] not in stored  # nor the part a listing hides


# -- HTTP, against a real `cairn serve` --------------------------------------------------------
class World:
    def __init__(self, home: Path, server: Server, tokens: dict[str, str], partner: str):
        self.home, self.server, self.tokens, self.partner = home, server, tokens, partner
        self.url = server.url

    def get(self, path: str, who: str | None = None, **kw: object) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        return httpx.get(self.url + path, headers=headers, **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    home = tmp_path_factory.mktemp("serve") / "home"
    for name, role in (("user-0042", "examiner"), ("rev-01", "reviewer"),
                       ("admin-01", "admin"), ("auditor-01", "auditor"),
                       ("user-0050", "examiner"), ("user-0051", "examiner"),
                       ("user-0052", "reviewer")):
        add_user(home, name, role)
    for case in ("op-harbour", "op-lantern"):
        run(home, "cases", "create", case)
    run(home, "cases", "grant", "op-harbour", "--user", "user-0042")
    run(home, "cases", "grant", "op-harbour", "--user", "rev-01")
    tokens = {"examiner": token(home, "user-0042", "read"),
              "examiner-lookup": token(home, "user-0042", "lookup"),
              "reviewer": token(home, "rev-01", "write"),
              "admin": token(home, "admin-01", "write"),
              "admin-read": token(home, "admin-01", "read"),
              "auditor": token(home, "auditor-01", "read"),
              "revoked": token(home, "user-0042", "read"),
              "expired": token(home, "user-0042", "read"),
              "disabled": token(home, "user-0050", "read")}
    run(home, "tokens", "revoke", tokens["revoked"][:users.PREFIX_SHOWN])
    run(home, "users", "disable", "user-0050")
    store = Store.open(home)
    with store.engine.begin() as c:
        c.execute(update(t.api_tokens).where(t.api_tokens.c.prefix == tokens["expired"][:12])
                  .values(expires_at=(datetime.now(UTC) - timedelta(seconds=1)).isoformat()))
    store.close()
    lines = run(home, "exchange", "add-partner", "agency-b").splitlines()
    partner = [line for line in lines if line and " " not in line][0]
    server = Server(home, "--max-body-mib", "1")
    try:
        yield World(home, server, tokens, partner)
    finally:
        server.stop()


def test_status_needs_no_credential(world: World) -> None:
    r = world.get("/status")
    assert (r.status_code, r.text) == (200, "I-AM-ALIVE")


def test_no_or_dead_credentials_are_401(world: World) -> None:
    for headers in ({}, {"Authorization": "Bearer cairn_" + "A" * 43},
                    {"Authorization": "Bearer"}, {"Authorization": "Basic !!!"},
                    {"Authorization": "Digest x"}):
        r = httpx.get(world.url + "/api/v1/whoami", headers=headers)
        assert r.status_code == 401, headers
        assert r.headers["www-authenticate"] == "Bearer"
    bodies = {world.get("/api/v1/whoami", who).text
              for who in ("revoked", "expired", "disabled")}
    assert [world.get("/api/v1/whoami", who).status_code
            for who in ("revoked", "expired", "disabled")] == [401] * 3
    assert len(bodies) == 1  # the same answer whatever was wrong with it
    r = httpx.get(world.url + "/api/v1/whoami", cookies={"cairn_session": "forged"})
    assert r.status_code == 401


def test_whoami_and_what_each_role_sees(world: World) -> None:
    me = world.get("/api/v1/whoami", "examiner").json()
    assert me == {"user": "user-0042", "role": "examiner", "via": "token",
                  "capabilities": ["custody", "lookup", "read"], "cases": ["op-harbour"]}
    assert "cases" not in world.get("/api/v1/whoami", "examiner-lookup").json()
    assert world.get("/api/v1/whoami", "admin").json()["cases"] == ["op-harbour", "op-lantern"]
    auditor = world.get("/api/v1/whoami", "auditor").json()
    assert auditor["capabilities"] == ["custody"]


def test_wrong_role_or_scope_is_403(world: World) -> None:
    assert world.get("/api/v1/users", "admin").status_code == 200
    for who in ("admin-read", "examiner", "reviewer", "auditor"):  # scope, then roles
        r = world.get("/api/v1/users", who)
        assert r.status_code == 403 and "admin capability" in r.json()["detail"], who
    assert world.get("/api/v1/cases/op-harbour/custody", "reviewer").status_code == 403
    assert world.get("/api/v1/cases/op-harbour/custody", "examiner-lookup").status_code == 403


def test_a_case_not_granted_looks_like_no_case(world: World) -> None:
    granted = world.get("/api/v1/cases/op-harbour/custody", "examiner")
    assert granted.status_code == 200
    assert [e["action"] for e in granted.json()["entries"]][:2] == ["case.created",
                                                                  "case.granted"]
    other = world.get("/api/v1/cases/op-lantern/custody", "examiner")
    unknown = world.get("/api/v1/cases/op-nowhere/custody", "examiner")
    assert other.status_code == unknown.status_code == 403
    assert other.content == unknown.content
    assert set(other.headers.items()) - set(unknown.headers.items()) <= {
        ("date", other.headers["date"])}
    assert unknown.status_code == world.get("/api/v1/cases/op-nowhere/custody",
                                            "admin").status_code
    for who in ("auditor", "admin"):  # auditors read every case's custody log
        assert world.get("/api/v1/cases/op-lantern/custody", who).status_code == 200


def test_partner_tokens_open_taxii_only_and_user_tokens_never_open_it(world: World) -> None:
    import base64

    partner = {"Authorization": f"Bearer {world.partner}"}
    basic = {"Authorization": "Basic " + base64.b64encode(
        f"agency-b:{world.partner}".encode()).decode()}
    for headers in (partner, basic):
        assert httpx.get(world.url + "/taxii2/", headers=headers).status_code == 200
        assert httpx.get(world.url + "/api/", headers=headers).status_code == 200
        r = httpx.get(world.url + "/api/v1/whoami", headers=headers)
        assert r.status_code == 403 and "TAXII" in r.json()["detail"]
    for who in ("admin", "examiner"):
        assert world.get("/taxii2/", who).status_code == 401
        assert world.get("/api/collections/", who).status_code == 401


def test_bodies_over_the_cap_are_413(world: World) -> None:
    big = b"x" * ((1 << 20) + 1)
    auth = {"Authorization": f"Bearer {world.tokens['admin']}"}
    # the routes would answer 400 (a token cannot log out) or change something: a 413 is
    # the cap, before any of it
    r = httpx.post(world.url + "/logout", content=big, headers=auth)
    assert r.status_code == 413 and "over 1048576 bytes" in r.json()["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: refused once past the cap
        for _ in range(40):
            yield b"y" * 65536

    for path in ("/logout", "/api/v1/users/user-0051/disable"):  # read or not by the route
        r = httpx.post(world.url + path, content=chunks(), headers=auth)
        assert r.status_code == 413, path
    assert not [u for u in world.get("/api/v1/users", "admin").json() if u["disabled_at"]
                and u["name"] == "user-0051"]  # nothing changed
    small = httpx.post(world.url + "/logout", content=b"z" * 1000, headers=auth)
    assert small.status_code == 400  # under the cap the route answers
    r = httpx.post(world.url + "/login", content=b"user=a&password=" + b"p" * 9000,
                   headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 413

    def login_chunks() -> Iterator[bytes]:  # a chunked login: counted as read, not declared
        yield b"user=a&password="
        for _ in range(20):
            yield b"p" * 1024

    r = httpx.post(world.url + "/login", content=login_chunks(),
                   headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 413
    fields = "&".join(f"f{i}=x" for i in range(150)).encode()  # over parse_qs's 100: no form
    r = httpx.post(world.url + "/login", content=fields,
                   headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 422


def test_both_framings_at_once_are_refused(world: World) -> None:
    """Content-Length and Transfer-Encoding together: h11 would read the body as chunked and
    the declared length would cap nothing, so the request is refused before it is read (by
    BodyLimit under h11; httptools, the default parser once installed, refuses it itself)."""
    import socket
    from urllib.parse import urlsplit

    u = urlsplit(world.url)
    with socket.create_connection((u.hostname, u.port), timeout=10) as sock:
        sock.sendall(b"POST /login HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Type: application/x-www-form-urlencoded\r\n"
                     b"Content-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"
                     + b"4000\r\n" + b"p" * 0x4000 + b"\r\n")
        reply = b""
        while chunk := sock.recv(4096):  # the server closes the connection after its reply
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 400")
    assert b"together" in reply or b"Invalid HTTP request received" in reply

def test_sessions_cookies_and_csrf(world: World) -> None:
    with httpx.Client(base_url=world.url) as client:
        bad = client.post("/login", data={"user": "user-0051", "password": "nope nope nope"})
        assert bad.status_code == 401 and "cairn_session" not in bad.headers.get(
            "set-cookie", "")
        r = client.post("/login", data={"user": "admin-01", "password": PASSWORD})
        assert r.status_code == 200, r.text
        cookie = r.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "secure" not in cookie
        csrf = r.json()["csrf_token"]
        session = client.cookies["cairn_session"]
        assert client.get("/api/v1/whoami").json()["via"] == "session"

        path = "/api/v1/users/user-0051/disable"
        assert client.post(path).status_code == 403  # no CSRF token
        assert client.post(path, headers={"X-CSRF-Token": "0" * 64}).status_code == 403
        r = client.post(path, headers={"X-CSRF-Token": csrf})
        assert r.status_code == 200 and r.json()["disabled_at"]
        r = client.post("/api/v1/users/user-0051/enable", data={"csrf_token": csrf})
        assert r.status_code == 200 and r.json()["disabled_at"] is None

        assert client.post("/logout").status_code == 403  # logging out needs it too
        assert client.post("/logout", headers={"X-CSRF-Token": csrf}).status_code == 200
        r = httpx.get(world.url + "/api/v1/whoami", cookies={"cairn_session": session})
        assert r.status_code == 401  # the session ended, not just the cookie

    secure = httpx.post(world.url + "/login", data={"user": "admin-01", "password": PASSWORD},
                        headers={"X-Forwarded-Proto": "https"})  # as behind a TLS proxy
    assert "secure" in secure.headers["set-cookie"].lower()

    log = chain(world.home, users.USERS_CHAIN)
    by = [(e["action"], e["details"].get("by")) for e in log
          if e["details"].get("user") == "user-0051"]
    assert by[-2:] == [("user.disabled", "admin-01"), ("user.enabled", "admin-01")]
    stored = every_stored_text(world.home)
    assert session not in stored and csrf not in stored


def test_login_backoff_over_http_is_the_same_for_unknown_names(world: World) -> None:
    def attempts(name: str) -> list[tuple[int, str, str | None]]:
        out = []
        for password in ["wrong password!"] * users.FREE_FAILURES + [PASSWORD]:
            r = httpx.post(world.url + "/login", data={"user": name, "password": password})
            out.append((r.status_code, r.text, r.headers.get("retry-after")))
        return out

    known, unknown = attempts("user-0052"), attempts("user-0999")
    assert [s for s, _, _ in known] == [401] * 5 + [429]  # the right password, unchecked
    assert [(s, body) for s, body, _ in known] == [(s, body) for s, body, _ in unknown]
    assert all(int(after or 0) in (1, 2) for _, _, after in (known[-1], unknown[-1]))
    locks = [e for e in chain(world.home, users.USERS_CHAIN) if e["action"] == "user.locked"]
    assert locks and locks[-1]["details"]["user"] == "user-0052"


def test_serve_with_workers(tmp_path: Path) -> None:
    home = tmp_path / "home"
    add_user(home, "user-0042", "examiner")
    secret = token(home, "user-0042", "read")
    server = Server(home, "--workers", "2")
    try:
        for _ in range(6):  # whichever process answers, the same store and app
            r = httpx.get(server.url + "/api/v1/whoami",
                          headers={"Authorization": f"Bearer {secret}"})
            assert r.status_code == 200 and r.json()["user"] == "user-0042"
        assert httpx.get(server.url + "/taxii2/").status_code == 401
    finally:
        server.stop()


def test_postgres_store_serves_logins(tmp_path: Path) -> None:
    """The server on PostgreSQL (from CAIRN_DATABASE_URL): a login and a token. The store
    functions' tests run on both databases; this one checks the server's side of it."""
    for url in database("postgresql"):
        home = tmp_path / "pg"
        DB_URLS[home] = url
        add_user(home, "user-0042", "reviewer")
        secret = token(home, "user-0042", "lookup")
        server = Server(home)
        try:
            r = httpx.post(server.url + "/login", data={"user": "user-0042",
                                                        "password": PASSWORD})
            assert r.status_code == 200
            r = httpx.get(server.url + "/api/v1/whoami",
                          headers={"Authorization": f"Bearer {secret}"})
            assert r.json()["capabilities"] == ["lookup"]
        finally:
            server.stop()
            DB_URLS.pop(home, None)


def test_sql_text_in_credentials_changes_nothing(world: World) -> None:
    for value in ("' OR 1=1 --", "admin-01'; DROP TABLE users; --"):
        r = httpx.post(world.url + "/login", data={"user": value, "password": value})
        assert r.status_code in (401, 429)
        r = httpx.get(world.url + "/api/v1/whoami",
                      headers={"Authorization": f"Bearer cairn_{value}"})
        assert r.status_code == 401
    store = Store.open(world.home)
    with store.engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM users")).scalar_one() == 7
    store.close()


def test_require_knows_its_capabilities() -> None:
    from cairn.api.auth import require

    assert require("lookup").__name__ == "require_lookup"
    with pytest.raises(ValueError, match="'root'"):
        require("root")


def test_openapi_lists_our_routes_not_taxiis(world: World) -> None:
    paths = httpx.get(world.url + "/openapi.json").json()["paths"]
    assert "/api/v1/whoami" in paths and "/login" in paths
    assert not [p for p in paths if p.startswith(("/taxii2", "/api/collections"))]


# -- HMA's routes inside `cairn serve`: lookups for any lookup token, bank changes need write --
PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"


def test_hma_routes_are_served_behind_the_tokens(world: World) -> None:
    def call(method: str, path: str, who: str | None, **kw: object) -> httpx.Response:
        headers = {"Authorization": f"Bearer {world.tokens[who]}"} if who else {}
        return httpx.request(method, world.url + path, headers=headers, **kw)  # type: ignore[arg-type]

    lookup = f"/m/raw_lookup?signal_type=pdq&signal={PDQ}"
    assert call("GET", lookup, None).status_code == 401
    assert call("GET", lookup, "revoked").status_code == 401
    assert call("GET", lookup, "examiner-lookup").json() == {"matches": []}
    # a lookup token may look up, never add to a list; a partner's TAXII token opens nothing
    r = call("POST", "/c/banks", "examiner-lookup", json={"name": "SHARED_BANK"})
    assert r.status_code == 403
    assert call("GET", "/c/banks", "examiner-lookup").json() == []
    r = httpx.get(world.url + lookup, headers={"Authorization": f"Bearer {world.partner}"})
    assert r.status_code in (401, 403)
    assert call("POST", "/c/banks", "admin", json={"name": "SHARED_BANK"}).status_code == 201
    r = call("POST", "/c/bank/SHARED_BANK/signal", "admin", json={"pdq": PDQ})
    assert r.status_code == 200 and r.json()["signals"] == {"pdq": PDQ}
    got = call("GET", lookup + "&include_distance=true", "examiner-lookup").json()
    assert got == {"matches": [{"bank_content_id": r.json()["id"], "distance": "0"}]}
    assert call("GET", f"/m/raw_lookup?signal_type=pdq&signal={PDQ}&url=http://x.test/",
                "examiner-lookup").status_code == 400
    entries = [e for e in chain(world.home, STORE_CHAIN) if "SHARED_BANK" in json.dumps(e)]
    assert entries, "the bank's creation and its signal are in the lists' custody chain"
