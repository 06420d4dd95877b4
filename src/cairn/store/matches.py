"""The repository of matches (`store.matches`): an item's hit on a list entry. Matches are
never deleted (DESIGN.md): they change status with their entry (withdrawn, false positive) or
their list (`list_removed`), and only `active` matches count. Every change is one custody entry
per case, in the change's transaction.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, func, select, update

from cairn.records import NewMatch
from cairn.store import schema as t
from cairn.store.common import Repository, now
from cairn.store.custody import case_chain

# a match's status: its entry's, or `list_removed`; only `active` matches count
MATCH_STATUSES = ("active", "withdrawn", "false_positive", "list_removed")


class Matches(Repository):
    """Matches of recorded items against list entries, and their status."""

    def add(self, case_id: int, found: Sequence[tuple[int, list[NewMatch]]],
            why: str) -> dict[str, int]:
        """Record matches of already-recorded items ((item id, [match dicts])), ignoring
        those on record (whatever their status); one custody entry naming how many were new,
        by list. Returns {list name: new matches}."""
        new_by_list: dict[int, int] = {}
        with self.engine.begin() as c:
            # RETURNING, not rowcount: PostgreSQL's driver counts a skipped conflicting row
            stmt = self.store.insert_ignore(t.matches).returning(t.matches.c.id)
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
            self.log(c, case_chain(case_id), "matches.added", f"case:{case_id}",
                     {"why": why, "matches": sum(by_name.values()), "by_list": by_name},
                     case_id)
        return by_name

    def entries(self, case_id: int, path: str) -> list[int]:
        """Entry ids an item (by its path, in any source of the case) matched."""
        with self.engine.connect() as c:
            return sorted({r[0] for r in c.execute(
                select(t.matches.c.entry_id)
                .select_from(t.matches.join(t.items, t.matches.c.item_id == t.items.c.id)
                             .join(t.sources, t.items.c.source_id == t.sources.c.id))
                .where(t.sources.c.case_id == case_id, t.items.c.path == path))})

    def by_case(self, name: str) -> dict[str, int]:
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

    def active_by_case(self, c: Connection, list_id: int) -> dict[str, int]:
        """Active matches against a list (by id), by case name, in transaction `c`."""
        return {n: k for n, k in c.execute(
            select(t.cases.c.name, func.count())
            .select_from(t.matches.join(t.items, t.matches.c.item_id == t.items.c.id)
                         .join(t.sources, t.items.c.source_id == t.sources.c.id)
                         .join(t.cases, t.sources.c.case_id == t.cases.c.id))
            .where(t.matches.c.list_id == list_id, t.matches.c.status == "active")
            .group_by(t.cases.c.name))}

    def set_status(self, c: Connection, which: Any, list_name: str, status: str,
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
                                  status_by=self.store.actor.examiner, status_note=note))
            self.log(c, case_chain(case_id), f"matches.{status}", f"list:{list_name}",
                     {"list": list_name, "matches": len(ids), "status": status,
                      "note": note}, case_id)
        return {str(k): len(v) for k, v in sorted(by_case.items())}
