"""The hot HMA lookups in raw ASGI, in front of FastAPI: `GET /m/raw_lookup` and
`GET /m/lookup` as `cairn serve` answers them under load.

Why: per lookup, FastAPI's routing, dependency injection, query validation and response
classes cost more than the index call (~230 us against ~80-170 us, api/batcher.py), and with
h11 parsing on top a 2-core server held ~1,800 lookups/s at 1M entries (bench/bench_api.py
--compare, README "Lookups under load").

The contract: an answer from here is the one FastAPI's route gives, byte for byte in its JSON.
By construction: the body is computed by the same functions (`hma.raw_lookup_answer`,
`hma.lookup_answer`, `hma.render`, errors as `HmaError`), the token by the same check
(`auth.token_principal`, with its one-second reuse) and the same capability (`lookup`).
And by keeping to the plain case: anything else goes on to FastAPI untouched, which answers
it as it always did. Passed on:
- another method or path, a request with a body (Content-Length or Transfer-Encoding),
  a repeated header that matters (Authorization), an app without the HMA router;
- no bearer token, a session cookie, HTTP Basic, a token the store refuses or one without
  the lookup capability (FastAPI then says 401 or 403, in HMA's shape);
- a query with `url`, a parameter given twice, a missing or empty one, an `include_distance`
  other than true/false/1/0 (FastAPI's 400 or 422).
tests/test_fast_lookup.py asks both paths the same questions and compares the answers.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from cairn.api import auth

RAW, LOOKUP = "/m/raw_lookup", "/m/lookup"
PARAMS = {RAW: ("signal_type", "signal", "banks", "include_distance"),
          LOOKUP: ("signal_type", "signal", "banks", "seed")}
BOOLS = {"true": True, "false": False, "1": True, "0": False}
_BODY_HEADERS = (b"content-length", b"transfer-encoding")
_JSON = b"application/json"


class FastLookup:
    """ASGI middleware: answers the plain HMA lookups itself (see the module), passes every
    other request on. Added by `api.app.create_app`; finds the HMA router's index in the
    app's state (`hma_index`) and the store (`store`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.answered = 0  # lookups answered here (tests)
        self.passed = 0  # lookups passed on to FastAPI

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope["method"] != "GET"
                or scope["path"] not in PARAMS):
            await self.app(scope, receive, send)
            return
        answer = await self._answer(scope)
        if answer is None:
            self.passed += 1
            await self.app(scope, receive, send)
            return
        self.answered += 1
        status, body = answer
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-length", str(len(body)).encode()),
                                (b"content-type", _JSON)]})
        await send({"type": "http.response.body", "body": body})

    async def _answer(self, scope: Scope) -> tuple[int, bytes] | None:
        """(status, body), or None to pass the request on to FastAPI."""
        from cairn.api import hma  # the matcher's imports load with the first lookup

        state = getattr(scope.get("app"), "state", None)
        index = getattr(state, "hma_index", None)
        store = getattr(state, "store", None)
        if index is None or store is None:
            return None
        authorization: bytes | None = None
        for name, value in scope["headers"]:
            if name in _BODY_HEADERS:
                return None
            if name == b"authorization":
                if authorization is not None:
                    return None
                authorization = value
        if authorization is None:
            return None  # a session, or no credential: FastAPI's
        scheme, _, credential = authorization.decode("latin-1").partition(" ")
        credential = credential.strip()
        if scheme.lower() != "bearer" or not credential:
            return None
        params = _params(scope["query_string"], PARAMS[scope["path"]])
        if params is None:
            return None
        principal = await auth.token_principal(store, credential)
        if principal is None or not principal.can("lookup"):
            return None  # FastAPI answers 401 or 403 (and asks the store about partners)
        try:
            if scope["path"] == RAW:
                include = params.get("include_distance", "false")
                if include not in BOOLS:
                    return None
                content: Any = await hma.raw_lookup_answer(
                    index, params["signal_type"], params["signal"], params.get("banks"),
                    BOOLS[include])
            else:
                content = await hma.lookup_answer(
                    index, params["signal_type"], params["signal"], params.get("banks"),
                    params.get("seed"))
        except hma.HmaError as e:
            return e.status, hma.render({"message": e.message})
        return 200, hma.render(content)


def _params(query: bytes, known: tuple[str, ...]) -> dict[str, str] | None:
    """The query's parameters as Starlette reads them (latin-1, then percent-decoded as
    UTF-8, blanks kept), or None when FastAPI should answer: `url`, a name given twice, a
    required one missing, an empty value."""
    text = query.decode("latin-1")
    if "%" in text or "+" in text:
        pairs = parse_qsl(text, keep_blank_values=True)
    else:  # nothing to decode (hex hashes never need it): what parse_qsl gives, ~10x faster
        pairs = [(k, v) for k, _, v in (p.partition("=") for p in text.split("&") if p)]
    out: dict[str, str] = {}
    for name, value in pairs:
        if name == "url" or (name in known and (name in out or value == "")):
            return None
        if name in known:
            out[name] = value
    if "signal_type" not in out or "signal" not in out:
        return None
    return out
