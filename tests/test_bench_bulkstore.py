"""bench/bulkstore.py's fast build of a large list store (bench_append --fast-build) makes
what `Lists.add` makes: the same schema, indexes included, and rows whose every column holds
what an import writes (the random values apart), in ascending value order past the first
chunk, with the list's entry count right and the file back in WAL mode."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import bulkstore  # noqa: E402
from cairn.lists.formats.stix import indicator_id  # noqa: E402
from cairn.store.store import Store  # noqa: E402

N, FIRST = 3000, 1000


def schema(db: sqlite3.Connection) -> list[tuple]:
    """Every table and index with its DDL, each DDL's lines sorted: a table that a batch
    migration re-created lists its foreign keys in an order that varies between processes."""
    rows = db.execute("SELECT type, name, tbl_name, sql FROM sqlite_master")
    return sorted((kind, name, table,
                   sorted(x.strip().rstrip(",") for x in (sql or "").split("\n")))
                  for kind, name, table, sql in rows)


def test_fast_build_makes_the_rows_and_indexes_an_import_makes(tmp_path: Path) -> None:
    ref, fast = tmp_path / "ref", tmp_path / "fast"
    store = Store.open(ref)
    store.lists.add("L", "generated", "plain", 31, bulkstore.entries(N, 1), 0,
                    stix_id=indicator_id)
    store.close()
    bulkstore.build(fast, N, "L", seed=1, first=FIRST)

    a, b = sqlite3.connect(ref / "cairn.db"), sqlite3.connect(fast / "cairn.db")
    assert schema(a) == schema(b)
    assert b.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert b.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert b.execute("SELECT entry_count FROM lists").fetchone()[0] == N
    assert b.execute("SELECT count(DISTINCT value) FROM list_entries").fetchone()[0] == N
    # the first chunk is the import's own: the same values and rows as the reference's
    first = "SELECT * FROM list_entries WHERE line_no <= ? ORDER BY line_no"
    ra, rb = a.execute(first, (FIRST,)).fetchall(), b.execute(first, (FIRST,)).fetchall()
    cols = [d[1] for d in a.execute("PRAGMA table_info(list_entries)")]
    skip = {cols.index("added_at"), cols.index("id")}  # ids: each import in value order
    assert [[v for i, v in enumerate(r) if i not in skip] for r in ra] == \
           [[v for i, v in enumerate(r) if i not in skip] for r in rb]
    # the bulk rows: every column as an import writes it, the values random
    ref_row = dict(zip(cols, a.execute("SELECT * FROM list_entries WHERE line_no = ?",
                                       (N,)).fetchone(), strict=True))
    added_at = b.execute("SELECT added_at FROM list_entries WHERE id = 1").fetchone()[0]
    rows = [dict(zip(cols, r, strict=True)) for r in
            b.execute("SELECT * FROM list_entries WHERE id > ? ORDER BY id", (FIRST,))]
    assert sorted(r["line_no"] for r in rows) == list(range(FIRST + 1, N + 1))
    assert [r["value"] for r in rows] == sorted(r["value"] for r in rows)
    for r in rows[::97]:
        assert len(r["value"]) == 64 and int(r["value"], 16) >= 0
        assert r["stix_id"] == indicator_id("pdq", r["value"])
        assert r["added_at"] == added_at
        same = {k for k in cols if k not in ("id", "value", "line_no", "stix_id", "added_at")}
        assert {k: r[k] for k in same} == {k: ref_row[k] for k in same}
