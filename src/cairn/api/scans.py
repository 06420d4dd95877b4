"""Scans over HTTP: start one of a server-side path (write), poll it (read).

The path must resolve inside the evidence roots of the scan's case (service/evidence.py): a
path outside them, by `..` or by a symlink, is 403 naming the path, before anything says
whether it exists; inside them but missing, 404. The case must exist and be one the user
may see (403 alike otherwise) and be open (409). The scan runs in the server process;
`GET /api/v1/scans/{id}` answers from any server process (live progress from the one that
runs it)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field

from cairn.api.auth import require_case, store_of
from cairn.api.common import READ, WRITE, case_of
from cairn.cases.people import PeopleError
from cairn.service import scans as svc
from cairn.store.common import SourceNameTaken
from cairn.store.users import Principal

NO_SCAN = "no scan with that id for this user"


class ScanRequest(BaseModel):
    case: str = Field(..., min_length=1, max_length=200)
    path: str = Field(..., min_length=1, max_length=4096)
    source_name: str | None = Field(None, min_length=1, max_length=200)


def scans_router(evidence_roots: svc.EvidenceRoots) -> APIRouter:
    roots = evidence_roots
    router = APIRouter(prefix="/api/v1/scans", tags=["scans"])

    @router.post("", status_code=202)
    def start(request: Request, body: ScanRequest, who: Principal = WRITE) -> dict[str, Any]:
        store, case_id = case_of(request, who, body.case)
        try:
            path = svc.resolve_evidence(body.path, roots, body.case)
        except svc.OutsideRoots as e:
            raise HTTPException(403, f"forbidden: {e}") from None
        except FileNotFoundError as e:
            raise HTTPException(404, str(e)) from None
        try:
            job = svc.start(store, body.case, case_id, path, body.source_name, who.name)
        except (PeopleError, SourceNameTaken) as e:
            raise HTTPException(409, str(e)) from None
        except svc.TooManyScans as e:
            raise HTTPException(429, f"{e}: try again later",
                                headers={"Retry-After": "30"}) from None
        return job.public() | {"poll": f"/api/v1/scans/{job.id}"}

    @router.get("/{scan_id}")
    def poll(request: Request, scan_id: str, who: Principal = READ) -> dict[str, Any]:
        store = store_of(request)
        found = svc.status(store, scan_id)
        if found is None:
            raise HTTPException(404, NO_SCAN)
        try:
            require_case(store, who, found["case"])
        except HTTPException:
            raise HTTPException(404, NO_SCAN) from None  # as if it were not there
        return found

    return router
