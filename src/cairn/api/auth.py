"""Who a request acts as, and what it may do: FastAPI dependencies over store/users.py.

Credentials, in this order: `Authorization: Bearer cairn_…` (an API token), else the session
cookie a `POST /login` set. Answers, each the same whatever was wrong with the credential:

- 401: no credential, or one that is unknown, revoked, expired, or whose user is disabled.
- 403: a TAXII partner's token (Bearer or HTTP Basic, as TAXII takes it). It is a valid
  credential for another door, so "authenticated but not allowed here" is the true answer, and
  it tells the partner nothing it does not know. Our tokens do not open TAXII either (TAXII
  looks up partners only: 401 there).
- 403: a capability the principal lacks (`require`), a case it may not see (`require_case`:
  one fixed body for a case that does not exist and one not granted), or a state-changing
  request on a session without its CSRF token (header `X-CSRF-Token` or form field
  `csrf_token`; a bearer token is no ambient credential and needs none).

Store work runs in the threadpool (`run_in_threadpool`), never on the event loop. A bearer
token the store accepted is taken again without asking it for TOKEN_RECHECK (1 s) in the
same process (`token_principal`): revoking a token, or disabling its user, takes effect
within that second, as list changes reach lookups.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Awaitable, Callable
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import Depends, HTTPException, Request
from starlette.concurrency import run_in_threadpool

from cairn.store import Store, users
from cairn.store import exchange as ex
from cairn.store.users import CAPABILITIES, Principal

SESSION_COOKIE = "cairn_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CASE_FORBIDDEN = "forbidden: no such case for this user"  # unknown and not granted alike
UNAUTHENTICATED = "authentication required: a bearer token (cairn_…) or a session"
PARTNER_FORBIDDEN = "a TAXII partner token opens /taxii2/ only"
CSRF_FORBIDDEN = "CSRF token missing or wrong (header X-CSRF-Token or field csrf_token)"


def unauthenticated() -> HTTPException:
    return HTTPException(401, UNAUTHENTICATED, headers={"WWW-Authenticate": "Bearer"})


def store_of(request: Request) -> Store:
    return request.app.state.store


async def current_principal(request: Request) -> Principal:
    """The principal of the request, or 401/403 as the module says."""
    store = store_of(request)
    auth = request.headers.get("authorization")
    if auth is not None:
        scheme, _, credential = auth.partition(" ")
        credential = credential.strip()
        if scheme.lower() == "bearer" and credential:
            found = await token_principal(store, credential)
            if found is not None:
                return found
        elif scheme.lower() == "basic":
            credential = _basic_password(credential)
        partner: dict | None = None
        if credential:
            partner = await run_in_threadpool(ex.partner_for_token, store, credential)
        if partner is not None:
            raise HTTPException(403, PARTNER_FORBIDDEN)
        raise unauthenticated()
    session = request.cookies.get(SESSION_COOKIE)
    if not session:
        raise unauthenticated()
    found = await run_in_threadpool(users.principal_for_session, store, session)
    if found is None:
        raise unauthenticated()
    if request.method not in SAFE_METHODS and not users.check_csrf(
            found, await submitted_csrf(request)):
        raise HTTPException(403, CSRF_FORBIDDEN)
    return found


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]

TOKEN_RECHECK = 1.0  # seconds a token's principal is reused before the store is asked again
TOKEN_CACHE_MAX = 4096  # tokens remembered per process (cleared when full)
_known: dict[tuple[int, str], tuple[Principal, float]] = {}  # -> (principal, when vouched)
_asking: dict[tuple[int, str], float] = {}  # -> when a request began asking the store again


async def token_principal(store: Store, secret: str) -> Principal | None:
    """`users.principal_for_token`, its answer for a known token reused for TOKEN_RECHECK
    seconds, and while one request asks the store again the others keep it: a query in the
    threadpool per request cost more than the lookup it guarded (bench/bench_api.py), and
    all 64 clients asking at once each second made the slowest requests. So a revoked or
    expired token, or one whose user was disabled, is refused within TOKEN_RECHECK seconds
    (twice that at most, while the store is slow to answer), as list changes made elsewhere
    reach lookups (api/hma_index.py); a refused token is never remembered."""
    key = (id(store), secret)
    now = time.monotonic()
    hit = _known.get(key)
    if hit is not None:
        if now - hit[1] < TOKEN_RECHECK:
            return hit[0]
        began = _asking.get(key)
        if began is not None and now - began < TOKEN_RECHECK:
            return hit[0]  # another request is asking the store right now
    _asking[key] = now
    try:
        found = await run_in_threadpool(users.principal_for_token, store, secret)
    finally:
        _asking.pop(key, None)
    if found is None:
        _known.pop(key, None)
        return None
    if len(_known) >= TOKEN_CACHE_MAX:
        _known.clear()
    _known[key] = (found, now)
    return found


_token_principal = token_principal  # its former name (tests/test_hot_path.py)


def _basic_password(credential: str) -> str:
    try:
        return base64.b64decode(credential, validate=True).decode().partition(":")[2]
    except (binascii.Error, ValueError):
        return ""


async def submitted_csrf(request: Request) -> str | None:
    """The CSRF token a request carries: its header, else its form's `csrf_token` field
    (the body is bounded by the app's size limit before it is read here)."""
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/x-www-form-urlencoded":
        return form_fields(await request.body()).get(CSRF_FIELD)
    if kind == "multipart/form-data":
        try:  # Starlette parses multipart only with python-multipart installed
            value = (await request.form()).get(CSRF_FIELD)
        except (AssertionError, ImportError, ValueError):
            return None
        return value if isinstance(value, str) else None
    return None


def form_fields(body: bytes) -> dict[str, str]:
    """An urlencoded form's fields (the first of each name)."""
    try:
        return {k: v[0] for k, v in parse_qs(body.decode(), max_num_fields=100).items()}
    except (UnicodeDecodeError, ValueError):  # not UTF-8, or over 100 fields: no form
        return {}


def require(capability: str) -> Callable[..., Awaitable[Principal]]:
    """A FastAPI dependency admitting principals that have `capability` (lookup, read,
    write, review, custody, admin: see store/users.py for who has which); 401 without a
    credential, 403 without the capability. Pass it as a router's guard
    (`hma_router(store, guard=require("lookup"))`) or as `Depends(require("read"))`."""
    if capability not in CAPABILITIES:
        raise ValueError(f"capability {capability!r}: one of {', '.join(CAPABILITIES)}")

    async def guard(principal: CurrentPrincipal) -> Principal:
        if not principal.can(capability):
            raise HTTPException(403, f"forbidden: this needs the {capability} capability, "
                                f"which this {principal.via} of a {principal.role} lacks")
        return principal

    guard.__name__ = f"require_{capability}"
    return guard


def require_case(store: Store, principal: Principal, case: str) -> int:
    """The id of `case` when `principal` may see it; else 403 with one fixed body, whether
    the case does not exist, was deleted or is not granted. Blocking: call it from a plain
    `def` endpoint (the threadpool)."""
    case_id = users.case_visible(store, principal, case)
    if case_id is None:
        raise HTTPException(403, CASE_FORBIDDEN)
    return case_id
