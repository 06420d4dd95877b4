"""The repository of scan runs (`store.runs`): a run opened and closed with its custody entries,
the runs of a case, and what a source's runs have already recorded (what a resumed scan skips).

A run's status: running | complete | interrupted | failed | superseded (an unfinished run whose
work a later complete run of the same source finished; its summary names that run).
"""

from __future__ import annotations

import json
import os
import socket
from typing import Any

from sqlalchemy import insert, select, update

from cairn.store import schema as t
from cairn.store.cases import manifest
from cairn.store.common import Repository, inserted_id, now
from cairn.store.custody import case_chain
from cairn.store.records import worker_failed

UNFINISHED = ("running", "interrupted", "failed")  # what a later complete run supersedes


class Runs(Repository):
    """Scan runs: opened, closed, listed; what they recorded of a source."""

    def start(self, case_id: int, source_id: int, version: str, examiner: str, host: str,
              arguments: dict) -> int:
        """A `running` run, with the process that runs it (to tell later whether it died)."""
        pid = os.getpid()
        process = {"pid": pid, "pid_started": _process_started(pid)}
        with self.engine.begin() as c:
            run_id = inserted_id(c.execute(insert(t.scan_runs).values(
                case_id=case_id, source_id=source_id, tool_version=version, examiner=examiner,
                host=host, started_at=now(), status="running",
                arguments=json.dumps(arguments | {"process": process}),
            )))
            self.log(c, case_chain(case_id), "scan.started", f"run:{run_id}",
                     {"run": run_id, "source": source_id, "tool_version": version,
                      "arguments": arguments}, case_id)
            return run_id

    def end(self, run_id: int, status: str, summary: dict) -> list[int]:
        """Close a run. A complete run also closes the earlier unfinished runs of its source
        (left `interrupted`, or `running` by a process that is gone): their work is done now.
        Returns the ids of the runs it superseded."""
        closed: list[int] = []
        with self.engine.begin() as c:
            c.execute(update(t.scan_runs).where(t.scan_runs.c.id == run_id).values(
                ended_at=now(), status=status, summary=json.dumps(summary, sort_keys=True)))
            case_id, source_id = c.execute(select(t.scan_runs.c.case_id,
                                                  t.scan_runs.c.source_id)
                                           .where(t.scan_runs.c.id == run_id)).one()
            details: dict[str, Any] = {"run": run_id, "source": source_id, "status": status,
                                       "summary": summary}
            if status != "complete":
                self.log(c, case_chain(case_id), "scan.ended", f"run:{run_id}", details,
                         case_id)
                return closed
            earlier = c.execute(select(t.scan_runs).where(
                t.scan_runs.c.source_id == source_id, t.scan_runs.c.id < run_id,
                t.scan_runs.c.status.in_(UNFINISHED))).mappings().all()
            for r in earlier:
                if r["status"] == "running" and _run_process(r) != "gone":
                    continue  # still going (or on another host): it will close itself
                old = json.loads(r["summary"]) if r["summary"] else {}
                c.execute(update(t.scan_runs).where(t.scan_runs.c.id == r["id"]).values(
                    status="superseded", ended_at=r["ended_at"] or now(),
                    summary=json.dumps(old | {"superseded_by": run_id,
                                              "status_before": r["status"]}, sort_keys=True)))
                closed.append(r["id"])
            details |= {"superseded": closed, "manifest": manifest(c, source_id)}
            self.log(c, case_chain(case_id), "scan.ended", f"run:{run_id}", details, case_id)
        return closed

    def all(self, case_id: int) -> list[dict]:
        """Runs of a case, oldest first; `process` says of a `running` run whether the
        process that runs it is `alive`, `gone` (killed) or `unknown` (another host)."""
        with self.engine.connect() as c:
            rows = c.execute(select(t.scan_runs, t.sources.c.name.label("source"))
                             .join(t.sources).where(t.scan_runs.c.case_id == case_id)
                             .order_by(t.scan_runs.c.id)).mappings().all()
        return [dict(r) | {"process": _run_process(r) if r["status"] == "running" else None}
                for r in rows]

    def done_paths(self, source_id: int) -> dict[str, tuple[int | None, float | None]]:
        """Top-level paths already recorded for a source, with the size and mtime they had
        (their latest version's). A path whose latest version is a worker's failure (out of
        memory, timed out, crashed: recorded from a hash-only reread) is left out, so a
        rescan, perhaps with a larger --max-worker-memory or --file-timeout, reads it again."""
        with self.engine.connect() as c:
            rows = c.execute(select(t.items.c.path, t.items.c.size, t.items.c.mtime,
                                    worker_failed())
                             .where(t.items.c.source_id == source_id,
                                    t.items.c.parent_path.is_(None))
                             .order_by(t.items.c.path, t.items.c.version))
            done: dict[str, tuple[int | None, float | None]] = {}
            for p, s, m, failed in rows:
                if failed:
                    done.pop(p, None)
                else:
                    done[p] = (s, m)
            return done


def _process_started(pid: int) -> int | None:
    """When a process started (clock ticks since boot): a pid plus this names one process,
    even after the pid is reused."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] == b"Z" else int(fields[19])


def _run_process(run: Any) -> str:
    """alive | gone | unknown: whether the process recorded by `Runs.start` still runs."""
    try:
        process = json.loads(run["arguments"]).get("process") or {}
    except (ValueError, AttributeError):
        return "unknown"
    pid = process.get("pid")
    if not pid or run["host"] != socket.gethostname() or not os.path.isdir("/proc/self"):
        return "unknown"
    started = _process_started(pid)
    if started is None:
        return "gone"
    return "alive" if process.get("pid_started") in (None, started) else "gone"

