"""A browser session's exposure setting: how strongly the thumbnails it is sent are blurred.

Levels (`web_sessions.blur`): 3 strong (the default of every new session), 2 medium, 1 light,
0 off (greyscale, not blurred). Lowering the blur is the reviewer's choice for the session;
turning it off needs an explicit confirmation (the caller refuses without: `NeedsConfirmation`)
and every change is a custody entry `exposure.changed` in the users chain (who, the session,
from, to, confirmed), in the same transaction as the change. A token (no session) always gets
the default. Revealing one item is not a setting: it is an `item.revealed` entry in the case's
chain (web/routes.py).
"""

from __future__ import annotations

from sqlalchemy import select, update

from cairn.store import custody
from cairn.store import schema as t
from cairn.store.common import StoreError
from cairn.store.store import Store
from cairn.store.users import USERS_CHAIN

LEVELS = {3: "strong", 2: "medium", 1: "light", 0: "off"}
DEFAULT = 3
OFF = 0
CHANGED = "exposure.changed"


class NeedsConfirmation(StoreError):
    """Turning the blur off without saying so explicitly."""


def level_of(store: Store, session_id: int | None) -> int:
    """The session's blur level; DEFAULT for no session (a token) or an unknown one."""
    if session_id is None:
        return DEFAULT
    with store.engine.connect() as c:
        v = c.execute(select(t.web_sessions.c.blur).where(t.web_sessions.c.id == session_id)
                      ).scalar_one_or_none()
    return DEFAULT if v not in LEVELS else int(v)


def set_level(store: Store, session_id: int, user: str, level: int, confirmed: bool = False
              ) -> dict[str, object]:
    """Change the session's blur level: {"from", "to"}. StoreError for a level not in LEVELS,
    NeedsConfirmation for off without `confirmed`; no entry when unchanged."""
    if level not in LEVELS:
        raise StoreError(f"blur level must be one of {sorted(LEVELS)}")
    if level == OFF and not confirmed:
        raise NeedsConfirmation("turning the blur off needs an explicit confirmation "
                                "(confirm: true); it is logged")
    with store.engine.begin() as c:
        old = c.execute(select(t.web_sessions.c.blur).where(t.web_sessions.c.id == session_id)
                        ).scalar_one_or_none()
        if old is None:
            raise StoreError("no such session")
        if old != level:
            c.execute(update(t.web_sessions).where(t.web_sessions.c.id == session_id)
                      .values(blur=level))
            custody.append(c, store.actor, USERS_CHAIN, CHANGED, f"user:{user}",
                           {"by": user, "session": session_id, "from": LEVELS.get(old, old),
                            "to": LEVELS[level], "confirmed": bool(confirmed)})
    return {"from": LEVELS.get(old, old), "to": LEVELS[level]}
