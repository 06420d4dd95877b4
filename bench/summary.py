"""One table of every benchmark figure: ours, its reference and target, met or missed, and
the command that measured it. The last step of `make bench`.

    .venv/bin/python bench/summary.py [--since 2026-12-06T20:00:00Z] [--markdown]

Reads the figure files the bench scripts wrote (bench/figures.py; $CAIRN_BENCH_FIGURES or
bench-out/figures/). Every figure declared in figures.CATALOGUE gets a row: "not run" where
no file holds it, with the command that would measure it; a figure measured at several sizes
(the index at 10M and 100M) a row per size; a record whose key is no longer declared still
gets a row. Figures measured before `--since` (an earlier run, the 100M index's guarded
target) carry their date; under BENCH_SCALE=quick a verdict says "(quick)": the sizes were
small and the issue's target only indicative.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

from figures import CATALOGUE, SPECS, figures_dir, judge

NOT_RUN = "not run"


@dataclass(frozen=True)
class Row:
    issue: str
    figure: str
    ours: str
    reference: str  # what it was measured against, and the target
    verdict: str  # met, MISSED, not run, not measured, no target, n/a (target at ...)
    when: str  # "this run", or the date of an earlier run
    command: str


def size_value(label: str | None) -> float:
    """"100M" -> 1e8, for ordering rows of one figure by size (largest first)."""
    if not label:
        return 0.0
    mult = {"M": 1e6, "k": 1e3, "G": 2.0**30}.get(label[-1:], 1.0)
    try:
        return float(label[:-1] if mult != 1.0 else label) * mult
    except ValueError:
        return 0.0


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return ""
    if unit == "x":
        return f"{value:.2f}x"
    if unit == "%":
        return f"{value:.0f}%" if value == int(value) else f"{value:.1f}%"
    a = abs(value)
    text = (f"{value:,.0f}" if a >= 100 or value == int(value) else f"{value:.1f}" if a >= 10
            else f"{value:.2f}" if a >= 0.1 else f"{value:.2g}")
    return f"{text} {unit}"


def fmt_target(target: str, unit: str) -> str:
    """">= 1000" in q/s -> ">= 1,000 q/s"; ">= 0.8" in x -> ">= 0.8x"."""
    if not target:
        return ""
    op, _, bound = target.partition(" ")
    try:
        n = float(bound.replace(",", ""))
    except ValueError:
        return target
    text = f"{n:,.0f}" if n == int(n) else f"{n:g}"
    return f"{op} {text}{unit}" if unit in ("x", "%") else f"{op} {text} {unit}"


def verdict(rec: dict, scale: str) -> str:
    if rec.get("value") is None:
        return "not measured"
    if not rec.get("target"):
        return "no target"
    at, size = rec.get("at"), rec.get("size")
    if at and size and size != at:
        return f"n/a (target at {at})"
    met = judge(rec["value"], rec["target"])
    if met is None:
        return "no target"
    return ("met" if met else "MISSED") + (" (quick)" if scale == "quick" else "")


def _row(rec: dict, run: dict, since: str | None) -> Row:
    spec = SPECS.get(rec["key"])
    issue = rec.get("issue", spec.issue if spec else None)
    label = rec.get("figure") or (spec.label if spec else rec["key"])
    if rec.get("size"):
        label = f"{label} [{rec['size']}]"
    unit = rec.get("unit", "")
    target = fmt_target(rec.get("target", ""), unit)
    if target and rec.get("at"):
        target += f" at {rec['at']}"
    reference = "; ".join(x for x in (rec.get("reference", ""),
                                       f"target {target}" if target else "") if x)
    stamp = run.get("measured_at", "")
    when = "this run" if since and stamp >= since else stamp[:10] or "?"
    return Row(f"#{issue}" if issue else "-", label, fmt(rec.get("value"), unit), reference,
               verdict(rec, run.get("scale", "full")), when, run.get("command", "?"))


def build_rows(runs: list[dict], since: str | None = None) -> list[Row]:
    """Every declared figure (in CATALOGUE's order), then any undeclared record: the newest
    record of each key and size, or a "not run" row."""
    newest: dict[tuple[str, str | None], tuple[dict, dict]] = {}
    for run in runs:
        for rec in run.get("figures", []):
            k = (rec["key"], rec.get("size"))
            if k not in newest or run.get("measured_at", "") > newest[k][1].get(
                    "measured_at", ""):
                newest[k] = (rec, run)
    by_key: dict[str, list[tuple[dict, dict]]] = {}
    for (key, _), pair in newest.items():
        by_key.setdefault(key, []).append(pair)
    rows = []
    for spec in CATALOGUE:
        found = sorted(by_key.pop(spec.key, []), key=lambda p: -size_value(p[0].get("size")))
        if not found:
            target = fmt_target(spec.target, spec.unit)
            label = f"{spec.label} [{spec.at}]" if spec.at else spec.label
            rows.append(Row(f"#{spec.issue}" if spec.issue else "-", label, "",
                            (f"target {target}" + (f" at {spec.at}" if spec.at else ""))
                            if target else "", NOT_RUN, "", spec.command))
        rows += [_row(rec, run, since) for rec, run in found]
    for key in sorted(by_key):
        rows += [_row(rec, run, since) for rec, run in by_key[key]]
    return rows


def load_runs(folder: Path) -> tuple[list[dict], list[str]]:
    """The figure files in `folder`, and a warning for each one that could not be read."""
    runs, problems = [], []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            doc = json.loads(path.read_text())
            if not isinstance(doc, dict) or not isinstance(doc.get("figures"), list):
                raise ValueError("no figures list")
            runs.append(doc)
        except (OSError, ValueError) as e:
            problems.append(f"{path.name}: not read ({e})")
    return runs, problems


HEADER = ("#", "figure", "ours", "reference / target", "verdict", "when", "measured by")


def render(rows: list[Row], markdown: bool = False) -> str:
    """The table; in text, each command once, numbered beneath it (the rows would be too
    wide with it repeated), in Markdown beside each row."""
    if markdown:
        cells = [(r.issue, r.figure, r.ours, r.reference, r.verdict, r.when, f"`{r.command}`")
                 for r in rows]
        lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
        lines += ["| " + " | ".join(c.replace("|", "\\|") if c else " " for c in row) + " |"
                  for row in cells]
        return "\n".join(lines)
    notes: dict[str, int] = {}
    for r in rows:
        notes.setdefault(r.command, len(notes) + 1)
    cells = [(r.issue, r.figure, r.ours, r.reference, r.verdict, r.when,
              f"[{notes[r.command]}]") for r in rows]
    widths = [max(len(x) for x in col) for col in zip(HEADER, *cells, strict=False)]
    right = {2}  # ours: numbers, right-aligned
    out = []
    for row in (HEADER, *cells):
        out.append("  ".join(c.rjust(w) if i in right else c.ljust(w)
                             for i, (c, w) in enumerate(zip(row, widths, strict=True))).rstrip())
    out.append("")
    out += [f"[{k}] {command}" for command, k in notes.items()]
    return "\n".join(out)


def tally(rows: list[Row]) -> str:
    met = sum(r.verdict.startswith("met") for r in rows)
    missed = sum(r.verdict.startswith("MISSED") for r in rows)
    absent = sum(r.verdict in (NOT_RUN, "not measured") for r in rows)
    return (f"{len(rows)} figures: {met} met, {missed} missed, {absent} not run or not "
            f"measured, {len(rows) - met - missed - absent} without a target at this size")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", type=Path, default=None, help="figure files [bench-out/figures]")
    ap.add_argument("--since", help="UTC time (2026-12-06T20:00:00Z) this run started: "
                    "figures from before it are marked with their date")
    ap.add_argument("--markdown", action="store_true", help="a Markdown table")
    args = ap.parse_args()
    runs, problems = load_runs(args.dir or figures_dir())
    rows = build_rows(runs, args.since)
    print("\nSummary of the benchmarks' figures (bench/summary.py)\n")
    print(render(rows, args.markdown))
    print(f"\n{tally(rows)}")
    for p in problems:
        print(f"warning: {p}")


if __name__ == "__main__":
    main()
