"""The store: migrations agree with the schema, and inserts are idempotent."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select

from cairn.store import Store
from cairn.store import schema as t


def test_migrations_match_schema(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), t.metadata)
    assert diff == [], f"cairn.store.schema and the Alembic migrations disagree: {diff}"


def test_reopen_keeps_data_and_record_is_idempotent(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    case_id = store.cases.id("c", create=True)
    source_id = store.cases.source_id(case_id, "s", "/evidence/s")
    run = store.runs.start(case_id, source_id, "0", "examiner", "host", {})
    rec = {"path": "a.jpg", "kind": "image", "sha256": "0" * 64, "size": 1, "mtime": 1.0,
           "pdq": {"hash": "ab" * 32, "quality": 100, "mode": "exact"},
           "errors": [{"stage": "decode", "message": "x"}]}
    assert store.records.add(source_id, run, [rec], [[]]) == 1
    store.close()
    store = Store.open(tmp_path)
    assert store.cases.id("c") == case_id
    assert store.records.add(source_id, run, [rec, rec], [[], []]) == 0
    with store.engine.connect() as c:
        assert c.execute(select(func.count()).select_from(t.items)).scalar_one() == 1
        assert c.execute(select(func.count()).select_from(t.errors)).scalar_one() == 1
        assert c.execute(select(func.count()).select_from(t.signals)).scalar_one() == 1


def test_false_positive_threshold_is_configurable(tmp_path: Path) -> None:
    from cairn.store import exchange as ex

    store = Store.open(tmp_path)
    store.lists.add("l", "l.txt", "plain", 31,
                    [{"signal_type": "md5", "value": "ab" * 16, "line": 1}], 0)
    with store.engine.connect() as c:
        entry = c.execute(select(t.list_entries.c.id)).scalar_one()
    assert ex.add_opinion(store, entry, "false_positive", "p1", threshold=2)["status"] == "active"
    assert ex.add_opinion(store, entry, "confirmed", "p2", threshold=2)["status"] == "active"
    res = ex.add_opinion(store, entry, "false_positive", "p3", threshold=2)
    assert (res["false_positives"], res["status"]) == (2, "false_positive")
    assert ex.add_opinion(store, entry, "false_positive", "p1", threshold=2)[
        "false_positives"] == 2  # one opinion per author: a second one replaces the first
