"""The HMA-compatible routes (api/hma.py): shapes as HMA 1.1.x answers them, on the real store.

The expected bodies are written out literally: they are the shapes of HMA 1.1.7's
OpenMediaMatch blueprints (`matching.py`, `hashing.py`, `curation.py`) and their tests, as
../shared/reference/FACTS.md records them; only the ids and hashes are this test's own.
Route tests use FastAPI's TestClient (in-process, fast); one test serves the router from a
real uvicorn on 127.0.0.1 and calls it with httpx.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi import FastAPI, HTTPException
from fastapi.testclient import TestClient
from PIL import Image

from cairn.api.hma import URL_REFUSED, hma_router
from cairn.store.store import Store
from inprocess import run
from serve_fixtures import serving

PDQ_A = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
PDQ_NEAR = PDQ_A[:-1] + "1"  # 2 bits from PDQ_A
PDQ_FAR = "0" * 64
MD5_A = "d41d8cd98f00b204e9800998ecf8427e"


def client(store: Store, guard=lambda: None, **kw) -> TestClient:  # noqa: ANN001
    app = FastAPI()
    app.include_router(hma_router(store, guard, **kw))
    return TestClient(app)


@pytest.fixture
def api(store: Store) -> TestClient:
    return client(store)


def png(seed: int = 3, size: tuple[int, int] = (64, 48)) -> bytes:
    """A benign noise picture."""
    px = (np.random.default_rng(seed).random((size[1], size[0], 3)) * 255).astype("uint8")
    buf = io.BytesIO()
    Image.fromarray(px).save(buf, "PNG")
    return buf.getvalue()


def bank(api: TestClient, name: str, **signals: str) -> list[int]:
    assert api.post("/c/banks", json={"name": name}).status_code == 201
    return [api.post(f"/c/bank/{name}/signal", json={k: v}).json()["id"]
            for k, v in signals.items()]


# -- /m: lookups -------------------------------------------------------------------------------
def test_raw_lookup_hits_and_misses(api: TestClient) -> None:
    (a,) = bank(api, "BANK_A", pdq=PDQ_A)
    (b,) = bank(api, "BANK_B", pdq=PDQ_NEAR)
    q = {"signal_type": "pdq", "signal": PDQ_A}
    # HMA 1.1.7 matching.py raw_lookup: {"matches": [ids]}; with distance, ids and a STRING
    assert api.get("/m/raw_lookup", params=q).json() == {"matches": [a, b]}
    r = api.get("/m/raw_lookup", params=q | {"include_distance": "true"})
    assert r.json() == {"matches": [{"bank_content_id": a, "distance": "0"},
                                    {"bank_content_id": b, "distance": "2"}]}
    assert r.text == (f'{{"matches":[{{"bank_content_id":{a},"distance":"0"}},'
                      f'{{"bank_content_id":{b},"distance":"2"}}]}}')  # keys sorted
    assert api.get("/m/raw_lookup", params=q | {"banks": "BANK_B"}).json() == {"matches": [b]}
    miss = api.get("/m/raw_lookup", params={"signal_type": "pdq", "signal": PDQ_FAR})
    assert miss.status_code == 200 and miss.json() == {"matches": []}


def test_lookup_groups_by_bank_and_omits_the_rest(api: TestClient) -> None:
    (a,) = bank(api, "BANK_A", pdq=PDQ_A)
    bank(api, "EMPTY_BANK")
    r = api.get("/m/lookup", params={"signal_type": "pdq", "signal": PDQ_NEAR})
    # HMA 1.1.7 matching.py lookup: {"BANK": [{"bank_content_id", "distance"}]}
    assert r.json() == {"BANK_A": [{"bank_content_id": a, "distance": "2"}]}
    r = api.get("/m/lookup", params={"signal_type": "pdq", "signal": PDQ_FAR})
    assert r.json() == {}


def test_bad_hex_unknown_type_and_missing_params(api: TestClient) -> None:
    for bad in ("xyz", PDQ_A.upper(), PDQ_A + "0"):
        r = api.get("/m/raw_lookup", params={"signal_type": "pdq", "signal": bad})
        assert (r.status_code, r.json()) == (400, {"message": "invalid signal: invalid PDQ hash"})
    r = api.get("/m/lookup", params={"signal_type": "md5", "signal": MD5_A})
    assert (r.status_code, r.json()) == (400, {"message": "No such SignalType 'md5'"})
    r = api.get("/m/raw_lookup", params={"signal_type": "pdq"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "signal"]


def test_video_md5_answers_from_md5_entries(api: TestClient, store: Store) -> None:
    (e,) = bank(api, "VIDEOS", video_md5=MD5_A)
    assert store.lists.by_id([e])[e]["signal_type"] == "md5"
    r = api.get("/m/raw_lookup", params={"signal_type": "video_md5", "signal": MD5_A,
                                         "include_distance": "true"})
    assert r.json() == {"matches": [{"bank_content_id": e, "distance": "-"}]}


def test_withdrawn_false_positive_and_removed_never_come_back(store: Store) -> None:
    api = client(store, recheck=0.0)  # sees changes made beside it (the CLI) at once
    bank(api, "BANK_A", pdq=PDQ_A)
    (b,) = bank(api, "BANK_B", pdq=PDQ_NEAR)
    q = {"signal_type": "pdq", "signal": PDQ_A}
    store.lists.set_status("BANK_A", [PDQ_A], "false_positive")  # as `cairn lists` does
    assert api.get("/m/raw_lookup", params=q).json() == {"matches": [b]}
    store.lists.set_status("BANK_B", [PDQ_NEAR], "withdrawn")
    assert api.get("/m/raw_lookup", params=q).json() == {"matches": []}
    store.lists.set_status("BANK_B", [PDQ_NEAR], "active")
    assert api.delete("/c/bank/BANK_B").json() == {"message": "Done"}
    assert api.get("/m/raw_lookup", params=q).json() == {"matches": []}
    assert api.get("/m/lookup", params=q).json() == {}


def test_list_thresholds_are_honoured(api: TestClient, store: Store) -> None:
    store.lists.add("strict list", "generated", "te-local", 1,
                    [{"signal_type": "pdq", "value": PDQ_A, "line": 1}], 0)
    near = api.get("/m/raw_lookup", params={"signal_type": "pdq", "signal": PDQ_NEAR})
    exact = api.get("/m/raw_lookup", params={"signal_type": "pdq", "signal": PDQ_A})
    assert near.json() == {"matches": []} and len(exact.json()["matches"]) == 1


def test_coinflip_is_seeded_and_bypassed_only_on_post(api: TestClient) -> None:
    (a,) = bank(api, "BANK_A", pdq=PDQ_A)
    assert api.put("/c/bank/BANK_A", json={"enabled_ratio": 0.0}).json() == {
        "matching_enabled_ratio": 0.0, "name": "BANK_A"}
    q = {"signal_type": "pdq", "signal": PDQ_A, "seed": "user-0042"}
    assert api.get("/m/lookup", params=q).json() == {}
    assert api.get("/m/lookup", params=q | {"bypass_coinflip": "true"}).json() == {}
    api.put("/c/bank/BANK_A", json={"enabled_ratio": 0.5})
    import random

    draw = random.Random("user-0042").random()
    want = {"BANK_A": [{"bank_content_id": a, "distance": "0"}]} if draw <= 0.5 else {}
    for _ in range(3):  # the same seed, the same answer
        assert api.get("/m/lookup", params=q).json() == want


def test_post_lookup_hashes_the_upload_keyed_by_signal_type(api: TestClient) -> None:
    data = png()
    r = api.post("/c/bank/NOPE/content", files={"photo": ("p.png", data, "image/png")})
    assert (r.status_code, r.json()) == (404, {"message": "bank 'NOPE' not found"})
    bank(api, "BANK_A")
    added = api.post("/c/bank/BANK_A/content", files={"photo": ("p.png", data, "image/png")})
    assert added.status_code == 200 and set(added.json()) == {"id", "signals"}
    e = added.json()["id"]
    api.put("/c/bank/BANK_A", json={"enabled_ratio": 0.0})
    r = api.post("/m/lookup", params={"bypass_coinflip": "true"},
                 files={"photo": ("p.png", data, "image/png")})
    # HMA 1.1.7 matching.py lookup_post: keyed by signal type first
    assert r.json() == {"pdq": {"BANK_A": [{"bank_content_id": e, "distance": "0"}]}}
    r = api.post("/m/lookup", files={"photo": ("p.png", data, "image/png")})
    assert r.json() == {"pdq": {}}


def test_compare_gives_an_int_distance(api: TestClient) -> None:
    r = api.post("/m/compare", json={"pdq": [PDQ_A, PDQ_NEAR]})
    # HMA 1.1.7 matching.py compare: [matched, {"distance": int}]
    assert r.json() == {"pdq": [True, {"distance": 2}]}
    assert api.post("/m/compare", json={"pdq": [PDQ_A, PDQ_FAR]}).json()["pdq"][0] is False
    assert api.post("/m/compare", json={"pdq": [PDQ_A]}).status_code == 422
    assert api.post("/m/compare", json={"pdq": ["zz", PDQ_A]}).json() == {
        "message": "invalid signal: invalid PDQ hash"}


def test_index_status(api: TestClient) -> None:
    bank(api, "BANK_A", pdq=PDQ_A)
    r = api.get("/m/index/status", params={"signal_type": "pdq"}).json()
    # HMA 1.1.7 matching.py index_status: {"pdq": {"built_to", "present", "size"}}
    assert r == {"pdq": {"built_to": r["pdq"]["built_to"], "present": True, "size": 1}}
    assert r["pdq"]["built_to"] > 1_600_000_000
    assert set(api.get("/m/index/status").json()) == {"pdq", "video_md5", "vpdq"}
    r2 = api.get("/m/index/status", params={"signal_type": "md5"})
    assert (r2.status_code, r2.json()) == (400, {"message": "No such signal type 'md5'"})


# -- /h: hashing, and url= ---------------------------------------------------------------------
def test_hash_of_a_picture_equals_what_cairn_hash_prints(api: TestClient, store: Store,
                                                         tmp_path: Path) -> None:
    data = png(seed=11, size=(96, 80))
    (tmp_path / "p.png").write_bytes(data)
    printed = json.loads(run(store.home, "hash", "--json", tmp_path / "p.png"))
    r = api.post("/h/hash", files={"photo": ("p.png", data, "image/png")})
    # HMA 1.1.7 hashing.py: {"pdq": HEX}
    assert r.json() == {"pdq": printed["pdq"]["hash"]}
    assert api.post("/h/hash", params={"types": "pdq"},
                    files={"photo": ("p.png", data, "image/png")}).json() == r.json()


def test_hash_refuses_what_it_cannot_decode(api: TestClient, store: Store) -> None:
    r = api.post("/h/hash", files={"photo": ("p.png", b"not a picture", "image/png")})
    assert r.status_code == 400 and "not a image" in r.json()["message"]
    broken = png()[:200]
    r = api.post("/h/hash", files={"photo": ("p.png", broken, "image/png")})
    assert r.status_code == 400 and r.json()["message"].startswith("the photo could not be")
    r = api.post("/h/hash", files={"document": ("p.png", png(), "image/png")})
    assert r.status_code == 400 and "`photo` or `video`" in r.json()["message"]
    small = client(store, max_upload=1000)
    r = small.post("/h/hash", files={"photo": ("p.png", png(size=(200, 200)), "image/png")})
    assert r.status_code == 413 and "limit of 1000" in r.json()["message"]


def test_hash_of_a_video(api: TestClient, tmp_path: Path) -> None:
    import hashlib

    from cairn.demo import tiny_video

    tiny_video(tmp_path / "v.mp4", seconds=2)
    data = (tmp_path / "v.mp4").read_bytes()
    r = api.post("/h/hash", files={"video": ("v.mp4", data, "video/mp4")}).json()
    assert r["video_md5"] == hashlib.md5(data).hexdigest()
    assert isinstance(json.loads(r["vpdq"]), list)


@pytest.mark.parametrize("method,path", [
    ("get", "/h/hash"), ("get", "/m/lookup"), ("post", "/h/hash"), ("get", "/m/raw_lookup"),
    ("post", "/c/bank/BANK_A/content")])
def test_url_is_refused_everywhere(api: TestClient, method: str, path: str) -> None:
    r = getattr(api, method)(path, params={"url": "http://example.test/p.jpg"})
    assert (r.status_code, r.json()) == (400, {"message": URL_REFUSED})
    if path == "/h/hash" and method == "get":
        assert api.get(path).json() == {"message": URL_REFUSED}


# -- /c: banks ---------------------------------------------------------------------------------
def test_bank_crud(api: TestClient, store: Store) -> None:
    assert api.get("/c/banks").json() == []
    r = api.post("/c/banks", json={"name": "TEST_BANK", "enabled_ratio": 0.25})
    # HMA 1.1.7 curation.py: {"matching_enabled_ratio", "name"}, 201
    assert (r.status_code, r.json()) == (201, {"matching_enabled_ratio": 0.25,
                                               "name": "TEST_BANK"})
    assert api.post("/c/banks", json={"name": "TEST_BANK"}).json() == {
        "message": "Bank already exists"}
    assert api.post("/c/banks", json={"name": "TEST_BANK"}).status_code == 403
    for bad in ("lower", "1BANK", "A-B", "A B", ""):
        r = api.post("/c/banks", json={"name": bad})
        assert r.status_code == 400 and "must match" in r.json()["message"]
    assert api.post("/c/banks", json={}).status_code == 422
    assert api.get("/c/bank/TEST_BANK").json() == {"matching_enabled_ratio": 0.25,
                                                   "name": "TEST_BANK"}
    r = api.put("/c/bank/TEST_BANK", json={"name": "RENAMED", "enabled": True})
    assert r.json() == {"matching_enabled_ratio": 1.0, "name": "RENAMED"}
    assert api.put("/c/bank/RENAMED", json={"name": "bad name"}).status_code == 400
    for method in ("get", "put"):
        r = api.request(method.upper(), "/c/bank/TEST_BANK", json={})
        assert (r.status_code, r.json()) == (404, {"message": "bank 'TEST_BANK' not found"})
    assert api.get("/c/banks").json() == [{"matching_enabled_ratio": 1.0, "name": "RENAMED"}]
    assert api.delete("/c/bank/RENAMED").json() == {"message": "Done"}
    assert api.delete("/c/bank/NEVER_WAS").json() == {"message": "Done"}
    assert api.get("/c/banks").json() == []
    actions = [e["action"] for e in store.custody_entries()]
    assert actions == ["list.imported", "list.updated", "list.removed"]


def test_existing_cairn_lists_are_banks_under_their_own_names(api: TestClient,
                                                              store: Store) -> None:
    store.lists.add("ncmec sample", "generated", "te-local", 31,
                    [{"signal_type": "pdq", "value": PDQ_A, "line": 1}], 0)
    assert api.get("/c/banks").json() == [{"matching_enabled_ratio": 1.0,
                                           "name": "ncmec sample"}]
    assert api.get("/c/bank/ncmec sample").status_code == 200


def test_add_signal(api: TestClient, store: Store) -> None:
    r = api.post("/c/bank/NOPE/signal", json={"pdq": PDQ_A})
    assert (r.status_code, r.json()) == (404, {"message": "bank 'NOPE' not found"})
    bank(api, "BANK_A")
    r = api.post("/c/bank/BANK_A/signal", json={"pdq": PDQ_A, "note": "from user-0042"})
    # HMA 1.1.7 curation.py: {"id", "signals"}
    assert r.json() == {"id": r.json()["id"], "signals": {"pdq": PDQ_A}}
    (b,) = bank(api, "BANK_B", pdq=PDQ_NEAR)
    assert b > r.json()["id"]  # one id sequence across banks
    again = api.post("/c/bank/BANK_A/signal", json={"pdq": PDQ_A})
    assert again.json()["id"] == r.json()["id"]
    assert api.post("/c/bank/BANK_A/signal", json={"pdq": "zz"}).json() == {
        "message": "Invalid pdq signal: invalid PDQ hash"}
    assert api.post("/c/bank/BANK_A/signal", json={"md5": MD5_A}).json() == {
        "message": "No such signal type md5"}
    assert api.post("/c/bank/BANK_A/signal", json={}).json() == {"message": "No signals given"}
    appended = [e for e in store.custody_entries() if e["action"] == "list.appended"]
    assert len(appended) == 3 and appended[0]["subject"] == "list:BANK_A"


def test_signal_and_content_types(api: TestClient) -> None:
    # HMA 1.1.7 curation.py get_all_signal_types / content types
    assert api.get("/c/signal_type").json() == [{"enabled_ratio": 1.0, "name": "pdq"},
                                                {"enabled_ratio": 1.0, "name": "video_md5"},
                                                {"enabled_ratio": 1.0, "name": "vpdq"}]
    assert api.get("/c/content_type").json() == [{"enabled": True, "name": "photo"},
                                                 {"enabled": True, "name": "video"}]


def test_the_guard_comes_first_on_every_route(store: Store) -> None:
    def refuse() -> None:
        raise HTTPException(401, "credentials required", {"WWW-Authenticate": "Bearer"})

    router = hma_router(store, refuse)
    app = FastAPI()
    app.include_router(router)
    api = TestClient(app)
    routes = list(router.routes)
    assert len(routes) >= 14
    for route in routes:
        for method in route.methods:
            path = route.path.replace("{name}", "BANK_A")
            r = api.request(method, path, params={"url": "http://example.test/"})
            assert (r.status_code, r.json()) == (401, {"message": "credentials required"})
            assert r.headers["www-authenticate"] == "Bearer"


# -- a real server ------------------------------------------------------------------------------


def test_over_a_real_uvicorn(store: Store) -> None:
    app = FastAPI()
    app.include_router(hma_router(store, lambda: None))
    with serving(app) as base, httpx.Client(base_url=base) as http:
        assert http.post("/c/banks", json={"name": "LIVE"}).status_code == 201
        e = http.post("/c/bank/LIVE/signal", json={"pdq": PDQ_A}).json()["id"]
        r = http.get("/m/raw_lookup", params={"signal_type": "pdq", "signal": PDQ_NEAR,
                                              "include_distance": "true"})
        assert r.headers["content-type"] == "application/json"
        assert r.json() == {"matches": [{"bank_content_id": e, "distance": "2"}]}
        data = png()
        h = http.post("/h/hash", files={"photo": ("p.png", data, "image/png")}).json()
        assert len(h["pdq"]) == 64
        assert http.get("/h/hash", params={"url": "http://example.test/"}).status_code == 400
