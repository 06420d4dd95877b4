"""The review queue's order, cursor and filters (web/queue.py, store/reviewqueue.py), list
trust (store/listtrust.py, `cairn lists import/edit --trust`), and the exposure controls over
HTTP (store/exposure.py, web/routes.py): per-session blur, off only when confirmed (409
without) and logged, reveals only by POST with the CSRF header, video key-frame strips.

The queue's case is written into a real store (SQLite and PostgreSQL) row by row, so each
item's place is known: matched items by list trust then distance, then a synthetic item, then
the two copies of one picture on the exhibits of two suspects, then the rest. The HTTP tests
run against a real `cairn serve` over benign noise pictures and a noise video the test makes.
"""

from __future__ import annotations

import io
import json
import random
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from PIL import Image
from sqlalchemy import insert, select

from cairn.service import families as svc_families
from cairn.store import Store, reviews
from cairn.store import reviewqueue as rq
from cairn.store import schema as t
from cairn.store.listtrust import set_trust
from cairn.web import queue, thumbs
from inprocess import database, run
from web_fixtures import CASE, World, make_world

NOW = "2026-01-01T00:00:00+00:00"
SHARED_PDQ = "f" * 16 + "0" * 16 + "a" * 16 + "5" * 16


class QueueCase:
    """A case whose items' queue places are known: `ids[name]`, and the order expected."""

    def __init__(self, store: Store) -> None:
        self.store = store
        with store.engine.begin() as c:
            self.case_id = c.execute(insert(t.cases).values(name="op-queue", created_at=NOW)
                                     ).inserted_primary_key[0]
            src = {n: c.execute(insert(t.sources).values(
                case_id=self.case_id, name=n, location=f"/nonexistent/{n}", added_at=NOW)
            ).inserted_primary_key[0] for n in ("ex-a", "ex-b", "ex-c")}
            run_id = c.execute(insert(t.scan_runs).values(
                case_id=self.case_id, source_id=src["ex-a"], tool_version="test",
                examiner="examiner-01", host="test", started_at=NOW, status="complete",
                arguments="{}")).inserted_primary_key[0]
            sus = {k: c.execute(insert(t.suspects).values(
                case_id=self.case_id, key=k, aliases="[]", created_at=NOW)
            ).inserted_primary_key[0] for k in ("S-01", "S-02")}
            for dev, suspect, source in (("D-01", "S-01", "ex-a"), ("D-02", "S-02", "ex-b")):
                did = c.execute(insert(t.devices).values(
                    case_id=self.case_id, key=dev, kind="phone", suspect_id=sus[suspect],
                    created_at=NOW)).inserted_primary_key[0]
                c.execute(insert(t.device_sources).values(source_id=src[source],
                                                          device_id=did, linked_at=NOW))
            self.ids: dict[str, int] = {}
            layout = [("low", "ex-a", None), ("far", "ex-a", None), ("near", "ex-b", None),
                      ("both", "ex-c", None), ("synth", "ex-a", None),
                      ("shared-a", "ex-a", "shared"), ("shared-b", "ex-b", "shared"),
                      ("rest", "ex-c", None), ("good", "ex-a", None),
                      ("local-1", "ex-c", "local"), ("local-2", "ex-c", "local")]
            for n, (name, source, content) in enumerate(layout):
                sha = (content or name).encode().hex().ljust(64, "0")[:64]
                self.ids[name] = c.execute(insert(t.items).values(
                    source_id=src[source], scan_run_id=run_id, path=f"{name}.jpg",
                    raw_path=f"{name}.jpg".encode(), location_key=n.to_bytes(32, "big"),
                    kind="image", media_type="image/jpeg", size=100 + n, sha256=sha,
                    md5=f"{n:032x}")).inserted_primary_key[0]
                if content:
                    c.execute(store.insert_ignore(t.signals).values(
                        sha256=sha, signal_type="pdq", mode="exact", quality=100,
                        value=SHARED_PDQ if content == "shared" else "3c" * 32))
            c.execute(insert(t.findings).values(
                sha256=b"synth".hex().ljust(64, "0"), kind="generator",
                strength="declared", source="png:parameters",
                data=json.dumps({"kind": "generator", "generator": "automatic1111",
                                 "strength": "declared", "source": "png:parameters"},
                                sort_keys=True)))
            lists = {}
            for name, purpose in (("vetted", "detect"), ("leads", "detect"),
                                  ("good", "known-good")):
                lists[name] = c.execute(insert(t.lists).values(
                    name=name, source_file="-", format="plain", imported_at=NOW,
                    entry_count=1, rejected_count=0, pdq_threshold=31, purpose=purpose)
                ).inserted_primary_key[0]
            for item, lst, distance in (("low", "leads", 0), ("far", "vetted", 20),
                                        ("near", "vetted", 3), ("both", "leads", 0),
                                        ("both", "vetted", 10), ("good", "good", 0)):
                entry = c.execute(insert(t.list_entries).values(
                    list_id=lists[lst], signal_type="pdq", value=f"{item}-{lst}",
                    labels="[]", line_no=1)).inserted_primary_key[0]
                c.execute(insert(t.matches).values(
                    item_id=self.ids[item], entry_id=entry, list_id=lists[lst],
                    signal_type="pdq", distance=distance, transform="none"))
        set_trust(store, "vetted", 90)
        set_trust(store, "leads", 20)

    def walk(self, limit: int = 2, **q: Any) -> tuple[list[str], list[str]]:
        """(item names in queue order, the cursors given) over every page."""
        names = {v: k for k, v in self.ids.items()}
        seen: list[str] = []
        cursors: list[str] = []
        cursor = None
        while True:
            pg = queue.page(self.store, self.case_id,
                            queue.QueueQuery(cursor=cursor, limit=limit, **q))
            seen += [names[r["id"]] for r in pg.items]
            if pg.next_cursor is None:
                return seen, cursors
            cursors.append(pg.next_cursor)
            cursor = pg.next_cursor


ORDER = ["near", "both", "far", "low", "synth", "shared-a", "shared-b", "rest", "good",
         "local-1", "local-2"]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def qcase(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[QueueCase]:
    for url in database(request.param):
        home = tmp_path_factory.mktemp("queue")
        store = Store(url, home) if url else Store.open(home)
        try:
            yield QueueCase(store)
        finally:
            store.close()


def test_matched_by_trust_then_distance_then_the_tiers(qcase: QueueCase) -> None:
    for limit in (1, 2, 3, 48):  # the same order whatever the page size
        assert qcase.walk(limit)[0] == ORDER
    first = queue.page(qcase.store, qcase.case_id, queue.QueueQuery(limit=48)).items
    tiers = {r["id"]: (r["tier"], r.get("trust"), r.get("distance")) for r in first}
    assert tiers[qcase.ids["both"]] == (0, 90, 10)  # its best match: the trusted list's
    assert tiers[qcase.ids["low"]] == (0, 20, 0)
    assert tiers[qcase.ids["synth"]][0] == 1 and tiers[qcase.ids["shared-b"]][0] == 2
    assert tiers[qcase.ids["good"]][0] == 3  # a known-good match is no hit


def test_cursors_name_trust_distance_and_id(qcase: QueueCase) -> None:
    _, cursors = qcase.walk(1)
    assert cursors[0] == f"0.10.3.{qcase.ids['near']}"
    assert cursors[3] == f"0.80.0.{qcase.ids['low']}"
    assert cursors[4] == f"1.{qcase.ids['synth']}"
    assert cursors[5] == f"2.{qcase.ids['shared-a']}"
    for bad in ("9.1", "0.101.0.1", "0.1.2", "x", "1.-1"):
        with pytest.raises(ValueError):
            queue.page(qcase.store, qcase.case_id, queue.QueueQuery(cursor=bad))


def test_filters(qcase: QueueCase) -> None:
    assert qcase.walk(source="ex-b")[0] == ["near", "shared-b"]
    assert qcase.walk(device="D-01")[0] == ["far", "low", "synth", "shared-a", "good"]
    assert qcase.walk(suspect="S-02")[0] == ["near", "shared-b"]
    assert qcase.walk(list="leads")[0] == ["low", "both"]  # its hits only: a tie, by id
    assert qcase.walk(finding="generator")[0] == ["synth"]
    assert qcase.walk(matched=True)[0] == ORDER[:4]
    assert qcase.walk(matched=False)[0] == ORDER[4:]
    assert qcase.walk(matched=False, source="ex-c")[0] == ["rest", "local-1", "local-2"]
    fams = {qcase.walk(family=f)[0][0]: f for f in (1, 2)}
    assert qcase.walk(family=fams["shared-a"])[0] == ["shared-a", "shared-b"]
    assert qcase.walk(family=fams["local-1"])[0] == ["local-1", "local-2"]
    assert qcase.walk(family=99)[0] == []


def test_review_state_filter_and_a_trust_change_reorders(qcase: QueueCase) -> None:
    done = reviews.record(qcase.store, qcase.case_id, [qcase.ids["near"]], "rev-01",
                          "vic-us", "1")
    try:
        assert qcase.walk(state="reviewed")[0] == ["near"]
        assert qcase.walk(state="unreviewed")[0] == ORDER[1:]
        set_trust(qcase.store, "leads", 95, by="examiner-01")
        assert qcase.walk()[0][:4] == ["low", "both", "near", "far"]  # (5, 0): by id
        with qcase.store.engine.connect() as c:
            entry = c.execute(select(t.custody).where(t.custody.c.action == "list.trust")
                              .order_by(t.custody.c.id.desc())).mappings().first()
        assert entry is not None and entry["subject"] == "list:leads"
        assert json.loads(entry["details"]) == {"list": "leads", "old": 20, "new": 95,
                                                "by": "examiner-01"}
    finally:
        set_trust(qcase.store, "leads", 20)
        reviews.undo(qcase.store, qcase.case_id, done[0].item_id, "rev-01")


def _random_matches(store: Store, seed: int) -> tuple[int, list[int]]:
    """A case of 40 items on one exhibit matched at random: lists of equal and different
    trust, a known-good list, several matches per item, some no longer active. Returns
    (case id, the item ids in the order the queue must give: each item's best counting
    match, by (100 - trust, distance, id))."""
    rng = random.Random(seed)
    with store.engine.begin() as c:
        case_id = c.execute(insert(t.cases).values(name=f"op-random-{seed}", created_at=NOW)
                            ).inserted_primary_key[0]
        src = c.execute(insert(t.sources).values(case_id=case_id, name="ex-r",
                                                 location=f"/nonexistent/r{seed}",
                                                 added_at=NOW)).inserted_primary_key[0]
        run_id = c.execute(insert(t.scan_runs).values(
            case_id=case_id, source_id=src, tool_version="test", examiner="examiner-01",
            host="test", started_at=NOW, status="complete", arguments="{}")
        ).inserted_primary_key[0]
        ids = [c.execute(insert(t.items).values(
            source_id=src, scan_run_id=run_id, path=f"r{n}.jpg", raw_path=f"r{n}.jpg".encode(),
            location_key=(1000 + n).to_bytes(32, "big"), kind="image", size=n,
            sha256=f"{seed:08x}{n:056x}")).inserted_primary_key[0] for n in range(40)]
        lists = []
        for k, (trust, purpose) in enumerate(((90, "detect"), (90, "detect"), (40, "detect"),
                                              (95, "known-good"))):
            lid = c.execute(insert(t.lists).values(
                name=f"r{seed}-{k}", source_file="-", format="plain", imported_at=NOW,
                entry_count=1, rejected_count=0, pdq_threshold=31, purpose=purpose,
                trust=trust)).inserted_primary_key[0]
            lists.append((lid, trust, purpose))
        best: dict[int, tuple[int, int]] = {}
        for n, item in enumerate(ids):
            for e in range(rng.choice((0, 1, 1, 2, 3))):
                lid, trust, purpose = rng.choice(lists)
                distance, status = rng.randrange(4), rng.choice(("active",) * 3 + ("withdrawn",))
                entry = c.execute(insert(t.list_entries).values(
                    list_id=lid, signal_type="pdq", value=f"{n}-{e}", labels="[]", line_no=1)
                ).inserted_primary_key[0]
                c.execute(insert(t.matches).values(
                    item_id=item, entry_id=entry, list_id=lid, signal_type="pdq",
                    distance=distance, transform="none", status=status))
                if status == "active" and purpose == "detect":
                    best[item] = min(best.get(item, (999, 999)), (100 - trust, distance))
    return case_id, sorted(best, key=lambda i: (*best[i], i))


def test_matched_order_is_each_items_best_match_on_every_page_size(qcase: QueueCase) -> None:
    for seed in (1, 2, 3):
        case_id, expected = _random_matches(qcase.store, seed)
        assert len(expected) > 10
        for limit in (1, 2, 5, 48):
            seen, cursor = [], None
            while True:
                pg = queue.page(qcase.store, case_id,
                                queue.QueueQuery(cursor=cursor, limit=limit, matched=True))
                seen += [r["id"] for r in pg.items]
                if pg.next_cursor is None:
                    break
                cursor = pg.next_cursor
            assert seen == expected, (seed, limit)


def test_families_spanning_suspects_are_kept_in_the_store(qcase: QueueCase) -> None:
    """Computed once per state of the case and kept (store/reviewqueue.py): a process that
    has not computed them (the in-process memory emptied) reads them back; a new item of
    the case changes its state and they are computed again."""
    store, case_id = qcase.store, qcase.case_id
    expected = sorted([qcase.ids["shared-a"], qcase.ids["shared-b"]])
    assert queue.shared_between_suspects(store, case_id).ids == expected
    state, ids = rq.load_shared(store, case_id) or ("", [])
    assert ids == expected and json.loads(state)[0] == list(rq.case_state(store, case_id))
    rq.save_shared(store, case_id, state, [qcase.ids["rest"]])  # what a process would read
    queue._shared.clear()
    assert queue.shared_between_suspects(store, case_id).ids == [qcase.ids["rest"]]
    rq.save_shared(store, case_id, "an older state", [qcase.ids["rest"]])
    queue._shared.clear()
    assert queue.shared_between_suspects(store, case_id).ids == expected  # computed again
    assert (rq.load_shared(store, case_id) or ("", []))[1] == expected


def test_a_large_case_pages_on_while_its_families_are_computed(
        qcase: QueueCase, monkeypatch: pytest.MonkeyPatch) -> None:
    """Over SYNC_ITEMS items the families are computed on a thread: a page that reaches
    the tiers needing them stops there, says why and gives a cursor that resumes there;
    once computed, the same cursor goes on."""
    store, case_id = qcase.store, qcase.case_id
    with store.engine.begin() as c:
        c.execute(t.queue_shared.delete().where(t.queue_shared.c.case_id == case_id))
    queue._shared.clear()
    monkeypatch.setattr(queue, "SYNC_ITEMS", 0)
    gate = threading.Event()
    real = queue._compute

    def held(*a: Any) -> list[int]:  # the thread waits until the page has been read
        gate.wait(30)
        return real(*a)

    monkeypatch.setattr(queue, "_compute", held)
    pg = queue.page(store, case_id, queue.QueueQuery(limit=48))
    names = {v: k for k, v in qcase.ids.items()}
    assert [names[r["id"]] for r in pg.items] == ORDER[:5]  # matched, then synthetic
    assert pg.pending and "being computed" in pg.pending
    assert pg.next_cursor == "2.0"
    gate.set()
    for _ in range(300):
        if not queue._running:
            break
        threading.Event().wait(0.05)
    rest = queue.page(store, case_id, queue.QueueQuery(cursor=pg.next_cursor, limit=48))
    assert [names[r["id"]] for r in rest.items] == ORDER[5:] and rest.pending is None


def test_a_large_cases_family_filter_waits_for_its_families_without_blocking(
        qcase: QueueCase, monkeypatch: pytest.MonkeyPatch) -> None:
    """Over SYNC_ITEMS items, the family filter's first page does not wait for the case's
    families: it says they are being computed (a thread computes them), and lists the
    family once they are."""
    store, case_id = qcase.store, qcase.case_id
    monkeypatch.setattr(queue, "SYNC_ITEMS", 0)
    svc_families._cache.clear()
    with store.engine.begin() as c:  # neither in this process nor in the store
        c.execute(t.case_families.delete().where(t.case_families.c.case_id == case_id))
    pg = queue.page(store, case_id, queue.QueueQuery(family=1))
    assert pg.items == [] and pg.next_cursor is None
    assert pg.pending and "families are being computed" in pg.pending
    for _ in range(600):
        if svc_families._cache:
            break
        threading.Event().wait(0.05)
    queue.shared_between_suspects(store, case_id)  # (tier 2 of the family's page: computed)
    names = {v: k for k, v in qcase.ids.items()}
    got = {tuple(names[r["id"]] for r in queue.page(
        store, case_id, queue.QueueQuery(family=f)).items) for f in (1, 2)}
    assert got == {("shared-a", "shared-b"), ("local-1", "local-2")}


def test_lists_import_and_edit_trust_from_the_cli(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (tmp_path / "md5.txt").write_text("0" * 32 + "\n")
    run(home, "lists", "import", tmp_path / "md5.txt", "--name", "graded", "--format",
        "plain", "--type", "md5", "--trust", "80")
    run(home, "lists", "import", tmp_path / "md5.txt", "--name", "plain", "--format",
        "plain", "--type", "md5")
    listed = {x["name"]: x["trust"] for x in json.loads(run(home, "lists", "--json"))}
    assert listed == {"graded": 80, "plain": 50}
    out = json.loads(run(home, "lists", "edit", "plain", "--trust", "5", "--json"))
    assert out == {"list": "plain", "trust": 5, "was": 50}
    run(home, "lists", "edit", "plain", "--trust", "101", ok=(2,))
    assert "no list named" in run(home, "lists", "edit", "no-such", "--trust", "5", ok=(2,))
    store = Store.open(home)
    try:
        logged = [json.loads(e["details"]) if isinstance(e["details"], str) else e["details"]
                  for e in store.custody_entries(chain="store") if e["action"] == "list.trust"]
    finally:
        store.close()
    assert [(d["list"], d["old"], d["new"]) for d in logged] == [("graded", 50, 80),
                                                                  ("plain", 50, 5)]


# -- video key frames ---------------------------------------------------------------------
def noise_video(path: Path, seconds: int = 8, fps: int = 4) -> Path:
    """A benign video of coloured noise, one new picture a frame (MPEG-4 part 2)."""
    with av.open(str(path), "w", format="matroska") as out:
        s = out.add_stream("mpeg4", rate=fps)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        for i in range(seconds * fps):
            px = (np.random.default_rng(4200 + i).random((48, 64, 3)) * 255).astype("uint8")
            out.mux(s.encode(av.VideoFrame.from_ndarray(px, format="rgb24")))
        out.mux(s.encode())
    return path


def test_a_video_strip_is_key_frames_over_its_length_blurred_and_cached(tmp_path: Path
                                                                        ) -> None:
    import hashlib

    clip = noise_video(tmp_path / "clip.mkv")
    data = clip.read_bytes()
    item = thumbs.ItemFile(str(tmp_path), b"clip.mkv", hashlib.sha256(data).hexdigest(),
                           "video", len(data))
    home = tmp_path / "home"
    assert thumbs.frame_count(home, item) == thumbs.STRIP
    frames = [png_rgb(thumbs.frame(home, item, k)) for k in range(thumbs.STRIP)]
    clear = [png_rgb(thumbs.frame(home, item, k, "clear")) for k in range(thumbs.STRIP)]
    assert thumbs.frame(home, item, thumbs.STRIP) is None
    assert all(laplacian(b) < laplacian(c) / 5 for b, c in zip(frames, clear, strict=True))
    assert len({c.tobytes() for c in clear}) == thumbs.STRIP  # different moments
    cached = sorted(p.name for p in (home / "thumbs" / item.sha256[:2]).iterdir())
    assert len([n for n in cached if ".f" in n and n.endswith(".blur.png")]) == thumbs.STRIP
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mkv", "home"]  # untouched
    photo = thumbs.ItemFile(str(tmp_path), b"clip.mkv", item.sha256, "image", len(data))
    assert thumbs.frame(home, photo, 0) is None  # a picture has no strip


# -- exposure over HTTP ---------------------------------------------------------------------
def png_rgb(body: bytes | None) -> np.ndarray:
    assert body is not None
    return np.asarray(Image.open(io.BytesIO(body)).convert("RGB"), dtype=np.float64)


def laplacian(rgb: np.ndarray) -> float:
    g = rgb.mean(axis=2)
    return float(np.mean(np.abs(-4 * g[1:-1, 1:-1] + g[:-2, 1:-1] + g[2:, 1:-1]
                                + g[1:-1, :-2] + g[1:-1, 2:])))


@pytest.fixture(scope="module", params=["sqlite"])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[World]:
    for w in make_world(request, tmp_path_factory):
        videos = w.tmp / "exhibit-05"
        videos.mkdir()
        noise_video(videos / "clip.mkv")
        run(w.home, "scan", videos, "--case", CASE, "--no-progress")
        yield w


def test_a_get_never_reveals_and_a_reveal_needs_the_csrf_header(world: World) -> None:
    client, csrf = world.session("rev-01")
    item = world.item_ids(CASE)["exhibit-01: photo-2.png"]
    r = client.get(f"/ui/thumb/{item}", params={"reveal": 1})
    assert r.status_code == 200 and laplacian(png_rgb(r.content)) < 2
    assert "img-src 'self' blob:;" in r.headers["content-security-policy"]
    before = len(world.custody("item.revealed"))
    url = f"/ui/thumb/{item}/reveal"
    assert client.post(url).status_code == 403
    assert client.post(url, data={"csrf_token": csrf}).status_code == 403  # a form: no
    assert client.post(url, headers={"X-CSRF-Token": "0" * 64}).status_code == 403
    assert len(world.custody("item.revealed")) == before
    ok = client.post(url, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 200 and ok.headers["cache-control"] == "no-store"
    assert laplacian(png_rgb(ok.content)) > 10 * laplacian(png_rgb(r.content))
    entry = world.custody("item.revealed")[-1]
    assert entry["subject"] == f"item:{item}" and json.loads(entry["details"])["by"] == "rev-01"


def test_blur_is_per_session_and_off_needs_a_logged_confirmation(world: World) -> None:
    client, csrf = world.session("rev-01")
    other, _ = world.session("rev-01")  # another session of the same user
    item = world.item_ids(CASE)["exhibit-01: photo-2.png"]
    h = {"X-CSRF-Token": csrf}
    strong = laplacian(png_rgb(client.get(f"/ui/thumb/{item}").content))
    assert "strong" in client.get("/ui/exposure").text
    assert client.post("/ui/exposure", json={"blur": 1}).status_code == 403  # no CSRF
    before = len(world.custody("exposure.changed"))
    refused = client.post("/ui/exposure", json={"blur": 0}, headers=h)
    assert refused.status_code == 409 and "confirm" in refused.text
    assert len(world.custody("exposure.changed")) == before
    assert client.post("/ui/exposure", json={"blur": 1}, headers=h).json() == {
        "from": "strong", "to": "light"}
    light = laplacian(png_rgb(client.get(f"/ui/thumb/{item}").content))
    off = client.post("/ui/exposure", json={"blur": 0, "confirm": True}, headers=h)
    assert off.status_code == 200 and off.json()["to"] == "off"
    grey = png_rgb(client.get(f"/ui/thumb/{item}").content)
    assert strong < light < laplacian(grey)
    assert float(np.max(grey.max(axis=2) - grey.min(axis=2))) == 0  # still greyscale
    assert laplacian(png_rgb(other.get(f"/ui/thumb/{item}").content)) == strong
    logged = [json.loads(e["details"]) for e in world.custody("exposure.changed")[before:]]
    assert [(d["from"], d["to"], d["confirmed"], d["by"]) for d in logged] == [
        ("strong", "light", False, "rev-01"), ("light", "off", True, "rev-01")]
    assert all(e["chain"] == "users" for e in world.custody("exposure.changed"))
    assert re.search(r"Blur: <strong>off</strong>", client.get(
        f"/ui/cases/{CASE}/queue").text)


def test_a_video_shows_a_strip_of_blurred_key_frames_and_never_plays(world: World) -> None:
    client, csrf = world.session("rev-01")
    item = world.item_ids(CASE)["exhibit-05: clip.mkv"]
    panel = client.get(f"/ui/cases/{CASE}/items/{item}")
    assert panel.status_code == 200
    assert "<video" not in panel.text and "autoplay" not in panel.text
    shown = re.findall(rf'src="/ui/thumb/{item}/frames/(\d)"', panel.text)
    assert shown == [str(k) for k in range(thumbs.STRIP)]
    blurred = png_rgb(client.get(f"/ui/thumb/{item}/frames/3").content)
    before = len(world.custody("item.revealed"))
    clear = client.post(f"/ui/thumb/{item}/frames/3/reveal", headers={"X-CSRF-Token": csrf})
    assert clear.status_code == 200
    assert laplacian(blurred) < laplacian(png_rgb(clear.content)) / 5
    entry = world.custody("item.revealed")[before:]
    assert len(entry) == 1 and json.loads(entry[0]["details"])["frame"] == 3
    assert client.get(f"/ui/thumb/{item}/frames/{thumbs.STRIP}").status_code == 404
