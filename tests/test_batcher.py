"""Micro-batched lookups (api/batcher.py, `LiveIndex.lookup`): concurrent requests gathered
into one index call answer exactly what one-at-a-time lookups answer, errors included, and
one bad query never fails the others. The batcher runs in its real thread on a real event
loop; the index is a real list index over a real SQLite store; one test drives a real
`cairn serve` with 64 concurrent clients."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cairn.api.batcher import Batcher
from cairn.api.hma_index import SIGNAL_TYPES, LiveIndex, SignalError, Snapshot
from cairn.store.store import Store
from conftest import CAIRN
from inprocess import EXAMINER

N_LISTED = 400
SEED = 1717


# -- the batcher alone ---------------------------------------------------------------------
def squares(items: list[int]) -> list[int | BaseException]:
    """A batch function: each item's square; a negative item is that item's error."""
    return [ValueError(f"negative: {i}") if i < 0 else i * i for i in items]


def test_concurrent_submits_share_calls_and_keep_their_own_answers() -> None:
    sizes: list[int] = []

    def run(items: list[int]) -> list[int | BaseException]:
        sizes.append(len(items))
        time.sleep(0.002)  # a call that takes a while: the queue fills behind it
        return squares(items)

    b: Batcher[int, int] = Batcher(run, linger=0.005, max_batch=16)

    async def main() -> list[int | BaseException]:
        return await asyncio.gather(*(b.submit(i) for i in range(-3, 97)),
                                    return_exceptions=True)

    out = asyncio.run(main())
    assert [r if isinstance(r, int) else str(r) for r in out] == [
        f"negative: {i}" if i < 0 else i * i for i in range(-3, 97)]
    assert sum(sizes) == 100 and max(sizes) <= 16
    assert len(sizes) < 100 / 4  # gathered, not one call each
    assert b.batches == len(sizes) and b.items == 100


def test_without_linger_what_arrives_in_one_turn_is_one_batch() -> None:
    sizes: list[int] = []

    def run(items: list[int]) -> list[int | BaseException]:
        sizes.append(len(items))
        return squares(items)

    b: Batcher[int, int] = Batcher(run, max_batch=64)  # the default: no waiting at all

    async def main() -> list[int]:
        return await asyncio.gather(*(b.submit(i) for i in range(100)))

    assert asyncio.run(main()) == [i * i for i in range(100)]
    assert sizes == [64, 36]


def test_a_batch_that_raises_is_run_again_item_by_item() -> None:
    calls: list[list[int]] = []

    def run(items: list[int]) -> list[int]:
        calls.append(items)
        if 13 in items:  # poison: the whole call fails while 13 is in it
            raise KeyError("thirteen")
        return [i + 1 for i in items]

    b: Batcher[int, int] = Batcher(run, linger=0.01)

    async def main() -> list[int | BaseException]:
        return await asyncio.gather(*(b.submit(i) for i in range(10, 20)),
                                    return_exceptions=True)

    out = asyncio.run(main())
    assert out[:3] == [11, 12, 13] and out[4:] == list(range(15, 21))
    assert isinstance(out[3], KeyError)
    assert calls[0] == list(range(10, 20))  # one gathered call first, then one by one
    assert len(calls) == 11


def test_a_caller_that_goes_away_is_skipped_and_the_rest_answered() -> None:
    started = threading.Event()
    release = threading.Event()

    def run(items: list[int]) -> list[int]:
        started.set()
        release.wait(5)
        return [i * 10 for i in items]

    b: Batcher[int, int] = Batcher(run, linger=0.0)

    async def main() -> tuple[bool, list[int]]:
        first = asyncio.ensure_future(b.submit(1))
        while not started.is_set():
            await asyncio.sleep(0.001)
        later = [asyncio.ensure_future(b.submit(i)) for i in (2, 3)]
        await asyncio.sleep(0.005)
        first.cancel()
        later[0].cancel()
        release.set()
        done = await asyncio.gather(*later, return_exceptions=True)
        return first.cancelled(), [d for d in done if isinstance(d, int)]

    cancelled, rest = asyncio.run(main())
    assert cancelled and rest == [30]


def test_each_event_loop_has_its_own_queue() -> None:
    b: Batcher[int, int] = Batcher(squares, linger=0.0)
    for k in range(3):  # a TestClient runs a loop per request; each must be answered
        assert asyncio.run(b.submit(k)) == k * k
    b.close()
    assert asyncio.run(b.submit(5)) == 25  # a new thread after close


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        Batcher(squares, max_batch=0)
    with pytest.raises(ValueError):
        Batcher(squares, linger=-1)


# -- batched lookups equal one-at-a-time lookups, on a real list index ---------------------
def listed(rng: np.random.Generator) -> tuple[list[str], list[str]]:
    pdq = [rng.integers(0, 256, 32, dtype=np.uint8).tobytes().hex() for _ in range(N_LISTED)]
    md5 = [rng.integers(0, 256, 16, dtype=np.uint8).tobytes().hex() for _ in range(40)]
    return pdq, md5


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveIndex, list, list]]:
    os.environ.setdefault("CAIRN_EXAMINER", EXAMINER)
    home = tmp_path_factory.mktemp("batch") / "home"
    store = Store.open(home)
    pdq, md5 = listed(np.random.default_rng(SEED))
    half = N_LISTED // 2
    store.lists.add("wide list", "generated", "te-local", 31,
                    [{"signal_type": "pdq", "value": v, "line": i}
                     for i, v in enumerate(pdq[:half])]
                    + [{"signal_type": "md5", "value": v, "line": half + i}
                       for i, v in enumerate(md5)], 0)
    store.lists.add("strict list", "generated", "te-local", 8,  # its own threshold
                    [{"signal_type": "pdq", "value": v, "line": i}
                     for i, v in enumerate(pdq[half:])], 0)
    store.lists.set_status("wide list", pdq[:5], "withdrawn")  # never returned
    live = LiveIndex(store, recheck=3600.0, linger=0.002, max_batch=32)
    live.current()
    yield live, pdq, md5
    live.batcher.close()
    store.close()


def near(hex_value: str, bits: list[int]) -> str:
    b = bytearray(bytes.fromhex(hex_value))
    for bit in bits:
        b[bit // 8] ^= 1 << (bit % 8)
    return b.hex()


def query(pdq: list[str], md5: list[str]) -> st.SearchStrategy[tuple[str, str]]:
    """A query as a client may send it: a near copy of a listed PDQ hash (0..40 bits away,
    across both lists' thresholds), a random PDQ, a listed or unlisted MD5, or bad input."""
    hexes = st.text("0123456789abcdef", min_size=64, max_size=64)
    return st.one_of(
        st.tuples(st.just("pdq"), st.builds(near, st.sampled_from(pdq),
                                            st.lists(st.integers(0, 255), max_size=40,
                                                     unique=True))),
        st.tuples(st.just("pdq"), hexes),
        st.tuples(st.just("video_md5"), st.sampled_from(md5)),
        st.tuples(st.just("video_md5"), st.text("0123456789abcdef", min_size=32,
                                                 max_size=32)),
        st.tuples(st.just("pdq"), st.sampled_from(["xyz", "", "G" * 64, pdq[0].upper(),
                                                   pdq[0] + "0"])),
        st.tuples(st.just("vpdq"), st.sampled_from(["[]", "not json", "[1]"])),
    )


def answer(snap: Snapshot, type_name: str, value: str) -> object:
    """The one-at-a-time answer: hits as tuples, or the error's type and message."""
    try:
        hits = snap.lookup(SIGNAL_TYPES[type_name], [value])[0]
    except SignalError as e:
        return ("error", type(e).__name__, str(e))
    return [(h.entry_id, h.list_id, h.distance, h.shown) for h in hits]


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_concurrent_batches_equal_sequential_answers(index: tuple[LiveIndex, list, list],
                                                     data: st.DataObject) -> None:
    live, pdq, md5 = index
    queries = data.draw(st.lists(query(pdq, md5), min_size=1, max_size=80))
    snap = live.current()
    want = [answer(snap, t, v) for t, v in queries]
    before = live.batcher.batches

    async def one(t: str, v: str) -> object:
        try:
            hits = await live.lookup(snap, SIGNAL_TYPES[t], v)
        except SignalError as e:
            return ("error", type(e).__name__, str(e))
        return [(h.entry_id, h.list_id, h.distance, h.shown) for h in hits]

    async def main() -> list[object]:
        return await asyncio.gather(*(one(t, v) for t, v in queries))

    assert asyncio.run(main()) == want
    if len(queries) > 32:
        assert live.batcher.batches - before < len(queries)  # they were gathered


def test_the_strategy_reaches_every_case(index: tuple[LiveIndex, list, list]) -> None:
    """The property above is only as good as its queries: near copies in and out of each
    list's threshold, withdrawn entries, exact digests and errors all occur."""
    live, pdq, md5 = index
    snap = live.current()
    assert answer(snap, "pdq", pdq[0]) == []  # withdrawn
    hit = answer(snap, "pdq", near(pdq[10], list(range(20))))
    assert isinstance(hit, list) and hit[0][2] == 20
    assert answer(snap, "pdq", near(pdq[-1], list(range(20)))) == []  # over 8: strict list
    assert answer(snap, "pdq", near(pdq[-1], list(range(8))))[0][2] == 8  # type: ignore[index]
    assert answer(snap, "video_md5", md5[0])[0][3] == "-"  # type: ignore[index]
    assert answer(snap, "pdq", "xyz")[0] == "error"  # type: ignore[index]


# -- over a real `cairn serve` ---------------------------------------------------------------
class Serve:
    """`cairn serve --port 0` on loopback, on the store at `home`."""

    def __init__(self, home: Path, *args: str) -> None:
        env = os.environ | {"CAIRN_HOME": str(home), "CAIRN_EXAMINER": EXAMINER}
        env.pop("CAIRN_DATABASE_URL", None)
        self.proc = subprocess.Popen([CAIRN, "serve", "--port", "0", *args], env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline()
        if "listening on " not in first:
            self.stop()
            raise RuntimeError(f"cairn serve: {first}")
        self.url = first.split("listening on ")[1].split()[0]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def test_64_concurrent_clients_of_cairn_serve_get_their_own_answers(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cairn.store import users

    monkeypatch.setenv("CAIRN_EXAMINER", EXAMINER)
    home = tmp_path / "home"
    store = Store.open(home)
    pdq, md5 = listed(np.random.default_rng(SEED + 1))
    store.lists.add("served list", "generated", "te-local", 31,
                    [{"signal_type": "pdq", "value": v, "line": i} for i, v in enumerate(pdq)]
                    + [{"signal_type": "md5", "value": v, "line": 1000 + i}
                       for i, v in enumerate(md5)], 0)
    users.add_user(store, "user-0042", "examiner")
    token = users.create_token(store, "user-0042", "lookup", None)[1]
    live = LiveIndex(store, recheck=3600.0)
    snap = live.current()
    rng = np.random.default_rng(SEED + 2)
    asks: list[tuple[str, str]] = []
    for k in range(192):
        if k % 16 == 5:
            asks.append(("pdq", "not-hex-" + str(k)))
        elif k % 16 == 9:
            asks.append(("video_md5", md5[k % len(md5)]))
        else:
            bits = rng.choice(256, int(rng.integers(0, 40)), replace=False).tolist()
            asks.append(("pdq", near(pdq[k % len(pdq)], bits)))
    want = []
    for t, v in asks:
        a = answer(snap, t, v)
        want.append((400, {"message": "invalid signal: invalid PDQ hash"})
                    if isinstance(a, tuple) else
                    (200, {"matches": [{"bank_content_id": e, "distance": shown}
                                       for e, _, _, shown in a]}))
    assert sum(w[0] == 200 and bool(w[1]["matches"]) for w in want) > 100  # mostly hits
    store.close()

    server = Serve(home, "--workers", "1")
    try:
        async def main() -> list[tuple[int, object]]:
            limits = httpx.Limits(max_connections=64)
            async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=60,
                                         headers={"Authorization": f"Bearer {token}"}) as c:
                for _ in range(600):  # until the server's worker is up
                    try:
                        if (await c.get("/status")).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    await asyncio.sleep(0.1)
                sem = asyncio.Semaphore(64)

                async def one(t: str, v: str) -> tuple[int, object]:
                    async with sem:
                        r = await c.get("/m/raw_lookup", params={
                            "signal_type": t, "signal": v, "include_distance": "true"})
                        return r.status_code, json.loads(r.text)

                return await asyncio.gather(*(one(t, v) for t, v in asks))

        got = asyncio.run(main())
    finally:
        server.stop()
    assert got == want
