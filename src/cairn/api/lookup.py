"""Batch lookup over HTTP: `POST /api/v1/lookup {"signals": [{"type": "pdq", "value": HEX},
...]}` with up to 10,000 signals (413 beyond), answered with one batched matcher call.
A bad type or value is a 422 naming its place (`["body", "signals", 3, "value"]`), FastAPI's
own shape; nothing is looked up then. Needs the `lookup` capability. The answer's bytes are
built by `service.lookup.lookup_json`, as FastAPI's JSONResponse would build them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import BaseModel, Field

from cairn.api.auth import store_of
from cairn.api.common import LOOKUP
from cairn.service import lookup as svc
from cairn.store.users import Principal


class SignalIn(BaseModel):
    type: str = Field(..., max_length=40)
    value: str = Field(..., max_length=1 << 20)


class LookupRequest(BaseModel):
    signals: list[SignalIn]


def lookup_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["lookup"])

    @router.post("/lookup", response_model=dict[str, Any])  # the schema as it always was
    def lookup(request: Request, body: LookupRequest, _: Principal = LOOKUP) -> Response:
        if len(body.signals) > svc.MAX_SIGNALS:
            raise HTTPException(413, f"at most {svc.MAX_SIGNALS} signals per lookup; this "
                                f"one has {len(body.signals)}")
        try:
            signals = svc.check([(s.type, s.value) for s in body.signals])
        except svc.BadSignal as e:
            raise HTTPException(422, [{"loc": ["body", "signals", e.index, e.field],
                                       "type": "value_error", "msg": e.why}]) from None
        return Response(svc.lookup_json(store_of(request), signals),
                        media_type="application/json")

    return router
