"""The repository of hash lists (`store.lists`): importing, updating and removing a list, the
status of its entries, what the list index is built and kept current from, and export.

Every change is one custody entry in the store's chain, in the change's transaction, and moves
the list generation on (`bump`): what the persisted list index checks itself against.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from cairn.signals.types import NAMES as SIGNAL_NAMES
from cairn.store import schema as t
from cairn.store.common import Repository, StoreError, inserted_id, now
from cairn.store.custody import STORE_CHAIN

ENTRY_STATUSES = ("active", "withdrawn", "false_positive")


class Lists(Repository):
    """Hash lists and their entries."""

    def add(self, name: str, source_file: str, fmt: str, pdq_threshold: int,
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
            old = c.execute(select(t.lists.c.id, t.lists.c.entry_count)
                            .where(t.lists.c.name == name)).first()
            if old and not (replace or append):
                raise StoreError(f"a list named {name!r} exists; use --replace to re-import "
                                 "it or --append to add to it")
            if old and replace:
                if self.store.matches.active_by_case(c, old[0]) or c.execute(
                        select(t.matches.c.id).where(t.matches.c.list_id == old[0]).limit(1)
                ).first():
                    raise StoreError(f"cases hold matches against {name!r}: `--replace` "
                                     "would lose them. Import the new file with --append, "
                                     "or remove the list first (its matches are kept)")
                _delete_list(c, old[0])
            if old and append:
                list_id = old[0]
            else:
                list_id = inserted_id(c.execute(insert(t.lists).values(
                    name=name, source_file=source_file, format=fmt, imported_at=now(),
                    entry_count=0, rejected_count=0, pdq_threshold=pdq_threshold,
                    vpdq_percent=vpdq_percent, purpose=purpose, tlp=tlp,
                    enabled_ratio=enabled_ratio,
                )))
            gen = self.bump(c, destructive=bool(old and replace))
            added_at = datetime.now(UTC).isoformat(timespec="microseconds")
            # a Media's hashes share their labels and attrs objects: encode each once
            labels_json, attrs_json, origin_json = _JsonMemo(), _JsonMemo(), _JsonMemo()
            rows = ((list_id, e["signal_type"], e["value"], e.get("category"),
                     labels_json(e.get("labels") or []), e.get("collab"), e["line"], gen,
                     attrs_json(e.get("attrs")), origin_json(e.get("origin")), added_at,
                     stix_id(e["signal_type"], e["value"]) if stix_id else None)
                    for e in entries)
            if self.engine.dialect.name == "sqlite":
                # counting a 10M-entry list's rows takes seconds: the list's own count,
                # kept by every import, plus the rows the insert added
                before = old[1] if old and append else 0
                count = before + _insert_entries_sorted(c, rows)
            else:
                before = _entry_count(c, list_id)
                stmt = self.store.insert_ignore(t.list_entries)
                for chunk in _chunks(rows, 5000):
                    c.execute(stmt, [dict(zip(_ENTRY_COLUMNS, r, strict=True))
                                     for r in chunk])
                count = _entry_count(c, list_id)
            n_rejected = rejected if isinstance(rejected, int) else len(rejected)
            c.execute(update(t.lists).where(t.lists.c.id == list_id).values(
                entry_count=count, rejected_count=t.lists.c.rejected_count + n_rejected))
            action = ("list.appended" if old and append else
                      "list.replaced" if old else "list.imported")
            self.log(c, STORE_CHAIN, action, f"list:{name}",
                     {"list": name, "file": source_file, "format": fmt, "entries": count,
                      "added": count - before, "rejected": n_rejected, "purpose": purpose,
                      "tlp": tlp, "pdq_threshold": pdq_threshold}
                     | ({"by": by} if by else {}))
        return {"id": list_id, "name": name, "entries": count, "added": count - before,
                "rejected": n_rejected}

    def update(self, name: str, new_name: str | None = None,
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
                self.log(c, STORE_CHAIN, "list.updated", f"list:{name}",
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

    def remove(self, name: str, force: bool = False) -> dict | None:
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
            held = self.store.matches.active_by_case(c, list_id)
            if held and not force:
                raise StoreError(
                    f"cases hold {sum(held.values())} active match(es) against {name!r} ("
                    + ", ".join(f"{n}: {k}" for n, k in sorted(held.items()))
                    + "); they would become `list_removed`. Add --force to remove it")
            when = now()
            gen = self.bump(c, destructive=False)  # entries leave the index as inactive
            c.execute(update(t.list_entries).where(t.list_entries.c.list_id == list_id)
                      .values(status="list_removed", status_at=when, changed_gen=gen))
            c.execute(delete(t.list_access).where(t.list_access.c.list_id == list_id))
            c.execute(update(t.lists).where(t.lists.c.id == list_id).values(
                name=f"{name} (removed {when})", removed_at=when))
            retracted = self.store.matches.set_status(c, t.matches.c.list_id == list_id, name,
                                                      "list_removed", "list removed")
            self.log(c, STORE_CHAIN, "list.removed", f"list:{name}",
                     {"list": name, "entries": entries, "renamed": f"{name} (removed {when})",
                      "matches_by_case": retracted})
            return {"list": name, "entries": entries, "matches_by_case": retracted}

    def set_status(self, name: str, values: Iterable[str], status: str,
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
            gen = self.bump(c, destructive=False)
            for value in dict.fromkeys(v.strip().lower() for v in values):
                hits = c.execute(select(t.list_entries.c.id, t.list_entries.c.status).where(
                    t.list_entries.c.list_id == row[0],
                    # every type named: the unique (list, type, value) index is then probed
                    # once a type, not walked over the whole list for each value
                    t.list_entries.c.signal_type.in_(SIGNAL_NAMES),
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
                self.store.matches.set_status(c, t.matches.c.entry_id.in_(changed_ids), name,
                                              status, note)
            if out["changed"]:
                self.log(c, STORE_CHAIN, f"list.entries.{status}", f"list:{name}",
                         {"list": name, "status": status, "values": out["changed"],
                          "note": note} | ({"by": by} if by else {}))
        return out

    # -- list generations: what the persisted list index checks itself against ----------
    def bump(self, c: Connection, destructive: bool) -> int:
        """Move the list generation on, in transaction `c`; `destructive`: the change removed
        rows (a replaced list), so a list index older than it is rebuilt, not extended."""
        gen = _meta_int(c, "lists_generation") + 1
        _meta_set(c, "lists_generation", gen)
        if destructive:
            _meta_set(c, "lists_rebuild_generation", gen)
        return gen

    def generations(self) -> tuple[str, int, int]:
        """(this store's id, current generation, generation of the last change that removed
        rows). The id tells a list index of this store from one of a store since recreated."""
        with self.engine.begin() as c:
            uid = c.execute(select(t.meta.c.value).where(t.meta.c.key == "store_id")
                            ).scalar_one_or_none()
            if uid is None:
                uid = uuid.uuid4().hex
                c.execute(self.store.insert_ignore(t.meta).values(key="store_id", value=uid))
                uid = c.execute(select(t.meta.c.value).where(t.meta.c.key == "store_id")
                                ).scalar_one()
            return (uid, _meta_int(c, "lists_generation"),
                    _meta_int(c, "lists_rebuild_generation"))

    def all(self, counts: bool = True) -> list[dict]:
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

    def info(self, name: str) -> dict | None:
        """A list's row by name (a removed list's too, under its new name); None if absent."""
        with self.engine.connect() as c:
            row = c.execute(select(t.lists).where(t.lists.c.name == name)).mappings().first()
        return dict(row) if row else None

    def export(self, name: str, active_only: bool = True) -> Iterator[dict]:
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

    def entries(self, after_id: int = 0) -> Iterator[tuple[int, int, str, str, bool]]:
        """(entry id, list id, signal type, value, active) of list entries with id > after_id,
        in id order, for building and extending the list index."""
        e = t.list_entries.c
        with self.engine.connect() as c:
            if self.engine.dialect.name == "sqlite":
                # the driver's cursor, plain tuples a batch at a time: SQLAlchemy's rows cost
                # ~0.5 us more each, ~50 s of building a 100M-entry index from the store
                cur = c.connection.driver_connection.cursor()  # type: ignore[union-attr]
                cur.execute("SELECT id, list_id, signal_type, value, status = 'active' "
                            "FROM list_entries WHERE id > ? ORDER BY id", (after_id,))
                while rows := cur.fetchmany(50_000):
                    yield from rows
                return
            yield from c.execute(
                select(e.id, e.list_id, e.signal_type, e.value, e.status == "active")
                .where(e.id > after_id).order_by(e.id)
                .execution_options(yield_per=50_000))

    def changed(self, since_gen: int, upto_id: int) -> list[tuple[int, bool]]:
        """(entry id, active) of entries up to `upto_id` whose status changed after since_gen."""
        e = t.list_entries.c
        with self.engine.connect() as c:  # `id + 0`: read through ix_entries_changed_gen,
            # a few rows; SQLite otherwise takes `id <=` for a range on the table and scans
            # every entry up to `upto_id` (2 s at 14M, after each append)
            return [(i, bool(a)) for i, a in c.execute(
                select(e.id, e.status == "active")
                .where(e.changed_gen > since_gen, e.id + 0 <= upto_id))]

    def by_id(self, ids: Iterable[int]) -> dict[int, dict[str, Any]]:
        """{entry id: the entry's row, its list's name as `list`, labels decoded}."""
        ids = list(ids)
        if not ids:
            return {}
        with self.engine.connect() as c:
            rows = c.execute(select(t.list_entries, t.lists.c.name.label("list"))
                             .join(t.lists).where(t.list_entries.c.id.in_(ids))).mappings()
            return {r["id"]: dict(r) | {"labels": json.loads(r["labels"])} for r in rows}


    def max_entry_id(self) -> int:
        """The highest entry id (0 when there are none): what an import added is above it."""
        with self.engine.connect() as c:
            return int(c.execute(select(func.max(t.list_entries.c.id))).scalar() or 0)


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


IMPORT_CACHE_KIB = 1 << 20  # SQLite's page cache while an import inserts its entries

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


def _insert_entries_sorted(c: Connection, rows: Iterable[tuple]) -> int:
    """SQLite: stage the entries in a temporary table, then insert them ordered by signal
    type and value. Two indexes on list_entries are keyed on the value, a random 64-digit
    key; inserted in file order, every row lands on a random page of each, and past a few
    million rows the indexes outgrow the cache (3M entries: 80 s). In key order each index
    grows at its end (3M: 29 s). Duplicates keep the first line, as before (`line_no` breaks
    ties). Returns how many rows were added (duplicates are not)."""
    cols = ", ".join(_ENTRY_COLUMNS)
    c.exec_driver_sql("DROP TABLE IF EXISTS temp.import_entries")
    c.exec_driver_sql(f"CREATE TEMP TABLE import_entries ({cols})")
    marks = ", ".join("?" * len(_ENTRY_COLUMNS))
    for chunk in _chunks(rows, 5000):
        c.exec_driver_sql(f"INSERT INTO temp.import_entries VALUES ({marks})", chunk)
    # DO NOTHING on the unique key only (OR IGNORE would also drop rows breaking NOT NULL);
    # `WHERE true` is SQLite's documented fix for the ON CONFLICT parsing ambiguity
    # the Indicator-id index takes the rows in random order: with a page cache of 128 MiB a
    # 1M append to a 12M list reads and spills each of its pages several times (30 s of
    # the insert's 42); with 1 GiB for this statement, once (17 s)
    cache = c.exec_driver_sql("PRAGMA main.cache_size").scalar_one()
    c.exec_driver_sql(f"PRAGMA main.cache_size = {-IMPORT_CACHE_KIB}")
    try:
        added = c.exec_driver_sql(
            f"INSERT INTO list_entries ({cols}) SELECT {cols} FROM temp.import_entries "
            "WHERE true ORDER BY signal_type, value, line_no ON CONFLICT DO NOTHING").rowcount
    finally:
        c.exec_driver_sql(f"PRAGMA main.cache_size = {int(cache)}")
    c.exec_driver_sql("DROP TABLE temp.import_entries")
    return int(added)


def _entry_count(c: Connection, list_id: int) -> int:
    return c.execute(select(func.count()).select_from(t.list_entries)
                     .where(t.list_entries.c.list_id == list_id)).scalar_one()


def _delete_list(c: Connection, list_id: int) -> None:
    """Drop a list that no case's match refers to (`--replace`: its entries are read
    again from the new file)."""
    c.execute(delete(t.list_entries).where(t.list_entries.c.list_id == list_id))
    c.execute(delete(t.lists).where(t.lists.c.id == list_id))


def _meta_int(c: Connection, key: str) -> int:
    v = c.execute(select(t.meta.c.value).where(t.meta.c.key == key)).scalar_one_or_none()
    return int(v) if v is not None else 0


def _meta_set(c: Connection, key: str, value: object) -> None:
    if c.execute(update(t.meta).where(t.meta.c.key == key).values(value=str(value))).rowcount:
        return
    c.execute(insert(t.meta).values(key=key, value=str(value)))
