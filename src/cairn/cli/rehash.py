"""`cairn rehash`: recompute a case's fast PDQ and vPDQ hashes exactly, from the evidence."""

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
@click.option("--video-interval", type=click.FloatRange(min=0), default=1.0,
              show_default=True,
              help="vPDQ: one frame per this many seconds, as the scan was run with.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def rehash_cmd(ctx: click.Context, case: str, all_items: bool, video_interval: float,
               as_json: bool) -> None:
    """Recompute exact PDQ and vPDQ (bit-identical to the reference) for items a scan
    hashed fast.

    What is shared with partners must be exact; by default only matched items are redone.
    Reports show the exact hash wherever one exists, the fast one kept beside it. Exit 3
    if evidence went missing or an exact hash could not be made (each named with why).
    """
    from cairn.scan.rehash import ensure_exact

    try:
        s = ensure_exact(_store(ctx), case, only_matched=not all_items,
                         video_interval=video_interval)
    except LookupError as e:
        _fail(str(e))
    if as_json:
        _emit_json(s.to_dict())
    else:
        out.print(f"{s.items_needing_exact} items needed an exact hash; read {s.files_read} "
                  f"files; added {s.exact_signals_added} exact hashes", highlight=False)
        for m in s.missing:
            err.print(f"evidence not found: {m}", style="yellow", highlight=False)
        for f in s.failed:
            err.print(f"not exact: {f}", style="yellow", highlight=False)
    sys.exit(EXIT_PARTIAL if s.missing or s.failed else EXIT_OK)
