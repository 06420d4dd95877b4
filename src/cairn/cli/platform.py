"""`cairn platform` (import a seized platform's records, its accounts in terms of what the
case holds, who is who), `cairn deconflict`, and `cairn suspects merge|split` (accepting or
undoing a candidate). Thin adapters over store/platform.py and platform/."""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path

import click
from rich.table import Table

from cairn.cases.people import check_identifier, check_key
from cairn.cli.common import EXIT_PARTIAL, _emit_json, _fail, _store, existing_case, out
from cairn.cli.people import (
    CASE_OPTION,
    JSON_OPTION,
    SUSPECT_COLUMNS,
    _do,
    _emit,
    _identifier_options,
    _identifiers,
    suspects_group,
)


def _platforms(ctx: click.Context):  # noqa: ANN202 - a PlatformStore
    from cairn.store.platform import PlatformStore

    return PlatformStore(_store(ctx))


def _platform_name(name: str) -> str:
    """Lower-case, as in an `account` identifier `platform:ACCOUNT`."""
    return _do(lambda: check_identifier("account", f"{name}:x")).rpartition(":")[0]


@click.group("platform")
def platform_group() -> None:
    """A seized platform's records: accounts, payments, access logs, uploads, downloads."""


@platform_group.command("import")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@CASE_OPTION
@click.option("--platform", "platform", required=True,
              help="The platform's name (lower-case letters, digits, . _ -).")
@click.option("--mapping", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="TOML: the files' column names for each field (platform/records.py).")
@click.option("--files", "files", type=click.Path(exists=True, file_okay=False,
                                                   path_type=Path),
              help="The uploaded/downloaded files handed over beside the records, scanned "
                   "into the case as source PLATFORM-files; transfers name them by path "
                   "[default: FOLDER/files when it exists].")
@JSON_OPTION
@click.pass_context
def platform_import(ctx: click.Context, folder: Path, case: str, platform: str,
                    mapping: Path | None, files: Path | None, as_json: bool) -> None:
    """Import FOLDER's tables (accounts, payments, access_logs, transfers; .csv or .jsonl)
    in one transaction, then scan the files handed over beside them (if any) like any
    source. Bad rows are named (file, line, reason) and left out; exit 3 when any was."""
    from cairn.platform.records import MappingError, load_mapping

    cid = existing_case(ctx, case)
    name = _platform_name(platform)
    try:
        m = load_mapping(mapping)
    except MappingError as e:
        _fail(str(e))
    if files is None and (folder / "files").is_dir():
        files = folder / "files"
    res = _do(lambda: _platforms(ctx).import_records(cid, folder, name, m))
    if files is not None:
        res["handed_over"] = _scan_files(ctx, case, files, name)
    if as_json:
        _emit_json(res)
    else:
        counts = ", ".join(f"{n} {table}" for table, n in res["counts"].items())
        out.print(f"imported {counts} from {folder} (platform {name})", highlight=False)
        for r in res["rejected_rows"][:20]:
            out.print(f"rejected {r['file']}:{r['line']}: {r['reason']}", highlight=False)
        if "handed_over" in res:
            f = res["handed_over"]
            out.print(f"scanned {f['totals']['files']} handed-over files from {f['location']} "
                      f"as source {f['source']} ({f['totals']['items_matched']} matched)",
                      highlight=False)
        if res["rejected"]:
            more = res["rejected"] - min(20, len(res["rejected_rows"]))
            out.print(f"{res['rejected']} rows rejected" + (f" ({more} not shown: --json)"
                                                             if more else ""),
                      highlight=False)
    if res["rejected"]:
        sys.exit(EXIT_PARTIAL)


def _scan_files(ctx: click.Context, case: str, files: Path, platform: str) -> dict:
    """The handed-over files, scanned like any exhibit (isolated workers, limits, resumable,
    custody), as source `PLATFORM-files`: `platform accounts` links a transfer to the item at
    the path its record names there, and through that item's hashes to the rest of the case."""
    from cairn.media.limits import Limits
    from cairn.scan.caps import default_caps
    from cairn.scan.pipeline import default_workers, scan
    from cairn.scan.worker import HashOptions
    from cairn.store.common import SourceNameTaken, StoreError

    try:
        summary = scan(_store(ctx), case, files, source_name=f"{platform}-files",
                       limits=Limits(), options=HashOptions(),
                       arguments={"argv": sys.argv[1:], "platform_files": platform},
                       caps=default_caps(default_workers()))
    except (FileNotFoundError, NotADirectoryError, PermissionError, SourceNameTaken,
            StoreError) as e:
        _fail(f"{files}: the handed-over files were not scanned: {e}")
    return summary.to_dict()


@platform_group.command("imports")
@CASE_OPTION
@JSON_OPTION
@click.pass_context
def platform_imports(ctx: click.Context, case: str, as_json: bool) -> None:
    """A case's platform imports: files with their SHA-256, counts, rejected rows."""
    imports = _platforms(ctx).imports(existing_case(ctx, case))
    if as_json:
        _emit_json(imports)
        return
    for i in imports:
        counts = ", ".join(f"{n} {table}" for table, n in i["counts"].items())
        out.print(f"import {i['import']} ({i['platform']}, {i['imported_at']}): {counts}; "
                  f"{i['rejected']} rejected", highlight=False)
        for f in i["files"]:
            out.print(f"  {f['file']} sha256 {f['sha256']} ({f['size']} bytes)",
                      highlight=False)


@platform_group.command("accounts")
@CASE_OPTION
@click.option("--account", help="Only this account (its id on the platform).")
@JSON_OPTION
@click.pass_context
def platform_accounts(ctx: click.Context, case: str, account: str | None,
                      as_json: bool) -> None:
    """Accounts with their transfers and the case's items those are (SHA-256, MD5, PDQ),
    whether the items have active matches or synthetic findings."""
    from cairn.platform.content import link_accounts

    cid = existing_case(ctx, case)
    accounts = link_accounts(_store(ctx), cid, _platforms(ctx).accounts(cid, account))
    if as_json:
        _emit_json(accounts)
        return
    table = Table("account", "emails", "country", "payments", "uploads", "downloads",
                  "linked items", "matched", "synthetic")
    for a in accounts:
        s = a["summary"]
        table.add_row(f"{a['platform']}:{a['account']}", ", ".join(a["emails"]),
                      a["country"] or "", str(a["payments"]), str(s["uploads"]),
                      str(s["downloads"]), str(s["linked_items"]),
                      str(s["items_with_active_matches"]), str(s["synthetic_items"]))
    out.print(table)


@platform_group.command("resolve")
@CASE_OPTION
@click.option("--geoip", type=click.Path(dir_okay=False, path_type=Path),
              help="An offline GeoIP database (.mmdb, e.g. GeoLite2-Country) of your own: "
                   "each candidate's access-log rows counted by their IP's country, apart "
                   "from (never merged with) what the records say. Nothing is downloaded.")
@JSON_OPTION
@click.pass_context
def platform_resolve(ctx: click.Context, case: str, geoip: Path | None, as_json: bool) -> None:
    """Accounts proposed as one person: shared e-mail, payment identifier, seized device or
    rare IP + user agent; each link with its reason and strength. Proposals only:
    `cairn suspects merge --candidate N` accepts one."""
    from cairn.platform.geoip import GeoIpError, open_geoip
    from cairn.platform.resolve import resolve

    try:
        db = open_geoip(geoip) if geoip is not None else None
    except GeoIpError as e:
        _fail(str(e))
    res = resolve(_store(ctx), existing_case(ctx, case), geoip=db)
    if as_json:
        _emit_json(res)
        return
    for cand in res["candidates"]:
        ctry = "; ".join(f"{c['country']} ({', '.join(c['sources'])})"
                         for c in cand["countries"]) or "unknown"
        out.print(f"candidate {cand['candidate']} ({cand['strength']}): "
                  f"{', '.join(cand['accounts'])}; country: {ctry}", highlight=False)
        ipc = cand.get("ip_countries")
        if ipc:
            got = ", ".join(f"{c['country']} {c['rows']}" for c in ipc["countries"])
            out.print(f"  IP addresses (weakest; {ipc['source']}): {got or 'none known'} of "
                      f"{ipc['rows']} access-log rows", highlight=False)
        for lk in cand["links"]:
            out.print(f"  {lk['a']} ~ {lk['b']}: {lk['reason']} {_value(lk['value'])} "
                      f"[{lk['strength']}]", highlight=False)
    if not res["candidates"]:
        out.print("no candidates: no two accounts share an identifier", highlight=False)
    for cm in res["common"]:
        out.print(f"not linked ({cm['reason']} shared by {cm['accounts']} accounts): "
                  f"{cm['value']}", highlight=False)


def _value(v: object) -> str:
    if isinstance(v, dict):
        return " ".join(f"{k}={x}" for k, x in v.items())
    return str(v)


@click.command("deconflict")
@click.option("--case", "cases", multiple=True, required=True,
              help="A case (repeat); one case is compared with every other case.")
@JSON_OPTION
@click.pass_context
def deconflict_command(ctx: click.Context, cases: tuple[str, ...], as_json: bool) -> None:
    """Suspects, accounts, payment identifiers and content families that appear in more
    than one case or country."""
    from cairn.platform.deconflict import deconflict

    ids = [existing_case(ctx, c) for c in dict.fromkeys(cases)]
    res = deconflict(_store(ctx), ids)
    if as_json:
        _emit_json(res)
        return
    out.print(f"cases: {', '.join(res['cases'])}", highlight=False)
    for section in ("suspects", "accounts", "payment_ids"):
        for hit in res[section]:
            where = "; ".join(f"{w['case']}: {w['via']}" + (f" ({w['country']})"
                                                           if w["country"] else "")
                              for w in hit["appearances"])
            out.print(f"{section}: {hit['kind']} {hit['value']} — {where}", highlight=False)
    for fam in res["content"]:
        out.print(f"content: family of {fam['size']} ({fam['representative']}) in "
                  f"{', '.join(fam['cases'])}", highlight=False)
    if not any(res[s] for s in ("suspects", "accounts", "payment_ids", "content")):
        out.print("nothing appears in more than one case or country", highlight=False)


# -- accepting a candidate -------------------------------------------------------------------
@suspects_group.command("merge")
@CASE_OPTION
@click.option("--into", required=True, help="The suspect that remains (created if new).")
@click.option("--suspect", "others", multiple=True, help="A suspect merged in (repeat).")
@click.option("--account", "accounts", multiple=True,
              help="A platform account platform:ACCOUNT attached (repeat).")
@click.option("--candidate", type=int, help="All accounts of `cairn platform resolve`'s "
              "candidate N.")
@JSON_OPTION
@click.pass_context
def suspects_merge(ctx: click.Context, case: str, into: str, others: tuple[str, ...],
                   accounts: tuple[str, ...], candidate: int | None, as_json: bool) -> None:
    """Accept a candidate: one suspect takes other suspects (identifiers, aliases, devices,
    actions) and platform accounts as `account` identifiers. Logged with every before."""
    cid = existing_case(ctx, case)
    accts = [_do(partial(check_identifier, "account", a)) for a in accounts]
    if candidate is not None:
        from cairn.platform.resolve import resolve

        cands = {c["candidate"]: c for c in resolve(_store(ctx), cid)["candidates"]}
        if candidate not in cands:
            _fail(f"no candidate {candidate}; `cairn platform resolve --case {case}` lists "
                  f"{len(cands)}")
        accts += [a for a in cands[candidate]["accounts"] if a not in accts]
    if not accts and not others:
        _fail("nothing to merge: name --suspect, --account or --candidate")
    rec = _do(lambda: _platforms(ctx).merge(cid, check_key(into, "suspect"),
                                            list(others), accts))
    _emit(rec, as_json, SUSPECT_COLUMNS)


@suspects_group.command("split")
@click.argument("key", metavar="ID")
@CASE_OPTION
@click.option("--new", "new", required=True, help="The new suspect's id.")
@_identifier_options("", "Move this identifier: {} (repeat).")
@click.option("--device", "devices", multiple=True, help="Move this device (repeat).")
@JSON_OPTION
@click.pass_context
def suspects_split(ctx: click.Context, key: str, case: str, new: str,
                   devices: tuple[str, ...], as_json: bool, **idents: tuple[str, ...]) -> None:
    """Undo part of a merge: a new suspect takes the named identifiers and devices."""
    cid = existing_case(ctx, case)
    rec = _do(lambda: _platforms(ctx).split(cid, key, check_key(new, "suspect"),
                                            _identifiers(idents), list(devices)))
    _emit(rec, as_json, SUSPECT_COLUMNS)


GROUPS = (platform_group, deconflict_command)
