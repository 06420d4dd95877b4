"""HMA-compatible endpoints: `/m` matching, `/h` hashing, `/c` curation, as HMA 1.1.x serves
them, so HMA clients and scripts work against Cairn unchanged.

Paths, parameters and JSON shapes follow hasher-matcher-actioner's OpenMediaMatch (1.1.7
blueprints `matching.py`, `hashing.py`, `curation.py`; ../shared/reference/FACTS.md): errors
are `{"message": ...}` with the status, request-model failures 422 with pydantic's error
list, keys sorted. Distance is a string in lookups and an int in `/m/compare`.

Mapping: a bank is a Cairn hash list (`matching_enabled_ratio` = `lists.enabled_ratio`); a
`bank_content_id` is a list entry id, one sequence across all lists as HMA's content ids are.
Signal types and how each is answered: `cairn.api.hma_index`. Where Cairn differs, on purpose:
- Any `url=` parameter is refused with 400: Cairn never fetches content; send the bytes.
- Cairn stores one entry per signal: a video added through `/c/bank/NAME/content` becomes a
  `video_md5` and a `vpdq` entry, and `"id"` is the first one's. Adding a signal a list
  already holds answers that entry's id (and leaves its status: a false positive stays one).
- Withdrawn and false-positive entries (HMA's disabled content) are never returned, by
  `/m/raw_lookup` either; lists keep their own PDQ thresholds (31 unless imported otherwise).
- `DELETE /c/bank/NAME` removes the list as `cairn lists remove` does (renamed, kept, its
  entries no longer match); while cases hold active matches against it, 409 and the reason.
- `POST /m/lookup` looks up the uploaded photo's plain PDQ (as HMA does; `cairn match` also
  tries its turns and crops).
Every change goes through the store's list functions: each is a custody entry.
`GET /status` belongs to the app (api/app.py), not this router.
"""

from __future__ import annotations

import json
import logging
import random
import re
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

from cairn.api.hma_index import (
    CONTENT_TYPES,
    SIGNAL_TYPES,
    Hit,
    LiveIndex,
    SignalError,
    SignalType,
    Snapshot,
    signal_type,
)
from cairn.api.hma_upload import DEFAULT_MAX_UPLOAD, Upload, UploadError, hash_upload, read_upload
from cairn.media.limits import Limits
from cairn.signals.pdq import MATCH_DISTANCE, hamming
from cairn.signals.vpdq import VIDEO_MATCH_PERCENT, match_percent, parse_signal
from cairn.store.common import StoreError
from cairn.store.store import Store

log = logging.getLogger(__name__)

BANK_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")
URL_REFUSED = "Cairn never fetches content: url= is refused; send the bytes"
NOTE_MAX = 255


class HmaError(Exception):
    """An HMA error answer: `{"message": message}` with `status`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class SortedJSONResponse(JSONResponse):
    """HMA (Flask) answers JSON with sorted keys; so do these routes."""

    def render(self, content: Any) -> bytes:
        return render(content)


def _message(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return SortedJSONResponse({"message": message}, status_code=status, headers=headers)


class _HmaRoute(APIRoute):
    """Errors raised anywhere in a request (the guard and other dependencies included) are
    answered in HMA's `{"message": ...}` shape: a router cannot install exception handlers
    on the app it is included in, so each route translates its own."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except (HmaError, UploadError) as e:
                return _message(e.status, e.message)
            except StarletteHTTPException as e:
                return _message(e.status_code, str(e.detail), dict(e.headers or {}))

        return route


class BankCreate(BaseModel):
    name: str
    enabled_ratio: float | None = Field(default=None, ge=0.0, le=1.0)
    enabled: bool | None = None


class BankUpdate(BaseModel):
    name: str | None = None
    enabled_ratio: float | None = Field(default=None, ge=0.0, le=1.0)
    enabled: bool | None = None


Pair = Annotated[list[str], Field(min_length=2, max_length=2)]


async def _refuse_url(request: Request) -> None:  # async: no hop to the threadpool
    if "url" in request.query_params:
        raise HmaError(400, URL_REFUSED)


def _type(name: str) -> SignalType:
    try:
        return signal_type(name)
    except KeyError as e:
        raise HmaError(400, e.args[0]) from None


def _valid(st: SignalType, value: str) -> str:
    try:
        return st.validate(value)
    except SignalError as e:
        raise HmaError(400, f"invalid signal: {e}") from None


def _bank(row: dict) -> dict:
    return {"matching_enabled_ratio": float(row["enabled_ratio"]), "name": row["name"]}


def _check_name(name: str) -> None:
    if not BANK_NAME.fullmatch(name):
        raise HmaError(400, f"bank name {name!r} must match {BANK_NAME.pattern} "
                            "(UPPER_CASE_WITH_UNDERSCORES)")


def _banks_param(banks: str | None) -> set[str] | None:
    return {b.strip() for b in banks.split(",") if b.strip()} if banks else None


def snapshot(index: LiveIndex) -> Snapshot:
    """The index's current snapshot; HMA's 503 when it cannot be opened (blocking)."""
    try:
        return index.current()
    except Exception:  # noqa: BLE001 - any failure to open it reads as HMA's "not ready"
        log.exception("list index could not be opened")
        raise HmaError(503, "index not yet ready") from None


async def batched(index: LiveIndex, st: SignalType, value: str, banks: set[str] | None
                  ) -> tuple[Snapshot, list[Hit]]:
    """A lookup from the event loop: it joins the other requests in flight in one index call
    in the batch thread (api/batcher.py); only a due re-check of the store takes the
    threadpool."""
    snap = index.fresh()
    if snap is None:
        snap = await run_in_threadpool(snapshot, index)
    found = await index.lookup(snap, st, value)
    if banks is not None:
        found = [h for h in found if snap.lists[h.list_id]["name"] in banks]
    return snap, found


def grouped(snap: Snapshot, found: list[Hit], seed: str | None,
            coinflip: bool = True) -> dict[str, list[dict]]:
    """HMA's lookup answer: hits grouped by bank, one coin-flip per call, a bank answering
    iff its enabled ratio >= the draw (always, with the flip bypassed)."""
    draw = random.Random(seed).random() if coinflip else 0.0
    out: dict[str, list[dict]] = {}
    for h in found:
        lst = snap.lists[h.list_id]
        if float(lst["enabled_ratio"]) >= draw:
            out.setdefault(lst["name"], []).append(
                {"bank_content_id": h.entry_id, "distance": h.shown})
    return out


async def raw_lookup_answer(index: LiveIndex, signal_type: str, signal: str,
                            banks: str | None, include_distance: bool) -> dict[str, Any]:
    """`GET /m/raw_lookup`'s body (HmaError for a bad type or signal): the route's and the
    fast path's (api/fast_lookup.py), so both answer alike."""
    st = _type(signal_type)
    _, found = await batched(index, st, _valid(st, signal), _banks_param(banks))
    matches: list = ([{"bank_content_id": h.entry_id, "distance": h.shown} for h in found]
                     if include_distance else [h.entry_id for h in found])
    return {"matches": matches}


async def lookup_answer(index: LiveIndex, signal_type: str, signal: str, banks: str | None,
                        seed: str | None) -> dict[str, Any]:
    """`GET /m/lookup`'s body, as `raw_lookup_answer`."""
    st = _type(signal_type)
    if signal == "":
        return {}
    snap, found = await batched(index, st, _valid(st, signal), _banks_param(banks))
    return grouped(snap, found, seed)


def render(content: Any) -> bytes:
    """JSON as HMA (Flask) writes it: sorted keys, compact."""
    return json.dumps(content, sort_keys=True, ensure_ascii=False, allow_nan=False,
                      separators=(",", ":")).encode()


def hma_router(store: Store, guard: Callable[..., Any], *,
               write_guard: Callable[..., Any] | None = None,
               max_upload: int = DEFAULT_MAX_UPLOAD, limits: Limits | None = None,
               recheck: float = 1.0) -> APIRouter:
    """The HMA routes over `store`; every one depends on `guard` (auth) first. `max_upload`:
    bytes of one multipart body (413 past it); `limits`: decode limits of uploads;
    `recheck`: seconds between checks of the store for list changes made elsewhere.
    `write_guard`: what the routes that change banks (create, rename, delete, add signals or
    content) depend on besides `guard` (`cairn serve`: the write capability, so a lookup
    token can look up and never add to a list); None: `guard` alone."""
    index = LiveIndex(store, recheck)
    limits = limits or Limits()
    router = APIRouter(dependencies=[Depends(guard), Depends(_refuse_url)],
                       route_class=_HmaRoute, default_response_class=SortedJSONResponse)

    async def upload(request: Request) -> Upload:
        """The request's file, read on the event loop (I/O only); routes take it as a
        `= Depends(upload)` default: an `Annotated` hint naming this closure would be
        resolved by FastAPI in the module's globals, where it is not."""
        return await read_upload(request, max_upload)

    def by_bank(st: SignalType, value: str, banks: set[str] | None, seed: str | None,
                coinflip: bool = True) -> dict[str, list[dict]]:
        """HMA's lookup: hits grouped by bank (blocking: for routes in the threadpool)."""
        if value == "":  # a photo under quality 50 has no PDQ to look up
            return {}
        snap = snapshot(index)
        found = snap.lookup(st, [_valid(st, value)])[0]
        if banks is not None:
            found = [h for h in found if snap.lists[h.list_id]["name"] in banks]
        return grouped(snap, found, seed, coinflip)

    # -- /m: matching ----------------------------------------------------------------------
    writes = [Depends(write_guard)] if write_guard is not None else []

    @router.get("/m/raw_lookup")
    async def raw_lookup(signal_type: str, signal: str, banks: str | None = None,
                         include_distance: bool = False) -> Response:
        """The hot path: checked on the event loop, looked up in a batch (`batched`).
        `cairn serve` answers it in front of FastAPI (api/fast_lookup.py)."""
        return SortedJSONResponse(await raw_lookup_answer(index, signal_type, signal, banks,
                                                          include_distance))

    @router.get("/m/lookup")
    async def lookup_get(signal_type: str, signal: str, banks: str | None = None,
                         seed: str | None = None) -> Response:
        return SortedJSONResponse(await lookup_answer(index, signal_type, signal, banks, seed))

    @router.post("/m/lookup")
    def lookup_post(content: Upload = Depends(upload),  # noqa: B008 - see `upload`
                    banks: str | None = None,
                    seed: str | None = None, bypass_coinflip: bool = False) -> Response:
        hashes = hash_upload(content, limits)
        return SortedJSONResponse({
            name: by_bank(SIGNAL_TYPES[name], value, _banks_param(banks), seed,
                          not bypass_coinflip)
            for name, value in hashes.items()})

    @router.post("/m/compare")
    def compare(body: Annotated[dict[str, Pair], Body()]) -> Response:
        out: dict[str, list] = {}
        for name, (left, right) in body.items():
            st = _type(name)
            a, b = _valid(st, left), _valid(st, right)
            if st.name == "pdq":
                d = hamming(a, b)
                out[name] = [d <= MATCH_DISTANCE, {"distance": d}]
            elif st.name == "vpdq":
                qp, tp = match_percent(parse_signal(a), parse_signal(b))
                ok = qp >= VIDEO_MATCH_PERCENT and tp >= VIDEO_MATCH_PERCENT
                out[name] = [ok, {"distance": round(100 - min(qp, tp))}]
            else:  # exact digests: equal or not
                out[name] = [a == b, {"distance": 0 if a == b else 1}]
        return SortedJSONResponse(out)

    @router.get("/m/index/status")
    def index_status(signal_type: str | None = None) -> Response:
        names = list(SIGNAL_TYPES)
        if signal_type is not None:
            if signal_type not in SIGNAL_TYPES:
                raise HmaError(400, f"No such signal type '{signal_type}'")
            names = [signal_type]
        try:
            snap: Snapshot | None = index.current()
        except Exception:  # noqa: BLE001 - reported as not present, as HMA does
            log.exception("list index could not be opened")
            snap = None
        out = {}
        for name in names:
            if snap is None:
                out[name] = {"built_to": -1, "present": False, "size": 0}
                continue
            cairn = SIGNAL_TYPES[name].cairn
            size = sum(x["signal_types"].get(cairn, 0) for x in snap.lists.values())
            out[name] = {"built_to": snap.built_to, "present": True, "size": size}
        return SortedJSONResponse(out)

    # -- /h: hashing -----------------------------------------------------------------------
    @router.get("/h/hash")
    def hash_get() -> Response:
        raise HmaError(400, URL_REFUSED)  # HMA's GET hashes a URL it fetches

    @router.post("/h/hash")
    def hash_post(content: Upload = Depends(upload),  # noqa: B008 - see `upload`
                  types: str | None = None) -> Response:
        hashes = hash_upload(content, limits)
        if types:
            wanted = [t.strip() for t in types.split(",") if t.strip()]
            for t in wanted:
                _type(t)
            hashes = {k: v for k, v in hashes.items() if k in wanted}
        return SortedJSONResponse(hashes)

    # -- /c: curation ----------------------------------------------------------------------
    def live_bank(name: str) -> dict:
        row = store.lists.info(name)
        if row is None or row["removed_at"] is not None:
            raise HmaError(404, f"bank '{name}' not found")
        return row

    @router.get("/c/banks")
    def banks_index() -> Response:
        return SortedJSONResponse([_bank(x) for x in store.lists.all()])

    @router.post("/c/banks", status_code=201, dependencies=writes)
    def bank_create(body: BankCreate) -> Response:
        _check_name(body.name)
        ratio = body.enabled_ratio if body.enabled_ratio is not None else (
            1.0 if body.enabled is None or body.enabled else 0.0)
        if store.lists.info(body.name) is not None:
            raise HmaError(403, "Bank already exists")
        try:
            store.lists.add(body.name, "HMA API: POST /c/banks", "hma", MATCH_DISTANCE, [], 0,
                            enabled_ratio=ratio)
        except StoreError:  # created by someone else between the check and the insert
            raise HmaError(403, "Bank already exists") from None
        index.invalidate()
        return SortedJSONResponse({"matching_enabled_ratio": ratio, "name": body.name},
                                  status_code=201)

    @router.get("/c/bank/{name}")
    def bank_show(name: str) -> Response:
        return SortedJSONResponse(_bank(live_bank(name)))

    @router.put("/c/bank/{name}", dependencies=writes)
    def bank_update(name: str, body: BankUpdate) -> Response:
        live_bank(name)
        if body.name is not None:
            _check_name(body.name)
        ratio = body.enabled_ratio
        if ratio is None and body.enabled is not None:
            ratio = 1.0 if body.enabled else 0.0
        try:
            row = store.lists.update(name, body.name, ratio)
        except StoreError:
            raise HmaError(403, "Bank already exists") from None
        if row is None:
            raise HmaError(404, f"bank '{name}' not found")
        index.invalidate()
        return SortedJSONResponse(_bank(row))

    @router.delete("/c/bank/{name}", dependencies=writes)
    def bank_delete(name: str) -> Response:
        try:
            store.lists.remove(name)  # None (no such list) answers "Done" too, as HMA does
        except StoreError as e:
            raise HmaError(409, str(e)) from None
        index.invalidate()
        return SortedJSONResponse({"message": "Done"})

    def add_signals(name: str, signals: dict[str, str], note: str | None) -> Response:
        if not signals:
            raise HmaError(400, "No signals given")
        typed: list[tuple[SignalType, str]] = []
        for type_name, value in signals.items():
            st = SIGNAL_TYPES.get(type_name)
            if st is None:
                raise HmaError(400, f"No such signal type {type_name}")
            if not isinstance(value, str):
                raise HmaError(400, f"Invalid {type_name} signal: not a string")
            try:
                typed.append((st, st.validate(value)))
            except SignalError as e:
                raise HmaError(400, f"Invalid {type_name} signal: {e}") from None
        if note is not None and (not isinstance(note, str) or len(note) > NOTE_MAX):
            raise HmaError(400, f"note must be a string of at most {NOTE_MAX} characters")
        entries = [{"signal_type": st.cairn, "value": v, "line": 0,
                    "attrs": {"note": note} if note else None} for st, v in typed]
        store.lists.add(name, f"HMA API: POST /c/bank/{name}", "hma", MATCH_DISTANCE,
                        entries, 0, append=True)
        index.invalidate()
        ids = [store.lists.entry_id(name, st.cairn, v) for st, v in typed]
        return SortedJSONResponse({"id": ids[0], "signals": {st.name: v for st, v in typed}})

    @router.post("/c/bank/{name}/signal", dependencies=writes)
    def bank_add_signal(name: str, body: Annotated[dict[str, Any], Body()]) -> Response:
        live_bank(name)
        signals = dict(body)
        note = signals.pop("note", None)
        return add_signals(name, signals, note)

    @router.post("/c/bank/{name}/content", dependencies=writes)
    def bank_add_content(name: str,
                         content: Upload = Depends(upload),  # noqa: B008 - see `upload`
                         ) -> Response:
        live_bank(name)
        hashes = hash_upload(content, limits)
        if hashes.get("pdq") == "":
            raise HmaError(400, "the photo's PDQ quality is under 50: it cannot be matched, "
                                "so it is not banked")
        return add_signals(name, hashes, content.fields.get("note"))

    @router.get("/c/signal_type")
    def signal_types() -> Response:
        return SortedJSONResponse([{"enabled_ratio": 1.0, "name": n} for n in SIGNAL_TYPES])

    @router.get("/c/content_type")
    def content_types() -> Response:
        return SortedJSONResponse([{"enabled": True, "name": n} for n in CONTENT_TYPES])

    router.hma_index = index  # type: ignore[attr-defined]  # create_app hands it to the fast path
    return router
