"""Where the time of `cairn lists import --append` goes, phase by phase (issue 20's 1M onto a
100M list): one append of K new random PDQ hashes to the bench_append store at `--home`,
making the CLI's calls in the CLI's order in one process (open_list, `Lists.add` with
`stix_id=stix.indicator_id`, `open_matcher`), with each phase's wall and CPU seconds and
the bytes it read from and wrote to storage (/proc/self/io).

    nice .venv/bin/python bench/append_phases.py --home /tmp/b100m-app --append 1M

Nothing is reimplemented: the phases are read off wrappers around the calls `Lists.add` and
`open_matcher` make (the entry generator, `indicator_id`, the connection's statements, the
transaction's commit, the index's load/extend/save). One change of order: the connection's
automatic WAL checkpoint is turned off and the same PASSIVE checkpoint run right after the
commit, so the WAL's size and the checkpoint's time can be read apart from the COMMIT's.
Each run adds K rows to the list: say the size each figure is at.
"""

from __future__ import annotations

import os
import time

T_START = time.perf_counter()

import argparse  # noqa: E402
import sys  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

WALL: dict[str, float] = {}
CPU: dict[str, float] = {}


def since_exec() -> float:
    """Seconds since this process started (/proc: boot-relative start time in ticks)."""
    start = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
    uptime = float(Path("/proc/uptime").read_text().split()[0])
    return uptime - start / os.sysconf("SC_CLK_TCK")


def io() -> tuple[int, int]:
    got = dict(line.split(": ") for line in Path("/proc/self/io").read_text().splitlines())
    return int(got["read_bytes"]), int(got["write_bytes"])


def add(label: str, wall: float, cpu: float) -> None:
    WALL[label] = WALL.get(label, 0.0) + wall
    CPU[label] = CPU.get(label, 0.0) + cpu


class Phase:
    """A timed block: wall, CPU and storage bytes, printed at its end."""

    def __init__(self, label: str) -> None:
        self.label = label

    def __enter__(self) -> Phase:
        self.w, self.c, self.io = time.perf_counter(), time.process_time(), io()
        return self

    def __exit__(self, *exc: object) -> None:
        wall, cpu = time.perf_counter() - self.w, time.process_time() - self.c
        r, w = (b - a for a, b in zip(self.io, io(), strict=True))
        print(f"{self.label:44s} {wall:7.1f} s wall {cpu:7.1f} s cpu   read "
              f"{r / 2**30:6.2f} GiB  written {w / 2**30:6.2f} GiB", flush=True)


def show(labels: list[str]) -> None:
    for label in labels:
        print(f"{label:44s} {WALL.get(label, 0):7.1f} s wall {CPU.get(label, 0):7.1f} s cpu")


def pages(home: Path) -> None:
    """Pages of the two indexes keyed on random values, which an append rewrites in place
    (dbstat: reads each b-tree whole), their leaves and how full those are."""
    import sqlite3

    db = sqlite3.connect(home / "cairn.db")
    for name in ("sqlite_autoindex_list_entries_1", "ix_entries_stix_id"):
        n, leaves, size, unused = db.execute(
            "SELECT count(*), sum(pagetype = 'leaf'), sum(pgsize), sum(unused) FROM dbstat "
            "WHERE name = ?", (name,)).fetchone()
        print(f"  {name:32s} {n:12,} pages ({leaves:,} leaves) {size / 2**30:6.2f} GiB, "
              f"{1 - unused / size:.0%} full", flush=True)
    db.close()


def timed_iter(it: Iterator[Any], label: str) -> Iterator[Any]:
    """`it`, the time spent producing its items counted under `label`."""
    while True:
        w, c = time.perf_counter(), time.process_time()
        try:
            x = next(it)
        except StopIteration:
            add(label, time.perf_counter() - w, time.process_time() - c)
            return
        add(label, time.perf_counter() - w, time.process_time() - c)
        yield x


def timed_call(fn: Callable[..., Any], label: str) -> Callable[..., Any]:
    def call(*a: Any, **k: Any) -> Any:
        w, c = time.perf_counter(), time.process_time()
        try:
            return fn(*a, **k)
        finally:
            add(label, time.perf_counter() - w, time.process_time() - c)
    return call


class TimedConnection:
    """The import's connection, its statements timed by kind (staging, the sorted INSERT)."""

    def __init__(self, c: Any) -> None:
        self.c = c

    def exec_driver_sql(self, sql: str, *a: Any) -> Any:
        label = ("  stage into temp.import_entries" if sql.startswith("INSERT INTO temp.")
                 else "  sorted INSERT INTO list_entries" if sql.startswith("INSERT INTO")
                 else "  other statements")
        return timed_call(self.c.exec_driver_sql, label)(sql, *a)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.c, name)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--home", required=True, type=Path)
    ap.add_argument("--append", default="1M")
    ap.add_argument("--name", default="BENCH_LIST")
    ap.add_argument("--only", choices=("store", "index"),
                    help="store: stop after the checkpoint (the index may be elsewhere); "
                         "index: only bring the list index up to date (open_matcher), e.g. "
                         "after a `--only store` run, the index put back")
    ap.add_argument("--truncate-wal", action="store_true",
                    help="empty the WAL file after the checkpoint (the CLI keeps it until its "
                         "last connection closes): for a disk without room for the WAL and "
                         "the index's new generation at once")
    ap.add_argument("--pages", action="store_true",
                    help="only count the pages of the value-keyed indexes (dbstat)")
    args = ap.parse_args()
    if args.pages:
        pages(args.home)
        return
    k = int(float(args.append.rstrip("kM")) * {"k": 1e3, "M": 1e6}.get(args.append[-1], 1))
    started = since_exec() - (time.perf_counter() - T_START)
    print(f"{'interpreter start-up (before this script)':44s} {started:7.2f} s wall")

    rng = np.random.default_rng(int(time.time() * 1000) % 2**32)
    more = args.home.parent / f"{args.home.name}-phases-{k}.txt"
    hexes = np.array([f"{i:02x}".encode() for i in range(256)], dtype="S2")
    more.write_bytes(b"\n".join(hexes[rng.integers(0, 256, (k, 32), dtype=np.uint8)]
                                .view("S64").ravel()) + b"\n")

    with Phase("imports (cli, formats, store, listindex)"):
        from sqlalchemy import event

        import cairn.cli.main  # noqa: F401  # what `cairn` loads before the command runs
        import cairn.scan.listindex as li
        import cairn.store.lists as lists_mod
        from cairn.lists.formats import open_list, stix
        from cairn.scan.listindex import open_matcher
        from cairn.store.store import Store

    with Phase("open store"):
        store = Store.open(args.home)

        @event.listens_for(store.engine, "connect")
        def _no_autocheckpoint(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.execute("PRAGMA wal_autocheckpoint = 0")

        store.engine.dispose()
        store.lists.max_entry_id()  # the CLI asks it first (for --rematch)
        entries0 = store.lists.info(args.name)["entry_count"]
    if args.only == "index":
        more.unlink()
        index_phases(store, li, open_matcher, started)
        return
    print(f"list {args.name}: {entries0:,} entries before; appending {k:,}")

    commit_at: list[float] = []
    event.listen(store.engine, "commit", lambda _c: commit_at.append(time.perf_counter()))
    orig_insert = lists_mod._insert_entries_sorted
    lists_mod._insert_entries_sorted = lambda c, rows: orig_insert(  # type: ignore[assignment]
        TimedConnection(c), timed_iter(iter(rows), "  parse + rows (incl. STIX ids)"))
    with Phase("Lists.add (the transaction, with COMMIT)"):
        used, entries, rejected = open_list(more, "plain", "pdq")
        res = store.lists.add(args.name, str(more), used, 31,
                              (e.to_dict() for e in entries), rejected, append=True,
                              stix_id=timed_call(stix.indicator_id, "    of which STIX ids"))
        done = time.perf_counter()
    add("  COMMIT (WAL written, no checkpoint)", done - commit_at[-1], 0.0)
    show(["  parse + rows (incl. STIX ids)", "    of which STIX ids",
          "  stage into temp.import_entries", "  sorted INSERT INTO list_entries",
          "  other statements", "  COMMIT (WAL written, no checkpoint)"])
    wal = Path(f"{args.home / 'cairn.db'}-wal")
    page = store.engine.connect().exec_driver_sql("PRAGMA page_size").scalar_one()
    size = wal.stat().st_size
    print(f"WAL after the commit: {size / 2**30:.2f} GiB, ~{(size - 32) // (page + 24):,} "
          f"pages of {page} bytes; {res['added']:,} added, {res['entries']:,} entries")
    with Phase("WAL checkpoint (PASSIVE, as autocheckpoint)"), store.engine.connect() as c:
        print("  busy, log, checkpointed:",
              c.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").fetchall())
    if args.truncate_wal:
        with store.engine.connect() as c:
            c.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        print(f"  WAL truncated (--truncate-wal): {wal.stat().st_size:,} bytes")

    more.unlink()
    if args.only == "store":
        return
    if index_phases(store, li, open_matcher, started) != res["entries"]:
        sys.exit("index and store disagree")


def index_phases(store: Any, li: Any, open_matcher: Callable[..., Any], started: float) -> int:
    """open_matcher as the CLI's `_refresh_index` calls it, its parts timed; its length."""
    WALL.clear()
    CPU.clear()
    Matcher = li.Matcher
    Matcher.load = timed_call(Matcher.load, "  index loaded")  # type: ignore[method-assign]
    Matcher.extend = timed_call(Matcher.extend, "  index extended (incl. rows read)")  # type: ignore[method-assign]
    orig_entries = store.lists.entries
    store.lists.entries = lambda after_id=0: timed_iter(  # type: ignore[method-assign]
        orig_entries(after_id), "    of which new rows read from the store")
    li._save = timed_call(li._save, "  index saved")  # type: ignore[attr-defined]
    store.lists.changed = timed_call(store.lists.changed,  # type: ignore[method-assign]
                                     "  changed entries looked up")
    with Phase("open_matcher (index opened, extended, saved)"):
        m = open_matcher(store)
    show(["  index loaded", "  changed entries looked up",
          "  index extended (incl. rows read)", "    of which new rows read from the store",
          "  index saved"])
    print(f"index: {len(m):,} entries; process total {time.perf_counter() - T_START + started:.1f}"
          f" s (incl. writing the new hashes' file); load average {os.getloadavg()[0]:.2f}")
    return len(m)


if __name__ == "__main__":
    main()
