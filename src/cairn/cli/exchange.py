"""`cairn serve`, `cairn exchange` and `cairn feedback`: sharing lists over TAXII 2.1 with
partners and peers, and judging matches. Thin adapters over exchange/ and the store."""

from __future__ import annotations

import click

from cairn.cli.common import _emit_json, _fail, _store, existing_case, out
from cairn.cli.lists import _refresh_index, _rematch_cases


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8021, show_default=True, type=click.IntRange(0, 65535),
              help="TCP port; the default stays TAXII's 8021, so partners' settings keep "
                   "working. 0: a free port, printed once bound.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Server processes sharing the port.")
@click.option("--org", default="Cairn", show_default=True, help="Our organisation's name.")
@click.option("--max-body-mib", default=32, show_default=True, type=click.IntRange(1, 4096),
              help="Largest request body outside TAXII (413 beyond).")
@click.option("--evidence-root", "evidence_roots", multiple=True, metavar="[CASE=]DIR",
              help="A folder the server may read evidence from for case CASE (without CASE: "
                   "for every case): scans started over HTTP and thumbnails (repeatable; "
                   "none: the API starts no scans).")
@click.option("--secure-cookies", is_flag=True,
              help="Mark the session cookie Secure (behind a TLS-terminating proxy); it is "
                   "always HttpOnly and SameSite=Strict.")
@click.option("--http", "http_impl", default="auto", show_default=True,
              type=click.Choice(["auto", "httptools", "h11"]),
              help="HTTP/1.1 parser: httptools (C, fast), h11 (pure Python), auto (httptools "
                   "when installed).")
@click.option("--loop", "loop_impl", default="auto", hidden=True,
              type=click.Choice(["auto", "asyncio", "uvloop"]),
              help="Event loop (bench/bench_api.py --compare runs the former asyncio one).")
@click.option("--fast-lookup/--no-fast-lookup", default=True, hidden=True,
              help="Answer the HMA lookups in api/fast_lookup.py (--no-fast-lookup: through "
                   "FastAPI's routes, for bench/bench_api.py --compare).")
@click.pass_context
def serve_cmd(ctx: click.Context, host: str, port: int, workers: int, org: str,
              max_body_mib: int, evidence_roots: tuple[str, ...], secure_cookies: bool,
              http_impl: str, loop_impl: str, fast_lookup: bool) -> None:
    """Serve the HTTP API, HMA-compatible routes and TAXII 2.1 (discovery at /taxii2/) in
    one app. Users log in with a token (`cairn tokens create`) or a browser session
    (POST /login); partners with the token `cairn exchange add-partner` printed."""
    import os
    import socket
    import sys

    import uvicorn

    from cairn.api.app import ENV_FAST_LOOKUP, ENV_MAX_BODY, ENV_ORG, ENV_SECURE_COOKIES
    from cairn.service.evidence import ENV_ROOTS, EvidenceRootError, EvidenceRoots
    from cairn.web.app import serve_app

    try:
        roots = EvidenceRoots.parse(evidence_roots)
    except EvidenceRootError as e:
        _fail(str(e))
    store = _store(ctx)
    if store.actor.signer is None and store.custody_signed():  # refused now, not per POST
        _fail(f"the custody log is signed and the server would write to it as "
              f"{store.actor.examiner!r}, who has no key: `cairn keys create --examiner "
              f"{store.actor.examiner}`, or run it as an examiner who has one (CAIRN_EXAMINER)")
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))  # bound here: the real port is known before it is printed
    except OSError as e:
        _fail(f"cannot listen on {host}:{port}: {e.strerror}")
    bound = sock.getsockname()[1]
    where = f"http://{f'[{host}]' if ':' in host else host}:{bound}"
    click.echo(f"cairn serve: listening on {where} ({workers} worker"
               f"{'s' if workers > 1 else ''})\n"
               f"  API {where}/api/v1/, HMA-compatible /m /h /c, health {where}/status\n"
               f"  log in: `cairn users add NAME --role examiner`, then either "
               f"`cairn tokens create --user NAME --scope read` (header Authorization: "
               f"Bearer cairn_...) or POST {where}/login (form: user, password)\n"
               f"  reviewer workbench: {where}/ui/\n"
               f"  TAXII 2.1 for partners: {where}/taxii2/ (`cairn exchange add-partner`)")
    sys.stdout.flush()
    if workers == 1:
        app = serve_app(store, org=org, evidence_roots=roots, max_body=max_body_mib << 20,
                        secure_cookies=secure_cookies, fast_lookup=fast_lookup)
        uvicorn.Server(uvicorn.Config(app, log_level="warning", http=http_impl,
                                      loop=loop_impl)).run(sockets=[sock])
        return
    from uvicorn.supervisors import Multiprocess

    os.environ.update({"CAIRN_HOME": str(ctx.obj["home"]), ENV_ORG: org,
                       ENV_MAX_BODY: str(max_body_mib << 20), ENV_ROOTS: roots.to_env(),
                       ENV_SECURE_COOKIES: "1" if secure_cookies else "",
                       ENV_FAST_LOOKUP: "1" if fast_lookup else ""})
    config = uvicorn.Config("cairn.web.app:app_from_env", factory=True, workers=workers,
                            log_level="warning", http=http_impl, loop=loop_impl)
    Multiprocess(config, sockets=[sock]).run()


@click.group("exchange")
def exchange_group() -> None:
    """Share lists with partners over TAXII 2.1, pull theirs, send feedback."""


@exchange_group.command("add-partner")
@click.argument("name")
@click.option("--read", "read_lists", multiple=True, help="A list the partner may read.")
@click.option("--write", "write_lists", multiple=True,
              help="A list the partner may add to (and send feedback on).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def add_partner_cmd(ctx: click.Context, name: str, read_lists: tuple[str, ...],
                    write_lists: tuple[str, ...], as_json: bool) -> None:
    """Create a partner and print its API token, once (only its hash is kept)."""
    from cairn.store import exchange as ex
    from cairn.store.common import StoreError

    store = _store(ctx)
    try:
        token = ex.add_partner(store, name)
        for lst in sorted(set(read_lists) | set(write_lists)):
            ex.grant(store, name, lst, read=lst in read_lists or lst in write_lists,
                     write=lst in write_lists)
    except StoreError as e:
        _fail(str(e))
    if as_json:
        _emit_json({"partner": name, "token": token, "read": sorted(read_lists),
                    "write": sorted(write_lists)})
    else:
        out.print(f"partner {name}; API token (shown once, give it to them securely):",
                  highlight=False)
        click.echo(token)


@exchange_group.command("partners")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def partners_cmd(ctx: click.Context, as_json: bool) -> None:
    """Partners who read (or write) our lists over TAXII, and whether they are revoked."""
    from rich.table import Table

    from cairn.store import exchange as ex

    rows = ex.partners(_store(ctx))
    if as_json:
        _emit_json(rows)
        return
    table = Table("name", "status", "created_at", "revoked_at", "read", "write")
    for r in rows:
        table.add_row(r["name"], r["status"], r["created_at"], r["revoked_at"] or "",
                      ", ".join(r["read"]), ", ".join(r["write"]))
    out.print(table)


@exchange_group.command("revoke")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def revoke_partner_cmd(ctx: click.Context, name: str, as_json: bool) -> None:
    """Revoke a partner's token: TAXII refuses it (401) at once. The partner stays on record
    (its opinions name it); `cairn exchange partners` shows it revoked."""
    from cairn.store import exchange as ex
    from cairn.store.common import StoreError

    try:
        res = ex.revoke_partner(_store(ctx), name)
    except StoreError as e:
        _fail(str(e))
    _emit_json(res) if as_json else out.print(f"partner {name} revoked", highlight=False)


@exchange_group.command("add-peer")
@click.argument("name")
@click.option("--url", required=True, help="The peer's TAXII API root URL.")
@click.option("--user", help="User name, if the peer wants one (HTTP Basic).")
@click.option("--token", "secret", help="The API token or password the peer gave us.")
@click.pass_context
def add_peer_cmd(ctx: click.Context, name: str, url: str, user: str | None,
                 secret: str | None) -> None:
    """Remember a peer we pull from and send feedback to."""
    from cairn.store import exchange as ex
    from cairn.store.common import StoreError

    try:
        ex.add_peer(_store(ctx), name, url if url.endswith("/") else url + "/", user, secret)
    except StoreError as e:
        _fail(str(e))
    out.print(f"peer {name}: {url}", highlight=False)


def _exchange_call(fn, *args, **kwargs):  # noqa: ANN001, ANN202
    from cairn.exchange.client import ExchangeError
    from cairn.store.common import StoreError

    try:
        return fn(*args, **kwargs)
    except (ExchangeError, StoreError) as e:
        _fail(str(e))


@exchange_group.command("collections")
@click.argument("peer")
@click.pass_context
def peer_collections_cmd(ctx: click.Context, peer: str) -> None:
    """The collections a peer lets us see (JSON)."""
    from cairn.exchange.client import collections

    _emit_json(_exchange_call(collections, _store(ctx), peer))


@exchange_group.command("pull")
@click.argument("peer")
@click.option("--collection", required=True, help="The peer's collection id.")
@click.option("--list", "list_name", help="Local list to add to [default: PEER/COLLECTION].")
@click.option("--timeout", default=30.0, show_default=True,
              help="Seconds for each whole request, first byte to last.")
@click.option("--deadline", default=3600.0, show_default=True, help="Seconds for the pull.")
@click.option("--max-mib", default=1024, show_default=True, type=click.IntRange(1),
              help="MiB the pull may read.")
@click.option("--max-pages", default=10_000, show_default=True, type=click.IntRange(1))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def pull_cmd(ctx: click.Context, peer: str, collection: str, list_name: str | None,
             timeout: float, deadline: float, max_mib: int, max_pages: int,
             as_json: bool) -> None:
    """Import what a peer's collection added since the last pull (incremental; a failed
    pull stores nothing and keeps the checkpoint)."""
    from cairn.exchange.client import pull

    before = _store(ctx).lists.max_entry_id()
    res = _exchange_call(pull, _store(ctx), peer, collection, list_name, timeout=timeout,
                         deadline=deadline, max_bytes=max_mib << 20, max_pages=max_pages)
    _store(ctx).log_event(None, "taxii.pulled", f"peer:{peer}",
                          {"peer": peer, "collection": collection} | {
                              k: res.get(k) for k in ("list", "added", "pages", "checkpoint",
                                                      "rejected")})
    _refresh_index(ctx)
    res["rematch"] = _rematch_cases(ctx, before, f"pulled from {peer}/{collection}") \
        if res.get("added") else []
    if as_json:
        _emit_json(res)
    else:
        out.print(f"pulled {peer}/{collection}: {res['added']} new entries into "
                  f"{res['list']} ({res['pages']} pages); checkpoint {res['checkpoint']}",
                  highlight=False)


@exchange_group.command("push")
@click.argument("peer")
@click.option("--list", "list_name", required=True)
@click.option("--collection", required=True, help="The peer's writable collection id.")
@click.option("--org", default="Cairn", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def push_cmd(ctx: click.Context, peer: str, list_name: str, collection: str, org: str,
             as_json: bool) -> None:
    """Send a list's active entries to a peer's collection."""
    from cairn.exchange.client import push

    res = _exchange_call(push, _store(ctx), peer, list_name, collection, org)
    _store(ctx).log_event(None, "taxii.pushed", f"peer:{peer}",
                          {"peer": peer, "list": list_name, "collection": collection} | {
                              k: res.get(k) for k in ("objects_sent", "accepted",
                                                      "withheld_red")})
    _emit_json(res) if as_json else out.print(
        f"pushed {res['objects_sent']} objects of {list_name} to {peer}; "
        f"{res['accepted']} accepted", highlight=False)


@exchange_group.command("send-feedback")
@click.argument("peer")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def send_feedback_cmd(ctx: click.Context, peer: str, as_json: bool) -> None:
    """Send our confirmed / false-positive opinions on entries that came from PEER back to
    it (STIX Opinion objects)."""
    from cairn.exchange.client import send_feedback

    res = _exchange_call(send_feedback, _store(ctx), peer)
    _store(ctx).log_event(None, "taxii.feedback_sent", f"peer:{peer}",
                          {"peer": peer, "opinions_sent": res.get("opinions_sent")})
    _emit_json(res) if as_json else out.print(
        f"sent {res['opinions_sent']} opinion(s) to {peer}", highlight=False)


@exchange_group.command("opinions")
@click.option("--list", "list_name", help="Only this list's entries.")
@click.pass_context
def opinions_cmd(ctx: click.Context, list_name: str | None) -> None:
    """Opinions recorded on list entries, ours and partners' (JSON)."""
    from cairn.store import exchange as ex

    _emit_json([{"list": o["list"], "signal_type": o["signal_type"], "value": o["value"],
                 "opinion": o["opinion"], "author": o["author"],
                 "explanation": o["explanation"], "created_at": o["created_at"],
                 "shared_at": o["shared_at"]}
                for o in ex.opinions(_store(ctx), list_name)])


@click.command("feedback")
@click.argument("path")
@click.option("--case", required=True)
@click.option("--false-positive", "verdict", flag_value="false_positive",
              help="The match is wrong: the entry stops matching here (at the threshold).")
@click.option("--confirmed", "verdict", flag_value="confirmed", help="The match is right.")
@click.option("--note", help="Why (sent to the entry's origin with the opinion).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def feedback_cmd(ctx: click.Context, path: str, case: str, verdict: str | None,
                 note: str | None, as_json: bool) -> None:
    """Judge an item's matches: records an opinion on each list entry it matched. With
    CAIRN_FP_THRESHOLD false-positive opinions (default 1) an entry stops matching; the
    opinion goes back to the entry's origin with `cairn exchange send-feedback`."""
    from cairn.exchange.taxii import fp_threshold
    from cairn.scan.pipeline import _examiner
    from cairn.store import exchange as ex

    if verdict is None:
        _fail("give --false-positive or --confirmed")
    store = _store(ctx)
    case_id = existing_case(ctx, case)
    entry_ids = store.matches.entries(case_id, path)
    if not entry_ids:  # the path as on disk: the source's location, then the in-source path
        for inside in _source_paths(store, case_id, path):
            entry_ids = store.matches.entries(case_id, inside)
            if entry_ids:
                break
    if not entry_ids:
        _fail(f"{path}: no recorded match in case {case} (give the path as on disk or as "
              "the report shows it)")
    res = [ex.add_opinion(store, eid, verdict, f"local:{_examiner()}", note,
                          threshold=fp_threshold()) for eid in entry_ids]
    _refresh_index(ctx)
    if as_json:
        _emit_json(res)
    else:
        for r in res:
            out.print(f"entry {r['entry_id']}: {verdict}; now {r['status']}", highlight=False)


def _source_paths(store, case_id: int, path: str) -> list[str]:  # noqa: ANN001 - a Store
    """An on-disk path as the in-source paths it may be: below each source's location."""
    import os

    from cairn.media.walk import display_name

    absolute = os.path.abspath(path)
    found = []
    for s in store.cases.sources(case_id):
        root = os.path.abspath(s["location"])
        if os.path.isfile(root) and absolute == root:
            found.append(os.path.basename(root))
        elif absolute.startswith(root.rstrip("/") + "/"):
            rel = absolute[len(root.rstrip("/")) + 1:]
            # as the scan displays it; as typed too (an archive member: `x.zip!/a.jpg`)
            found += [display_name(rel), rel]
    return found


