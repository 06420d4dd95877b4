"""`cairn lists` and `cairn rematch`: hash lists imported, exported, judged and removed, and
cases re-matched against them. Thin adapters over lists/formats, the store and scan/rematch."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click
from rich.table import Table

from cairn.cli.common import (
    EXIT_OK,
    EXIT_PARTIAL,
    TLP_CHOICE,
    _emit_json,
    _fail,
    _store,
    err,
    existing_case,
    out,
)
from cairn.cli.text import styled


@click.group("lists", invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def lists_group(ctx: click.Context, as_json: bool) -> None:
    """Hash lists of known material: show them (default), import, remove."""
    if ctx.invoked_subcommand is not None:
        return
    rows = _store(ctx).lists.all()
    if as_json:
        _emit_json([{"name": r["name"], "entries": r["entry_count"],
                     "signal_types": r["signal_types"], "format": r["format"],
                     "source_file": r["source_file"], "imported_at": r["imported_at"],
                     "rejected_lines": r["rejected_count"], "pdq_threshold": r["pdq_threshold"],
                     "purpose": r["purpose"], "tlp": r["tlp"], "trust": r["trust"]}
                    for r in rows])
        return
    if not rows:
        out.print("no lists imported: `cairn lists import FILE --name NAME`")
        return
    table = Table("name", "entries", "types", "format", "imported", "source file")
    for r in rows:
        types = ", ".join(f"{k} {v}" for k, v in sorted(r["signal_types"].items()))
        table.add_row(r["name"], str(r["entry_count"]), types, r["format"], r["imported_at"],
                      r["source_file"])
    out.print(table)




@lists_group.command("import")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--name", required=True, help="Name of the list in this store.")
@click.option("--format", "fmt", default="auto", show_default=True,
              type=click.Choice(["auto", "te-csv", "te-local", "hashsum", "plain", "vics",
                                 "stix", "misp", "nsrl"]),
              help="Detected from the content when omitted (a folder: a MISP feed).")
@click.option("--type", "signal_type",
              type=click.Choice(["md5", "sha1", "sha256", "pdq", "vpdq"]),
              help="Signal type of a plain one-hash-per-line list; the digest an NSRL set "
                   "keeps.")
@click.option("--threshold", default=31, show_default=True, type=click.IntRange(0, 128),
              help="PDQ match distance for this list.")
@click.option("--video-percent", default=80.0, show_default=True, type=click.FloatRange(1, 100),
              help="vPDQ: % of frames on each side that must have a partner.")
@click.option("--known-good", is_flag=True,
              help="Known-good files (NSRL is always): matches hide items from reports.")
@click.option("--tlp", type=TLP_CHOICE, help="The list's TLP marking, for sharing it on.")
@click.option("--trust", type=click.IntRange(0, 100),
              help="How far its hits are believed, 0-100 (default 50): the review queue "
                   "shows hits of the most trusted lists first.")
@click.option("--replace", is_flag=True, help="Replace a list of the same name.")
@click.option("--append", is_flag=True, help="Add the file's entries to a list of that name.")
@click.option("--no-rematch", is_flag=True,
              help="Don't look up the new entries in the cases already scanned.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def lists_import(ctx: click.Context, path: Path, name: str, fmt: str, signal_type: str | None,
                 threshold: int, video_percent: float, known_good: bool, tlp: str | None,
                 trust: int | None, replace: bool, append: bool, no_rematch: bool,
                 as_json: bool) -> None:
    """Import a list: python-threatexchange CSV or local file, md5sum-style, plain, Project
    VIC VICS, a STIX 2.1 bundle, a MISP feed or event, or NSRL (RDSv3/RDSv2). Streamed, in
    one transaction; the list index is brought up to date before this returns. Then every
    case already scanned is re-matched against the new entries (from its stored signals,
    the evidence is not read again), unless --no-rematch."""
    if replace and append:
        _fail("--replace and --append exclude each other")
    from cairn.lists.formats import ListFormatError, open_list, stix
    from cairn.store.common import StoreError
    from cairn.store.listtrust import set_trust

    before = _store(ctx).lists.max_entry_id()
    try:
        used, entries, rejected = open_list(path, fmt, signal_type)
        res = _store(ctx).lists.add(name, str(path.resolve()), used, threshold,
                                    (e.to_dict() for e in entries), rejected, replace,
                                    video_percent, append=append,
                                    purpose="known-good" if known_good or used == "nsrl"
                                    else "detect", tlp=tlp, stix_id=stix.indicator_id)
        if trust is not None:
            res["trust"] = set_trust(_store(ctx), name, trust)["new"]
    except (ListFormatError, StoreError) as e:
        _fail(f"{path}: {e}" if isinstance(e, ListFormatError) else str(e))
    res["indexed_entries"] = _refresh_index(ctx)
    res["format"] = used
    res["rejected_lines"] = [{"line": r.line, "reason": r.reason, "text": r.text[:200]}
                             for r in rejected]
    res["rematch"] = [] if no_rematch else _rematch_cases(ctx, before, f"list {name} imported")
    if as_json:
        _emit_json(res)
    else:
        for r in rejected[:50]:
            err.print(f"{path}:{r.line}: {r.reason}", style="yellow", highlight=False)
        if len(rejected) > 50:
            err.print(f"... and {len(rejected) - 50} more rejected lines", style="yellow")
        added = f", {res['added']} new" if append else ""
        out.print(styled("imported list ", (name, "bold"), f": {res['entries']} entries{added} "
                         f"({used}), {len(rejected)} lines rejected"), highlight=False)
        for r in res["rematch"]:
            out.print(f"re-matched case {r['case']}: {r['new_matches']} new match(es) in "
                      f"{r['items']} items", highlight=False)
    sys.exit(EXIT_PARTIAL if rejected else EXIT_OK)


def _rematch_cases(ctx: click.Context, after_entry: int, why: str) -> list[dict]:
    """Every case re-matched against the entries added after `after_entry`."""
    from cairn.scan.rematch import rematch
    from cairn.store.people import People

    store = _store(ctx)  # closed and deleted cases stay as they were closed
    return [rematch(store, c["name"], after_entry=after_entry, why=why).to_dict()
            for c in People(store).cases() if c["items"] and c["status"] == "open"]


@click.command("rematch")
@click.option("--case", required=True, help="The case.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def rematch_cmd(ctx: click.Context, case: str, as_json: bool) -> None:
    """Match a case's stored signals against the lists as they are now, without reading the
    evidence again: what a list imported after the scan would have matched. New matches are
    recorded, with a custody entry; those on record keep their status."""
    from cairn.cli.people import refuse_closed
    from cairn.scan.rematch import rematch

    existing_case(ctx, case)
    refuse_closed(ctx, case)
    res = rematch(_store(ctx), case).to_dict()
    if as_json:
        _emit_json(res)
    else:
        out.print(f"case {case}: {res['items']} items re-matched, {res['new_matches']} new "
                  "match(es)" + "".join(f"; {n} from {k}" for k, n in res["by_list"].items()),
                  highlight=False)


EXPORT_FORMATS = ["vics", "stix", "misp", "te-csv", "te-local", "md5sum", "sha1sum",
                  "sha256sum"]


@lists_group.command("export")
@click.argument("name")
@click.option("--format", "fmt", required=True, type=click.Choice(EXPORT_FORMATS))
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True,
              help="File to write (a folder for a MISP feed).")
@click.option("--tlp", type=TLP_CHOICE,
              help="Marking [default: the list's, else amber]; never weaker than the list's.")
@click.option("--org", default="Cairn", show_default=True,
              help="The sharing organisation (STIX identity, MISP Orgc).")
@click.option("--vics-version", type=click.Choice(["2.0", "1.x"]), default="2.0",
              show_default=True)
@click.option("--vics-profile", type=click.Choice(["Default", "US", "UK", "CUSTOM"]),
              default="Default", show_default=True)
@click.option("--misp-distribution", type=click.IntRange(0, 5),
              help="MISP distribution [default: from TLP: red 0, amber 1, green 2, clear 3].")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def lists_export(ctx: click.Context, name: str, fmt: str, output: Path, tlp: str | None,
                 org: str, vics_version: str, vics_profile: str,
                 misp_distribution: int | None, as_json: bool) -> None:
    """Export a list's active entries: hashes, labels and metadata, never content.
    Withdrawn and false-positive entries are left out."""
    from cairn.lists.formats import markings, misp, stix, vics, writers

    store = _store(ctx)
    info = store.lists.info(name)
    if info is None:
        _fail(f"no list named {name!r}")
    # the list's marking is a floor: --tlp can make an export stricter, never weaker
    level = markings.strictest([tlp, info["tlp"]]) or "amber"
    entries = store.lists.export(name)
    held: list[markings.Withheld] = []  # entries marked stricter than a format can say
    if fmt == "misp":
        n = misp.write_misp_feed(entries, output, org, name, level, misp_distribution)
    else:
        tmp = output.with_name(output.name + ".part")
        with tmp.open("w", encoding="utf-8", newline="") as f:
            if fmt == "vics":
                n = vics.write_vics(entries, f, vics_version, vics_profile, tlp=level,
                                    withheld=held)
            elif fmt == "stix":
                n = stix.write_stix(entries, f, org, level)
            elif fmt == "te-csv":
                n = writers.write_te_csv(entries, f, tlp=level, withheld=held)
            elif fmt == "te-local":
                n = writers.write_te_local(entries, f, tlp=level, withheld=held)
            else:
                n = writers.write_hashsum(entries, f, fmt[:-3], tlp=level, withheld=held)
        tmp.replace(output)  # never a half-written export under the real name
    res = {"list": name, "format": fmt, "output": str(output), "written": n, "tlp": level,
           "withheld": len(held)}
    _store(ctx).log_event(None, "list.exported", f"list:{name}", res)
    if held:
        err.print(markings.describe(held), style="yellow", highlight=False)
    if as_json:
        _emit_json(res)
    else:
        out.print(f"exported {n} {'media' if fmt == 'vics' else 'records'} of {name} as "
                  f"{fmt} (TLP:{level.upper()}) to {output}", highlight=False)


@lists_group.command("edit")
@click.argument("name")
@click.option("--trust", type=click.IntRange(0, 100), required=True,
              help="How far its hits are believed, 0-100: the review queue shows hits of "
                   "the most trusted lists first.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def lists_edit(ctx: click.Context, name: str, trust: int, as_json: bool) -> None:
    """Change a list's trust (a custody entry `list.trust` with the old and new value)."""
    from cairn.store.common import StoreError
    from cairn.store.listtrust import set_trust

    try:
        res = set_trust(_store(ctx), name, trust)
    except StoreError as e:
        _fail(str(e))
    if as_json:
        _emit_json({"list": name, "trust": res["new"], "was": res["old"]})
    else:
        out.print(f"{name}: trust {res['old']} -> {res['new']}", highlight=False)


@lists_group.command("remove")
@click.argument("name")
@click.option("--force", is_flag=True,
              help="Remove it even though cases hold matches against it (they are kept, as "
                   "`list_removed`, and no longer count).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def lists_remove(ctx: click.Context, name: str, force: bool, as_json: bool) -> None:
    """Take a list out of use. Nothing recorded is deleted: its entries stop matching, the
    list stays on record renamed `NAME (removed TIME)`, and cases' matches against it become
    `list_removed` (shown, not counted), each case's custody log saying so. Refused while
    cases hold active matches against it, unless --force."""
    from cairn.store.common import StoreError

    try:
        res = _store(ctx).lists.remove(name, force=force)
    except StoreError as e:
        _fail(str(e))
    if res is None:
        _fail(f"no list named {name!r}")
    _refresh_index(ctx)
    if as_json:
        _emit_json(res)
    else:
        held = sum(res["matches_by_case"].values())
        out.print(f"removed list {name} ({res['entries']} entries); {held} match(es) in "
                  f"{len(res['matches_by_case'])} case(s) now list_removed", highlight=False)


def _refresh_index(ctx: click.Context) -> int:
    """Bring the persisted list index up to date now, so the next scan starts at once."""
    from cairn.scan.listindex import open_matcher

    return len(open_matcher(_store(ctx)))


def _status_command(status: str, verb: str):  # noqa: ANN202 - a click command
    @click.argument("name")
    @click.argument("hashes", nargs=-1)
    @click.option("--from", "from_file", type=click.File("r"),
                  help="Read hashes from this file: the first field of each line (- for stdin).")
    @click.option("--note", help="Why (kept with each entry).")
    @click.option("--json", "as_json", is_flag=True, help="Print JSON.")
    @click.pass_context
    def command(ctx: click.Context, name: str, hashes: tuple[str, ...], from_file,  # noqa: ANN001
                note: str | None, as_json: bool) -> None:
        from cairn.store.common import StoreError

        # --from: the first field of each line, so an md5sum-style list works as it is
        values = list(hashes) + ([ln.split()[0] for ln in from_file.read().splitlines()
                                  if ln.strip() and not ln.lstrip().startswith("#")]
                                 if from_file else [])
        if not values:
            _fail("give the hashes to change, as arguments or with --from FILE")
        try:
            res = _store(ctx).lists.set_status(name, values, status, note)
        except StoreError as e:
            _fail(str(e))
        _refresh_index(ctx)
        if as_json:
            _emit_json({"list": name, "status": status} | res)
        else:
            out.print(f"{name}: {len(res['changed'])} entries {verb}, "
                      f"{len(res['unchanged'])} already so, {len(res['unknown'])} not in "
                      "the list", highlight=False)
            for v in res["unknown"][:50]:
                err.print(f"not in {name}: {v}", style="yellow", highlight=False)
        sys.exit(EXIT_PARTIAL if res["unknown"] else EXIT_OK)

    command.__doc__ = (f"Mark entries of a list {verb}: they stay on record (earlier reports "
                       "still resolve) but " + ("match again." if status == "active"
                                                 else "no longer match."))
    return command


for _status, _verb, _name in (("withdrawn", "withdrawn", "withdraw"),
                              ("false_positive", "false positive", "false-positive"),
                              ("active", "reinstated", "reinstate")):
    lists_group.command(_name)(_status_command(_status, _verb))


@lists_group.command("index")
@click.option("--rebuild", is_flag=True, help="Rebuild it from the store.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def lists_index(ctx: click.Context, rebuild: bool, as_json: bool) -> None:
    """Show the persisted list index (and how long it takes to open), or rebuild it."""
    import shutil

    from cairn.scan.listindex import open_matcher

    store = _store(ctx)
    root = Path(store.home or ".") / "index"
    if rebuild:
        shutil.rmtree(root, ignore_errors=True)
    started = time.perf_counter()
    m = open_matcher(store)
    seconds = time.perf_counter() - started
    size = sum(f.stat().st_size for f in root.rglob("*") if f.is_file()) if root.is_dir() else 0
    _, gen, _ = store.lists.generations()
    res = {"path": str(root), "generation": gen, "active_entries": len(m),
           "indexed_entries": m.indexed, "pdq_hashes": m.pdq_rows,
           "bytes_on_disk": size, "open_seconds": round(seconds, 3)}
    if as_json:
        _emit_json(res)
    else:
        for k, v in res.items():
            out.print(f"{k:16} {v}", highlight=False)


