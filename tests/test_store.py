"""The store: migrations agree with the schema, and inserts are idempotent."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select

from cairn.store import Store
from cairn.store import schema as t


# Alembic cannot reflect expression indexes (ix_entries_stix_key): the test below checks it
@pytest.mark.filterwarnings("ignore:.*expression-based index")
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


def test_entries_by_indicator_id_go_through_the_short_key(store: Store) -> None:
    """Entries are found by their STIX Indicator id through the index on 8 hex digits of it
    (0022: ~20 bytes an entry, where the whole id took ~60), on SQLite and PostgreSQL: the
    database uses it for `entries_for_stix_ids`, and ids sharing those digits (or too short
    to have them) still get only their own entries."""
    from sqlalchemy import text

    from cairn.lists.formats import stix
    from cairn.store import exchange as ex

    values = [f"{i:032x}" for i in range(40)]
    ids = {v: stix.indicator_id("md5", v) for v in values}
    twin = ids[values[0]][:19] + "0" * 28  # same key as the first, another id
    odd = {values[1]: twin, values[2]: "short"}

    def sid(kind: str, v: str) -> str:
        return odd.get(v, ids[v])

    store.lists.add("l", "l.txt", "plain", 31, [{"signal_type": "md5", "value": v, "line": i}
                                                for i, v in enumerate(values)], 0, stix_id=sid)
    list_id = store.lists.all()[0]["id"]
    got = ex.entries_for_stix_ids(store, list_id, [ids[values[0]], twin, "short",
                                                    ids[values[5]], "indicator--missing"])
    assert sorted(r["value"] for r in got) == sorted(values[i] for i in (0, 1, 2, 5))
    assert ex.entries_for_stix_ids(store, list_id + 1, [ids[values[0]]]) == []

    query = ex.stix_ids_query(list_id, [ids[values[5]], ids[values[6]]])
    sql = str(query.compile(store.engine, compile_kwargs={"literal_binds": True}))
    with store.engine.connect() as c:
        if store.engine.dialect.name == "sqlite":
            (ddl,) = c.execute(text("SELECT sql FROM sqlite_master WHERE name = "
                                    "'ix_entries_stix_key'")).one()
            plan = " ".join(str(r[-1]) for r in c.execute(text("EXPLAIN QUERY PLAN " + sql)))
        else:
            (ddl,) = c.execute(text("SELECT indexdef FROM pg_indexes WHERE indexname = "
                                    "'ix_entries_stix_key'")).one()
            c.execute(text("SET enable_seqscan = off"))  # a small table: show the index usable
            plan = " ".join(r[0] for r in c.execute(text("EXPLAIN " + sql)))
    assert "substr(stix_id, 12, 8)" in ddl.replace("(stix_id)::text", "stix_id")
    assert "ix_entries_stix_key" in plan
    assert "ix_entries_stix_id" not in str(ddl)
