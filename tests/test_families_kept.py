"""A case's trace families kept in the store per state of the case (service/families.py,
store/familystore.py, migration 0020): equal to the computation, read back by another store
handle (another process, a restart) without computing, computed again when the case
changes, and computed by one worker only: a second one that finds the state claimed waits
for the stored result. On SQLite and PostgreSQL (the `store` fixture)."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import insert, inspect

from cairn.service import families as svc
from cairn.store import Store
from cairn.store import familystore as kept
from cairn.store import schema as t
from cairn.store.reviewqueue import case_state
from cairn.trace.families import families

NOW = "2026-01-01T00:00:00+00:00"


def make_case(store: Store, n: int = 240, seed: int = 20) -> tuple[int, int, int]:
    """A case of `n` items on three exhibits, each with a random PDQ; every 8th a copy of
    the one before (the same bytes), every 10th a near-duplicate of the one before (a few
    bits of its PDQ flipped). (case id, run id, first source id)."""
    rng = random.Random(seed)
    with store.engine.begin() as c:
        case_id = c.execute(insert(t.cases).values(name=f"op-kept-{seed}", created_at=NOW)
                            ).inserted_primary_key[0]
        srcs = [c.execute(insert(t.sources).values(
            case_id=case_id, name=f"exhibit-0{k}", location=f"/nonexistent/{k}",
            added_at=NOW)).inserted_primary_key[0] for k in (1, 2, 3)]
        run_id = c.execute(insert(t.scan_runs).values(
            case_id=case_id, source_id=srcs[0], tool_version="test", examiner="examiner-01",
            host="test", started_at=NOW, status="complete", arguments="{}")
        ).inserted_primary_key[0]
        sha: list[str] = []
        pdq: list[int] = []
        for i in range(n):
            if i % 8 == 7:
                sha.append(sha[-1])
                pdq.append(pdq[-1])
            else:
                sha.append(f"{seed:04x}{i:060x}")
                base = pdq[-1] if i % 10 == 9 else rng.getrandbits(256)
                pdq.append(base ^ sum(1 << b for b in rng.sample(range(256), 5))
                           if i % 10 == 9 else base)
                c.execute(insert(t.signals).values(sha256=sha[-1], signal_type="pdq",
                                                   mode="exact", quality=100,
                                                   value=f"{pdq[-1]:064x}"))
            c.execute(insert(t.items).values(
                source_id=srcs[i % 3], scan_run_id=run_id, path=f"p/{i:05d}.jpg",
                raw_path=f"p/{i:05d}.jpg".encode(), location_key=i.to_bytes(32, "big"),
                kind="image", media_type="image/jpeg", size=100 + i, sha256=sha[-1]))
    return case_id, run_id, srcs[0]


def expected(store: Store, case_id: int) -> dict[str, Any]:
    """The families as trace/families.py computes them in memory, with their items' ids."""
    items = store.records.case_signals(case_id)
    fams = [f.to_dict() for f in families(items, workers=1)]
    where = {(m["source"], m["path"]): f["id"] for f in fams for m in f["members"]}
    ids: list[list[int]] = [[] for _ in fams]
    for it in items:
        if (it["source"], it["path"]) in where:
            ids[where[(it["source"], it["path"])] - 1].append(it["id"])
    return {"families": fams, "item_ids": [sorted(v) for v in ids]}


class Counting:
    """trace/families.py `families`, counting its calls (the real computation runs)."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, *a: Any, **k: Any) -> Any:
        self.calls += 1
        return families(*a, **k)


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> Counting:
    svc._cache.clear()
    count = Counting()
    monkeypatch.setattr(svc, "families", count)
    return count


def second_handle(store: Store) -> Store:
    """Another handle on the same database, as a second server worker or a restarted
    process opens it (this process's memory of the families emptied)."""
    svc._cache.clear()
    return Store(store.url, store.home)


def test_kept_families_equal_the_computation_and_another_handle_reads_them(
        store: Store, counted: Counting) -> None:
    case_id, _, _ = make_case(store)
    want = expected(store, case_id)
    assert len(want["families"]) > 20 and any(  # copies and near-duplicates both
        m["via"].startswith("pdq") for f in want["families"] for m in f["members"])
    got = svc.case_families(store, case_id)
    assert counted.calls == 1
    assert got.families == want["families"] and got.item_ids == want["item_ids"]
    state = svc._state(case_state(store, case_id))
    assert kept.load(store, case_id, state) == want  # what another process reads
    assert kept.claimed_by(store, case_id, state) is None  # released once kept

    other = second_handle(store)
    try:
        again = svc.case_families(other, case_id)
        assert counted.calls == 1  # read back, not computed
        assert again.families == want["families"] and again.item_ids == want["item_ids"]
        assert again.by_location == got.by_location
        svc._cache.clear()
        ready = svc.families_if_ready(other, case_id)  # a page's read: no thread needed
        assert ready is not None and ready.item_ids == want["item_ids"]
        assert counted.calls == 1
    finally:
        other.close()


def test_a_change_of_the_case_is_a_new_state_computed_again(
        store: Store, counted: Counting) -> None:
    case_id, run_id, src = make_case(store, n=80)
    before = svc.case_families(store, case_id)
    old_state = svc._state(case_state(store, case_id))
    copied = before.families[0]["representative"]
    with store.engine.begin() as c:  # a new copy of the largest family's content
        new_id = c.execute(insert(t.items).values(
            source_id=src, scan_run_id=run_id, path="new/copy.jpg", raw_path=b"new/copy.jpg",
            location_key=(10 ** 6).to_bytes(32, "big"), kind="image",
            media_type="image/jpeg", size=1, sha256=copied["sha256"])).inserted_primary_key[0]
    new_state = svc._state(case_state(store, case_id))
    assert new_state != old_state
    other = second_handle(store)  # a process that kept the old state would not reuse it
    try:
        after = svc.case_families(other, case_id)
    finally:
        other.close()
    assert counted.calls == 2
    assert new_id in after.ids_of(1) and new_id not in before.ids_of(1)
    assert after.families == expected(store, case_id)["families"]
    assert kept.load(store, case_id, old_state) is None
    assert kept.load(store, case_id, new_state) is not None


def test_a_state_claimed_by_another_worker_is_waited_for_not_computed(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    case_id, _, _ = make_case(store, n=80)
    doc = expected(store, case_id)  # what the other worker will keep
    count = Counting()
    monkeypatch.setattr(svc, "families", count)
    monkeypatch.setattr(svc, "POLL", 0.05)
    svc._cache.clear()
    state = svc._state(case_state(store, case_id))
    assert kept.claim(store, case_id, state, "worker-2")

    other = second_handle(store)
    got: list[svc.CaseFamilies] = []
    waiter = threading.Thread(target=lambda: got.append(svc.case_families(other, case_id)))
    try:
        waiter.start()
        time.sleep(0.5)
        assert waiter.is_alive() and count.calls == 0  # waiting on worker-2's claim
        kept.save(store, case_id, state, doc)  # worker-2 is done
        kept.release(store, case_id, state, "worker-2")
        waiter.join(30)
        assert not waiter.is_alive() and count.calls == 0
        assert got[0].families == doc["families"] and got[0].item_ids == doc["item_ids"]
    finally:
        other.close()


def test_a_claim_is_one_workers_until_it_goes_stale(store: Store) -> None:
    case_id, _, _ = make_case(store, n=16)
    other = Store(store.url, store.home)
    try:
        assert kept.claim(store, case_id, "s1", "worker-1")
        assert not kept.claim(other, case_id, "s1", "worker-2")  # the key refuses a second
        assert kept.claim(store, case_id, "s1", "worker-1")  # its own
        assert kept.claim(other, case_id, "s2", "worker-2")  # another state: another claim
        assert kept.refresh(store, case_id, "s1", "worker-1")
        later = time.time() + kept.CLAIM_TTL + 1  # worker-1 stopped refreshing: it died
        assert kept.claim(other, case_id, "s1", "worker-2", now=later)
        assert not kept.refresh(store, case_id, "s1", "worker-1")  # no longer its
        assert (kept.claimed_by(store, case_id, "s1") or ("", 0))[0] == "worker-2"
        kept.release(other, case_id, "s1", "worker-2")
        assert kept.claimed_by(store, case_id, "s1") is None
    finally:
        other.close()


def test_a_dead_workers_claim_is_taken_over(store: Store, counted: Counting) -> None:
    case_id, _, _ = make_case(store, n=40)
    state = svc._state(case_state(store, case_id))
    assert kept.claim(store, case_id, state, "worker-gone",
                      now=time.time() - kept.CLAIM_TTL - 1)
    fams = svc.case_families(store, case_id)
    assert counted.calls == 1 and fams.families == expected(store, case_id)["families"]
    assert kept.claimed_by(store, case_id, state) is None


def test_migration_0020_goes_down_and_up(store: Store) -> None:
    here = Path(kept.__file__).parent
    cfg = Config(str(here / "alembic.ini"))
    cfg.set_main_option("script_location", str(here / "migrations"))
    tables = {"case_families", "family_claims"}
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0019")
    assert not tables & set(inspect(store.engine).get_table_names())
    assert "queue_shared" in inspect(store.engine).get_table_names()
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    assert tables <= set(inspect(store.engine).get_table_names())
    case_id, _, _ = make_case(store, n=16)
    svc._cache.clear()
    assert svc.case_families(store, case_id).families == expected(store, case_id)["families"]
