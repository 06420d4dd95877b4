"""`GET /docs`: the API's routes as one plain HTML page built from the OpenAPI document,
served from the package with no script and nothing fetched from elsewhere (FastAPI's default
docs load Swagger UI from a CDN, which a server on an evidence network may not reach and
should not trust). The machine-readable document stays at `/openapi.json`."""

from __future__ import annotations

from html import escape
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

METHODS = ("get", "post", "put", "patch", "delete")


def docs_router() -> APIRouter:
    router = APIRouter()

    @router.get("/docs", include_in_schema=False, response_class=HTMLResponse)
    def docs(request: Request) -> HTMLResponse:
        return HTMLResponse(render(request.app.openapi()), headers={
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"})

    return router


def render(spec: dict[str, Any]) -> str:
    info = spec.get("info", {})
    rows = []
    for path, ops in sorted(spec.get("paths", {}).items()):
        for method in METHODS:
            op = ops.get(method)
            if op is None:
                continue
            params = ", ".join(f"{p['name']} ({p.get('in')})" for p in op.get("parameters", [])
                               if p.get("in") != "path")
            body = "body" if "requestBody" in op else ""
            doc = op.get("description") or op.get("summary") or ""
            rows.append(f"<tr><td><code>{escape(method.upper())}</code></td>"
                        f"<td><code>{escape(path)}</code></td>"
                        f"<td>{escape(', '.join(op.get('tags', [])))}</td>"
                        f"<td>{escape(' '.join(x for x in (params, body) if x))}</td>"
                        f"<td>{escape(doc.strip().splitlines()[0] if doc.strip() else '')}"
                        "</td></tr>")
    return ("<!doctype html><html><head><meta charset='utf-8'>"
            f"<title>{escape(str(info.get('title', 'API')))} API</title>"
            "<style>body{font:14px sans-serif;margin:2em}td{padding:2px 8px;"
            "vertical-align:top}tr:nth-child(even){background:#f4f4f4}</style></head><body>"
            f"<h1>{escape(str(info.get('title', 'API')))} {escape(str(info.get('version')))}"
            "</h1><p>Every route, from <a href='/openapi.json'>/openapi.json</a> (the full "
            "document: parameters, bodies, answers).</p><table><tr><th>method</th><th>path"
            "</th><th>area</th><th>parameters</th><th>what</th></tr>"
            + "".join(rows) + "</table></body></html>\n")
