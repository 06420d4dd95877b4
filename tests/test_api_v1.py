"""Cairn's own HTTP API under /api/v1 (issue 17 §2, "Cairn's API"), against a real
`cairn serve --port 0` on loopback and a case scanned from benign pictures the test makes:
a noise picture in two exhibits (one family), one matched by an MD5 list, one by a PDQ list,
one that an AUTOMATIC1111 text chunk declares generated, one truncated (an error).

Checked: every filter and the cursor paging; an item's view is a custody entry with the
user; a case not granted answers as one that does not exist; 401 without credentials;
a scan path outside the evidence roots (directly, by `..`, by a symlink) is 403 naming it; a batch
lookup over 10,000 signals is 413 and a malformed hex 422 naming its place; SQL in every
filter matches nothing and changes nothing; a report download is byte for byte what
`cairn report` writes; list uploads and entry withdrawals; /docs with no script. One smoke
test runs the server on PostgreSQL.
"""

from __future__ import annotations

import hashlib
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo
from sqlalchemy import func, select
from starlette.responses import JSONResponse

from cairn.store import schema as t
from inprocess import DB_URLS, database, pictures, run
from serve_fixtures import Server, add_user, open_store, token

CASE = "op-harbour"
GENERATED = ("a lighthouse at dusk, oil painting\nNegative prompt: blurry\nSteps: 20, "
             "Sampler: Euler a, CFG scale: 7, Seed: 42, Size: 64x48, Model hash: 6ce0161689, "
             "Model: m-6ce0, Version: v1.10.1")
SQL = ("' OR 1=1 --", "exhibit-01' OR '1'='1", "x\"; DROP TABLE items; --", "%", "_",
       "exhibit-01%", "1 UNION SELECT sha256 FROM items")


def generated_picture(path: Path, seed: int) -> None:
    """A noise picture with the PNG text chunk AUTOMATIC1111 writes (a generator finding)."""
    px = (np.random.default_rng(seed).random((48, 64, 3)) * 255).astype("uint8")
    info = PngInfo()
    info.add_text("parameters", GENERATED)
    Image.fromarray(px).save(path, pnginfo=info)


def build_case(home: Path, tmp: Path) -> dict[str, Path]:
    """op-harbour: exhibit-01 (device D-01 of suspect S-01) and exhibit-02, scanned; an MD5
    and a PDQ list that each match one picture; op-lantern, empty and granted to no one."""
    ex1 = pictures(tmp / "exhibit-01", 3, seed=910)
    generated_picture(ex1 / "generated.png", 77)
    whole = (ex1 / "photo-2.png").read_bytes()
    (ex1 / "truncated.png").write_bytes(whole[:len(whole) // 3])
    ex2 = pictures(tmp / "exhibit-02", 1, seed=930)
    shutil.copy(ex1 / "photo-0.png", ex2 / "copy-of-0.png")  # the same bytes: one family
    run(home, "cases", "create", CASE)
    run(home, "cases", "create", "op-lantern")
    run(home, "suspects", "add", "S-01", "--case", CASE, "--country", "DK")
    run(home, "devices", "add", "D-01", "--case", CASE, "--suspect", "S-01", "--kind", "phone")
    run(home, "scan", ex1, "--case", CASE, "--device", "D-01", "--no-progress")
    run(home, "scan", ex2, "--case", CASE, "--no-progress")
    md5 = hashlib.md5((ex1 / "photo-1.png").read_bytes()).hexdigest()
    (tmp / "md5.txt").write_text(md5 + "\n")
    run(home, "lists", "import", tmp / "md5.txt", "--name", "known-md5", "--format", "plain",
        "--type", "md5")
    store = open_store(home)
    try:
        with store.engine.connect() as c:
            pdq = c.execute(select(t.signals.c.value).where(
                t.signals.c.sha256 == hashlib.sha256(whole).hexdigest(),
                t.signals.c.signal_type == "pdq")).scalar_one()
    finally:
        store.close()
    (tmp / "pdq.txt").write_text(pdq + "\n")
    run(home, "lists", "import", tmp / "pdq.txt", "--name", "known-pdq", "--format", "plain",
        "--type", "pdq")
    return {"ex1": ex1, "ex2": ex2}


class World:
    def __init__(self, home: Path, tmp: Path, server: Server, tokens: dict[str, str]) -> None:
        self.home, self.tmp, self.server, self.tokens = home, tmp, server, tokens
        self.url = server.url

    def headers(self, who: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}

    def get(self, path: str, who: str | None = "examiner", **kw: object) -> httpx.Response:
        return httpx.get(self.url + path, headers=self.headers(who), timeout=60,
                         **kw)  # type: ignore[arg-type]

    def _headers(self, who: str | None, kw: dict[str, object]) -> dict[str, str]:
        return self.headers(who) | dict(kw.pop("headers", {}))  # type: ignore[call-overload]

    def post(self, path: str, who: str | None = "examiner-write", **kw: object
             ) -> httpx.Response:
        headers = self._headers(who, kw)
        return httpx.post(self.url + path, headers=headers, timeout=120,
                          **kw)  # type: ignore[arg-type]

    def items(self, who: str = "examiner", **params: object) -> list[dict]:
        r = self.get(f"/api/v1/cases/{CASE}/items", who, params=params | {"limit": 500})
        assert r.status_code == 200, r.text
        assert "next" not in r.json()
        return r.json()["items"]

    def paths(self, **params: object) -> list[tuple[str, str]]:
        return sorted((i["source"], i["path"]) for i in self.items(**params))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("apiv1")
    home = tmp / "home"
    for name, role in (("user-0042", "examiner"), ("rev-01", "reviewer"),
                       ("auditor-01", "auditor"), ("admin-01", "admin")):
        add_user(home, name, role)
    build_case(home, tmp)
    run(home, "cases", "grant", CASE, "--user", "user-0042")
    run(home, "cases", "grant", CASE, "--user", "rev-01")
    tokens = {"examiner": token(home, "user-0042", "read"),
              "examiner-write": token(home, "user-0042", "write"),
              "examiner-lookup": token(home, "user-0042", "lookup"),
              "reviewer": token(home, "rev-01", "write"),
              "auditor": token(home, "auditor-01", "read"),
              "admin": token(home, "admin-01", "write")}
    evidence = tmp / "evidence"
    pictures(evidence / "exhibit-03", 2, seed=950)
    outside = pictures(tmp / "outside", 1, seed=960)
    (evidence / "escape").symlink_to(outside, target_is_directory=True)
    server = Server(home, "--evidence-root", str(evidence))
    try:
        yield World(home, tmp, server, tokens)
    finally:
        server.stop()


# -- who may ask -------------------------------------------------------------------------------
def test_no_credentials_is_401(world: World) -> None:
    for path in ("/api/v1/cases", f"/api/v1/cases/{CASE}/items", "/api/v1/lists",
                 f"/api/v1/cases/{CASE}/report", f"/api/v1/cases/{CASE}/items/1"):
        assert world.get(path, None).status_code == 401, path
    for path, body in (("/api/v1/lookup", {"signals": []}),
                       ("/api/v1/scans", {"case": CASE, "path": "exhibit-03"})):
        assert world.post(path, None, json=body).status_code == 401, path


def test_a_case_not_granted_looks_like_no_case(world: World) -> None:
    assert [c["name"] for c in world.get("/api/v1/cases").json()] == [CASE]
    assert [c["name"] for c in world.get("/api/v1/cases", "admin").json()] == [
        "op-harbour", "op-lantern"]
    for tail in ("", "/items", "/items/1", "/sources", "/families", "/suspects", "/devices",
                 "/actions", "/report?format=csv", "/custody/verify"):
        other = world.get(f"/api/v1/cases/op-lantern{tail}")
        unknown = world.get(f"/api/v1/cases/op-nowhere{tail}")
        assert other.status_code == unknown.status_code == 403, tail
        assert other.content == unknown.content, tail
    r = world.post("/api/v1/scans", json={"case": "op-lantern", "path": "exhibit-03"})
    assert (r.status_code, r.content) == (403, unknown.content)
    # auditors read custody logs only; a lookup token reads nothing
    assert world.get(f"/api/v1/cases/{CASE}/items", "auditor").status_code == 403
    assert world.get(f"/api/v1/cases/{CASE}/custody/verify", "auditor").json()["ok"] is True
    assert world.get(f"/api/v1/cases/{CASE}", "examiner-lookup").status_code == 403


def test_case_sources_people_and_families(world: World) -> None:
    case = world.get(f"/api/v1/cases/{CASE}").json()
    assert (case["items"], case["items_matched"], case["items_with_errors"]) == (7, 2, 1)
    assert (case["sources"], case["suspects"], case["devices"]) == (2, 1, 1)
    sources = world.get(f"/api/v1/cases/{CASE}/sources").json()
    assert [(s["name"], s["device"], s["counts"]["files"]) for s in sources] == [
        ("exhibit-01", "D-01", 5), ("exhibit-02", None, 2)]
    (suspect,) = world.get(f"/api/v1/cases/{CASE}/suspects").json()["suspects"]
    assert suspect["id"] == "S-01" and suspect["devices"] == ["D-01"]
    assert suspect["found"]["synthetic_items"] == 1 and suspect["found"]["matched_items"] == 2
    (device,) = world.get(f"/api/v1/cases/{CASE}/devices").json()["devices"]
    assert device["sources"] == ["exhibit-01"] and device["found"]["items"] == 5
    assert world.get(f"/api/v1/cases/{CASE}/actions").json()["actions"] == []
    (family,) = world.get(f"/api/v1/cases/{CASE}/families").json()["families"]
    assert sorted((m["source"], m["path"]) for m in family["members"]) == [
        ("exhibit-01", "photo-0.png"), ("exhibit-02", "copy-of-0.png")]


# -- items: filters and paging -----------------------------------------------------------------
def test_filters(world: World) -> None:
    everything = world.paths()
    assert len(everything) == 7
    assert world.paths(matched="true") == [("exhibit-01", "photo-1.png"),
                                           ("exhibit-01", "photo-2.png")]
    assert len(world.paths(matched="false")) == 5
    assert world.paths(synthetic="true") == [("exhibit-01", "generated.png")]
    assert world.paths(errors="true") == [("exhibit-01", "truncated.png")]
    assert world.paths(family=1) == [("exhibit-01", "photo-0.png"),
                                     ("exhibit-02", "copy-of-0.png")]
    assert world.paths(family=2) == []
    assert world.paths(source="exhibit-02") == [("exhibit-02", "copy-of-0.png"),
                                                ("exhibit-02", "photo-0.png")]
    ex1 = [p for p in everything if p[0] == "exhibit-01"]
    assert world.paths(device="D-01") == world.paths(suspect="S-01") == ex1
    assert world.paths(source="exhibit-01", matched="true", errors="false",
                       synthetic="false") == [("exhibit-01", "photo-1.png"),
                                              ("exhibit-01", "photo-2.png")]
    assert world.paths(source="exhibit-02", family=1) == [("exhibit-02", "copy-of-0.png")]
    row = next(i for i in world.items(synthetic="true"))
    assert row["synthetic"] is True and row["active_matches"] == 0 and row["sha256"]


def test_cursor_paging(world: World) -> None:
    for params in ({}, {"matched": "false"}, {"synthetic": "false"}, {"source": "exhibit-01"}):
        seen: list[int] = []
        url: str | None = f"/api/v1/cases/{CASE}/items?" + "&".join(
            f"{k}={v}" for k, v in (params | {"limit": 2}).items())
        pages = 0
        while url:
            body = world.get(url).json()
            assert len(body["items"]) <= 2
            seen += [i["id"] for i in body["items"]]
            url = body.get("next")
            pages += 1
        assert seen == sorted(seen) == [i["id"] for i in sorted(world.items(**params),
                                                                key=lambda i: i["id"])]
        assert pages == max(1, -(-len(seen) // 2)), params
    for params, field in (({"limit": 501}, "limit"), ({"limit": 0}, "limit"),
                          ({"cursor": "abc"}, "cursor"), ({"cursor": "-1"}, "cursor")):
        r = world.get(f"/api/v1/cases/{CASE}/items", params=params)
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", field]


def test_sql_in_every_filter_changes_nothing(world: World) -> None:
    def counts() -> tuple[int, ...]:
        store = open_store(world.home)
        try:
            with store.engine.connect() as c:
                return tuple(c.execute(select(func.count()).select_from(tbl)).scalar_one()
                             for tbl in (t.items, t.matches, t.list_entries, t.cases))
        finally:
            store.close()

    before = counts()
    nothing = world.items(source="no-such-source")
    assert nothing == []
    for value in SQL:
        for name in ("source", "device", "suspect"):
            assert world.items(**{name: value}) == nothing, (name, value)
        r = world.get(f"/api/v1/cases/{CASE}/items", params={"source": "exhibit-01",
                                                              "device": value})
        assert r.json()["items"] == []
        for name in ("matched", "synthetic", "errors", "family", "cursor", "limit"):
            r = world.get(f"/api/v1/cases/{CASE}/items", params={name: value})
            assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", name]
        r = world.get(f"/api/v1/cases/{value}/items", "admin")
        assert r.status_code == 403  # as an unknown case
    assert counts() == before


# -- one item ----------------------------------------------------------------------------------
def test_viewing_an_item_is_in_custody_with_the_user(world: World) -> None:
    row = world.items(matched="true", source="exhibit-01", synthetic="false",
                      errors="false")[0]
    first = world.get(f"/api/v1/cases/{CASE}/items/{row['id']}")
    assert first.status_code == 200
    it = first.json()
    assert (it["source"], it["path"]) == (row["source"], row["path"])
    assert {s["type"] for s in it["signals"]} >= {"pdq"}
    (match,) = it["matches"]
    assert match["status"] == "active" and match["entry"]["value"]
    viewed = [e for e in it["custody"] if e["action"] == "item.viewed"]
    assert [(e["details"]["by"], e["details"]["via"]) for e in viewed] == [
        ("user-0042", "token")]  # the read that answered is already logged
    again = world.get(f"/api/v1/cases/{CASE}/items/{row['id']}", "reviewer").json()
    assert [e["details"]["by"] for e in again["custody"]
            if e["action"] == "item.viewed"] == ["user-0042", "rev-01"]
    fam = world.items(family=1)[0]
    assert world.get(f"/api/v1/cases/{CASE}/items/{fam['id']}").json()["family"]["id"] == 1
    gen = world.items(synthetic="true")[0]
    shown = world.get(f"/api/v1/cases/{CASE}/items/{gen['id']}").json()
    assert shown["synthetic"] is True and any(f["kind"] == "generator"
                                              for f in shown["findings"])
    assert world.get(f"/api/v1/cases/{CASE}/items/999999").status_code == 404
    verify = world.get(f"/api/v1/cases/{CASE}/custody/verify").json()
    assert verify["ok"] is True and verify["problem"] is None


# -- reports -----------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["json", "csv", "html", "vics"])
def test_report_download_is_what_cairn_report_writes(world: World, fmt: str) -> None:
    r = world.get(f"/api/v1/cases/{CASE}/report", params={"format": fmt})
    assert r.status_code == 200
    out = world.tmp / f"report.{fmt}"
    run(world.home, "report", "--case", CASE, "--format", fmt, "--output", out)
    assert r.content == out.read_bytes()
    assert r.headers["content-type"].split(";")[0] == {
        "json": "application/json", "csv": "text/csv", "html": "text/html",
        "vics": "application/json"}[fmt]
    assert r.headers["content-disposition"].startswith('attachment; filename="op-harbour-report.')
    assert world.get(f"/api/v1/cases/{CASE}/report",
                     params={"format": "pdf"}).status_code == 422


# -- batch lookup ------------------------------------------------------------------------------
def test_batch_lookup(world: World) -> None:
    photo1 = (world.tmp / "exhibit-01" / "photo-1.png").read_bytes()
    pdq = (world.tmp / "pdq.txt").read_text().strip()
    signals = [{"type": "md5", "value": hashlib.md5(photo1).hexdigest().upper()},
               {"type": "pdq", "value": pdq},
               {"type": "sha256", "value": hashlib.sha256(b"nothing").hexdigest()}]
    r = world.post("/api/v1/lookup", "examiner-lookup", json={"signals": signals})
    assert r.status_code == 200, r.text
    md5, pdq_hit, none = r.json()["results"]
    assert [m["list"] for m in md5["matches"]] == ["known-md5"]
    assert md5["value"] == hashlib.md5(photo1).hexdigest()  # normalised
    assert [(m["list"], m["distance"]) for m in pdq_hit["matches"]] == [("known-pdq", 0)]
    assert none["matches"] == []
    # built by service.lookup.lookup_json: FastAPI's JSONResponse bytes, without its encoder
    assert r.content == JSONResponse(r.json()).body
    assert r.headers["content-type"] == "application/json"
    assert world.post("/api/v1/lookup", "auditor", json={"signals": signals}
                      ).status_code == 403


def test_batch_lookup_refusals(world: World) -> None:
    big = {"signals": [{"type": "md5", "value": "0" * 32}] * 10_001}
    assert world.post("/api/v1/lookup", "examiner-lookup", json=big).status_code == 413
    ok = world.post("/api/v1/lookup", "examiner-lookup",
                    json={"signals": [{"type": "md5", "value": "0" * 32}] * 10_000})
    assert ok.status_code == 200 and len(ok.json()["results"]) == 10_000
    good = {"type": "md5", "value": "0" * 32}
    for bad, field in (({"type": "pdq", "value": "zz" * 32}, "value"),
                       ({"type": "md5", "value": "abc"}, "value"),
                       ({"type": "pdq", "value": "0" * 64}, "value"),  # degenerate
                       ({"type": "md5", "value": "0x" + "0" * 30}, "value"),
                       ({"type": "colour", "value": "0" * 32}, "type"),
                       ({"type": "photodna", "value": "AAAA"}, "type")):
        r = world.post("/api/v1/lookup", "examiner-lookup",
                       json={"signals": [good, good, bad]})
        assert r.status_code == 422, bad
        assert r.json()["detail"][0]["loc"] == ["body", "signals", 2, field], bad
    r = world.post("/api/v1/lookup", "examiner-lookup", content=b"{not json",
                   headers={"Content-Type": "application/json"})
    assert r.status_code == 422


# -- lists -------------------------------------------------------------------------------------
def test_list_upload_withdraw_and_false_positive(world: World) -> None:
    values = [hashlib.md5(f"benign-{i}".encode()).hexdigest() for i in range(3)]
    body = "\n".join(values) + "\n"
    r = world.post("/api/v1/lists", "examiner", files={"file": ("extra.txt", body)},
                   data={"name": "uploaded", "format": "plain", "type": "md5"})
    assert r.status_code == 403  # a read token writes nothing
    r = world.post("/api/v1/lists", files={"file": ("extra.txt", body)},
                   data={"name": "uploaded", "format": "plain", "type": "md5"})
    assert r.status_code == 200, r.text
    assert (r.json()["entries"], r.json()["format"]) == (3, "plain")
    listed = {x["name"]: x for x in world.get("/api/v1/lists").json()}
    assert listed["uploaded"]["source_file"] == "upload:extra.txt"
    again = world.post("/api/v1/lists", files={"file": ("extra.txt", body)},
                       data={"name": "uploaded", "format": "plain", "type": "md5"})
    assert again.status_code == 409 and "exists" in again.json()["detail"]

    def hits(value: str) -> list[str]:
        res = world.post("/api/v1/lookup", "examiner-lookup",
                         json={"signals": [{"type": "md5", "value": value}]})
        return [m["list"] for m in res.json()["results"][0]["matches"]]

    assert hits(values[0]) == ["uploaded"]
    r = world.post("/api/v1/lists/uploaded/withdraw", json={"values": [values[0], "f" * 32],
                                                            "note": "re-graded"})
    assert r.status_code == 200 and r.json()["changed"] == [values[0]]
    assert r.json()["unknown"] == ["f" * 32]
    r = world.post("/api/v1/lists/uploaded/false-positive", json={"values": [values[1]]})
    assert r.json()["changed"] == [values[1]]
    assert hits(values[0]) == hits(values[1]) == [] and hits(values[2]) == ["uploaded"]
    assert world.post("/api/v1/lists/no-such/withdraw",
                      json={"values": [values[2]]}).status_code == 404
    store = open_store(world.home)
    try:
        log = [e for e in store.custody_entries(chain="store")
               if e["subject"] == "list:uploaded"]
    finally:
        store.close()
    assert [(e["action"], e["details"].get("by")) for e in log] == [
        ("list.imported", "user-0042"), ("list.entries.withdrawn", "user-0042"),
        ("list.entries.false_positive", "user-0042")]


# -- scans -------------------------------------------------------------------------------------
def test_scan_paths_outside_the_evidence_roots_are_403(world: World) -> None:
    evidence = world.tmp / "evidence"
    refusals = []
    for path in (str(world.tmp / "outside"), str(evidence / ".." / "outside"),
                 "../outside", str(evidence / "escape"), "escape", "escape/photo-0.png",
                 "/etc", str(world.tmp / "does-not-exist")):
        r = world.post("/api/v1/scans", json={"case": CASE, "path": path})
        assert r.status_code == 403, path
        refusals.append(r.json()["detail"])
    # each names its path, and whether it exists is never said (the rest is one text)
    assert refusals == [f"forbidden: {p!r} is outside the evidence roots of case {CASE!r}"
                        for p in (str(world.tmp / "outside"), str(evidence / ".." / "outside"),
                                  "../outside", str(evidence / "escape"), "escape",
                                  "escape/photo-0.png", "/etc",
                                  str(world.tmp / "does-not-exist"))]
    assert world.post("/api/v1/scans", json={"case": CASE, "path": "exhibit-03/none"}
                      ).status_code == 404
    assert world.post("/api/v1/scans", "examiner",
                      json={"case": CASE, "path": "exhibit-03"}).status_code == 403


def test_scan_under_a_root_runs_and_is_polled(world: World) -> None:
    r = world.post("/api/v1/scans", json={"case": CASE, "path": "exhibit-03",
                                          "source_name": "exhibit-03"})
    assert r.status_code == 202, r.text
    poll = r.json()["poll"]
    deadline = time.monotonic() + 120
    while True:
        state = world.get(poll).json()
        if state["status"] not in ("queued", "running"):
            break
        assert time.monotonic() < deadline, state
        time.sleep(0.2)
    assert state["status"] == "complete", state
    assert state["progress"] == {"total": 2, "done": 2} and state["by"] == "user-0042"
    assert state["summary"]["new_items"] == 2
    assert world.paths(source="exhibit-03") == [("exhibit-03", "photo-0.png"),
                                                ("exhibit-03", "photo-1.png")]
    assert world.get(poll, "auditor").status_code == 403  # reads no scans
    assert world.get("/api/v1/scans/" + "0" * 24).status_code == 404
    store = open_store(world.home)
    try:
        started = [e for e in store.custody_entries(store.cases.id(CASE))
                   if e["action"] == "scan.started"][-1]
    finally:
        store.close()
    assert started["details"]["arguments"]["by"] == "user-0042"


def test_feedback_on_an_items_matches(world: World) -> None:
    """Last of the shared world's tests: it changes which items count as matched."""
    item = next(i for i in world.items(matched="true") if i["path"] == "photo-1.png")
    path = f"/api/v1/cases/{CASE}/items/{item['id']}/feedback"
    assert world.post(path, "examiner", json={"verdict": "false_positive"}).status_code == 403
    r = world.post(path, "reviewer", json={"verdict": "wrong"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "verdict"]
    r = world.post(path, "reviewer", json={"verdict": "false_positive", "note": "a test card"})
    assert r.status_code == 200, r.text
    assert [e["status"] for e in r.json()["entries"]] == ["false_positive"]
    assert world.paths(matched="true") == [("exhibit-01", "photo-2.png")]
    shown = world.get(f"/api/v1/cases/{CASE}/items/{item['id']}").json()
    assert [m["status"] for m in shown["matches"]] == ["false_positive"]
    unmatched = world.items(synthetic="true")[0]["id"]  # matched nothing, ever
    assert world.post(f"/api/v1/cases/{CASE}/items/{unmatched}/feedback", "reviewer",
                      json={"verdict": "confirmed"}).status_code == 409
    assert world.post(f"/api/v1/cases/{CASE}/items/999999/feedback", "reviewer",
                      json={"verdict": "confirmed"}).status_code == 404


# -- the API documents itself ------------------------------------------------------------------
def test_openapi_and_docs(world: World) -> None:
    paths = httpx.get(world.url + "/openapi.json").json()["paths"]
    for p in ("/api/v1/cases", "/api/v1/cases/{case}/items", "/api/v1/cases/{case}/items/"
              "{item_id}", "/api/v1/cases/{case}/report", "/api/v1/lists", "/api/v1/scans",
              "/api/v1/scans/{scan_id}", "/api/v1/lookup", "/api/v1/cases/{case}/custody/verify",
              "/api/v1/cases/{case}/families", "/api/v1/lists/{name}/withdraw"):
        assert p in paths, p
    docs = httpx.get(world.url + "/docs")
    assert docs.status_code == 200 and docs.headers["content-type"].startswith("text/html")
    assert "/api/v1/lookup" in docs.text and "<script" not in docs.text.lower()
    assert "http" not in docs.text.replace("/openapi.json", "")  # nothing from elsewhere


# -- PostgreSQL ------------------------------------------------------------------------------
def test_postgres_smoke(tmp_path: Path) -> None:
    for url in database("postgresql"):
        home = tmp_path / "pg"
        DB_URLS[home] = url
        try:
            add_user(home, "user-0042", "examiner")
            build_case(home, tmp_path)
            run(home, "cases", "grant", CASE, "--user", "user-0042")
            secret = token(home, "user-0042", "read")
            server = Server(home)
            try:
                auth = {"Authorization": f"Bearer {secret}"}
                r = httpx.get(server.url + f"/api/v1/cases/{CASE}/items", headers=auth,
                              params={"matched": "true", "source": "' OR 1=1 --"})
                assert r.status_code == 200 and r.json()["items"] == []
                r = httpx.get(server.url + f"/api/v1/cases/{CASE}/items", headers=auth,
                              params={"matched": "true", "limit": 1})
                first = r.json()
                assert len(first["items"]) == 1 and "next" in first
                item = first["items"][0]["id"]
                shown = httpx.get(server.url + f"/api/v1/cases/{CASE}/items/{item}",
                                  headers=auth).json()
                assert shown["custody"][-1]["details"]["by"] == "user-0042"
                r = httpx.get(server.url + f"/api/v1/cases/{CASE}/report", headers=auth,
                              params={"format": "csv"})
                assert r.status_code == 200 and r.text.startswith("source,path")
            finally:
                server.stop()
        finally:
            DB_URLS.pop(home, None)
