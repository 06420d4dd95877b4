"""The reviewer's workbench under `/ui/`: server-rendered pages, thumbnails and decisions.

Who: a browser session (POST /login) or a token, as for /api/v1 (api/auth.py). A page without
a credential sends the browser to the login page; pages and thumbnails need `read` or
`review` and a case granted to the user (one 403 for a case that does not exist and one not
granted, also when the case is reached through an item id); decisions need `review`, and a
session's POST its CSRF token (api/auth.py refuses one without: 403).

Exposure defaults (issue 18): every thumbnail leaves the server greyscale and blurred
(web/thumbs.py), as strongly as the session's blur level says (store/exposure.py: strong by
default; lowered at /ui/exposure; off only with `confirm`, else 409; each change an
`exposure.changed` custody entry). The clear picture of one item is only ever the answer to
a POST `/ui/thumb/{id}/reveal` (a session's needs its `X-CSRF-Token` header, a form field is
not enough), each a custody entry `item.revealed` naming the user; the page shows it as a
blob: URL and re-blurs on release or after REVEAL_SECONDS. A video never plays: its
key-frame strip `/ui/thumb/{id}/frames/{k}` is blurred like a thumbnail, each frame revealed
the same way. Every response here says `Cache-Control: no-store` and a
Content-Security-Policy allowing our own files only (and blob: images: the revealed one).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from cairn.api import auth
from cairn.api.common import REVIEW
from cairn.service import evidence
from cairn.service import items as svc
from cairn.service.families import PENDING as FAMILIES_PENDING
from cairn.service.families import families_for_page
from cairn.store import Store, exposure, reviews, users
from cairn.store.common import StoreError
from cairn.store.users import Principal
from cairn.web import data, queue, thumbs, vendor
from cairn.web.insights import insights
from cairn.web.schemes import default_scheme, schemes
from cairn.web.thumbs import thumbnail

HERE = Path(__file__).parent
REVEALED = "item.revealed"
REVEAL_SECONDS = 5
BREAK_MINUTES = 30  # the default; `break_minutes` in the URL changes it for the page
STATIC = {"workbench.js": "text/javascript", "workbench.css": "text/css",
          "views.js": "text/javascript", "views.css": "text/css"}
NO_STORE = {
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "Content-Security-Policy": "default-src 'none'; img-src 'self' blob:; script-src 'self'; "
                               "style-src 'self'; connect-src 'self'; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
_env = Environment(loader=FileSystemLoader(HERE / "templates"),
                   autoescape=select_autoescape(default=True), trim_blocks=True,
                   lstrip_blocks=True)


async def page_principal(request: Request) -> Principal | None:
    """The principal, or None without a credential (the page then sends to the login)."""
    try:
        return await auth.current_principal(request)
    except HTTPException as e:
        if e.status_code == 401:
            return None
        raise


PagePrincipal = Annotated[Principal | None, Depends(page_principal)]


def _may_view(who: Principal) -> None:
    if not (who.can("read") or who.can("review")):
        raise HTTPException(403, "forbidden: the workbench needs the read or review "
                            "capability")


def _render(request: Request, name: str, who: Principal | None, **ctx: Any) -> HTMLResponse:
    csrf = ""
    session = request.cookies.get(auth.SESSION_COOKIE)
    if who is not None and who.via == "session" and session:
        csrf = users.csrf_for(session)
    html = _env.get_template(name).render(who=who, csrf=csrf, schemes=schemes(),
                                          vendor_missing=vendor.missing(),
                                          vendor_hint=vendor.HINT, **ctx)
    return HTMLResponse(html, headers=NO_STORE)


def _login_redirect(request: Request) -> RedirectResponse:
    return RedirectResponse("/ui/login?" + urlencode({"next": request.url.path}), 303,
                            headers=NO_STORE)


class ExposureSetting(BaseModel):
    """A session's blur level (3 strong .. 0 off); off needs `confirm`."""

    blur: int = Field(ge=0, le=3)
    confirm: bool = False


def _blur(who: Principal) -> int:
    """The blur level of the request's session, read with the session itself (the
    Principal carries it: no second read per thumbnail); a token's is the default."""
    return who.blur if who.via == "session" and who.blur in exposure.LEVELS \
        else exposure.DEFAULT


# the public face viewroutes.py renders with: the same headers, the same login rule
render, login_redirect, may_view = _render, _login_redirect, _may_view


class Decision(BaseModel):
    """A decision posted by the queue: a category for `items` (a selection, a page), or for
    every member of `family`; or `undo` of one item's last decision."""

    scheme: str = Field("vic-us", max_length=40)
    category: str | None = Field(None, max_length=40)
    items: list[int] = Field(default_factory=list, max_length=10_000)
    family: int | None = Field(None, ge=1)
    undo: int | None = None


def web_router() -> APIRouter:
    router = APIRouter(prefix="/ui", include_in_schema=False)

    def store_of(request: Request) -> Store:
        return auth.store_of(request)

    def case_or_403(request: Request, who: Principal, case: str) -> tuple[Store, int]:
        _may_view(who)
        store = store_of(request)
        return store, auth.require_case(store, who, case)

    @router.get("/login")
    def login_page(request: Request, next: Annotated[str, Query(max_length=300)] = "/ui/"
                   ) -> HTMLResponse:
        if not next.startswith("/ui/") or "//" in next:
            next = "/ui/"  # only our own pages: never an open redirect
        return _render(request, "login.html", None, next=next)

    @router.get("/", response_model=None)
    def case_list(request: Request, who: PagePrincipal) -> Response:
        if who is None:
            return _login_redirect(request)
        _may_view(who)
        return _render(request, "cases.html", who,
                       cases=users.visible_case_names(store_of(request), who))

    @router.get("/cases/{case}", response_model=None)
    def case_overview(request: Request, case: str, who: PagePrincipal) -> Response:
        if who is None:
            return _login_redirect(request)
        store, case_id = case_or_403(request, who, case)
        return _render(request, "overview.html", who, case=case,
                       o=data.overview(store, case_id), ins=insights(store, case_id))

    @router.get("/cases/{case}/queue", response_model=None)
    def review_queue(request: Request, case: str, who: PagePrincipal,
                     source: Annotated[str | None, Query(max_length=200)] = None,
                     device: Annotated[str | None, Query(max_length=100)] = None,
                     suspect: Annotated[str | None, Query(max_length=100)] = None,
                     list_name: Annotated[str | None, Query(alias="list", max_length=200)
                                          ] = None,
                     finding: Annotated[str | None, Query(max_length=30)] = None,
                     family: Annotated[str, Query(max_length=9, pattern=r"^\d*$")] = "",
                     matched: Literal["", "yes", "no"] = "",
                     state: Literal["all", "unreviewed", "reviewed"] = "all",
                     scheme: Annotated[str | None, Query(max_length=40)] = None,
                     cursor: Annotated[str | None, Query(max_length=60)] = None,
                     limit: Annotated[int, Query(ge=1, le=queue.MAX_PAGE)] = 48,
                     break_minutes: Annotated[int, Query(ge=1, le=600)] = BREAK_MINUTES
                     ) -> Response:
        if who is None:
            return _login_redirect(request)
        store, case_id = case_or_403(request, who, case)
        chosen = schemes().get(scheme or "") or default_scheme()
        try:
            pg = queue.page(store, case_id, queue.QueueQuery(
                source or None, {"yes": True, "no": False}.get(matched), state, cursor,
                limit, device or None, suspect or None, list_name or None, finding or None,
                int(family) if family else None))
        except ValueError as e:
            raise HTTPException(422, [{"loc": ["query", "cursor"], "type": "value_error",
                                       "msg": str(e)}]) from None
        params = {k: v for k, v in request.query_params.items() if k != "cursor"}
        nxt = (request.url.path + "?" + urlencode(params | {"cursor": pg.next_cursor})
               if pg.next_cursor else None)
        return _render(request, "queue.html", who, case=case, page=pg, next_url=nxt,
                       scheme=chosen, matched=matched, state=state,
                       f={"source": source or "", "device": device or "",
                          "suspect": suspect or "", "list": list_name or "",
                          "finding": finding or "", "family": family or ""},
                       tiers=queue.TIERS, reveal_seconds=REVEAL_SECONDS,
                       blur=exposure.LEVELS[_blur(who)],
                       break_minutes=break_minutes, first=not cursor)

    @router.get("/cases/{case}/items/{item_id}", response_model=None)
    def item_panel(request: Request, case: str, item_id: int, who: PagePrincipal
                   ) -> Response:
        if who is None:
            return _login_redirect(request)
        store, case_id = case_or_403(request, who, case)
        it = svc.view_item(store, case_id, item_id, who.name, who.via,  # item.viewed
                           wait=False)  # a large case's families: said to be computed
        if it is None:
            raise HTTPException(404, f"no item {item_id} in this case")
        found = data.item_file(store, item_id)
        if found:
            within_roots(request, store, *found)
        frames = thumbs.frame_count(store.home, found[1]) if found else 0
        return _render(request, "item.html", who, case=case, it=it, frames=frames,
                       history=reviews.history(store, item_id),
                       families_pending=FAMILIES_PENDING,
                       reveal_seconds=REVEAL_SECONDS, scheme=default_scheme())

    @router.get("/cases/{case}/families/{family_id}", response_model=None)
    def family_view(request: Request, case: str, family_id: int, who: PagePrincipal,
                    scheme: Annotated[str | None, Query(max_length=40)] = None) -> Response:
        if who is None:
            return _login_redirect(request)
        store, case_id = case_or_403(request, who, case)
        if families_for_page(store, case_id) is None:  # a large case: on a thread
            return _render(request, "pending.html", who, case=case,
                           title=f"Family {family_id}", note=FAMILIES_PENDING)
        fam = data.family(store, case_id, family_id)
        if fam is None:
            raise HTTPException(404, f"no family {family_id} in this case")
        return _render(request, "family.html", who, case=case, fam=fam,
                       scheme=schemes().get(scheme or "") or default_scheme(),
                       reveal_seconds=REVEAL_SECONDS)

    def visible_item(request: Request, store: Store, who: Principal, item_id: int
                     ) -> tuple[int, thumbs.ItemFile]:
        _may_view(who)
        found = data.item_file(store, item_id)
        if found is None or found[0] not in users.visible_case_ids(store, who):
            raise HTTPException(403, auth.CASE_FORBIDDEN)  # an item of no visible case
        case_id, item = found
        within_roots(request, store, case_id, item)
        return found

    def within_roots(request: Request, store: Store, case_id: int, item: thumbs.ItemFile
                     ) -> None:
        """Evidence is read only under the server's evidence roots (service/evidence.py)."""
        try:
            evidence.roots_of(request.app).check_file(
                evidence.case_name(store, case_id) or "", item.location, item.raw_path)
        except evidence.OutsideRoots as e:
            raise HTTPException(403, f"forbidden: {e}", headers=NO_STORE) from None

    def png_or_404(png: bytes | None) -> Response:
        if png is None:
            raise HTTPException(404, "no picture to show for this item (not an image or "
                                "a video, or its bytes are no longer the item's: changed "
                                "or unreadable since the scan)",
                                headers=NO_STORE)
        return Response(png, media_type="image/png", headers=NO_STORE)

    def revealing(request: Request, who: Principal) -> None:
        """A reveal from a session carries its CSRF token in the header (a form post from
        another site cannot set one); auth has checked that the token is right."""
        if who.via == "session" and not request.headers.get(auth.CSRF_HEADER):
            raise HTTPException(403, auth.CSRF_FORBIDDEN)

    @router.get("/thumb/{item_id}")
    def thumb(request: Request, item_id: int, who: auth.CurrentPrincipal) -> Response:
        """The item's thumbnail, grey and blurred as the session's level says (a GET never
        reveals: see `reveal`)."""
        store = store_of(request)
        _, item = visible_item(request, store, who, item_id)
        return png_or_404(thumbnail(store.home, item,
                                           variant=thumbs.LEVELS[_blur(who)]))

    @router.post("/thumb/{item_id}/reveal")
    def reveal(request: Request, item_id: int, who: auth.CurrentPrincipal) -> Response:
        """The clear thumbnail of one item: a custody entry `item.revealed` naming the user."""
        revealing(request, who)
        store = store_of(request)
        case_id, item = visible_item(request, store, who, item_id)
        png = thumbnail(store.home, item, variant="clear")
        store.log_event(case_id, REVEALED, f"item:{item_id}",
                        {"item": item_id, "by": who.name, "via": who.via,
                         "shown": png is not None})
        return png_or_404(png)

    @router.get("/thumb/{item_id}/frames/{k}")
    def key_frame(request: Request, item_id: int, k: int, who: auth.CurrentPrincipal
                  ) -> Response:
        """Key frame `k` of a video's strip, grey and blurred as a thumbnail is."""
        store = store_of(request)
        _, item = visible_item(request, store, who, item_id)
        return png_or_404(thumbs.frame(store.home, item, k,
                                       thumbs.LEVELS[_blur(who)]))

    @router.post("/thumb/{item_id}/frames/{k}/reveal")
    def reveal_frame(request: Request, item_id: int, k: int, who: auth.CurrentPrincipal
                     ) -> Response:
        revealing(request, who)
        store = store_of(request)
        case_id, item = visible_item(request, store, who, item_id)
        png = thumbs.frame(store.home, item, k, "clear")
        store.log_event(case_id, REVEALED, f"item:{item_id}",
                        {"item": item_id, "frame": k, "by": who.name, "via": who.via,
                         "shown": png is not None})
        return png_or_404(png)

    @router.get("/exposure", response_model=None)
    def exposure_page(request: Request, who: PagePrincipal) -> Response:
        if who is None:
            return _login_redirect(request)
        _may_view(who)
        return _render(request, "exposure.html", who, levels=exposure.LEVELS,
                       level=_blur(who),
                       session=who.via == "session")

    @router.post("/exposure")
    def set_exposure(request: Request, body: ExposureSetting, who: auth.CurrentPrincipal
                     ) -> Response:
        """The session's blur level; off without `confirm` is 409 (nothing changes)."""
        _may_view(who)
        if who.via != "session" or who.session_id is None:
            raise HTTPException(409, "a token has no session: its thumbnails are always "
                                "blurred strongly")
        try:
            res = exposure.set_level(store_of(request), who.session_id, who.name, body.blur,
                                     body.confirm)
        except exposure.NeedsConfirmation as e:
            raise HTTPException(409, str(e), headers=NO_STORE) from None
        except StoreError as e:
            raise HTTPException(422, str(e)) from None
        return JSONResponse(res, headers=NO_STORE)

    @router.post("/cases/{case}/review")
    def review(request: Request, case: str, body: Decision,
               who: Principal = REVIEW) -> Response:
        store = store_of(request)
        case_id = auth.require_case(store, who, case)
        try:
            if body.undo is not None:
                done = [reviews.undo(store, case_id, body.undo, who.name, who.via)]
            else:
                sch = schemes().get(body.scheme)
                if sch is None or body.category is None or sch.category(body.category) is None:
                    raise HTTPException(422, [{"loc": ["body", "category"],
                                               "type": "value_error",
                                               "msg": "not a category of this scheme"}])
                ids = list(body.items)
                if body.family is not None:
                    ids += data.family_item_ids(store, case_id, body.family)
                if not ids:
                    raise HTTPException(422, "name items, a family, or an item to undo")
                done = reviews.record(store, case_id, ids, who.name, body.scheme,
                                      body.category, who.via)
        except reviews.ReviewError as e:
            raise HTTPException(404, str(e)) from None
        return JSONResponse({"reviews": [r.public() for r in done]}, headers=NO_STORE)

    @router.get("/static/vendor/{name}")
    async def vendored(name: str) -> Response:
        """A browser library from npm (web/vendor.py); 404 naming the fix when missing."""
        found = vendor.path(name)
        if found is None:
            raise HTTPException(404, "no such file")
        try:
            body = await run_in_threadpool(found.read_bytes)
        except FileNotFoundError:
            raise HTTPException(404, f"{name} is not installed: {vendor.HINT}") from None
        return Response(body, media_type="text/javascript",
                        headers={"Cache-Control": "no-cache"})

    @router.get("/static/{name}")
    async def static(name: str) -> Response:
        kind = STATIC.get(name)
        if kind is None:
            raise HTTPException(404, "no such file")
        body = await run_in_threadpool((HERE / "static" / name).read_bytes)
        return Response(body, media_type=kind, headers={"Cache-Control": "no-cache"})

    return router
