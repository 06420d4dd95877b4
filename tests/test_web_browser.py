"""The workbench in a real browser (issue 18): Playwright driving Debian's `chromium` against a
real `cairn serve --port 0` over benign noise pictures (web_fixtures.py), on SQLite.

Checked: login and logout; the thumbnails on screen are grey and blurred (on the
screenshot's pixels); holding Space reveals the selected item only and re-blurs on release
and, when held, after the reveal time; number keys record a category (a review row and a
custody entry) and U undoes it; a family's category applies to every member. The screenshots
of the queue, an item panel and the family view are taken here: into docs/screenshots/ (what
the README shows) with CAIRN_SCREENSHOTS=1, else into the test's own folder, so a test run
leaves the repository as it was.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from browser_fixtures import SHOTS, chromium, pytestmark, stats  # noqa: F401
from cairn.store import schema as t
from serve_fixtures import PASSWORD
from web_fixtures import CASE, World, make_world


@pytest.fixture(scope="module", params=["sqlite"])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[World]:
    yield from make_world(request, tmp_path_factory)


@pytest.fixture(scope="module")
def browser(world: World) -> Iterator[object]:
    with chromium() as b:
        yield b


def logged_in(browser: object, world: World, user: str = "rev-01") -> object:
    page = browser.new_page(viewport={"width": 1200, "height": 900})  # type: ignore[attr-defined]
    page.goto(world.url + "/ui/")
    page.wait_for_url(re.compile(r"/ui/login"))
    page.fill("#user", user)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/ui/$"))
    return page


def srcs(page: object) -> list[str]:
    return page.eval_on_selector_all(  # type: ignore[attr-defined]
        "li.cell .thumb img", "els => els.map(e => e.getAttribute('src'))")


def test_login_and_logout(browser: object, world: World) -> None:
    page = logged_in(browser, world)
    assert CASE in page.inner_text("main")  # type: ignore[attr-defined]
    page.click("#logout")  # type: ignore[attr-defined]
    page.wait_for_url(re.compile(r"/ui/login"))  # type: ignore[attr-defined]
    page.goto(world.url + "/ui/")  # type: ignore[attr-defined]
    assert "/ui/login" in page.url  # type: ignore[attr-defined]
    page.close()  # type: ignore[attr-defined]


def test_hold_to_reveal_reveals_one_item_and_reblurs(browser: object, world: World) -> None:
    page = logged_in(browser, world)
    page.goto(world.url + f"/ui/cases/{CASE}/queue")  # type: ignore[attr-defined]
    page.wait_for_function(  # type: ignore[attr-defined]
        "() => [...document.querySelectorAll('li.cell img')].every(i => i.complete)")
    first = page.locator("li.cell .thumb img").first  # type: ignore[attr-defined]
    blurred = stats(first.screenshot())
    assert not [s for s in srcs(page) if s.startswith("blob:")]
    before = len(world.custody("item.revealed"))
    page.keyboard.down(" ")  # type: ignore[attr-defined]
    page.wait_for_function(  # type: ignore[attr-defined]  # the POSTed reveal, as a blob
        "() => document.querySelector('li.cell img').src.startsWith('blob:') && "
        "document.querySelector('li.cell img').complete")
    clear = stats(first.screenshot())
    shown = srcs(page)
    assert shown[0].startswith("blob:") and not [s for s in shown[1:] if s.startswith("blob:")]
    assert blurred[0] < 0.05 < 0.3 < clear[0]  # grey on screen; the picture is colourful
    assert blurred[1] < clear[1] / 3  # (upscaled on screen: test_web.py checks the PNG)
    assert len(world.custody("item.revealed")) == before + 1
    page.keyboard.up(" ")  # type: ignore[attr-defined]
    assert not [s for s in srcs(page) if s.startswith("blob:")]
    page.keyboard.down(" ")  # type: ignore[attr-defined]  # held: re-blurs on its own
    page.wait_for_function(  # type: ignore[attr-defined]
        "() => document.querySelector('li.cell img').src.startsWith('blob:')")
    page.wait_for_function(  # type: ignore[attr-defined]
        "() => !document.querySelector('li.cell img').src.startsWith('blob:')", timeout=9000)
    page.keyboard.up(" ")  # type: ignore[attr-defined]
    page.close()  # type: ignore[attr-defined]


def test_keyboard_categorising_writes_a_review_and_undo(browser: object, world: World
                                                       ) -> None:
    page = logged_in(browser, world)
    page.goto(world.url + f"/ui/cases/{CASE}/queue?state=unreviewed")  # type: ignore[attr-defined]
    item = int(page.locator("li.cell").first.get_attribute("data-item"))  # type: ignore[attr-defined]
    before = len(world.custody("review.recorded"))
    page.keyboard.press("3")  # type: ignore[attr-defined]
    page.wait_for_function(  # type: ignore[attr-defined]
        f"() => document.querySelector('.decision[data-item=\"{item}\"]').textContent"
        " === 'vic-us 3'")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "queue.png"))  # type: ignore[attr-defined]
    rows = [r for r in world.rows(t.reviews) if r["item_id"] == item]
    assert [(r["category"], r["status"], r["user"]) for r in rows] == [("3", "active", "rev-01")]
    assert len(world.custody("review.recorded")) == before + 1
    page.keyboard.press("k")  # type: ignore[attr-defined]  # back to it, then undo
    page.keyboard.press("u")  # type: ignore[attr-defined]
    page.wait_for_function(  # type: ignore[attr-defined]
        f"() => document.querySelector('.decision[data-item=\"{item}\"]').textContent"
        " === 'none'")
    rows = [r for r in world.rows(t.reviews) if r["item_id"] == item]
    assert [r["category"] for r in rows] == ["3", None]
    page.goto(world.url + f"/ui/cases/{CASE}/items/{item}")  # type: ignore[attr-defined]
    page.screenshot(path=str(SHOTS / "item-panel.png"), full_page=True)  # type: ignore[attr-defined]
    page.close()  # type: ignore[attr-defined]


def test_apply_to_family(browser: object, world: World) -> None:
    page = logged_in(browser, world)
    page.goto(world.url + f"/ui/cases/{CASE}/families/1?scheme=uk-caid")  # type: ignore[attr-defined]
    n = page.locator("li.cell").count()  # type: ignore[attr-defined]
    assert n >= 2
    page.keyboard.press("4")  # type: ignore[attr-defined]  # non-indecent, to every member
    page.wait_for_function(  # type: ignore[attr-defined]
        "() => [...document.querySelectorAll('.decision')].every("
        "d => d.textContent === 'uk-caid non-indecent')")
    page.screenshot(path=str(SHOTS / "family.png"), full_page=True)  # type: ignore[attr-defined]
    active = [r for r in world.rows(t.reviews)
              if r["status"] == "active" and r["category"] == "non-indecent"]
    assert len(active) == n
    page.close()  # type: ignore[attr-defined]


def test_turning_blur_off_needs_the_confirmation(browser: object, world: World) -> None:
    page = logged_in(browser, world)
    page.goto(world.url + "/ui/exposure")  # type: ignore[attr-defined]
    before = len(world.custody("exposure.changed"))
    page.check('input[name="blur"][value="0"]')  # type: ignore[attr-defined]
    page.click("#exposure button[type=submit]")  # type: ignore[attr-defined]
    page.wait_for_function(  # type: ignore[attr-defined]
        "() => document.getElementById('exposure-error').textContent.includes('confirm')")
    assert len(world.custody("exposure.changed")) == before
    page.check("#confirm-off")  # type: ignore[attr-defined]
    page.click("#exposure button[type=submit]")  # type: ignore[attr-defined]
    page.wait_for_function(  # type: ignore[attr-defined]
        "() => document.getElementById('blur-now').textContent === 'off'")
    assert len(world.custody("exposure.changed")) == before + 1
    page.close()  # type: ignore[attr-defined]
