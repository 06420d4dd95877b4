"""A user's cases over HTTP: the cases they may see, one case with its counts, and its
sources, families, suspects, devices and actions, and its report as a download. Every route
needs the `read` capability and a case the user may see (auditors, who read custody logs
only, get 403 here)."""

from __future__ import annotations

import re
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import Response

from cairn.api.auth import store_of
from cairn.api.common import READ, case_of
from cairn.cases.people import case_people
from cairn.cases.report import RENDERERS, write_report
from cairn.service.families import case_families
from cairn.store import items as store_items
from cairn.store import users
from cairn.store.people import People
from cairn.store.users import Principal

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def cases_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1/cases", tags=["cases"])

    @router.get("")
    def list_cases(request: Request, who: Principal = READ) -> list[dict[str, Any]]:
        store = store_of(request)
        visible = set(users.visible_case_names(store, who))
        return [c for c in People(store).cases() if c["name"] in visible]

    @router.get("/{case}")
    def one_case(request: Request, case: str, who: Principal = READ) -> dict[str, Any]:
        store, case_id = case_of(request, who, case)
        row = next(c for c in People(store).cases() if c["name"] == case)
        return row | store_items.case_counts(store, case_id) | {
            "actions": len(People(store).actions(case_id))}

    @router.get("/{case}/sources")
    def sources(request: Request, case: str, who: Principal = READ) -> list[dict[str, Any]]:
        store, case_id = case_of(request, who, case)
        device_of = {sid: d["id"] for d in People(store).devices(case_id)
                     for sid in d["source_ids"]}
        return [s | {"device": device_of.get(s["id"]), "counts": store.cases.source_counts(s["id"])}
                for s in store.cases.sources(case_id)]

    @router.get("/{case}/families")
    def families(request: Request, case: str, who: Principal = READ) -> dict[str, Any]:
        store, case_id = case_of(request, who, case)
        return {"case": case, "families": case_families(store, case_id).families}

    @router.get("/{case}/suspects")
    def suspects(request: Request, case: str, who: Principal = READ) -> dict[str, Any]:
        store, case_id = case_of(request, who, case)
        found = {s["id"]: s for s in case_people(store, case_id)["suspects"]}
        return {"case": case, "suspects": [
            s | {"found": _found(found.get(s["id"]))}
            for s in People(store).suspects(case_id)]}

    @router.get("/{case}/devices")
    def devices(request: Request, case: str, who: Principal = READ) -> dict[str, Any]:
        store, case_id = case_of(request, who, case)
        found = {d["id"]: d for d in case_people(store, case_id)["devices"]}
        return {"case": case, "devices": [
            d | {"found": _found(found.get(d["id"]))} for d in People(store).devices(case_id)]}

    @router.get("/{case}/actions")
    def actions(request: Request, case: str, who: Principal = READ) -> dict[str, Any]:
        store, case_id = case_of(request, who, case)
        return {"case": case, "actions": People(store).actions(case_id)}

    @router.get("/{case}/report", response_class=Response,
                responses={200: {"content": {r.media_type: {} for r in RENDERERS.values()},
                                 "description": "the report, as `cairn report` writes it"}})
    def report(request: Request, case: str,
               format: Literal["json", "csv", "html", "vics"] = "json",  # noqa: A002
               include_known_good: bool = False, trace: bool = True,
               tlp: Literal["clear", "green", "amber", "amber+strict", "red"] = "amber",
               who: Principal = READ) -> Response:
        """The case's report, byte for byte what `cairn report --case C --format F` writes
        (logged in the case's custody chain as `report.written`, naming the user)."""
        store, _ = case_of(request, who, case)
        done = write_report(store, case, format, include_known_good, trace, tlp,
                            output=f"http download by {who.name}")
        name = (_SAFE_NAME.sub("_", case).strip("._") or "case") + "-report"
        return Response(done.text.encode("utf-8"), media_type=done.media_type, headers={
            "Content-Disposition":
                f'attachment; filename="{name}{RENDERERS[format].extension}"',
            **({"X-Cairn-Withheld": str(len(done.withheld))} if done.withheld else {}),
            # pictures written without a PDQ: only a fast one is stored (`cairn rehash`)
            **({"X-Cairn-Fast-PDQ-Left-Out": str(len(done.fast_pdq))} if done.fast_pdq
               else {})})

    return router


def _found(f: Any) -> dict[str, Any] | None:
    """What was found on a suspect's or device's sources (cases/people.py `Found`)."""
    if f is None:
        return None
    return {k: f[k] for k in ("sources", "items", "active_matches", "matched_items",
                              "synthetic_items")}
