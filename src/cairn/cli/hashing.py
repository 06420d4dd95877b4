"""`cairn hash`, `cairn match` and `cairn provenance`: one file at a time, nothing recorded
(`match` reads the lists). The hashing and provenance options `scan` shares live here."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from cairn.cli.text import styled

if TYPE_CHECKING:
    from cairn.records import ScanRecord
    from cairn.scan.options import HashOptions

from cairn.cli.common import (
    EXIT_NO_MATCH,
    EXIT_OK,
    _emit_json,
    _fail,
    _store,
    err,
    out,
)


# -- hash / match ---------------------------------------------------------------------------
def mode_option(default: str):  # noqa: ANN201 - a click decorator
    return click.option(
        "--mode", type=click.Choice(["exact", "fast"]), default=default, show_default=True,
        help="PDQ mode: exact = full-resolution decode, bit-identical to "
             "python-threatexchange; fast = colour/grey JPEGs decoded at reduced scale "
             "(>= 512 px a side) and hashed with the fast core, recorded as `fast` "
             "(bench/bench_robustness.py: no match lost against exact). Videos: exact = "
             "the reference vPDQ's frames and pixels; fast = only the video decoded that "
             "the hashed frames need (bench/bench_video.py).")


VIDEO_OPTION = click.option(
    "--video-interval", type=click.FloatRange(0), default=1.0, show_default=True,
    help="Seconds between hashed video frames (0: every frame).")


def _hash_file(path: Path, mode: str = "exact", video_interval: float = 1.0,
               opts: HashOptions | None = None) -> list[ScanRecord]:
    """Records of one file: the file itself first, then any archive members, as a scan sees
    them (member paths prefixed with the file's path). `provenance`: HashOptions' reader
    settings (keys, trust, detector); pixels are decoded once, by media/decode."""
    from cairn.scan.options import HashOptions

    return next(_hash_files([path], opts or HashOptions(mode, video_interval)))


def _hash_files(paths: Iterable[Path], opts: HashOptions) -> Iterator[list[ScanRecord]]:
    """`_hash_file` of each path, in order, read by one isolated worker that always has the
    next file queued."""
    from cairn.media.limits import Limits
    from cairn.media.walk import walk
    from cairn.scan.isolation import records_of_each

    names = [str(p) for p in paths]
    entries = []
    for name in names:
        (entry,) = walk(name)  # a file walks to exactly one entry
        entries.append(entry)
    for path, entry, records in zip(names, entries, records_of_each(entries, Limits(), opts),
                                    strict=True):
        prefix = path[: -len(entry.path)] if path.endswith(entry.path) else ""
        for r in records:
            r["path"] = prefix + r["path"]
        yield [records[-1], *records[:-1]]


def _public(rec: ScanRecord, with_dihedral: bool = False) -> dict:
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
    if rec.get("origin"):  # where a member came from: phone path, app, deleted, cache entry
        d["origin"] = rec["origin"]
    d["errors"] = rec.get("errors", [])
    return d


FileArgs = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.command("hash")
@click.argument("files", nargs=-1, required=True, type=FileArgs)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--dihedral", is_flag=True, help="Also print the 8 rotated/flipped PDQ hashes.")
@click.option("--members", is_flag=True,
              help="Also print every member of an archive, phone extraction (UFDR, iOS or "
                   "Android file system) or thumbnail cache, with its origin.")
@mode_option("exact")
@VIDEO_OPTION
def hash_cmd(files: tuple[Path, ...], as_json: bool, dihedral: bool, mode: str,
             video_interval: float, members: bool = False) -> None:
    """MD5, SHA-1, SHA-256, PDQ (images) and vPDQ (videos) of files. Nothing is recorded."""
    from cairn.scan.options import HashOptions

    opts = HashOptions(mode, video_interval, fallbacks=False)  # no lookups: no query variants
    results = [_public(r, dihedral) for recs in _hash_files(files, opts)
               for r in recs[: None if members else 1]]
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
        if r.get("origin"):  # a container's fields, or a disk image's own description
            o = r["origin"]
            out.print("  origin " + (", ".join(f"{k}={v}" for k, v in o.items())
                                     if isinstance(o, dict) else str(o)), highlight=False)
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


def check_detector(path: Path | None) -> str | None:
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


def parse_novelai_keys(pairs: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for k in pairs:
        name, sep, b64 = k.partition("=")
        if not sep or not name:
            _fail(f"--novelai-key wants NAME=BASE64, got {k!r}")
        out[name] = b64
    return out


def read_trust(path: Path | None) -> str | None:
    """The examiner's C2PA trust anchors, checked before any file is read: a damaged bundle
    would otherwise fail every file's validation."""
    if path is None:
        return None
    from cairn.provenance.c2pa_reader import TrustError, trust_anchors

    try:
        return trust_anchors(path.read_text(encoding="ascii", errors="replace"))
    except TrustError as e:
        _fail(f"{path}: {e} (--c2pa-trust wants a PEM bundle of certificates)")


@click.command("provenance")
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
    from cairn.scan.options import HashOptions

    keys = {"novelai": NOVELAI_KEY, **parse_novelai_keys(novelai_keys)}
    trust = read_trust(c2pa_trust)
    det = check_detector(detector)
    try:
        cat = Catalogue.read(catalogue) if catalogue else None
    except (CatalogueError, OSError) as e:
        _fail(str(e))
    opts = HashOptions("exact", c2pa_trust=trust, novelai_keys=tuple(keys.items()),
                       detector=det, fallbacks=False)  # read in the isolated worker, like a scan
    results: list[dict[str, Any]] = []
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


@click.command("match")
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
    lists = store.lists.all()
    records = [r for f in files for r in _hash_file(f)]
    _, matches = match_records(store, matcher_for(store), records)
    results = []
    for rec, found in zip(records, matches, strict=True):
        entries = store.lists.by_id(m.entry_id for m in found)
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
