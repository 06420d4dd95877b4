"""The link graph: items, families, sources (exhibits) and models, with typed edges; written
as GraphML (Gephi, Neo4j's importer) and node-link JSON (our UI); and a ranking of sources by
how much they share with others."""

from __future__ import annotations

from pathlib import Path

import networkx as nx

from cairn.trace.families import Family
from cairn.trace.links import Link


def _item(ref: dict) -> str:
    return f"item:{ref['source']}/{ref['path']}"


def build_graph(items: list[dict], fams: list[Family], lnks: list[Link]) -> nx.Graph:
    g = nx.Graph()
    for it in items:
        g.add_node(f"source:{it['source']}", kind="source", label=it["source"])
        g.add_node(_item(it), kind="item", label=it["path"], source=it["source"],
                   sha256=it.get("sha256") or "", media=it.get("kind") or "")
        g.add_edge(_item(it), f"source:{it['source']}", type="found_on", weight=1.0)
    for f in fams:
        node = f"family:{f.id}"
        g.add_node(node, kind="family", label=f"family {f.id}", size=len(f.members),
                   sources=len(f.sources))
        for m in f.members:
            g.add_edge(_item(m), node, type="member", via=m["via"],
                       distance=-1 if m["distance"] is None else m["distance"], weight=1.0)
    for lk in lnks:
        node = f"{lk.type}:{lk.key}"
        g.add_node(node, kind="fingerprint", label=lk.key[:120], link_type=lk.type,
                   weight=lk.weight, strength=lk.strength)
        for ref in lk.items:
            g.add_edge(_item(ref), node, type=lk.type, weight=lk.weight,
                       strength=lk.strength)
    return g


def write_graphml(g: nx.Graph, path: Path) -> None:
    nx.write_graphml(g, path)


def node_link(g: nx.Graph) -> dict:
    return nx.node_link_data(g, edges="edges")


def rank_sources(fams: list[Family], lnks: list[Link]) -> list[dict]:
    """Sources ordered by what they share with other sources: families spanning them and
    another source, and fingerprint links to other sources (by weight)."""
    score: dict[str, dict] = {}

    def row(s: str) -> dict:
        return score.setdefault(s, {"source": s, "shared_families": 0, "link_weight": 0.0,
                                    "shares_with": set()})

    for f in fams:
        if len(f.sources) > 1:
            for s in f.sources:
                r = row(s)
                r["shared_families"] += 1
                r["shares_with"].update(x for x in f.sources if x != s)
    for lk in lnks:
        if len(lk.sources) > 1:
            for s in lk.sources:
                r = row(s)
                r["link_weight"] += lk.weight
                r["shares_with"].update(x for x in lk.sources if x != s)
    out = []
    for r in score.values():
        r["shares_with"] = sorted(r["shares_with"])
        r["link_weight"] = round(r["link_weight"], 3)
        r["score"] = round(r["shared_families"] + r["link_weight"], 3)
        out.append(r)
    out.sort(key=lambda r: (-r["score"], r["source"]))
    return out
