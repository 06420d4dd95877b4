"""A case's custody log over HTTP, and its verification: what auditors are for (and
examiners and admins). The case is checked with `require_case`: a case that does not exist
and one not granted answer the same 403."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from cairn.api.auth import require, require_case, store_of
from cairn.cases.custody import verify
from cairn.store.users import Principal

CUSTODY = Depends(require("custody"))


def custody_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1/cases", tags=["custody"])

    @router.get("/{case}/custody")
    def case_custody(request: Request, case: str, who: Principal = CUSTODY
                     ) -> dict[str, Any]:
        store = store_of(request)
        case_id = require_case(store, who, case)
        return {"case": case, "entries": store.custody_entries(case_id)}

    @router.get("/{case}/custody/verify")
    def verify_custody(request: Request, case: str, who: Principal = CUSTODY
                       ) -> dict[str, Any]:
        """`cairn custody verify --case C`: every entry's hash, link and signature checked."""
        store = store_of(request)
        case_id = require_case(store, who, case)
        return {"case": case} | verify(store, case_id)

    return router
