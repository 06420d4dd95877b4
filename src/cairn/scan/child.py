"""A scan worker's side of the pool (scan/isolation.py): files in, records out, until the
parent goes or a file kills it.

The worker caps its own address space (RLIMIT_AS), asks the kernel to kill it with its parent,
streams each record to the parent as it is made, and on any failure reports why and exits: a
worker that failed once is not trusted again. The test-only fault hook (`FAULT_ENV` in
scan/isolation.py) makes it misbehave on a named file.
"""

from __future__ import annotations

import ctypes
import os
import resource
import signal
from collections.abc import Iterable
from dataclasses import dataclass
from multiprocessing.connection import Connection

from threadpoolctl import threadpool_limits

from cairn.media.limits import Limits
from cairn.media.walk import DiskEntry
from cairn.records import ScanRecord
from cairn.scan.caps import Caps, format_size
from cairn.scan.options import HashOptions, Split

EXIT_MEMORY = 77  # a worker that could not even report its MemoryError exits with this
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    limits: Limits
    opts: HashOptions
    caps: Caps
    fault: str | None = None
    split: Split | None = None  # plan large disk images into parts (scan/units.py)


class _Stream:
    """process_entry's `out`: each record goes to the parent the moment it is appended."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.sent = 0
        self.fault: str | None = None  # test-only, armed while a file is first read

    def append(self, rec: ScanRecord) -> None:
        self.conn.send(("rec", rec))
        self.sent += 1
        _test_fault(self.fault, rec["path"])

    def extend(self, recs: Iterable[ScanRecord]) -> None:
        for rec in recs:
            self.append(rec)

    def __len__(self) -> int:  # append-only: what was sent is gone from here
        return self.sent


def _test_fault(fault: str | None, path: str) -> None:
    if not fault:
        return
    name, _, action = fault.rpartition(":")
    if not path.endswith(name):
        return
    if action == "segv":
        os.kill(os.getpid(), signal.SIGSEGV)
    elif action == "abort":
        os.abort()
    elif action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif action == "raise":
        raise RuntimeError(f"test fault on {path}")
    elif action == "memory":  # 4 GiB, untouched: only a ceiling makes it fail
        _hold = [bytearray(64 << 20) for _ in range(64)]  # noqa: F841
    elif action == "hang":
        while True:
            signal.pause()


def _die_with_parent() -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the pipe's EOF still ends an idle worker
        pass


def serve(conn: Connection, cfg: WorkerConfig) -> None:
    """A worker's life: files in, records out, until the parent goes or a file kills it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the parent decides, then kills us
    _die_with_parent()
    from cairn.scan.units import plan_entry, process_part
    from cairn.scan.worker import process_entry  # preloaded by the fork server

    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = cfg.caps.memory if hard == resource.RLIM_INFINITY else min(cfg.caps.memory, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    threadpool_limits(1)  # a worker is one core's worth; BLAS threads would oversubscribe
    out = _Stream(conn)
    while True:
        try:
            kind, unit = conn.recv()
        except (EOFError, OSError):
            os._exit(0)  # the parent is gone
        try:
            entry = unit.entry
            out.fault = cfg.fault if kind != "identity" else None
            if kind == "file":
                _test_fault(cfg.fault, entry.path)
                parts = plan_entry(entry, cfg.limits, cfg.opts, cfg.split) if cfg.split else []
                if parts:
                    conn.send(("plan", parts))
                else:
                    process_entry(entry, cfg.limits, cfg.opts, out)
            elif kind == "part":
                for note in process_part(entry, unit.part, cfg.limits, cfg.opts, out):
                    conn.send(("note", note))
            elif kind == "tail":
                process_entry(entry, cfg.limits, cfg.opts, out, members=False)
            else:
                _identity(entry, out)
            conn.send(("done", None))
        except MemoryError:
            _report(conn, f"over the memory limit of {format_size(cfg.caps.memory)} "
                          "(MemoryError)", EXIT_MEMORY)
        except BaseException as e:  # noqa: BLE001 - anything a file provokes is reported
            _report(conn, f"raised {type(e).__name__}: {e}"[:500], 1)


def _report(conn: Connection, reason: str, code: int) -> None:
    """Tell the parent why, then go: a worker that failed once is not trusted again."""
    try:
        conn.send(("failed", reason))
    finally:
        os._exit(code)


def _identity(entry: DiskEntry, out: _Stream) -> None:
    """The hash-only read after a failure: sniff and hash, nothing decoded or opened."""
    from cairn.scan.worker import identity_record

    out.append(identity_record(entry))
