"""The one app `cairn serve` runs: TAXII 2.1 for partners, HMA-compatible routes and Cairn's
`/api/v1` for users, browser login, and a health check.

- TAXII keeps its paths (`/taxii2/`, `/api/`, `/api/collections/…`, `/api/status/…`): its
  routes and its error handler are taken into this app as they are, with their own partner
  tokens, their own 10 MiB cap and their own 413 body. Nothing else here opens it.
- `GET /status` (and `/status/live`) answer `I-AM-ALIVE` as HMA's do, without credentials.
- `POST /login` (an urlencoded form: `user`, `password`) sets the session cookie (HttpOnly,
  SameSite=Strict, Secure when the request came over https or under `--secure-cookies`) and
  answers the session's CSRF token; wrong name or password is 401 and a locked account 429
  with Retry-After, the same for a name that is no user; an Origin (else Referer) that is not
  this server's own origin is 403 before the form is read (login CSRF); every attempt is
  recorded with its remote address (store/logins.py).
- `GET /m/raw_lookup` and `GET /m/lookup` are answered in front of FastAPI by
  api/fast_lookup.py (the same answers, byte for byte; anything unusual goes on to FastAPI).
- `POST /logout` ends the session (it needs the CSRF token too).
- `GET /api/v1/whoami`: the principal, its capabilities and, when it may read, its cases;
  `/api/v1/users` (admins) and `/api/v1/cases/{case}/custody[/verify]` (custody readers),
  api/users.py and api/custody.py; the rest of `/api/v1` (cases, items, lists, scans, batch
  lookup) in one module per area, registered by `default_routers`; `/docs` lists the routes
  from `/openapi.json` as a page with no script (api/docs.py).
- Every other request body is capped (`max_body`, default MAX_BODY): a declared
  Content-Length over it is a 413 before a byte is read; a body of undeclared length is read
  up to the cap before the route runs (whether or not the route reads it) and refused at the
  cap. A 413 says `Connection: close`: the rest of the upload is not read.

`routers` are included as given: another module's routes guard themselves with
`auth.require(...)`. `app_from_env` builds the same app in each `--workers` process.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cairn import __version__
from cairn.api import auth
from cairn.api.cases import cases_router
from cairn.api.custody import custody_router
from cairn.api.docs import docs_router
from cairn.api.fast_lookup import FastLookup
from cairn.api.items import items_router
from cairn.api.lists import lists_router
from cairn.api.lookup import lookup_router
from cairn.api.scans import scans_router
from cairn.api.users import users_router
from cairn.exchange import taxii
from cairn.service.evidence import EvidenceRoots, as_roots
from cairn.service.scans import roots_from_env
from cairn.store import Store, users

MAX_BODY = 32 << 20  # a request body outside TAXII: room for a photo or a video to hash
MAX_LOGIN_BODY = 8192  # a login form: a name and a password
ENV_ORG, ENV_MAX_BODY = "CAIRN_SERVE_ORG", "CAIRN_SERVE_MAX_BODY"
ENV_SECURE_COOKIES = "CAIRN_SERVE_SECURE_COOKIES"
ENV_FAST_LOOKUP = "CAIRN_SERVE_FAST_LOOKUP"  # "" turns the fast path off (bench --compare)


def is_taxii(path: str) -> bool:
    """Whether a path is TAXII's (its handlers cap and answer bodies themselves)."""
    return path in ("/api", "/api/") or path.startswith(
        ("/taxii2", "/api/collections", "/api/status"))


def default_routers(store: Store, evidence_roots: EvidenceRoots | Sequence[str | Path] = ()
                    ) -> list[APIRouter]:
    """The routers `cairn serve` includes beside TAXII, login and whoami: HMA's lookups for
    any `lookup` principal (its bank changes only with `write`), and /api/v1.
    `evidence_roots`: the folders a scan started over HTTP may read, `DIR` or `CASE=DIR`
    (none: it reads nothing; service/evidence.py)."""
    from cairn.api.hma import hma_router

    return [hma_router(store, guard=auth.require("lookup"), write_guard=auth.require("write")),
            cases_router(), items_router(), lists_router(),
            scans_router(as_roots(evidence_roots)),
            lookup_router(), docs_router()]


def same_origin(request: Request) -> bool:
    """Whether a request's Origin (else its Referer) is this server's own origin, as the
    request reached it (scheme, Host); a request with neither (curl, scripts) passes: only
    a browser sends them, and a browser always sends Origin with a cross-site POST."""
    claimed = request.headers.get("origin") or request.headers.get("referer")
    if claimed is None:
        return True
    return _origin(claimed) == _origin(str(request.base_url))


def _origin(url: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None  # `null` (a sandboxed frame, a file: page) and the like: never ours
    return parts.scheme, parts.hostname.lower(), port or (443 if parts.scheme == "https" else 80)


def create_app(store: Store, org: str = "Cairn", routers: Sequence[APIRouter] = (),
               max_body: int = MAX_BODY, *, evidence_roots: EvidenceRoots | None = None,
               secure_cookies: bool = False, fast_lookup: bool = True) -> FastAPI:
    """The app (see the module). `evidence_roots`: kept in `app.state` for the routes that
    read evidence (service/evidence.py); `secure_cookies`: the session cookie is Secure even
    when the request came over plain http (a TLS proxy in front); `fast_lookup`: answer
    `GET /m/raw_lookup` and `GET /m/lookup` in api/fast_lookup.py, in front of FastAPI."""
    app = FastAPI(title="Cairn", version=__version__, docs_url=None, redoc_url=None,
                  openapi_url="/openapi.json")
    app.state.store = store
    app.state.evidence_roots = evidence_roots or EvidenceRoots()
    app.state.unknown_logins = users.Backoff()
    partner_app = taxii.create_app(store, org=org)
    for route in partner_app.router.routes:  # TAXII documents itself (discovery), not here
        if isinstance(route, APIRoute):
            route.include_in_schema = False
        app.router.routes.append(route)
    app.add_exception_handler(taxii.TaxiiError,
                              partner_app.exception_handlers[taxii.TaxiiError])
    app.add_middleware(BodyLimit, limit=max_body)
    if fast_lookup:
        app.add_middleware(FastLookup)  # outermost of ours: before the body cap and FastAPI

    @app.get("/status", response_class=PlainTextResponse)
    def status() -> str:
        return "I-AM-ALIVE"

    @app.get("/status/live", response_class=PlainTextResponse)
    def live() -> str:
        return "I-AM-ALIVE"

    @app.post("/login")
    async def login(request: Request) -> Response:
        if not same_origin(request):
            claimed = request.headers.get("origin") or request.headers.get("referer")
            raise HTTPException(403, f"cross-site login refused: Origin/Referer {claimed!r} "
                                "is not this server")
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind != "application/x-www-form-urlencoded":
            raise HTTPException(415, "send the login as a form "
                                "(application/x-www-form-urlencoded: user, password)")
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_LOGIN_BODY:
            raise HTTPException(413, f"a login form is at most {MAX_LOGIN_BODY} bytes")
        body = b""
        async for chunk in request.stream():  # counted as read: a chunked body declares none
            body += chunk
            if len(body) > MAX_LOGIN_BODY:
                raise HTTPException(413, f"a login form is at most {MAX_LOGIN_BODY} bytes")
        fields = auth.form_fields(body)
        name, password = fields.get("user"), fields.get("password")
        if not name or password is None:
            raise HTTPException(422, "the form needs the fields user and password")
        result = await run_in_threadpool(users.check_login, store, name, password,
                                         app.state.unknown_logins,
                                         request.client.host if request.client else None)
        if result.retry_after:
            raise HTTPException(429, "too many failed logins: try again later",
                                headers={"Retry-After": str(result.retry_after)})
        if result.user is None:
            raise HTTPException(401, "wrong user name or password")
        session, csrf = await run_in_threadpool(users.create_session, store, result.user)
        reply = JSONResponse({"user": result.user.name, "role": result.user.role,
                              "csrf_token": csrf})
        reply.set_cookie(auth.SESSION_COOKIE, session, httponly=True, samesite="strict",
                         secure=secure_cookies or request.url.scheme == "https", path="/",
                         max_age=int(users.SESSION_LIFETIME.total_seconds()))
        return reply

    @app.post("/logout")
    def logout(request: Request, principal: auth.CurrentPrincipal) -> Response:
        if principal.via != "session":
            raise HTTPException(400, "logout ends a browser session; a token is revoked "
                                "with `cairn tokens revoke`")
        users.end_session(store, request.cookies.get(auth.SESSION_COOKIE, ""))
        reply = JSONResponse({"logged_out": principal.name})
        reply.delete_cookie(auth.SESSION_COOKIE, path="/", httponly=True, samesite="strict",
                            secure=secure_cookies or request.url.scheme == "https")
        return reply

    @app.get("/api/v1/whoami")
    def whoami(principal: auth.CurrentPrincipal) -> dict[str, Any]:
        body: dict[str, Any] = {"user": principal.name, "role": principal.role,
                                "via": principal.via,
                                "capabilities": sorted(principal.capabilities)}
        if principal.can("read") or principal.can("custody"):
            body["cases"] = users.visible_case_names(store, principal)
        return body

    for router in (users_router(), custody_router(), *routers):
        app.include_router(router)
        if getattr(router, "hma_index", None) is not None:  # hma_router's: the fast path's
            app.state.hma_index = router.hma_index  # type: ignore[attr-defined]
    return app


def app_from_env() -> FastAPI:
    """The app of one `cairn serve --workers N` process: the store of $CAIRN_HOME (or
    $CAIRN_DATABASE_URL), the organisation and body cap `cairn serve` put in the environment."""
    store = Store.open(os.environ.get("CAIRN_HOME") or None)
    roots = roots_from_env()
    return create_app(store, org=os.environ.get(ENV_ORG, "Cairn"),
                      routers=default_routers(store, roots),
                      max_body=int(os.environ.get(ENV_MAX_BODY, MAX_BODY)),
                      evidence_roots=roots,
                      secure_cookies=bool(os.environ.get(ENV_SECURE_COOKIES)),
                      fast_lookup=bool(os.environ.get(ENV_FAST_LOOKUP, "1")))


class BodyLimit:
    """ASGI middleware: request bodies outside TAXII of at most `limit` bytes (413)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_taxii(scope["path"]):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None and b"transfer-encoding" in headers:
            # both framings at once: h11 reads the body as chunked, so the declared length
            # would bound nothing (a request smuggling shape too): refused, never guessed
            await _reply(send, 400, "Content-Length and Transfer-Encoding together")
            return
        if declared is not None:
            if not declared.isdigit():
                await _reply(send, 400, "bad Content-Length")
                return
            if int(declared) > self.limit:
                await _reply(send, 413, self._too_large())
                return
        if declared is None and b"transfer-encoding" in headers:
            # a streamed body of unknown length: read (up to the cap) before the route runs,
            # so a route that never reads its body cannot be sent an unbounded one either
            messages: list[Message] = []
            seen = 0
            while True:
                message = await receive()
                messages.append(message)
                if message["type"] != "http.request":
                    break
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    await _reply(send, 413, self._too_large())
                    return
                if not message.get("more_body"):
                    break

            async def replay() -> Message:
                return messages.pop(0) if messages else await receive()

            await self.app(scope, replay, send)
            return
        await self.app(scope, receive, send)  # h11 delivers no more than Content-Length

    def _too_large(self) -> str:
        return f"request body over {self.limit} bytes"


async def _reply(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
