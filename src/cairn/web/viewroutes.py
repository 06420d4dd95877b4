"""The workbench's views over a whole case: the link graph (a page, and its elements as
JSON for cytoscape), and two items compared side by side. The same rules as routes.py:
a page without a credential goes to the login; a case not granted is one 403 whatever
the reason; every response `Cache-Control: no-store` under the strict CSP; reading an
item's details for a comparison is an `item.viewed` custody entry, as in its panel."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response

from cairn.api import auth
from cairn.service import items as svc
from cairn.service.families import PENDING as FAMILIES_PENDING
from cairn.store import Store
from cairn.store.users import Principal
from cairn.web import vendor
from cairn.web.compare import compare
from cairn.web.graphview import case_graph
from cairn.web.routes import (
    NO_STORE,
    REVEAL_SECONDS,
    PagePrincipal,
    login_redirect,
    may_view,
    render,
)
from cairn.web.tracecache import trace_if_ready


def _case(request: Request, who: Principal, case: str) -> tuple[Store, int]:
    may_view(who)
    store = auth.store_of(request)
    return store, auth.require_case(store, who, case)


def views_router() -> APIRouter:
    router = APIRouter(prefix="/ui", include_in_schema=False)

    @router.get("/cases/{case}/graph", response_model=None)
    def graph_page(request: Request, case: str, who: PagePrincipal) -> Response:
        if who is None:
            return login_redirect(request)
        store, case_id = _case(request, who, case)
        if trace_if_ready(store, case_id) is None:  # a large case: computed on a thread
            return render(request, "pending.html", who, case=case, title="Link graph",
                          note=FAMILIES_PENDING)
        g = case_graph(store, case_id, case)
        return render(request, "graph.html", who, case=case, g=g,
                      can_draw="cytoscape.min.js" not in vendor.missing())

    @router.get("/cases/{case}/graph.json")
    def graph_json(request: Request, case: str, who: auth.CurrentPrincipal) -> Response:
        store, case_id = _case(request, who, case)
        if trace_if_ready(store, case_id) is None:  # 202: not yet, ask again
            return JSONResponse({"pending": FAMILIES_PENDING}, status_code=202,
                                headers=NO_STORE)
        g = case_graph(store, case_id, case)
        return JSONResponse({"elements": {"nodes": g["nodes"], "edges": g["edges"]},
                             "total": g["total"], "shown": g["shown"], "limits": g["limits"],
                             "cut": g["cut"]}, headers=NO_STORE)

    @router.get("/cases/{case}/compare", response_model=None)
    def compare_page(request: Request, case: str, who: PagePrincipal,
                     a: Annotated[int | None, Query(ge=1)] = None,
                     b: Annotated[int | None, Query(ge=1)] = None) -> Response:
        if who is None:
            return login_redirect(request)
        store, case_id = _case(request, who, case)
        pair = cmp = None
        if a is not None and b is not None:
            ia = svc.view_item(store, case_id, a, who.name, who.via)  # item.viewed
            ib = svc.view_item(store, case_id, b, who.name, who.via)
            if ia is None or ib is None:
                raise HTTPException(404, f"no item {a if ia is None else b} in this case")
            pair, cmp = (ia, ib), compare(ia, ib)
        return render(request, "compare.html", who, case=case, a=a, b=b, pair=pair, c=cmp,
                      reveal_seconds=REVEAL_SECONDS)

    return router
