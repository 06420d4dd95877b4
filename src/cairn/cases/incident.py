"""The incident report: a case told in the structure the field's incident reports use
(executive summary, incident details, timeline, methodology, impact, indicators, response
actions by country, findings, lessons learned, recommendations), as in the write-ups of
operations like Cumberland.

Every number is computed from the store: the case report (cases/report.py), the suspects,
devices and actions (store/people.py), the custody log. The examiner's own words (lessons,
recommendations) come from a notes file, never invented. Deterministic: the same store and
notes give the same bytes (no time of writing inside). Indicators are defanged and payment
identifiers masked (defang.py). Never pixels.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from cairn.cases.defang import defang
from cairn.cases.people import CasePeople, case_people
from cairn.cases.report import TEMPLATES, ReportError, active, build
from cairn.store import Store
from cairn.store.people import People

FORMATS = ("json", "md", "html", "pdf")
# custody actions that make the timeline, with how they read
_TIMELINE_ACTIONS = {"case.created": "case opened", "source.added": "source acquired",
                     "scan.ended": "scan", "case.closed": "case closed",
                     "case.reopened": "case reopened", "matches.added": "matches added",
                     "matches.list_removed": "matches retracted (list removed)",
                     "matches.withdrawn": "matches withdrawn by the list's publisher",
                     "matches.false_positive": "matches found false positive"}
_NOTE_SECTIONS = {"lessons_learned": ("lesson",), "recommendations": ("recommend",)}


def parse_notes(text: str | None) -> dict[str, str]:
    """The examiner's notes (Markdown) by section: `## Lessons learned` and
    `## Recommendations` (any heading level, any case); text under other headings, or before
    the first, is kept under `notes`."""
    out: dict[str, list[str]] = {"lessons_learned": [], "recommendations": [], "notes": []}
    current = "notes"
    for line in (text or "").splitlines():
        m = re.match(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m:
            title = m.group(1).lower()
            current = next((k for k, words in _NOTE_SECTIONS.items()
                            if any(w in title for w in words)), "notes")
            continue
        out[current].append(line)
    return {k: "\n".join(v).strip() for k, v in out.items()}


def build_incident(store: Store, case: str, notes: str | None = None,
                   with_trace: bool = True) -> dict[str, Any]:
    """The incident report of `case` as data (what every format renders)."""
    rep = build(store, case, with_trace=with_trace)
    case_id = store.cases.id(case)
    if case_id is None:
        raise ReportError(f"no case named {case!r}")
    people = People(store)
    suspects, devices, actions = (people.suspects(case_id), people.devices(case_id),
                                  people.actions(case_id))
    found = case_people(store, case_id)
    entries = store.custody_entries(case_id)
    items = rep["items"]
    source_owner = _source_owners(devices, suspects)
    matched = [it for it in items if active(it)]
    synthetic = [it for it in items if any(f.get("synthetic") or (
        f["kind"] == "generator" and f.get("generator")) for f in it["findings"])]
    families = rep["trace"]["families"]
    across = [f for f in families
              if len({source_owner.get(s, {}).get("suspect") for s in f["sources"]} - {None})
              > 1]
    countries = sorted({s["country"] for s in suspects if s.get("country")}
                       | {a["country"] for a in actions if a.get("country")})
    agencies = sorted({s["agency"] for s in suspects if s.get("agency")}
                      | {a["agency"] for a in actions if a.get("agency")})
    timeline = _timeline(entries, devices, actions, rep["trace"]["timeline"])
    period = [timeline[0]["time"], timeline[-1]["time"]] if timeline else [None, None]
    by_country = _actions_by_country(actions, devices)
    notes_parts = parse_notes(notes)
    impact = {
        "items": len(items), "distinct_contents": len({it["sha256"] for it in items
                                                        if it["sha256"]}),
        "items_known_material": len(matched), "items_synthetic": len(synthetic),
        "families": len(families), "families_across_suspects": len(across),
        "suspects": len(suspects), "devices": len(devices),
        "devices_with_known_material": sum(1 for d in found["devices"]
                                           if d["matched_items"]),
        "suspects_with_known_material": sum(1 for s in found["suspects"]
                                            if s["matched_items"]),
        "matches_not_counted": rep["summary"].get("matches_not_counted", {}),
        # people's decisions in the workbench (the active one per item)
        "items_reviewed": rep["summary"]["items_reviewed"],
        "reviewed_by_category": rep["summary"]["reviewed_by_category"],
    }
    return {
        "case": case, "tool": rep["tool"], "record": rep["record"],
        "executive_summary": _summary(case, impact, countries, by_country),
        "incident_details": {
            "discovery": next((e["time"] for e in entries if e["action"] == "case.created"),
                              None),
            "period": period, "countries": countries, "agencies": agencies,
            "sources": [{"name": s["name"], "location": s["location"],
                         "device": source_owner.get(s["name"], {}).get("device"),
                         "suspect": source_owner.get(s["name"], {}).get("suspect")}
                        for s in rep["sources"]],
        },
        "timeline": timeline,
        "methodology": _methodology(items, suspects, source_owner),
        "impact": impact,
        "indicators": _indicators(suspects, matched),
        "response_actions": by_country,
        "findings": _findings(rep, matched, synthetic, across, found),
        "lessons_learned": notes_parts["lessons_learned"],
        "recommendations": notes_parts["recommendations"],
        "notes": notes_parts["notes"],
    }


def _source_owners(devices: list[dict], suspects: list[dict]) -> dict[str, dict]:
    """Source name -> {device, suspect}: whose exhibit it is."""
    out: dict[str, dict] = {}
    for d in devices:
        for name in d["sources"]:
            out[name] = {"device": d["id"], "suspect": d["suspect"]}
    return out


def _timeline(entries: list[dict], devices: list[dict], actions: list[dict],
              first_seen: list[dict]) -> list[dict]:
    events = []
    for e in entries:
        what = _TIMELINE_ACTIONS.get(e["action"])
        if what is None:
            continue
        d = e["details"] if isinstance(e["details"], dict) else {}
        if e["action"] == "source.added":
            what = f"source {d.get('name')} acquired"
        elif e["action"] == "scan.ended":
            s = d.get("summary") or {}
            what = (f"scan run {d.get('run')} {d.get('status')}: {s.get('new_items', 0)} "
                    f"items, {s.get('new_matches', 0)} matches")
        elif e["action"].startswith("matches."):
            what = f"{d.get('matches')} {what}" + (f" ({d.get('list')})" if d.get("list")
                                                    else "")
        events.append({"time": e["time"], "kind": "record", "what": what,
                       "by": e["examiner"]})
    for dv in devices:
        if dv.get("seized_at"):
            where = f" at {dv['seized_where']}" if dv.get("seized_where") else ""
            by = f" by {dv['seized_by']}" if dv.get("seized_by") else ""
            events.append({"time": dv["seized_at"], "kind": "seizure",
                           "what": f"device {dv['id']} ({dv['kind']}) seized{where}{by}"})
    for a in actions:
        who = f": {', '.join(a['suspects'])}" if a["suspects"] else ""
        events.append({"time": a["date"], "kind": "action",
                       "what": f"{a['kind']} in {a['country']}"
                               + (f" ({a['agency']})" if a.get("agency") else "") + who
                               + (f"; {a['outcome']}" if a.get("outcome") else "")})
    for f in first_seen:
        events.append({"time": f["time"], "kind": "first seen",
                       "what": f"{f['what']} first seen ({f.get('source', '')})".replace(
                           " ()", "")})
    events.sort(key=lambda x: (str(x["time"]), x["kind"], x["what"]))
    return events


def _actions_by_country(actions: list[dict], devices: list[dict]) -> list[dict]:
    out: dict[str, Counter] = {}
    for a in actions:
        out.setdefault(a["country"], Counter())[a["kind"]] += 1
    return [{"country": c, "actions": dict(sorted(k.items())), "total": sum(k.values())}
            for c, k in sorted(out.items())]


def _methodology(items: list[dict], suspects: list[dict],
                 owners: dict[str, dict]) -> dict[str, Any]:
    """How the material travelled, as the evidence shows it: per source, what kinds of file
    held it and how much came out of archives; the platforms the suspects' accounts name."""
    per: dict[str, Counter] = {}
    for it in items:
        c = per.setdefault(it["source"], Counter())
        c[it["kind"]] += 1
        c["in_archives"] += "!/" in it["path"]
        c["known_material"] += bool(active(it))
    platforms = sorted({a.split(":", 1)[0] for s in suspects
                        for a in s["identifiers"].get("account", []) if ":" in a})
    return {"sources": [{"source": s, **owners.get(s, {}), **dict(sorted(c.items()))}
                        for s, c in sorted(per.items())],
            "platforms": platforms}


def _indicators(suspects: list[dict], matched: list[dict]) -> dict[str, Any]:
    idents = []
    for s in suspects:
        for kind, values in sorted(s["identifiers"].items()):
            idents += [{"suspect": s["id"], "kind": kind, "value": defang(kind, v)}
                       for v in values]
    hashes = sorted({(it["sha256"], it["md5"]) for it in matched if it["sha256"]})
    return {"identifiers": idents,
            "known_material_hashes": [{"sha256": a, "md5": b} for a, b in hashes]}


def _findings(rep: dict, matched: list[dict], synthetic: list[dict], across: list[dict],
              found: CasePeople) -> dict[str, Any]:
    by_list = Counter(m["list"] for it in matched for m in active(it))
    gens: Counter = Counter()
    models: Counter = Counter()
    loras: Counter = Counter()
    for it in synthetic:
        for f in it["findings"]:
            if f["kind"] == "generator" and f.get("generator"):
                gens[f["generator"]] += 1
                if f.get("model") or f.get("model_hash"):
                    models[f"{f.get('model') or ''} [{f.get('model_hash') or '?'}]".strip()] += 1
                for lo in f.get("loras") or []:
                    if isinstance(lo, dict):
                        loras[f"{lo.get('name')} [{lo.get('hash') or '?'}]"] += 1
            elif f["kind"] == "c2pa" and f.get("synthetic"):
                gens[f"C2PA: {f.get('claim_generator')}"] += 1
    strong = [lk for lk in rep["trace"]["links"] if lk["strength"] == "strong"]
    return {
        "known_material": {"items": len(matched), "by_list": dict(sorted(by_list.items()))},
        "synthetic": {"items": len(synthetic), "generators": dict(sorted(gens.items())),
                      "models": dict(sorted(models.items())),
                      "loras": dict(sorted(loras.items()))},
        "fingerprints": [{"type": lk["type"], "key": lk["key"], "sources": lk["sources"],
                          "weight": lk["weight"]} for lk in strong],
        "families_across_suspects": [{"family": f["id"], "size": f["size"],
                                      "sources": f["sources"]} for f in across],
        "per_suspect": found["suspects"], "per_device": found["devices"],
        "unattributed_sources": found["unattributed_sources"],
    }


def _summary(case: str, impact: dict, countries: list[str], by_country: list[dict]) -> str:
    acts: Counter[str] = Counter()
    for row in by_country:
        acts.update(row["actions"])
    parts = [f"Case {case}: {impact['items']} items from {impact['devices']} device(s) of "
             f"{impact['suspects']} suspect(s)"
             + (f" in {len(countries)} countr{'y' if len(countries) == 1 else 'ies'} "
                f"({', '.join(countries)})" if countries else "") + ".",
             f"{impact['items_known_material']} item(s) match known material; "
             f"{impact['items_synthetic']} carry a synthetic-provenance claim; "
             f"{impact['families']} content famil{'y' if impact['families'] == 1 else 'ies'}, "
             f"{impact['families_across_suspects']} shared between suspects; "
             f"{impact['items_reviewed']} item(s) reviewed by a person."]
    if acts:
        parts.append("Actions: " + ", ".join(f"{n} {k}" for k, n in sorted(acts.items()))
                     + ".")
    return " ".join(parts)


# -- rendering ------------------------------------------------------------------------------
def to_markdown(r: dict) -> str:
    esc = _md_escape
    out = [f"# Incident report: case {esc(r['case'])}", "",
           f"{esc(r['tool'])}; every figure computed from the case's store. "
           "No image content.", "", "## Executive summary", "", esc(r["executive_summary"]),
           "", "## Incident details", ""]
    d = r["incident_details"]
    out += [f"- Discovery (case opened): {d['discovery']}",
            f"- Period: {d['period'][0]} to {d['period'][1]}",
            f"- Countries: {', '.join(d['countries']) or 'none recorded'}",
            f"- Agencies: {esc(', '.join(d['agencies'])) or 'none recorded'}", "",
            "| source | device | suspect | location |", "|---|---|---|---|"]
    out += [f"| {esc(s['name'])} | {esc(s['device'] or '')} | {esc(s['suspect'] or '')} | "
            f"{esc(s['location'])} |" for s in d["sources"]]
    out += ["", "## Timeline of events", "", "| time | kind | event |", "|---|---|---|"]
    out += [f"| {e['time']} | {e['kind']} | {esc(e['what'])} |" for e in r["timeline"]]
    out += ["", "## Methodology", "",
            "How the material was held and moved, as the evidence shows it.", "",
            f"Platforms named by suspects' accounts: "
            f"{esc(', '.join(r['methodology']['platforms'])) or 'none recorded'}", "",
            "| source | device | suspect | images | videos | archives | in archives | "
            "known material |", "|---|---|---|---|---|---|---|---|"]
    out += [f"| {esc(s['source'])} | {esc(s.get('device') or '')} | "
            f"{esc(s.get('suspect') or '')} | {s.get('image', 0)} | {s.get('video', 0)} | "
            f"{s.get('archive', 0)} | {s.get('in_archives', 0)} | "
            f"{s.get('known_material', 0)} |" for s in r["methodology"]["sources"]]
    out += ["", "## Impact assessment", ""]
    out += [f"- {k.replace('_', ' ')}: " + (", ".join(f"{n} {st}" for st, n in v.items()) or "none"
                                             if isinstance(v, dict) else str(v))
            for k, v in r["impact"].items()]
    out += ["", "## Indicators (defanged)", "", "| suspect | kind | value |", "|---|---|---|"]
    out += [f"| {esc(i['suspect'])} | {i['kind']} | `{i['value']}` |"
            for i in r["indicators"]["identifiers"]]
    out += ["", f"Known-material hashes: {len(r['indicators']['known_material_hashes'])} "
            "(SHA-256, MD5 in the JSON form)", "", "## Response actions by country", "",
            "| country | actions | total |", "|---|---|---|"]
    out += [f"| {a['country']} | {', '.join(f'{n} {k}' for k, n in a['actions'].items())} | "
            f"{a['total']} |" for a in r["response_actions"]]
    f = r["findings"]
    out += ["", "## Findings", "", f"Known material: {f['known_material']['items']} item(s)"
            + "".join(f"; {n} from {esc(k)}" for k, n in f["known_material"]["by_list"].items()),
            "", f"Synthetic provenance: {f['synthetic']['items']} item(s)", ""]
    for title, key in (("Generators", "generators"), ("Models", "models"), ("LoRAs", "loras")):
        if f["synthetic"][key]:
            out.append(f"- {title}: " + ", ".join(f"{esc(k)} ({n})"
                                                  for k, n in f["synthetic"][key].items()))
    if f["fingerprints"]:
        out += ["", "Strong fingerprint links:", ""]
        out += [f"- {x['type']} `{esc(x['key'][:80])}`: {esc(', '.join(x['sources']))}"
                for x in f["fingerprints"]]
    if f["families_across_suspects"]:
        out += ["", "Content families shared between suspects:", ""]
        out += [f"- family {x['family']} ({x['size']} items): {esc(', '.join(x['sources']))}"
                for x in f["families_across_suspects"]]
    out += ["", "| suspect | devices | items | matched items | synthetic items |",
            "|---|---|---|---|---|"]
    out += [f"| {esc(s['id'])} | {esc(', '.join(s['devices']))} | {s['items']} | "
            f"{s['matched_items']} | {s['synthetic_items']} |" for s in f["per_suspect"]]
    for title, key in (("Lessons learned", "lessons_learned"),
                       ("Recommendations", "recommendations")):
        out += ["", f"## {title}", "", r[key] or "_(none in the examiner's notes)_"]
    head = r["record"]["custody_head"]
    out += ["", "## Record", "", f"Examiner(s): {esc(', '.join(r['record']['examiners']))}. "
            + (f"Custody log entry {head['seq']}, {head['hash']}." if head else
               "No custody log.")]
    return "\n".join(out) + "\n"


def _md_escape(text: str) -> str:
    """Evidence-derived text in a Markdown table or line: pipes and markup neutralised."""
    return re.sub(r"([\\`*_\[\]|<>#])", r"\\\1", str(text)).replace("\n", " ")


def to_html(r: dict) -> str:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                      keep_trailing_newline=True)
    return env.get_template("incident.html").render(r=r)


def to_pdf(html: str) -> bytes:
    """The HTML printed to PDF by headless Chromium (its print stylesheet: running header,
    page numbers); refused with a clear error where no Chromium is installed."""
    browser = next((shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome",
                                               "chrome") if shutil.which(b)), None)
    if browser is None:
        raise ReportError("a PDF needs Chromium (apt install chromium); write .html and "
                          "print it, or install it and retry")
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "incident.html", Path(tmp) / "incident.pdf"
        src.write_text(html, encoding="utf-8")
        proc = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu",
                               "--no-pdf-header-footer", f"--print-to-pdf={dst}",
                               src.as_uri()], capture_output=True, timeout=120)
        if proc.returncode != 0 or not dst.exists():
            raise ReportError(f"Chromium could not print the PDF: "
                              f"{proc.stderr.decode('utf-8', 'replace')[-500:]}")
        return dst.read_bytes()


def render_incident(r: dict, fmt: str) -> str | bytes:
    if fmt == "json":
        return json.dumps(r, indent=2, ensure_ascii=False) + "\n"
    if fmt == "md":
        return to_markdown(r)
    if fmt == "html":
        return to_html(r)
    if fmt == "pdf":
        return to_pdf(to_html(r))
    raise ReportError(f"unknown incident report format {fmt!r}; one of {', '.join(FORMATS)}")
