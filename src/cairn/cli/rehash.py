"""`cairn rehash`: recompute a case's fast PDQ hashes exactly, from the evidence."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    pass

from cairn.cli.common import (
    EXIT_OK,
    EXIT_PARTIAL,
    _emit_json,
    _fail,
    _store,
    err,
    out,
)


@click.command("rehash")
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
