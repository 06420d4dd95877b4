"""The store's side of sharing: partners and their tokens, access to lists, peers and pull
checkpoints, opinions on entries. Functions over a Store, kept apart from the core tables'
repository so each file says what it holds."""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable
from typing import Any

from sqlalchemy import Select, func, insert, select, update

from cairn.store import schema as t
from cairn.store.common import StoreError, now
from cairn.store.custody import STORE_CHAIN
from cairn.store.store import Store

FALSE_POSITIVE_THRESHOLD = 1  # opinions that stop an entry matching (CAIRN_FP_THRESHOLD)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# -- partners (who reads our lists) ----------------------------------------------------------
def add_partner(store: Store, name: str) -> str:
    """Create a partner; returns its API token, which is stored only hashed."""
    token = secrets.token_urlsafe(32)
    with store.engine.begin() as c:
        if c.execute(select(t.partners.c.id).where(t.partners.c.name == name)).first():
            raise StoreError(f"a partner named {name!r} exists")
        c.execute(insert(t.partners).values(name=name, token_sha256=_hash(token),
                                            created_at=now()))
    return token


REVOKED = "revoked:"  # a revoked partner's token_sha256: no SHA-256 hex digest starts so


def partners(store: Store) -> list[dict]:
    """Partners by name: when added, whether revoked (and when), the lists they may read
    and write."""
    pc, a = t.partners.c, t.list_access.c
    with store.engine.connect() as c:
        rows = c.execute(select(pc.id, pc.name, pc.created_at, pc.token_sha256)
                         .order_by(pc.name)).mappings().all()
        access = c.execute(select(a.partner_id, a.can_read, a.can_write,
                                  t.lists.c.name.label("list"))
                           .join(t.lists, t.lists.c.id == a.list_id)
                           .order_by(t.lists.c.name)).mappings().all()
        revoked = dict(c.execute(select(t.custody.c.subject, func.max(t.custody.c.time))
                                 .where(t.custody.c.chain == STORE_CHAIN,
                                        t.custody.c.action == "partner.revoked")
                                 .group_by(t.custody.c.subject)).all())
    out = []
    for r in rows:
        mine = [x for x in access if x["partner_id"] == r["id"]]
        gone = r["token_sha256"].startswith(REVOKED)
        out.append({"name": r["name"], "created_at": r["created_at"],
                    "status": "revoked" if gone else "active",
                    "revoked_at": revoked.get(f"partner:{r['name']}") if gone else None,
                    "read": [x["list"] for x in mine if x["can_read"]],
                    "write": [x["list"] for x in mine if x["can_write"]]})
    return out


def revoke_partner(store: Store, name: str) -> dict:
    """Revoke a partner's token: its hash is replaced by a marker no token hashes to, so
    it stops opening TAXII at once. The partner and its grants stay on record (its
    opinions and statuses name it); the custody log keeps who revoked it and when."""
    with store.engine.begin() as c:
        row = c.execute(select(t.partners.c.id, t.partners.c.token_sha256)
                        .where(t.partners.c.name == name)).first()
        if row is None:
            raise StoreError(f"no partner named {name!r}; `cairn exchange partners` lists "
                             "them")
        if row[1].startswith(REVOKED):
            raise StoreError(f"partner {name!r} is already revoked")
        c.execute(update(t.partners).where(t.partners.c.id == row[0]).values(
            token_sha256=REVOKED + secrets.token_hex(16)))
        store.log_change(c, STORE_CHAIN, "partner.revoked", f"partner:{name}", {"partner": name})
    return {"name": name, "status": "revoked"}


def partner_for_token(store: Store, token: str) -> dict | None:
    with store.engine.connect() as c:
        row = c.execute(select(t.partners).where(
            t.partners.c.token_sha256 == _hash(token))).mappings().first()
    return dict(row) if row else None


def grant(store: Store, partner: str, list_name: str, read: bool, write: bool) -> None:
    with store.engine.begin() as c:
        pid = c.execute(select(t.partners.c.id).where(t.partners.c.name == partner)).scalar()
        lid = c.execute(select(t.lists.c.id).where(t.lists.c.name == list_name)).scalar()
        if pid is None or lid is None:
            raise StoreError(f"no partner {partner!r}" if pid is None
                             else f"no list named {list_name!r}")
        old = c.execute(select(t.list_access.c.id).where(
            t.list_access.c.partner_id == pid, t.list_access.c.list_id == lid)).scalar()
        if old:
            c.execute(update(t.list_access).where(t.list_access.c.id == old).values(
                can_read=int(read), can_write=int(write)))
        else:
            c.execute(insert(t.list_access).values(partner_id=pid, list_id=lid,
                                                   can_read=int(read), can_write=int(write)))


def partner_lists(store: Store, partner_id: int) -> list[dict]:
    """Lists a partner may see, with its rights. A RED list is served only to partners
    named on it, which every access row does (there is no 'everyone' grant)."""
    with store.engine.connect() as c:
        rows = c.execute(
            select(t.lists, t.list_access.c.can_read, t.list_access.c.can_write)
            .join(t.list_access, t.list_access.c.list_id == t.lists.c.id)
            .where(t.list_access.c.partner_id == partner_id)
            .order_by(t.lists.c.name)).mappings().all()
    return [dict(r) for r in rows if r["can_read"] or r["can_write"]]


def page_entries(store: Store, list_id: int, added_after: str | None, after: tuple | None,
                 limit: int, active_only: bool = True,
                 keep: Callable[[dict], bool] | None = None) -> list[dict]:
    """Up to `limit` entries in (added_at, id) order, after `added_after` and after the
    (added_at, id) cursor of a previous page; with `keep`, only rows it accepts (the rows it
    refuses are skipped in the query's order, so pages stay full and cursors stay valid)."""
    e = t.list_entries.c
    out: list[dict] = []
    batch = limit if keep is None else max(limit * 2, 200)
    while len(out) < limit:
        q = select(t.list_entries).where(e.list_id == list_id)
        if active_only:
            q = q.where(e.status == "active")
        if added_after:
            q = q.where(e.added_at > added_after)
        if after:
            q = q.where((e.added_at > after[0])
                        | ((e.added_at == after[0]) & (e.id > after[1])))
        q = q.order_by(e.added_at, e.id).limit(batch)
        with store.engine.connect() as c:
            rows = [dict(r) for r in c.execute(q).mappings()]
        out += [r for r in rows if keep is None or keep(r)][:limit - len(out)]
        if len(rows) < batch:
            break
        after = (rows[-1]["added_at"], rows[-1]["id"])
    return out


def entries_for_stix_ids(store: Store, list_id: int, ids: list[str]) -> list[dict]:
    """A list's entries shared under these Indicator ids (asked 500 at a time: an Opinion
    may name more objects than a database takes parameters)."""
    out: list[dict] = []
    unique = sorted(set(ids))
    with store.engine.connect() as c:
        for start in range(0, len(unique), 500):
            out += [dict(r) for r in c.execute(
                stix_ids_query(list_id, unique[start:start + 500])).mappings()]
    return out


def stix_ids_query(list_id: int, ids: list[str]) -> Select:
    """The entries of one list with these ids, found through the index on 8 hex digits of
    the id (`schema.STIX_KEY`; the expression must be the index's own for the database to
    use it), then matched on the whole id. `list_id + 0`: SQLite would otherwise read the
    list's entries through the unique (list, type, value) index, every one of them (10M
    rows for one Opinion at 10M entries), rather than the few the key finds."""
    e = t.list_entries.c
    at, length = t.STIX_KEY
    keys = sorted({i[at - 1:at - 1 + length] for i in ids})
    return select(t.list_entries).where(e.list_id + 0 == list_id,
                                        func.substr(e.stix_id, at, length).in_(keys),
                                        e.stix_id.in_(ids))


# -- opinions (feedback) ---------------------------------------------------------------------
def add_opinion(store: Store, entry_id: int, opinion: str, author: str,
                explanation: str | None = None, stix_id: str | None = None,
                threshold: int = FALSE_POSITIVE_THRESHOLD) -> dict[str, Any]:
    """Record (or update) an author's opinion of an entry; an entry with `threshold` or more
    false-positive opinions is marked false_positive (it stops matching; it stays on record).
    Returns {"entry_id", "false_positives", "status"}."""
    return add_opinions(store, [entry_id], opinion, author, explanation, stix_id,
                        threshold)[0]


def add_opinions(store: Store, entry_ids: list[int], opinion: str, author: str,
                 explanation: str | None = None, stix_id: str | None = None,
                 threshold: int = FALSE_POSITIVE_THRESHOLD) -> list[dict[str, Any]]:
    """`add_opinion` on several entries in one transaction: one STIX Opinion naming several
    Indicators is applied whole or not at all."""
    if opinion not in ("confirmed", "false_positive"):
        raise StoreError("opinion must be confirmed or false_positive")
    out = []
    with store.engine.begin() as c:
        for entry_id in entry_ids:
            out.append(_add_opinion(store, c, entry_id, opinion, author, explanation, stix_id,
                                    threshold))
    return out


def _add_opinion(store: Store, c, entry_id: int, opinion: str, author: str,  # noqa: ANN001
                 explanation: str | None, stix_id: str | None, threshold: int
                 ) -> dict[str, Any]:
    o = t.opinions.c
    old = c.execute(select(o.id).where(o.entry_id == entry_id, o.author == author)).scalar()
    values = {"opinion": opinion, "explanation": explanation, "created_at": now(),
              "stix_id": stix_id, "shared_at": None}
    if old:
        c.execute(update(t.opinions).where(o.id == old).values(**values))
    else:
        c.execute(insert(t.opinions).values(entry_id=entry_id, author=author, **values))
    fps = c.execute(select(func.count()).select_from(t.opinions).where(
        o.entry_id == entry_id, o.opinion == "false_positive")).scalar_one()
    status = c.execute(select(t.list_entries.c.status).where(
        t.list_entries.c.id == entry_id)).scalar_one()
    list_name, value = c.execute(select(t.lists.c.name, t.list_entries.c.value).join(
        t.lists, t.list_entries.c.list_id == t.lists.c.id).where(
        t.list_entries.c.id == entry_id)).one()
    store.log_change(c, STORE_CHAIN, f"opinion.{opinion}", f"list:{list_name}",
                     {"list": list_name, "entry": entry_id, "value": value, "opinion": opinion,
                      "author": author, "explanation": explanation, "stix_id": stix_id})
    if fps >= threshold and status == "active":
        gen = store.lists.bump(c, destructive=False)
        note = f"{fps} false-positive opinion(s)"
        c.execute(update(t.list_entries).where(t.list_entries.c.id == entry_id).values(
            status="false_positive", status_at=now(), changed_gen=gen, status_note=note))
        store.matches.set_status(c, t.matches.c.entry_id == entry_id, list_name,
                                 "false_positive", note)
        status = "false_positive"
    return {"entry_id": entry_id, "false_positives": fps, "status": status}


def opinions(store: Store, list_name: str | None = None, unshared_local: bool = False
             ) -> list[dict]:
    o, e = t.opinions.c, t.list_entries.c
    q = (select(t.opinions, e.signal_type, e.value, e.origin, e.stix_id.label("entry_stix_id"),
                t.lists.c.name.label("list"))
         .join(t.list_entries, o.entry_id == e.id).join(t.lists, e.list_id == t.lists.c.id)
         .order_by(o.id))
    if list_name:
        q = q.where(t.lists.c.name == list_name)
    if unshared_local:
        q = q.where(o.author.like("local:%"), o.shared_at.is_(None))
    with store.engine.connect() as c:
        return [dict(r) for r in c.execute(q).mappings()]


def mark_shared(store: Store, opinion_ids: list[int]) -> None:
    with store.engine.begin() as c:
        c.execute(update(t.opinions).where(t.opinions.c.id.in_(opinion_ids)).values(
            shared_at=now()))


# -- peers (whom we pull from) ---------------------------------------------------------------
def add_peer(store: Store, name: str, url: str, user: str | None, secret: str | None) -> None:
    with store.engine.begin() as c:
        if c.execute(select(t.peers.c.id).where(t.peers.c.name == name)).first():
            raise StoreError(f"a peer named {name!r} exists")
        c.execute(insert(t.peers).values(name=name, url=url, user=user, secret=secret,
                                         added_at=now()))


def peer(store: Store, name: str) -> dict:
    with store.engine.connect() as c:
        row = c.execute(select(t.peers).where(t.peers.c.name == name)).mappings().first()
    if not row:
        raise StoreError(f"no peer named {name!r}; `cairn exchange add-peer` adds one")
    return dict(row)


def checkpoint(store: Store, peer_id: int, collection: str) -> dict | None:
    with store.engine.connect() as c:
        row = c.execute(select(t.checkpoints).where(
            t.checkpoints.c.peer_id == peer_id,
            t.checkpoints.c.collection == collection)).mappings().first()
    return dict(row) if row else None


def set_checkpoint(store: Store, peer_id: int, collection: str, list_name: str,
                   added_after: str | None) -> None:
    with store.engine.begin() as c:
        ck = t.checkpoints.c
        old = c.execute(select(ck.id).where(ck.peer_id == peer_id,
                                            ck.collection == collection)).scalar()
        values = {"list_name": list_name, "added_after": added_after, "updated_at": now()}
        if old:
            c.execute(update(t.checkpoints).where(ck.id == old).values(**values))
        else:
            c.execute(insert(t.checkpoints).values(peer_id=peer_id, collection=collection,
                                                   **values))


def save_status(store: Store, status_id: str, partner_id: int, body: dict) -> None:
    """Record a TAXII POST's status resource."""
    with store.engine.begin() as c:
        c.execute(insert(t.taxii_statuses).values(id=status_id, partner_id=partner_id,
                                                  body=json.dumps(body), created_at=now()))


def status_for(store: Store, status_id: str, partner_id: int) -> dict | None:
    """A status resource, only for the partner whose POST it describes."""
    with store.engine.connect() as c:
        body = c.execute(select(t.taxii_statuses.c.body).where(
            t.taxii_statuses.c.id == status_id,
            t.taxii_statuses.c.partner_id == partner_id)).scalar()
    return json.loads(body) if body else None
