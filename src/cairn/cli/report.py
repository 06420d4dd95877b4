"""`cairn report`: a case's report in every registered format, and the incident report."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from cairn.cli.text import json_safe, visible_lines

if TYPE_CHECKING:
    pass

from cairn.cli.common import (
    EXIT_PARTIAL,
    TLP_CHOICE,
    _fail,
    _store,
    err,
    existing_case,
)

# -- report / cases -------------------------------------------------------------------------
# cases/report.py RENDERERS, named here so that `cairn --help` need not import the store
# (tests/test_report_registry.py holds the two equal)
REPORT_FORMATS = ("json", "csv", "html", "vics")


@click.command("report")
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
    """A case's report: every item with its hashes, matches, findings and errors. No pixels.

    vics shares only exact PDQ: pictures with only a fast one go without it, counted on
    standard error, and the exit status is 3 (`cairn rehash --case C` makes them exact)."""
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
    if done.fast_pdq:  # written, but not whole: said, and the exit status says so too
        from cairn.exchange.case_export import fast_pdq_note

        err.print(f"warning: {fast_pdq_note(len(done.fast_pdq), case)}", style="yellow",
                  highlight=False, soft_wrap=True)
        sys.exit(EXIT_PARTIAL)


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
    store.log_event(store.cases.id(case), "report.written", f"case:{case}",
                    {"format": f"incident-{kind}", "output": str(output) if output else None,
                     "sha256": hashlib.sha256(raw).hexdigest(),
                     "custody_head": data["record"]["custody_head"]})
    if output:
        output.write_bytes(raw)
        err.print(f"wrote {output}", highlight=False)
    else:
        tty = sys.stdout.isatty()
        click.echo(visible_lines(raw.decode()) if tty else raw.decode(), nl=False)
