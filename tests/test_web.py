"""The reviewer's workbench over HTTP (issue 18), against a real `cairn serve --port 0` on
loopback, on SQLite and PostgreSQL, with a case scanned from benign noise pictures the test
makes: photo-0 in two exhibits (the same bytes: one family), photo-1 matched by an MD5 list.

Checked: pages send a browser without a session to the login; a reviewer cannot open a case
not granted, nor its items' thumbnails (403, the same body as for no such case); thumbnails
leave the server grey and blurred (low saturation, far less high-frequency energy than the
revealed one of the same picture) with `Cache-Control: no-store`, and are cached in the
store's home, not beside the evidence; a reveal is a custody entry naming the user; a
decision posted without the session's CSRF token is 403, with it a review row and a
`review.recorded` custody entry; undo stacks; a decision applied to a family reaches every
member; the queue puts matched items first.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
from PIL import Image

from cairn.store import schema as t
from web_fixtures import CASE, OTHER, World, make_world


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[World]:
    yield from make_world(request, tmp_path_factory)

def png_pixels(body: bytes) -> np.ndarray:
    """The PNG's pixels as RGB floats (the test decodes what the server sent)."""
    return np.asarray(Image.open(io.BytesIO(body)).convert("RGB"), dtype=np.float64)


def saturation(rgb: np.ndarray) -> float:
    hi, lo = rgb.max(axis=2), rgb.min(axis=2)
    return float(np.mean(np.where(hi > 0, (hi - lo) / np.maximum(hi, 1), 0)))


def laplacian(rgb: np.ndarray) -> float:
    g = rgb.mean(axis=2)
    lap = (-4 * g[1:-1, 1:-1] + g[:-2, 1:-1] + g[2:, 1:-1] + g[1:-1, :-2] + g[1:-1, 2:])
    return float(np.mean(np.abs(lap)))


def test_pages_send_a_browser_without_a_session_to_the_login(world: World) -> None:
    r = httpx.get(world.url + f"/ui/cases/{CASE}/queue", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/ui/login?next=")
    login = httpx.get(world.url + "/ui/login")
    assert login.status_code == 200 and 'action="/login"' in login.text
    assert login.headers["cache-control"] == "no-store"
    assert httpx.get(world.url + "/ui/thumb/1").status_code == 401


def test_a_reviewer_sees_granted_cases_only(world: World) -> None:
    client, _ = world.session("rev-01")
    home = client.get("/ui/")
    assert home.status_code == 200 and CASE in home.text and OTHER not in home.text
    forbidden = [client.get(f"/ui/cases/{OTHER}"), client.get(f"/ui/cases/{OTHER}/queue"),
                 client.get("/ui/cases/no-such-case/queue")]
    assert {r.status_code for r in forbidden} == {403}
    assert len({r.text for r in forbidden}) == 1  # never a hint that the case exists
    other_item = next(iter(world.item_ids(OTHER).values()))
    for r in (client.get(f"/ui/thumb/{other_item}"),
              client.get(f"/ui/thumb/{other_item}/frames/0"),
              world.reveal(client, other_item)):
        assert r.status_code == 403 and r.text == forbidden[0].text
    assert client.get("/ui/thumb/999999").text == forbidden[0].text
    assert not [e for e in world.custody("item.revealed") if e["subject"] ==
                f"item:{other_item}"]
    mine = world.item_ids(CASE)["exhibit-01: photo-2.png"]
    assert client.get(f"/ui/cases/{OTHER}/items/{mine}").status_code == 403


def test_thumbnails_are_grey_and_blurred_until_revealed(world: World) -> None:
    client, _ = world.session("rev-01")
    item = world.item_ids(CASE)["exhibit-01: photo-2.png"]
    before = len(world.custody("item.revealed"))
    blurred = client.get(f"/ui/thumb/{item}", params={"reveal": 1})  # a GET never reveals
    clear = world.reveal(client, item)
    for r in (blurred, clear):
        assert r.status_code == 200 and r.headers["content-type"] == "image/png"
        assert r.headers["cache-control"] == "no-store"
    b, c = png_pixels(blurred.content), png_pixels(clear.content)
    assert b.shape == c.shape
    assert saturation(b) < 0.02 < 0.3 < saturation(c)  # grey; the noise picture is colourful
    assert laplacian(b) < laplacian(c) / 10  # blurred: the fine detail is gone
    revealed = world.custody("item.revealed")
    assert len(revealed) == before + 1
    assert revealed[-1]["subject"] == f"item:{item}" and '"by":"rev-01"' in \
        revealed[-1]["details"].replace(" ", "")
    sha = hashlib.sha256((world.tmp / "exhibit-01" / "photo-2.png").read_bytes()).hexdigest()
    cached = world.home / "thumbs" / sha[:2]
    assert sorted(p.name for p in cached.iterdir()) == [f"{sha}.blur.png", f"{sha}.clear.png"]
    assert not [p for p in (world.tmp / "exhibit-01").iterdir() if "thumb" in p.name]


def test_a_decision_needs_the_csrf_token_and_is_kept_with_its_custody_entry(
        world: World) -> None:
    client, csrf = world.session("rev-01")
    item = world.item_ids(CASE)["exhibit-01: photo-1.png"]
    body = {"scheme": "vic-us", "category": "1", "items": [item]}
    url = f"/ui/cases/{CASE}/review"
    assert client.post(url, json=body).status_code == 403
    assert client.post(url, json=body, headers={"X-CSRF-Token": "0" * 64}).status_code == 403
    assert not [r for r in world.rows(t.reviews) if r["item_id"] == item]
    assert client.post(url, json=body | {"category": "A"},
                       headers={"X-CSRF-Token": csrf}).status_code == 422
    ok = client.post(url, json=body, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 200, ok.text
    rows = [r for r in world.rows(t.reviews) if r["item_id"] == item]
    assert [(r["category"], r["status"], r["user"]) for r in rows] == [("1", "active", "rev-01")]
    entry = world.custody("review.recorded")[-1]
    assert entry["subject"] == f"item:{item}" and '"category":"1"' in entry["details"]
    # another user's session token does not open this one's door
    other, other_csrf = world.session("rev-02")
    assert other.post(url, json=body, headers={"X-CSRF-Token": other_csrf}).status_code == 403


def test_undo_supersedes_with_the_previous_decision(world: World) -> None:
    client, csrf = world.session("rev-01")
    item = world.item_ids(CASE)["exhibit-01: photo-2.png"]
    url, h = f"/ui/cases/{CASE}/review", {"X-CSRF-Token": csrf}
    for cat in ("2", "4"):
        assert client.post(url, json={"category": cat, "items": [item]}, headers=h).is_success
    assert client.post(url, json={"undo": item}, headers=h).json()["reviews"][0][
        "category"] == "2"
    assert client.post(url, json={"undo": item}, headers=h).json()["reviews"][0][
        "category"] is None
    assert client.post(url, json={"undo": item}, headers=h).status_code == 404
    rows = [r for r in world.rows(t.reviews) if r["item_id"] == item]
    assert [r["category"] for r in rows] == ["2", "4", "2", None]  # nothing deleted
    assert [r["status"] for r in rows] == ["superseded"] * 3 + ["active"]


def test_a_decision_applies_to_a_whole_family(world: World) -> None:
    client, csrf = world.session("rev-01")
    ids = world.item_ids(CASE)
    page = client.get(f"/ui/cases/{CASE}/items/{ids['exhibit-01: photo-0.png']}")
    assert page.status_code == 200 and "SHA-256" in page.text
    fam = re.search(r"/families/(\d+)", page.text)
    assert fam, page.text
    view = client.get(f"/ui/cases/{CASE}/families/{fam.group(1)}")
    assert view.status_code == 200 and "copy-of-0.png" in view.text
    r = client.post(f"/ui/cases/{CASE}/review", headers={"X-CSRF-Token": csrf},
                    json={"scheme": "dhs", "category": "CAT-5", "family": int(fam.group(1))})
    assert r.status_code == 200, r.text
    members = {ids["exhibit-01: photo-0.png"], ids["exhibit-02: copy-of-0.png"]}
    assert {x["item"] for x in r.json()["reviews"]} == members
    active = {x["item_id"]: x["category"] for x in world.rows(t.reviews)
              if x["status"] == "active"}
    assert all(active[m] == "CAT-5" for m in members)


def test_the_queue_puts_matched_items_first_and_pages(world: World) -> None:
    client, _ = world.session("rev-01")
    ids = world.item_ids(CASE)
    r = client.get(f"/ui/cases/{CASE}/queue", params={"limit": 2})
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    assert "script-src 'self'" in r.headers["content-security-policy"]
    shown = [int(x) for x in re.findall(r'<li class="cell"[^>]*data-item="(\d+)"', r.text)]
    assert shown[0] == ids["exhibit-01: photo-1.png"] and len(shown) == 2
    nxt = re.search(r'id="next-page" href="([^"]+)"', r.text)
    assert nxt
    seen = list(shown)
    while nxt:
        r = client.get(nxt.group(1).replace("&amp;", "&"))
        seen += [int(x) for x in re.findall(r'<li class="cell"[^>]*data-item="(\d+)"', r.text)]
        nxt = re.search(r'id="next-page" href="([^"]+)"', r.text)
    assert sorted(seen) == sorted(ids.values())  # every item once
    assert client.get(f"/ui/cases/{CASE}/queue", params={"cursor": "9.x"}).status_code == 422
