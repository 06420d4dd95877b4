"""Case reports: JSON, CSV and a self-contained HTML page. Hashes, paths, matches, errors.

Never pixels. Deterministic: the same evidence and lists give byte-identical reports, so two
examiners can reproduce each other's results (no timestamps of report generation inside).
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from cairn import __version__
from cairn.lists.formats.csvcells import Writer
from cairn.records import MatchRecord, ReportItem, StoredItem
from cairn.store import Store, reviews
from cairn.store.matches import MATCH_STATUSES
from cairn.store.records import origin_text, origin_value
from cairn.trace.chart import timeline_svg
from cairn.trace.links import link_model_files
from cairn.trace.report import trace

TEMPLATES = Path(__file__).parent / "templates"
# a fast vPDQ travels flagged: what is shared must be bit-identical to the reference
FAST_VPDQ_NOTE = ("fast: not bit-identical to the reference vPDQ; `cairn rehash` makes it "
                  "exact before it is shared")
FAST_PDQ_NOTE = ("fast: not bit-identical to the reference PDQ; shared exports leave it out "
                 "until `cairn rehash` makes it exact")


class ReportError(Exception):
    pass


def _identity(r: StoredItem) -> dict:
    """What tells apart items sharing a path: an ordinal (repeated member names), a version
    (the file changed between scans), a note where an atime could not be kept, and where in
    a disk image it came from (`origin`: volume, file system, deleted or not)."""
    return {**({"ordinal": r["ordinal"]} if r.get("ordinal") else {}),
            **({"version": r["version"], "note": r["note"]} if r.get("version", 1) > 1 else {}),
            **({"atime_note": r["atime_note"]} if r.get("atime_note") else {}),
            **({"origin": origin_value(r["origin"])} if r.get("origin") else {})}


def _vpdq(v: Mapping[str, Any]) -> dict:
    """An item's vPDQ as reports carry it: the exact one where there is one, else the fast
    one with the reason it is not to be shared as it is."""
    return dict(v) if v["mode"] == "exact" else {**v, "note": FAST_VPDQ_NOTE}


def _pdq(p: Mapping[str, Any] | None) -> dict | None:
    """An item's PDQ as reports carry it: the exact one where there is one, else the fast
    one flagged (exports leave it out: exchange/case_export.exact_pdq)."""
    if not p:
        return None
    return dict(p) if p.get("mode", "exact") == "exact" else {**p, "note": FAST_PDQ_NOTE}


def build(store: Store, case: str, include_known_good: bool = False,
          with_trace: bool = True) -> dict:
    """The report of a case. Items matched only by known-good lists (NSRL) are counted and
    left out unless `include_known_good`; nothing is deleted. `with_trace`: families,
    fingerprints and the timeline (minutes for a million items)."""
    case_id = store.cases.id(case)
    if case_id is None:
        raise ReportError(f"no case named {case!r}; `cairn cases` lists them")
    rows = store.records.case_items(case_id)
    decided = reviews.case_active(store, case_id)
    purpose = {x["name"]: x["purpose"] for x in store.lists.all()}
    items: list[ReportItem] = []
    hidden = 0
    for r in rows:
        pdq = _pdq(r["pdq"])
        good = [m for m in r["matches"] if purpose.get(m["list"]) == "known-good"]
        r["matches"] = [m for m in r["matches"] if purpose.get(m["list"]) != "known-good"]
        if good and not r["matches"] and not include_known_good:
            hidden += 1
            continue
        items.append(cast(ReportItem, {
            "path": r["path"], "source": r["source"], "size": r["size"], "md5": r["md5"],
            "sha1": r["sha1"], "sha256": r["sha256"], "media_type": r["media_type"],
            "kind": r["kind"], "pdq": pdq, **({"vpdq": _vpdq(r["vpdq"])} if r["vpdq"] else {}),
            "matches": r["matches"], "findings": r["findings"],
            "errors": r["errors"], **({"known_good": good} if good else {}),
            **_identity(r), **_review(decided.get(r["id"])),
        }))
    link_model_files(items)
    runs = store.runs.all(case_id)
    counted = [it for it in items if active(it)]
    sources = sorted({(r["source"], json.loads(r["arguments"])["location"]) for r in runs})
    kinds: dict[str, int] = {}
    for it in items:
        kinds[it["kind"]] = kinds.get(it["kind"], 0) + 1
    summary = {
        "items": len(items), "images": kinds.get("image", 0), "videos": kinds.get("video", 0),
        "archives": kinds.get("archive", 0), "models": kinds.get("model", 0),
        "items_matched": len(counted),
        # matches kept on record that no longer count: withdrawn, false positive, list removed
        "matches_not_counted": {st: n for st in MATCH_STATUSES[1:] if (n := sum(
            1 for it in items for m in it["matches"] if m.get("status") == st))},
        "items_with_errors": sum(1 for it in items if it["errors"]),
        "items_with_generator_claims": sum(1 for it in items if any(
            f["kind"] == "generator" and f.get("generator") for f in it["findings"])),
        "items_declared_synthetic": sum(1 for it in items if any(
            f.get("synthetic") for f in it["findings"])),
        "known_good_hidden": hidden,
        # a person's decision (the workbench's reviews): the active one per item
        "items_reviewed": sum(1 for it in items if "review" in it),
        "reviewed_by_category": dict(sorted(_by_category(items).items())),
        "scan_runs": len(runs),
        # work still undone: a complete rescan supersedes the runs it finished for
        "incomplete_runs": sum(1 for r in runs if r["status"] not in ("complete", "superseded")),
        # of those, left `running` by a process that is gone (killed, crashed, host rebooted)
        "incomplete_runs_dead": sum(1 for r in runs if r.get("process") == "gone"),
    }
    used = sorted({m["list"] for it in items for m in it["matches"]
                   if m.get("status", "active") == "active"})
    lists = [{"name": x["name"], "entries": x["entry_count"], "format": x["format"],
              "source_file": Path(x["source_file"]).name, "pdq_threshold": x["pdq_threshold"],
              "purpose": x["purpose"]}
             for x in store.lists.all()]
    traced, _ = trace(store.records.case_signals(case_id)) if with_trace else (
        {"families": [], "links": [], "sources": [], "timeline": []}, None)
    summary["families"] = len(traced["families"])
    summary["fingerprint_links"] = len(traced["links"])
    from cairn.cases.people import case_people

    return {"case": case, "tool": f"cairn {__version__}", "summary": summary,
            "record": record(store, case_id, runs), "people": case_people(store, case_id),
            "trace": {k: traced[k] for k in ("families", "links", "sources", "timeline")},
            "sources": [{"name": s, "location": loc} for s, loc in sources],
            "lists": lists, "lists_matched": used, "items": items}


def _review(r: reviews.Review | None) -> dict:
    """An item's active review as reports carry it: scheme, category, who and when."""
    if r is None:
        return {}
    return {"review": {"scheme": r.scheme, "category": r.category, "by": r.user,
                       "at": r.created_at}}


def _by_category(items: list[ReportItem]) -> dict[str, int]:
    out: dict[str, int] = {}
    for it in items:
        if "review" in it:
            k = f"{it['review']['scheme']} {it['review']['category']}"
            out[k] = out.get(k, 0) + 1
    return out


def review_text(item: ReportItem) -> str:
    r = item.get("review")
    return f"{r['scheme']}:{r['category']}" if r else ""


def active(item: Mapping[str, Any]) -> list[MatchRecord]:
    """An item's matches that count (active); the others stay listed with their status.
    (`item`: a ReportItem, or one read back from a report's JSON.)"""
    return [m for m in item["matches"] if m.get("status", "active") == "active"]


# custody actions that record reading the case, not changing it: a report names the last
# entry before them, so the same store gives the same report however often it is written
READS = ("report.written", "custody.exported", "sources.verified", "item.viewed",
         "item.revealed")


def record(store: Store, case_id: int, runs: list[dict]) -> dict:
    """Who did what with which tool: the scan runs (examiner, host, tool version, times,
    arguments' location, status) and the case's custody head."""
    entries = store.custody_entries(case_id)
    changes = [e for e in entries if e["action"] not in READS]
    head = changes[-1] if changes else None
    return {
        "examiners": sorted({r["examiner"] for r in runs} | {e["examiner"] for e in changes}),
        "scan_runs": [{"run": r["id"], "source": r["source"], "examiner": r["examiner"],
                       "host": r["host"], "tool_version": r["tool_version"],
                       "started_at": r["started_at"], "ended_at": r["ended_at"],
                       "status": r["status"]} for r in runs],
        "custody_head": {"seq": head["seq"], "hash": head["hash"], "time": head["time"],
                         "signed": bool(head["signature"])} if head else None,
    }


def to_json(report: dict) -> str:
    return json.dumps(report, indent=2, sort_keys=False, ensure_ascii=False) + "\n"


CSV_COLUMNS = ["source", "path", "kind", "media_type", "size", "md5", "sha1", "sha256", "pdq",
               "pdq_quality", "matched", "matches", "findings", "errors", "review",
               "reviewed_by", "origin"]


def to_csv(report: dict) -> str:
    """One row per item. Text cells that a spreadsheet would run as a formula (a file or
    source name beginning `=`, `+`, `-`, `@`) are prefixed with `'` (see csvcells)."""
    buf = io.StringIO()
    w = Writer(buf)
    w.writerow(CSV_COLUMNS)
    for it in report["items"]:
        pdq = it["pdq"] or {}
        w.writerow([
            it["source"], it["path"], it["kind"], it["media_type"] or "", it["size"],
            it["md5"] or "", it["sha1"] or "", it["sha256"] or "", pdq.get("hash", ""),
            pdq.get("quality", ""), "yes" if active(it) else "no",
            " | ".join(f"{m['list']}:{m['signal']}:d={m['distance']}:{m['transform']}"
                       + (f" [{m['status']}]" if m.get("status", "active") != "active" else "")
                       for m in it["matches"]),
            " | ".join(finding_summary(f) for f in it["findings"]),
            " | ".join(f"{e['stage']}: {e['message']}" for e in it["errors"]),
            review_text(it), (it.get("review") or {}).get("by", ""),
            origin_text(it.get("origin")) or "",  # a container's fields as canonical JSON
        ])
    return buf.getvalue()


def _generator(f: dict) -> str:
    stealth = f.get("stealth") or {}
    parts = [f.get("generator"), f.get("model"),
             f"[{f['model_hash']}]" if f.get("model_hash") else None,
             f"seed {f['seed']}" if f.get("seed") is not None else None,
             "loras " + ",".join(str(x.get("name")) for x in f["loras"])
             if f.get("loras") else None,
             "AIR " + ",".join(str(r["air"]) for r in f["resources"] if r.get("air"))
             if any(r.get("air") for r in f.get("resources") or []) else None,
             f"in {stealth.get('channel')} LSBs ({stealth.get('signature')})"
             if stealth else None]
    return " ".join(str(p) for p in parts if p)


def _c2pa(f: dict) -> str:
    signer = (f.get("signer") or {}).get("common_name")
    return " ".join(str(x) for x in (f.get("state"), f.get("claim_generator"),
                                     signer and f"signed by {signer}",
                                     ",".join(f.get("digital_source_types") or []),
                                     f.get("state") != "remote"  # (its error says)
                                     and f.get("remote_manifest")
                                     and f"also names a remote manifest "
                                     f"{f['remote_manifest']} (not fetched)")
                    if x)


# One line per finding kind, for CSV cells, table rows and the terminal. Every kind the
# provenance readers emit (provenance/finding.py KINDS) has one: tests/test_report_registry.py.
SUMMARIES: dict[str, Callable[[dict], str]] = {
    "generator": _generator,
    "digital_source_type": lambda f: str(f.get("code", "")),
    "signature": lambda f: f"{f.get('scheme')} " + (f"valid: {f.get('signer')}"
                                                     if f.get("valid") else "INVALID"),
    "capture_time": lambda f: str(f.get("time")),
    "c2pa": _c2pa,
    "watermark": lambda f: (f"{f.get('generator_family')} {f.get('decision')} "
                            f"({f.get('matching_bits')}/{f.get('bits')} bits)"),
    "detector": lambda f: (f"{f.get('name')} score {f.get('score')}"
                           + (" (at or above threshold)" if f.get("above_threshold") else "")),
    "model_file": lambda f: (f"{f.get('format')} AutoV2 {f.get('autov2')} "
                             f"sha256 {f.get('sha256')}"),
}


def finding_summary(f: dict) -> str:
    """One line per finding, for CSV cells and table rows (a kind without a summary is
    still named, with its strength and source)."""
    kind = f["kind"]
    what = SUMMARIES[kind](f) if kind in SUMMARIES else ""
    text = f"{kind} ({f['strength']}, {f['source']})" + (f": {what}" if what else "")
    return text + (f" [error: {f['error']}]" if f.get("error") else "")


def to_html(report: dict) -> str:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                      keep_trailing_newline=True)
    matched = [it for it in report["items"] if it["matches"]]  # with their status
    with_errors = [it for it in report["items"] if it["errors"]]
    with_findings = [it for it in report["items"] if it["findings"]]
    reviewed = [it for it in report["items"] if it.get("review")]
    env.filters["finding"] = finding_summary
    svg = timeline_svg(report["trace"]["timeline"], "First seen", standalone=False)
    return env.get_template("report.html").render(r=report, matched=matched,
                                                  with_errors=with_errors,
                                                  with_findings=with_findings,
                                                  reviewed=reviewed,
                                                  timeline_svg=Markup(svg))


def _vics(report: dict, tlp: str, fast: list[str] | None = None) -> tuple[str, list]:
    from cairn.exchange.case_export import write_case_vics
    from cairn.lists.formats.markings import Withheld

    buf = io.StringIO()
    held: list[Withheld] = []
    write_case_vics(report, buf, tlp=tlp, withheld=held, fast=fast)
    return buf.getvalue(), held


@dataclass(frozen=True, slots=True)
class Renderer:
    """One report format: how a built report becomes its text, and what that text is. `tlp`
    is the marking the file travels under (formats that carry list entries leave out those
    marked stricter, and return them as withheld; formats that share hashes take `fast`, a
    list given the SHA-256 of pictures written without their PDQ, only a fast one stored)."""
    name: str
    media_type: str
    extension: str
    render: Callable[..., tuple[str, list]]


RENDERERS: dict[str, Renderer] = {r.name: r for r in (
    # the examiner's own reports carry every PDQ with its mode (a fast one flagged in JSON)
    Renderer("json", "application/json", ".json", lambda r, tlp, fast=None: (to_json(r), [])),
    Renderer("csv", "text/csv", ".csv", lambda r, tlp, fast=None: (to_csv(r), [])),
    Renderer("html", "text/html", ".html", lambda r, tlp, fast=None: (to_html(r), [])),
    Renderer("vics", "application/json", ".json", _vics),
)}
FORMATS = tuple(RENDERERS)


@dataclass(frozen=True, slots=True)
class Rendered:
    format: str
    media_type: str
    text: str
    withheld: list  # entries left out for their marking (markings.Withheld)
    custody_head: str | None
    # SHA-256 of pictures written without a PDQ: only a fast one is stored (`cairn rehash`)
    fast_pdq: tuple[str, ...] = ()


def render(report: dict, fmt: str, tlp: str = "amber") -> str:
    return _renderer(fmt).render(report, tlp)[0]


def _renderer(fmt: str) -> Renderer:
    if fmt not in RENDERERS:
        raise ReportError(f"unknown report format {fmt!r}; one of {', '.join(FORMATS)}")
    return RENDERERS[fmt]


def write_report(store: Store, case: str, fmt: str, include_known_good: bool = False,
                 with_trace: bool = True, tlp: str = "amber", output: str | None = None
                 ) -> Rendered:
    """Build and render a case's report, and log it in the case's custody chain (format,
    where it went, its SHA-256, the custody head it reflects): what the CLI's `report` and the
    HTTP API's report download both do."""
    renderer = _renderer(fmt)
    report = build(store, case, include_known_good, with_trace=with_trace)
    fast: list[str] = []
    text, held = renderer.render(report, tlp, fast=fast)
    head = report.get("record", {}).get("custody_head")
    store.log_event(store.cases.id(case), "report.written", f"case:{case}",
                    {"format": fmt, "output": output,
                     "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
                     "custody_head": head, **({"fast_pdq_left_out": len(fast)} if fast else {})})
    return Rendered(fmt, renderer.media_type, text, held, head, tuple(fast))
