"""The repository of a case's items as the HTTP API reads them: one page at a time, and one
item in full.

Paging is by item id (`after`: the last id of the previous page), never by OFFSET, so a page
costs the same wherever it is and items recorded meanwhile never shift a page already read.
Filters that SQL can say (matched, errors, source, device, suspect) are in the query, every
value a bound parameter; filters it cannot (a finding that says the content is synthetic, a
trace family) are a `keep` predicate over the rows, applied while the ids are walked in
chunks until the page is full. Reads only: recording a view is the caller's (it is a custody
entry, see service/items.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Connection, Select, func, select

from cairn.records import ErrorRecord, ItemDetail, ItemMatch, ItemRow, StoredSignal
from cairn.store import custody
from cairn.store import schema as t
from cairn.store.custody import case_chain
from cairn.store.store import Store

CHUNK = 1000  # rows read per query while a `keep` predicate fills a page


@dataclass(frozen=True, slots=True)
class ItemFilter:
    """What SQL filters on. None: not filtered."""

    matched: bool | None = None  # an active match against a list that detects (not known-good)
    errors: bool | None = None  # an error recorded while reading it
    source: str | None = None  # a source's name
    device: str | None = None  # a device's id in the case: its linked sources
    suspect: str | None = None  # a suspect's id in the case: its devices' sources


def _counting_match() -> Any:
    """Matches that count: active, against a list that is not a known-good list."""
    return (select(func.count()).select_from(t.matches.join(t.lists,
                                                            t.matches.c.list_id == t.lists.c.id))
            .where(t.matches.c.item_id == t.items.c.id, t.matches.c.status == "active",
                   t.lists.c.purpose != "known-good"))


def row_select(active: Any) -> Select:
    """An ItemRow's columns: the item, its source's name, and how many matches (`active`:
    those counting, as a scalar subquery; all) and errors it has. Shared with the review
    queue, which pages the same rows in its own order."""
    i, s = t.items.c, t.sources.c
    n_matches = (select(func.count()).select_from(t.matches)
                 .where(t.matches.c.item_id == i.id).scalar_subquery())
    return select(i.id, s.name.label("source"), i.path, i.parent_path, i.ordinal, i.version,
                  i.kind, i.media_type, i.size, i.md5, i.sha1, i.sha256, i.width, i.height,
                  active.label("active_matches"), n_matches.label("matches"),
                  error_count().label("errors"))


def error_count() -> Any:
    """How many errors an item has, as a scalar subquery on `items`."""
    return (select(func.count()).select_from(t.errors)
            .where(t.errors.c.item_id == t.items.c.id).scalar_subquery())


def _query(case_id: int, f: ItemFilter) -> Any:
    i, s = t.items.c, t.sources.c
    active, n_errors = _counting_match().scalar_subquery(), error_count()
    q = (row_select(active).join(t.sources, i.source_id == s.id).where(s.case_id == case_id))
    if f.matched is not None:
        q = q.where(active > 0 if f.matched else active == 0)
    if f.errors is not None:
        q = q.where(n_errors > 0 if f.errors else n_errors == 0)
    if f.source is not None:
        q = q.where(s.name == f.source)
    if f.device is not None or f.suspect is not None:
        linked = (select(t.device_sources.c.source_id)
                  .join(t.devices, t.devices.c.id == t.device_sources.c.device_id)
                  .where(t.devices.c.case_id == case_id))
        if f.device is not None:
            linked = linked.where(t.devices.c.key == f.device)
        if f.suspect is not None:
            linked = linked.join(t.suspects, t.suspects.c.id == t.devices.c.suspect_id).where(
                t.suspects.c.key == f.suspect, t.suspects.c.case_id == case_id)
        q = q.where(s.id.in_(linked))
    return q


def query(case_id: int, f: ItemFilter) -> Any:
    """The select of a case's items passing `f` (the columns `page` returns), unordered: for
    a repository that pages them its own way (store/reviewqueue.py)."""
    return _query(case_id, f)


def page(store: Store, case_id: int, f: ItemFilter, after: int, limit: int,
         keep: Callable[[ItemRow], bool] | None = None) -> list[ItemRow]:
    """Up to `limit` + 1 items of a case with id > `after`, by id, that pass the filter and
    `keep` (the extra one tells the caller a next page exists)."""
    q = _query(case_id, f).order_by(t.items.c.id)
    out: list[ItemRow] = []
    with store.engine.connect() as c:
        while len(out) <= limit:
            step = limit + 1 if keep is None else max(CHUNK, limit + 1)
            rows = [cast(ItemRow, dict(r)) for r in c.execute(
                q.where(t.items.c.id > after).limit(step)).mappings()]
            out += [r for r in rows if keep is None or keep(r)]
            if len(rows) < step:
                break
            after = rows[-1]["id"]
    return out[:limit + 1]


def case_findings(store: Store, case_id: int, shas: list[str] | None = None
                  ) -> Iterator[tuple[str, dict[str, Any]]]:
    """(sha256, finding) of every item's content in a case, or of the contents `shas` (at
    most a page's: one bound parameter each); unreadable data skipped."""
    which: Any = shas if shas is not None else (
        select(t.items.c.sha256).join(t.sources).where(t.sources.c.case_id == case_id))
    with store.engine.connect() as c:
        for sha, data in c.execute(select(t.findings.c.sha256, t.findings.c.data)
                                   .where(t.findings.c.sha256.in_(which))
                                   .order_by(t.findings.c.id)):
            try:
                finding = json.loads(data)
            except ValueError:
                continue
            if isinstance(finding, dict):
                yield sha, finding


def case_fingerprint(store: Store, case_id: int) -> tuple[int, ...]:
    """What changes whenever what tracing reads of a case changes: its items (count, last
    id) and the newest signal and finding rows. Cheap: four aggregates over indexes."""
    with store.engine.connect() as c:
        n, last = c.execute(select(func.count(), func.max(t.items.c.id))
                            .join(t.sources).where(t.sources.c.case_id == case_id)).one()
        sig = c.execute(select(func.max(t.signals.c.id))).scalar()
        fnd = c.execute(select(func.max(t.findings.c.id))).scalar()
    return (n or 0, last or 0, sig or 0, fnd or 0)


def item_ref(store: Store, case_id: int, item_id: int) -> dict[str, Any] | None:
    """{id, source, path} of an item of the case; None when the case has no such item."""
    with store.engine.connect() as c:
        row = c.execute(select(t.items.c.id, t.sources.c.name.label("source"), t.items.c.path)
                        .join(t.sources, t.items.c.source_id == t.sources.c.id)
                        .where(t.items.c.id == item_id, t.sources.c.case_id == case_id)
                        ).mappings().first()
    return dict(row) if row else None


def item(store: Store, case_id: int, item_id: int) -> ItemDetail | None:
    """One item of the case with its signals, findings, errors and matches (each with its
    status and list entry); None when the case has no item of that id."""
    i, s = t.items.c, t.sources.c
    with store.engine.connect() as c:
        row = c.execute(select(t.items, s.name.label("source"), s.location.label("location"))
                        .join(t.sources, i.source_id == s.id)
                        .where(i.id == item_id, s.case_id == case_id)).mappings().first()
        if row is None:
            return None
        it = cast(ItemDetail, {k: row[k] for k in (
            "id", "source", "path", "parent_path", "ordinal", "version", "note", "atime_note",
            "kind", "media_type", "size", "mtime", "md5", "sha1", "sha256", "width", "height")})
        sha = row["sha256"]
        it["signals"] = [cast(StoredSignal, dict(r)) for r in c.execute(
            select(t.signals.c.signal_type.label("type"), t.signals.c.mode,
                   t.signals.c.value, t.signals.c.quality)
            .where(t.signals.c.sha256 == sha)
            .order_by(t.signals.c.signal_type, t.signals.c.mode)).mappings()] if sha else []
        it["findings"] = [json.loads(d) for (d,) in c.execute(
            select(t.findings.c.data).where(t.findings.c.sha256 == sha)
            .order_by(t.findings.c.kind, t.findings.c.source))] if sha else []
        it["errors"] = [cast(ErrorRecord, dict(r)) for r in c.execute(
            select(t.errors.c.stage, t.errors.c.message).where(t.errors.c.item_id == item_id)
            .order_by(t.errors.c.id)).mappings()]
        it["matches"] = _matches(c, item_id)
        it["custody"] = [custody.row_entry(r) for r in c.execute(
            select(t.custody).where(t.custody.c.chain == case_chain(case_id),
                                    t.custody.c.subject == f"item:{item_id}")
            .order_by(t.custody.c.seq)).mappings()]
    return it


def _matches(c: Connection, item_id: int) -> list[ItemMatch]:
    m, e = t.matches.c, t.list_entries.c
    out: list[ItemMatch] = []
    for r in c.execute(
            select(m.signal_type, m.distance, m.transform, m.timestamp, m.detail, m.status,
                   m.status_at, m.status_by, m.status_note, t.lists.c.name.label("list"),
                   t.lists.c.purpose, e.value, e.category, e.labels, e.collab, e.line_no,
                   e.status.label("entry_status"))
            .select_from(t.matches.join(t.lists, m.list_id == t.lists.c.id)
                         .join(t.list_entries, m.entry_id == e.id))
            .where(m.item_id == item_id)
            .order_by(t.lists.c.name, m.signal_type, m.distance, e.value)).mappings():
        out.append(cast(ItemMatch, {
                    "list": r["list"], "purpose": r["purpose"], "signal": r["signal_type"],
                    "distance": r["distance"], "transform": r["transform"],
                    **({"timestamp": r["timestamp"]} if r["timestamp"] is not None else {}),
                    **({"detail": json.loads(r["detail"])} if r["detail"] else {}),
                    "status": r["status"], "status_at": r["status_at"],
                    "status_by": r["status_by"], "status_note": r["status_note"],
                    "entry": {"value": r["value"], "category": r["category"],
                              "labels": json.loads(r["labels"]), "collab": r["collab"],
                              "line": r["line_no"], "status": r["entry_status"]}}))
    return out


def case_counts(store: Store, case_id: int) -> dict[str, Any]:
    """A case's items counted: all, matched (a match that counts), with errors, by kind."""
    i = t.items.c
    in_case = select(i.id).join(t.sources).where(t.sources.c.case_id == case_id)
    with store.engine.connect() as c:
        kinds: dict[str, int] = dict(c.execute(select(i.kind, func.count()).join(t.sources)
                               .where(t.sources.c.case_id == case_id).group_by(i.kind)).all())
        matched = c.execute(select(func.count(func.distinct(t.matches.c.item_id)))
                            .select_from(t.matches.join(t.lists))
                            .where(t.matches.c.item_id.in_(in_case),
                                   t.matches.c.status == "active",
                                   t.lists.c.purpose != "known-good")).scalar_one()
        errors = c.execute(select(func.count(func.distinct(t.errors.c.item_id)))
                           .where(t.errors.c.item_id.in_(in_case))).scalar_one()
    return {"items": sum(kinds.values()), "items_matched": matched,
            "items_with_errors": errors, "by_kind": dict(sorted(kinds.items()))}


def matched_entry_ids(store: Store, item_id: int) -> list[int]:
    """The list entries an item matched (whatever the matches' status)."""
    with store.engine.connect() as c:
        return sorted(set(c.execute(select(t.matches.c.entry_id)
                                    .where(t.matches.c.item_id == item_id)).scalars()))
