"""A TAXII 2.1 server over the store's lists: one collection per list a partner may see.

Endpoints: discovery, API root, collections, a collection, its objects (GET with
`added_after`, `limit`, `next`; POST an envelope), its manifest, one object, and the status
of a POST. Every request needs a partner's API token (HTTP Basic password, or a Bearer
token); without one it gets 401, for a collection it may not read or write 403, and nothing
else. A RED list is served only to partners named on it (every grant names one).

TLP is per object as well as per list: an entry that arrived marked (a RED Indicator posted
into an AMBER collection, a RED object of an imported bundle) is served with the stricter of
its own marking and its list's, and a RED entry only from a RED list, whose readers are all
named: elsewhere it is absent from objects, manifest, single reads and opinions alike.
A posted object's marking is read as `markings.resolve` says, with the marking-definitions
of its envelope: a reference to anything but an OASIS TLP id or a TLP or `statement`
marking-definition sent with it makes it RED.

Each active entry is served as an Indicator (its pattern: the one hash) and a File (the hash,
PDQ in Cairn's property-extension), dated by when the entry entered this store. POSTs to a
writable collection add Indicators' hashes to the list and record Opinions on its entries
(feedback: a partner found a match false, or confirmed it).

A POST is checked before it is read and applied per object, as TAXII's status resource
describes: Content-Length over `max_content_length` is a 413 before a byte is read, a body
streamed past it a 413 at the cap; a body that is not UTF-8 JSON nested at most
`inbound.MAX_DEPTH` deep with an `objects` list is a 400 that changes nothing. Each object is
checked whole before anything of it is applied, so it succeeds or fails alone, with a
message naming its position, field and reason; the status is saved either way, and a POST
of which no object succeeded is a 422 carrying it. Client input is a 4xx, never a 500.
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
from starlette.concurrency import run_in_threadpool

from cairn.exchange import inbound
from cairn.lists.formats import markings, stix
from cairn.store import Store
from cairn.store import exchange as ex

MEDIA = "application/taxii+json;version=2.1"
STIX_MEDIA = "application/stix+json;version=2.1"
API_ROOT = "api"
MAX_LIMIT = 1000
MAX_CONTENT_LENGTH = 10_485_760  # what the API root advertises, and the cap on a POST body
MAX_OBJECTS = 20_000  # a POST's objects: bounds its status resource (a failure is ~300 bytes)
OPINION_VALUES = {"strongly-disagree": "false_positive", "disagree": "false_positive",
                  "agree": "confirmed", "strongly-agree": "confirmed"}


class TaxiiError(Exception):
    def __init__(self, status: int, title: str, description: str = "",
                 details: dict | None = None) -> None:
        super().__init__(title)
        self.status, self.title, self.description = status, title, description
        self.details = details


def collection_id(list_name: str) -> str:
    return str(uuid.uuid5(stix.NAMESPACE, f"collection:{list_name}"))


def stix_time(iso: str | None) -> str:
    """Our stored ISO time -> a STIX/TAXII timestamp (UTC, microseconds, `Z`)."""
    dt = datetime.fromisoformat(iso) if iso else datetime(2020, 1, 1, tzinfo=UTC)
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def from_stix_time(ts: str) -> str:
    try:  # a year-1 or year-9999 time with an offset overflows on the way to UTC
        dt = datetime.fromisoformat(ts.replace("Z", "+00:00")).astimezone(UTC)
    except (ValueError, OverflowError):
        raise TaxiiError(400, "bad added_after", f"not a timestamp: {ts[:80]!r}") from None
    return dt.isoformat(timespec="microseconds")


def served_level(list_tlp: str | None, row: dict) -> str | None:
    """The marking an entry is served with: the stricter of its list's (amber when unset)
    and its own; None when it may not be served from this list at all (RED outside a RED
    list: only a RED list's readers are named for RED)."""
    own = None
    if row.get("attrs"):
        attrs = json.loads(row["attrs"])
        own = attrs.get("tlp") if isinstance(attrs, dict) else None
    listed = markings.read(list_tlp or "amber")
    level = markings.strictest([listed, own])
    return None if level == "red" and listed != "red" else level


def entry_objects(row: dict, org, marking: str) -> list[dict]:  # noqa: ANN001 - Identity
    """The objects a stored entry row is served as, dated by when it entered the store."""
    entry = {"signal_type": row["signal_type"], "value": row["value"],
             "category": row["category"], "labels": json.loads(row["labels"]),
             "attrs": json.loads(row["attrs"]) if row.get("attrs") else None}
    return stix.entry_objects(entry, org, marking, stix_time(row["added_at"]))


MAX_ROW_ID = 2**63  # a cursor's row id must fit a signed 64-bit column (SQLite, PostgreSQL)


def _cursor(token: str | None) -> tuple[str, int] | None:
    """The (added_at, row id) a `next` token this server gave stands for; a 400 for any
    other, checked before it reaches a query: an ISO timestamp and 0 <= id < 2**63 (a
    larger id overflows SQLite's integer, a NUL in the time fails PostgreSQL)."""
    if not token:
        return None
    bad = TaxiiError(400, "bad next", "the next token is not one this server gave")
    try:
        added_at, _, ident = base64.urlsafe_b64decode(token.encode()).decode().rpartition("|")
        row_id = int(ident)
        datetime.fromisoformat(added_at)
    except (ValueError, UnicodeDecodeError, OverflowError):
        raise bad from None
    if not 0 <= row_id < MAX_ROW_ID or len(added_at) > 40 or not added_at.isprintable():
        raise bad
    return added_at, row_id


async def read_body(request: Request, cap: int) -> bytes:
    """The request body, refused with 413 before reading when its Content-Length is over
    `cap` and while streaming once it passes `cap`: never more than `cap` (plus the chunk
    that crossed it) is held, however much a client sends."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise TaxiiError(400, "bad Content-Length", f"{declared[:40]!r}") from None
        if size > cap:
            raise TaxiiError(413, "too large", f"{size} bytes; at most {cap} bytes a request")
    body = bytearray()
    async for chunk in request.stream():
        if len(body) + len(chunk) > cap:
            raise TaxiiError(413, "too large", f"over {cap} bytes; at most {cap} bytes a request")
        body += chunk
    return bytes(body)


def create_app(store: Store, org: str = "Cairn", title: str = "Cairn TAXII 2.1",
               max_content_length: int = MAX_CONTENT_LENGTH) -> FastAPI:
    app = FastAPI(title=title, docs_url=None, redoc_url=None, openapi_url=None)
    ident = stix.identity(org)

    def reply(obj: Any, status: int = 200, headers: dict | None = None) -> Response:
        return Response(json.dumps(obj), status_code=status, media_type=MEDIA, headers=headers)

    @app.exception_handler(TaxiiError)
    async def taxii_error(_request: Request, e: TaxiiError) -> Response:
        headers = {"WWW-Authenticate": 'Basic realm="cairn"'} if e.status == 401 else None
        if e.status == 413:  # hang up rather than read and drop the rest of the upload
            headers = {"Connection": "close"}
        body: dict[str, Any] = {"title": e.title, "description": e.description,
                                "http_status": str(e.status)}
        if e.details:
            body["details"] = e.details
        return reply(body, e.status, headers)

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
                      "max_content_length": max_content_length})

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
        rows = ex.page_entries(store, x["id"], added_after, _cursor(q.get("next")), n + 1,
                               keep=lambda r: served_level(x["tlp"], r) is not None)
        more, rows = len(rows) > n, rows[:n]
        level = markings.read(x["tlp"] or "amber")
        objects = [(stix_time(x["imported_at"]), json.loads(o.serialize())) for o in (
            ident, stix.tlp_marking(level), stix.pdq_extension_definition(ident))] \
            if header else []
        for e in rows:
            marking = stix.TLP2[served_level(x["tlp"], e) or "red"]
            objects += [(stix_time(e["added_at"]), o)
                        for o in entry_objects(e, ident, marking)]
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
        if not inbound.is_identifier(oid):  # checked before a query: `%00` fails PostgreSQL
            raise TaxiiError(404, "not found", f"no object {oid[:80]!r} in this collection")
        rows = ex.entries_for_stix_ids(store, x["id"], [oid])
        rows = [r for r in rows if r["status"] == "active"
                and served_level(x["tlp"], r) is not None]
        if not rows:  # a RED entry this partner may not read looks the same as none
            raise TaxiiError(404, "not found", f"no object {oid[:80]} in this collection")
        marking = stix.TLP2[served_level(x["tlp"], rows[0]) or "red"]
        objs = [o for o in entry_objects(rows[0], ident, marking) if o["id"] == oid]
        return reply({"more": False, "objects": objs}, headers=headers_for(rows[:1]))

    @app.post(f"/{API_ROOT}/collections/{{cid}}/objects/")
    async def add_objects(cid: str, request: Request) -> Response:
        p = partner(request)
        x = collection(p, cid, write=True)
        body = await read_body(request, max_content_length)
        status = await run_in_threadpool(apply_envelope, x, p, cid, body)
        if status["total_count"] and not status["success_count"]:
            first = status["failures"][0]
            raise TaxiiError(422, "no object accepted", f"{status['failure_count']} of "
                             f"{status['total_count']} failed; first: {first['message']}",
                             {"status": status})
        return reply(status, 202)

    def apply_envelope(x: dict, p: dict, cid: str, body: bytes) -> dict:
        """Check a POST's envelope (a failure changes nothing), then each object whole
        before applying it; save and return the status resource."""
        try:
            envelope = inbound.parse_json(body)
        except ValueError as e:
            raise TaxiiError(400, "bad envelope", str(e)) from None
        objects = envelope.get("objects") if isinstance(envelope, dict) else None
        if not isinstance(objects, list):
            raise TaxiiError(400, "bad envelope", 'expected {"objects": [...]}')
        if len(objects) > MAX_OBJECTS:
            raise TaxiiError(413, "too many objects",
                             f"{len(objects)} objects; at most {MAX_OBJECTS} a request")
        received = datetime.now(UTC).isoformat()
        results: list[dict] = []  # per object: id, version, and message when it failed
        entries: list[dict] = []  # from objects checked whole, added in one transaction
        carriers: list[dict] = []  # the results whose objects gave those entries
        opinions: list[tuple[dict, dict, list[int]]] = []
        # the envelope's own marking-definitions: an object's reference to one is read as
        # markings.resolve says; a reference to none of them and no OASIS TLP id is RED
        defined = inbound.marking_definitions(objects)
        for n, obj in enumerate(objects, 1):
            raw_id = obj.get("id") if isinstance(obj, dict) else None
            version = obj.get("modified") or obj.get("created") if isinstance(obj, dict) \
                else None
            res = {"id": raw_id[:200] if isinstance(raw_id, str) else "",
                   "version": version[:40] if isinstance(version, str) else stix_time(received)}
            results.append(res)
            try:
                inbound.check_object(obj)
                if obj["type"] == "opinion":
                    opinions.append((res, obj, opinion_entries(x, obj)))
                elif obj["type"] in ("indicator", "file"):
                    found = inbound.object_entries(obj, n, defined)
                    for d in found:
                        d["origin"] = {"partner": p["name"], "collection": cid,
                                       "received_at": received, "version": obj.get("modified")}
                    entries += found
                    if found:
                        carriers.append(res)
            except ValueError as e:
                res["message"] = f"object {n}: {e}"[:500]
            except Exception as e:  # noqa: BLE001 - one object never fails the request
                res["message"] = f"object {n}: not processed ({type(e).__name__})"
        if entries:
            try:
                store.lists.add(x["name"], f"taxii:{p['name']}", "stix", x["pdq_threshold"],
                                entries, 0, append=True, stix_id=stix.indicator_id)
            except Exception as e:  # noqa: BLE001 - nothing was added: each carrier failed
                for res in carriers:
                    res["message"] = f"not stored: {type(e).__name__}: {e}"
        for res, obj, ids in opinions:
            if "message" in res:
                continue
            try:
                ex.add_opinions(store, ids, OPINION_VALUES[obj["opinion"]], p["name"],
                                obj.get("explanation"), obj["id"], threshold=fp_threshold())
            except Exception as e:  # noqa: BLE001 - its one transaction rolled back
                res["message"] = f"not stored: {type(e).__name__}: {e}"
        failures = [r for r in results if "message" in r]
        sid = str(uuid.uuid4())
        status = {"id": sid, "status": "complete", "request_timestamp": stix_time(received),
                  "total_count": len(results), "success_count": len(results) - len(failures),
                  "successes": [r for r in results if "message" not in r],
                  "failure_count": len(failures), "failures": failures, "pending_count": 0,
                  "pendings": []}
        ex.save_status(store, sid, p["id"], status)
        return status

    def opinion_entries(x: dict, obj: dict) -> list[int]:
        """The ids of the entries an Opinion judges: the Indicators it names that this
        partner may read in this collection, else a ValueError."""
        if obj["opinion"] not in OPINION_VALUES:
            raise ValueError(f"`opinion` {obj['opinion']!r} is not recorded; one of "
                             f"{', '.join(OPINION_VALUES)}")
        refs = [r for r in obj["object_refs"] if r.startswith("indicator--")]
        rows = [r for r in ex.entries_for_stix_ids(store, x["id"], refs)
                if served_level(x["tlp"], r) is not None]
        if not rows:
            raise ValueError("`object_refs` names no Indicator of this collection")
        return [r["id"] for r in rows]

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
