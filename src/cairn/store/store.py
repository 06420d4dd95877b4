"""The store: one SQLite file under $CAIRN_HOME (PostgreSQL for servers), migrated by Alembic."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import socket
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, overload

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, delete, event, func, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult

from cairn.store import custody
from cairn.store import schema as t
from cairn.store.custody import STORE_CHAIN, Actor, case_chain
from cairn.store.identity import location_bytes, location_key, version_note

HERE = Path(__file__).parent


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def inserted_id(result: CursorResult[Any]) -> int:
    """The key of the row a single-row insert made. SQLAlchemy types `inserted_primary_key`
    as optional: None only when a statement inserted no row, which a single-row insert always
    does; should it ever happen, this says so instead of failing on `None[0]`."""
    key = result.inserted_primary_key
    if key is None:
        raise RuntimeError("the insert made no row")
    return key[0]


def default_home() -> Path:
    return Path(os.environ.get("CAIRN_HOME") or Path.home() / ".cairn")


ENTRY_STATUSES = ("active", "withdrawn", "false_positive")
# a match's status: its entry's, or `list_removed`; only `active` matches count
MATCH_STATUSES = ("active", "withdrawn", "false_positive", "list_removed")
MIGRATION_LOCK = 0x6361_6972_6E00  # pg_advisory lock key: "cairn"


class StoreError(Exception):
    pass


class SourceNameTaken(StoreError):
    """A second, different location given a source name the case already uses."""


class Store:
    """Thin repository over SQLAlchemy Core: bulk inserts that ignore duplicates, plain reads."""

    def __init__(self, url: str, home: Path | None = None) -> None:
        self.url = url
        self.home = home  # where derived files (the list index) live; None: keep in memory
        self.engine: Engine = create_engine(url)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._migrate()
        self._actor: Actor | None = None

    @property
    def actor(self) -> Actor:
        """Who the custody log names for changes made through this store (loaded on first
        use: the examiner's signing key is read only when something is written)."""
        if self._actor is None:
            self._actor = Actor.current(self.home)
        return self._actor

    @actor.setter
    def actor(self, value: Actor) -> None:
        self._actor = value

    def _log(self, c, chain: str, action: str, subject: str, details: dict,  # noqa: ANN001
             case_id: int | None = None) -> dict:
        """One custody entry, in the transaction of connection `c` (the change's own)."""
        return custody.append(c, self.actor, chain, action, subject, details, case_id)

    def log_event(self, case_id: int | None, action: str, subject: str, details: dict) -> dict:
        """A custody entry for an event that changes nothing else in the store (an export,
        a report, a verification): in the case's chain, or the store's."""
        with self.engine.begin() as c:
            return self._log(c, case_chain(case_id) if case_id is not None else STORE_CHAIN,
                             action, subject, details, case_id)

    def custody_signed(self) -> bool:
        """Whether any chain of the log is signed (then every writer needs a key)."""
        with self.engine.connect() as c:
            return c.execute(select(t.custody.c.id).where(t.custody.c.signature.is_not(None))
                             .limit(1)).first() is not None

    def custody_entries(self, case_id: int | None = None, chain: str | None = None
                        ) -> list[dict]:
        """Custody entries as written (by `id`): of one case's chain, of one chain, or all."""
        q = select(t.custody).order_by(t.custody.c.id)
        if case_id is not None:
            q = q.where(t.custody.c.chain == case_chain(case_id))
        elif chain is not None:
            q = q.where(t.custody.c.chain == chain)
        with self.engine.connect() as c:
            return [custody.row_entry(r) for r in c.execute(q).mappings()]

    @classmethod
    def open(cls, home: str | Path | None = None) -> Store:
        home_path = Path(home) if home else default_home()
        home_path.mkdir(parents=True, exist_ok=True)
        url = os.environ.get("CAIRN_DATABASE_URL")
        return cls(url or f"sqlite:///{home_path / 'cairn.db'}", home_path)

    def _migrate(self) -> None:
        """Upgrade to head, one process at a time: two first runs on a fresh home would
        otherwise both create the tables ("table cases already exists")."""
        cfg = Config(str(HERE / "alembic.ini"))
        cfg.set_main_option("script_location", str(HERE / "migrations"))
        with self._migration_lock(), self.engine.begin() as conn:
            if self.engine.dialect.name == "postgresql":  # held until this transaction ends
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    def _migration_lock(self) -> contextlib.AbstractContextManager:
        """An exclusive flock beside an SQLite store (released by the kernel if we die)."""
        if self.engine.dialect.name != "sqlite":
            return contextlib.nullcontext()
        db = self.engine.url.database
        if self.home is not None:
            path = Path(self.home) / "migrate.lock"
        elif db and db != ":memory:" and not db.startswith("file:"):
            path = Path(db + ".migrate.lock")
        else:
            return contextlib.nullcontext()
        return _flocked(path)

    def close(self) -> None:
        self.engine.dispose()

    # -- helpers -------------------------------------------------------------------------
    def insert_ignore(self, table: t.Table):  # noqa: ANN201 - dialect-specific Insert
        """INSERT that skips rows violating a unique constraint: what makes rescans idempotent."""
        if self.engine.dialect.name == "sqlite":
            return sqlite.insert(table).on_conflict_do_nothing()
        if self.engine.dialect.name == "postgresql":
            return postgresql.insert(table).on_conflict_do_nothing()
        raise StoreError(f"unsupported database {self.engine.dialect.name}")

    # -- cases and sources ---------------------------------------------------------------
    def case_id(self, name: str, create: bool = False) -> int | None:
        with self.engine.begin() as c:
            row = c.execute(select(t.cases.c.id).where(t.cases.c.name == name)).first()
            if row:
                return row[0]
            if not create:
                return None
            created = c.execute(self.insert_ignore(t.cases).values(
                name=name, created_at=now()).returning(t.cases.c.id)).first()
            cid = c.execute(select(t.cases.c.id).where(t.cases.c.name == name)).scalar_one()
            if created is not None:
                self._log(c, case_chain(cid), "case.created", f"case:{name}", {"name": name},
                          cid)
            return cid

    def check_source_name(self, case_id: int, name: str, location: str) -> None:
        """Refuse (SourceNameTaken) a name the case already gives another location: two
        different folders both called `exhibit-07` would otherwise be two sources of one
        name, and every report ambiguous."""
        with self.engine.connect() as c:
            other = c.execute(select(t.sources.c.location).where(
                t.sources.c.case_id == case_id, t.sources.c.name == name,
                t.sources.c.location != location)).first()
        if other:
            raise SourceNameTaken(
                f"this case already has a source named {name!r}, at {other[0]}; name this "
                f"one with --source-name (e.g. --source-name {name}-2)")

    def source_id(self, case_id: int, name: str, location: str) -> int:
        self.check_source_name(case_id, name, location)
        with self.engine.begin() as c:
            q = select(t.sources.c.id).where(
                t.sources.c.case_id == case_id, t.sources.c.location == location
            )
            row = c.execute(q).first()
            if row:
                return row[0]
            created = c.execute(self.insert_ignore(t.sources).values(
                case_id=case_id, name=name, location=location, added_at=now()
            ).returning(t.sources.c.id)).first()
            sid = c.execute(q).scalar_one()
            if created is not None:
                self._log(c, case_chain(case_id), "source.added", f"source:{sid}",
                          {"source": sid, "name": name, "location": location}, case_id)
            return sid

    def sources(self, case_id: int) -> list[dict]:
        """A case's sources: id, name, location, added_at."""
        with self.engine.connect() as c:
            return [dict(r) for r in c.execute(
                select(t.sources.c.id, t.sources.c.name, t.sources.c.location,
                       t.sources.c.added_at).where(t.sources.c.case_id == case_id)
                .order_by(t.sources.c.id)).mappings()]

    def source_files(self, source_id: int) -> tuple[dict[bytes, dict], dict[str, Any]]:
        """The files recorded of a source as found on disk (latest version of each top-level
        item, by raw path: path, size, sha256), and the manifest they make now."""
        files: dict[bytes, dict] = {}
        with self.engine.connect() as c:
            for raw, path, size, sha in c.execute(
                    select(t.items.c.raw_path, t.items.c.path, t.items.c.size,
                           t.items.c.sha256)
                    .where(t.items.c.source_id == source_id, t.items.c.parent_path.is_(None))
                    .order_by(t.items.c.raw_path, t.items.c.version.desc())):
                files.setdefault(bytes(raw), {"path": path, "size": size, "sha256": sha})
            return files, self._manifest(c, source_id)

    def cases(self) -> list[dict]:
        with self.engine.connect() as c:
            rows = c.execute(
                select(
                    t.cases.c.name, t.cases.c.created_at,
                    select(func.count()).select_from(t.sources)
                    .where(t.sources.c.case_id == t.cases.c.id).scalar_subquery().label("sources"),
                    select(func.count()).select_from(t.items.join(t.sources))
                    .where(t.sources.c.case_id == t.cases.c.id).scalar_subquery().label("items"),
                ).order_by(t.cases.c.name)
            ).mappings().all()
        return [dict(r) for r in rows]

    # -- scan runs -----------------------------------------------------------------------
    # status: running | complete | interrupted | failed | superseded (an unfinished run whose
    # work a later complete run of the same source finished; its summary names that run)
    UNFINISHED = ("running", "interrupted", "failed")

    def start_run(self, case_id: int, source_id: int, version: str, examiner: str, host: str,
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
            self._log(c, case_chain(case_id), "scan.started", f"run:{run_id}",
                      {"run": run_id, "source": source_id, "tool_version": version,
                       "arguments": arguments}, case_id)
            return run_id

    def end_run(self, run_id: int, status: str, summary: dict) -> list[int]:
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
                self._log(c, case_chain(case_id), "scan.ended", f"run:{run_id}", details,
                          case_id)
                return closed
            earlier = c.execute(select(t.scan_runs).where(
                t.scan_runs.c.source_id == source_id, t.scan_runs.c.id < run_id,
                t.scan_runs.c.status.in_(self.UNFINISHED))).mappings().all()
            for r in earlier:
                if r["status"] == "running" and _run_process(r) != "gone":
                    continue  # still going (or on another host): it will close itself
                old = json.loads(r["summary"]) if r["summary"] else {}
                c.execute(update(t.scan_runs).where(t.scan_runs.c.id == r["id"]).values(
                    status="superseded", ended_at=r["ended_at"] or now(),
                    summary=json.dumps(old | {"superseded_by": run_id,
                                              "status_before": r["status"]}, sort_keys=True)))
                closed.append(r["id"])
            details |= {"superseded": closed, "manifest": self._manifest(c, source_id)}
            self._log(c, case_chain(case_id), "scan.ended", f"run:{run_id}", details, case_id)
        return closed

    @staticmethod
    def _manifest(c, source_id: int) -> dict[str, Any]:  # noqa: ANN001 - a Connection
        """The source's acquisition manifest as recorded: the SHA-256 of its lines
        `sha256 size path` (latest version of every file found on disk, sorted by raw path
        bytes), and how many files: what `sources verify` re-hashes the source against."""
        digest, files, last = hashlib.sha256(), 0, None
        rows = c.execute(select(t.items.c.raw_path, t.items.c.path, t.items.c.size,
                                t.items.c.sha256)
                         .where(t.items.c.source_id == source_id,
                                t.items.c.parent_path.is_(None))
                         .order_by(t.items.c.raw_path, t.items.c.version.desc()))
        for raw, path, size, sha in rows:
            if raw == last:
                continue  # an earlier version of the same file
            last = raw
            digest.update(manifest_line(sha, size, path))
            files += 1
        return {"files": files, "sha256": digest.hexdigest()}

    def runs(self, case_id: int) -> list[dict]:
        """Runs of a case, oldest first; `process` says of a `running` run whether the
        process that runs it is `alive`, `gone` (killed) or `unknown` (another host)."""
        with self.engine.connect() as c:
            rows = c.execute(select(t.scan_runs, t.sources.c.name.label("source"))
                             .join(t.sources).where(t.scan_runs.c.case_id == case_id)
                             .order_by(t.scan_runs.c.id)).mappings().all()
        return [dict(r) | {"process": _run_process(r) if r["status"] == "running" else None}
                for r in rows]

    # -- items -----------------------------------------------------------------------------
    def done_paths(self, source_id: int) -> dict[str, tuple[int | None, float | None]]:
        """Top-level paths already recorded for a source, with the size and mtime they had
        (their latest version's). A path whose latest version is a worker's failure (out of
        memory, timed out, crashed: recorded from a hash-only reread) is left out, so a
        rescan, perhaps with a larger --max-worker-memory or --file-timeout, reads it again."""
        with self.engine.connect() as c:
            rows = c.execute(select(t.items.c.path, t.items.c.size, t.items.c.mtime,
                                    _worker_failed())
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

    def _latest_versions(self, c, source_id: int, keys: set[bytes]  # noqa: ANN001
                         ) -> dict[tuple[bytes, int], dict]:
        """{(location_key, ordinal): the latest version's row} for locations recorded."""
        latest: dict[tuple[bytes, int], dict] = {}
        cols = (t.items.c.location_key, t.items.c.ordinal, t.items.c.version,
                t.items.c.scan_run_id, t.items.c.size, t.items.c.mtime, t.items.c.sha256,
                t.items.c.kind, _worker_failed())
        todo = sorted(keys)
        for i in range(0, len(todo), 500):
            for r in c.execute(select(*cols).where(
                    t.items.c.source_id == source_id,
                    t.items.c.location_key.in_(todo[i:i + 500]))).mappings():
                key = (bytes(r["location_key"]), r["ordinal"])
                if key not in latest or r["version"] > latest[key]["version"]:
                    latest[key] = dict(r)
        return latest

    def record_items(self, source_id: int, run_id: int, records: Sequence[dict],
                     matches: Sequence[list[dict]]) -> int:
        """Record items (with signals, errors, matches) in one transaction; returns how many new.

        An item is its location: (raw path, ordinal). A location recorded before with the
        same size, mtime and SHA-256 is skipped (what makes a resumed scan idempotent); one
        that differs is recorded as its next version with a note, the earlier kept; so is
        a file read whole after its worker had failed on it (the failure kept its hashes only).
        Members of an archive come before the archive itself, so a recorded archive implies
        its members are recorded: that is what lets an interrupted scan resume safely.
        """
        new = 0
        with self.engine.begin() as c:
            raws = [location_bytes(rec) for rec in records]
            latest = self._latest_versions(c, source_id, {location_key(r) for r in raws})
            for rec, raw, item_matches in zip(records, raws, matches, strict=True):
                key = (location_key(raw), rec.get("ordinal", 0))
                prev = latest.get(key)
                state = (rec.get("size"), rec.get("mtime"), rec.get("sha256"))
                failed = any(e["stage"] == "worker" for e in rec.get("errors") or ())
                if (prev and (prev["size"], prev["mtime"], prev["sha256"]) == state
                        and (failed or not prev["worker_failed"])):
                    continue  # already recorded by an earlier (interrupted) run
                version = prev["version"] + 1 if prev else 1
                res = c.execute(self.insert_ignore(t.items).values(
                    source_id=source_id, scan_run_id=run_id, path=rec["path"],
                    parent_path=rec.get("parent"), raw_path=raw, location_key=key[0],
                    ordinal=key[1],
                    version=version, note=version_note(prev, state),
                    atime_note=rec.get("atime_note"), kind=rec["kind"],
                    media_type=rec.get("media_type"), size=rec.get("size"),
                    mtime=rec.get("mtime"), md5=rec.get("md5"), sha1=rec.get("sha1"),
                    sha256=rec.get("sha256"), width=rec.get("width"), height=rec.get("height"),
                    origin=rec.get("origin"),
                ).returning(t.items.c.id))
                inserted = res.first()  # None: a concurrent scan recorded this version first
                if inserted is None:  # (RETURNING: PostgreSQL's rowcount here is -1 either way)
                    continue
                latest[key] = {"version": version, "scan_run_id": run_id, "size": state[0],
                               "mtime": state[1], "sha256": state[2], "kind": rec["kind"],
                               "worker_failed": failed}
                new += 1
                item_id = inserted[0]
                self._insert_pdq(c, rec)
                if rec.get("findings") and rec.get("sha256"):
                    c.execute(self.insert_ignore(t.findings), [
                        {"sha256": rec["sha256"], "kind": f["kind"], "strength": f["strength"],
                         "source": _text(f["source"])[:200], "error": _text(f.get("error")),
                         "data": json.dumps(f, sort_keys=True, ensure_ascii=False)}
                        for f in rec["findings"]])
                vpdq = rec.get("vpdq")
                if vpdq and rec.get("sha256"):
                    c.execute(self.insert_ignore(t.signals).values(
                        sha256=rec["sha256"], signal_type="vpdq", mode=vpdq["mode"],
                        value=vpdq["signal"], quality=len(vpdq["frames"])))
                if rec.get("errors"):
                    c.execute(insert(t.errors), [
                        {"item_id": item_id, "stage": e["stage"], "message": _text(e["message"])}
                        for e in rec["errors"]])
                if item_matches:
                    c.execute(self.insert_ignore(t.matches), [
                        {"item_id": item_id, "entry_id": m["entry_id"], "list_id": m["list_id"],
                         "signal_type": m["signal"], "distance": m["distance"],
                         "transform": m["transform"], "timestamp": m.get("timestamp"),
                         "detail": json.dumps(m["detail"]) if m.get("detail") else None}
                        for m in item_matches])
        return new

    def matched_entries(self, case_id: int, path: str) -> list[int]:
        """Entry ids an item (by its path, in any source of the case) matched."""
        with self.engine.connect() as c:
            return sorted({r[0] for r in c.execute(
                select(t.matches.c.entry_id)
                .select_from(t.matches.join(t.items, t.matches.c.item_id == t.items.c.id)
                             .join(t.sources, t.items.c.source_id == t.sources.c.id))
                .where(t.sources.c.case_id == case_id, t.items.c.path == path))})

    def case_signals(self, case_id: int) -> list[dict]:
        """Every item of a case with what tracing needs: identity, times, PDQ (exact
        preferred) with its 8 dihedral hashes, video frames, findings."""
        with self.engine.connect() as c:
            rows = [dict(r) for r in c.execute(
                select(t.items.c.id, t.items.c.path, t.items.c.parent_path, t.items.c.kind,
                       t.items.c.sha256, t.items.c.size, t.items.c.mtime, t.items.c.width,
                       t.items.c.height, t.sources.c.name.label("source"))
                .join(t.sources, t.items.c.source_id == t.sources.c.id)
                .where(t.sources.c.case_id == case_id)
                .order_by(t.sources.c.name, t.items.c.path, t.items.c.ordinal,
                          t.items.c.version)).mappings()]
            shas = select(t.items.c.sha256).join(t.sources).where(t.sources.c.case_id == case_id)
            sig: dict[tuple[str, str], tuple[str, int]] = {}
            for sha, stype, value, quality, _mode in c.execute(
                select(t.signals.c.sha256, t.signals.c.signal_type, t.signals.c.value,
                       t.signals.c.quality, t.signals.c.mode)
                .where(t.signals.c.sha256.in_(shas))
                .order_by(t.signals.c.sha256, t.signals.c.signal_type, t.signals.c.mode)):
                sig.setdefault((sha, stype), (value, quality))  # exact sorts before fast
            finds: dict[str, list[dict]] = {}
            for sha, data in c.execute(select(t.findings.c.sha256, t.findings.c.data)
                                       .where(t.findings.c.sha256.in_(shas))
                                       .order_by(t.findings.c.id)):
                finds.setdefault(sha, []).append(json.loads(data))
        for r in rows:
            sha = r["sha256"]
            pdq, pdq8, vpdq = (sig.get((sha, k)) for k in ("pdq", "pdq8", "vpdq"))
            r["pdq"] = pdq[0] if pdq else None
            r["quality"] = pdq[1] if pdq else None
            r["dihedral"] = pdq8[0].split(",") if pdq8 else ([pdq[0]] if pdq else [])
            r["vpdq"] = vpdq[0] if vpdq else None
            r["findings"] = finds.get(sha, []) if sha else []
        return rows

    def match_inputs(self, case_id: int, after_item: int = 0, limit: int = 20_000
                     ) -> list[dict]:
        """Up to `limit` items of a case (id > after_item, by id) as the matcher takes them:
        crypto hashes, PDQ with its dihedral hashes (exact preferred), vPDQ frames. What
        re-matching reads instead of the evidence. (A scan's PDQ variants of palette and
        bordered pictures are not stored: re-matching looks up the plain hash's 8 turns.)"""
        from cairn.signals.vpdq import parse_signal  # PyAV: only when re-matching

        with self.engine.connect() as c:
            rows = [dict(r) for r in c.execute(
                select(t.items.c.id.label("item_id"), t.items.c.md5, t.items.c.sha1,
                       t.items.c.sha256)
                .join(t.sources, t.items.c.source_id == t.sources.c.id)
                .where(t.sources.c.case_id == case_id, t.items.c.id > after_item)
                .order_by(t.items.c.id).limit(limit)).mappings()]
            shas = sorted({r["sha256"] for r in rows if r["sha256"]})
            sig: dict[tuple[str, str], tuple[str, int]] = {}
            for start in range(0, len(shas), 2000):
                for sha, stype, value, quality in c.execute(
                        select(t.signals.c.sha256, t.signals.c.signal_type, t.signals.c.value,
                               t.signals.c.quality)
                        .where(t.signals.c.sha256.in_(shas[start:start + 2000]))
                        .order_by(t.signals.c.sha256, t.signals.c.signal_type,
                                  t.signals.c.mode)):
                    sig.setdefault((sha, stype), (value, quality))  # exact before fast
        for r in rows:
            sha = r["sha256"]
            pdq, pdq8, vpdq = (sig.get((sha, k)) for k in ("pdq", "pdq8", "vpdq"))
            if pdq:
                r["pdq"] = {"hash": pdq[0], "quality": pdq[1],
                            "dihedral": pdq8[0].split(",") if pdq8 else [pdq[0]]}
            if vpdq:
                frames = parse_signal(vpdq[0])
                r["vpdq"] = {"frames": [(f.timestamp, f.hash, f.quality) for f in frames]}
        return rows

    def add_matches(self, case_id: int, found: Sequence[tuple[int, list[dict]]],
                    why: str) -> dict[str, int]:
        """Record matches of already-recorded items ((item id, [match dicts])), ignoring
        those on record (whatever their status); one custody entry naming how many were new,
        by list. Returns {list name: new matches}."""
        new_by_list: dict[int, int] = {}
        with self.engine.begin() as c:
            # RETURNING, not rowcount: PostgreSQL's driver counts a skipped conflicting row
            stmt = self.insert_ignore(t.matches).returning(t.matches.c.id)
            for item_id, ms in found:
                for m in ms:
                    res = c.execute(stmt.values(
                        item_id=item_id, entry_id=m["entry_id"], list_id=m["list_id"],
                        signal_type=m["signal"], distance=m["distance"],
                        transform=m["transform"], timestamp=m.get("timestamp"),
                        detail=json.dumps(m["detail"]) if m.get("detail") else None))
                    if res.first() is not None:
                        new_by_list[m["list_id"]] = new_by_list.get(m["list_id"], 0) + 1
            if not new_by_list:
                return {}
            names = dict(c.execute(select(t.lists.c.id, t.lists.c.name)
                                   .where(t.lists.c.id.in_(list(new_by_list)))).all())
            by_name = {names[k]: v for k, v in sorted(new_by_list.items())}
            self._log(c, case_chain(case_id), "matches.added", f"case:{case_id}",
                      {"why": why, "matches": sum(by_name.values()), "by_list": by_name},
                      case_id)
        return by_name

    def max_entry_id(self) -> int:
        with self.engine.connect() as c:
            return int(c.execute(select(func.max(t.list_entries.c.id))).scalar() or 0)

    def items_without_exact_pdq(self, case_id: int, only_matched: bool) -> dict[str, set[str]]:
        """{source location: item paths} of items with a fast PDQ and no exact one."""
        exact = select(t.signals.c.sha256).where(t.signals.c.signal_type == "pdq",
                                                 t.signals.c.mode == "exact")
        q = (select(t.sources.c.location, t.items.c.path)
             .select_from(t.items.join(t.sources, t.items.c.source_id == t.sources.c.id)
                          .join(t.signals, t.signals.c.sha256 == t.items.c.sha256))
             .where(t.sources.c.case_id == case_id, t.signals.c.signal_type == "pdq",
                    t.signals.c.mode == "fast", t.items.c.sha256.not_in(exact)))
        if only_matched:
            q = q.where(t.items.c.id.in_(select(t.matches.c.item_id)))
        out: dict[str, set[str]] = {}
        with self.engine.connect() as c:
            for location, path in c.execute(q):
                out.setdefault(location, set()).add(path)
        return out

    def _insert_pdq(self, c, rec: dict) -> int:  # noqa: ANN001 - a Connection
        """Record a record's PDQ signal once per content and mode; 1 if it was new."""
        p = rec.get("pdq")
        if not p or not rec.get("sha256"):
            return 0
        if p.get("dihedral"):  # the 8 rotations/flips: tracing links turned copies
            c.execute(self.insert_ignore(t.signals).values(
                sha256=rec["sha256"], signal_type="pdq8", mode=p["mode"],
                value=",".join(p["dihedral"]), quality=p["quality"]))
        new = c.execute(self.insert_ignore(t.signals).values(
            sha256=rec["sha256"], signal_type="pdq", mode=p["mode"], value=p["hash"],
            quality=p["quality"]).returning(t.signals.c.id)).first()
        return int(new is not None)  # (PostgreSQL's rowcount is -1 here, new or not)

    def add_pdq_signals(self, records: Sequence[dict]) -> int:
        """Record PDQ signals of already-recorded content; returns how many were new."""
        with self.engine.begin() as c:
            return sum(self._insert_pdq(c, rec) for rec in records)

    def source_counts(self, source_id: int) -> dict[str, int]:
        with self.engine.connect() as c:
            kinds: dict[str, int] = dict(c.execute(select(t.items.c.kind, func.count()).where(
                t.items.c.source_id == source_id).group_by(t.items.c.kind)).all())
            n_err = c.execute(select(func.count(func.distinct(t.errors.c.item_id))).select_from(
                t.errors.join(t.items)).where(t.items.c.source_id == source_id)).scalar_one()
            n_match = c.execute(select(func.count(func.distinct(t.matches.c.item_id))).select_from(
                t.matches.join(t.items)).where(t.items.c.source_id == source_id)).scalar_one()
            n_atime = c.execute(select(func.count()).where(
                t.items.c.source_id == source_id, t.items.c.atime_note.is_not(None))).scalar_one()
        return {
            "files": sum(kinds.values()), "images": kinds.get("image", 0),
            "videos": kinds.get("video", 0), "archives": kinds.get("archive", 0),
            "models": kinds.get("model", 0), "items_with_errors": n_err, "items_matched": n_match,
            # read without O_NOATIME (not the owner), symlinks, folders listed without it
            "items_atime_not_kept": n_atime,
        }

    def case_items(self, case_id: int) -> list[dict]:
        """Every item of a case with its PDQ, errors and matches, in a deterministic order."""
        with self.engine.connect() as c:
            rows = c.execute(
                select(t.items, t.sources.c.name.label("source"))
                .join(t.sources, t.items.c.source_id == t.sources.c.id)
                .where(t.sources.c.case_id == case_id)
                .order_by(t.sources.c.name, t.sources.c.id, t.items.c.path, t.items.c.ordinal,
                          t.items.c.version)
            ).mappings().all()
            pdqs: dict[str, dict] = {}
            vpdqs: dict[str, dict] = {}
            # exact sorts before fast: an exact hash, where one exists, is the one reported
            for sha, stype, value, quality, mode in c.execute(
                select(t.signals.c.sha256, t.signals.c.signal_type, t.signals.c.value,
                       t.signals.c.quality, t.signals.c.mode)
                .select_from(t.signals.join(t.items, t.signals.c.sha256 == t.items.c.sha256)
                             .join(t.sources, t.items.c.source_id == t.sources.c.id))
                .where(t.sources.c.case_id == case_id)
                .order_by(t.signals.c.sha256, t.signals.c.signal_type, t.signals.c.mode)
                .distinct()
            ):
                if stype == "pdq":
                    pdqs.setdefault(sha, {"hash": value, "quality": quality, "mode": mode})
                elif stype == "vpdq":
                    vpdqs.setdefault(sha, {"signal": value, "frames": quality, "mode": mode})
            finds: dict[str, list[dict]] = {}
            for sha, data in c.execute(
                select(t.findings.c.sha256, t.findings.c.data)
                .where(t.findings.c.sha256.in_(
                    select(t.items.c.sha256).join(t.sources)
                    .where(t.sources.c.case_id == case_id)))
                .order_by(t.findings.c.sha256, t.findings.c.kind, t.findings.c.source)
            ):
                finds.setdefault(sha, []).append(json.loads(data))
            errs: dict[int, list[dict]] = {}
            for item_id, stage, message in c.execute(
                select(t.errors.c.item_id, t.errors.c.stage, t.errors.c.message)
                .select_from(t.errors.join(t.items, t.errors.c.item_id == t.items.c.id)
                             .join(t.sources, t.items.c.source_id == t.sources.c.id))
                .where(t.sources.c.case_id == case_id)
                .order_by(t.errors.c.item_id, t.errors.c.id)
            ):
                errs.setdefault(item_id, []).append({"stage": stage, "message": message})
            ms: dict[int, list[dict]] = {}
            for m in c.execute(
                select(t.matches.c.item_id, t.matches.c.signal_type, t.matches.c.distance,
                       t.matches.c.transform, t.matches.c.timestamp, t.matches.c.detail,
                       t.lists.c.name.label("list"),
                       t.list_entries.c.value, t.list_entries.c.category,
                       t.list_entries.c.labels, t.list_entries.c.collab,
                       t.list_entries.c.line_no, t.list_entries.c.origin,
                       t.list_entries.c.status, t.list_entries.c.attrs,
                       t.lists.c.tlp.label("list_tlp"),
                       t.matches.c.status.label("match_status"), t.matches.c.status_at,
                       t.matches.c.status_by, t.matches.c.status_note)
                .select_from(
                    t.matches.join(t.items, t.matches.c.item_id == t.items.c.id)
                    .join(t.sources, t.items.c.source_id == t.sources.c.id)
                    .join(t.lists, t.matches.c.list_id == t.lists.c.id)
                    .join(t.list_entries, t.matches.c.entry_id == t.list_entries.c.id))
                .where(t.sources.c.case_id == case_id)
                .order_by(t.matches.c.item_id, t.lists.c.name, t.matches.c.signal_type,
                          t.matches.c.distance, t.list_entries.c.value)
            ).mappings():
                extra = json.loads(m["detail"]) if m["detail"] else {}
                if m["timestamp"] is not None:
                    extra["timestamp"] = m["timestamp"]
                ms.setdefault(m["item_id"], []).append({
                    "list": m["list"], "signal": m["signal_type"], "distance": m["distance"],
                    "transform": m["transform"], **extra, "status": m["match_status"],
                    **({"status_at": m["status_at"], "status_by": m["status_by"],
                        "status_note": m["status_note"]}
                       if m["match_status"] != "active" else {}),
                    "entry": {"value": m["value"], "category": m["category"],
                              "labels": json.loads(m["labels"]), "collab": m["collab"],
                              "line": m["line_no"],
                              # where a shared entry came from, and if it was judged since
                              **({"origin": json.loads(m["origin"])} if m["origin"] else {}),
                              **({"status": m["status"]} if m["status"] != "active" else {}),
                              # its own marking and its list's: what may carry it onwards
                              "tlp": (json.loads(m["attrs"] or "{}") or {}).get("tlp"),
                              "list_tlp": m["list_tlp"]},
                })
        out = []
        for r in rows:
            d = dict(r)
            d["pdq"] = pdqs.get(d["sha256"]) if d["sha256"] else None
            d["vpdq"] = vpdqs.get(d["sha256"]) if d["sha256"] else None
            d["findings"] = finds.get(d["sha256"], []) if d["sha256"] else []
            d["errors"] = errs.get(d["id"], [])
            d["matches"] = ms.get(d["id"], [])
            out.append(d)
        return out

    # -- lists ---------------------------------------------------------------------------
    def add_list(self, name: str, source_file: str, fmt: str, pdq_threshold: int,
                 entries: Iterable[dict], rejected: int | Sequence, replace: bool = False,
                 vpdq_percent: float | None = None, append: bool = False,
                 purpose: str = "detect", tlp: str | None = None,
                 stix_id: Callable[[str, str], str | None] | None = None,
                 enabled_ratio: float = 1.0, by: str | None = None) -> dict:
        """Import a list in one transaction: a failure half-way leaves nothing behind.
        `replace` drops an existing list of that name first; `append` adds entries to it
        (duplicates ignored) instead. `rejected`: a count, or the list a streaming reader
        fills while `entries` is consumed. `stix_id(signal_type, value)`: the Indicator id an
        entry is shared under (the exchange supplies it; the store knows nothing of STIX).
        `enabled_ratio`: HMA's matching_enabled_ratio of a new list (the HMA endpoints).
        `by`: the HTTP API's user who imported it, named in the custody entry."""
        with self.engine.begin() as c:
            old = c.execute(select(t.lists.c.id).where(t.lists.c.name == name)).first()
            if old and not (replace or append):
                raise StoreError(f"a list named {name!r} exists; use --replace to re-import "
                                 "it or --append to add to it")
            if old and replace:
                if self._active_matches_by_case(c, old[0]) or c.execute(
                        select(t.matches.c.id).where(t.matches.c.list_id == old[0]).limit(1)
                ).first():
                    raise StoreError(f"cases hold matches against {name!r}: `--replace` "
                                     "would lose them. Import the new file with --append, "
                                     "or remove the list first (its matches are kept)")
                self._delete_list(c, old[0])
            if old and append:
                list_id = old[0]
            else:
                list_id = inserted_id(c.execute(insert(t.lists).values(
                    name=name, source_file=source_file, format=fmt, imported_at=now(),
                    entry_count=0, rejected_count=0, pdq_threshold=pdq_threshold,
                    vpdq_percent=vpdq_percent, purpose=purpose, tlp=tlp,
                    enabled_ratio=enabled_ratio,
                )))
            gen = self._bump(c, destructive=bool(old and replace))
            before = self._entry_count(c, list_id)
            added_at = datetime.now(UTC).isoformat(timespec="microseconds")
            # a Media's hashes share their labels and attrs objects: encode each once
            labels_json, attrs_json, origin_json = _JsonMemo(), _JsonMemo(), _JsonMemo()
            rows = ((list_id, e["signal_type"], e["value"], e.get("category"),
                     labels_json(e.get("labels") or []), e.get("collab"), e["line"], gen,
                     attrs_json(e.get("attrs")), origin_json(e.get("origin")), added_at,
                     stix_id(e["signal_type"], e["value"]) if stix_id else None)
                    for e in entries)
            if self.engine.dialect.name == "sqlite":
                _insert_entries_sorted(c, rows)
            else:
                stmt = self.insert_ignore(t.list_entries)
                for chunk in _chunks(rows, 5000):
                    c.execute(stmt, [dict(zip(_ENTRY_COLUMNS, r, strict=True))
                                     for r in chunk])
            count = self._entry_count(c, list_id)
            n_rejected = rejected if isinstance(rejected, int) else len(rejected)
            c.execute(update(t.lists).where(t.lists.c.id == list_id).values(
                entry_count=count, rejected_count=t.lists.c.rejected_count + n_rejected))
            action = ("list.appended" if old and append else
                      "list.replaced" if old else "list.imported")
            self._log(c, STORE_CHAIN, action, f"list:{name}",
                      {"list": name, "file": source_file, "format": fmt, "entries": count,
                       "added": count - before, "rejected": n_rejected, "purpose": purpose,
                       "tlp": tlp, "pdq_threshold": pdq_threshold}
                      | ({"by": by} if by else {}))
        return {"id": list_id, "name": name, "entries": count, "added": count - before,
                "rejected": n_rejected}

    @staticmethod
    def _entry_count(c, list_id: int) -> int:  # noqa: ANN001 - a Connection
        return c.execute(select(func.count()).select_from(t.list_entries)
                         .where(t.list_entries.c.list_id == list_id)).scalar_one()

    @staticmethod
    def _delete_list(c, list_id: int) -> None:  # noqa: ANN001 - a Connection
        """Drop a list that no case's match refers to (`--replace`: its entries are read
        again from the new file)."""
        c.execute(delete(t.list_entries).where(t.list_entries.c.list_id == list_id))
        c.execute(delete(t.lists).where(t.lists.c.id == list_id))

    def update_list(self, name: str, new_name: str | None = None,
                    enabled_ratio: float | None = None) -> dict | None:
        """Rename a list or change its HMA enabled ratio (the share of `/m/lookup` calls it
        answers), with a custody entry; None when no list in use has that name. A new name
        already taken raises StoreError. Neither change alters which entries match, so the
        list generation (what the list index checks) is left as it is."""
        with self.engine.begin() as c:
            row = c.execute(select(t.lists).where(t.lists.c.name == name,
                                                  t.lists.c.removed_at.is_(None))
                            ).mappings().first()
            if not row:
                return None
            changes: dict[str, Any] = {}
            if new_name is not None and new_name != name:
                if c.execute(select(t.lists.c.id).where(t.lists.c.name == new_name)).first():
                    raise StoreError(f"a list named {new_name!r} exists")
                changes["name"] = new_name
            if enabled_ratio is not None and enabled_ratio != row["enabled_ratio"]:
                changes["enabled_ratio"] = enabled_ratio
            if changes:
                c.execute(update(t.lists).where(t.lists.c.id == row["id"]).values(**changes))
                self._log(c, STORE_CHAIN, "list.updated", f"list:{name}",
                          {"list": name, **changes})
            return dict(row) | changes

    def entry_id(self, name: str, signal_type: str, value: str) -> int | None:
        """The id of a list's entry for one signal (entries are unique per list, type and
        value), whatever its status; None if absent."""
        e = t.list_entries.c
        with self.engine.connect() as c:
            return c.execute(select(e.id).select_from(t.list_entries.join(t.lists)).where(
                t.lists.c.name == name, e.signal_type == signal_type, e.value == value)
            ).scalar_one_or_none()

    def list_match_counts(self, name: str) -> dict[str, int]:
        """Active matches against a list, by case name: what removing it would retract."""
        with self.engine.connect() as c:
            return {n: k for n, k in c.execute(
                select(t.cases.c.name, func.count())
                .select_from(t.matches.join(t.items, t.matches.c.item_id == t.items.c.id)
                             .join(t.sources, t.items.c.source_id == t.sources.c.id)
                             .join(t.cases, t.sources.c.case_id == t.cases.c.id)
                             .join(t.lists, t.matches.c.list_id == t.lists.c.id))
                .where(t.lists.c.name == name, t.lists.c.removed_at.is_(None),
                       t.matches.c.status == "active")
                .group_by(t.cases.c.name))}

    def remove_list(self, name: str, force: bool = False) -> dict | None:
        """Take a list out of use, keeping the record: it is renamed `NAME (removed TIME)`,
        its entries stop matching (`list_removed`), partners lose access, and every case's
        matches against it become `list_removed`, each case's custody log saying how many.
        Refuses (StoreError) while cases hold active matches against it, unless `force`.
        None when no list has that name."""
        with self.engine.begin() as c:
            old = c.execute(select(t.lists.c.id, t.lists.c.entry_count).where(
                t.lists.c.name == name, t.lists.c.removed_at.is_(None))).first()
            if not old:
                return None
            list_id, entries = old
            held = self._active_matches_by_case(c, list_id)
            if held and not force:
                raise StoreError(
                    f"cases hold {sum(held.values())} active match(es) against {name!r} ("
                    + ", ".join(f"{n}: {k}" for n, k in sorted(held.items()))
                    + "); they would become `list_removed`. Add --force to remove it")
            when = now()
            gen = self._bump(c, destructive=False)  # entries leave the index as inactive
            c.execute(update(t.list_entries).where(t.list_entries.c.list_id == list_id)
                      .values(status="list_removed", status_at=when, changed_gen=gen))
            c.execute(delete(t.list_access).where(t.list_access.c.list_id == list_id))
            c.execute(update(t.lists).where(t.lists.c.id == list_id).values(
                name=f"{name} (removed {when})", removed_at=when))
            retracted = self._set_match_status(c, t.matches.c.list_id == list_id, name,
                                               "list_removed", "list removed")
            self._log(c, STORE_CHAIN, "list.removed", f"list:{name}",
                      {"list": name, "entries": entries, "renamed": f"{name} (removed {when})",
                       "matches_by_case": retracted})
            return {"list": name, "entries": entries, "matches_by_case": retracted}

    def _active_matches_by_case(self, c, list_id: int) -> dict[str, int]:  # noqa: ANN001
        return {n: k for n, k in c.execute(
            select(t.cases.c.name, func.count())
            .select_from(t.matches.join(t.items, t.matches.c.item_id == t.items.c.id)
                         .join(t.sources, t.items.c.source_id == t.sources.c.id)
                         .join(t.cases, t.sources.c.case_id == t.cases.c.id))
            .where(t.matches.c.list_id == list_id, t.matches.c.status == "active")
            .group_by(t.cases.c.name))}

    def _set_match_status(self, c, which: Any, list_name: str, status: str,  # noqa: ANN001
                          note: str | None) -> dict[str, int]:
        """Set the status of the matches `which` selects (those not already so; reinstating
        never revives a removed list's), with who and when; one custody entry per case
        naming how many. Returns {case id: matches changed}."""
        cond = [which, t.matches.c.status != status]
        if status == "active":
            cond.append(t.matches.c.status != "list_removed")
        rows = c.execute(select(t.matches.c.id, t.sources.c.case_id)
                         .select_from(t.matches.join(t.items, t.matches.c.item_id == t.items.c.id)
                                      .join(t.sources, t.items.c.source_id == t.sources.c.id))
                         .where(*cond)).all()
        by_case: dict[int, list[int]] = {}
        for mid, case_id in rows:
            by_case.setdefault(case_id, []).append(mid)
        when = now()
        for case_id, ids in sorted(by_case.items()):
            for start in range(0, len(ids), 500):
                c.execute(update(t.matches).where(t.matches.c.id.in_(ids[start:start + 500]))
                          .values(status=status, status_at=when,
                                  status_by=self.actor.examiner, status_note=note))
            self._log(c, case_chain(case_id), f"matches.{status}", f"list:{list_name}",
                      {"list": list_name, "matches": len(ids), "status": status,
                       "note": note}, case_id)
        return {str(k): len(v) for k, v in sorted(by_case.items())}

    def set_entry_status(self, name: str, values: Iterable[str], status: str,
                         note: str | None = None, by: str | None = None
                         ) -> dict[str, list[str]]:
        """Withdraw, mark false positive, or reactivate entries of a list by hash value;
        returns {"changed": [...], "unchanged": [...], "unknown": [...]}. `by`: the HTTP
        API's user who asked, named in the custody entry."""
        if status not in ENTRY_STATUSES:
            raise StoreError(f"status must be one of {', '.join(ENTRY_STATUSES)}")
        out: dict[str, list[str]] = {"changed": [], "unchanged": [], "unknown": []}
        changed_ids: list[int] = []
        with self.engine.begin() as c:
            row = c.execute(select(t.lists.c.id).where(t.lists.c.name == name,
                                                       t.lists.c.removed_at.is_(None))).first()
            if not row:
                raise StoreError(f"no list named {name!r}")
            gen = self._bump(c, destructive=False)
            for value in dict.fromkeys(v.strip().lower() for v in values):
                hits = c.execute(select(t.list_entries.c.id, t.list_entries.c.status).where(
                    t.list_entries.c.list_id == row[0],
                    t.list_entries.c.value == value)).all()
                if not hits:
                    out["unknown"].append(value)
                    continue
                ids = [i for i, st in hits if st != status]
                if not ids:
                    out["unchanged"].append(value)
                    continue
                c.execute(update(t.list_entries).where(t.list_entries.c.id.in_(ids)).values(
                    status=status, status_at=now(), status_note=note, changed_gen=gen))
                changed_ids += ids
                out["changed"].append(value)
            if changed_ids:
                self._set_match_status(c, t.matches.c.entry_id.in_(changed_ids), name, status,
                                       note)
            if out["changed"]:
                self._log(c, STORE_CHAIN, f"list.entries.{status}", f"list:{name}",
                          {"list": name, "status": status, "values": out["changed"],
                           "note": note} | ({"by": by} if by else {}))
        return out

    # -- list generations: what the persisted list index checks itself against ----------
    def _bump(self, c, destructive: bool) -> int:  # noqa: ANN001 - a Connection
        gen = self._meta_int(c, "lists_generation") + 1
        self._meta_set(c, "lists_generation", gen)
        if destructive:
            self._meta_set(c, "lists_rebuild_generation", gen)
        return gen

    def _meta_int(self, c, key: str) -> int:  # noqa: ANN001 - a Connection
        v = c.execute(select(t.meta.c.value).where(t.meta.c.key == key)).scalar_one_or_none()
        return int(v) if v is not None else 0

    def _meta_set(self, c, key: str, value: object) -> None:  # noqa: ANN001 - a Connection
        if c.execute(update(t.meta).where(t.meta.c.key == key).values(value=str(value))).rowcount:
            return
        c.execute(insert(t.meta).values(key=key, value=str(value)))

    def list_generations(self) -> tuple[str, int, int]:
        """(this store's id, current generation, generation of the last change that removed
        rows). The id tells a list index of this store from one of a store since recreated."""
        with self.engine.begin() as c:
            uid = c.execute(select(t.meta.c.value).where(t.meta.c.key == "store_id")
                            ).scalar_one_or_none()
            if uid is None:
                uid = uuid.uuid4().hex
                c.execute(self.insert_ignore(t.meta).values(key="store_id", value=uid))
                uid = c.execute(select(t.meta.c.value).where(t.meta.c.key == "store_id")
                                ).scalar_one()
            return (uid, self._meta_int(c, "lists_generation"),
                    self._meta_int(c, "lists_rebuild_generation"))

    def lists(self, counts: bool = True) -> list[dict]:
        """The lists in use, each with its entries counted by signal type (`signal_types`);
        `counts=False` leaves the counts out: they take a scan of every entry (a fifth of a
        second at 1M entries), the rows alone a millisecond."""
        with self.engine.connect() as c:
            rows = c.execute(select(t.lists).where(t.lists.c.removed_at.is_(None))
                             .order_by(t.lists.c.name)).mappings().all()
            if not counts:
                return [dict(r) for r in rows]
            by_type: dict[int, dict[str, int]] = {}
            for list_id, st, n in c.execute(
                select(t.list_entries.c.list_id, t.list_entries.c.signal_type, func.count())
                .group_by(t.list_entries.c.list_id, t.list_entries.c.signal_type)
            ):
                by_type.setdefault(list_id, {})[st] = n
        return [dict(r) | {"signal_types": by_type.get(r["id"], {})} for r in rows]

    def list_info(self, name: str) -> dict | None:
        with self.engine.connect() as c:
            row = c.execute(select(t.lists).where(t.lists.c.name == name)).mappings().first()
        return dict(row) if row else None

    def export_entries(self, name: str, active_only: bool = True) -> Iterator[dict]:
        """A list's entries for export, streamed, in the order their files gave them: import
        by import, line by line. Not by entry id: SQLite imports insert in key order (see
        `_insert_entries_sorted`), and a VICS Media's hashes must stay together."""
        e = t.list_entries.c
        q = (select(t.list_entries).join(t.lists).where(t.lists.c.name == name)
             .order_by(e.added_at, e.line_no, e.id).execution_options(yield_per=20_000))
        if active_only:
            q = q.where(e.status == "active")
        with self.engine.connect() as c:
            for r in c.execute(q).mappings():
                yield {"signal_type": r["signal_type"], "value": r["value"],
                       "category": r["category"], "labels": json.loads(r["labels"]),
                       "collab": r["collab"], "line": r["line_no"], "id": r["id"],
                       "attrs": json.loads(r["attrs"]) if r["attrs"] else None,
                       "origin": json.loads(r["origin"]) if r["origin"] else None,
                       "status": r["status"]}

    def iter_entries(self, after_id: int = 0) -> Iterator[tuple[int, int, str, str, bool]]:
        """(entry id, list id, signal type, value, active) of list entries with id > after_id,
        in id order, for building and extending the list index."""
        e = t.list_entries.c
        with self.engine.connect() as c:
            yield from c.execute(
                select(e.id, e.list_id, e.signal_type, e.value, e.status == "active")
                .where(e.id > after_id).order_by(e.id)
                .execution_options(yield_per=50_000))

    def changed_entries(self, since_gen: int, upto_id: int) -> list[tuple[int, bool]]:
        """(entry id, active) of entries up to `upto_id` whose status changed after since_gen."""
        e = t.list_entries.c
        with self.engine.connect() as c:
            return [(i, bool(a)) for i, a in c.execute(
                select(e.id, e.status == "active")
                .where(e.changed_gen > since_gen, e.id <= upto_id))]

    def entries_by_id(self, ids: Iterable[int]) -> dict[int, dict[str, Any]]:
        ids = list(ids)
        if not ids:
            return {}
        with self.engine.connect() as c:
            rows = c.execute(select(t.list_entries, t.lists.c.name.label("list"))
                             .join(t.lists).where(t.list_entries.c.id.in_(ids))).mappings()
            return {r["id"]: dict(r) | {"labels": json.loads(r["labels"])} for r in rows}


class _JsonMemo:
    """json.dumps for list import, remembering the last object encoded (by identity)."""

    def __init__(self) -> None:
        self._last: tuple[int, str | None] = (0, None)
        self._keep: object = None  # holds the object so its id cannot be reused

    def __call__(self, obj: object) -> str | None:
        if obj is None or obj == {}:
            return None
        if obj == []:
            return "[]"
        if id(obj) != self._last[0]:
            self._keep = obj
            self._last = (id(obj), json.dumps(obj, sort_keys=True, default=str))
        return self._last[1]


@overload
def _text(s: str) -> str: ...


@overload
def _text(s: str | None) -> str | None: ...


def _text(s: str | None) -> str | None:
    """Evidence-derived words (an exception's message, a finding's source) with any NUL
    written `\\x00`: PostgreSQL refuses NUL in text, and would refuse the whole batch."""
    return s.replace("\0", "\\x00") if s else s


def _worker_failed() -> Any:
    """Whether an item carries a worker's failure (its record is a hash-only reread)."""
    return (select(t.errors.c.id).where(t.errors.c.item_id == t.items.c.id,
                                        t.errors.c.stage == "worker")
            .exists().label("worker_failed"))


_ENTRY_COLUMNS = ("list_id", "signal_type", "value", "category", "labels", "collab", "line_no",
                  "changed_gen", "attrs", "origin", "added_at", "stix_id")


def _chunks(rows: Iterable[tuple], n: int) -> Iterator[list[tuple]]:
    batch: list[tuple] = []
    for r in rows:
        batch.append(r)
        if len(batch) >= n:
            yield batch
            batch = []
    if batch:
        yield batch


def _insert_entries_sorted(c, rows: Iterable[tuple]) -> None:  # noqa: ANN001 - a Connection
    """SQLite: stage the entries in a temporary table, then insert them ordered by signal
    type and value. Two indexes on list_entries are keyed on the value, a random 64-digit
    key; inserted in file order, every row lands on a random page of each, and past a few
    million rows the indexes outgrow the cache (3M entries: 80 s). In key order each index
    grows at its end (3M: 29 s). Duplicates keep the first line, as before (`line_no` breaks
    ties)."""
    cols = ", ".join(_ENTRY_COLUMNS)
    c.exec_driver_sql("DROP TABLE IF EXISTS temp.import_entries")
    c.exec_driver_sql(f"CREATE TEMP TABLE import_entries ({cols})")
    marks = ", ".join("?" * len(_ENTRY_COLUMNS))
    for chunk in _chunks(rows, 5000):
        c.exec_driver_sql(f"INSERT INTO temp.import_entries VALUES ({marks})", chunk)
    # DO NOTHING on the unique key only (OR IGNORE would also drop rows breaking NOT NULL);
    # `WHERE true` is SQLite's documented fix for the ON CONFLICT parsing ambiguity
    c.exec_driver_sql(f"INSERT INTO list_entries ({cols}) SELECT {cols} FROM "
                      "temp.import_entries WHERE true ORDER BY signal_type, value, line_no "
                      "ON CONFLICT DO NOTHING")
    c.exec_driver_sql("DROP TABLE temp.import_entries")


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # noqa: ANN001
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA cache_size=-131072")  # 128 MiB: million-row list imports stay in cache
    cur.close()


@contextlib.contextmanager
def _flocked(path: Path) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # waits for the other process's migration
        yield
    finally:
        os.close(fd)  # releases the lock


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
    """alive | gone | unknown: whether the process recorded by start_run still runs."""
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


def manifest_line(sha256: str | None, size: int | None, path: str) -> bytes:
    """One file in a source's acquisition manifest (also what `sources verify` hashes)."""
    return f"{sha256 or '-'} {size if size is not None else '-'} {path}\n".encode()
