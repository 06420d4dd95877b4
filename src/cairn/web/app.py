"""`cairn serve`'s app with the workbench: the API's app (api/app.py) and the /ui/ routes.
The web layer sits above the API, so the API cannot include it: this module does."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from fastapi import APIRouter, FastAPI

from cairn.api.app import (
    ENV_FAST_LOOKUP,
    ENV_MAX_BODY,
    ENV_ORG,
    ENV_SECURE_COOKIES,
    MAX_BODY,
    create_app,
    default_routers,
)
from cairn.service.evidence import EvidenceRoots, as_roots
from cairn.store import Store
from cairn.web.routes import web_router
from cairn.web.viewroutes import views_router


def serve_app(store: Store, org: str = "Cairn",
              evidence_roots: EvidenceRoots | Sequence[str | Path] = (),
              max_body: int = MAX_BODY, secure_cookies: bool = False,
              fast_lookup: bool = True) -> FastAPI:
    roots = as_roots(evidence_roots)
    routers: list[APIRouter] = [*default_routers(store, roots), web_router(),
                               views_router()]
    return create_app(store, org=org, routers=routers, max_body=max_body,
                      evidence_roots=roots, secure_cookies=secure_cookies,
                      fast_lookup=fast_lookup)


def app_from_env() -> FastAPI:
    """The app of one `cairn serve --workers N` process (see api/app.py `app_from_env`)."""
    store = Store.open(os.environ.get("CAIRN_HOME") or None)
    return serve_app(store, org=os.environ.get(ENV_ORG, "Cairn"),
                     evidence_roots=EvidenceRoots.from_env(),
                     max_body=int(os.environ.get(ENV_MAX_BODY, MAX_BODY)),
                     secure_cookies=bool(os.environ.get(ENV_SECURE_COOKIES)),
                     fast_lookup=bool(os.environ.get(ENV_FAST_LOOKUP, "1")))
