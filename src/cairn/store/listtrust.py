"""How far a list's hits are believed: `lists.trust`, 0 (a lead at best) to 100 (vetted,
e.g. a national database's graded set); 50 for a list nobody rated. The review queue shows
matched items by the most trusted list they matched, then by distance (web/queue.py).

A change of trust is a store-chain custody entry `list.trust` with the old and the new value,
in the same transaction as the change, like every other list change. Trust changes no match
and no entry, so the list index's generation is left as it is.
"""

from __future__ import annotations

from sqlalchemy import select, update

from cairn.store import custody
from cairn.store import schema as t
from cairn.store.common import StoreError
from cairn.store.custody import STORE_CHAIN
from cairn.store.store import Store

DEFAULT_TRUST = 50
CHANGED = "list.trust"


def check_trust(trust: int) -> int:
    if isinstance(trust, bool) or not isinstance(trust, int) or not 0 <= trust <= 100:
        raise StoreError(f"trust must be a whole number from 0 to 100, not {trust!r}")
    return trust


def set_trust(store: Store, name: str, trust: int, by: str | None = None) -> dict[str, int]:
    """Set a list's trust: {"old": ..., "new": ...}. StoreError for a list not in use or a
    value out of range; no entry when the value is unchanged."""
    check_trust(trust)
    with store.engine.begin() as c:
        row = c.execute(select(t.lists.c.id, t.lists.c.trust).where(
            t.lists.c.name == name, t.lists.c.removed_at.is_(None))).first()
        if row is None:
            raise StoreError(f"no list named {name!r}")
        if row.trust != trust:
            c.execute(update(t.lists).where(t.lists.c.id == row.id).values(trust=trust))
            custody.append(c, store.actor, STORE_CHAIN, CHANGED, f"list:{name}",
                           {"list": name, "old": row.trust, "new": trust}
                           | ({"by": by} if by else {}))
        return {"old": row.trust, "new": trust}


def trust_of(store: Store) -> dict[str, int]:
    """{list name: trust} of the lists in use."""
    with store.engine.connect() as c:
        return dict(c.execute(select(t.lists.c.name, t.lists.c.trust)
                              .where(t.lists.c.removed_at.is_(None))).all())
