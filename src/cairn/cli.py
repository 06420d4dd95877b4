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
    TLP_CHOICE,
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
# cases/report.py RENDERERS, named here so that `cairn --help` need not import the store
# (tests/test_report_registry.py holds the two equal)
REPORT_FORMATS = ("json", "csv", "html", "vics")


@cli.command("report")
@click.option("--case", required=True)
@click.option("--format", "fmt", type=click.Choice([*REPORT_FORMATS, "incident"]),
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
    from cairn.cases.report import ReportError, write_report

    existing_case(ctx, case)
    if fmt == "incident":
        return _incident_report(ctx, case, notes, output, not no_trace)
    try:
        done = write_report(_store(ctx), case, fmt, include_known_good, not no_trace, tlp,
                            str(output) if output else None)
    except ReportError as e:
        _fail(str(e))
    if done.withheld:
        from cairn.lists.formats.markings import describe

        err.print(describe(done.withheld), style="yellow", highlight=False)
    text = done.text
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
    from cairn.cli_exchange import exchange_group, feedback_cmd, serve_cmd
    from cairn.cli_lists import lists_group, rematch_cmd
    from cairn.cli_people import GROUPS
    from cairn.cli_platform import GROUPS as PLATFORM_GROUPS
    from cairn.cli_referral import referral_group  # also adds `suspects triage`
    from cairn.cli_users import GROUPS as USER_GROUPS

    for group in (lists_group, rematch_cmd, serve_cmd, exchange_group, feedback_cmd,
                  custody_group, keys_group, sources_group, *GROUPS, *PLATFORM_GROUPS,
                  referral_group, *USER_GROUPS):
        cli.add_command(group)


_register()

if __name__ == "__main__":
    main()
