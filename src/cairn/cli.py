"""The `cairn` command.

Exit codes scripts can rely on:
  0  done (for `match`: at least one file matched)
  1  `match` only: nothing matched
  2  usage error, or a fatal error (named in the message)
  3  done, but with rejected input: list lines that were not imported
  130 interrupted (Ctrl-C); what was recorded stays recorded, rerun to resume
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from cairn import __version__
from cairn.cli_text import json_safe, styled, visible_lines
from cairn.scan.interrupt import Interrupted

if TYPE_CHECKING:
    from cairn.scan.worker import HashOptions

from cairn.cli_common import (
    EXIT_INTERRUPTED,
    EXIT_NO_MATCH,
    EXIT_OK,
    EXIT_PARTIAL,
    _emit_json,
    _fail,
    _store,
    err,
    existing_case,
    out,
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="cairn")
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), envvar="CAIRN_HOME",
              default=None, help="Store directory [env CAIRN_HOME; default ~/.cairn].")
@click.pass_context
def cli(ctx: click.Context, home: Path | None) -> None:
    """Cairn: hash evidence, match it against hash lists of known material, report."""
    from cairn.store.store import default_home

    ctx.ensure_object(dict)
    ctx.obj["home"] = home or default_home()


# -- hash / match ---------------------------------------------------------------------------
def mode_option(default: str):  # noqa: ANN201 - a click decorator
    return click.option(
        "--mode", type=click.Choice(["exact", "fast"]), default=default, show_default=True,
        help="PDQ mode: exact = full-resolution decode, bit-identical to "
             "python-threatexchange; fast = colour/grey JPEGs decoded at reduced scale "
             "(>= 512 px a side) and hashed with the fast core, recorded as `fast` "
             "(bench/bench_robustness.py: no match lost against exact).")


VIDEO_OPTION = click.option(
    "--video-interval", type=click.FloatRange(0), default=1.0, show_default=True,
    help="Seconds between hashed video frames (0: every frame).")


def _hash_file(path: Path, mode: str = "exact", video_interval: float = 1.0,
               opts: HashOptions | None = None) -> list[dict]:
    """Records of one file: the file itself first, then any archive members, as a scan sees
    them (member paths prefixed with the file's path). `provenance`: HashOptions' reader
    settings (keys, trust, detector); pixels are decoded once, by media/decode."""
    from cairn.media.limits import Limits
    from cairn.media.walk import walk
    from cairn.scan.isolation import records_of
    from cairn.scan.worker import HashOptions

    (entry,) = walk(str(path))
    records = records_of(entry, Limits(), opts or HashOptions(mode, video_interval))  # isolated
    prefix = str(path)[: -len(entry.path)] if str(path).endswith(entry.path) else ""
    for r in records:
        r["path"] = prefix + r["path"]
    return [records[-1], *records[:-1]]


def _public(rec: dict, with_dihedral: bool = False) -> dict:
    keys = ("path", "size", "md5", "sha1", "sha256", "media_type", "kind", "width", "height")
    d = {k: rec.get(k) for k in keys}
    p = rec.get("pdq")
    d["pdq"] = None if not p else (
        {"hash": p["hash"], "quality": p["quality"], "mode": p["mode"]}
        | ({"dihedral": dict(zip(("none", "rot90", "rot180", "rot270", "flipx", "flipy",
                                  "flipplus1", "flipminus1"), p["dihedral"], strict=True))}
           if with_dihedral else {}))
    v = rec.get("vpdq")
    if v:  # python-threatexchange's vPDQ signal: JSON list of "hex,quality,seconds"
        d["vpdq"] = {"signal": v["signal"], "frames": len(v["frames"]), "mode": v["mode"],
                     "interval": v["interval"]}
    model = next((f for f in rec.get("findings", []) if f["kind"] == "model_file"), None)
    if model:
        d["model"] = {k: v for k, v in model.items() if k not in ("kind", "strength", "source")}
    d["errors"] = rec.get("errors", [])
    return d


FileArgs = click.Path(exists=True, dir_okay=False, path_type=Path)


@cli.command("hash")
@click.argument("files", nargs=-1, required=True, type=FileArgs)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--dihedral", is_flag=True, help="Also print the 8 rotated/flipped PDQ hashes.")
@mode_option("exact")
@VIDEO_OPTION
def hash_cmd(files: tuple[Path, ...], as_json: bool, dihedral: bool, mode: str,
             video_interval: float) -> None:
    """MD5, SHA-1, SHA-256, PDQ (images) and vPDQ (videos) of files. Nothing is recorded."""
    results = [_public(_hash_file(f, mode, video_interval)[0], dihedral) for f in files]
    if as_json:
        _emit_json(results[0] if len(results) == 1 else results)
        return
    for r in results:
        out.print(styled((r["path"], "bold"), f"  {r['media_type']}  {r['size']} bytes"),
                  highlight=False)
        for k in ("md5", "sha1", "sha256"):
            out.print(f"  {k:<7}{r[k]}", highlight=False)
        if r["pdq"]:
            out.print(f"  pdq    {r['pdq']['hash']}  quality {r['pdq']['quality']}",
                      highlight=False)
        if r.get("vpdq"):
            out.print(f"  vpdq   {r['vpdq']['frames']} frames, one per "
                      f"{r['vpdq']['interval']:g} s (--json prints the signal)", highlight=False)
        for k, label in (("autov2", "AutoV2"), ("autov1", "AutoV1"), ("blake3", "BLAKE3"),
                         ("tensor_sha256", "tensors"), ("short_hash", "LoRA short")):
            if r.get("model", {}).get(k):
                out.print(f"  {label:<11}{r['model'][k]}", highlight=False)
        for e in r["errors"]:
            out.print(f"  {e['stage']}: {e['message']}", style="yellow", highlight=False)


C2PA_TRUST_OPTION = click.option(
    "--c2pa-trust", type=click.Path(exists=True, dir_okay=False, path_type=Path),
    envvar="CAIRN_C2PA_TRUST", help="PEM bundle of C2PA trust anchors (e.g. the C2PA trust "
    "list): credentials chaining to one are `trusted`, others at most `valid`.")
DETECTOR_OPTION = click.option(
    "--detector", type=click.Path(exists=True, dir_okay=False, path_type=Path),
    envvar="CAIRN_DETECTOR", help="JSON config of an ONNX detector of synthetic imagery "
    "(model path and pinned SHA-256); its score is a statistical finding, never proof.")


def _check_detector(path: Path | None) -> str | None:
    """Load the detector once up front: a wrong pin or a broken model stops here."""
    if path is None:
        return None
    from cairn.provenance.detector import DetectorError, load_detector

    try:
        load_detector(str(path.resolve()))
    except DetectorError as e:
        _fail(str(e))
    return str(path.resolve())


NOVELAI_KEY_OPTION = click.option(
    "--novelai-key", "novelai_keys", multiple=True, metavar="NAME=BASE64",
    help="Another Ed25519 verify key for NovelAI-style signatures (repeatable); NovelAI's "
         "published key is always tried.")


def _novelai_keys(pairs: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for k in pairs:
        name, sep, b64 = k.partition("=")
        if not sep or not name:
            _fail(f"--novelai-key wants NAME=BASE64, got {k!r}")
        out[name] = b64
    return out


def _read_trust(path: Path | None) -> str | None:
    """The examiner's C2PA trust anchors, checked before any file is read: a damaged bundle
    would otherwise fail every file's validation."""
    if path is None:
        return None
    from cairn.provenance.c2pa_reader import TrustError, trust_anchors

    try:
        return trust_anchors(path.read_text(encoding="ascii", errors="replace"))
    except TrustError as e:
        _fail(f"{path}: {e} (--c2pa-trust wants a PEM bundle of certificates)")


@cli.command("provenance")
@click.argument("files", nargs=-1, required=True, type=FileArgs)
@click.option("--catalogue", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="CSV of known models (name, autov1, autov2, sha256, blake3) to resolve "
                   "the model and LoRA hashes found.")
@NOVELAI_KEY_OPTION
@C2PA_TRUST_OPTION
@DETECTOR_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def provenance_cmd(files: tuple[Path, ...], catalogue: Path | None,
                   novelai_keys: tuple[str, ...], c2pa_trust: Path | None,
                   detector: Path | None, as_json: bool) -> None:
    """Provenance findings of files outside any case (pictures, videos, audio, PDF): C2PA
    credentials (a remote manifest is named, never fetched), generator metadata in text
    chunks, EXIF, XMP, video tags or pixel LSBs (A1111/Forge/reForge, Civitai, SwarmUI,
    ComfyUI, InvokeAI, NovelAI, Fooocus, Midjourney, Draw Things), IPTC digital source type
    and AI labels, NovelAI signatures, model-file hashes. Nothing is recorded.

    Exit 0 if any file carries a generator claim or synthetic source type, 1 if none does."""
    from cairn.provenance.catalogue import Catalogue, CatalogueError, annotate
    from cairn.provenance.generators.novelai import NOVELAI_KEY
    from cairn.scan.worker import HashOptions

    keys = {"novelai": NOVELAI_KEY, **_novelai_keys(novelai_keys)}
    trust = _read_trust(c2pa_trust)
    det = _check_detector(detector)
    try:
        cat = Catalogue.read(catalogue) if catalogue else None
    except (CatalogueError, OSError) as e:
        _fail(str(e))
    opts = HashOptions("exact", c2pa_trust=trust, novelai_keys=tuple(keys.items()),
                       detector=det)  # read in the isolated worker, like a scan
    results = []
    for f in files:
        rec = _hash_file(f, opts=opts)[0]
        found = rec.get("findings", [])
        if cat:
            annotate(found, cat)
        results.append({"path": str(f), "sha256": rec.get("sha256"),
                        "media_type": rec.get("media_type"), "findings": found,
                        "errors": rec.get("errors", [])})
    claims = any(x.get("generator") or x.get("synthetic") for r in results
                 for x in r["findings"])
    if as_json:
        _emit_json(results[0] if len(results) == 1 else results)
    else:
        from cairn.cases.report import finding_summary

        for r in results:
            out.print(styled((r["path"], "bold"), f"  {r['media_type']}"), highlight=False)
            if not r["findings"]:
                out.print("  no provenance findings")
            for error in r["errors"]:
                out.print(f"  {error['stage']}: {error['message']}", highlight=False,
                          markup=False)
            for x in r["findings"]:
                out.print(f"  {finding_summary(x)}", highlight=False)
                if x.get("prompt"):
                    out.print(f"    prompt: {x['prompt'][:200]}", highlight=False)
                for ref, known in (x.get("known_models") or {}).items():
                    out.print(f"    {ref} = {known}", highlight=False)
    sys.exit(EXIT_OK if claims else EXIT_NO_MATCH)


@cli.command("match")
@click.argument("files", nargs=-1, required=True, type=FileArgs)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def match_cmd(ctx: click.Context, files: tuple[Path, ...], as_json: bool) -> None:
    """What in the imported lists each file (and each archive member) matches.

    Exit 0 if anything matched, 1 if nothing did.
    """
    from cairn.scan.listindex import match_records
    from cairn.scan.pipeline import matcher_for

    store = _store(ctx)
    lists = store.lists()
    records = [r for f in files for r in _hash_file(f)]
    _, matches = match_records(store, matcher_for(store), records)
    results = []
    for rec, found in zip(records, matches, strict=True):
        entries = store.entries_by_id(m.entry_id for m in found)
        d = _public(rec)
        d["matches"] = [{
            "list": entries[m.entry_id]["list"], "signal": m.signal, "distance": m.distance,
            "transform": m.transform,
            "entry": {k: entries[m.entry_id][k] for k in ("value", "category", "labels",
                                                          "collab", "line_no")},
        } for m in found]
        results.append(d)
    any_match = any(r["matches"] for r in results)
    if as_json:
        _emit_json(results[0] if len(results) == 1 else results)
    else:
        if not lists:
            err.print("no lists imported: `cairn lists import FILE --name NAME`", style="yellow")
        for r in results:
            if not r["matches"]:
                out.print(f"{r['path']}: no match", highlight=False)
            for m in r["matches"]:
                out.print(styled(f"{r['path']}: ", ("MATCH", "bold red"),
                                 f" list={m['list']} signal={m['signal']} "
                                 f"distance={m['distance']} transform={m['transform']}"),
                          highlight=False)
    sys.exit(EXIT_OK if any_match else EXIT_NO_MATCH)


# -- lists ----------------------------------------------------------------------------------
@cli.group("lists", invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def lists_group(ctx: click.Context, as_json: bool) -> None:
    """Hash lists of known material: show them (default), import, remove."""
    if ctx.invoked_subcommand is not None:
        return
    rows = _store(ctx).lists()
    if as_json:
        _emit_json([{"name": r["name"], "entries": r["entry_count"],
                     "signal_types": r["signal_types"], "format": r["format"],
                     "source_file": r["source_file"], "imported_at": r["imported_at"],
                     "rejected_lines": r["rejected_count"], "pdq_threshold": r["pdq_threshold"],
                     "purpose": r["purpose"], "tlp": r["tlp"]}
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


TLP_CHOICE = click.Choice(["clear", "green", "amber", "amber+strict", "red"])


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
@click.option("--replace", is_flag=True, help="Replace a list of the same name.")
@click.option("--append", is_flag=True, help="Add the file's entries to a list of that name.")
@click.option("--no-rematch", is_flag=True,
              help="Don't look up the new entries in the cases already scanned.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def lists_import(ctx: click.Context, path: Path, name: str, fmt: str, signal_type: str | None,
                 threshold: int, video_percent: float, known_good: bool, tlp: str | None,
                 replace: bool, append: bool, no_rematch: bool, as_json: bool) -> None:
    """Import a list: python-threatexchange CSV or local file, md5sum-style, plain, Project
    VIC VICS, a STIX 2.1 bundle, a MISP feed or event, or NSRL (RDSv3/RDSv2). Streamed, in
    one transaction; the list index is brought up to date before this returns. Then every
    case already scanned is re-matched against the new entries (from its stored signals,
    the evidence is not read again), unless --no-rematch."""
    if replace and append:
        _fail("--replace and --append exclude each other")
    from cairn.lists.formats import ListFormatError, open_list, stix
    from cairn.store.store import StoreError

    before = _store(ctx).max_entry_id()
    try:
        used, entries, rejected = open_list(path, fmt, signal_type)
        res = _store(ctx).add_list(name, str(path.resolve()), used, threshold,
                                   (e.to_dict() for e in entries), rejected, replace,
                                   video_percent, append=append,
                                   purpose="known-good" if known_good or used == "nsrl"
                                   else "detect", tlp=tlp, stix_id=stix.indicator_id)
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


@cli.command("rematch")
@click.option("--case", required=True, help="The case.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def rematch_cmd(ctx: click.Context, case: str, as_json: bool) -> None:
    """Match a case's stored signals against the lists as they are now, without reading the
    evidence again: what a list imported after the scan would have matched. New matches are
    recorded, with a custody entry; those on record keep their status."""
    from cairn.cli_people import refuse_closed
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
    info = store.list_info(name)
    if info is None:
        _fail(f"no list named {name!r}")
    # the list's marking is a floor: --tlp can make an export stricter, never weaker
    level = markings.strictest([tlp, info["tlp"]]) or "amber"
    entries = store.export_entries(name)
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
    from cairn.store.store import StoreError

    try:
        res = _store(ctx).remove_list(name, force=force)
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
        from cairn.store.store import StoreError

        # --from: the first field of each line, so an md5sum-style list works as it is
        values = list(hashes) + ([ln.split()[0] for ln in from_file.read().splitlines()
                                  if ln.strip() and not ln.lstrip().startswith("#")]
                                 if from_file else [])
        if not values:
            _fail("give the hashes to change, as arguments or with --from FILE")
        try:
            res = _store(ctx).set_entry_status(name, values, status, note)
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
    _, gen, _ = store.list_generations()
    res = {"path": str(root), "generation": gen, "active_entries": len(m),
           "indexed_entries": m.indexed, "pdq_hashes": m.pdq_rows,
           "bytes_on_disk": size, "open_seconds": round(seconds, 3)}
    if as_json:
        _emit_json(res)
    else:
        for k, v in res.items():
            out.print(f"{k:16} {v}", highlight=False)


# -- scan -----------------------------------------------------------------------------------
def _size_option(_ctx: click.Context, _param: click.Parameter, value: str | None) -> int | None:
    from cairn.scan.isolation import MEMORY_MIN, format_size, parse_size

    if value is None:
        return None
    try:
        n = parse_size(value)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None
    if n < MEMORY_MIN:
        raise click.BadParameter(f"at least {format_size(MEMORY_MIN)}: a worker holds about "
                                 "0.3 GiB before it reads anything")
    return n


@cli.command("scan")
@click.argument("location", type=click.Path(exists=False, path_type=Path))
@click.option("--case", required=True, help="Case the evidence belongs to.")
@click.option("--new-case", is_flag=True,
              help="Open the case if it does not exist yet (without it, an unknown case is "
                   "refused, naming the nearest: a typo must not start a new case).")
@click.option("--source-name", help="Name of this exhibit [default: the folder or file name].")
@click.option("--device", help="The device (of the case) this exhibit was taken from: the "
              "source is linked to it (`cairn devices add` first).")
@click.option("--workers", type=click.IntRange(1, 256), help="Worker processes [default: cores].")
@click.option("--max-pixels", type=click.IntRange(1), default=100_000_000, show_default=True,
              help="Refuse to decode images larger than this (decompression bombs).")
@click.option("--max-depth", type=click.IntRange(0, 64), default=5, show_default=True,
              help="Archives nested deeper than this are not opened.")
@click.option("--max-ratio", type=click.IntRange(2), default=200, show_default=True,
              help="Largest decompression ratio accepted from an archive.")
@click.option("--max-worker-memory", metavar="SIZE", callback=_size_option,
              help="Address space each worker may use (e.g. 4G, 1536M) [default: "
                   "min(4G, 80% of RAM / workers), at least 2G]. A file that needs more is "
                   "recorded with an error; a fresh worker goes on.")
@click.option("--file-timeout", type=click.FloatRange(0, min_open=True), default=300.0,
              show_default=True, help="Seconds a worker may spend on one top-level file "
              "(with its archive members); then it is stopped, the file recorded with an error.")
@mode_option("fast")
@VIDEO_OPTION
@C2PA_TRUST_OPTION
@NOVELAI_KEY_OPTION
@DETECTOR_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@click.pass_context
def scan_cmd(ctx: click.Context, location: Path, case: str, new_case: bool,
             source_name: str | None, device: str | None, workers: int | None,
             max_pixels: int, max_depth: int, max_ratio: int,
             max_worker_memory: int | None, file_timeout: float, mode: str,
             video_interval: float, c2pa_trust: Path | None, novelai_keys: tuple[str, ...],
             detector: Path | None, as_json: bool, no_progress: bool) -> None:
    """Walk, hash and match an exhibit (folder, archive or file) and record it in a case.

    Rerunning the same command resumes an interrupted scan and never duplicates an item.
    Each file is read by an isolated worker: a file that crashes it, exhausts its memory or
    outlasts --file-timeout becomes an item with an error, and the scan goes on.
    """
    from cairn.media.limits import Limits
    from cairn.scan.isolation import default_caps
    from cairn.scan.pipeline import default_workers, scan
    from cairn.scan.worker import HashOptions
    from cairn.store.store import SourceNameTaken, StoreError

    if not os.path.lexists(location):
        _fail(f"evidence not found: {location}")
    from cairn.cli_people import device_for_scan, link_sources, refuse_closed

    if not new_case:
        existing_case(ctx, case, "; to open a new case add --new-case (or `cairn cases "
                      "create`)")
    case_id = device_for_scan(ctx, case, device, str(location)) if device else None
    if device is None:
        refuse_closed(ctx, case)
    store = _store(ctx)
    limits = Limits(max_pixels=max_pixels, max_archive_depth=max_depth, max_ratio=max_ratio)
    show = not no_progress and not as_json and err.is_terminal
    progress = Progress(SpinnerColumn(), TextColumn("scanning", style="bold", markup=False),
                        BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[rate]}", markup=False),
                        TimeElapsedColumn(), TimeRemainingColumn(), console=err,
                        disable=not show)
    task = progress.add_task("scan", total=None, rate="")
    state = {"done": 0}

    def on_total(n: int) -> None:
        progress.update(task, total=n)

    def on_progress(n: int) -> None:
        state["done"] += n
        elapsed = progress.tasks[0].elapsed or 0
        rate = f"{state['done'] / elapsed:.0f} files/s" if elapsed > 0 else ""
        progress.update(task, advance=n, rate=rate)

    try:
        with progress:
            summary = scan(store, case, location, source_name=source_name, limits=limits,
                           workers=workers, options=HashOptions(
                               mode, video_interval, c2pa_trust=_read_trust(c2pa_trust),
                               novelai_keys=tuple(_novelai_keys(novelai_keys).items()),
                               detector=_check_detector(detector)),
                           arguments={"argv": sys.argv[1:]},
                           on_total=on_total, on_progress=on_progress,
                           caps=default_caps(workers or default_workers(), max_worker_memory,
                                             file_timeout))
    except KeyboardInterrupt:
        err.print("interrupted: what was recorded stays; rerun the same command to "
                  "resume", style="yellow")
        sys.exit(EXIT_INTERRUPTED)
    except (FileNotFoundError, NotADirectoryError, PermissionError, SourceNameTaken) as e:
        _fail(str(e))
    except StoreError as e:  # the run is already closed as `failed`, with what was recorded
        _fail(f"{e}; what was recorded before it stays (run `cairn report --case "
              f"{shlex.quote(case)}`)")
    s = summary.to_dict()
    if device and case_id is not None:  # the source this scan recorded, by its location
        s["device"] = device
        link_sources(ctx, case_id, device, [x["id"] for x in store.sources(case_id)
                                            if x["location"] == summary.location])
    if as_json:
        _emit_json(s)
        return
    tot = s["totals"]
    table = Table(title=f"case {case} · source {summary.source}", show_header=False)
    for label, value in (
        ("files (items)", tot["files"]), ("images", tot["images"]), ("videos", tot["videos"]),
        ("archives", tot["archives"]), ("items matched", tot["items_matched"]),
        ("items with errors", tot["items_with_errors"]),
        ("worker failures", s["worker_failures"]),
        ("new this run", s["new_items"]), ("already recorded", s["skipped_already_recorded"]),
        ("time", f"{s['seconds']:.1f} s ({s['files_per_second']:.0f} files/s)"),
    ):
        table.add_row(label, str(value))
    if device:
        table.add_row("device", device)
    out.print(table)
    if s["worker_failures"]:
        out.print(f"{s['worker_failures']} file(s) stopped their worker (an error, the memory "
                  "ceiling, the time limit or a crash): each was hashed again by a fresh worker "
                  "and recorded with the reason; the scan went on", highlight=False)
    out.print(f"report: cairn report --case {shlex.quote(case)} --format html -o report.html",
              highlight=False)


# -- report / cases -------------------------------------------------------------------------
@cli.command("report")
@click.option("--case", required=True)
@click.option("--format", "fmt", type=click.Choice(["json", "csv", "html", "vics", "incident"]),
              default="json", show_default=True,
              help="vics: the matched, categorised items as a Project VIC case. incident: "
                   "the incident report (summary, timeline, methodology, impact, defanged "
                   "indicators, actions by country, findings), as -o's extension says: "
                   ".html, .pdf (headless Chromium), .md or .json [default: Markdown].")
@click.option("--notes", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="incident: the examiner's notes (Markdown); its `Lessons learned` and "
                   "`Recommendations` sections become the report's.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write here instead of standard output.")
@click.option("--include-known-good", is_flag=True,
              help="Also list items matched only by known-good lists (NSRL); they are "
                   "otherwise counted and left out.")
@click.option("--no-trace", is_flag=True,
              help="Leave out families, fingerprints and the timeline (faster on huge cases).")
@click.option("--tlp", type=TLP_CHOICE, default="amber", show_default=True,
              help="vics: the marking the file travels under; media matched by entries "
                   "marked stricter are left out (and counted).")
@click.pass_context
def report_cmd(ctx: click.Context, case: str, fmt: str, notes: Path | None, output: Path | None,
               include_known_good: bool, no_trace: bool, tlp: str) -> None:
    """A case's report: every item with its hashes, matches, findings and errors. No pixels."""
    import io

    from cairn.cases.report import ReportError, build, render

    existing_case(ctx, case)
    if fmt == "incident":
        return _incident_report(ctx, case, notes, output, not no_trace)
    try:
        report = build(_store(ctx), case, include_known_good, with_trace=not no_trace)
        if fmt == "vics":
            from cairn.exchange.case_export import write_case_vics
            from cairn.lists.formats.markings import Withheld, describe

            buf = io.StringIO()
            held: list[Withheld] = []
            write_case_vics(report, buf, tlp=tlp, withheld=held)
            text = buf.getvalue()
            if held:
                err.print(describe(held), style="yellow", highlight=False)
        else:
            text = render(report, fmt)
    except ReportError as e:
        _fail(str(e))
    import hashlib

    store = _store(ctx)
    store.log_event(store.case_id(case), "report.written", f"case:{case}",
                    {"format": fmt, "output": str(output) if output else None,
                     "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
                     "custody_head": report.get("record", {}).get("custody_head")})
    if output:
        output.write_text(text, encoding="utf-8")
        err.print(f"wrote {output}", highlight=False)
    elif fmt in ("json", "vics"):  # the same JSON data, with nothing a terminal acts on
        click.echo(json_safe(text), nl=False)
    else:  # a CSV or HTML report is exact in a pipe, shows escapes on a terminal
        tty = sys.stdout.isatty()
        click.echo(visible_lines(text) if tty else text, nl=False)


def _incident_report(ctx: click.Context, case: str, notes: Path | None, output: Path | None,
                     with_trace: bool) -> None:
    import hashlib

    from cairn.cases.incident import build_incident, render_incident
    from cairn.cases.report import ReportError

    kinds = {".html": "html", ".htm": "html", ".pdf": "pdf", ".md": "md", ".json": "json"}
    kind = kinds.get(output.suffix.lower()) if output else "md"
    if kind is None:
        _fail(f"{output}: an incident report is written as .html, .pdf, .md or .json")
    store = _store(ctx)
    try:
        data = build_incident(store, case, notes.read_text(encoding="utf-8") if notes else None,
                              with_trace=with_trace)
        body = render_incident(data, kind)
    except (ReportError, OSError, UnicodeDecodeError) as e:
        _fail(str(e))
    raw = body if isinstance(body, bytes) else body.encode("utf-8")
    store.log_event(store.case_id(case), "report.written", f"case:{case}",
                    {"format": f"incident-{kind}", "output": str(output) if output else None,
                     "sha256": hashlib.sha256(raw).hexdigest(),
                     "custody_head": data["record"]["custody_head"]})
    if output:
        output.write_bytes(raw)
        err.print(f"wrote {output}", highlight=False)
    else:
        tty = sys.stdout.isatty()
        click.echo(visible_lines(raw.decode()) if tty else raw.decode(), nl=False)


@cli.command("rehash")
@click.option("--case", required=True)
@click.option("--all", "all_items", is_flag=True,
              help="Every fast-hashed item, not only the matched ones.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def rehash_cmd(ctx: click.Context, case: str, all_items: bool, as_json: bool) -> None:
    """Recompute exact PDQ (bit-identical to the reference) for items a scan hashed fast.

    What is shared with partners must be exact; by default only matched items are redone.
    Reports show the exact hash wherever one exists. Exit 3 if evidence went missing.
    """
    from cairn.scan.rehash import ensure_exact

    try:
        s = ensure_exact(_store(ctx), case, only_matched=not all_items)
    except LookupError as e:
        _fail(str(e))
    if as_json:
        _emit_json(s.to_dict())
    else:
        out.print(f"{s.items_needing_exact} items needed an exact hash; read {s.files_read} "
                  f"files; added {s.exact_signals_added} exact hashes", highlight=False)
        for m in s.missing:
            err.print(f"evidence not found: {m}", style="yellow", highlight=False)
    sys.exit(EXIT_PARTIAL if s.missing else EXIT_OK)


# -- trace ------------------------------------------------------------------------------------
@cli.command("trace")
@click.option("--case", "cases", required=True, multiple=True,
              help="The case; repeat it to trace across cases (sources named CASE/SOURCE).")
@click.option("--threshold", default=31, show_default=True, type=click.IntRange(0, 128),
              help="PDQ distance that makes two pictures one family.")
@click.option("--graphml", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the link graph as GraphML (Gephi, Neo4j).")
@click.option("--graph-json", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the link graph as node-link JSON.")
@click.option("--timeline-svg", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the first-seen timeline as an SVG chart.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def trace_cmd(ctx: click.Context, cases: tuple[str, ...], threshold: int,
              graphml: Path | None, graph_json: Path | None, timeline_svg: Path | None,
              as_json: bool) -> None:
    """Content families, generator-fingerprint links, sources ranked by what they share,
    and first-seen times, for a case."""
    from cairn.trace.report import trace

    store = _store(ctx)
    items: list[dict] = []
    for name in dict.fromkeys(cases):
        case_id = store.case_id(name)
        if case_id is None:
            _fail(f"no case named {name!r}; `cairn cases` lists them")
        rows = store.case_signals(case_id)
        if len(cases) > 1:
            for r in rows:
                r["source"] = f"{name}/{r['source']}"
        items += rows
    res, graph = trace(items, threshold)
    case = ", ".join(dict.fromkeys(cases))
    res["case"] = case
    if graphml:
        from cairn.trace.graph import write_graphml

        write_graphml(graph, graphml)
    if graph_json:
        from cairn.trace.graph import node_link

        graph_json.write_text(json.dumps(node_link(graph), indent=1, default=str))
    if timeline_svg:
        from cairn.trace.chart import timeline_svg as svg

        timeline_svg.write_text(svg(res["timeline"], f"First seen — case {case}"))
    if as_json:
        _emit_json(res)
        return
    out.print(styled((case, "bold"), f": {len(res['families'])} families, "
                     f"{len(res['links'])} fingerprint links"), highlight=False)
    for f in res["families"][:20]:
        rep = f["representative"]
        out.print(f"  family {f['id']}: {f['size']} items across {', '.join(f['sources'])}; "
                  f"representative {rep['source']}/{rep['path']}", highlight=False)
    for lk in res["links"][:20]:
        out.print(f"  {lk['strength']:6} {lk['type']} {lk['key'][:60]}: "
                  f"{len(lk['items'])} items in {', '.join(lk['sources'])}", highlight=False)
    for r in res["sources"][:20]:
        out.print(f"  source {r['source']}: score {r['score']} (shares with "
                  f"{', '.join(r['shares_with'])})", highlight=False)


# -- exchange ---------------------------------------------------------------------------------
@cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8021, show_default=True, type=click.IntRange(1, 65535))
@click.option("--org", default="Cairn", show_default=True, help="Our organisation's name.")
@click.pass_context
def serve_cmd(ctx: click.Context, host: str, port: int, org: str) -> None:
    """Serve our shared lists over TAXII 2.1 (discovery at /taxii2/). Partners need the
    token `cairn exchange add-partner` printed."""
    import uvicorn

    from cairn.exchange.taxii import create_app

    store = _store(ctx)
    if store.actor.signer is None and store.custody_signed():  # refused now, not per POST
        _fail(f"the custody log is signed and the server would write to it as "
              f"{store.actor.examiner!r}, who has no key: `cairn keys create --examiner "
              f"{store.actor.examiner}`, or run it as an examiner who has one (CAIRN_EXAMINER)")
    uvicorn.run(create_app(store, org=org), host=host, port=port, log_level="warning")


@cli.group("exchange")
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
    from cairn.store.store import StoreError

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
    from cairn.store.store import StoreError

    try:
        ex.add_peer(_store(ctx), name, url if url.endswith("/") else url + "/", user, secret)
    except StoreError as e:
        _fail(str(e))
    out.print(f"peer {name}: {url}", highlight=False)


def _exchange_call(fn, *args, **kwargs):  # noqa: ANN001, ANN202
    from cairn.exchange.client import ExchangeError
    from cairn.store.store import StoreError

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

    before = _store(ctx).max_entry_id()
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


@cli.command("feedback")
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
    entry_ids = store.matched_entries(case_id, path)
    if not entry_ids:  # the path as on disk: the source's location, then the in-source path
        for inside in _source_paths(store, case_id, path):
            entry_ids = store.matched_entries(case_id, inside)
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
    for s in store.sources(case_id):
        root = os.path.abspath(s["location"])
        if os.path.isfile(root) and absolute == root:
            found.append(os.path.basename(root))
        elif absolute.startswith(root.rstrip("/") + "/"):
            rel = absolute[len(root.rstrip("/")) + 1:]
            # as the scan displays it; as typed too (an archive member: `x.zip!/a.jpg`)
            found += [display_name(rel), rel]
    return found


@cli.command("demo")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("demo-out"), show_default=True)
@click.option("--scenario", type=click.Choice(["exhibits", "operation"]), default="exhibits",
              show_default=True,
              help="exhibits: a phone and a workstation, their lists and provenance. "
                   "operation: a fictional seized platform, 12 suspects in 3 countries, 20 "
                   "devices; resolution, triage, one referral package per country.")
@click.pass_context
def demo_cmd(ctx: click.Context, out_dir: Path, scenario: str) -> None:
    """Generate benign demo evidence and lists, import, scan, and write the reports."""
    import shutil

    if scenario == "operation":
        return _demo_operation(ctx, out_dir)

    from cairn.cases.incident import build_incident, render_incident
    from cairn.cases.report import active, build, render
    from cairn.demo import make_demo
    from cairn.demo_operation import stage_operation
    from cairn.demo_provenance import make_ai_exhibit
    from cairn.lists.formats import read_list

    if out_dir.exists():
        shutil.rmtree(out_dir)
    made = make_demo(out_dir)
    ai = make_ai_exhibit(out_dir)  # also leaves one of its outputs on the phone
    ctx.obj["home"] = out_dir / "home"
    ctx.obj.pop("store", None)
    store = _store(ctx)
    for fname, lname in (("known.csv", "demo-pdq"), ("known.md5", "demo-md5")):
        fmt, entries, _ = read_list(made["lists"] / fname)
        store.add_list(lname, str(made["lists"] / fname), fmt, 31,
                       (e.to_dict() for e in entries), 0)
        out.print(f"imported list {lname}: {len(entries)} entries ({fmt})")
    ctx.invoke(scan_cmd, location=made["exhibit"], case="demo", new_case=True,
               source_name=None, workers=None,
               max_pixels=100_000_000, max_depth=5, max_ratio=200, mode="fast",
               video_interval=1.0, as_json=False,
               no_progress=False)
    ctx.invoke(scan_cmd, location=ai["exhibit"], case="demo", c2pa_trust=ai["anchors"],
               novelai_keys=(f"demo-signer={ai['novelai_key']}",), no_progress=False)
    notes = stage_operation(store, "demo", out_dir)
    incident = build_incident(store, "demo", notes.read_text(encoding="utf-8"))
    for kind in ("html", "md"):
        (out_dir / f"incident.{kind}").write_text(str(render_incident(incident, kind)),
                                                  encoding="utf-8")
    report = build(store, "demo")
    for fmt in ("html", "json"):
        (out_dir / f"report.{fmt}").write_text(render(report, fmt), encoding="utf-8")
    found = {it["path"] for it in report["items"] if active(it)}
    missed = sorted(set(made["planted"]) - found)
    out.print(f"planted copies and edits found: {len(made['planted']) - len(missed)}"
              f"/{len(made['planted'])}" + (f" (missed: {', '.join(missed)})" if missed else ""))
    s = report["summary"]
    linked = sum(1 for it in report["items"] for f in it["findings"] if f.get("model_files"))
    out.print(f"provenance: {s['items_with_generator_claims']} generator claims, "
              f"{s['items_declared_synthetic']} declared synthetic, {s['models']} model file "
              f"linked to {linked} picture(s)", highlight=False)
    spans = sum(1 for f in report["trace"]["families"] if len(f["sources"]) > 1)
    strong = sum(1 for lk in report["trace"]["links"] if lk["strength"] == "strong")
    out.print(f"trace: {s['families']} families ({spans} spanning both exhibits), "
              f"{strong} strong fingerprint links", highlight=False)
    out.print(f"operation: {incident['impact']['suspects']} suspects, "
              f"{incident['impact']['devices']} devices, "
              f"{sum(a['total'] for a in incident['response_actions'])} actions in "
              f"{len(incident['response_actions'])} countries", highlight=False)
    out.print(f"report: {(out_dir / 'report.html').resolve()}", highlight=False)
    out.print(f"incident report: {(out_dir / 'incident.html').resolve()}", highlight=False)


def _demo_operation(ctx: click.Context, out_dir: Path) -> None:
    import shutil

    from cairn.demo_scenario import CASE, run_operation
    from cairn.scan.pipeline import scan
    from cairn.store.people import People

    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    ctx.obj["home"] = out_dir / "home"
    ctx.obj.pop("store", None)
    store = _store(ctx)

    def scan_device(folder: Path, device: str) -> None:
        summary = scan(store, CASE, folder, arguments={"demo": "operation"})
        case_id = store.case_id(CASE)
        assert case_id is not None
        source = next(x for x in store.sources(case_id) if x["location"] == str(folder))
        People(store).link_source(case_id, device, source["id"])
        out.print(f"scanned {device}: {summary.to_dict()['totals']['files']} files",
                  highlight=False)

    res = run_operation(store, out_dir, scan_device)
    imp = res["impact"]
    out.print(f"platform records: {sum(res['imported']['counts'].values())} rows; "
              f"{res['candidates']} account candidate(s) from entity resolution", highlight=False)
    out.print(f"case {CASE}: {imp['suspects']} suspects, {imp['devices']} devices, "
              f"{imp['items_known_material']} items of known material, "
              f"{imp['items_synthetic']} synthetic, {imp['families_across_suspects']} "
              "families shared between suspects", highlight=False)
    out.print("triage (a suggestion: nothing is actioned automatically): " + ", ".join(
        f"{n} {t}" for t, n in res["tiers"].items()), highlight=False)
    for c, path in res["referrals"].items():
        out.print(f"referral {c}: {path}", highlight=False)
    out.print(f"incident report: {res['incident']}", highlight=False)


def _interrupt(signum: int, _frame: object) -> None:
    for s in (signal.SIGINT, signal.SIGTERM):  # cleanup runs once; kill -9 if it ever hangs
        signal.signal(s, signal.SIG_IGN)
    raise Interrupted(signal.Signals(signum).name)


def main() -> None:
    """The console entry: SIGINT and SIGTERM unwind every command (runs are closed, workers
    killed) and end it with one line and exit 130, never a traceback."""
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    from cairn.store.custody import UnsignedWrite

    try:
        cli(obj={})
    except UnsignedWrite as e:
        _fail(str(e))
    except Interrupted as e:
        err.print(f"interrupted ({e}): what was recorded stays; rerun the same command to "
                  "resume", markup=False, highlight=False)
        sys.exit(EXIT_INTERRUPTED)


def _register() -> None:
    from cairn.cli_custody import custody_group, keys_group, sources_group
    from cairn.cli_people import GROUPS
    from cairn.cli_platform import GROUPS as PLATFORM_GROUPS
    from cairn.cli_referral import referral_group  # also adds `suspects triage`

    for group in (custody_group, keys_group, sources_group, *GROUPS, *PLATFORM_GROUPS,
                  referral_group):
        cli.add_command(group)


_register()

if __name__ == "__main__":
    main()
