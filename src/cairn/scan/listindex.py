"""The persisted list index: every list's entries, indexed once at import and kept current.

The database is the truth; the index under `$CAIRN_HOME/index/` is derived from it and says
which list generation it reflects. Opening it compares that with the store: equal, it is
memory-mapped as is (a 10M-entry index opens in well under a second); behind, it catches up
(new entries appended, changed statuses flipped, only changed parts rewritten); behind a
destructive change (a list removed or replaced), from another store, damaged, or of another
version, it is rebuilt. Each save goes to a new folder named in `CURRENT` (replaced
atomically), so a reader never sees a half-written index.
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cairn.index import HammingIndex, IndexFileError
from cairn.lists.matcher import Match, Matcher
from cairn.signals import types

if TYPE_CHECKING:  # a scan worker opens the index without the store (SQLAlchemy) loaded
    from cairn.store import Store

log = logging.getLogger(__name__)


def open_matcher(store: Store, persist: bool = True) -> Matcher:
    """A matcher over every active list entry, current with the store."""
    lists = store.lists.all(counts=False)  # counts scan every entry: seconds at 10M
    thresholds = {x["id"]: x["pdq_threshold"] for x in lists}
    percent = {x["id"]: x["vpdq_percent"] for x in lists}
    store_id, gen, rebuild_gen = store.lists.generations()
    if store.home is None or not persist:
        return Matcher.build(store.lists.entries(), thresholds, percent)
    root = Path(store.home) / "index"
    current = current_folder(root)
    m: Matcher | None = None
    header: dict = {}
    if current is not None:
        try:
            m, header = Matcher.load(root / current, thresholds, percent)
        except IndexFileError as e:
            log.warning("list index unusable, rebuilding: %s", e)
    if (m is not None and header.get("store_id") == store_id
            and int(header.get("generation", -1)) >= rebuild_gen):  # fresh: catch it up
        if int(header["generation"]) == gen:
            return m
        flipped = m.set_active(store.lists.changed(int(header["generation"]),
                                                   m.max_entry_id))
        added = m.extend(store.lists.entries(after_id=m.max_entry_id))
        log.info("list index extended in place to generation %d: %d entries added, %d "
                 "flipped", gen, added, flipped)
    else:
        m, current = Matcher.build(store.lists.entries(), thresholds, percent), None
        log.info("list index built from the store at generation %d: %d entries", gen,
                 m.indexed)
    saved = _save(m, root, current, {"store_id": store_id, "generation": gen})
    if saved is None:
        return m
    # serve from the files just written, as every other reader does: the built arrays are
    # freed (9 GB at 100M) and the tables are read through the page cache, whose large
    # folios cut the TLB misses of a query's ~30,000 scattered reads (100M, per CPU second:
    # the built copy 820 uniform and 331 clustered queries, the same tables mapped 1,481
    # and 502; bench/bench_index.py)
    try:
        return Matcher.load(root / saved, thresholds, percent)[0]
    except IndexFileError as e:
        log.warning("list index just saved under %s does not open, using it from memory: %s",
                    root / saved, e)
        return m


def pdq_chunks(store: Store, chunk: int = 200_000) -> Iterator[np.ndarray]:
    """The store's Hamming-indexed list values (PDQ), in entry-id order, as uint8[k, 32]
    chunks of at most `chunk` rows: read from the database as they come, never all at once
    (the source `HammingIndex.from_chunks` builds from)."""
    for codes, _ in pdq_entry_chunks(store, chunk):
        yield codes


def pdq_entry_chunks(store: Store, chunk: int = 200_000
                     ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """As `pdq_chunks`, each chunk with its rows' entry ids (int64[k]): what the index
    shards of a cluster scan are built from (cluster/shards.py)."""
    hamming = {s.name for s in types.REGISTRY.values() if s.index == "hamming"}
    rows: list[bytes] = []
    ids: list[int] = []
    for entry_id, _, signal_type, value, *_ in store.lists.entries():
        if signal_type in hamming:
            rows.append(bytes.fromhex(value))
            ids.append(entry_id)
            if len(rows) >= chunk:
                yield _chunk(rows, ids)
                rows, ids = [], []
    if rows:
        yield _chunk(rows, ids)


def _chunk(rows: list[bytes], ids: list[int]) -> tuple[np.ndarray, np.ndarray]:
    return (np.frombuffer(b"".join(rows), dtype=np.uint8).reshape(-1, 32),
            np.asarray(ids, dtype=np.int64))


def build_pdq_index(store: Store, chunk: int = 200_000) -> HammingIndex:
    """A Hamming index over every PDQ list entry (row i: the i-th in entry-id order), built
    by streaming from the store: one copy of the hashes, appended in place as they arrive."""
    return HammingIndex.from_chunks(pdq_chunks(store, chunk))


def match_records(store: Store, matcher: Matcher, records: Sequence[Mapping[str, Any]]
                  ) -> tuple[Matcher, list[list[Match]]]:
    """Each record's matches. An index whose files turn out damaged while it is read (right
    sizes, impossible contents: found only by the query that meets them) is set aside and
    rebuilt from the store, and the records are matched again; returns the matcher to go on
    with."""
    try:
        return matcher, matcher.match_many(records)
    except IndexFileError as e:
        log.warning("list index damaged, rebuilding it from the store: %s", e)
        set_aside(store)
        matcher = open_matcher(store)
        return matcher, matcher.match_many(records)


def set_aside(store: Store) -> None:
    """Forget the current index folder (a reader may still hold it): the next open rebuilds."""
    if store.home is not None:
        (Path(store.home) / "index" / "CURRENT").unlink(missing_ok=True)


def index_root(store: Store) -> Path | None:
    """Where a store's persisted list index lives (None: an in-memory store)."""
    return None if store.home is None else Path(store.home) / "index"


def current_folder(root: Path) -> str | None:
    """The folder `CURRENT` names under `root`, if it is there."""
    try:
        name = (root / "CURRENT").read_text().strip()
    except OSError:
        return None
    return name if name and "/" not in name and (root / name).is_dir() else None


def _save(m: Matcher, root: Path, previous: str | None, header: dict) -> str | None:
    """Write a new index folder and point CURRENT at it; returns its name, or None where
    it could not be written (a store on read-only media keeps working from the in-memory
    index)."""
    name = f"g{header['generation']}-{uuid.uuid4().hex[:8]}"
    try:
        root.mkdir(parents=True, exist_ok=True)
        m.save(root / name, header, previous=root / previous if previous else None)
        tmp = root / f"CURRENT.{name}"
        tmp.write_text(name + "\n")
        os.replace(tmp, root / "CURRENT")
    except OSError as e:
        log.warning("could not save the list index under %s: %s", root, e)
        shutil.rmtree(root / name, ignore_errors=True)
        return None
    for old in root.iterdir():  # keep the new folder and the previous (a reader may hold it)
        if old.is_dir() and old.name not in (name, previous):
            shutil.rmtree(old, ignore_errors=True)
    return name
