"""What a lookup pays besides the index, kept small under load (bench/bench_api.py): the
bearer token's principal is reused for `auth.TOKEN_RECHECK` seconds, and the list index's
re-check against the store never makes requests queue behind it, yet a change made through
this process is seen by the very next request. Real store (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio

import pytest

from cairn.api import auth
from cairn.api.hma_index import LiveIndex
from cairn.store import users
from cairn.store.store import Store

PDQ_A = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"


def principal(store: Store, token: str) -> users.Principal | None:
    return asyncio.run(auth._token_principal(store, token))


def test_a_token_is_reused_for_its_recheck_time_then_asked_again(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    users.add_user(store, "user-0042", "examiner")
    token = users.create_token(store, "user-0042", "lookup", None)[1]
    monkeypatch.setattr(auth, "TOKEN_RECHECK", 3600.0)
    found = principal(store, token)
    assert found is not None and found.name == "user-0042" and found.can("lookup")
    users.revoke_token(store, token[:users.PREFIX_SHOWN])
    assert principal(store, token) == found  # within TOKEN_RECHECK: not asked again
    monkeypatch.setattr(auth, "TOKEN_RECHECK", 0.0)
    assert principal(store, token) is None  # past it: the store says revoked
    monkeypatch.setattr(auth, "TOKEN_RECHECK", 3600.0)
    assert principal(store, token) is None  # and a refused token is never remembered
    assert principal(store, "cairn_" + "x" * 43) is None


def test_while_one_request_asks_the_store_again_the_others_keep_the_token(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    users.add_user(store, "user-0042", "examiner")
    token = users.create_token(store, "user-0042", "lookup", None)[1]
    monkeypatch.setattr(auth, "TOKEN_RECHECK", 1.0)
    found = principal(store, token)
    users.revoke_token(store, token[:users.PREFIX_SHOWN])
    key = (id(store), token)
    auth._known[key] = (found, time.monotonic() - 5)  # vouched for too long ago ...
    auth._asking[key] = time.monotonic()  # ... but another request is asking right now
    assert principal(store, token) == found
    del auth._asking[key]
    assert principal(store, token) is None  # nobody asking: this one does, and is refused
    assert key not in auth._asking


def test_one_request_rechecks_the_index_the_others_go_on(store: Store) -> None:
    store.lists.add("BANK_A", "generated", "te-local", 31,
                    [{"signal_type": "pdq", "value": PDQ_A, "line": 1}], 0)
    live = LiveIndex(store, recheck=3600.0)
    first = live.current()
    assert live.fresh() is first
    live._checked = float("-inf")  # as when the recheck time has passed
    assert live.fresh() is None  # this request goes to re-check ...
    assert live.fresh() is first  # ... the next ones go on meanwhile
    again = live.current()
    assert live.fresh() is again and again.matcher is first.matcher


def test_the_recheck_lets_requests_go_on_but_a_change_here_is_seen_at_once(
        store: Store) -> None:
    store.lists.add("BANK_A", "generated", "te-local", 31,
                    [{"signal_type": "pdq", "value": PDQ_A, "line": 1}], 0)
    live = LiveIndex(store, recheck=0.0)  # every read is due for a re-check
    first = live.current()
    assert live.fresh() is None  # due: the caller goes to the threadpool for `current`
    with live._lock:  # another thread is re-checking ...
        assert live.fresh() is first  # ... so the rest go on with what it replaces
        live.invalidate()  # but after a change made through this process ...
        assert live.fresh() is None  # ... they wait for the re-check that sees it
    store.lists.set_status("BANK_A", [PDQ_A], "withdrawn")
    second = live.current()
    assert second is not first and live.fresh() is None
    assert second.lookup(live_type("pdq"), [PDQ_A]) == [[]]
    assert first.lookup(live_type("pdq"), [PDQ_A])[0][0].distance == 0


def test_a_recheck_that_finds_nothing_changed_keeps_the_matcher(store: Store) -> None:
    store.lists.add("BANK_A", "generated", "te-local", 31,
                    [{"signal_type": "pdq", "value": PDQ_A, "line": 1}], 0)
    live = LiveIndex(store, recheck=0.0)
    first = live.current()
    again = live.current()
    assert again.matcher is first.matcher and again.lists == first.lists
    store.lists.update("BANK_A", None, 0.5)  # a setting, not an entry: the key still changes
    third = live.current()
    assert third.lists[next(iter(third.lists))]["enabled_ratio"] == 0.5
    assert third.lists[next(iter(third.lists))]["signal_types"] == {"pdq": 1}


def live_type(name: str):  # noqa: ANN201 - a SignalType
    from cairn.api.hma_index import signal_type

    return signal_type(name)
