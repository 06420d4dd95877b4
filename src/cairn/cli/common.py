"""What every `cairn` command module shares: exit codes, the consoles, the store, failing."""

from __future__ import annotations

import difflib
import sys
from typing import NoReturn

import click

from cairn.cli.text import SafeConsole, json_text, styled

EXIT_OK, EXIT_NO_MATCH, EXIT_FATAL, EXIT_PARTIAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

TLP_CHOICE = click.Choice(["clear", "green", "amber", "amber+strict", "red"])

# evidence names what is printed: strings are plain text, control characters escaped
err = SafeConsole(stderr=True)
out = SafeConsole()


def _store(ctx: click.Context):  # noqa: ANN202
    from cairn.store import Store

    if "store" not in ctx.obj:
        ctx.obj["store"] = Store.open(ctx.obj["home"])
    return ctx.obj["store"]


def _fail(message: str) -> NoReturn:
    err.print(styled(("error:", "bold red"), f" {message}"), highlight=False)
    sys.exit(EXIT_FATAL)


def _emit_json(data: object) -> None:
    click.echo(json_text(data))


def existing_case(ctx: click.Context, name: str, hint: str = "") -> int:
    """The id of case `name`; refuses (exit 2) naming the nearest existing cases (a typo
    must not open a new case), then `hint`."""
    store = _store(ctx)
    cid = store.cases.id(name)
    if cid is not None:
        return cid
    names = [c["name"] for c in store.cases.all()]
    near = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
    _fail(f"no case named {name!r}" + (f"; did you mean {', '.join(map(repr, near))}?"
                                       if near else "") + hint)
