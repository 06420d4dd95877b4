"""The repository of suspects, devices, actions, operations and a case's lifecycle.

Every change runs in one transaction with its custody entry (`Store.log_change` on the same
connection): checks that need the database (an unknown suspect, a duplicate id, a closed case)
raise `PeopleError` inside that transaction, so a refused change writes nothing, not even a
log entry. Values are checked by cases/people.py before they get here.

A deleted case is marked `deleted` (case_states) and keeps every row: its sources, items and
custody chain stay, so what was logged about it still verifies; listings hide it and every
change refuses it. A closed case refuses changes until reopened.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, FromClause, delete, func, insert, select, update

from cairn.cases.people import PeopleError, check_text
from cairn.store import schema as t
from cairn.store.common import inserted_id, now
from cairn.store.custody import STORE_CHAIN, case_chain
from cairn.store.store import Store

SUSPECT_FIELDS = ("country", "agency", "status", "notes")  # set by edit as they are
DEVICE_FIELDS = ("kind", "make", "model", "serial", "imei", "seized_at", "seized_where",
                 "seized_by", "suspect", "notes")


class People:
    """Suspects, devices, actions and operations of the cases in one store."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.engine = store.engine

    # -- cases ---------------------------------------------------------------------------
    @staticmethod
    def _case(c: Connection, case_id: int) -> tuple[str, str]:
        """(name, status) of a case."""
        row = c.execute(select(t.cases.c.name, t.case_states.c.status)
                        .outerjoin(t.case_states, t.case_states.c.case_id == t.cases.c.id)
                        .where(t.cases.c.id == case_id)).first()
        if row is None:
            raise PeopleError(f"no case with id {case_id}")
        return row[0], row[1] or "open"

    def _open_case(self, c: Connection, case_id: int) -> str:
        """The case's name; refuses a closed or deleted case."""
        name, status = self._case(c, case_id)
        if status == "closed":
            raise PeopleError(f"case {name!r} is closed; `cairn cases reopen {name}` to "
                              "change it")
        if status == "deleted":
            raise PeopleError(f"case {name!r} was deleted")
        return name

    def case_status(self, case_id: int) -> str:
        """open | closed | deleted."""
        with self.engine.connect() as c:
            return self._case(c, case_id)[1]

    def require_open(self, case_id: int) -> None:
        """Raise PeopleError when the case is closed or deleted (for scans and imports)."""
        with self.engine.connect() as c:
            self._open_case(c, case_id)

    def cases(self, include_deleted: bool = False) -> list[dict]:
        """Cases by name: status, operation, sources, items, suspects, devices, created."""
        cs = t.cases.c

        def count(table: FromClause, where: Any) -> Any:
            return select(func.count()).select_from(table).where(where).scalar_subquery()

        q = (select(cs.name, cs.created_at,
                    func.coalesce(t.case_states.c.status, "open").label("status"),
                    t.operations.c.name.label("operation"),
                    count(t.sources, t.sources.c.case_id == cs.id).label("sources"),
                    count(t.items.join(t.sources), t.sources.c.case_id == cs.id).label("items"),
                    count(t.suspects, t.suspects.c.case_id == cs.id).label("suspects"),
                    count(t.devices, t.devices.c.case_id == cs.id).label("devices"))
             .outerjoin(t.case_states, t.case_states.c.case_id == cs.id)
             .outerjoin(t.operation_cases, t.operation_cases.c.case_id == cs.id)
             .outerjoin(t.operations, t.operations.c.id == t.operation_cases.c.operation_id)
             .order_by(cs.name))
        with self.engine.connect() as c:
            rows = [dict(r) for r in c.execute(q).mappings()]
        return [r for r in rows if include_deleted or r["status"] != "deleted"]

    def create_case(self, name: str) -> dict:
        with self.engine.begin() as c:
            if c.execute(select(t.cases.c.id).where(t.cases.c.name == name)).first():
                raise PeopleError(f"a case named {name!r} exists")
            cid = inserted_id(c.execute(insert(t.cases).values(name=name, created_at=now())))
            c.execute(insert(t.case_states).values(case_id=cid, status="open",
                                                   changed_at=now()))
            self.store.log_change(c, case_chain(cid), "case.created", f"case:{name}",
                                  {"name": name}, cid)
        return {"name": name, "status": "open"}

    def rename_case(self, case_id: int, new: str) -> dict:
        with self.engine.begin() as c:
            old = self._open_case(c, case_id)
            if c.execute(select(t.cases.c.id).where(t.cases.c.name == new)).first():
                raise PeopleError(f"a case named {new!r} exists")
            c.execute(update(t.cases).where(t.cases.c.id == case_id).values(name=new))
            self.store.log_change(c, case_chain(case_id), "case.renamed", f"case:{new}",
                                  {"before": old, "after": new}, case_id)
        return {"name": new, "before": old}

    def set_case_status(self, case_id: int, status: str, reason: str | None = None) -> dict:
        """close (open -> closed), reopen (closed -> open) or delete (any -> deleted)."""
        with self.engine.begin() as c:
            name, before = self._case(c, case_id)
            if before == "deleted":
                raise PeopleError(f"case {name!r} was deleted")
            if before == status:
                raise PeopleError(f"case {name!r} is already {status}")
            if status == "open" and before != "closed":
                raise PeopleError(f"case {name!r} is not closed")
            details: dict[str, Any] = {"name": name, "before": before, "after": status,
                                       "reason": reason}
            if status == "deleted":  # what the tombstone leaves in place
                details["kept"] = {
                    "sources": c.execute(select(func.count()).select_from(t.sources)
                                         .where(t.sources.c.case_id == case_id)).scalar_one(),
                    "items": c.execute(select(func.count()).select_from(
                        t.items.join(t.sources)).where(t.sources.c.case_id == case_id)
                    ).scalar_one()}
            if not c.execute(update(t.case_states).where(t.case_states.c.case_id == case_id)
                             .values(status=status, changed_at=now())).rowcount:
                c.execute(insert(t.case_states).values(case_id=case_id, status=status,
                                                       changed_at=now()))
            action = {"closed": "case.closed", "open": "case.reopened",
                      "deleted": "case.deleted"}[status]
            self.store.log_change(c, case_chain(case_id), action, f"case:{name}", details, case_id)
        return {"name": name, "status": status, "before": before}

    # -- suspects ------------------------------------------------------------------------
    def add_suspect(self, case_id: int, key: str, *, aliases: Sequence[str] = (),
                    identifiers: Iterable[tuple[str, str]] = (), country: str | None = None,
                    agency: str | None = None, status: str | None = None,
                    notes: str | None = None) -> dict:
        with self.engine.begin() as c:
            self._open_case(c, case_id)
            if self._suspect_id(c, case_id, key) is not None:
                raise PeopleError(f"suspect {key!r} exists in this case; `cairn suspects "
                                  "edit` changes it")
            sid = inserted_id(c.execute(insert(t.suspects).values(
                case_id=case_id, key=key, aliases=json.dumps(list(dict.fromkeys(aliases))),
                country=country, agency=agency, status=status, notes=notes,
                created_at=now())))
            for kind, value in dict.fromkeys(identifiers):
                c.execute(insert(t.identifiers).values(suspect_id=sid, kind=kind, value=value))
            record = self._suspect(c, sid)
            self.store.log_change(c, case_chain(case_id), "suspect.added", f"suspect:{key}",
                                  record, case_id)
        return record

    def edit_suspect(self, case_id: int, key: str, *, set_fields: dict[str, str | None],
                     add_aliases: Sequence[str] = (), drop_aliases: Sequence[str] = (),
                     add_identifiers: Iterable[tuple[str, str]] = (),
                     drop_identifiers: Iterable[tuple[str, str]] = ()) -> dict:
        """Change a suspect; the custody entry holds before and after of what changed.
        Dropping an alias or identifier the suspect does not have is refused."""
        with self.engine.begin() as c:
            self._open_case(c, case_id)
            sid = self._need_suspect(c, case_id, key)
            before = self._suspect(c, sid)
            aliases = [a for a in before["aliases"] if a not in drop_aliases]
            for a in drop_aliases:
                if a not in before["aliases"]:
                    raise PeopleError(f"suspect {key!r} has no alias {a!r}")
            aliases += [a for a in add_aliases if a not in aliases]
            values = {k: v for k, v in set_fields.items() if k in SUSPECT_FIELDS}
            c.execute(update(t.suspects).where(t.suspects.c.id == sid)
                      .values(aliases=json.dumps(aliases), **values))
            for kind, value in drop_identifiers:
                if not c.execute(delete(t.identifiers).where(
                        t.identifiers.c.suspect_id == sid, t.identifiers.c.kind == kind,
                        t.identifiers.c.value == value)).rowcount:
                    raise PeopleError(f"suspect {key!r} has no {kind} {value!r}")
            for kind, value in add_identifiers:
                c.execute(self.store.insert_ignore(t.identifiers).values(
                    suspect_id=sid, kind=kind, value=value))
            after = self._suspect(c, sid)
            changed = _changes(before, after)
            if changed:
                self.store.log_change(c, case_chain(case_id), "suspect.edited", f"suspect:{key}",
                                      {"suspect": key} | changed, case_id)
        return after | {"changed": sorted(changed.get("after", {}))}

    def suspects(self, case_id: int) -> list[dict]:
        with self.engine.connect() as c:
            ids = c.execute(select(t.suspects.c.id).where(t.suspects.c.case_id == case_id)
                            .order_by(t.suspects.c.key)).scalars().all()
            return [self._suspect(c, i) for i in ids]

    def suspect(self, case_id: int, key: str) -> dict:
        with self.engine.connect() as c:
            return self._suspect(c, self._need_suspect(c, case_id, key))

    @staticmethod
    def _suspect_id(c: Connection, case_id: int, key: str) -> int | None:
        return c.execute(select(t.suspects.c.id).where(t.suspects.c.case_id == case_id,
                                                       t.suspects.c.key == key)).scalar()

    def _need_suspect(self, c: Connection, case_id: int, key: str) -> int:
        sid = self._suspect_id(c, case_id, key)
        if sid is None:
            known = c.execute(select(t.suspects.c.key).where(t.suspects.c.case_id == case_id)
                              .order_by(t.suspects.c.key)).scalars().all()
            raise PeopleError(f"no suspect {key!r} in this case"
                              + (f"; its suspects: {', '.join(known)}" if known
                                 else "; it has none (`cairn suspects add`)"))
        return sid

    @staticmethod
    def _suspect(c: Connection, sid: int) -> dict:
        """A suspect as shown and logged: its id, fields, identifiers by kind, devices."""
        r = c.execute(select(t.suspects).where(t.suspects.c.id == sid)).mappings().one()
        idents: dict[str, list[str]] = {"account": [], "payment": [], "email": [], "phone": []}
        for kind, value in c.execute(select(t.identifiers.c.kind, t.identifiers.c.value)
                                     .where(t.identifiers.c.suspect_id == sid)
                                     .order_by(t.identifiers.c.kind, t.identifiers.c.value)):
            idents.setdefault(kind, []).append(value)
        devices = c.execute(select(t.devices.c.key).where(t.devices.c.suspect_id == sid)
                            .order_by(t.devices.c.key)).scalars().all()
        return {"id": r["key"], "aliases": json.loads(r["aliases"]), "country": r["country"],
                "agency": r["agency"], "status": r["status"], "notes": r["notes"],
                "identifiers": idents, "devices": list(devices),
                "created_at": r["created_at"]}

    # -- devices -------------------------------------------------------------------------
    def add_device(self, case_id: int, key: str, fields: dict[str, str | None]) -> dict:
        """`fields`: DEVICE_FIELDS, `suspect` by its id in the case."""
        with self.engine.begin() as c:
            self._open_case(c, case_id)
            if self._device_id(c, case_id, key) is not None:
                raise PeopleError(f"device {key!r} exists in this case; `cairn devices edit` "
                                  "changes it")
            values = self._device_values(c, case_id, fields)
            did = inserted_id(c.execute(insert(t.devices).values(
                case_id=case_id, key=key, created_at=now(), **values)))
            record = self._device(c, did)
            self.store.log_change(c, case_chain(case_id), "device.added", f"device:{key}", record,
                                  case_id)
        return record

    def edit_device(self, case_id: int, key: str, fields: dict[str, str | None]) -> dict:
        with self.engine.begin() as c:
            self._open_case(c, case_id)
            did = self._need_device(c, case_id, key)
            before = self._device(c, did)
            c.execute(update(t.devices).where(t.devices.c.id == did)
                      .values(**self._device_values(c, case_id, fields)))
            after = self._device(c, did)
            changed = _changes(before, after)
            if changed:
                self.store.log_change(c, case_chain(case_id), "device.edited", f"device:{key}",
                                      {"device": key} | changed, case_id)
        return after | {"changed": sorted(changed.get("after", {}))}

    def _device_values(self, c: Connection, case_id: int, fields: dict[str, str | None]
                       ) -> dict[str, Any]:
        values: dict[str, Any] = {k: v for k, v in fields.items()
                                  if k in DEVICE_FIELDS and k != "suspect"}
        if "suspect" in fields:
            s = fields["suspect"]
            values["suspect_id"] = None if s is None else self._need_suspect(c, case_id, s)
        return values

    def link_source(self, case_id: int, key: str, source_id: int) -> dict:
        """Link a source of the case to a device (a device has several sources, a source one
        device). Linking it again to the same device changes nothing and logs nothing."""
        with self.engine.begin() as c:
            self._open_case(c, case_id)
            did = self._need_device(c, case_id, key)
            src = c.execute(select(t.sources.c.name, t.sources.c.case_id)
                            .where(t.sources.c.id == source_id)).first()
            if src is None or src[1] != case_id:
                raise PeopleError(f"source {source_id} is not in this case")
            held = c.execute(select(t.devices.c.key).join(
                t.device_sources, t.device_sources.c.device_id == t.devices.c.id)
                .where(t.device_sources.c.source_id == source_id)).scalar()
            if held == key:
                return {"device": key, "source": src[0], "linked": False}
            if held is not None:
                raise PeopleError(f"source {src[0]!r} is linked to device {held!r}")
            c.execute(insert(t.device_sources).values(source_id=source_id, device_id=did,
                                                      linked_at=now()))
            self.store.log_change(c, case_chain(case_id), "device.linked", f"device:{key}",
                                  {"device": key, "source": source_id, "source_name": src[0]},
                                  case_id)
        return {"device": key, "source": src[0], "linked": True}

    def devices(self, case_id: int) -> list[dict]:
        with self.engine.connect() as c:
            ids = c.execute(select(t.devices.c.id).where(t.devices.c.case_id == case_id)
                            .order_by(t.devices.c.key)).scalars().all()
            return [self._device(c, i) for i in ids]

    def device(self, case_id: int, key: str) -> dict:
        with self.engine.connect() as c:
            return self._device(c, self._need_device(c, case_id, key))

    @staticmethod
    def _device_id(c: Connection, case_id: int, key: str) -> int | None:
        return c.execute(select(t.devices.c.id).where(t.devices.c.case_id == case_id,
                                                      t.devices.c.key == key)).scalar()

    def _need_device(self, c: Connection, case_id: int, key: str) -> int:
        did = self._device_id(c, case_id, key)
        if did is None:
            known = c.execute(select(t.devices.c.key).where(t.devices.c.case_id == case_id)
                              .order_by(t.devices.c.key)).scalars().all()
            raise PeopleError(f"no device {key!r} in this case"
                              + (f"; its devices: {', '.join(known)}" if known
                                 else "; it has none (`cairn devices add`)"))
        return did

    @staticmethod
    def _device(c: Connection, did: int) -> dict:
        r = c.execute(select(t.devices, t.suspects.c.key.label("suspect_key"))
                      .outerjoin(t.suspects, t.suspects.c.id == t.devices.c.suspect_id)
                      .where(t.devices.c.id == did)).mappings().one()
        sources = c.execute(select(t.sources.c.id, t.sources.c.name)
                            .join(t.device_sources,
                                  t.device_sources.c.source_id == t.sources.c.id)
                            .where(t.device_sources.c.device_id == did)
                            .order_by(t.sources.c.id)).all()
        return {"id": r["key"], "kind": r["kind"], "make": r["make"], "model": r["model"],
                "serial": r["serial"], "imei": r["imei"], "seized_at": r["seized_at"],
                "seized_where": r["seized_where"], "seized_by": r["seized_by"],
                "suspect": r["suspect_key"], "notes": r["notes"],
                "sources": [n for _, n in sources], "source_ids": [i for i, _ in sources],
                "created_at": r["created_at"]}

    # -- actions -------------------------------------------------------------------------
    def add_action(self, case_id: int, *, kind: str, date: str, country: str,
                   suspects: Sequence[str] = (), devices: Sequence[str] = (),
                   agency: str | None = None, outcome: str | None = None,
                   notes: str | None = None) -> dict:
        with self.engine.begin() as c:
            self._open_case(c, case_id)
            sids = [self._need_suspect(c, case_id, s) for s in dict.fromkeys(suspects)]
            dids = [self._need_device(c, case_id, d) for d in dict.fromkeys(devices)]
            aid = inserted_id(c.execute(insert(t.actions).values(
                case_id=case_id, kind=kind, date=date, country=country, agency=agency,
                outcome=outcome, notes=notes, created_at=now())))
            for sid in sids:
                c.execute(insert(t.action_suspects).values(action_id=aid, suspect_id=sid))
            for did in dids:
                c.execute(insert(t.action_devices).values(action_id=aid, device_id=did))
            record = self._action(c, aid)
            self.store.log_change(c, case_chain(case_id), "action.added", f"action:{aid}", record,
                                  case_id)
        return record

    def actions(self, case_id: int) -> list[dict]:
        """A case's actions by date, then in the order they were recorded."""
        with self.engine.connect() as c:
            ids = c.execute(select(t.actions.c.id).where(t.actions.c.case_id == case_id)
                            .order_by(t.actions.c.date, t.actions.c.id)).scalars().all()
            return [self._action(c, i) for i in ids]

    @staticmethod
    def _action(c: Connection, aid: int) -> dict:
        r = c.execute(select(t.actions).where(t.actions.c.id == aid)).mappings().one()
        suspects = c.execute(select(t.suspects.c.key).join(
            t.action_suspects, t.action_suspects.c.suspect_id == t.suspects.c.id)
            .where(t.action_suspects.c.action_id == aid).order_by(t.suspects.c.key)
        ).scalars().all()
        devices = c.execute(select(t.devices.c.key).join(
            t.action_devices, t.action_devices.c.device_id == t.devices.c.id)
            .where(t.action_devices.c.action_id == aid).order_by(t.devices.c.key)
        ).scalars().all()
        return {"id": r["id"], "kind": r["kind"], "date": r["date"], "country": r["country"],
                "agency": r["agency"], "suspects": list(suspects), "devices": list(devices),
                "outcome": r["outcome"], "notes": r["notes"], "created_at": r["created_at"]}

    # -- operations ----------------------------------------------------------------------
    def create_operation(self, name: str, agencies: Sequence[str],
                         countries: Sequence[str]) -> dict:
        """An operation is not one case's: its creation is logged in the store's chain."""
        check_text(name, "operation name", 200)
        with self.engine.begin() as c:
            if c.execute(select(t.operations.c.id).where(t.operations.c.name == name)).first():
                raise PeopleError(f"an operation named {name!r} exists")
            record = {"name": name, "agencies": list(dict.fromkeys(agencies)),
                      "countries": list(dict.fromkeys(countries))}
            c.execute(insert(t.operations).values(
                name=name, agencies=json.dumps(record["agencies"]),
                countries=json.dumps(record["countries"]), created_at=now()))
            self.store.log_change(c, STORE_CHAIN, "operation.created", f"operation:{name}", record)
        return record

    def add_case_to_operation(self, name: str, case_id: int) -> dict:
        with self.engine.begin() as c:
            case = self._open_case(c, case_id)
            op_id = self._need_operation(c, name)
            held = c.execute(select(t.operations.c.name).join(
                t.operation_cases, t.operation_cases.c.operation_id == t.operations.c.id)
                .where(t.operation_cases.c.case_id == case_id)).scalar()
            if held is not None:
                raise PeopleError(f"case {case!r} already belongs to operation {held!r}")
            c.execute(insert(t.operation_cases).values(case_id=case_id, operation_id=op_id,
                                                       added_at=now()))
            self.store.log_change(c, case_chain(case_id), "operation.case_added",
                                  f"operation:{name}", {"operation": name, "case": case}, case_id)
        return {"operation": name, "case": case}

    @staticmethod
    def _need_operation(c: Connection, name: str) -> int:
        op_id = c.execute(select(t.operations.c.id).where(t.operations.c.name == name)
                          ).scalar()
        if op_id is None:
            known = c.execute(select(t.operations.c.name).order_by(t.operations.c.name)
                              ).scalars().all()
            raise PeopleError(f"no operation named {name!r}"
                              + (f"; operations: {', '.join(known)}" if known else ""))
        return op_id

    def operations(self) -> list[dict]:
        """Operations by name: agencies, countries, the names of their (not deleted) cases."""
        with self.engine.connect() as c:
            ops = c.execute(select(t.operations).order_by(t.operations.c.name)).mappings().all()
            members: dict[int, list[str]] = {}
            for op_id, case in c.execute(
                    select(t.operation_cases.c.operation_id, t.cases.c.name)
                    .join(t.cases, t.cases.c.id == t.operation_cases.c.case_id)
                    .outerjoin(t.case_states, t.case_states.c.case_id == t.cases.c.id)
                    .where(func.coalesce(t.case_states.c.status, "open") != "deleted")
                    .order_by(t.cases.c.name)):
                members.setdefault(op_id, []).append(case)
        return [{"name": r["name"], "agencies": json.loads(r["agencies"]),
                 "countries": json.loads(r["countries"]), "cases": members.get(r["id"], [])}
                for r in ops]

    def operation(self, name: str) -> dict:
        """An operation with its cases (not deleted ones), their suspects, and its actions
        counted by country and kind."""
        with self.engine.connect() as c:
            op_id = self._need_operation(c, name)
            r = c.execute(select(t.operations).where(t.operations.c.id == op_id)
                          ).mappings().one()
            cases = c.execute(
                select(t.cases.c.id, t.cases.c.name)
                .join(t.operation_cases, t.operation_cases.c.case_id == t.cases.c.id)
                .outerjoin(t.case_states, t.case_states.c.case_id == t.cases.c.id)
                .where(t.operation_cases.c.operation_id == op_id,
                       func.coalesce(t.case_states.c.status, "open") != "deleted")
                .order_by(t.cases.c.name)).all()
        by_country: dict[str, dict[str, int]] = {}
        out_cases = []
        for cid, cname in cases:
            actions = self.actions(cid)
            for a in actions:
                kinds = by_country.setdefault(a["country"], {})
                kinds[a["kind"]] = kinds.get(a["kind"], 0) + 1
            out_cases.append({"case": cname,
                              "suspects": [s["id"] for s in self.suspects(cid)],
                              "devices": [d["id"] for d in self.devices(cid)],
                              "actions": len(actions)})
        return {"name": r["name"], "agencies": json.loads(r["agencies"]),
                "countries": json.loads(r["countries"]), "cases": out_cases,
                "actions_by_country": {k: dict(sorted(v.items()))
                                       for k, v in sorted(by_country.items())}}

    # -- what was found ------------------------------------------------------------------
    def source_counts(self, case_id: int, synthetic: Callable[[dict], bool]
                      ) -> dict[int, dict[str, int]]:
        """Per source of the case: items, active matches, matched items, and items with a
        finding `synthetic` says is synthetic. A match is active when its list entry is
        (and its own status, where matches carry one) and its list detects material
        rather than marking known-good files."""
        items, sources, m = t.items, t.sources, t.matches
        out: dict[int, dict[str, int]] = {}
        with self.engine.connect() as c:
            for sid, n in c.execute(select(items.c.source_id, func.count())
                                    .join(sources).where(sources.c.case_id == case_id)
                                    .group_by(items.c.source_id)):
                out[sid] = {"items": n, "active_matches": 0, "matched_items": 0,
                            "synthetic_items": 0}
            active = [t.list_entries.c.status == "active", t.lists.c.purpose != "known-good"]
            if "status" in m.c:  # matches that keep a status of their own
                active.append(m.c.status == "active")
            for sid, n, n_items in c.execute(
                    select(items.c.source_id, func.count(), func.count(m.c.item_id.distinct()))
                    .select_from(m.join(items, m.c.item_id == items.c.id)
                                 .join(sources, items.c.source_id == sources.c.id)
                                 .join(t.list_entries, m.c.entry_id == t.list_entries.c.id)
                                 .join(t.lists, m.c.list_id == t.lists.c.id))
                    .where(sources.c.case_id == case_id, *active)
                    .group_by(items.c.source_id)):
                out[sid]["active_matches"], out[sid]["matched_items"] = n, n_items
            seen: set[int] = set()
            for item_id, sid, data in c.execute(
                    select(items.c.id, items.c.source_id, t.findings.c.data)
                    .select_from(items.join(sources, items.c.source_id == sources.c.id)
                                 .join(t.findings, t.findings.c.sha256 == items.c.sha256))
                    .where(sources.c.case_id == case_id)):
                if item_id in seen:
                    continue
                try:
                    finding = json.loads(data)
                except ValueError:
                    continue
                if isinstance(finding, dict) and synthetic(finding):
                    seen.add(item_id)
                    out[sid]["synthetic_items"] += 1
        return out


def _changes(before: dict, after: dict) -> dict[str, dict]:
    """{"before": {field: old}, "after": {field: new}} of the fields that differ."""
    keys = [k for k in after if k not in ("changed", "created_at") and before.get(k) != after[k]]
    if not keys:
        return {}
    return {"before": {k: before.get(k) for k in keys}, "after": {k: after[k] for k in keys}}
