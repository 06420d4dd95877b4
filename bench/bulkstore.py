"""A large list store for bench_append built fast (`--fast-build`): the rows and indexes a
one-transaction `cairn lists import` of plain-format PDQ hashes makes, without the import's
time at 100M.

Why: `Lists.add` inserts 100M rows with the Indicator-id index live; its keys (Indicator ids,
SHA-1 based) are random, the index reaches ~2 GB (~6 GB before migration 0022) and every
insert lands on a random page of it, so SQLite's page cache thrashes and the import takes
many hours on the bench machine.

How: the first FIRST entries (1M) go in through `Lists.add` exactly as the CLI's import does
(`stix_id=stix.indicator_id`): the list row, its custody entry, its generation, and the
hashes the bench's CHECK step looks up are the real thing. The rest are inserted with plain
SQL on one connection of the bench's own, writing the column values `Lists.add` writes for a
plain-format PDQ entry (labels `[]`, line numbers FIRST+1..N in random order, `changed_gen`
and `added_at` of that import, `stix_id` from `indicator_id`, NULL category, collab, attrs
and origin, status left to its default). Meanwhile the two indexes not keyed on the value
(`ix_entries_stix_key`, `ix_entries_changed_gen`) are dropped and then re-created from their
own DDL (CREATE INDEX sorts: minutes, not hours), the values go in ascending (a sorted random
32-bit prefix, a random rest; each chunk sorted) so the UNIQUE (list_id, signal_type, value)
index grows at its end, and the journal is off, `synchronous=OFF` and the page cache large,
for this build only (the file is put back in WAL mode after). Last, `lists.entry_count` is
set to N. The one difference from a single import: the custody log records the first chunk's
import (FIRST entries), not N. `tests/test_bench_bulkstore.py` checks the schema and sampled
rows against a store `Lists.add` built.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

CHUNK = 1_000_000
_HEX = np.array([f"{i:02x}".encode() for i in range(256)], dtype="S2")
_COLUMNS = ("list_id", "signal_type", "value", "category", "labels", "collab", "line_no",
            "changed_gen", "attrs", "origin", "added_at", "stix_id")
_BUILT_AFTER = ("ix_entries_stix_key", "ix_entries_changed_gen")  # not keyed on the value


def codes(n: int, seed: int) -> Iterator[np.ndarray]:
    """N uniform random PDQ hashes as (k, 32) uint8 chunks: the list's values, and what
    bench_append looks up afterwards (its first chunk) to check the append."""
    rng = np.random.default_rng(seed)
    for lo in range(0, n, CHUNK):
        yield rng.integers(0, 256, (min(CHUNK, n - lo), 32), dtype=np.uint8)


def entries(n: int, seed: int) -> Iterator[dict]:
    """N uniform random PDQ hashes (`codes`) as the plain reader's entries (lines 1..N)."""
    line = 1
    for chunk in codes(n, seed):
        for row in chunk:
            yield {"signal_type": "pdq", "value": row.tobytes().hex(), "line": line}
            line += 1


def sorted_values(n: int, rng: np.random.Generator, chunk: int = CHUNK) -> Iterator[list[str]]:
    """N random 64-digit hex values in ascending order, a chunk at a time: a sorted random
    32-bit prefix each, a random rest, every chunk sorted (prefix ties across a chunk's
    edge, a handful in 100M, are the only values out of order)."""
    prefixes = np.sort(rng.integers(0, 2**32, n, dtype=np.uint32)).astype(">u4")
    for lo in range(0, n, chunk):
        p = prefixes[lo:lo + chunk]
        codes = rng.integers(0, 256, (len(p), 32), dtype=np.uint8)
        codes[:, :4] = p.view(np.uint8).reshape(-1, 4)
        yield np.sort(_HEX[codes].view("S64").ravel()).astype("U64").tolist()


def build(home: Path, n: int, name: str, seed: int = 1, first: int = CHUNK) -> None:
    """The store at `home` gets list `name` of N entries: FIRST through `Lists.add` (the
    values `entries(FIRST, seed)` gives), the rest by plain SQL (module docstring)."""
    from cairn.lists.formats.stix import indicator_id
    from cairn.store.store import Store

    first = min(first, n)
    store = Store.open(home)
    t0 = time.perf_counter()
    store.lists.add(name, "generated", "plain", 31, entries(first, seed), 0,
                    stix_id=indicator_id)
    store.close()
    print(f"store: first {first:,} entries imported through Lists.add in "
          f"{time.perf_counter() - t0:,.0f} s", flush=True)
    if n == first:
        return
    db = sqlite3.connect(home / "cairn.db", isolation_level=None)
    try:
        _bulk(db, n, name, seed, first)
    finally:
        db.close()


def _bulk(db: sqlite3.Connection, n: int, name: str, seed: int, first: int) -> None:
    from cairn.lists.formats.stix import indicator_id

    t0 = time.perf_counter()
    list_id, gen, added_at = db.execute(
        "SELECT e.list_id, e.changed_gen, e.added_at FROM list_entries e JOIN lists l "
        "ON l.id = e.list_id WHERE l.name = ? LIMIT 1", (name,)).fetchone()
    ddl = {k: v for k, v in db.execute("SELECT name, sql FROM sqlite_master WHERE type = "
                                       "'index' AND tbl_name = 'list_entries'")}
    for pragma, want in (("journal_mode = DELETE", "delete"), ("journal_mode = OFF", "off")):
        got = db.execute(f"PRAGMA {pragma}").fetchone()[0]
        if got != want:  # WAL is left only with no other connection open
            raise RuntimeError(f"PRAGMA {pragma} gave {got!r}: is the store in use?")
    db.execute("PRAGMA synchronous = OFF")
    db.execute("PRAGMA cache_size = -2097152")  # 2 GiB
    db.execute("PRAGMA threads = 2")  # CREATE INDEX's sorter
    for ix in _BUILT_AFTER:
        db.execute(f"DROP INDEX {ix}")
    rng = np.random.default_rng(seed + 7919)
    lines = (rng.permutation(n - first) + first + 1).astype(np.int64)
    cols, marks = ", ".join(_COLUMNS), ", ".join("?" * len(_COLUMNS))
    db.execute("BEGIN")
    done = first
    for values in sorted_values(n - first, rng):
        at = lines[done - first:done - first + len(values)].tolist()
        db.executemany(f"INSERT INTO list_entries ({cols}) VALUES ({marks})",
                       [(list_id, "pdq", v, None, "[]", None, line, gen, None, None,
                         added_at, indicator_id("pdq", v))
                        for v, line in zip(values, at, strict=True)])
        done += len(values)
        if done // CHUNK % 10 == 0 or done == n:
            print(f"  {done:,} rows, {time.perf_counter() - t0:,.0f} s", flush=True)
    db.execute("UPDATE lists SET entry_count = ? WHERE id = ?", (n, list_id))
    db.execute("COMMIT")
    t1 = time.perf_counter()
    print(f"store: {n - first:,} rows inserted by plain SQL in {t1 - t0:,.0f} s", flush=True)
    for ix in _BUILT_AFTER:
        db.execute(ddl[ix])
    print(f"store: {', '.join(_BUILT_AFTER)} re-created in {time.perf_counter() - t1:,.0f} s",
          flush=True)
    if db.execute("PRAGMA journal_mode = WAL").fetchone()[0] != "wal":
        raise RuntimeError("could not put the store back in WAL mode")
