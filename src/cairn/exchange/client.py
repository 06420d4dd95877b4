"""Pulling a partner's TAXII 2.1 collections, pushing ours, and sending feedback back.

A pull reads every page after the checkpoint (`added_after` = the last date_added imported),
spooling the entries to a temporary file, then imports them in one transaction and only then
advances the checkpoint: a failure part-way (garbage, a timeout, a server paginating forever)
raises a clear error and leaves the store and the checkpoint as they were, so the next pull
resumes without duplicates.

A peer may be slow, broken or hostile, so every limit is total, not per read:
- `timeout`: seconds for one whole request, connect to last byte (a peer trickling a byte a
  second cannot stretch it); `deadline`: seconds for a whole pull.
- `max_bytes` and `max_pages`: what one pull may read; memory holds one page at a time.
- every object is checked (`inbound`) before it is read: a malformed one is rejected with
  its position and reason, the rest imports.
- markings are resolved once every page is read (a marking-definition may come on any
  page): an object's reference to anything but an OASIS TLP id or a TLP or statement
  marking-definition the peer sent makes its entries RED (`markings.resolve`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import tempfile
import time
import uuid
from collections.abc import Awaitable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import IO, Any, TypeVar

import httpx

from cairn.exchange import inbound
from cairn.lists.formats import markings, stix
from cairn.store import Store
from cairn.store import exchange as ex
from cairn.store.common import StoreError

MEDIA = "application/taxii+json;version=2.1"
MAX_PAGES = 10_000  # per pull
MAX_MARKINGS = 10_000  # marking-definitions kept per pull (a real feed has a handful)
MAX_BYTES = 1 << 30  # per pull: 1 GiB of TAXII envelopes, about 800,000 Indicators
MAX_RESPONSE = 64 << 20  # one answer to a push, feedback or collections request
DEADLINE = 3600.0  # seconds per pull
MAX_TOKEN = 4096  # characters of a `next` token we send back
MAX_REJECTED = 1000  # rejections kept with their reasons (all are counted)
T = TypeVar("T")


class ExchangeError(Exception):
    pass


def _run(coro: Awaitable[T]) -> T:
    """Run the async exchange from sync code, also when an event loop is already running
    in this thread (then on a thread of its own)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)  # type: ignore[arg-type]
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()  # type: ignore[arg-type]


def _client(peer: dict, timeout: float) -> httpx.AsyncClient:
    auth = (peer["user"] or "cairn", peer["secret"]) if peer["secret"] else None
    return httpx.AsyncClient(auth=auth, timeout=timeout, follow_redirects=False,
                             headers={"Accept": MEDIA, "Accept-Encoding": "identity"})


class _Budget:
    """What is left of a pull (or one call): seconds to its deadline, bytes to its cap."""

    def __init__(self, timeout: float, deadline: float, max_bytes: int) -> None:
        self.timeout, self.deadline = timeout, deadline
        self.ends = time.monotonic() + deadline
        self.max_bytes, self.left = max_bytes, max_bytes

    def seconds(self) -> tuple[float, str]:
        """Seconds the next request may take, and what will have run out when they do."""
        rest = self.ends - time.monotonic()
        if rest <= 0:
            raise ExchangeError(f"the whole exchange took over {self.deadline:g} s; stopped")
        if rest < self.timeout:
            return rest, f"the whole exchange took over {self.deadline:g} s"
        return self.timeout, f"no complete answer within {self.timeout:g} s (--timeout)"


async def _request(c: httpx.AsyncClient, budget: _Budget, method: str, url: str,
                   **kw: Any) -> tuple[httpx.Response, bytes]:  # noqa: ANN401
    """One request and its whole body, within the budget's time and bytes; a non-2xx answer
    becomes an ExchangeError quoting the start of its body."""
    seconds, why = budget.seconds()
    try:
        async with asyncio.timeout(seconds):
            async with c.stream(method, url, **kw) as r:
                body = bytearray()
                async for chunk in r.aiter_bytes():
                    body += chunk
                    if len(body) > budget.left:
                        raise ExchangeError(
                            f"{url}: over {budget.max_bytes} bytes read; stopped "
                            "(raise the cap with --max-mib if the peer is trusted)")
    except TimeoutError:
        raise ExchangeError(f"{url}: {why}; stopped") from None
    except httpx.HTTPError as e:
        raise ExchangeError(f"{url}: {type(e).__name__}: {e}") from None
    budget.left -= len(body)
    if r.status_code not in (200, 202):
        text = bytes(body[:200]).decode("utf-8", "replace")
        raise ExchangeError(f"{url}: HTTP {r.status_code}: {text}")
    return r, bytes(body)


def _envelope(url: str, body: bytes) -> dict:
    try:
        doc = inbound.parse_json(body)
    except ValueError as e:
        raise ExchangeError(f"{url}: {e}: {body[:120]!r}") from None
    if not isinstance(doc, dict):
        raise ExchangeError(f"{url}: not a TAXII envelope (a JSON {type(doc).__name__})")
    return doc


def collections(store: Store, peer_name: str, timeout: float = 30) -> list[dict]:
    peer = ex.peer(store, peer_name)
    url = peer["url"].rstrip("/") + "/collections/"

    async def run() -> dict:
        async with _client(peer, timeout) as c:
            return _envelope(url, (await _request(
                c, _Budget(timeout, timeout, MAX_RESPONSE), "GET", url))[1])

    found = _run(run()).get("collections") or []
    if not isinstance(found, list) or not all(isinstance(x, dict) for x in found):
        raise ExchangeError(f"{url}: `collections` is not a list of objects")
    return found


def _timestamp(value: object) -> str | None:
    """A peer's date header, if it is a timestamp (else it cannot be a checkpoint)."""
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    except (ValueError, OverflowError):
        return None
    return value


def _spooled(spool: IO[str], defined: dict[str, str]) -> Iterator[dict]:
    """Entries written one object a line with its marking refs; an object's hashes share one
    attrs dict again, marked with the TLP its refs resolve to among every page's
    marking-definitions (`defined`)."""
    spool.seek(0)
    for line in spool:
        refs, group = json.loads(line)
        attrs = {k: v for k, v in group[0]["attrs"].items() if k != "tlp"}
        level = stix.marking_tlp(refs, defined)
        if level:
            attrs["tlp"] = level
        for d in group:
            d["attrs"] = attrs
            yield d


def pull(store: Store, peer_name: str, collection: str, list_name: str | None = None,
         limit: int = 500, timeout: float = 30, max_pages: int = MAX_PAGES,
         max_bytes: int = MAX_BYTES, deadline: float = DEADLINE) -> dict[str, Any]:
    """Import what a peer's collection added since the last pull into a local list
    (default `<peer>/<collection>`); returns counts, rejections and the new checkpoint."""
    peer = ex.peer(store, peer_name)
    ck = ex.checkpoint(store, peer["id"], collection)
    list_name = list_name or (ck["list_name"] if ck else f"{peer_name}/{collection}")
    since = ck["added_after"] if ck else None
    url = peer["url"].rstrip("/") + f"/collections/{collection}/objects/"
    fetched_at = datetime.now(UTC).isoformat(timespec="seconds")
    budget = _Budget(timeout, deadline, max_bytes)
    rejected: list[dict] = []
    counts = {"objects": 0, "entries": 0, "rejected": 0}
    defined: dict[str, str] = {}  # the marking-definitions of every page, for _spooled

    def take(obj: object, position: int, page: int, spool: IO[str]) -> None:
        if len(defined) < MAX_MARKINGS:  # past it, a reference to another one is RED
            inbound.define(defined, obj)
        try:
            checked = inbound.check_object(obj)
            found = inbound.object_entries(checked, position) \
                if checked["type"] in ("indicator", "file") else []
        except ValueError as e:
            counts["rejected"] += 1
            if len(rejected) < MAX_REJECTED:
                oid = obj.get("id") if isinstance(obj, dict) else None
                rejected.append({"position": position, "page": page,
                                 "id": oid[:200] if isinstance(oid, str) else None,
                                 "reason": f"object {position}: {e}"[:500]})
            return
        for d in found:
            d["origin"] = {"peer": peer_name, "collection": collection,
                           "fetched_at": fetched_at, "version": checked.get("modified"),
                           "stix_id": checked["id"]}
        if found:
            spool.write(json.dumps([inbound.marking_refs(checked), found]) + "\n")
            counts["entries"] += len(found)

    async def read_pages(spool: IO[str]) -> tuple[int, str | None]:
        last, pages, token, seen = since, 0, None, set()
        async with _client(peer, timeout) as c:
            while True:
                params: dict[str, Any] = {"limit": limit}
                if since:
                    params["added_after"] = since
                if token:
                    params["next"] = token
                r, raw = await _request(c, budget, "GET", url, params=params)
                body = _envelope(url, raw)
                pages += 1
                objects = body.get("objects") or []
                if not isinstance(objects, list):
                    raise ExchangeError(f"{url}: `objects` is not a list (page {pages})")
                for obj in objects:
                    counts["objects"] += 1
                    take(obj, counts["objects"], pages, spool)
                last = _timestamp(r.headers.get("X-TAXII-Date-Added-Last")) or last
                if not body.get("more"):
                    return pages, last
                token = body.get("next")
                if not isinstance(token, str) or not token or len(token) > MAX_TOKEN:
                    raise ExchangeError(f"{url}: `more` without a usable `next` token "
                                        f"(page {pages})")
                digest = hashlib.sha256(token.encode()).digest()
                if digest in seen:
                    raise ExchangeError(f"{url}: `more` without a new `next` token "
                                        f"(page {pages})")
                if pages >= max_pages:
                    raise ExchangeError(f"{url}: still paginating after {max_pages} pages; "
                                        "stopped, checkpoint not advanced (raise the cap "
                                        "with --max-pages if the peer is trusted)")
                seen.add(digest)

    added = 0
    with tempfile.TemporaryFile("w+", encoding="utf-8") as spool:
        pages, last = _run(read_pages(spool))
        if counts["entries"]:
            try:
                res = store.lists.add(list_name, f"taxii:{peer_name}/{collection}", "stix", 31,
                                      _spooled(spool, defined), counts["rejected"],
                                      append=store.lists.info(list_name) is not None,
                                      stix_id=stix.indicator_id)
            except StoreError as e:
                raise ExchangeError(str(e)) from None
            added = res["added"]
    ex.set_checkpoint(store, peer["id"], collection, list_name, last)
    return {"peer": peer_name, "collection": collection, "list": list_name, "pages": pages,
            "objects": counts["objects"], "objects_entries": counts["entries"],
            "added": added, "rejected_count": counts["rejected"], "rejected": rejected,
            "checkpoint": last}


async def _post(c: httpx.AsyncClient, budget: _Budget, url: str, objects: list[dict]) -> dict:
    _, body = await _request(c, budget, "POST", url,
                             content=json.dumps({"objects": objects}),
                             headers={"Content-Type": MEDIA})
    return _envelope(url, body)


def _count(value: object) -> int:
    """A count from a peer's status, which may be anything."""
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


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

    async def run() -> int:
        sent = 0
        async with _client(peer, timeout) as c:
            for collection, objects in by_collection.items():
                url = peer["url"].rstrip("/") + f"/collections/{collection}/objects/"
                budget = _Budget(timeout, timeout, MAX_RESPONSE)
                status = await _post(c, budget, url, objects)
                if status.get("failure_count"):
                    raise ExchangeError(f"{url}: the peer refused {status['failure_count']} "
                                        f"opinion(s): {str(status.get('failures'))[:400]}")
                sent += len(objects)
        return sent

    sent = _run(run()) if by_collection else 0
    ex.mark_shared(store, [o["id"] for o in pending])
    return {"peer": peer_name, "opinions_sent": sent}


def push(store: Store, peer_name: str, list_name: str, collection: str, org: str,
         timeout: float = 30, chunk: int = 500) -> dict[str, Any]:
    """Send a list's active entries to a peer's writable collection, each marked with the
    stricter of the list's TLP and its own. A RED entry goes only from a RED list: in any
    other it is withheld and counted, as the server withholds it from partners."""
    peer = ex.peer(store, peer_name)
    info = store.lists.info(list_name)
    if info is None:
        raise ExchangeError(f"no list named {list_name!r}")
    ident = stix.identity(org)
    listed = markings.read(info["tlp"] or "amber")
    url = peer["url"].rstrip("/") + f"/collections/{collection}/objects/"
    created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")

    async def run() -> tuple[list[dict], int]:
        statuses: list[dict] = []  # the peer's status resources, one per POST
        batch: list[dict] = []
        withheld = 0
        async with _client(peer, timeout) as c:
            for e in store.lists.export(list_name):
                level = markings.strictest([listed, (e.get("attrs") or {}).get("tlp")])
                if level == "red" and listed != "red":
                    withheld += 1
                    continue
                batch += stix.entry_objects(e, ident, stix.TLP2[level or listed], created)
                if len(batch) >= chunk:
                    budget = _Budget(timeout, timeout, MAX_RESPONSE)
                    statuses.append(await _post(c, budget, url, batch) | {"sent": len(batch)})
                    batch = []
            if batch:
                budget = _Budget(timeout, timeout, MAX_RESPONSE)
                statuses.append(await _post(c, budget, url, batch) | {"sent": len(batch)})
        return statuses, withheld

    statuses, withheld = _run(run())
    return {"peer": peer_name, "list": list_name,
            "objects_sent": sum(s["sent"] for s in statuses),
            "accepted": sum(_count(s.get("success_count")) for s in statuses),
            "withheld_red": withheld,
            "statuses": [str(s.get("id", "")) for s in statuses]}
