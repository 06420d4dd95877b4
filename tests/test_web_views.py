"""The workbench's case views (issue 18), server-side through FastAPI's TestClient on the
app `cairn serve` runs, over web_fixtures.py's case (benign noise pictures: photo-0 in two
exhibits, photo-1 matched by an MD5 list) with a suspect, a device and an action added.

Checked: the graph page and graph.json (typed nodes, the family and the exhibits linked,
every node and edge within the bounds, and a cut that says so); compare (the same bytes,
PDQ distance and transform, metadata and provenance rows, both pictures blurred, each read
an `item.viewed` custody entry); the overview's exhibit ranking, server-rendered SVG
timeline and suspects/devices; a case not granted is 403 on every view; the vendored
libraries are served from our origin, and their absence is said on the page.
"""

from __future__ import annotations

import re
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from cairn.store.people import People
from cairn.web import graphview, vendor
from cairn.web.app import serve_app
from inprocess import DB_URLS, database, run
from serve_fixtures import PASSWORD, open_store
from web_fixtures import CASE, OTHER, build

SUSPECT, DEVICE = "user-0042", "phone-01"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def home(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[Path]:
    tmp = tmp_path_factory.mktemp("views")
    home = tmp / "home"
    for url in database(request.param):
        DB_URLS[home] = url
        try:
            world(home, tmp)
            yield home
        finally:
            DB_URLS.pop(home, None)


def world(home: Path, tmp: Path) -> None:
    build(home, tmp)
    # a turned copy of photo-2: a near duplicate whose PDQ matches after a rotation
    ex3 = tmp / "exhibit-03"
    ex3.mkdir()
    with Image.open(tmp / "exhibit-01" / "photo-2.png") as im:
        im.transpose(Image.Transpose.ROTATE_90).save(ex3 / "turned-2.png")
    run(home, "scan", ex3, "--case", CASE, "--no-progress")
    store = open_store(home)
    try:
        case_id = store.cases.id(CASE)
        assert case_id is not None
        people = People(store)
        people.add_suspect(case_id, SUSPECT, country="DK")
        people.add_device(case_id, DEVICE, {"kind": "phone", "suspect": SUSPECT})
        src = next(s for s in store.cases.sources(case_id) if s["name"] == "exhibit-01")
        people.link_source(case_id, DEVICE, src["id"])
        people.add_action(case_id, kind="house-search", date="2024-11-05", country="DK",
                          suspects=[SUSPECT])
    finally:
        store.close()


@pytest.fixture(scope="module")
def client(home: Path) -> Iterator[TestClient]:
    store = open_store(home)
    with TestClient(serve_app(store)) as c:
        r = c.post("/login", data={"user": "rev-01", "password": PASSWORD})
        assert r.status_code == 200, r.text
        yield c
    store.close()


def ids(home: Path) -> dict[str, int]:
    from sqlalchemy import select

    from cairn.store import schema as t
    store = open_store(home)
    try:
        with store.engine.connect() as c:
            rows = c.execute(select(t.items.c.id, t.sources.c.name, t.items.c.path)
                             .join(t.sources, t.items.c.source_id == t.sources.c.id)
                             .join(t.cases, t.sources.c.case_id == t.cases.c.id)
                             .where(t.cases.c.name == CASE)).all()
    finally:
        store.close()
    return {f"{s}: {p}": i for i, s, p in rows}


def test_graph_links_families_exhibits_and_people(client: TestClient, home: Path) -> None:
    page = client.get(f"/ui/cases/{CASE}/graph")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert '<div id="cy"' in page.text and "/ui/static/vendor/cytoscape.min.js" in page.text
    assert "<img" not in page.text  # no picture in the graph
    g = client.get(f"/ui/cases/{CASE}/graph.json").json()
    nodes = {n["data"]["id"]: n["data"] for n in g["elements"]["nodes"]}
    kinds = {d["kind"] for d in nodes.values()}
    assert {"suspect", "device", "source", "family", "item"} <= kinds
    edges = {(e["data"]["source"], e["data"]["target"], e["data"]["type"])
             for e in g["elements"]["edges"]}
    assert (f"suspect:{SUSPECT}", f"device:{DEVICE}", "owns") in edges
    assert (f"device:{DEVICE}", "source:exhibit-01", "imaged_as") in edges
    item = ids(home)
    a, b = item["exhibit-01: photo-0.png"], item["exhibit-02: copy-of-0.png"]
    fam = next(t for s, t, typ in edges if s == f"item:{a}" and typ == "member")
    assert (f"item:{b}", fam, "member") in edges
    assert nodes[f"item:{a}"]["href"] == f"/ui/cases/{CASE}/items/{a}"
    assert all(e["data"]["source"] in nodes and e["data"]["target"] in nodes
               for e in g["elements"]["edges"])
    assert g["cut"] is None and g["shown"] == g["total"]
    assert item["exhibit-01: photo-1.png"] not in {  # in no family: links nothing
        int(n.split(":")[1]) for n in nodes if n.startswith("item:")}


def test_graph_is_bounded_and_says_when_cut(home: Path) -> None:
    store = open_store(home)
    try:
        case_id = store.cases.id(CASE)
        assert case_id is not None
        full = graphview.case_graph(store, case_id, CASE)
        g = graphview.case_graph(store, case_id, CASE, max_nodes=4, max_edges=2)
    finally:
        store.close()
    assert len(g["nodes"]) == 4 and len(g["edges"]) <= 2
    assert g["total"] == full["total"] and g["cut"] and "cut to 4 of" in g["cut"]
    assert [n["data"]["kind"] for n in g["nodes"]][:1] == ["suspect"]  # people first
    kept = {n["data"]["id"] for n in g["nodes"]}
    assert all(e["data"]["source"] in kept and e["data"]["target"] in kept
               for e in g["edges"])
    assert graphview.MAX_NODES == 300 and graphview.MAX_EDGES == 3000


def test_compare_same_bytes_and_a_turned_copy(client: TestClient, home: Path) -> None:
    item = ids(home)
    a, b = item["exhibit-01: photo-0.png"], item["exhibit-02: copy-of-0.png"]
    r = client.get(f"/ui/cases/{CASE}/compare", params={"a": a, "b": b})
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    assert "The same bytes (SHA-256)." in r.text
    hashes = r.text.split('id="compare-hashes"')[1].split("</table>")[0]
    assert hashes.count(">same<") == 3
    meta = r.text.split('id="compare-metadata"')[1].split("</table>")[0]
    assert re.search(r"Source \(exhibit\)</th><td>exhibit-01</td><td>exhibit-02</td>"
                     r"<td>differs</td>", meta)
    assert re.search(r"Size \(bytes\)</th><td>(\d+)</td><td>\1</td><td>same</td>", meta)
    srcs = re.findall(r'<img src="([^"]+)"', r.text)
    assert srcs == [f"/ui/thumb/{a}", f"/ui/thumb/{b}"]  # both blurred: a GET never reveals
    turned = item["exhibit-03: turned-2.png"]
    r = client.get(f"/ui/cases/{CASE}/compare",
                   params={"a": item["exhibit-01: photo-2.png"], "b": turned})
    verdict = r.text.split('id="compare-verdict"')[1].split("</p>")[0]
    assert "Near duplicates: PDQ distance" in verdict and "after rot" in verdict
    far = client.get(f"/ui/cases/{CASE}/compare",
                     params={"a": a, "b": item["exhibit-01: photo-1.png"]})
    assert "Not near duplicates" in far.text
    hashes = far.text.split('id="compare-hashes"')[1].split("</table>")[0]
    assert hashes.count(">differs<") == 3
    store = open_store(home)
    try:
        from sqlalchemy import select

        from cairn.store import schema as t
        with store.engine.connect() as c:
            viewed = set(c.execute(select(t.custody.c.subject)
                                   .where(t.custody.c.action == "item.viewed")).scalars())
    finally:
        store.close()
    assert {f"item:{a}", f"item:{b}", f"item:{turned}"} <= viewed
    assert client.get(f"/ui/cases/{CASE}/compare",
                      params={"a": a, "b": 999999}).status_code == 404
    empty = client.get(f"/ui/cases/{CASE}/compare")
    assert empty.status_code == 200 and 'name="a"' in empty.text


def test_overview_ranks_exhibits_draws_a_timeline_and_lists_people(
        client: TestClient) -> None:
    r = client.get(f"/ui/cases/{CASE}")
    assert r.status_code == 200
    ranking = r.text.split('id="exhibit-ranking"')[1].split("</table>")[0]
    order = re.findall(r"queue\?source=([\w-]+)", ranking)
    assert order[0] == "exhibit-01"  # the one with the matched item
    assert sorted(order) == ["exhibit-01", "exhibit-02", "exhibit-03"]
    first = ranking.split("<tr><td>1</td>")[1].split("</tr>")[0]
    assert f"{DEVICE} / {SUSPECT}" in first and "exhibit-02" in first  # shares the family
    svg = r.text.split('<figure class="timeline">')[1].split("</figure>")[0]
    assert "<svg" in svg and "<script" not in svg and "style=" not in svg
    assert len(re.findall(r'<rect class="bar"', svg)) >= 1
    assert 'class="action"' in svg and "house-search 2024-11-05 DK" in svg
    people = r.text.split('id="suspects"')[1].split("</table>")[0]
    assert SUSPECT in people and "DK" in people and DEVICE in people
    devices = r.text.split('id="devices"')[1].split("</table>")[0]
    assert re.search(rf"{DEVICE}</td><td>phone</td><td>{SUSPECT}</td><td>exhibit-01</td>"
                     r"<td>3</td><td>1</td>", devices)


def test_views_of_a_case_not_granted_are_403(client: TestClient) -> None:
    for url in (f"/ui/cases/{OTHER}/graph", f"/ui/cases/{OTHER}/graph.json",
                f"/ui/cases/{OTHER}/compare?a=1&b=2", "/ui/cases/no-such/graph"):
        assert client.get(url).status_code == 403, url
    with TestClient(client.app) as anonymous:
        r = anonymous.get(f"/ui/cases/{CASE}/graph", follow_redirects=False)
        assert r.status_code == 303 and "/ui/login" in r.headers["location"]
        assert anonymous.get(f"/ui/cases/{CASE}/graph.json").status_code == 401


def test_vendored_libraries_are_served_or_their_absence_is_said(
        client: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    page = client.get("/ui/")
    for name in vendor.FILES:
        assert f'src="/ui/static/vendor/{name}"' in page.text or name == "cytoscape.min.js"
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe" not in csp
    assert not re.search(r"<script(?![^>]*\bsrc=)", page.text)  # no inline script
    if not vendor.missing():
        js = client.get("/ui/static/vendor/htmx.min.js")
        assert js.status_code == 200 and "htmx" in js.text[:2000]
        assert 'id="vendor-missing"' not in page.text
    assert client.get("/ui/static/vendor/evil.js").status_code == 404
    # without the files (a checkout where `make web-vendor` never ran): said, not broken
    empty = tmp_path / "vendor"
    empty.mkdir()
    monkeypatch.setattr(vendor, "VENDOR", empty)
    page = client.get("/ui/")
    assert 'id="vendor-missing"' in page.text and "make web-vendor" in page.text
    r = client.get("/ui/static/vendor/htmx.min.js")
    assert r.status_code == 404 and "make web-vendor" in r.text
    graph = client.get(f"/ui/cases/{CASE}/graph")
    assert "The graph cannot be drawn" in graph.text and '<div id="cy"' not in graph.text


def test_vendor_copy_takes_each_file_from_an_npm_tree(tmp_path: Path) -> None:
    tree = tmp_path / "node_modules"
    for package, rel in vendor.FILES.values():
        (tree / package / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / package / rel).write_text(f"/* {package} */")
    done = vendor.copy(tree, tmp_path / "out")
    assert sorted(p.name for p in done) == sorted(vendor.FILES)
    assert (tmp_path / "out" / "alpine-csp.min.js").read_text() == "/* @alpinejs/csp */"
    shutil.rmtree(tree / "cytoscape")
    with pytest.raises(SystemExit, match="cytoscape"):
        vendor.copy(tree, tmp_path / "again")


def test_timeline_counts_every_item_and_leaves_out_impossible_times(home: Path) -> None:
    from sqlalchemy import select, update

    from cairn.store import schema as t
    from cairn.web import insights
    store = open_store(home)
    first = min(ids(home).values())
    row = t.items.c.id == first
    try:
        case_id = store.cases.id(CASE)
        assert case_id is not None
        n = len(ids(home))
        h = insights.item_histogram(store, case_id)
        assert sum(h["counts"]) == n and h["undated"] == 0 and len(h["counts"]) == 24
        with store.engine.begin() as c:  # a member stored without a time: the epoch
            was = c.execute(select(t.items.c.mtime).where(row)).scalar_one()
            c.execute(update(t.items).where(row).values(mtime=0.0))
        try:
            h2 = insights.item_histogram(store, case_id)
        finally:
            with store.engine.begin() as c:
                c.execute(update(t.items).where(row).values(mtime=was))
    finally:
        store.close()
    assert sum(h2["counts"]) == n - 1 and h2["undated"] == 1
    assert h2["lo"] >= insights.PLAUSIBLE_FROM
    svg = insights.timeline_svg(h2, [{"kind": "arrest", "date": "2024-11-05", "country": "DK",
                                      "suspects": ["<user-0042>"]}])
    assert svg.count('class="bar"') >= 1 and svg.count('class="action"') == 1
    assert "&lt;user-0042&gt;" in svg and "<user-0042>" not in svg  # escaped
    assert 'text-anchor="end"' in svg  # the last tick is anchored inside the chart
    assert "No dated items" in insights.timeline_svg(
        {"lo": None, "hi": None, "width": 0, "counts": [], "undated": 3}, [])


def test_a_large_cases_pages_say_its_families_are_being_computed(
        client: TestClient, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Over SYNC_ITEMS items (here: any), the family view, the item panel and the overview
    do not wait for the case's families (neither in this process nor kept in the store):
    they say they are being computed (a thread computes them), then show them."""
    from sqlalchemy import delete

    from cairn.service import families as svc_families
    from cairn.store import schema as t
    from cairn.web import tracecache

    monkeypatch.setattr(svc_families, "SYNC_ITEMS", -1)
    monkeypatch.setattr(tracecache, "SYNC_ITEMS", -1)
    gate = threading.Event()
    real = svc_families._compute

    def held(*a: Any) -> Any:  # the computation waits until the pages have been read
        gate.wait(30)
        return real(*a)

    monkeypatch.setattr(svc_families, "_compute", held)
    store = open_store(home)
    try:
        with store.engine.begin() as c:
            c.execute(delete(t.case_families))
    finally:
        store.close()
    svc_families._cache.clear()
    tracecache._cache.clear()
    item = ids(home)["exhibit-02: copy-of-0.png"]
    fam = client.get(f"/ui/cases/{CASE}/families/1")
    assert fam.status_code == 200 and 'id="pending"' in fam.text
    assert "families are being computed" in fam.text and "Apply one category" not in fam.text
    panel = client.get(f"/ui/cases/{CASE}/items/{item}")
    assert panel.status_code == 200 and 'id="family-pending"' in panel.text
    over = client.get(f"/ui/cases/{CASE}")
    assert over.status_code == 200 and "being computed for this state" in over.text
    graph = client.get(f"/ui/cases/{CASE}/graph")
    assert graph.status_code == 200 and 'id="pending"' in graph.text and 'id="cy"' not in graph.text
    elements = client.get(f"/ui/cases/{CASE}/graph.json")
    assert elements.status_code == 202 and "being computed" in elements.json()["pending"]
    gate.set()
    for _ in range(600):
        if svc_families._cache:
            break
        threading.Event().wait(0.05)
    fam = client.get(f"/ui/cases/{CASE}/families/1")
    assert "Apply one category" in fam.text and 'id="pending"' not in fam.text
    panel = client.get(f"/ui/cases/{CASE}/items/{item}")
    assert f"/ui/cases/{CASE}/families/" in panel.text and "family-pending" not in panel.text
    for _ in range(600):  # the overview's trace (families and links), on its thread
        if tracecache._cache:
            break
        threading.Event().wait(0.05)
    assert client.get(f"/ui/cases/{CASE}/graph.json").status_code == 200
