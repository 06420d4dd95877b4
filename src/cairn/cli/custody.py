"""`cairn custody`, `cairn keys`, `cairn sources`: the chain of custody and the evidence it
vouches for. Thin adapters over cases/custody.py, store/custody.py and scan/verify.py."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from cairn.cli.common import EXIT_NO_MATCH, EXIT_OK, _emit_json, _fail, _store, existing_case, out

JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


@click.group("custody")
def custody_group() -> None:
    """The chain of custody: every change to a case, hash-chained (and signed when the
    examiner has a key: `cairn keys create`)."""


@custody_group.command("show")
@click.option("--case", "case", required=True, help="The case.")
@JSON_OPTION
@click.pass_context
def custody_show(ctx: click.Context, case: str, as_json: bool) -> None:
    """The case's custody log, oldest first."""
    entries = _store(ctx).custody_entries(existing_case(ctx, case))
    if as_json:
        _emit_json(entries)
        return
    for e in entries:
        signed = " signed" if e["signature"] else ""
        out.print(f"{e['seq']:>5} {e['time']} {e['examiner']}@{e['host']} {e['action']} "
                  f"{e['subject']}{signed}", highlight=False, soft_wrap=True)
        out.print(f"      {json.dumps(e['details'], sort_keys=True, ensure_ascii=False)[:300]}",
                  highlight=False, soft_wrap=True)


@custody_group.command("verify")
@click.option("--case", "case", help="Only this case's chain [default: every chain].")
@JSON_OPTION
@click.pass_context
def custody_verify(ctx: click.Context, case: str | None, as_json: bool) -> None:
    """Check the chain(s): exit 0 when intact, 1 naming the first broken entry (changed,
    missing, reordered, inserted, bad signature)."""
    from cairn.cases.custody import verify

    store = _store(ctx)
    result = verify(store, existing_case(ctx, case) if case else None)
    if as_json:
        _emit_json(result)
    else:
        for chain, s in result["chains"].items():
            out.print(f"{chain}: {s['entries']} entries, head {s['head_seq']} "
                      f"{s['head_hash']}" + (", signed" if s["signed"] else ""),
                      highlight=False)
        for note in result["notes"]:
            out.print(f"note: {note}", highlight=False)
        if result["ok"]:
            out.print("intact", highlight=False)
        else:
            p = result["problem"]
            out.print(f"BROKEN: {p['chain']} entry {p['seq']}: {p['kind']}: {p['why']}",
                      highlight=False)
    sys.exit(EXIT_OK if result["ok"] else EXIT_NO_MATCH)


@custody_group.command("export")
@click.option("--case", "case", required=True, help="The case.")
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path),
              required=True, help="Folder to write the log, its verifier and a README to.")
@JSON_OPTION
@click.pass_context
def custody_export(ctx: click.Context, case: str, output: Path, as_json: bool) -> None:
    """Write the case's chain as JSON Lines with a stand-alone verifier (Python standard
    library; `cryptography` for signatures), so it can be checked without Cairn."""
    from cairn.cases.custody import export

    res = export(_store(ctx), existing_case(ctx, case), case, output)
    if as_json:
        _emit_json(res)
    else:
        out.print(f"{res['entries']} entries to {output} (head {res['head_seq']} "
                  f"{res['head_hash']}); verify with: python3 {output}/verify_custody.py "
                  f"{output}/custody.jsonl", highlight=False)
    if not res["intact"]:
        _fail(f"the chain is broken ({res['problem']}); exported as it is")


@click.group("keys")
def keys_group() -> None:
    """The examiner's Ed25519 key that signs custody entries ($CAIRN_HOME/keys/)."""


@keys_group.command("create")
@click.option("--examiner", help="Whose key [default: $CAIRN_EXAMINER or the login name].")
@JSON_OPTION
@click.pass_context
def keys_create(ctx: click.Context, examiner: str | None, as_json: bool) -> None:
    """Create the examiner's signing key (never replaces one). From then on every custody
    entry they write is signed; the first one in each chain publishes the public key."""
    from cairn.store.custody import Actor, KeyError_, create_key, key_path

    name = examiner or Actor.current(None).examiner
    try:
        signer = create_key(ctx.obj["home"], name)
    except KeyError_ as e:
        _fail(str(e))
    res = {"examiner": name, "key_id": signer.key_id, "public_key": signer.public_key,
           "path": str(key_path(ctx.obj["home"], name))}
    if as_json:
        _emit_json(res)
    else:
        out.print(f"key {signer.key_id} for {name} at {res['path']}\npublic key (give it to "
                  f"whoever will verify your entries): {signer.public_key}", highlight=False)


@click.group("sources")
def sources_group() -> None:
    """A case's sources (exhibits)."""


@sources_group.command("verify")
@click.option("--case", "case", required=True, help="The case.")
@click.option("--source", "source_name", help="Only this source [default: all].")
@JSON_OPTION
@click.pass_context
def sources_verify(ctx: click.Context, case: str, source_name: str | None,
                   as_json: bool) -> None:
    """Re-hash a source's files and compare them with what was acquired, and each E01 with
    the hashes it stores: exit 0 when all are unchanged, 1 naming changed, missing and added
    files and images that fail verification."""
    from cairn.scan.verify import verify_source

    store = _store(ctx)
    cid = existing_case(ctx, case)
    sources = [s for s in store.cases.sources(cid) if source_name in (None, s["name"])]
    if not sources:
        _fail(f"case {case!r} has no source named {source_name!r}")
    results = [verify_source(store, cid, s) for s in sources]
    ok = all(r["ok"] for r in results)
    store.log_event(cid, "sources.verified", f"case:{case}",
                    {"sources": [{k: r[k] for k in ("source", "ok", "files")}
                                 | {"changed": len(r["changed"]),
                                    "missing": len(r["missing"]), "added": len(r["added"])}
                                 for r in results]})
    if as_json:
        _emit_json(results)
    else:
        for r in results:
            state = "unchanged" if r["ok"] else "CHANGED"
            out.print(f"{r['source']}: {r['files']} files {state}", highlight=False)
            for c in r["changed"]:
                out.print(f"  changed: {c['path']}", highlight=False)
            for p in r["missing"]:
                out.print(f"  missing: {p}", highlight=False)
            for p in r["added"]:
                out.print(f"  added: {p}", highlight=False)
            for u in r["unreadable"]:
                out.print(f"  unreadable: {u['path']}: {u['error']}", highlight=False)
            for i in r.get("images", []):
                if i["ok"] is None:
                    out.print(f"  {i['path']}: stores no hash of its media", highlight=False)
                else:
                    said = "verified" if i["ok"] else "VERIFICATION FAILED"
                    why = f": {i['error']}" if i.get("error") else ""
                    out.print(f"  {i['path']}: {i['format']} stored hashes {said}{why}",
                              highlight=False)
            if not r["manifest"]["matches"]:
                out.print("  the store's record no longer matches the manifest the custody "
                          "log holds", highlight=False)
    sys.exit(EXIT_OK if ok else EXIT_NO_MATCH)
