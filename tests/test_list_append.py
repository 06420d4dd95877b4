"""Appending to a list (`lists.add(..., append=True)`): counts come from the rows the insert
added, not a count of the list; duplicates, in the file and against the list, keep the
first line; the dropped (signal_type, value) index (0021) goes down and up. On SQLite and
PostgreSQL (the `store` fixture)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import func, inspect, select

from cairn.lists.formats import stix
from cairn.store import Store
from cairn.store import lists as store_lists
from cairn.store import schema as t


def entries(values: list[str], first_line: int = 1) -> list[dict]:
    return [{"signal_type": "pdq", "value": v, "line": first_line + i}
            for i, v in enumerate(values)]


def rows(store: Store) -> list[tuple]:
    e = t.list_entries.c
    with store.engine.connect() as c:
        return [tuple(r) for r in c.execute(
            select(e.value, e.line_no, e.stix_id).order_by(e.value, e.line_no))]


def test_append_counts_added_rows_and_keeps_first_lines(store: Store) -> None:
    a, b, c, d = (f"{i:02x}" * 32 for i in (1, 2, 3, 4))
    res = store.lists.add("L", "f1", "plain", 31, entries([a, b, a]), 1,
                          stix_id=stix.indicator_id)
    assert (res["entries"], res["added"], res["rejected"]) == (2, 2, 1)
    res = store.lists.add("L", "f2", "plain", 31, entries([c, b, d, c], 10), [], append=True,
                          stix_id=stix.indicator_id)
    assert (res["entries"], res["added"], res["rejected"]) == (4, 2, 0)
    assert rows(store) == [(v, line, stix.indicator_id("pdq", v))
                           for v, line in ((a, 1), (b, 2), (c, 10), (d, 12))]
    info = store.lists.info("L")
    assert info is not None
    assert (info["entry_count"], info["rejected_count"]) == (4, 1)
    res = store.lists.add("L", "f3", "plain", 31, entries([a, b]), 0, append=True)
    assert (res["entries"], res["added"]) == (4, 0)
    with store.engine.connect() as conn:  # the kept count is the real one
        assert conn.execute(select(func.count()).select_from(t.list_entries)).scalar() == 4


def test_migration_0021_goes_down_and_up(store: Store) -> None:
    here = Path(store_lists.__file__).parent
    cfg = Config(str(here / "alembic.ini"))
    cfg.set_main_option("script_location", str(here / "migrations"))

    def indexes() -> set[str]:
        return {x["name"] for x in inspect(store.engine).get_indexes("list_entries")}

    assert "ix_entries_type_value" not in indexes()
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0020")
    assert "ix_entries_type_value" in indexes()
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    assert "ix_entries_type_value" not in indexes()
    assert store.lists.add("L", "f", "plain", 31, entries(["ab" * 32]), 0)["added"] == 1


def test_import_cache_is_given_back(store: Store) -> None:
    """The import's large SQLite page cache is for its insert only: the pooled connection
    goes back with the cache it had."""
    if store.engine.dialect.name != "sqlite":
        return
    with store.engine.connect() as c:
        before = c.exec_driver_sql("PRAGMA main.cache_size").scalar()
    assert before != -store_lists.IMPORT_CACHE_KIB
    store.lists.add("L", "f", "plain", 31, entries(["cd" * 32]), 0)
    with store.engine.connect() as c:
        assert c.exec_driver_sql("PRAGMA main.cache_size").scalar() == before
