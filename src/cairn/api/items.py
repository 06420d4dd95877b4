"""A case's items over HTTP: a page of items with filters, one item in full (each read is a
custody entry naming the user), and a review's verdict on an item's matches.

Paging: `limit` (1 to 500, default 100) items by id; `next` is the link to the next page
(its `cursor` is opaque to clients: today the last item id), absent on the last page. Every
filter value is a bound parameter or a set member, never SQL text: a value with SQL in it is
a name that matches nothing. Filters: `matched` (an active match against a list that is not
known-good), `synthetic` (a finding that says generated, as the report counts them),
`family` (a trace family's id, as /families numbers them), `errors`, `source` (its name),
`device` and `suspect` (their ids in the case).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, Field

from cairn.api.common import READ, REVIEW, case_of
from cairn.records import ItemDetail
from cairn.service import items as svc
from cairn.service.lists import judge_item
from cairn.store import items as store_items
from cairn.store.items import ItemFilter
from cairn.store.users import Principal

NAME = Annotated[str | None, Query(max_length=200)]


def _no_item(item_id: int) -> HTTPException:
    return HTTPException(404, f"no item {item_id} in this case")


class Verdict(BaseModel):
    verdict: Literal["false_positive", "confirmed"]
    note: str | None = Field(None, max_length=10_000)


def items_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1/cases", tags=["items"])

    @router.get("/{case}/items")
    def list_items(request: Request, case: str, matched: bool | None = None,
                   synthetic: bool | None = None,
                   family: Annotated[int | None, Query(ge=1)] = None,
                   errors: bool | None = None, source: NAME = None, device: NAME = None,
                   suspect: NAME = None,
                   cursor: Annotated[str | None, Query(max_length=20)] = None,
                   limit: Annotated[int, Query(ge=1, le=svc.MAX_LIMIT)] = 100,
                   who: Principal = READ) -> dict[str, Any]:
        after = 0
        if cursor is not None:
            if not cursor.isdigit() or not cursor.isascii():
                raise HTTPException(422, [{"loc": ["query", "cursor"], "type": "value_error",
                                           "msg": "not a cursor this API gave"}])
            after = int(cursor)
        store, case_id = case_of(request, who, case)
        page = svc.list_items(store, case_id, svc.ItemQuery(
            ItemFilter(matched, errors, source, device, suspect), synthetic, family,
            after, limit))
        body: dict[str, Any] = {"case": case, "items": page.items}
        if page.next_after is not None:
            params = [(k, v) for k, v in request.query_params.multi_items() if k != "cursor"]
            body["next"] = (request.url.path + "?"
                            + urlencode(params + [("cursor", str(page.next_after))]))
        return body

    @router.get("/{case}/items/{item_id}", response_model=dict[str, Any])  # as it was
    def one_item(request: Request, case: str, item_id: int,
                 who: Principal = READ) -> ItemDetail:
        """The item with its signals, matches (each with its status), findings, errors,
        family and custody entries. Writes `item.viewed` (with the user) first."""
        store, case_id = case_of(request, who, case)
        it = svc.view_item(store, case_id, item_id, who.name, who.via)
        if it is None:
            raise _no_item(item_id)
        return it

    @router.post("/{case}/items/{item_id}/feedback")
    def feedback(request: Request, case: str, item_id: int, body: Verdict,
                 who: Principal = REVIEW) -> dict[str, Any]:
        """`cairn feedback` over HTTP: an opinion (false positive or confirmed) on every list
        entry the item matched; enough false-positive opinions stop an entry matching."""
        store, case_id = case_of(request, who, case)
        if store_items.item_ref(store, case_id, item_id) is None:
            raise _no_item(item_id)
        entries = store_items.matched_entry_ids(store, item_id)
        if not entries:
            raise HTTPException(409, f"item {item_id} matched no list entry")
        return {"item": item_id, "verdict": body.verdict,
                "entries": judge_item(store, entries, body.verdict, who.name, body.note)}

    return router
