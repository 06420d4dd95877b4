"""Each file of evidence is read in a child process that is allowed to die.

A hostile file can make a decoder raise, loop, exhaust memory or crash the interpreter. So a
worker reads one top-level file at a time with a ceiling on its address space (RLIMIT_AS) and
a time limit per file, and streams each record to the parent as it is done (an archive's
members before the archive). When a worker raises, is over its memory limit, times out, is
killed or segfaults, the parent:

- keeps every record that worker had already sent (members read before the failure),
- starts a fresh worker, which reads the file again for its identity only (sniff and hashes,
  no decoding, no archive), and records it with an error naming what happened,
- goes on with the next file, and counts the failure (`WorkerPool.failures`).

If that hash-only read fails too, the file is recorded with its size and both errors.

Workers are forked from a fork server (`multiprocessing` "forkserver", modules preloaded), so a
fresh worker costs a fork, not an interpreter start, and inherits none of the scan's state
(database handles, the mapped list index, threads). Workers die with their parent: the fork
server exits when the scan's process is gone, and each worker has asked the kernel
(PR_SET_PDEATHSIG) to be killed when the fork server goes; the pool also kills its workers
when it is closed, on any exit, Ctrl-C included.

Memory and time caps per worker: scan/caps.py; the worker's own loop: scan/child.py.

Time: the limit covers one top-level file with all its archive members, counted from the last
record the worker sent (a disk image's thousands of files each restart it; one file that
hangs still times out). Measured on the 2-core development machine under load: the fork
server starts once per command (about 1.2 s, the imports), a fresh worker costs about
0.15 s, a warm worker adds about 4 ms per file of round trip, hidden in a scan by queueing
`DEPTH` files per worker.
"""

from __future__ import annotations

import atexit
import contextlib
import multiprocessing
import os
import signal
import sys
import time
import types
import weakref
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from multiprocessing import forkserver
from multiprocessing.connection import Connection
from multiprocessing.connection import wait as wait_ready

from cairn.media.limits import Limits
from cairn.media.walk import DiskEntry
from cairn.records import ScanRecord
from cairn.scan.caps import Caps, default_caps, format_size
from cairn.scan.child import EXIT_MEMORY, WorkerConfig, serve
from cairn.scan.interrupt import check as check_interrupt
from cairn.scan.options import HashOptions, Split
from cairn.scan.units import SplitImage, Unit

DEPTH = 2  # files queued per worker, so it never waits on the parent between two files
HEARTBEAT = 0.5  # s: `run` yields at least this often, so records never wait on a slow file

# Test-only: "NAME:ACTION" makes a worker misbehave on a file or member whose path ends with
# NAME (segv, abort, kill, raise, memory, hang). Read in the parent, so it reaches workers the
# fork server made before the variable was set; nothing in Cairn sets it.
FAULT_ENV = "CAIRN_TEST_WORKER_FAULT"


# -- the parent --------------------------------------------------------------------------------
@dataclass(slots=True)
class _Task:
    unit: Unit
    retry_of: str | None = None  # set on the second try: why the first failed (a whole
    streamed: int = 0  # file's second try is a hash-only reread; a part's, the same part)
    started: float = 0.0
    image: SplitImage | None = None  # the split image a part or tail belongs to
    plan: list | None = None  # the parts a worker planned the file into

    @property
    def entry(self) -> DiskEntry:
        return self.unit.entry

    def message(self) -> tuple[str, Unit]:
        if self.unit.part is not None:
            return "part", self.unit
        if self.retry_of is not None:
            return "identity", self.unit
        return ("tail" if self.unit.tail else "file"), self.unit


@dataclass(slots=True)
class _Worker:
    proc: multiprocessing.process.BaseProcess
    conn: Connection
    tasks: deque[_Task] = field(default_factory=deque)  # the first is running


def _context() -> multiprocessing.context.ForkServerContext:
    ctx = multiprocessing.get_context("forkserver")
    # imported once by the fork server, not per worker; the parent never needs the readers
    ctx.set_forkserver_preload([__name__, "cairn.scan.child", "cairn.scan.worker",
                                "cairn.scan.containers", "cairn.scan.units"])
    return ctx


def warm_up() -> None:
    """Start the fork server now, so its imports (the readers, ~0.5 s) overlap with whatever
    the caller still has to load; a pool started later finds it running."""
    _context()
    forkserver.ensure_running()


def _exit_reason(code: int | None, caps: Caps) -> str:
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = "unknown signal"
        return f"killed by signal {-code} ({name})"
    if code == EXIT_MEMORY:
        return f"over the memory limit of {format_size(caps.memory)}"
    return f"exited with status {code}"


_live: weakref.WeakSet[WorkerPool] = weakref.WeakSet()


class WorkerPool:
    """`workers` isolated worker processes; `run(entries)` yields their records.

    Use as a context manager (or call `close`): closing kills the workers. A pool can run
    several batches; its workers stay warm in between.

    `split`: large disk images and zips are planned into parts (scan/units.py) that every
    worker takes, the parts first; the image's (zip's) own record comes after all of them.
    `expand` False (a Ray node): a planned image is not read here but its parts are put in
    `plans`, for the caller to hand out, a part given up is put in `given_up`, and what a
    part found wrong with the container (an error for its record) in `noted`.
    """

    def __init__(self, workers: int, limits: Limits, opts: HashOptions, caps: Caps,
                 split: Split | None = None, expand: bool = True) -> None:
        self.size = max(1, workers)
        self.caps = caps
        self.expand = expand
        self._cfg = WorkerConfig(limits, opts, caps, os.environ.get(FAULT_ENV) or None, split)
        self._workers: list[_Worker] = []
        self.failures: list[str] = []  # "path: what happened", one per failed file or part
        self.plans: list[tuple[DiskEntry, list]] = []  # with expand False: (image, its parts)
        self.given_up: list[tuple[DiskEntry, str]] = []  # with expand False: (image, why)
        self.noted: list[tuple[DiskEntry, str]] = []  # with expand False: (container, error)
        _live.add(self)
        _context()
        forkserver.ensure_running()  # its imports overlap with the caller's walk; no wait

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Kill every worker now (an idle one holds nothing; a busy one is being abandoned)."""
        workers, self._workers = self._workers, []
        for w in workers:
            if w.proc.exitcode is None:
                w.proc.kill()
        for w in workers:
            w.proc.join(5)
            w.conn.close()

    def run(self, entries: Iterable[DiskEntry | Unit]
            ) -> Iterator[tuple[list[ScanRecord], bool]]:
        """(records, finished) as they come: `finished` marks the end of one entry's work.

        Every entry ends with exactly one record of its own (after its members', if any;
        a split image's, after all its parts'). While workers are busy and silent,
        ([], False) comes every `HEARTBEAT` seconds.
        """
        todo = (e if isinstance(e, Unit) else Unit(e) for e in entries)
        queue: deque[_Task] = deque()
        clean = False
        try:
            while True:
                check_interrupt()  # a Ctrl-C whose exception Python dropped (interrupt.py)
                self._fill(todo, queue)
                busy = [w for w in self._workers if w.tasks]
                if not busy:
                    clean = True
                    return
                deadline = min(self._deadline(w.tasks[0]) for w in busy)
                ready = set(wait_ready([w.conn for w in busy] + [w.proc.sentinel for w in busy],
                                       timeout=min(HEARTBEAT,
                                                   max(0.0, deadline - time.monotonic()))))
                if not ready:
                    yield [], False  # a heartbeat: the caller may store what it holds
                for w in busy:
                    yield from self._service(w, ready, queue)
        finally:
            if not clean:  # interrupted or abandoned: no worker may outlive this
                self.close()

    # -- internals -----------------------------------------------------------------------
    def _deadline(self, task: _Task) -> float:
        return task.started + self.caps.timeout

    def _start(self) -> _Worker:
        ctx = _context()
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=serve, args=(child, self._cfg), name="cairn-worker",
                           daemon=True)
        main = sys.modules["__main__"]
        sys.modules["__main__"] = types.ModuleType("__main__")  # else multiprocessing re-runs
        try:  # the parent's main script (`cairn`, a bench, pytest) in every fresh worker
            proc.start()
        finally:
            sys.modules["__main__"] = main
        child.close()
        w = _Worker(proc, parent)
        self._workers.append(w)
        return w

    def _slot(self) -> _Worker | None:
        idle = next((w for w in self._workers if not w.tasks), None)
        if idle is not None:
            return idle
        if len(self._workers) < self.size:
            return self._start()
        return min((w for w in self._workers if len(w.tasks) < DEPTH),
                   key=lambda w: len(w.tasks), default=None)

    def _fill(self, todo: Iterator[Unit], queue: deque[_Task]) -> None:
        while True:
            if not queue:
                e = next(todo, None)
                if e is None:
                    return
                queue.append(_Task(e))
            w = self._slot()
            if w is None:
                return
            task = queue.popleft()
            if not w.tasks:
                task.started = time.monotonic()
            w.tasks.append(task)
            with contextlib.suppress(OSError):  # died idle: its sentinel says so on the next wait
                w.conn.send(task.message())

    def _service(self, w: _Worker, ready: set, queue: deque[_Task]
                 ) -> Iterator[tuple[list[ScanRecord], bool]]:
        dead: str | None = None
        if w.conn in ready or w.proc.sentinel in ready:
            try:
                while w.conn.poll():
                    kind, value = w.conn.recv()
                    task = w.tasks[0]
                    if kind == "rec":
                        task.started = time.monotonic()  # per record: a disk image's files,
                        rec = self._received(task, value)  # not the whole image
                        if task.image is not None and task.unit.tail:
                            task.image.hold([rec])  # after every part
                        else:
                            yield [rec], False
                    elif kind == "plan":
                        task.plan = value
                    elif kind == "note":  # a part's error for its container's record
                        self._noted(task, value)
                    elif kind == "done":
                        w.tasks.popleft()
                        if w.tasks:
                            w.tasks[0].started = time.monotonic()
                        yield from self._done(task, queue)
                    else:
                        dead = value
                        break
            except (EOFError, OSError):
                pass
        if dead is None and w.proc.sentinel in ready:
            w.proc.join(5)
            dead = _exit_reason(w.proc.exitcode, self.caps)
        if dead is None and w.tasks and time.monotonic() >= self._deadline(w.tasks[0]):
            dead = f"timed out after {self.caps.timeout:g} s"
        if dead is not None:
            yield from self._failed(w, dead, queue)

    def _received(self, task: _Task, rec: ScanRecord) -> ScanRecord:
        task.streamed += 1
        if task.retry_of is not None and task.unit.part is None:  # a hash-only reread
            rec.setdefault("errors", []).append({"stage": "worker", "message": task.retry_of})
        return rec

    def _done(self, task: _Task, queue: deque[_Task]
              ) -> Iterator[tuple[list[ScanRecord], bool]]:
        """A task finished: a planned image's parts queued first (its tail before them:
        the longest, it hashes the whole image file), or a split image's step counted."""
        img = task.image
        if task.plan and not self.expand:
            self.plans.append((task.entry, task.plan))
            yield [], True
        elif task.plan:
            img = SplitImage(len(task.plan))
            queue.extendleft(reversed(
                [_Task(Unit(task.entry, tail=True), image=img)]
                + [_Task(Unit(task.entry, part), image=img) for part in task.plan]))
            yield [], False
        elif img is not None:
            if task.unit.tail:
                img.tail_done()
            else:
                img.part_done()
            yield from self._release(img)
        else:
            yield [], True

    @staticmethod
    def _release(img: SplitImage) -> Iterator[tuple[list[ScanRecord], bool]]:
        """A split image's own record (with its parts' failures), once every part is done."""
        records = img.ready()
        yield ([], False) if records is None else (records, True)

    def _noted(self, task: _Task, message: str) -> None:
        """An error a part found on its container (scan/units.py), for that record."""
        assert task.unit.part is not None
        why = f"{task.unit.part.describe()}: {message}"
        if task.image is None:
            self.noted.append((task.entry, why))
        else:
            task.image.noted(why)

    def _failed(self, w: _Worker, reason: str, queue: deque[_Task]
                ) -> Iterator[tuple[list[ScanRecord], bool]]:
        """Replace the worker; reread its file for identity, or record what is known."""
        self._workers.remove(w)
        if w.proc.exitcode is None:
            w.proc.kill()
        w.proc.join(5)
        w.conn.close()
        if not w.tasks:  # died between files: nothing to blame
            return
        task, *waiting = w.tasks
        queue.extendleft(reversed([replace(t, streamed=0, started=0.0, plan=None)
                                   for t in waiting]))
        if task.unit.part is not None:
            yield from self._part_failed(task, reason, queue)
            return
        if task.retry_of is None:
            self.failures.append(f"{task.unit.describe()}: {reason}")
            kept = "members read before that are recorded; " if task.streamed else ""
            queue.appendleft(_Task(task.unit, f"worker {reason}; {kept}a fresh worker took "
                                              "over and hashed the file without decoding it",
                                   image=task.image))
            return
        from cairn.scan.worker import entry_record

        rec: ScanRecord = entry_record(task.entry) | {"kind": "other", "media_type": None}
        rec["errors"] += [
            {"stage": "worker", "message": task.retry_of},
            {"stage": "worker", "message": f"the hash-only reread failed too: {reason}"}]
        if task.image is not None:  # a split image's tail: its record still waits
            task.image.tail_done([rec])
            yield from self._release(task.image)
            return
        yield [rec], True

    def _part_failed(self, task: _Task, reason: str, queue: deque[_Task]
                     ) -> Iterator[tuple[list[ScanRecord], bool]]:
        """A part whose worker failed is read again by a fresh one; failing again, it is an
        error on the image's record (the rest of the image is read all the same)."""
        assert task.unit.part is not None
        if task.retry_of is None:
            self.failures.append(f"{task.unit.describe()}: {reason}")
            queue.appendleft(_Task(task.unit, reason, image=task.image))
            return
        why = (f"{task.unit.part.describe()}: its worker {task.retry_of}, and again when "
               f"retried ({reason}); its files recorded before that are kept, the rest of "
               "it is not read")
        if task.image is None:
            self.given_up.append((task.entry, why))
            yield [], True
            return
        task.image.part_failed(why)
        yield from self._release(task.image)


@atexit.register
def _close_all() -> None:
    for pool in list(_live):
        pool.close()


_shared: dict[WorkerConfig, WorkerPool] = {}


def records_of(entry: DiskEntry, limits: Limits, opts: HashOptions, caps: Caps | None = None
               ) -> list[ScanRecord]:
    """One entry's records as a scan records them (members first, the file last), read in an
    isolated worker that stays warm for the next call with the same settings."""
    return next(records_of_each([entry], limits, opts, caps))


def records_of_each(entries: Iterable[DiskEntry], limits: Limits, opts: HashOptions,
                    caps: Caps | None = None) -> Iterator[list[ScanRecord]]:
    """`records_of` each entry, in order, the next file already queued while one is read
    (one worker: no round trip per file, which a busy machine makes slow)."""
    cfg = WorkerConfig(limits, opts, caps or default_caps(1), os.environ.get(FAULT_ENV) or None)
    pool = _shared.get(cfg)
    if pool is None:
        for old in _shared.values():
            old.close()
        _shared.clear()
        pool = _shared[cfg] = WorkerPool(1, limits, opts, cfg.caps)
    out: list[ScanRecord] = []
    for records, finished in pool.run(entries):  # one worker: entries finish in order
        out.extend(records)
        if finished:
            yield out
            out = []
