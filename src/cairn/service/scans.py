"""Scans started over HTTP: a server-side path under the configured evidence roots, scanned
in a background thread of the server process, polled by id.

Evidence roots (`cairn serve --evidence-root CASE=DIR` or `DIR`, repeatable; service/evidence.py)
are the only folders a scan may read: a path must resolve, every symlink followed, inside a
root of the scan's case, so `..` segments and symlinks that lead out are refused alike
(`OutsideRoots`, naming the path), before anything says whether the path exists. A relative
path is taken inside the case's first root. Symlinks inside the evidence are never followed by
the walk (they become `symlink` items), as in every scan.

Each scan is `scan.pipeline.scan` as the CLI runs it (isolated workers, resumable,
idempotent); its id is a random token that the scan run records in its arguments, so any
server process can answer for it from the store (`status`, `summary`); the process that runs
it adds live progress (files to read, files read). At most MAX_RUNNING scans run per process.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from cairn.scan.pipeline import scan
from cairn.service.evidence import ENV_ROOTS, EvidenceRoots, OutsideRoots, as_roots
from cairn.store import Store
from cairn.store import schema as t
from cairn.store.people import People

__all__ = ["ENV_ROOTS", "EvidenceRoots", "OutsideRoots", "TooManyScans", "resolve_evidence",
           "roots_from_env", "start", "status"]

MAX_RUNNING = 2


class TooManyScans(RuntimeError):
    pass


def roots_from_env() -> EvidenceRoots:
    return EvidenceRoots.from_env()


def resolve_evidence(path: str, roots: EvidenceRoots | Sequence[Path], case: str) -> Path:
    """The real path of `path` when it lies inside a root of `case`; OutsideRoots otherwise
    (FileNotFoundError: inside, but nothing there)."""
    return as_roots(roots).resolve(path, case)


@dataclass
class Job:
    id: str
    case: str
    path: str
    source_name: str | None
    by: str
    status: str = "queued"  # queued running complete interrupted failed
    total: int | None = None  # files to read (known once the walk is done)
    done: int = 0
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(
        timespec="seconds"))
    summary: dict[str, Any] | None = None
    error: str | None = None

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "case": self.case, "path": self.path,
                "source_name": self.source_name, "by": self.by, "status": self.status,
                "progress": {"total": self.total, "done": self.done},
                "started_at": self.started_at, "summary": self.summary, "error": self.error}


_lock = threading.Lock()
_jobs: dict[str, Job] = {}


def start(store: Store, case: str, case_id: int, path: Path, source_name: str | None,
          by: str) -> Job:
    """Start scanning `path` (already resolved inside the roots) into the case, in a thread.
    PeopleError: the case is closed or deleted; SourceNameTaken: the name is another
    location's; TooManyScans: MAX_RUNNING are running here."""
    People(store).require_open(case_id)
    name = source_name or path.name or str(path)
    store.cases.check_source_name(case_id, name, str(path))
    with _lock:
        if sum(j.status in ("queued", "running") for j in _jobs.values()) >= MAX_RUNNING:
            raise TooManyScans(f"{MAX_RUNNING} scans are running on this server")
        job = Job(secrets.token_hex(12), case, str(path), source_name, by)
        _jobs[job.id] = job
    threading.Thread(target=_run, args=(store, job), name=f"scan-{job.id}",
                     daemon=True).start()
    return job


def _run(store: Store, job: Job) -> None:
    def on_total(n: int) -> None:
        job.total = n

    def on_progress(n: int) -> None:
        job.done += n

    job.status = "running"
    try:
        summary = scan(store, job.case, job.path, source_name=job.source_name,
                       arguments={"api_scan": job.id, "by": job.by},
                       on_total=on_total, on_progress=on_progress)
        job.summary, job.status = summary.to_dict(), summary.status
    except BaseException as e:  # noqa: BLE001 - a thread's end: said in the job, not raised
        job.status, job.error = "failed", f"{type(e).__name__}: {e}"[:2000]


def status(store: Store, job_id: str) -> dict[str, Any] | None:
    """The scan's state: this process's job, else its run as the store recorded it (another
    process started it); None when neither knows the id."""
    with _lock:
        job = _jobs.get(job_id)
    if job is not None:
        return job.public()
    if not job_id.isalnum() or len(job_id) > 64:
        return None
    with store.engine.connect() as c:  # the id is bound, and only ever hex
        row = c.execute(select(t.scan_runs.c.status, t.scan_runs.c.summary,
                               t.scan_runs.c.arguments, t.scan_runs.c.started_at,
                               t.cases.c.name.label("case"))
                        .join(t.cases, t.cases.c.id == t.scan_runs.c.case_id)
                        .where(t.scan_runs.c.arguments.contains(f'"api_scan": "{job_id}"'))
                        .order_by(t.scan_runs.c.id.desc()).limit(1)).mappings().first()
    if row is None:
        return None
    args = json.loads(row["arguments"])
    summary = json.loads(row["summary"]) if row["summary"] else None
    return {"id": job_id, "case": row["case"], "path": args.get("location"),
            "source_name": None, "by": args.get("by"), "status": row["status"],
            "progress": None, "started_at": row["started_at"], "summary": summary,
            "error": (summary or {}).get("error")}
