"""The workbench's case views in a real browser (issue 18): Playwright driving Debian's
`chromium` against a real `cairn serve --port 0` over `cairn demo`'s benign data (SQLite).

Checked: the link graph is drawn by the vendored cytoscape under the strict CSP (no
violation, no script error; every node of graph.json drawn; a kind hidden by its checkbox
through the Alpine component); compare shows both items blurred and grey (on the
screenshot's pixels), a held reveal clears one only and re-blurs, and the form swaps the
result in through htmx without reloading the page; the overview's timeline is drawn with
JavaScript off. The README's screenshots of the demo (queue, item panel, family, graph,
overview; the blurred default view only) are taken here: into docs/screenshots/ with
CAIRN_SCREENSHOTS=1, else into a temporary folder, so a test run leaves the repository as
it was.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from browser_fixtures import SHOTS, chromium, pytestmark, stats  # noqa: F401
from inprocess import run
from serve_fixtures import PASSWORD, Server, add_user

CASE, USER = "demo", "rev-shots"


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from cairn.web import vendor
    if vendor.missing():
        pytest.fail(f"the browser libraries are missing ({', '.join(vendor.missing())}): "
                    f"{vendor.HINT}")
    out = tmp_path_factory.mktemp("demo") / "demo-out"
    home = out / "home"
    run(home, "demo", "--out", out)  # the demo puts its store in <out>/home
    add_user(home, USER, "reviewer")
    run(home, "cases", "grant", CASE, "--user", USER)
    server = Server(home)
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser(url: str) -> Iterator[Any]:
    with chromium() as b:
        yield b


def expected(where: str) -> bool:
    """A 404 that is no fault: no favicon is served; an archive member has no thumbnail
    yet (thumbs.py: the page shows its alt text)."""
    return "favicon.ico" in where or "/ui/thumb/" in where


def plain_family(page: Any) -> int:
    """A family of the demo whose members are all plain files (each has a thumbnail)."""
    g = page.evaluate(f"() => fetch('/ui/cases/{CASE}/graph.json').then(r => r.json())")
    label = {n["data"]["id"]: n["data"]["label"] for n in g["elements"]["nodes"]}
    members: dict[str, list[str]] = {}
    for e in g["elements"]["edges"]:
        if e["data"]["type"] == "member":
            members.setdefault(e["data"]["target"], []).append(label[e["data"]["source"]])
    return min(int(f.split(":")[1]) for f, ms in members.items()
               if not any("!/" in m for m in ms))


class Watched:
    """A logged-in page that records console errors and CSP refusals."""

    def __init__(self, browser: Any, url: str) -> None:
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.page = self.context.new_page()
        self.problems: list[str] = []
        self.page.on("console", lambda m: self.problems.append(f"{m.text} {m.location}")
                     if (m.type == "error" or "Content Security Policy" in m.text)
                     and not expected(str(m.location)) else None)
        self.page.on("pageerror", lambda e: self.problems.append(str(e)))
        self.page.on("response", lambda r: self.problems.append(f"{r.status} {r.url}")
                     if r.status >= 400 and not expected(r.url) else None)
        self.page.goto(url + "/ui/")
        self.page.fill("#user", USER)
        self.page.fill("#password", PASSWORD)
        self.page.click("button[type=submit]")
        self.page.wait_for_url(re.compile(r"/ui/$"))

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def watched(browser: Any, url: str) -> Iterator[Watched]:
    w = Watched(browser, url)
    yield w
    w.close()
    assert not w.problems, w.problems  # no CSP refusal, no script error



def images_loaded(page: Any, first: int = 8) -> None:
    """The first pictures have loaded (the rest are lazy: below the fold, not asked yet)."""
    page.wait_for_function(f"() => [...document.querySelectorAll('.thumb img')].slice(0, "
                           f"{first}).every(i => i.complete)")


def test_graph_is_drawn_by_cytoscape_under_the_csp(watched: Watched, url: str) -> None:
    page = watched.page
    page.goto(url + f"/ui/cases/{CASE}/graph")
    g = page.evaluate(f"() => fetch('/ui/cases/{CASE}/graph.json').then(r => r.json())")
    n = len(g["elements"]["nodes"])
    items = sum(1 for x in g["elements"]["nodes"] if x["data"]["kind"] == "item")
    assert n > items > 0 and g["cut"] is None
    page.wait_for_selector("#cy[data-ready]")
    assert page.get_attribute("#cy", "data-ready") == str(n)
    assert page.locator("#cy canvas").count() >= 1
    assert not page.is_visible("#graph-open")  # Alpine's x-show: nothing selected yet
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "demo-graph.png"))
    page.uncheck("input[data-kind=item]")
    page.wait_for_function(f"() => document.querySelector('#cy').dataset.visible === "
                           f"'{n - items}'")
    page.check("input[data-kind=item]")
    page.wait_for_function(f"() => document.querySelector('#cy').dataset.visible === '{n}'")
    assert page.locator("#graph-lists a[href*='/items/']").count() == items


def test_compare_shows_both_blurred_and_swaps_in_through_htmx(watched: Watched,
                                                               url: str) -> None:
    page = watched.page
    page.goto(url + f"/ui/cases/{CASE}/families/{plain_family(page)}")
    page.click("text=compare with the first member")
    page.wait_for_url(re.compile(r"/compare\?a=\d+&b=\d+"))
    a, b = (int(x) for x in re.findall(r"[ab]=(\d+)", page.url))
    images_loaded(page)
    thumbs = page.locator(".side .thumb img")
    assert thumbs.count() == 2
    blurred = [stats(thumbs.nth(k).screenshot()) for k in range(2)]
    assert all(sat < 0.05 for sat, _ in blurred)  # grey on screen
    page.locator(".side button.reveal").first.dispatch_event("pointerdown")
    page.wait_for_function("() => { const i = document.querySelector('.side .thumb img');"
                           " return i.src.startsWith('blob:') && i.complete; }")
    clear = stats(thumbs.nth(0).screenshot())
    assert not thumbs.nth(1).get_attribute("src").startswith("blob:")  # one item only
    assert blurred[0][1] < clear[1] * 0.8 and blurred[0][0] <= clear[0]
    page.locator(".side button.reveal").first.dispatch_event("pointerup")
    page.wait_for_function("() => !document.querySelector('.side .thumb img')"
                           ".src.startsWith('blob:')")
    page.evaluate("() => { window.cairnMarker = 'same page'; }")
    page.fill("input[name=a]", str(b))
    page.fill("input[name=b]", str(a))
    page.click("#compare button[type=submit]")
    page.wait_for_url(re.compile(rf"/compare\?a={b}&b={a}$"))
    page.wait_for_function(f"() => document.querySelector('.side h2 a').textContent === "
                           f"'item {b}'")
    assert page.evaluate("() => window.cairnMarker") == "same page"  # swapped, not reloaded
    images_loaded(page)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "demo-compare.png"), full_page=True)
    assert "same" in page.inner_text("#compare-hashes") or "differs" in page.inner_text(
        "#compare-hashes")


def test_a_slow_reveal_still_shows_for_its_time_then_reblurs(watched: Watched,
                                                             url: str) -> None:
    """The re-blur timer counts from when the clear picture shows: an answer slower than
    the reveal time (a loaded server) still shows it, then it re-blurs on its own while the
    button stays down. (The timer used to start with the request: such an answer was
    dropped, and the reviewer holding the button saw nothing.)"""
    page = watched.page
    page.goto(url + f"/ui/cases/{CASE}/families/{plain_family(page)}")
    page.click("text=compare with the first member")
    page.wait_for_url(re.compile(r"/compare\?a=\d+&b=\d+"))
    images_loaded(page)
    seconds = int(page.get_attribute("#compare", "data-reveal-seconds") or 5)

    def slow(route: Any) -> None:
        answer = route.fetch()
        time.sleep(seconds + 1)  # answered after the reveal time has passed
        route.fulfill(response=answer)

    page.route("**/reveal", slow)
    shown = "document.querySelector('.side .thumb img').src.startsWith('blob:')"
    page.locator(".side button.reveal").first.dispatch_event("pointerdown")
    page.wait_for_function(f"() => {shown}", timeout=1000 * (3 * seconds + 10))
    page.wait_for_function(f"() => !{shown}", timeout=1000 * (2 * seconds + 10))
    page.locator(".side button.reveal").first.dispatch_event("pointerup")
    page.unroute("**/reveal")


def test_overview_timeline_needs_no_script(browser: Any, watched: Watched, url: str) -> None:
    state = watched.context.storage_state()
    ctx = browser.new_context(java_script_enabled=False, storage_state=state,
                              viewport={"width": 1280, "height": 900})
    try:
        page = ctx.new_page()
        page.goto(url + f"/ui/cases/{CASE}")
        svg = page.locator("figure.timeline svg")
        box = svg.bounding_box()
        assert box is not None and box["width"] > 400 and box["height"] > 100
        assert page.locator("figure.timeline rect.bar").count() >= 1
        assert page.locator("figure.timeline path.action").count() >= 1  # the demo's actions
        assert page.locator("#exhibit-ranking tbody tr, #exhibit-ranking tr").count() >= 3
    finally:
        ctx.close()
    watched.page.goto(url + f"/ui/cases/{CASE}")
    watched.page.screenshot(path=str(SHOTS / "demo-overview.png"), full_page=True)


def test_readme_screenshots_of_the_demo_blurred(watched: Watched, url: str) -> None:
    page = watched.page
    page.goto(url + f"/ui/cases/{CASE}/queue")
    images_loaded(page)
    cells = page.locator("li.cell .thumb img")
    assert cells.count() >= 4
    for k in range(min(cells.count(), 6)):
        assert not cells.nth(k).get_attribute("src").startswith("blob:")
        assert stats(cells.nth(k).screenshot())[0] < 0.05  # the default view: grey
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "demo-queue.png"))
    item = page.evaluate("() => [...document.querySelectorAll('li.cell')].find("
                         "c => c.querySelector('img').naturalWidth > 0).dataset.item")
    page.goto(url + f"/ui/cases/{CASE}/items/{item}")
    images_loaded(page)
    page.screenshot(path=str(SHOTS / "demo-item-panel.png"))
    page.goto(url + f"/ui/cases/{CASE}/families/{plain_family(page)}")
    images_loaded(page)
    page.screenshot(path=str(SHOTS / "demo-family.png"))
    for name in ("queue", "item-panel", "family", "graph", "overview"):
        assert (SHOTS / f"demo-{name}.png").stat().st_size > 0 or name == "graph"
