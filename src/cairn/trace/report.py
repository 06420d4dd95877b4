"""One call that traces a case: families, links, source ranking, timeline, and the graph."""

from __future__ import annotations

import networkx as nx

from cairn.signals import pdq
from cairn.trace.families import families
from cairn.trace.graph import build_graph, rank_sources
from cairn.trace.links import links
from cairn.trace.timeline import timeline


def trace(items: list[dict], threshold: int = pdq.MATCH_DISTANCE) -> tuple[dict, nx.Graph]:
    fams = families(items, threshold)
    lnks = links(items)
    result = {"items": len(items), "threshold": threshold,
              "families": [f.to_dict() for f in fams],
              "links": [lk.to_dict() for lk in lnks],
              "sources": rank_sources(fams, lnks),
              "timeline": timeline(items, fams, lnks)}
    return result, build_graph(items, fams, lnks)
