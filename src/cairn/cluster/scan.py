"""A source scanned by Ray tasks on any node of a cluster, recorded in PostgreSQL.

The driver (the `cairn scan --engine ray` process) walks the source, skips what the store
already holds (as a local scan does), and splits the rest into **work units**: runs of
top-level entries in walk order, at most `UNIT_FILES` files or `UNIT_BYTES` bytes each (a
file larger than that is a unit alone). An archive is read whole by one unit, its members
with it, except a zip of `Split.min_image` bytes or more, planned as a disk image is. A disk
image of `Split.min_image` bytes or more (`Job.split`) is planned by the node that meets it
into parts (scan/units.py: per volume, runs of its files, and its carving; a zip's: runs of
its members, media/zipparts.py),
which go back to the driver and to the front of the queue, each a unit of its own, and a
tail (the image's own record), which the node returns rather than records: the driver
records it once every part is in (scan/units.SplitImage), matched by the one matcher it
keeps for the command (searching the shards with `index_shards`). Each unit is a Ray task
that, on whichever node runs it:

- reads its files in #8's isolated worker (`scan/isolation.py`, one per task slot, warm between
  units): a file that kills or exhausts the worker becomes an item with an error there, on
  that node, exactly as in a local scan;
- matches the records against the node's own list index (`scan/listindex.py`, memory-mapped
  from `$CAIRN_HOME/index` on that node, built once from the store and caught up with it);
- writes them to PostgreSQL in batches with the store's idempotent writes (`records.add`),
  members before their archive, and returns only counts.

So the driver holds progress, never records. `scan_many` takes several sources (devices) of
a case at once: a run each, their units in one queue, each run closed with its last unit.
Faults:

- a node or Ray worker that dies mid-unit: Ray runs the unit again elsewhere (`ATTEMPTS`
  times in all); what the first attempt wrote is skipped by the idempotent writes, so no item
  is lost or doubled;
- a unit that kills its Ray worker `ATTEMPTS` times: split into one-file units, each retried
  `ATTEMPTS` times; a file that still kills them is hashed (no decoding) by the driver and
  recorded as an item with that error; a part that does is an error on its image's record;
- the driver killed: the run is left `running` with a dead process; rerunning the command
  skips every file already recorded (`runs.done_paths`) and finishes, superseding it.
"""

from __future__ import annotations

import os
import signal
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import ray
from ray.exceptions import RayError, RayTaskError

from cairn.cluster import ClusterError, connect, progress, shards
from cairn.lists.matcher import Matcher
from cairn.media.limits import Limits
from cairn.media.walk import DiskEntry, walk
from cairn.records import NewMatch, ScanRecord
from cairn.scan.caps import default_caps
from cairn.scan.interrupt import Interrupted
from cairn.scan.interrupt import check as check_interrupt
from cairn.scan.isolation import FAULT_ENV, WorkerPool
from cairn.scan.listindex import match_records, open_matcher
from cairn.scan.options import Split
from cairn.scan.pipeline import (
    BATCH_RECORDS,
    ScanSummary,
    default_workers,
    open_run,
    record_batch,
    split_of,
)
from cairn.scan.units import SplitImage, Unit
from cairn.scan.worker import HashOptions, identity_record
from cairn.store import Store
from cairn.store.store import default_home

UNIT_FILES = 32  # files per unit: a Ray task costs ~2 ms, a batch write ~10 ms (see bench)
UNIT_BYTES = 256 << 20  # so a unit of large videos is still minutes, not hours
ATTEMPTS = 3  # runs of a unit (Ray's retries included) before it is split / given up

Match = Callable[[list[ScanRecord]], list[list[NewMatch]]]  # records -> each one's matches


@dataclass(frozen=True)
class Job:
    """What every unit of one run needs, put in the object store once."""

    url: str  # PostgreSQL, as the driver has it (every node writes there)
    source_id: int
    run_id: int
    limits: Limits
    options: HashOptions
    memory: int | None  # per isolated worker; None: each node's default for its cores
    timeout: float | None  # per top-level file; None: the default
    home: str | None = None  # where a node keeps its list index; None: its $CAIRN_HOME
    pdq_shards: Any = None  # a shards.ShardedIndex: PDQ matched through its actors
    split: Split | None = None  # plan large disk images into parts; None: read them whole


@dataclass
class UnitResult:
    files: int
    new_items: int = 0
    new_matches: int = 0
    failures: list[str] = field(default_factory=list)  # "path: what happened"
    node: str = ""
    seconds: float = 0.0
    plans: list[tuple[DiskEntry, list]] = field(default_factory=list)  # images planned here
    given_up: list[tuple[DiskEntry, str]] = field(default_factory=list)  # parts, and why
    noted: list[tuple[DiskEntry, str]] = field(default_factory=list)  # parts' container errors
    held: list[ScanRecord] = field(default_factory=list)  # a tail's records, not recorded


@dataclass
class _Matching:
    """A store's matcher kept between batches, opened again when its lists change; its PDQ
    lookups go to the run's shard actors where there are some. A node keeps one (per store);
    the driver one for what it records itself (split images' records, files given up)."""

    store: Store
    matcher: Matcher | None = None
    generation: tuple | None = None

    def match(self, records: list[ScanRecord], sharded: shards.ShardedIndex | None
              ) -> list[list[NewMatch]]:
        """Each record's matches, as `record_batch` takes them."""
        gen = (*self.store.lists.generations(), sharded is None)
        if self.matcher is None or self.generation != gen:
            self.matcher, self.generation = open_matcher(self.store), gen
        self.matcher, matches = match_records(
            self.store, shards.searched_by(self.matcher, sharded), records)
        return [[m.to_dict() for m in ms] for ms in matches]


# -- on a node -------------------------------------------------------------------------------
class _Node:
    """Per Ray worker process: one store and its matcher, one isolated worker pool; kept
    warm."""

    matching: _Matching | None = None
    pool: WorkerPool | None = None
    pool_key: tuple | None = None


def _matching(job: Job) -> _Matching:
    """The node's store of `job`'s database, with its matcher."""
    m = _Node.matching
    if m is None or m.store.url != job.url:
        if m is not None:
            m.store.close()  # another database now: no idle connections left to the last
        home = Path(job.home) if job.home else default_home()
        home.mkdir(parents=True, exist_ok=True)
        _Node.matching = m = _Matching(Store(job.url, home))
    return m


def _pool(job: Job) -> WorkerPool:
    caps = default_caps(default_workers(), job.memory, job.timeout)
    key = (job.limits, job.options, caps, job.split)
    if _Node.pool is None or _Node.pool_key != key:
        if _Node.pool is not None:
            _Node.pool.close()
        _Node.pool, _Node.pool_key = WorkerPool(1, job.limits, job.options, caps, job.split,
                                                expand=False), key
    return _Node.pool


def _entry(x: DiskEntry | Unit) -> DiskEntry:
    return x.entry if isinstance(x, Unit) else x


def _test_fault(entries: Sequence[DiskEntry | Unit]) -> None:
    """Test-only: `CAIRN_TEST_WORKER_FAULT=NAME:ray` kills the Ray worker itself (not the
    isolated child) on a unit holding NAME; nothing in Cairn sets it."""
    name, _, action = (os.environ.get(FAULT_ENV) or "").rpartition(":")
    if action == "ray" and any(_entry(e).path.endswith(name) for e in entries):
        os.kill(os.getpid(), signal.SIGKILL)


def scan_unit(job: Job, entries: Sequence[DiskEntry | Unit]) -> UnitResult:
    """Read, match and record one unit; its records go to PostgreSQL, its counts back (a
    split image's tail: its records back, for the driver to record after the parts)."""
    started = time.monotonic()
    _test_fault(entries)
    matching = _matching(job)
    store = matching.store
    pool = _pool(job)
    failed_before = len(pool.failures)
    pool.plans.clear()
    pool.given_up.clear()
    pool.noted.clear()
    whole = sum(1 for e in entries if not isinstance(e, Unit))  # parts and tails: no file
    out = UnitResult(whole, node=ray.get_runtime_context().get_node_id())
    tail = any(isinstance(e, Unit) and e.tail for e in entries)
    batch: list[ScanRecord] = []

    def flush() -> None:
        if not batch:
            return
        found = matching.match(batch, job.pdq_shards)
        new, kept, refused = record_batch(store, job.source_id, job.run_id, batch, found)
        out.new_items += new
        out.new_matches += sum(1 for f in found[:kept] if f)
        batch.clear()
        if refused is not None:
            raise refused

    for records, _ in pool.run(entries):
        (out.held if tail else batch).extend(records)
        if len(batch) >= BATCH_RECORDS:
            flush()
    flush()
    out.plans, out.given_up, out.noted = pool.plans[:], pool.given_up[:], pool.noted[:]
    out.failures = pool.failures[failed_before:]
    out.seconds = time.monotonic() - started
    return out


_remote_unit = ray.remote(num_cpus=1, max_retries=ATTEMPTS - 1, retry_exceptions=False)(
    scan_unit)


# -- the driver ------------------------------------------------------------------------------
def units(entries: list[DiskEntry], files: int = UNIT_FILES, size: int = UNIT_BYTES
          ) -> Iterator[list[DiskEntry]]:
    """Runs of entries in walk order, at most `files` entries or `size` bytes each."""
    unit: list[DiskEntry] = []
    held = 0
    for e in entries:
        if unit and (len(unit) >= files or held + (e.size or 0) > size):
            yield unit
            unit, held = [], 0
        unit.append(e)
        held += e.size or 0
    if unit:
        yield unit


def _window() -> int:
    """Units in flight: two per CPU of the cluster, so no slot waits on the driver."""
    return max(2, 2 * int(ray.cluster_resources().get("CPU", 1)))


@dataclass
class _Source:
    """One source of the command: its run, its summary, its units not yet done."""

    summary: ScanSummary
    source_id: int
    job: ray.ObjectRef  # its Job, in the object store
    started: float
    remaining: int = 0
    status: str = "failed"


def scan(store: Store, case: str, location: str | Path, *, source_name: str | None = None,
         **kwargs: Any) -> ScanSummary:
    """`scan.pipeline.scan` with Ray tasks for workers: the same items, matches and findings."""
    return scan_many(store, case, [location], source_names=[source_name], **kwargs)[0]


def scan_many(
    store: Store,
    case: str,
    locations: Sequence[str | Path],
    *,
    address: str | None = None,
    source_names: Sequence[str | None] | None = None,
    limits: Limits | None = None,
    options: HashOptions | None = None,
    max_worker_memory: int | None = None,
    file_timeout: float | None = None,
    node_home: str | None = None,
    split: Split | bool | None = None,
    unit_files: int = UNIT_FILES,
    attempts: int = ATTEMPTS,
    index_shards: int = 0,
    arguments: dict | None = None,
    on_total: Callable[[int], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> list[ScanSummary]:
    """Several sources (devices) of one case in one pass over the cluster: one run each,
    their units in one queue, each run closed as soon as its last unit is in.
    `index_shards` N > 0: the lists' PDQ hashes go into N actors (cluster/shards.py) that
    every unit's matcher searches, ended with the command. `split`: large disk images read
    in parts (None: when the cluster has more than one CPU)."""
    if store.engine.dialect.name != "postgresql":
        raise ClusterError("a scan on a Ray cluster records to PostgreSQL, which every node "
                           "reaches: set CAIRN_DATABASE_URL=postgresql+psycopg://...")
    limits = limits or Limits()
    options = options or HashOptions()
    locs = [os.path.abspath(os.fsdecode(x)) for x in locations]
    for loc in locs:  # refused before anything is written
        if not os.path.lexists(loc):
            raise FileNotFoundError(f"evidence not found: {loc}")
    names = list(source_names or [None] * len(locs))
    connect(address)
    cpus = int(ray.cluster_resources().get("CPU", 0))
    tracker = progress.actor()
    pdq_shards = shards.for_store(store, index_shards) if index_shards else None
    sources: list[_Source] = []
    queue: deque[tuple[_Source, list[DiskEntry]]] = deque()
    try:
        todo_total = 0
        for loc, given in zip(locs, names, strict=True):
            name = given or os.path.basename(loc.rstrip("/")) or loc
            source_id, run_id = open_run(store, case, name, loc, (arguments or {}) | {
                "location": loc, "engine": "ray", "cluster_cpus": cpus,
                "unit_files": unit_files, "index_shards": index_shards,
                "pdq_mode": options.mode,
                "video_interval": options.video_interval, "limits": limits.to_dict(),
                "max_worker_memory": max_worker_memory, "file_timeout": file_timeout})
            job = ray.put(Job(store.url, source_id, run_id, limits, options,
                              max_worker_memory, file_timeout, node_home, pdq_shards,
                              split_of(split, cpus)))
            src = _Source(ScanSummary(case, name, loc, run_id), source_id, job,
                          time.monotonic())
            sources.append(src)
            check_interrupt()  # one that came while the run was opened (scan/interrupt.py)
            done = store.runs.done_paths(source_id)
            todo: list[DiskEntry] = []
            for e in walk(loc):
                src.summary.entries_found += 1
                prev = done.get(e.path)
                if prev is not None and prev == (e.size, e.mtime):
                    src.summary.skipped_already_recorded += 1
                    continue
                todo.append(e)
            its = list(units(todo, unit_files))
            src.remaining = len(its)
            queue.extend((src, u) for u in its)
            todo_total += len(todo)
            tracker.started.remote(run_id, case, name, len(its), len(todo))
        if on_total:
            on_total(todo_total)
        for src in sources:
            if src.remaining == 0:  # nothing new in it
                _end(store, tracker, src, "complete")
        # one matcher for what the driver records itself (split images' records, files
        # given up), searching the nodes' shards where there are some
        match = partial(_Matching(store).match, sharded=pdq_shards)
        _drive(store, match, queue, tracker, attempts, on_progress)
    except (KeyboardInterrupt, Interrupted):
        for src in sources:
            src.status = "interrupted"
        raise
    except RayTaskError as e:  # a unit raised (the store refused a record): the run fails
        cause = e.as_instanceof_cause() if hasattr(e, "as_instanceof_cause") else e
        for src in sources:
            src.summary.error = f"{type(cause).__name__}: {cause}"[:2000]
        raise
    except Exception as e:
        for src in sources:
            src.summary.error = f"{type(e).__name__}: {e}"[:2000]
        raise
    finally:
        for src in sources:
            if src.summary.status == "running":  # not closed by its last unit
                _end(store, tracker, src, src.status)
        if pdq_shards is not None:
            pdq_shards.close()
    return [src.summary for src in sources]


def _end(store: Store, tracker: ray.actor.ActorHandle, src: _Source, status: str) -> None:
    s = src.summary
    tracker.ended.remote(s.run_id, status)
    s.status = status
    s.seconds = time.monotonic() - src.started
    s.totals = store.cases.source_counts(src.source_id)
    store.runs.end(s.run_id, status, s.to_dict())


def _planned(queue: deque, images: dict[tuple[int, str], SplitImage], src: _Source,
             res: UnitResult, tracker: ray.actor.ActorHandle) -> None:
    """The images a unit planned: their parts at the front of the queue, the tail first."""
    for entry, parts in res.plans:
        images[(src.summary.run_id, entry.path)] = SplitImage(len(parts))
        queue.extendleft(reversed([(src, [Unit(entry, tail=True)])]
                                  + [(src, [Unit(entry, p)]) for p in parts]))
        src.remaining += len(parts) + 1
        tracker.split.remote(src.summary.run_id, len(parts) + 1)


def _image_step(store: Store, match: Match, images: dict[tuple[int, str], SplitImage],
                src: _Source, unit: Unit, res: UnitResult) -> None:
    """A part or tail is in; with the last of them, the image's own record is recorded."""
    img = images[(src.summary.run_id, unit.entry.path)]
    if unit.part is None:
        img.tail_done(res.held)
    elif res.given_up:  # one reason: the unit is that part alone
        img.part_failed(res.given_up[0][1])
    else:
        img.part_done()
    for _, why in res.noted:
        img.noted(why)
    records = img.ready()
    if records is None:
        return
    del images[(src.summary.run_id, unit.entry.path)]
    found = match(records)
    new, kept, refused = record_batch(store, src.source_id, src.summary.run_id, records, found)
    src.summary.new_items += new
    src.summary.new_matches += sum(1 for f in found[:kept] if f)
    if refused is not None:
        raise refused


def _drive(store: Store, match: Match, queue: deque[tuple[_Source, list[DiskEntry]]],
           tracker: ray.actor.ActorHandle, attempts: int,
           on_progress: Callable[[int], None] | None) -> None:
    """Keep the cluster's slots busy; take each unit's counts; split what keeps dying;
    close each source's run with its last unit. `match`: for the records the driver
    records itself."""
    pending: dict[ray.ObjectRef, tuple[_Source, list[DiskEntry]]] = {}
    images: dict[tuple[int, str], SplitImage] = {}  # split images whose record is still due
    remote = _remote_unit.options(max_retries=attempts - 1)
    window, sized = _window(), time.monotonic()
    while queue or pending:
        if time.monotonic() - sized > 5:  # nodes join and leave
            window, sized = _window(), time.monotonic()
        while queue and len(pending) < window:
            src, unit = queue.popleft()
            pending[remote.remote(src.job, unit)] = (src, unit)
        ready, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
        for ref in ready:
            src, unit = pending.pop(ref)
            summary, run_id = src.summary, src.summary.run_id
            try:
                res: UnitResult = ray.get(ref)
            except RayTaskError:
                raise
            except RayError as e:  # its Ray worker or node died `attempts` times
                why = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:300]
                if isinstance(unit[0], Unit):  # a part or tail: its image's record says so
                    res = _unit_given_up(unit[0], attempts, why)
                    summary.worker_failures += 1
                    given_up = True
                elif len(unit) > 1:  # which file? each alone
                    queue.extendleft(reversed([(src, [x]) for x in unit]))
                    src.remaining += len(unit) - 1
                    tracker.split.remote(run_id, len(unit) - 1)
                    continue
                else:
                    summary.new_items += _given_up(store, match, src.source_id, run_id,
                                                   unit[0], attempts, why)
                    summary.worker_failures += 1
                    res = UnitResult(1, node="driver", failures=[f"{unit[0].path}: {why}"])
                    given_up = True
            else:
                summary.new_items += res.new_items
                summary.new_matches += res.new_matches
                summary.worker_failures += len(res.failures)
                given_up = False
                _planned(queue, images, src, res, tracker)
            if isinstance(unit[0], Unit):
                _image_step(store, match, images, src, unit[0], res)
            tracker.unit_done.remote(run_id, res.node, res.files, len(res.failures),
                                     len(pending), given_up)
            if on_progress:
                on_progress(res.files)
            src.remaining -= 1
            if src.remaining == 0:
                _end(store, tracker, src, "complete")


def _unit_given_up(unit: Unit, attempts: int, why: str) -> UnitResult:
    """A part or tail whose Ray worker died every time: an error on its image's record
    (a tail's: the image hashed here, nothing decoded, as `_given_up` does a file)."""
    said = f"the Ray worker reading it died {attempts} times ({why})"
    res = UnitResult(0, node="driver", failures=[f"{unit.describe()}: {why}"])
    if unit.part is not None:
        res.given_up = [(unit.entry, f"{unit.part.describe()}: {said}; not read")]
    else:
        rec = identity_record(unit.entry)
        rec.setdefault("errors", []).append({"stage": "worker",
                                            "message": f"{said}; hashed without decoding it"})
        res.held = [rec]
    return res


def _given_up(store: Store, match: Match, source_id: int, run_id: int, entry: DiskEntry,
              attempts: int, why: str) -> int:
    """A file whose unit killed its Ray worker every time: hashed here, nothing decoded or
    opened, and recorded with why (as isolation does for a file that kills its worker)."""
    rec = identity_record(entry)
    rec.setdefault("errors", []).append({
        "stage": "worker", "message": f"the Ray worker reading it died {attempts} times "
                                      f"({why}); hashed without decoding it"})
    new, _, refused = record_batch(store, source_id, run_id, [rec],
                                   match([rec]))  # its digests may match
    if refused is not None:
        raise refused
    return new
