"""The exchange under hostile input, on loopback: per-object TLP when serving, POSTs applied
per object, every malformed request a 4xx that changes nothing, bodies capped before they are
read; and a pull from a peer that trickles, paginates forever or serves malformed objects
fails cleanly (or rejects the bad object) with the store and checkpoint unchanged."""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner, Result
from fastapi.testclient import TestClient
from sqlalchemy import select

from cairn.cli import cli
from cairn.exchange.taxii import collection_id, create_app
from cairn.lists.formats import stix
from cairn.store import Store
from cairn.store import exchange as ex
from cairn.store import schema as t
from serve_fixtures import serving

T0 = "2026-01-01T00:00:00.000Z"
NS = uuid.UUID("0b5e7a4c-1d2e-4f30-9a8b-7c6d5e4f3a21")  # this test's, for object ids
RED, AMBER, GREEN = stix.TLP2["red"], stix.TLP2["amber"], stix.TLP2["green"]
STRICT = stix.TLP2["amber+strict"]


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def indicator(value: str, markings: list = [AMBER], **extra: object) -> dict:  # noqa: B006
    return {"type": "indicator", "spec_version": "2.1", "id": f"indicator--{uuid.uuid5(NS, value)}",
            "created": T0, "modified": T0, "valid_from": T0, "pattern_type": "stix",
            "pattern": f"[file:hashes.MD5 = '{value}']", "object_marking_refs": markings,
            **extra}


def opinion(value: str, verdict: str = "strongly-disagree", **extra: object) -> dict:
    ref = stix.indicator_id("md5", value)
    return {"type": "opinion", "spec_version": "2.1", "id": f"opinion--{uuid.uuid5(NS, ref)}",
            "created": T0, "modified": T0, "opinion": verdict, "explanation": "benign",
            "object_refs": [ref], **extra}


class World:
    """A store with an AMBER list `known` and a RED list `secret`; partners: `writer` (writes
    known), `reader` (reads known), `named` (reads known and secret: named for RED)."""

    def __init__(self, home: Path) -> None:
        self.store = Store.open(home)
        for name, tlp in (("known", "amber"), ("secret", "red")):
            self.store.lists.add(name, f"{name}.txt", "plain", 31, [
                {"signal_type": "md5", "value": md5(f"{name}-{i}"), "line": i + 1}
                for i in range(2)], 0, tlp=tlp, stix_id=stix.indicator_id)
        self.tokens = {p: ex.add_partner(self.store, p) for p in ("writer", "reader", "named")}
        ex.grant(self.store, "writer", "known", read=True, write=True)
        ex.grant(self.store, "reader", "known", read=True, write=False)
        ex.grant(self.store, "named", "known", read=True, write=False)
        ex.grant(self.store, "named", "secret", read=True, write=False)
        self.known = collection_id("known")
        self.secret = collection_id("secret")

    def auth(self, partner: str) -> tuple[str, str]:
        return partner, self.tokens[partner]

    def snapshot(self) -> tuple[list, list, list]:
        """Everything a request could change: lists, entries (with status), opinions."""
        with self.store.engine.connect() as c:
            return ([tuple(r) for r in c.execute(select(t.lists).order_by(t.lists.c.id))],
                    [tuple(r) for r in c.execute(select(t.list_entries)
                                                 .order_by(t.list_entries.c.id))],
                    [tuple(r) for r in c.execute(select(t.opinions).order_by(t.opinions.c.id))])

    def entry(self, value: str) -> dict | None:
        with self.store.engine.connect() as c:
            row = c.execute(select(t.list_entries).where(
                t.list_entries.c.value == value)).mappings().first()
        return dict(row) if row else None


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path / "home")




def post(client: TestClient | httpx.Client, w: World, objects: object, partner: str = "writer",
         cid: str | None = None) -> httpx.Response:
    return client.post(f"/api/collections/{cid or w.known}/objects/", auth=w.auth(partner),
                       content=json.dumps({"objects": objects}))


# -- 1. TLP per object ------------------------------------------------------------------------
def test_an_objects_own_marking_is_served_and_red_never_widens(world: World) -> None:
    from taxii2client.v21 import Collection, as_pages

    w = world
    red, both, strict = md5("posted-red"), md5("posted-amber-and-red"), md5("posted-strict")
    client = TestClient(create_app(w.store))
    r = post(client, w, [indicator(red, [RED]), indicator(both, [AMBER, RED]),
                         indicator(strict, [GREEN, STRICT])])
    assert r.status_code == 202 and r.json()["success_count"] == 3
    assert [w.entry(v)["status"] for v in (red, both, strict)] == ["active"] * 3  # kept here

    with serving(create_app(w.store)) as url:
        def objects_for(partner: str, cid: str) -> list[dict]:
            col = Collection(f"{url}/api/collections/{cid}/", user=partner,
                             password=w.tokens[partner])
            return [o for page in as_pages(col.get_objects, per_request=2)  # paged
                    for o in page["objects"] if o["type"] in ("indicator", "file")]

        for partner in ("reader", "named"):  # `named` reads RED only from the RED list
            served = objects_for(partner, w.known)
            text = json.dumps(served)
            assert red not in text and both not in text
            assert {o["pattern"].split("'")[-2]: o["object_marking_refs"] for o in served
                    if o["type"] == "indicator"} == {
                md5("known-0"): [AMBER], md5("known-1"): [AMBER], strict: [STRICT]}
            manifest = httpx.get(f"{url}/api/collections/{w.known}/manifest/",
                                 auth=w.auth(partner)).json()["objects"]
            ids = {m["id"] for m in manifest}
            assert stix.indicator_id("md5", strict) in ids
            for hidden in (red, both):
                assert stix.indicator_id("md5", hidden) not in ids
                r = httpx.get(f"{url}/api/collections/{w.known}/objects/"
                              f"{stix.indicator_id('md5', hidden)}/", auth=w.auth(partner))
                assert r.status_code == 404  # a RED entry looks like none
            one = httpx.get(f"{url}/api/collections/{w.known}/objects/"
                            f"{stix.indicator_id('md5', strict)}/", auth=w.auth(partner))
            assert one.json()["objects"][0]["object_marking_refs"] == [STRICT]
        secret = objects_for("named", w.secret)
        assert {o["object_marking_refs"][0] for o in secret} == {RED}
        assert len(secret) == 4  # two entries, an Indicator and a File each
    # nor can anyone judge a RED entry through an AMBER collection
    r = post(client, w, [opinion(red)])
    assert r.status_code == 422 and w.entry(red)["status"] == "active"


def marking(n: int, kind: str = "tlp", **definition: object) -> dict:
    """A partner's own marking-definition (not an OASIS id): TLP 1.0 style, a statement, or
    (kind "tlp2") the TLP 2.0 extension."""
    md = {"type": "marking-definition", "spec_version": "2.1", "created": T0,
          "id": f"marking-definition--{uuid.uuid5(NS, f'marking-{n}')}"}
    if kind == "tlp2":
        return md | {"name": "TLP:X", "extensions": {stix.TLP2_EXTENSION: {
            "extension_type": "property-extension", "tlp_2_0": definition["tlp"]}}}
    return md | {"definition_type": kind, "definition": definition}


OWN_RED, OWN_RED2, OWN_GREEN = marking(1, tlp="red"), marking(2, "tlp2", tlp="red"), \
    marking(3, tlp="green")
NOTICE = marking(4, "statement", statement="Copyright example.test")
OTHER = marking(5, "pap", pap="red")  # a definition type Cairn does not read
NEVER = f"marking-definition--{uuid.uuid5(NS, 'never-defined')}"


def marked_cases() -> tuple[list[dict], dict[str, str | None]]:
    """Indicators marked with partners' own markings, and the TLP each must be kept as."""
    want = {md5("own-red"): ("red", [OWN_RED["id"]]),
            md5("own-red-2"): ("red", [GREEN, OWN_RED2["id"]]),
            md5("own-green"): ("green", [OWN_GREEN["id"]]),
            md5("notice"): ("green", [GREEN, NOTICE["id"]]),  # a statement is not a TLP
            md5("never"): ("red", [GREEN, NEVER]),  # defined nowhere: RED
            md5("other"): ("red", [OTHER["id"]])}  # defined, but not as anything we read
    objects = [indicator(v, refs) for v, (_, refs) in want.items()]
    objects.append(indicator(md5("granular"), [GREEN], granular_markings=[
        {"marking_ref": NEVER, "selectors": ["description"]}], description="x"))
    return objects, {v: lv for v, (lv, _) in want.items()} | {md5("granular"): "red"}


def test_partner_defined_and_unreadable_markings_fail_closed_in_a_post(world: World) -> None:
    w = world
    objects, want = marked_cases()
    client = TestClient(create_app(w.store))
    r = post(client, w, [*objects, OWN_RED, OWN_RED2, OWN_GREEN, NOTICE, OTHER])
    assert r.status_code == 202 and r.json()["failure_count"] == 0, r.text[:500]
    assert {v: json.loads(w.entry(v)["attrs"]).get("tlp") for v in want} == want
    served = json.dumps(client.get(f"/api/collections/{w.known}/objects/",
                                   auth=w.auth("reader")).json())
    for v, lv in want.items():
        assert (v in served) == (lv != "red"), v  # RED is never served as AMBER


def test_partner_defined_markings_are_read_across_pulled_pages(tmp_path: Path) -> None:
    objects, want = marked_cases()

    def answer(line: str) -> bytes:  # the markings come on the last page, after their use
        if "next=" not in line:
            return taxii({"more": True, "next": "page-2", "objects": objects})
        return taxii({"more": False, "objects": [OWN_RED, OWN_RED2, OWN_GREEN, NOTICE,
                                                 OTHER]})

    peer = Peer(answer)
    try:
        home = tmp_path / "home"
        cairn(home, "exchange", "add-peer", "p", "--url", peer.url)
        res = cairn(home, "exchange", "pull", "p", "--collection", "c", "--json")
        assert res.exit_code == 0 and res.exception is None, res.output
        assert json.loads(res.output)["rejected_count"] == 0
        store = Store.open(home)
        (lst,) = store.lists.all()
        got = {e["value"]: (e["attrs"] or {}).get("tlp")
               for e in store.lists.export(lst["name"])}
        assert got == want
    finally:
        peer.close()


def test_a_bad_cursor_or_object_id_is_a_4xx_before_any_query(world: World) -> None:
    import base64

    w = world
    client = TestClient(create_app(w.store), raise_server_exceptions=False)
    objects = f"/api/collections/{w.known}/objects/"
    for cursor in ("2026-01-01T00:00:00+00:00|99999999999999999999",  # SQLite overflow
                   "2026-01-01T00:00:00+00:00|-1", f"2026-01-01T00:00:00+00:00|{2**63}",
                   "2026-01-01\x00|1", "not a time|1"):
        token = base64.urlsafe_b64encode(cursor.encode()).decode()
        for what in ("objects", "manifest"):
            r = client.get(f"/api/collections/{w.known}/{what}/", auth=w.auth("reader"),
                           params={"next": token})
            assert r.status_code == 400 and r.json()["title"] == "bad next", (cursor, what)
    for oid in ("indicator--%00", "indicator--%00%00", "not-an-id", "indicator--" + "0" * 500):
        r = client.get(f"{objects}{oid}/", auth=w.auth("reader"))
        assert r.status_code == 404, (oid, r.status_code)
    first = client.get(objects, auth=w.auth("reader"), params={"limit": 2}).json()
    r = client.get(objects, auth=w.auth("reader"), params={"limit": 2, "next": first["next"]})
    assert r.status_code == 200  # the cursors this server gives still work


def test_a_red_object_of_an_imported_bundle_stays_red(tmp_path: Path) -> None:
    home = tmp_path / "home"
    green, red = md5("bundle-green"), md5("bundle-red")
    bundle = tmp_path / "partner.json"
    bundle.write_text(json.dumps({"type": "bundle", "id": f"bundle--{uuid.uuid4()}",
                                  "objects": [indicator(green, [GREEN]),
                                              indicator(red, [RED])]}))
    runner = CliRunner()
    res = runner.invoke(cli, ["--home", str(home), "lists", "import", str(bundle), "--name",
                              "from-bundle"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    store = Store.open(home)
    token = ex.add_partner(store, "p")
    ex.grant(store, "p", "from-bundle", read=True, write=False)
    client = TestClient(create_app(store))
    body = client.get(f"/api/collections/{collection_id('from-bundle')}/objects/",
                      auth=("p", token)).json()
    served = [o for o in body["objects"] if o["type"] == "indicator"]
    assert [o["pattern"] for o in served] == [f"[file:hashes.'MD5' = '{green}']"]
    assert served[0]["object_marking_refs"] == [AMBER]  # the list's (unset: amber) is stricter
    assert red not in json.dumps(body)


def test_a_push_carries_each_entrys_marking_and_withholds_red(world: World,
                                                              tmp_path: Path) -> None:
    w = world  # the receiving agency; ours is `home`, whose list holds marked entries
    home = tmp_path / "ours"
    plain, strict, red = md5("ours-plain"), md5("ours-strict"), md5("ours-red")
    ours = Store.open(home)
    ours.lists.add("mixed", "mixed.json", "stix", 31, [
        {"signal_type": "md5", "value": v, "line": n, "attrs": {"tlp": tlp} if tlp else None}
        for n, (v, tlp) in enumerate(((plain, None), (strict, "amber+strict"), (red, "red")),
                                     1)], 0, tlp="green", stix_id=stix.indicator_id)
    with serving(create_app(w.store)) as url:
        cairn(home, "exchange", "add-peer", "them", "--url", f"{url}/api/", "--user",
              "writer", "--token", w.tokens["writer"])
        res = cairn(home, "exchange", "push", "them", "--list", "mixed", "--collection",
                    w.known, "--json")
        assert res.exit_code == 0, res.output
        out = json.loads(res.output)
        assert (out["objects_sent"], out["accepted"], out["withheld_red"]) == (4, 4, 1)
    assert w.entry(red) is None  # RED goes only from a RED list
    assert json.loads(w.entry(plain)["attrs"])["tlp"] == "green"
    assert json.loads(w.entry(strict)["attrs"])["tlp"] == "amber+strict"


def test_too_many_objects_in_one_post_is_refused_whole(world: World) -> None:
    from cairn.exchange.taxii import MAX_OBJECTS

    w = world
    client = TestClient(create_app(w.store), raise_server_exceptions=False)
    before = w.snapshot()
    r = post(client, w, [{}] * (MAX_OBJECTS + 1))
    assert r.status_code == 413 and w.snapshot() == before


# -- 2. a POST is applied per object ----------------------------------------------------------
def test_a_post_is_all_or_nothing_per_object(world: World) -> None:
    w = world
    client = TestClient(create_app(w.store), raise_server_exceptions=False)
    judged, good = md5("known-0"), md5("posted-good")
    half = indicator(md5("half-good"))
    half["pattern"] += " OR [file:hashes.'SHA-256' = 'not-a-hash']"
    r = post(client, w, [opinion(judged), indicator(md5("posted-bad"), labels=5), half,
                         indicator(good), opinion(md5("known-1"), object_refs=5)])
    assert r.status_code == 202
    status = r.json()
    assert (status["total_count"], status["success_count"], status["failure_count"],
            status["pending_count"]) == (5, 2, 3, 0)
    assert [s["id"] for s in status["successes"]] == [opinion(judged)["id"],
                                                      indicator(good)["id"]]
    messages = [f["message"] for f in status["failures"]]
    assert "object 2" in messages[0] and "`labels`" in messages[0]
    assert "object 3" in messages[1]
    assert "object 5" in messages[2] and "`object_refs`" in messages[2]
    assert w.entry(judged)["status"] == "false_positive"  # the valid opinion applied
    assert w.entry(good)["status"] == "active"
    assert w.entry(md5("posted-bad")) is None and w.entry(md5("half-good")) is None
    assert w.entry(md5("known-1"))["status"] == "active"  # its malformed opinion did nothing
    saved = client.get(f"/api/status/{status['id']}/", auth=w.auth("writer"))
    assert saved.status_code == 200 and saved.json() == status


# -- 3. every malformed request is a 4xx that changes nothing ---------------------------------
def _bad_posts() -> list[tuple[str, bytes]]:
    def env(*objects: object) -> bytes:
        return json.dumps({"objects": list(objects)}).encode()

    file_ = {"type": "file", "spec_version": "2.1", "id": f"file--{uuid.uuid4()}",
             "hashes": [md5("f")]}
    return [
        ("100,000 deep", b'{"objects": [' + b"[" * 100_000 + b"]" * 100_000 + b"]}"),
        ("invalid UTF-8", b'{"objects": [{"type": "indicator", "id": "\xff\xfe"}]}'),
        ("not JSON", b'{"objects": ['),
        ("objects not a list", b'{"objects": 5}'),
        ("labels: 5", env(indicator(md5("x1"), labels=5))),
        ("hashes: [...]", env(file_)),
        ("a dict in object_marking_refs", env(indicator(md5("x2"), [{"id": RED}]))),
        ("object_refs: 5", env(opinion(md5("known-0"), object_refs=5))),
        ("pattern: 5", env(indicator(md5("x3"), pattern=5))),
        ("an id that is not one", env(indicator(md5("x4"), id=["indicator--1"]))),
        ("an opinion naming 40,000 objects", env(opinion(md5("known-0"), object_refs=[
            f"indicator--{uuid.UUID(int=n)}" for n in range(40_000)]))),
    ]


def test_malformed_requests_are_4xx_and_change_nothing(world: World) -> None:
    w = world
    client = TestClient(create_app(w.store), raise_server_exceptions=False)
    before = w.snapshot()
    for case, body in _bad_posts():
        r = client.post(f"/api/collections/{w.known}/objects/", auth=w.auth("writer"),
                        content=body)
        assert r.status_code in (400, 422), (case, r.status_code, r.text[:300])
        assert r.json()["description"], case  # a TAXII error with a message
        assert w.snapshot() == before, case
    for when in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "yesterday"):
        for what in ("objects", "manifest"):
            r = client.get(f"/api/collections/{w.known}/{what}/", auth=w.auth("reader"),
                           params={"added_after": when})
            assert r.status_code == 400 and "added_after" in r.json()["title"], (when, what)
    for token in ("!!!", "////", "\u00e9t\u00e9"):
        r = client.get(f"/api/collections/{w.known}/objects/", auth=w.auth("reader"),
                       params={"next": token})
        assert r.status_code == 400, token


# -- 4. limits before reading -----------------------------------------------------------------
def test_bodies_are_capped_before_they_are_read(world: World) -> None:
    w = world
    cap, chunk = 4 << 20, 1 << 20
    app = create_app(w.store, max_content_length=cap)

    async def send(size: int, declare: bool) -> tuple[int, int]:
        sent = 0

        async def body() -> AsyncIterator[bytes]:
            nonlocal sent
            for _ in range(size // chunk):
                sent += chunk
                yield b" " * chunk

        headers = {"Content-Length": str(size)} if declare else {}
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://cairn.test") as c:
            r = await c.post(f"/api/collections/{w.known}/objects/", auth=w.auth("writer"),
                             content=body(), headers=headers)
        return r.status_code, sent

    before = w.snapshot()
    status, sent = asyncio.run(send(64 << 20, declare=False))  # chunked, 64 MiB
    assert status == 413 and sent <= cap + chunk  # read in chunks, stopped at the cap
    status, sent = asyncio.run(send(64 << 20, declare=True))
    assert status == 413 and sent <= chunk  # refused on its Content-Length, before reading

    with serving(app) as url:  # over a socket: the server hangs up instead of draining it
        sent = 0

        def upload() -> Iterator[bytes]:
            nonlocal sent
            for _ in range(64):
                sent += chunk
                yield b" " * chunk

        r = httpx.post(f"{url}/api/collections/{w.known}/objects/", auth=w.auth("writer"),
                       content=upload(), timeout=60)
        assert r.status_code == 413 and "at most 4194304" in r.json()["description"]
        assert sent < 64 * chunk  # it stopped reading: the rest was never sent
    assert w.snapshot() == before


# -- 5. the client against hostile peers ------------------------------------------------------
class Peer:
    """A loopback TAXII peer whose pages a test scripts: `answer(request_line)` returns the
    raw bytes of a response, or `trickle` sends headers then one body byte every 2 s."""

    def __init__(self, answer: Callable[[str], bytes] | None = None,
                 trickle: int = 0) -> None:
        self.answer, self.trickle = answer, trickle
        self.trickled, self.hung_up = 0, threading.Event()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/api/"
        self.stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        with conn:
            head = b""
            while b"\r\n\r\n" not in head:
                data = conn.recv(65536)
                if not data:
                    return
                head += data
            line = head.split(b"\r\n", 1)[0].decode()
            if not self.trickle:
                conn.sendall(self.answer(line))
                return
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/taxii+json;"
                         b"version=2.1\r\nContent-Length: %d\r\n\r\n" % self.trickle)
            for _ in range(self.trickle):
                if self.stop.wait(2):
                    return
                try:
                    conn.sendall(b" ")
                except OSError:
                    self.hung_up.set()
                    return
                self.trickled += 1

    def close(self) -> None:
        self.stop.set()
        self.sock.close()


def taxii(body: dict, last: str = "2026-01-01T00:00:00.000000Z") -> bytes:
    data = json.dumps(body).encode()
    return (b"HTTP/1.1 200 OK\r\nContent-Type: application/taxii+json;version=2.1\r\n"
            b"X-TAXII-Date-Added-Last: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
            % (last.encode(), len(data))) + data


def cairn(home: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--home", str(home), *args])


def said(res: Result) -> str:
    return " ".join(res.output.split())  # as one line, however the console wrapped it


def test_timeout_is_a_deadline_for_the_whole_request(tmp_path: Path) -> None:
    peer = Peer(trickle=10)  # 10 bytes, one every 2 s: each read is quick, the whole is not
    try:
        home = tmp_path / "home"
        assert cairn(home, "exchange", "add-peer", "slow", "--url", peer.url).exit_code == 0
        res = cairn(home, "exchange", "pull", "slow", "--collection", "c", "--timeout", "3")
        assert res.exit_code == 2
        assert "no complete answer within 3 s" in said(res), res.output
        assert peer.trickled < 10  # we hung up on it, not it on us
        assert not res.exception or isinstance(res.exception, SystemExit)
        res = cairn(home, "exchange", "pull", "slow", "--collection", "c", "--deadline", "3")
        assert res.exit_code == 2 and "the whole exchange took over 3 s" in said(res)
        assert Store.open(home).lists.all() == []
    finally:
        peer.close()


def test_pages_and_bytes_per_pull_are_capped(tmp_path: Path) -> None:
    pages: list[str] = []
    endless = False

    def answer(line: str) -> bytes:
        pages.append(line)
        if not endless:
            return taxii({"more": False, "objects": [indicator(md5("first"))]},
                         last="2026-01-02T00:00:00.000000Z")
        padding = "x" * 200_000  # 200 kB a page, a new `next` each time, for ever
        return taxii({"more": True, "next": f"page-{len(pages)}", "objects": [
            indicator(md5(f"endless-{len(pages)}"), description=padding)]},
            last=f"2026-02-01T00:00:{len(pages) % 60:02d}.000000Z")

    peer = Peer(answer)
    try:
        home = tmp_path / "home"
        cairn(home, "exchange", "add-peer", "p", "--url", peer.url)
        res = cairn(home, "exchange", "pull", "p", "--collection", "c", "--json")
        assert res.exit_code == 0, res.output
        store = Store.open(home)
        peer_id = ex.peer(store, "p")["id"]
        checkpoint = ex.checkpoint(store, peer_id, "c")
        lists = store.lists.all()
        endless = True
        res = cairn(home, "exchange", "pull", "p", "--collection", "c", "--max-pages", "5")
        assert res.exit_code == 2 and "still paginating after 5 pages" in said(res)
        pages.clear()
        res = cairn(home, "exchange", "pull", "p", "--collection", "c", "--max-mib", "1")
        assert res.exit_code == 2 and "over 1048576 bytes read" in said(res), res.output
        assert len(pages) <= 6  # 1 MiB is five pages and a bit: it stopped at the cap
        assert ex.checkpoint(store, peer_id, "c") == checkpoint
        assert store.lists.all() == lists  # nothing of the failed pulls stored
    finally:
        peer.close()


def test_a_malformed_pulled_object_is_rejected_and_the_rest_imports(tmp_path: Path) -> None:
    good = [md5("good-1"), md5("good-2")]
    objects = [indicator(good[0]), indicator(md5("bad-labels"), labels=5), "not an object",
               {"type": "file", "id": f"file--{uuid.uuid4()}", "hashes": [md5("f")]},
               indicator(md5("bad-marking"), [{"tlp": "red"}]), indicator(good[1], [RED])]
    peer = Peer(lambda line: taxii({"more": False, "objects": objects}))
    try:
        home = tmp_path / "home"
        cairn(home, "exchange", "add-peer", "p", "--url", peer.url)
        res = cairn(home, "exchange", "pull", "p", "--collection", "c", "--json")
        assert res.exit_code == 0 and res.exception is None, res.output
        out = json.loads(res.output)
        assert out["added"] == 2 and out["rejected_count"] == 4
        assert [r["position"] for r in out["rejected"]] == [2, 3, 4, 5]
        reasons = [r["reason"] for r in out["rejected"]]
        assert "`labels`" in reasons[0] and "not a JSON object" in reasons[1]
        assert "`hashes`" in reasons[2] and "`object_marking_refs[0]`" in reasons[3]
        store = Store.open(home)
        (lst,) = store.lists.all()
        entries = {e["value"]: e for e in store.lists.export(lst["name"])}
        assert set(entries) == set(good)
        assert entries[good[1]]["attrs"]["tlp"] == "red"  # kept with the marking it came with
    finally:
        peer.close()


def test_json_depth_prescan_agrees_with_the_parser() -> None:
    from cairn.exchange import inbound

    for doc, depth in (([], 1), ({"a": "[[[{{"}, 1), ([["\\\"]"], {"b": [1]}], 3),
                       ("no brackets", 0), ({"k\\": ["]\\\\"]}, 2)):
        assert inbound.json_depth(json.dumps(doc).encode()) == depth, doc
    assert inbound.json_depth(b'"unterminated [[[') == 0
    with pytest.raises(ValueError, match="nested 40 deep"):
        inbound.parse_json(b"[" * 40 + b"]" * 40)


def test_no_object_a_writer_can_send_is_a_500(world: World) -> None:
    """Property: whatever JSON stands in for an object's properties, a POST is a 202 or a
    4xx, objects fail alone, and only objects reported as successes change the store."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    w = world
    client = TestClient(create_app(w.store), raise_server_exceptions=False)
    scalar = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                       st.text(max_size=20), st.sampled_from([RED, AMBER, md5("known-0")]))
    value = st.recursive(scalar, lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
        max_leaves=8)
    fields = st.sampled_from(["type", "id", "labels", "pattern", "hashes", "object_refs",
                              "object_marking_refs", "granular_markings", "extensions",
                              "modified", "opinion", "created_by_ref"])
    base = st.sampled_from([indicator(md5("prop")), opinion(md5("known-1")),
                            {"type": "file", "id": f"file--{uuid.uuid4()}",
                             "hashes": {"MD5": md5("prop-file")}}])

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(st.tuples(base, st.dictionaries(fields, value, max_size=3)), max_size=4))
    def check(cases: list[tuple[dict, dict]]) -> None:
        objects = [b | changes for b, changes in cases]
        before = w.snapshot()
        r = post(client, w, objects)
        assert r.status_code in (202, 422), (objects, r.status_code, r.text[:300])
        status = r.json() if r.status_code == 202 else r.json()["details"]["status"]
        assert status["success_count"] + status["failure_count"] == len(objects)
        assert all(f["message"] for f in status["failures"])
        if not status["success_count"]:
            assert w.snapshot() == before

    check()
