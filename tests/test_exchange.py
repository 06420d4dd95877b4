"""TAXII 2.1 exchange with real peers on loopback: the reference client `taxii2-client`
reads our server; two cairn instances share a list, the receiver scans, marks a false
positive and the sender sees the opinion; we pull incrementally from OASIS's reference server
`medallion`; a peer serving garbage changes nothing."""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cairn.demo import jpeg_bytes, picture
from conftest import CAIRN, Cairn
from inprocess import scan_report


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(url: str, proc: subprocess.Popen, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read() if proc.stderr else ''}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


class Instance:
    """One cairn store with its TAXII server running on loopback."""

    def __init__(self, home: Path) -> None:
        self.cli = Cairn(home)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        env = os.environ | {"CAIRN_HOME": str(self.cli.home)}
        self.proc = subprocess.Popen([CAIRN, "serve", "--port", str(self.port)], env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_up(self.url + "/taxii2/", self.proc)

    def stop(self) -> None:
        if self.proc:
            self.proc.terminate()
            self.proc.wait(10)


@pytest.fixture
def instances(tmp_path: Path) -> Iterator[tuple[Instance, Instance]]:
    a, b = Instance(tmp_path / "agency-a"), Instance(tmp_path / "agency-b")
    yield a, b
    a.stop()
    b.stop()


def _known_list(tmp_path: Path, n: int = 5) -> tuple[Path, list[bytes]]:
    """A benign 'known' list: MD5s of n demo pictures (as files would be on an exhibit)."""
    files = [jpeg_bytes(picture(800 + i, (200, 150))) for i in range(n)]
    lst = tmp_path / "known.md5"
    lst.write_text("".join(f"{hashlib.md5(f).hexdigest()}  k{i}.jpg\n"
                           for i, f in enumerate(files)))
    return lst, files


def test_taxii2_client_reads_our_server(instances, tmp_path: Path) -> None:  # noqa: ANN001
    from taxii2client.v21 import Server, as_pages

    a, _ = instances
    lst, _ = _known_list(tmp_path, 5)
    a.cli.run("lists", "import", lst, "--name", "known", "--tlp", "green")
    secret_list = tmp_path / "secret.md5"
    secret_list.write_text(f"{hashlib.md5(b'red').hexdigest()}  r.jpg\n")
    a.cli.run("lists", "import", secret_list, "--name", "red-list", "--tlp", "red")
    token = a.cli.json("exchange", "add-partner", "agency-b", "--read", "known")["token"]
    other = a.cli.json("exchange", "add-partner", "agency-c", "--read", "red-list")["token"]
    a.start()

    server = Server(f"{a.url}/taxii2/", user="agency-b", password=token)
    (root,) = server.api_roots
    assert root.versions == ["application/taxii+json;version=2.1"]
    (col,) = root.collections  # the RED list is not listed for a partner not named on it
    assert col.title == "known" and col.can_read and not col.can_write
    objs = col.get_objects()["objects"]
    indicators = [o for o in objs if o["type"] == "indicator"]
    assert len(indicators) == 5
    green = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"
    assert all(o["object_marking_refs"] == [green] for o in indicators)
    pages = list(as_pages(col.get_objects, per_request=2))
    assert all(len(p["objects"]) <= 2 for p in pages)  # `limit` counts objects
    assert len(pages) == 5 and sum(len(p["objects"]) for p in pages) == 10
    import stix2

    for o in objs:  # everything we serve is valid STIX 2.1
        stix2.parse(o, allow_custom=True)
    manifest = col.get_manifest()["objects"]
    assert {m["id"] for m in manifest} >= {o["id"] for o in indicators}
    one = col.get_object(indicators[0]["id"])["objects"]
    assert [o["id"] for o in one] == [indicators[0]["id"]]
    # nothing without a token, nothing of a collection one may not read
    assert httpx.get(f"{a.url}/taxii2/").status_code == 401
    assert httpx.get(f"{a.url}/api/collections/", auth=("x", "wrong")).status_code == 401
    r = httpx.get(f"{a.url}/api/collections/{col.id}/objects/", auth=("c", other))
    assert r.status_code == 403 and "objects" not in r.json()
    r = httpx.post(f"{a.url}/api/collections/{col.id}/objects/", auth=("b", token),
                   json={"objects": []})
    assert r.status_code == 403  # read-only for agency-b


def test_two_instances_share_scan_and_feed_back(instances, tmp_path: Path) -> None:  # noqa: ANN001
    a, b = instances
    lst, files = _known_list(tmp_path, 4)
    a.cli.run("lists", "import", lst, "--name", "known", "--tlp", "amber")
    token = a.cli.json("exchange", "add-partner", "agency-b", "--write", "known")["token"]
    a.start()
    b.cli.run("exchange", "add-peer", "agency-a", "--url", f"{a.url}/api/", "--user",
              "agency-b", "--token", token)
    cols = json.loads(b.cli.run("exchange", "collections", "agency-a").stdout)
    (cid,) = [c["id"] for c in cols if c["title"] == "known"]
    res = b.cli.json("exchange", "pull", "agency-a", "--collection", cid, "--list", "from-a")
    assert res["added"] == 4
    assert b.cli.json("exchange", "pull", "agency-a", "--collection", cid)["added"] == 0

    # A adds an entry; B's next pull brings exactly that one (incremental, no duplicates)
    more = jpeg_bytes(picture(899, (200, 150)))
    extra = tmp_path / "extra.md5"
    extra.write_text(f"{hashlib.md5(more).hexdigest()}  extra.jpg\n")
    a.cli.run("lists", "import", extra, "--name", "known", "--append")
    res = b.cli.json("exchange", "pull", "agency-a", "--collection", cid)
    assert res["added"] == 1
    (lst_b,) = [x for x in b.cli.json("lists") if x["name"] == "from-a"]
    assert lst_b["entries"] == 5

    # B scans an exhibit holding one of the pictures, finds it, judges it a false positive
    ev = tmp_path / "exhibit"
    ev.mkdir()
    (ev / "holiday.jpg").write_bytes(files[2])
    rep = scan_report(b.cli.home, ev, "op")
    (match,) = rep["items"][0]["matches"]
    assert match["list"] == "from-a"
    origin = match["entry"]["origin"]  # every entry remembers where it came from
    assert (origin["peer"], origin["collection"]) == ("agency-a", cid)
    assert origin["fetched_at"] and origin["version"] and origin["stix_id"]
    b.cli.run("feedback", "holiday.jpg", "--case", "op", "--false-positive", "--note",
              "benign holiday picture")
    b.cli.run("match", ev / "holiday.jpg", ok=(1,))  # stopped matching at B
    sent = b.cli.json("exchange", "send-feedback", "agency-a")
    assert sent["opinions_sent"] == 1
    assert b.cli.json("exchange", "send-feedback", "agency-a")["opinions_sent"] == 0

    # A sees B's opinion on its entry, which (threshold 1) stops matching at A too
    (op,) = json.loads(a.cli.run("exchange", "opinions", "--list", "known").stdout)
    assert (op["author"], op["opinion"], op["value"]) == (
        "agency-b", "false_positive", hashlib.md5(files[2]).hexdigest())
    assert op["explanation"] == "benign holiday picture"
    a.cli.run("match", ev / "holiday.jpg", ok=(1,))

    # B pushes a list of its own into A's writable collection
    own = tmp_path / "b-own.md5"
    own.write_text(f"{hashlib.md5(b'b-own').hexdigest()}  own.jpg\n")
    b.cli.run("lists", "import", own, "--name", "b-own")
    res = b.cli.json("exchange", "push", "agency-a", "--list", "b-own", "--collection", cid)
    assert res["accepted"] == res["objects_sent"] == 2  # an Indicator and a File
    (known_a,) = [x for x in a.cli.json("lists") if x["name"] == "known"]
    assert known_a["entries"] == 6

    # that POST's status resource outlives a restart of A, and only B may read it
    (sid,) = res["statuses"]
    a.stop()
    other = a.cli.json("exchange", "add-partner", "agency-c", "--read", "known")["token"]
    a.start()
    r = httpx.get(f"{a.url}/api/status/{sid}/", auth=("agency-b", token))
    assert r.status_code == 200
    assert (r.json()["id"], r.json()["status"], r.json()["success_count"]) == (sid, "complete", 2)
    assert httpx.get(f"{a.url}/api/status/{sid}/", auth=("agency-c", other)).status_code == 404


def _medallion(tmp_path: Path) -> tuple[subprocess.Popen, str, str]:
    cid = "91a7b528-80eb-42ed-a74d-c6fbd5a26116"
    data = {"/discovery": {"title": "medallion", "default": "http://127.0.0.1/api1/",
                           "api_roots": ["http://127.0.0.1/api1/"]},
            "api1": {"information": {"title": "api1", "versions":
                                     ["application/taxii+json;version=2.1"],
                                     "max_content_length": 9765625},
                     "status": [],
                     "collections": [{"id": cid, "title": "partner hashes", "can_read": True,
                                      "can_write": True,
                                      "media_types": ["application/stix+json;version=2.1"],
                                      "objects": [], "manifest": []}]}}
    (tmp_path / "data.json").write_text(json.dumps(data))
    config = {"backend": {"module": "medallion.backends.memory_backend",
                          "module_class": "MemoryBackend",
                          "filename": str(tmp_path / "data.json")},
              "users": {"cairn": "benign-test-password"},
              "taxii": {"max_page_size": 100}}
    (tmp_path / "medallion.json").write_text(json.dumps(config))
    port = free_port()
    proc = subprocess.Popen([str(Path(sys.executable).parent / "medallion"), "--port",
                             str(port), str(tmp_path / "medallion.json")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    wait_up(url + "/taxii2/", proc)
    return proc, url, cid


def test_pull_from_medallion_incrementally(cairn: Cairn, tmp_path: Path) -> None:
    import stix2
    from taxii2client.v21 import Collection

    proc, url, cid = _medallion(tmp_path)
    try:
        col = Collection(f"{url}/api1/collections/{cid}/", user="cairn",
                         password="benign-test-password")
        md5s = [hashlib.md5(bytes([i])).hexdigest() for i in range(3)]
        first = [stix2.Indicator(pattern=f"[file:hashes.MD5 = '{h}']", pattern_type="stix")
                 for h in md5s]
        col.add_objects(stix2.Bundle(*first).serialize())
        cairn.run("exchange", "add-peer", "medallion", "--url", f"{url}/api1/", "--user",
                  "cairn", "--token", "benign-test-password")
        res = cairn.json("exchange", "pull", "medallion", "--collection", cid)
        assert res["added"] == 3 and res["checkpoint"]
        time.sleep(0.05)
        second = stix2.Indicator(pattern=f"[file:hashes.'SHA-256' = "
                                 f"'{hashlib.sha256(b'x').hexdigest()}']", pattern_type="stix")
        col.add_objects(stix2.Bundle(second).serialize())
        res = cairn.json("exchange", "pull", "medallion", "--collection", cid)
        assert res["added"] == 1
        (lst,) = cairn.json("lists")
        assert lst["name"] == f"medallion/{cid}" and lst["entries"] == 4
    finally:
        proc.terminate()
        proc.wait(10)


class _Garbage(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        body = b"<html>not TAXII</html>" if "garbage" in self.path else json.dumps(
            {"more": True, "next": "same", "objects": []}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/taxii+json;version=2.1")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:  # noqa: ANN002
        pass


def test_bad_peers_change_nothing(cairn: Cairn) -> None:
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Garbage)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{srv.server_address[1]}/api/"
        cairn.run("exchange", "add-peer", "bad", "--url", url, "--token", "t")
        err = cairn.run("exchange", "pull", "bad", "--collection", "garbage", ok=(2,)).stderr
        assert "not JSON" in err
        err = cairn.run("exchange", "pull", "bad", "--collection", "loop", ok=(2,)).stderr
        assert "without a new `next`" in err
        assert cairn.json("lists") == []
        dead = free_port()
        cairn.run("exchange", "add-peer", "down", "--url", f"http://127.0.0.1:{dead}/api/")
        err = cairn.run("exchange", "pull", "down", "--collection", "x", "--timeout", "2",
                        ok=(2,)).stderr
        assert "ConnectError" in err
    finally:
        srv.shutdown()


def test_oversized_post_is_refused(instances, tmp_path: Path) -> None:  # noqa: ANN001
    a, _ = instances
    lst, _ = _known_list(tmp_path, 1)
    a.cli.run("lists", "import", lst, "--name", "known")
    token = a.cli.json("exchange", "add-partner", "p", "--write", "known")["token"]
    a.start()
    (col,) = httpx.get(f"{a.url}/api/collections/", auth=("p", token)).json()["collections"]
    r = httpx.post(f"{a.url}/api/collections/{col['id']}/objects/", auth=("p", token),
                   content=b"{" + b" " * 11_000_000 + b"}", timeout=30)
    assert r.status_code == 413
    assert [x["entries"] for x in a.cli.json("lists")] == [1]
