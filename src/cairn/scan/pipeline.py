"""Source -> items: walk, fan out to worker processes, match, record in batches.

Resumable by construction: a top-level file is skipped when the store already holds it with
the same size and mtime (unless its worker failed on it: then it is read again), and a record
whose location (`store.identity`) holds the same state is not inserted twice, so a rescan
after Ctrl-C or kill -9 finishes the work without duplicates. A run that finishes closes the
earlier unfinished runs of its source (`superseded`).

A store error while recording (the database refuses a row, or is gone) is raised once: the
batch that failed is offered again record by record and kept up to the one refused (never
past it: an archive comes after its members, and a recorded archive is taken as done),
nothing recorded before is lost, and the run is ended `failed` with the error in its summary.

Files are read by isolated workers (`scan/isolation.py`): a file that makes its worker raise,
run out of memory, time out or crash becomes an item with an error, a fresh worker takes over,
and the summary counts it (`worker_failures`).
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from cairn import __version__
from cairn.lists.matcher import Matcher
from cairn.media.limits import Limits
from cairn.media.walk import DiskEntry, walk
from cairn.records import NewMatch, ScanRecord
from cairn.scan.caps import Caps, default_caps
from cairn.scan.interrupt import Interrupted, deferred
from cairn.scan.interrupt import check as check_interrupt
from cairn.scan.isolation import WorkerPool, warm_up
from cairn.scan.listindex import current_folder, index_root, match_records, open_matcher
from cairn.scan.options import HashOptions, Split
from cairn.store import Store
from cairn.store.common import StoreError

BATCH_RECORDS = 200
BATCH_SECONDS = 0.5


@dataclass
class ScanSummary:
    case: str
    source: str
    location: str
    run_id: int
    status: str = "running"
    entries_found: int = 0
    skipped_already_recorded: int = 0
    new_items: int = 0
    new_matches: int = 0
    worker_failures: int = 0  # files whose worker raised, ran out of memory, timed out or died
    error: str | None = None  # why the run failed, when it did
    seconds: float = 0.0
    totals: dict = field(default_factory=dict)

    @property
    def files_per_second(self) -> float:
        return self.new_items / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict:
        return {
            "case": self.case, "source": self.source, "location": self.location,
            "run_id": self.run_id, "status": self.status, "entries_found": self.entries_found,
            "skipped_already_recorded": self.skipped_already_recorded,
            "new_items": self.new_items, "new_matches": self.new_matches,
            "worker_failures": self.worker_failures, "error": self.error,
            "seconds": round(self.seconds, 3), "files_per_second": round(self.files_per_second, 1),
            "totals": self.totals,
        }


def matcher_for(store: Store) -> Matcher:
    """A matcher over every active list entry, from the persisted list index."""
    return open_matcher(store)


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def open_run(store: Store, case: str, name: str, loc: str, arguments: dict
             ) -> tuple[int, int]:
    """(source id, run id) of a new `running` run of source `name` at `loc` in `case` (opened
    if new); a name taken by another location is refused before anything is written."""
    existing = store.cases.id(case)
    if existing is not None:  # refused before anything is written (SourceNameTaken)
        store.cases.check_source_name(existing, name, loc)
    case_id = store.cases.id(case, create=True)
    assert case_id is not None
    source_id = store.cases.source_id(case_id, name, loc)
    with deferred(then_raise=False):  # a Ctrl-C here is raised where the run is closed
        run_id = store.runs.start(case_id, source_id, __version__, _examiner(),
                                  socket.gethostname(), arguments)
    return source_id, run_id


def scan(
    store: Store,
    case: str,
    location: str | Path,
    *,
    source_name: str | None = None,
    limits: Limits | None = None,
    workers: int | None = None,
    options: HashOptions | None = None,
    arguments: dict | None = None,
    on_total: Callable[[int], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
    caps: Caps | None = None,
    split: Split | bool | None = None,
) -> ScanSummary:
    """Scan `location` into `case`. `split`: read large disk images and zips in parts
    (scan/units.py), with these thresholds or the defaults (True); None: split when there
    is more than one worker (one worker gains nothing from it)."""
    limits = limits or Limits()
    options = options or HashOptions()
    workers = workers or default_workers()
    parts = split_of(split, workers)
    caps = caps or default_caps(workers)
    loc = os.path.abspath(os.fsdecode(location))
    if not os.path.lexists(loc):
        raise FileNotFoundError(f"evidence not found: {loc}")
    name = source_name or os.path.basename(loc.rstrip("/")) or loc
    source_id, run_id = open_run(store, case, name, loc,
                                 (arguments or {}) | {"location": loc, "workers": workers,
                                                      "pdq_mode": options.mode,
                                                      "video_interval": options.video_interval,
                                                      "limits": limits.to_dict()}
                                 | caps.to_dict())
    summary = ScanSummary(case, name, loc, run_id)
    started = time.monotonic()
    batch: list[ScanRecord] = []
    last_flush = time.monotonic()
    matcher: Matcher | None = None

    def flush() -> None:
        nonlocal last_flush, matcher
        if batch and matcher is not None:
            pending = batch[:]
            batch.clear()  # offered to the store once, whatever it answers
            matcher, matches = match_records(store, matcher, pending)
            found = [[m.to_dict() for m in ms] for ms in matches]
            with deferred():  # a Ctrl-C never lands inside the batch's transaction
                new, kept, refused = record_batch(store, source_id, run_id, pending, found)
            summary.new_items += new
            summary.new_matches += sum(1 for f in found[:kept] if f)
            if refused is not None:
                raise refused
        last_flush = time.monotonic()

    status = "failed"
    pool: WorkerPool | None = None
    try:  # from here on, however it ends, the run is closed with what happened
        check_interrupt()  # one that came while the run was opened
        warm_up()  # the fork server imports the readers while the list index opens
        matcher = matcher_for(store)
        pool = WorkerPool(workers, limits, with_list_index(store, options), caps, parts)
        done = store.runs.done_paths(source_id)
        todo: list[DiskEntry] = []
        for e in walk(loc):
            check_interrupt()  # a long walk, too, stops at a dropped Ctrl-C (interrupt.py)
            summary.entries_found += 1
            prev = done.get(e.path)
            if prev is not None and prev == (e.size, e.mtime):
                summary.skipped_already_recorded += 1
                continue
            todo.append(e)
        if on_total:
            on_total(len(todo))
        for records, finished in pool.run(todo):
            batch.extend(records)
            if finished and on_progress:
                on_progress(1)
            if len(batch) >= BATCH_RECORDS or time.monotonic() - last_flush > BATCH_SECONDS:
                flush()
        flush()
        status = "complete"
    except (KeyboardInterrupt, Interrupted):
        status = "interrupted"
        raise
    except Exception as e:
        summary.error = f"{type(e).__name__}: {e}"[:2000]
        raise
    finally:
        if pool is not None:
            pool.close()  # no worker outlives the scan
            summary.worker_failures = len(pool.failures)
        if status != "complete":
            try:
                flush()  # keep what finished before Ctrl-C
            except Exception as e:  # noqa: BLE001 - the error already leaving wins; say this one
                summary.error = summary.error or f"{type(e).__name__}: {e}"[:2000]
        summary.status = status
        summary.seconds = time.monotonic() - started
        summary.totals = store.cases.source_counts(source_id)
        store.runs.end(run_id, status, summary.to_dict())
    return summary


def split_of(split: Split | bool | None, workers: int) -> Split | None:
    """The thresholds a scan splits disk images by, or None when it reads them whole."""
    if isinstance(split, Split):
        return split
    return Split() if split or (split is None and workers > 1) else None


def with_list_index(store: Store, options: HashOptions) -> HashOptions:
    """The options workers get: with the list index folder the scan's matcher was opened
    from, so that a worker makes a picture's trimmed/cropped variants only when its plain
    hash matched nothing there. Unchanged (variants for every picture) when there is no
    such folder or it is not the store's current generation (a store on read-only media
    matches from memory)."""
    root = index_root(store)
    name = current_folder(root) if options.fallbacks and root is not None else None
    if root is None or name is None:
        return options
    try:
        header = json.loads((root / name / "header.json").read_text())
    except (OSError, ValueError):
        return options
    if header.get("generation") != store.lists.generations()[1]:
        return options
    return replace(options, list_index=str(root / name), pdq_thresholds=tuple(sorted(
        (x["id"], x["pdq_threshold"]) for x in store.lists.all(counts=False))))


def record_batch(store: Store, source_id: int, run_id: int, records: list[ScanRecord],
                 found: list[list[NewMatch]]) -> tuple[int, int, StoreError | None]:
    """Record a batch in one transaction; when the store refuses it, record one by one up to
    the record refused (those before it are kept). Returns how many are new, how many were
    recorded or already there, and the error naming the record refused, if one was."""
    try:
        return store.records.add(source_id, run_id, records, found), len(records), None
    except Exception:  # noqa: BLE001 - which record? asked one at a time below
        pass
    new = 0
    for i, (rec, matches) in enumerate(zip(records, found, strict=True)):
        try:
            new += store.records.add(source_id, run_id, [rec], [matches])
        except Exception as e:  # noqa: BLE001 - named and raised by the caller
            why = getattr(e, "orig", None) or e  # the database's own words, not the SQL
            err = StoreError(f"cannot record {rec['path']!r} (scan run {run_id}): "
                             f"{type(why).__name__}: {str(why)[:500]}")
            err.__cause__ = e
            return new, i, err
    return new, len(records), None


def _examiner() -> str:
    """Who the record names: $CAIRN_EXAMINER (as the custody log does), else the login."""
    if os.environ.get("CAIRN_EXAMINER"):
        return os.environ["CAIRN_EXAMINER"]
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())
