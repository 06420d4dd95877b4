"""A TAXII 2.1 server over the store's lists: one collection per list a partner may see.

Endpoints: discovery, API root, collections, a collection, its objects (GET with
`added_after`, `limit`, `next`; POST an envelope), its manifest, one object, and the status
of a POST. Every request needs a partner's API token (HTTP Basic password, or a Bearer
token); without one it gets 401, for a collection it may not read or write 403, and nothing
else. A RED list is served only to partners named on it (every grant names one).

Each active entry is served as an Indicator (its pattern: the one hash) and a File (the hash,
PDQ in Cairn's property-extension), dated by when the entry entered this store. POSTs to a
writable collection add Indicators' hashes to the list and record Opinions on its entries
(feedback: a partner found a match false, or confirmed it).
"""

from __future__ import annotations

import base64
import json
import os
import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from cairn.lists.formats import stix
from cairn.store import Store
from cairn.store import exchange as ex

MEDIA = "application/taxii+json;version=2.1"
STIX_MEDIA = "application/stix+json;version=2.1"
API_ROOT = "api"
MAX_LIMIT = 1000
MAX_CONTENT_LENGTH = 10_485_760  # what the API root advertises
OPINION_VALUES = {"strongly-disagree": "false_positive", "disagree": "false_positive",
                  "agree": "confirmed", "strongly-agree": "confirmed"}


class TaxiiError(Exception):
    def __init__(self, status: int, title: str, description: str = "") -> None:
        super().__init__(title)
        self.status, self.title, self.description = status, title, description


def collection_id(list_name: str) -> str:
    return str(uuid.uuid5(stix.NAMESPACE, f"collection:{list_name}"))


def stix_time(iso: str | None) -> str:
    """Our stored ISO time -> a STIX/TAXII timestamp (UTC, microseconds, `Z`)."""
    dt = datetime.fromisoformat(iso) if iso else datetime(2020, 1, 1, tzinfo=UTC)
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def from_stix_time(ts: str) -> str:
    try:
        dt = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        raise TaxiiError(400, "bad added_after", f"not a timestamp: {ts!r}") from None
    return dt.astimezone(UTC).isoformat(timespec="microseconds")


def entry_objects(row: dict, org, marking: str) -> list[dict]:  # noqa: ANN001 - Identity
    """The objects a stored entry row is served as, dated by when it entered the store."""
    entry = {"signal_type": row["signal_type"], "value": row["value"],
             "category": row["category"], "labels": json.loads(row["labels"]),
             "attrs": json.loads(row["attrs"]) if row.get("attrs") else None}
    return stix.entry_objects(entry, org, marking, stix_time(row["added_at"]))


def _cursor(token: str | None) -> tuple[str, int] | None:
    if not token:
        return None
    try:
        added_at, _, ident = base64.urlsafe_b64decode(token.encode()).decode().rpartition("|")
        return added_at, int(ident)
    except (ValueError, UnicodeDecodeError):
        raise TaxiiError(400, "bad next", "the next token is not one this server gave") from None


def create_app(store: Store, org: str = "Cairn", title: str = "Cairn TAXII 2.1") -> FastAPI:
    app = FastAPI(title=title, docs_url=None, redoc_url=None, openapi_url=None)
    ident = stix.identity(org)

    def reply(obj: Any, status: int = 200, headers: dict | None = None) -> Response:
        return Response(json.dumps(obj), status_code=status, media_type=MEDIA, headers=headers)

    @app.exception_handler(TaxiiError)
    async def taxii_error(_request: Request, e: TaxiiError) -> Response:
        headers = {"WWW-Authenticate": 'Basic realm="cairn"'} if e.status == 401 else None
        return reply({"title": e.title, "description": e.description,
                      "http_status": str(e.status)}, e.status, headers)

    def partner(request: Request) -> dict:
        auth = request.headers.get("authorization", "")
        token = None
        if auth.lower().startswith("bearer "):
            token = auth[7:].strip()
        elif auth.lower().startswith("basic "):
            try:
                token = base64.b64decode(auth[6:]).decode().partition(":")[2]
            except (ValueError, UnicodeDecodeError):
                token = None
        p = ex.partner_for_token(store, token) if token else None
        if p is None:
            raise TaxiiError(401, "unauthenticated", "a partner API token is required")
        return p

    def collections_of(p: dict) -> dict[str, dict]:
        return {collection_id(x["name"]): x for x in ex.partner_lists(store, p["id"])}

    def collection(p: dict, cid: str, write: bool = False) -> dict:
        x = collections_of(p).get(cid)
        if x is None or not (x["can_write"] if write else x["can_read"]):
            # unknown and forbidden look the same: a partner learns nothing of other lists
            raise TaxiiError(403, "forbidden", "no such collection for this partner")
        return x

    def describe(x: dict) -> dict:
        return {"id": collection_id(x["name"]), "title": x["name"],
                "description": f"{x['entry_count']} entries; TLP:{(x['tlp'] or 'amber').upper()}",
                "can_read": bool(x["can_read"]), "can_write": bool(x["can_write"]),
                "media_types": [STIX_MEDIA]}

    @app.get("/taxii2/")
    def discovery(request: Request) -> Response:
        partner(request)
        root = str(request.base_url) + f"{API_ROOT}/"
        return reply({"title": title, "description": "Hash signals: hashes, labels and "
                      "metadata, never content.", "default": root, "api_roots": [root]})

    @app.get(f"/{API_ROOT}/")
    def api_root(request: Request) -> Response:
        partner(request)
        return reply({"title": title, "versions": [MEDIA],
                      "max_content_length": MAX_CONTENT_LENGTH})

    @app.get(f"/{API_ROOT}/collections/")
    def collections(request: Request) -> Response:
        p = partner(request)
        return reply({"collections": [describe(x) for x in collections_of(p).values()]})

    @app.get(f"/{API_ROOT}/collections/{{cid}}/")
    def one_collection(cid: str, request: Request) -> Response:
        p = partner(request)
        x = collections_of(p).get(cid)
        if x is None:
            raise TaxiiError(403, "forbidden", "no such collection for this partner")
        return reply(describe(x))

    def page(x: dict, request: Request) -> dict[str, Any]:
        """One page of a collection: its entries' objects (two each: `limit` counts
        objects), preceded on the first page of an unfiltered read by the collection's
        identity, marking and extension definition when there is room for them."""
        q = request.query_params
        try:
            limit = min(MAX_LIMIT, max(1, int(q.get("limit", "100"))))
        except ValueError:
            raise TaxiiError(400, "bad limit") from None
        header = not q.get("next") and not q.get("added_after") and limit >= 5
        n = max(1, (limit - (3 if header else 0)) // 2)
        added_after = from_stix_time(q["added_after"]) if q.get("added_after") else None
        rows = ex.page_entries(store, x["id"], added_after, _cursor(q.get("next")), n + 1)
        more, rows = len(rows) > n, rows[:n]
        level = x["tlp"] or "amber"
        objects = [(stix_time(x["imported_at"]), json.loads(o.serialize())) for o in (
            ident, stix.tlp_marking(level), stix.pdq_extension_definition(ident))] \
            if header else []
        for e in rows:
            objects += [(stix_time(e["added_at"]), o)
                        for o in entry_objects(e, ident, stix.TLP2[level])]
        body: dict[str, Any] = {"more": more, "objects": objects}
        if more:
            body["next"] = base64.urlsafe_b64encode(
                f"{rows[-1]['added_at']}|{rows[-1]['id']}".encode()).decode()
        body["headers"] = headers_for(rows)
        return body

    def headers_for(rows: list[dict]) -> dict:
        if not rows:
            return {}
        return {"X-TAXII-Date-Added-First": stix_time(rows[0]["added_at"]),
                "X-TAXII-Date-Added-Last": stix_time(rows[-1]["added_at"])}

    @app.get(f"/{API_ROOT}/collections/{{cid}}/objects/")
    def get_objects(cid: str, request: Request) -> Response:
        body = page(collection(partner(request), cid), request)
        headers = body.pop("headers")
        body["objects"] = [o for _, o in body["objects"]]
        return reply(body, headers=headers)

    @app.get(f"/{API_ROOT}/collections/{{cid}}/manifest/")
    def manifest(cid: str, request: Request) -> Response:
        body = page(collection(partner(request), cid), request)
        headers = body.pop("headers")
        body["objects"] = [{"id": o["id"], "date_added": added,
                            "version": o.get("modified", added), "media_type": STIX_MEDIA}
                           for added, o in body["objects"]]
        return reply(body, headers=headers)

    @app.get(f"/{API_ROOT}/collections/{{cid}}/objects/{{oid}}/")
    def get_object(cid: str, oid: str, request: Request) -> Response:
        p = partner(request)
        x = collection(p, cid)
        rows = ex.entries_for_stix_ids(store, x["id"], [oid])
        rows = [r for r in rows if r["status"] == "active"]
        if not rows:
            raise TaxiiError(404, "not found", f"no object {oid} in this collection")
        marking = stix.TLP2[(x["tlp"] or "amber")]
        objs = [o for o in entry_objects(rows[0], ident, marking) if o["id"] == oid]
        return reply({"more": False, "objects": objs}, headers=headers_for(rows[:1]))

    @app.post(f"/{API_ROOT}/collections/{{cid}}/objects/")
    async def add_objects(cid: str, request: Request) -> Response:
        p = partner(request)
        x = collection(p, cid, write=True)
        body = await request.body()
        if len(body) > MAX_CONTENT_LENGTH:
            raise TaxiiError(413, "too large", f"at most {MAX_CONTENT_LENGTH} bytes a request")
        try:
            envelope = json.loads(body)
            objects = envelope["objects"]
            assert isinstance(objects, list)
        except (json.JSONDecodeError, KeyError, TypeError, AssertionError):
            raise TaxiiError(400, "bad envelope", "expected {\"objects\": [...]}") from None
        successes, failures, entries = [], [], []
        for obj in objects:
            oid = obj.get("id") if isinstance(obj, dict) else None
            try:
                if not isinstance(obj, dict) or not oid:
                    raise ValueError("not a STIX object")
                if obj.get("type") == "opinion":
                    n = record_opinion(x, p, obj)
                    if not n:
                        raise ValueError("refers to no entry of this collection")
                elif obj.get("type") in ("indicator", "file"):
                    found = stix.object_entries(obj, len(entries) + 1)
                    for e in found:
                        d = e.to_dict()
                        d["origin"] = {"partner": p["name"], "collection": cid,
                                       "received_at": datetime.now(UTC).isoformat(),
                                       "version": obj.get("modified")}
                        entries.append(d)
                successes.append({"id": oid, "version": obj.get("modified", "")})
            except ValueError as e:
                failures.append({"id": oid or "", "message": str(e)})
        if entries:
            store.add_list(x["name"], f"taxii:{p['name']}", "stix", x["pdq_threshold"],
                           entries, 0, append=True, stix_id=stix.indicator_id)
        sid = str(uuid.uuid4())
        body = {"id": sid, "status": "complete", "request_timestamp": stix_time(
            datetime.now(UTC).isoformat()), "total_count": len(objects),
            "success_count": len(successes), "failure_count": len(failures),
            "pending_count": 0, "successes": successes, "failures": failures}
        ex.save_status(store, sid, p["id"], body)
        return reply(body, 202)

    def record_opinion(x: dict, p: dict, obj: dict) -> int:
        value = OPINION_VALUES.get(str(obj.get("opinion")))
        if value is None:
            raise ValueError(f"opinion {obj.get('opinion')!r} is not one of "
                             f"{', '.join(OPINION_VALUES)}")
        refs = [r for r in obj.get("object_refs") or [] if str(r).startswith("indicator--")]
        rows = ex.entries_for_stix_ids(store, x["id"], refs)
        for r in rows:
            ex.add_opinion(store, r["id"], value, p["name"], obj.get("explanation"), obj["id"],
                           threshold=fp_threshold())
        return len(rows)

    @app.get(f"/{API_ROOT}/status/{{sid}}/")
    def status(sid: str, request: Request) -> Response:
        s = ex.status_for(store, sid, partner(request)["id"])
        if s is None:  # another partner's status looks the same as none
            raise TaxiiError(404, "not found", "no such status")
        return reply(s)

    return app


def fp_threshold() -> int:
    """False-positive opinions that stop an entry matching (CAIRN_FP_THRESHOLD, default 1)."""
    try:
        return max(1, int(os.environ.get("CAIRN_FP_THRESHOLD", ex.FALSE_POSITIVE_THRESHOLD)))
    except ValueError:
        return ex.FALSE_POSITIVE_THRESHOLD
