"""Case reports: JSON, CSV and a self-contained HTML page. Hashes, paths, matches, errors.

Never pixels. Deterministic: the same evidence and lists give byte-identical reports, so two
examiners can reproduce each other's results (no timestamps of report generation inside).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from cairn import __version__
from cairn.store import Store

FORMATS = ("json", "csv", "html")
TEMPLATES = Path(__file__).parent / "templates"


class ReportError(Exception):
    pass


def build(store: Store, case: str) -> dict:
    case_id = store.case_id(case)
    if case_id is None:
        raise ReportError(f"no case named {case!r}; `cairn cases` lists them")
    rows = store.case_items(case_id)
    items = []
    for r in rows:
        pdq = r["pdq"]
        items.append({
            "path": r["path"], "source": r["source"], "size": r["size"], "md5": r["md5"],
            "sha1": r["sha1"], "sha256": r["sha256"], "media_type": r["media_type"],
            "kind": r["kind"], "pdq": pdq, **({"vpdq": r["vpdq"]} if r["vpdq"] else {}),
            "matches": r["matches"], "findings": [],
            "errors": r["errors"],
        })
    runs = store.runs(case_id)
    sources = sorted({(r["source"], json.loads(r["arguments"])["location"]) for r in runs})
    kinds: dict[str, int] = {}
    for it in items:
        kinds[it["kind"]] = kinds.get(it["kind"], 0) + 1
    summary = {
        "items": len(items), "images": kinds.get("image", 0), "videos": kinds.get("video", 0),
        "archives": kinds.get("archive", 0),
        "items_matched": sum(1 for it in items if it["matches"]),
        "items_with_errors": sum(1 for it in items if it["errors"]),
        "scan_runs": len(runs),
        "incomplete_runs": sum(1 for r in runs if r["status"] != "complete"),
    }
    used = sorted({m["list"] for it in items for m in it["matches"]})
    lists = [{"name": x["name"], "entries": x["entry_count"], "format": x["format"],
              "source_file": Path(x["source_file"]).name, "pdq_threshold": x["pdq_threshold"]}
             for x in store.lists()]
    return {"case": case, "tool": f"cairn {__version__}", "summary": summary,
            "sources": [{"name": s, "location": loc} for s, loc in sources],
            "lists": lists, "lists_matched": used, "items": items}


def to_json(report: dict) -> str:
    return json.dumps(report, indent=2, sort_keys=False, ensure_ascii=False) + "\n"


CSV_COLUMNS = ["source", "path", "kind", "media_type", "size", "md5", "sha1", "sha256", "pdq",
               "pdq_quality", "matched", "matches", "errors"]


def to_csv(report: dict) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for it in report["items"]:
        pdq = it["pdq"] or {}
        w.writerow([
            it["source"], it["path"], it["kind"], it["media_type"] or "", it["size"],
            it["md5"] or "", it["sha1"] or "", it["sha256"] or "", pdq.get("hash", ""),
            pdq.get("quality", ""), "yes" if it["matches"] else "no",
            " | ".join(f"{m['list']}:{m['signal']}:d={m['distance']}:{m['transform']}"
                       for m in it["matches"]),
            " | ".join(f"{e['stage']}: {e['message']}" for e in it["errors"]),
        ])
    return buf.getvalue()


def to_html(report: dict) -> str:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                      keep_trailing_newline=True)
    matched = [it for it in report["items"] if it["matches"]]
    with_errors = [it for it in report["items"] if it["errors"]]
    return env.get_template("report.html").render(r=report, matched=matched,
                                                  with_errors=with_errors)


def render(report: dict, fmt: str) -> str:
    if fmt == "json":
        return to_json(report)
    if fmt == "csv":
        return to_csv(report)
    if fmt == "html":
        return to_html(report)
    raise ReportError(f"unknown report format {fmt!r}; one of {', '.join(FORMATS)}")
