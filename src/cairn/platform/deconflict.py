"""Deconfliction: what more than one case, or more than one country, holds, so two agencies
never knock on the same door unaware of each other.

Compared across the cases given (one case: against every other case in the store):
- `suspects`     a suspect identifier (e-mail, phone) held by suspects of two cases or of
                 two countries, or by a suspect and a platform account's e-mail elsewhere;
- `accounts`     a platform account (`platform:ACCOUNT`) in two cases' platform records or
                 suspects' `account` identifiers;
- `payment_ids`  a payment identifier in two cases' payments or suspects' identifiers;
- `content`      a family of pictures (the same SHA-256, or PDQ within the match distance in
                 any rotation or flip: trace/families.py) with members in two cases.
Each finding lists where it appears: the case, through what (a suspect, platform records),
and the country those name. Countries come from suspects, declared accounts and payments.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select

from cairn.platform.records import normalise_email
from cairn.store import Store
from cairn.store import schema as t
from cairn.trace.families import families

SECTIONS = {"email": "suspects", "phone": "suspects", "account": "accounts",
            "payment": "payment_ids"}
CHUNK = 500


def case_scope(store: Store, case_ids: list[int]) -> dict[int, str]:
    """The cases compared: those given, or with one given, it and every other live case."""
    with store.engine.connect() as c:
        rows = c.execute(select(t.cases.c.id, t.cases.c.name)
                         .outerjoin(t.case_states, t.case_states.c.case_id == t.cases.c.id)
                         .where(func.coalesce(t.case_states.c.status, "open") != "deleted")
                         .order_by(t.cases.c.name)).all()
    names = dict(rows)
    if len(case_ids) == 1:
        return names
    return {cid: names[cid] for cid in case_ids if cid in names}


def deconflict(store: Store, case_ids: list[int], workers: int = 1) -> dict:
    scope = case_scope(store, case_ids)
    ids = sorted(scope)
    seen: dict[tuple[str, str], list[dict]] = {}

    def add(kind: str, value: str, case_id: int, via: str, country: str | None) -> None:
        hit = {"case": scope[case_id], "via": via, "country": country}
        where = seen.setdefault((kind, value), [])
        if hit not in where:
            where.append(hit)

    with store.engine.connect() as c:
        s, i = t.suspects.c, t.identifiers.c
        for kind, value, cid, key, country in c.execute(
                select(i.kind, i.value, s.case_id, s.key, s.country)
                .join(t.suspects, s.id == i.suspect_id).where(s.case_id.in_(ids))):
            value = normalise_email(value) if kind == "email" else value
            add(kind, value, cid, f"suspect {key}", country)
        wanted = {k: {v for (kk, v) in seen if kk == k} for k in SECTIONS}
        a, p, e = t.platform_accounts.c, t.platform_payments.c, t.platform_emails.c
        acct = a.platform + ":" + a.account
        _platform_hits(c, add, "account", acct, a.case_id, ids, wanted["account"],
                       select(acct, a.case_id, a.country), "platform records")
        pacct = p.platform + ":" + p.account
        _platform_hits(c, add, "payment", p.payment_id, p.case_id, ids, wanted["payment"],
                       select(p.payment_id, p.case_id, p.country, pacct).distinct(),
                       "payments of")
        _platform_hits(c, add, "email", e.email, e.case_id, ids, wanted["email"],
                       select(e.email, e.case_id, e.platform + ":" + e.account).distinct(),
                       "e-mail of")
    out: dict[str, list[dict]] = {"suspects": [], "accounts": [], "payment_ids": []}
    for (kind, value), where in sorted(seen.items()):
        cases = {w["case"] for w in where}
        countries = {w["country"] for w in where if w["country"]}
        if len(cases) > 1 or len(countries) > 1:
            out[SECTIONS[kind]].append({"kind": kind, "value": value,
                                        "cases": sorted(cases),
                                        "countries": sorted(countries),
                                        "appearances": where})
    out_all: dict[str, Any] = {"cases": [scope[i] for i in ids], **out,
                               "content": _content(store, scope, workers)}
    return out_all


def _platform_hits(c: Any, add: Any, kind: str, col: Any, case_col: Any, ids: list[int],
                   wanted: set[str], q: Any, via: str) -> None:
    """Rows whose value is in two cases (grouped in SQL), or that a suspect names."""
    many = (select(col).where(case_col.in_(ids), col.is_not(None)).group_by(col)
            .having(func.count(case_col.distinct()) > 1))
    values = list(c.execute(many).scalars())
    for chunk in _chunks(sorted(set(values) | wanted)):
        for row in c.execute(q.where(case_col.in_(ids), col.in_(chunk))):
            value, cid = row[0], row[1]
            if kind == "account":
                add(kind, value, cid, via, row[2])
            elif kind == "payment":
                add(kind, value, cid, f"{via} {row[3]}", row[2])
            else:
                add(kind, value, cid, f"{via} {row[2]}", None)


def _chunks(values: list[str]) -> Iterable[list[str]]:
    for k in range(0, len(values), CHUNK):
        yield values[k:k + CHUNK]


def _content(store: Store, scope: dict[int, str], workers: int) -> list[dict]:
    """Families of pictures with members in more than one case."""
    items: list[dict] = []
    label: dict[str, tuple[str, str]] = {}  # the label families sees -> (case, source)
    for cid, name in sorted(scope.items()):
        for it in store.records.case_signals(cid):
            key = f"{name}/{it['source']}"
            label[key] = (name, it["source"])
            items.append(it | {"source": key})
    out = []
    for fam in families(items, workers=workers):
        cases = sorted({label[m["source"]][0] for m in fam.members})
        if len(cases) > 1:
            out.append({"family": fam.id, "representative": fam.representative["sha256"],
                        "cases": cases, "size": len(fam.members),
                        "members": [{"case": label[m["source"]][0],
                                     "source": label[m["source"]][1],
                                     "path": m["path"], "sha256": m["sha256"],
                                     "via": m["via"], "distance": m["distance"]}
                                    for m in fam.members]})
    return out
