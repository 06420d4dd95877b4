"""The raw-ASGI fast path for HMA's hot lookups (api/fast_lookup.py) answers exactly as the
FastAPI routes do.

Two apps over one store, `create_app(..., fast_lookup=True)` and `fast_lookup=False`, are
asked the same requests: hits and misses, distances, bank filters, coin-flips with seeds, bad
and empty hashes, unknown signal types, `url=`, missing and repeated parameters, no token, a
dead or revoked token, a partner's token, a token without the lookup capability, HTTP Basic,
a session cookie, and the wrong methods. Status, content type and body bytes must be equal;
and the fast path must really have answered the plain requests itself (its counter). One
test asks a real `cairn serve` (httptools) and compares with the FastAPI route in-process.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from cairn.api.app import create_app, default_routers
from cairn.api.fast_lookup import FastLookup
from cairn.store import Store, users
from cairn.store import exchange as ex
from inprocess import EXAMINER
from serve_fixtures import PASSWORD, Server, add_user, open_store

PDQ_A = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
PDQ_NEAR = PDQ_A[:-1] + "1"  # 2 bits from PDQ_A
PDQ_FAR = "0" * 64
MD5_A = "d41d8cd98f00b204e9800998ecf8427e"


class World:
    def __init__(self, home: Path, store: Store) -> None:
        self.home, self.store = home, store
        self.fast = TestClient(create_app(store, routers=default_routers(store)))
        self.slow = TestClient(create_app(store, routers=default_routers(store),
                                          fast_lookup=False))
        self.fast.get("/status")  # builds its middleware stack
        self.tokens: dict[str, str] = {}

    def bearer(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def middleware(self) -> FastLookup:
        """The FastLookup instance in the fast app's (built) middleware stack."""
        layer: Any = self.fast.app.middleware_stack  # type: ignore[attr-defined]
        while not isinstance(layer, FastLookup):
            layer = layer.app
        return layer


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    mp = pytest.MonkeyPatch()
    mp.setenv("CAIRN_EXAMINER", EXAMINER)
    home = tmp_path_factory.mktemp("fast") / "home"
    for name, role in (("user-0042", "examiner"), ("auditor-01", "auditor")):
        add_user(home, name, role)
    store = open_store(home)
    w = World(home, store)
    for key, user, scope in (("lookup", "user-0042", "lookup"),
                             ("write", "user-0042", "write"),
                             ("auditor", "auditor-01", "read"),
                             ("revoked", "user-0042", "lookup")):
        tok, w.tokens[key] = users.create_token(store, user, scope, None)
        if key == "revoked":
            users.revoke_token(store, str(tok.id))
    w.tokens["partner"] = ex.add_partner(store, "agency-example")
    write = w.bearer("write")
    for bank, signals in (("BANK_A", {"pdq": PDQ_A, "video_md5": MD5_A}),
                          ("BANK_B", {"pdq": PDQ_NEAR})):
        assert w.slow.post("/c/banks", json={"name": bank}, headers=write).status_code == 201
        for kind, value in signals.items():
            r = w.slow.post(f"/c/bank/{bank}/signal", json={kind: value}, headers=write)
            assert r.status_code == 200, r.text
    r = w.slow.put("/c/bank/BANK_B", json={"enabled_ratio": 0.5}, headers=write)
    assert r.status_code == 200
    r = w.slow.post("/login", data={"user": "user-0042", "password": PASSWORD})
    w.tokens["session"] = r.cookies["cairn_session"]
    w.slow.cookies.clear()  # sent only where a test says so
    try:
        yield w
    finally:
        store.close()
        mp.undo()


def same(w: World, method: str, url: str, headers: dict[str, str] | None = None
         ) -> httpx.Response:
    """Ask both apps; their answers must be equal (status, type, bytes); the fast one's."""
    fast = w.fast.request(method, url, headers=headers)
    slow = w.slow.request(method, url, headers=headers)
    assert (fast.status_code, fast.headers.get("content-type"), fast.content) == (
        slow.status_code, slow.headers.get("content-type"), slow.content), (method, url)
    assert fast.headers.get("www-authenticate") == slow.headers.get("www-authenticate")
    return fast


def raw(signal: str, **extra: str) -> str:
    q = "&".join(f"{k}={v}" for k, v in ({"signal_type": "pdq", "signal": signal} | extra
                                          ).items())
    return f"/m/raw_lookup?{q}"


def test_hits_and_misses_are_the_routes_answers(world: World) -> None:
    lookup = world.bearer("lookup")
    before = world.middleware().answered
    a = same(world, "GET", raw(PDQ_A), lookup).json()["matches"]
    assert len(a) == 2  # BANK_A's and BANK_B's (2 bits off)
    assert same(world, "GET", raw(PDQ_A, include_distance="true"), lookup).json() == {
        "matches": [{"bank_content_id": a[0], "distance": "0"},
                    {"bank_content_id": a[1], "distance": "2"}]}
    for extra in ({"include_distance": "1"}, {"include_distance": "false"},
                  {"include_distance": "0"}, {"banks": "BANK_B"}, {"banks": "BANK_A,NONE"},
                  {"banks": "NONE"}, {"other": "ignored"}, {"banks": "BANK_A+x"}):
        same(world, "GET", raw(PDQ_A, **extra), lookup)
    assert same(world, "GET", raw(PDQ_FAR), lookup).json() == {"matches": []}
    assert same(world, "GET", f"/m/raw_lookup?signal_type=video_md5&signal={MD5_A}",
                lookup).json() == {"matches": [a[0] + 1]}
    # unseeded, the coin-flip is a fresh draw per call: compared where every bank answers
    got = same(world, "GET", f"/m/lookup?signal_type=pdq&signal={PDQ_A}&banks=BANK_A",
               lookup).json()
    assert got == {"BANK_A": [{"bank_content_id": a[0], "distance": "0"}]}
    for seed in ("1", "2", "3", "4", "5", "seed-0042"):  # BANK_B answers on about half
        same(world, "GET", f"/m/lookup?signal_type=pdq&signal={PDQ_A}&seed={seed}", lookup)
    same(world, "GET", f"/m/lookup?signal_type=pdq&signal={PDQ_A}&banks=BANK_B&seed=1",
         lookup)
    assert same(world, "GET", f"/m/lookup?signal_type=pdq&signal={PDQ_FAR}",
                lookup).json() == {}
    assert world.middleware().answered - before == 21  # all of these answered up front


def test_bad_hashes_types_and_parameters_are_the_routes_errors(world: World) -> None:
    lookup = world.bearer("lookup")
    mw = world.middleware()
    answered = mw.answered
    assert same(world, "GET", raw(PDQ_A.upper()), lookup).json() == {
        "message": "invalid signal: invalid PDQ hash"}
    for url in (raw(PDQ_A[:-2]), raw("zz" * 32), "/m/raw_lookup?signal_type=md5&signal=ab",
                f"/m/lookup?signal_type=pdq&signal={PDQ_A[:10]}",
                "/m/lookup?signal_type=vpdq&signal=nonsense",
                "/m/lookup?signal_type=nope&signal=1"):
        assert same(world, "GET", url, lookup).status_code == 400, url
    assert mw.answered - answered == 7
    passed = mw.passed
    for url in (raw(""), "/m/lookup?signal_type=pdq&signal=", "/m/raw_lookup?signal=" + PDQ_A,
                "/m/raw_lookup?signal_type=pdq", "/m/lookup", raw(PDQ_A, url="http://x.test/"),
                raw(PDQ_A) + "&signal=" + PDQ_FAR, raw(PDQ_A, include_distance="yes"),
                raw(PDQ_A, include_distance="maybe"), raw("%ZZ"), raw("%C3%A9" * 32)):
        r = same(world, "GET", url, lookup)
        assert r.status_code in (200, 400, 422), url
    assert mw.passed - passed == 9  # FastAPI answered the unusual ones
    assert same(world, "GET", "/m/lookup?signal_type=pdq&signal=", lookup).json() == {}
    assert same(world, "GET", raw(PDQ_A, url="http://x.test/"), lookup).status_code == 400
    assert same(world, "GET", "/m/raw_lookup?signal_type=pdq", lookup).status_code == 422


def test_credentials_are_checked_as_the_routes_check_them(world: World) -> None:
    url = raw(PDQ_A)
    mw = world.middleware()
    answered = mw.answered
    no = same(world, "GET", url)
    assert no.status_code == 401 and no.headers["www-authenticate"] == "Bearer"
    for headers, status in (
            ({"Authorization": "Bearer cairn_not-a-token"}, 401),
            ({"Authorization": "Bearer "}, 401),
            ({"Authorization": "Token " + world.tokens["lookup"]}, 401),
            (world.bearer("revoked"), 401),
            (world.bearer("auditor"), 403),  # a read token of an auditor: no lookup
            (world.bearer("partner"), 403),  # a TAXII partner's token
            ({"Authorization": "Basic YWdlbmN5OnNlY3JldA=="}, 401),
            ({"Cookie": f"cairn_session={world.tokens['session']}"}, 200),
            ({"Cookie": "cairn_session=nope"}, 401)):
        r = same(world, "GET", url, headers)
        assert r.status_code == status, headers
    assert mw.answered == answered  # none of these was answered up front
    assert same(world, "GET", url, {"Authorization": "bearer " + world.tokens["lookup"]}
                ).status_code == 200
    assert mw.answered == answered + 1


def test_wrong_methods_go_on_to_fastapi(world: World) -> None:
    lookup = world.bearer("lookup")
    for method, url in (("POST", raw(PDQ_A)), ("PUT", raw(PDQ_A)), ("DELETE", raw(PDQ_A)),
                        ("HEAD", raw(PDQ_A)), ("PUT", "/m/lookup"),
                        ("POST", f"/m/lookup?signal_type=pdq&signal={PDQ_A}")):
        same(world, method, url, lookup)
    assert same(world, "POST", raw(PDQ_A), lookup).status_code == 405
    assert same(world, "PUT", "/m/lookup", lookup).status_code == 405
    same(world, "GET", "/m/raw_lookup/", lookup)  # not the route's path


def test_a_real_cairn_serve_answers_as_the_route(world: World) -> None:
    """httptools and uvloop in the real server, compared with FastAPI's route in-process."""
    server = Server(world.home)
    try:
        lookup = world.bearer("lookup")
        for url in (raw(PDQ_A), raw(PDQ_A, include_distance="true"), raw(PDQ_FAR),
                    raw(PDQ_A[:-1]), f"/m/lookup?signal_type=pdq&signal={PDQ_A}&seed=3",
                    "/m/lookup?signal_type=md5&signal=" + MD5_A):
            for headers in (lookup, {}, world.bearer("auditor")):
                got = httpx.get(server.url + url, headers=headers)
                want = world.slow.get(url, headers=headers)
                assert (got.status_code, got.headers["content-type"], got.content) == (
                    want.status_code, want.headers["content-type"], want.content), url
    finally:
        server.stop()
