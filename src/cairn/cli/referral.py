"""`cairn referral` (a package for one partner country, and its check) and `cairn suspects
triage` (advisory tiers). Thin adapters over cases/referral.py and cases/triage.py."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from cairn.cli.common import (
    EXIT_NO_MATCH,
    EXIT_OK,
    EXIT_PARTIAL,
    _emit_json,
    _fail,
    _store,
    existing_case,
    out,
)
from cairn.cli.people import suspects_group

JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def _create_options(f: Callable) -> Callable:
    for opt in reversed((
            click.option("--case", "case", help="The case."),
            click.option("--country", help="The partner country (ISO 3166-1 alpha-2): its "
                                           "suspects are referred."),
            click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path),
                         help="A new (or empty) folder to write the package to."),
            click.option("--tlp", default="amber", show_default=True,
                         help="The package's marking; items marked stricter are withheld."),
            click.option("--agency", help="The referring agency, as the STIX Identity names "
                                          "it [default: the examiner]."),
            JSON_OPTION)):
        f = opt(f)
    return f


@click.group("referral", invoke_without_command=True)
@_create_options
@click.pass_context
def referral_group(ctx: click.Context, case: str | None, country: str | None,
                   output: Path | None, tlp: str, agency: str | None, as_json: bool) -> None:
    """A referral package for one country's suspects: `cairn referral --case C --country NL
    -o DIR` (the same as `referral create`); `cairn referral verify DIR` checks one."""
    if ctx.invoked_subcommand is None:
        _create(ctx, case, country, output, tlp, agency, as_json)


@referral_group.command("create")
@_create_options
@click.pass_context
def referral_create(ctx: click.Context, case: str | None, country: str | None,
                    output: Path | None, tlp: str, agency: str | None, as_json: bool) -> None:
    """Write the package: summary (HTML, JSON), VICS, STIX 2.1, custody extract, and a
    manifest of every file's SHA-256, signed when the examiner has a key. Hashes and
    records only, never pixels. The referral is logged as an action of kind `referral`."""
    _create(ctx, case, country, output, tlp, agency, as_json)


def _create(ctx: click.Context, case: str | None, country: str | None, output: Path | None,
            tlp: str, agency: str | None, as_json: bool) -> None:
    from cairn.cases.people import PeopleError
    from cairn.cases.referral import ReferralError, create
    from cairn.store.custody import UnsignedWrite

    missing = [n for n, v in (("--case", case), ("--country", country), ("-o", output))
               if not v]
    if missing:
        _fail(f"a referral needs {', '.join(missing)} (e.g. cairn referral --case C "
              "--country NL -o DIR); `cairn referral verify DIR` checks one")
    assert case and country and output
    store = _store(ctx)
    existing_case(ctx, case)
    try:
        res = create(store, case, country, output, tlp=tlp, agency=agency)
    except (ReferralError, PeopleError, UnsignedWrite) as e:
        _fail(str(e))
    if as_json:
        _emit_json(res)
        if res.get("fast_pdq_left_out"):
            sys.exit(EXIT_PARTIAL)
        return
    out.print(f"referral of case {case} to {res['country']}: {len(res['suspects'])} "
              f"suspect(s), {res['items']} item(s), {res['files']} files in {output}, "
              f"TLP:{res['tlp'].upper()}, "
              + ("manifest signed" if res["signed"] else
                 "manifest UNSIGNED (no examiner key: `cairn keys create`)"),
              highlight=False, soft_wrap=True)
    if res["withheld_note"]:
        out.print(f"note: {res['withheld_note']}", highlight=False, soft_wrap=True)
    out.print(f"logged as action {res['action']}; check with: cairn referral verify {output}",
              highlight=False, soft_wrap=True)
    if res.get("fast_pdq_left_out"):  # written, but not whole: the exit status says so
        out.print(f"warning: {res['fast_pdq_note']}", style="yellow", highlight=False,
                  soft_wrap=True)
        sys.exit(EXIT_PARTIAL)


@referral_group.command("verify")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--key", help="The signer's public key (base64), checked out of band: pin it.")
@JSON_OPTION
def referral_verify(directory: Path, key: str | None, as_json: bool) -> None:
    """Check a package: exit 0 when every file's SHA-256 matches the manifest, nothing was
    added and the signature verifies; 1 naming each file changed, missing or added, or a
    bad signature."""
    from cairn.cases.referral import verify

    res = verify(directory, key)
    if as_json:
        _emit_json(res)
    else:
        for p in res["problems"]:
            out.print(p, highlight=False, soft_wrap=True)
        if res["ok"]:
            out.print(f"intact: {res['files']} files"
                      + (f", signed by key {res['key_id']}" if res["signed"] else
                         ", UNSIGNED (hashes only: they show damage, not rewriting)"),
                      highlight=False, soft_wrap=True)
        else:
            out.print("BROKEN", highlight=False)
    sys.exit(EXIT_OK if res["ok"] else EXIT_NO_MATCH)


@suspects_group.command("triage")
@click.option("--case", "case", required=True, help="The case.")
@click.option("--rules", type=click.Path(dir_okay=False, path_type=Path),
              help="A rules file (TOML) instead of the shipped defaults.")
@JSON_OPTION
@click.pass_context
def suspects_triage(ctx: click.Context, case: str, rules: Path | None, as_json: bool) -> None:
    """Evidence counts per suspect and a suggested tier, with the rule that placed them.
    A suggestion only: nothing is actioned automatically. The rules are printed."""
    from cairn.cases.triage import TriageError, load_rules, to_text, triage

    existing_case(ctx, case)
    try:
        res: dict[str, Any] = triage(_store(ctx), case, load_rules(rules))
    except TriageError as e:
        _fail(str(e))
    if as_json:
        _emit_json(res)
    else:
        click.echo(to_text(res), nl=False)
