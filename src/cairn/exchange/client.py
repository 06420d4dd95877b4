"""Pulling a partner's TAXII 2.1 collections, pushing ours, and sending feedback back.

A pull reads every page after the checkpoint (`added_after` = the last date_added imported),
then imports everything in one transaction and only then advances the checkpoint: a failure
part-way (garbage, a timeout, a server paginating forever) raises a clear error and leaves
the store and the checkpoint as they were, so the next pull resumes without duplicates.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx

from cairn.lists.formats import stix
from cairn.store import Store
from cairn.store import exchange as ex
from cairn.store.store import StoreError

MEDIA = "application/taxii+json;version=2.1"
MAX_PAGES = 10_000


class ExchangeError(Exception):
    pass


def _client(peer: dict, timeout: float) -> httpx.Client:
    auth = (peer["user"] or "cairn", peer["secret"]) if peer["secret"] else None
    return httpx.Client(auth=auth, timeout=timeout, headers={"Accept": MEDIA},
                        follow_redirects=False)


def _get(client: httpx.Client, url: str, params: dict) -> httpx.Response:
    try:
        r = client.get(url, params=params)
    except httpx.HTTPError as e:
        raise ExchangeError(f"{url}: {type(e).__name__}: {e}") from None
    if r.status_code != 200:
        raise ExchangeError(f"{url}: HTTP {r.status_code}: {r.text[:200]}")
    return r


def collections(store: Store, peer_name: str, timeout: float = 30) -> list[dict]:
    peer = ex.peer(store, peer_name)
    with _client(peer, timeout) as c:
        body = _json(_get(c, peer["url"].rstrip("/") + "/collections/", {}))
    return body.get("collections") or []


def _json(r: httpx.Response) -> dict:
    try:
        body = r.json()
    except (json.JSONDecodeError, ValueError):
        raise ExchangeError(f"{r.request.url}: not JSON: {r.text[:120]!r}") from None
    if not isinstance(body, dict):
        raise ExchangeError(f"{r.request.url}: not a TAXII envelope")
    return body


def pull(store: Store, peer_name: str, collection: str, list_name: str | None = None,
         limit: int = 500, timeout: float = 30, max_pages: int = MAX_PAGES) -> dict[str, Any]:
    """Import what a peer's collection added since the last pull into a local list
    (default `<peer>/<collection>`); returns counts and the new checkpoint."""
    peer = ex.peer(store, peer_name)
    ck = ex.checkpoint(store, peer["id"], collection)
    list_name = list_name or (ck["list_name"] if ck else f"{peer_name}/{collection}")
    since = ck["added_after"] if ck else None
    url = peer["url"].rstrip("/") + f"/collections/{collection}/objects/"
    fetched_at = datetime.now(UTC).isoformat(timespec="seconds")
    entries: list[dict] = []
    rejected: list = []
    last, pages, token, seen_tokens = since, 0, None, set()
    with _client(peer, timeout) as c:
        while True:
            params: dict[str, Any] = {"limit": limit}
            if since:
                params["added_after"] = since
            if token:
                params["next"] = token
            r = _get(c, url, params)
            body = _json(r)
            objects = body.get("objects") or []
            if not isinstance(objects, list):
                raise ExchangeError(f"{url}: `objects` is not a list")
            for obj in objects:
                if not isinstance(obj, dict):
                    raise ExchangeError(f"{url}: an object is not a JSON object")
                try:
                    found = stix.object_entries(obj, len(entries) + 1)
                except ValueError as e:
                    rejected.append({"id": obj.get("id"), "reason": str(e)})
                    continue
                for e in found:
                    d = e.to_dict()
                    d["origin"] = {"peer": peer_name, "collection": collection,
                                   "fetched_at": fetched_at, "version": obj.get("modified"),
                                   "stix_id": obj.get("id")}
                    entries.append(d)
            last = r.headers.get("X-TAXII-Date-Added-Last") or last
            pages += 1
            if not body.get("more"):
                break
            token = body.get("next")
            if not token or token in seen_tokens:
                raise ExchangeError(f"{url}: `more` without a new `next` token (page {pages})")
            if pages >= max_pages:
                raise ExchangeError(f"{url}: still paginating after {max_pages} pages; "
                                    "stopped, checkpoint not advanced")
            seen_tokens.add(token)
    added = 0
    if entries:
        try:
            res = store.add_list(list_name, f"taxii:{peer_name}/{collection}", "stix", 31,
                                 entries, len(rejected), append=store.list_info(list_name)
                                 is not None, stix_id=stix.indicator_id)
        except StoreError as e:
            raise ExchangeError(str(e)) from None
        added = res["added"]
    ex.set_checkpoint(store, peer["id"], collection, list_name, last)
    return {"peer": peer_name, "collection": collection, "list": list_name, "pages": pages,
            "objects_entries": len(entries), "added": added, "rejected": rejected,
            "checkpoint": last}


def _post(client: httpx.Client, url: str, objects: list[dict]) -> dict:
    try:
        r = client.post(url, content=json.dumps({"objects": objects}),
                        headers={"Content-Type": MEDIA})
    except httpx.HTTPError as e:
        raise ExchangeError(f"{url}: {type(e).__name__}: {e}") from None
    if r.status_code not in (200, 202):
        raise ExchangeError(f"{url}: HTTP {r.status_code}: {r.text[:200]}")
    return _json(r)


def send_feedback(store: Store, peer_name: str, timeout: float = 30) -> dict[str, Any]:
    """Send our unshared opinions on entries pulled from this peer back to it, as STIX
    Opinion objects naming the Indicators they judge."""
    peer = ex.peer(store, peer_name)
    pending = [o for o in ex.opinions(store, unshared_local=True)
               if o["origin"] and json.loads(o["origin"]).get("peer") == peer_name]
    by_collection: dict[str, list[dict]] = {}
    for o in pending:
        origin = json.loads(o["origin"])
        ref = origin.get("stix_id") or o["entry_stix_id"] or stix.indicator_id(
            o["signal_type"], o["value"])
        created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        by_collection.setdefault(origin["collection"], []).append({
            "type": "opinion", "spec_version": "2.1",
            "id": f"opinion--{uuid.uuid5(stix.NAMESPACE, ref + o['author'])}",
            "created": created, "modified": created,
            "opinion": "strongly-disagree" if o["opinion"] == "false_positive"
            else "strongly-agree", "explanation": o["explanation"] or "",
            "object_refs": [ref]})
    sent = 0
    with _client(peer, timeout) as c:
        for collection, objects in by_collection.items():
            url = peer["url"].rstrip("/") + f"/collections/{collection}/objects/"
            status = _post(c, url, objects)
            if status.get("failure_count"):
                raise ExchangeError(f"{url}: the peer refused {status['failure_count']} "
                                    f"opinion(s): {status.get('failures')}")
            sent += len(objects)
    ex.mark_shared(store, [o["id"] for o in pending])
    return {"peer": peer_name, "opinions_sent": sent}


def push(store: Store, peer_name: str, list_name: str, collection: str, org: str,
         timeout: float = 30, chunk: int = 500) -> dict[str, Any]:
    """Send a list's active entries to a peer's writable collection."""
    peer = ex.peer(store, peer_name)
    info = store.list_info(list_name)
    if info is None:
        raise ExchangeError(f"no list named {list_name!r}")
    ident = stix.identity(org)
    marking = stix.TLP2[info["tlp"] or "amber"]
    url = peer["url"].rstrip("/") + f"/collections/{collection}/objects/"
    created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    statuses: list[dict] = []  # the peer's status resources, one per POST
    batch: list[dict] = []
    with _client(peer, timeout) as c:
        for e in store.export_entries(list_name):
            batch += stix.entry_objects(e, ident, marking, created)
            if len(batch) >= chunk:
                statuses.append(_post(c, url, batch) | {"sent": len(batch)})
                batch = []
        if batch:
            statuses.append(_post(c, url, batch) | {"sent": len(batch)})
    return {"peer": peer_name, "list": list_name,
            "objects_sent": sum(s["sent"] for s in statuses),
            "accepted": sum(int(s.get("success_count", 0)) for s in statuses),
            "statuses": [str(s.get("id", "")) for s in statuses]}
