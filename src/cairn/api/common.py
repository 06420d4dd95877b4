"""What the `/api/v1` routers share: the capability guards as FastAPI defaults, and the
case a request names, checked (a case that does not exist and one not granted: one 403)."""

from __future__ import annotations

from fastapi import Depends, Request

from cairn.api.auth import require, require_case, store_of
from cairn.store import Store
from cairn.store.users import Principal

READ = Depends(require("read"))
WRITE = Depends(require("write"))
REVIEW = Depends(require("review"))
LOOKUP = Depends(require("lookup"))


def case_of(request: Request, who: Principal, case: str) -> tuple[Store, int]:
    """(the store, the case's id) when `who` may see `case`; 403 otherwise. Blocking: call
    it from a plain `def` endpoint."""
    store = store_of(request)
    return store, require_case(store, who, case)
