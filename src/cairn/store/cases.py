"""The repository of cases and their sources (`store.cases`): a case by name, a source by
location (its name unique in the case), what a source holds, and the acquisition manifest a
scan records of it (`manifest`: what `sources verify` re-hashes the source against)."""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import Connection, func, select

from cairn.store import schema as t
from cairn.store.common import Repository, SourceNameTaken, now
from cairn.store.custody import case_chain


class Cases(Repository):
    """Cases and their sources."""

    def id(self, name: str, create: bool = False) -> int | None:
        """A case's id by name; None if there is none, unless `create` (then made, with its
        custody entry `case.created`)."""
        with self.engine.begin() as c:
            row = c.execute(select(t.cases.c.id).where(t.cases.c.name == name)).first()
            if row:
                return row[0]
            if not create:
                return None
            created = c.execute(self.store.insert_ignore(t.cases).values(
                name=name, created_at=now()).returning(t.cases.c.id)).first()
            cid = c.execute(select(t.cases.c.id).where(t.cases.c.name == name)).scalar_one()
            if created is not None:
                self.log(c, case_chain(cid), "case.created", f"case:{name}", {"name": name},
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
        """A source's id by location in the case, added (with `source.added`) when new;
        refuses a name the case gives another location (`check_source_name`)."""
        self.check_source_name(case_id, name, location)
        with self.engine.begin() as c:
            q = select(t.sources.c.id).where(
                t.sources.c.case_id == case_id, t.sources.c.location == location
            )
            row = c.execute(q).first()
            if row:
                return row[0]
            created = c.execute(self.store.insert_ignore(t.sources).values(
                case_id=case_id, name=name, location=location, added_at=now()
            ).returning(t.sources.c.id)).first()
            sid = c.execute(q).scalar_one()
            if created is not None:
                self.log(c, case_chain(case_id), "source.added", f"source:{sid}",
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
            return files, manifest(c, source_id)

    def all(self) -> list[dict]:
        """Every case by name, with how many sources and items it holds."""
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

    def source_counts(self, source_id: int) -> dict[str, int]:
        """What a source holds: files by kind, items with errors, matched, atime not kept."""
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


def manifest(c: Connection, source_id: int) -> dict[str, Any]:
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


def manifest_line(sha256: str | None, size: int | None, path: str) -> bytes:
    """One file in a source's acquisition manifest (also what `sources verify` hashes)."""
    return f"{sha256 or '-'} {size if size is not None else '-'} {path}\n".encode()
