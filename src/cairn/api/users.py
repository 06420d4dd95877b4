"""User management over HTTP, for admins: list users, disable and enable one. Each change is
a custody entry naming the acting user (`by`). Creating users and passwords stays with the
CLI (`cairn users add`): a password is printed once to whoever runs it, never sent back over
HTTP."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request

from cairn.api.auth import require, store_of
from cairn.store import users
from cairn.store.users import Principal, UserError

ADMIN = Depends(require("admin"))


def users_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1/users", tags=["users"])

    @router.get("")
    def list_users(request: Request, _: Principal = ADMIN) -> list[dict[str, Any]]:
        return [u.public() for u in users.users(store_of(request))]

    def switch(request: Request, name: str, disabled: bool, by: str) -> dict[str, Any]:
        try:
            return users.set_disabled(store_of(request), name, disabled, by=by).public()
        except UserError as e:
            raise HTTPException(404 if str(e).startswith("no user") else 409, str(e)) from None

    @router.post("/{name}/disable")
    def disable(request: Request, name: str, who: Principal = ADMIN) -> dict[str, Any]:
        return switch(request, name, True, who.name)

    @router.post("/{name}/enable")
    def enable(request: Request, name: str, who: Principal = ADMIN) -> dict[str, Any]:
        return switch(request, name, False, who.name)

    return router
