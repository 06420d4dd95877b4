"""`cairn trace`: families, fingerprint links, the graph and the first-seen timeline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from cairn.cli.text import styled

if TYPE_CHECKING:
    pass

from cairn.cli.common import (
    _emit_json,
    _fail,
    _store,
    out,
)


# -- trace ------------------------------------------------------------------------------------
@click.command("trace")
@click.option("--case", "cases", required=True, multiple=True,
              help="The case; repeat it to trace across cases (sources named CASE/SOURCE).")
@click.option("--threshold", default=31, show_default=True, type=click.IntRange(0, 128),
              help="PDQ distance that makes two pictures one family.")
@click.option("--graphml", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the link graph as GraphML (Gephi, Neo4j).")
@click.option("--graph-json", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the link graph as node-link JSON.")
@click.option("--timeline-svg", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the first-seen timeline as an SVG chart.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def trace_cmd(ctx: click.Context, cases: tuple[str, ...], threshold: int,
              graphml: Path | None, graph_json: Path | None, timeline_svg: Path | None,
              as_json: bool) -> None:
    """Content families, generator-fingerprint links, sources ranked by what they share,
    and first-seen times, for a case."""
    from cairn.trace.report import trace

    store = _store(ctx)
    items: list[dict] = []
    for name in dict.fromkeys(cases):
        case_id = store.cases.id(name)
        if case_id is None:
            _fail(f"no case named {name!r}; `cairn cases` lists them")
        rows = store.records.case_signals(case_id)
        if len(cases) > 1:
            for r in rows:
                r["source"] = f"{name}/{r['source']}"
        items += rows
    res, graph = trace(items, threshold)
    case = ", ".join(dict.fromkeys(cases))
    res["case"] = case
    if graphml:
        from cairn.trace.graph import write_graphml

        write_graphml(graph, graphml)
    if graph_json:
        from cairn.trace.graph import node_link

        graph_json.write_text(json.dumps(node_link(graph), indent=1, default=str))
    if timeline_svg:
        from cairn.trace.chart import timeline_svg as svg

        timeline_svg.write_text(svg(res["timeline"], f"First seen — case {case}"))
    if as_json:
        _emit_json(res)
        return
    out.print(styled((case, "bold"), f": {len(res['families'])} families, "
                     f"{len(res['links'])} fingerprint links"), highlight=False)
    for f in res["families"][:20]:
        rep = f["representative"]
        out.print(f"  family {f['id']}: {f['size']} items across {', '.join(f['sources'])}; "
                  f"representative {rep['source']}/{rep['path']}", highlight=False)
    for lk in res["links"][:20]:
        out.print(f"  {lk['strength']:6} {lk['type']} {lk['key'][:60]}: "
                  f"{len(lk['items'])} items in {', '.join(lk['sources'])}", highlight=False)
    for r in res["sources"][:20]:
        out.print(f"  source {r['source']}: score {r['score']} (shares with "
                  f"{', '.join(r['shares_with'])})", highlight=False)
