"""The link graph of a case as cytoscape.js elements, bounded.

Nodes: suspects, devices, sources (exhibits), content families, generator fingerprints
(trace/links.py) and the items that belong to a family or share a fingerprint (an item in
neither links nothing, so it is left out). Edges: a suspect owns a device, a device was
imaged as a source, an item was found on a source, an item is a member of a family (with
its distance and transform), an item carries a fingerprint (typed and weighed).

A browser draws a few hundred nodes well and a 1M-item case not at all, so the graph is cut
to MAX_NODES nodes and MAX_EDGES edges, in this order of what matters: people and devices,
sources, families spanning most sources then largest, fingerprints by weight, then their
items (matched and synthetic first). What was cut is counted and said (`cut`), never
silently dropped. No node carries a picture: the graph shows structure; an item's node
links to its panel, where the thumbnail is blurred like everywhere else.
"""

from __future__ import annotations

from typing import Any

from cairn.cases.people import is_synthetic
from cairn.store import Store
from cairn.store.people import People
from cairn.web.tracecache import case_trace

MAX_NODES = 300
MAX_EDGES = 3000


def _node(nid: str, kind: str, label: str, href: str | None = None, **extra: Any
          ) -> dict[str, Any]:
    return {"data": {"id": nid, "kind": kind, "label": label[:80],
                     **({"href": href} if href else {}), **extra}}


def case_graph(store: Store, case_id: int, case: str, max_nodes: int = MAX_NODES,
               max_edges: int = MAX_EDGES) -> dict[str, Any]:
    """{"nodes", "edges" (cytoscape elements), "total": {nodes, edges}, "shown": {...},
    "cut": a sentence or None}."""
    people = People(store)
    tr = case_trace(store, case_id)
    base = f"/ui/cases/{case}"
    ordered: list[dict[str, Any]] = []  # nodes, most important first
    edges: list[tuple[str, str, str, dict[str, Any]]] = []
    for s in people.suspects(case_id):
        where = f" ({s['country']})" if s["country"] else ""
        ordered.append(_node(f"suspect:{s['id']}", "suspect", f"suspect {s['id']}{where}"))
    sources = {s["id"]: s["name"] for s in store.cases.sources(case_id)}
    for d in people.devices(case_id):
        ordered.append(_node(f"device:{d['id']}", "device", f"{d['kind']} {d['id']}"))
        if d["suspect"]:
            edges.append((f"suspect:{d['suspect']}", f"device:{d['id']}", "owns", {}))
        for sid in d["source_ids"]:
            edges.append((f"device:{d['id']}", f"source:{sources[sid]}", "imaged_as", {}))
    for name in sorted(sources.values()):
        ordered.append(_node(f"source:{name}", "source", f"exhibit {name}",
                             f"{base}/queue?source={name}"))
    item_of = {(it["source"], it["path"]): it for it in tr.items}
    linked: dict[int, dict[str, Any]] = {}
    fams = sorted(tr.families, key=lambda f: (-len(f["sources"]), -f["size"], f["id"]))
    for f in fams:
        ordered.append(_node(f"family:{f['id']}", "family",
                             f"family {f['id']} ({f['size']})",
                             f"{base}/families/{f['id']}", size=f["size"]))
        for m in f["members"]:
            it = item_of.get((m["source"], m["path"]))
            if it is not None:
                linked.setdefault(it["id"], it)
                edges.append((f"item:{it['id']}", f"family:{f['id']}", "member",
                              {"distance": m["distance"], "via": m["via"]}))
    for k, lk in enumerate(tr.links):
        nid = f"fingerprint:{k}"
        ordered.append(_node(nid, "fingerprint", f"{lk.type} {lk.key}",
                             weight=round(lk.weight, 3), strength=lk.strength))
        for ref in lk.items:
            it = item_of.get((ref["source"], ref["path"]))
            if it is not None:
                linked.setdefault(it["id"], it)
                edges.append((f"item:{it['id']}", nid, lk.type,
                              {"weight": round(lk.weight, 3)}))
    matched = _matched(store, case_id)

    def rank(it: dict[str, Any]) -> tuple[int, int, int]:
        synth = any(is_synthetic(f) for f in it.get("findings") or [])
        return (0 if it["id"] in matched else 1, 0 if synth else 1, it["id"])

    for it in sorted(linked.values(), key=rank):
        tags = (["matched"] if it["id"] in matched else []) + (
            ["synthetic"] if any(is_synthetic(f) for f in it.get("findings") or []) else [])
        ordered.append(_node(f"item:{it['id']}", "item", f"{it['source']}: {it['path']}",
                             f"{base}/items/{it['id']}", tags=" ".join(tags)))
        edges.append((f"item:{it['id']}", f"source:{it['source']}", "found_on", {}))
    shown_nodes = ordered[:max_nodes]
    ids = {n["data"]["id"] for n in shown_nodes}
    kept = [e for e in edges if e[0] in ids and e[1] in ids]
    shown_edges = [{"data": {"id": f"e{k}", "source": a, "target": b, "type": typ, **extra}}
                   for k, (a, b, typ, extra) in enumerate(kept[:max_edges])]
    total = {"nodes": len(ordered), "edges": len(edges)}
    shown = {"nodes": len(shown_nodes), "edges": len(shown_edges)}
    cut = None
    if shown != total:
        cut = (f"cut to {shown['nodes']} of {total['nodes']} nodes and {shown['edges']} of "
               f"{total['edges']} edges (at most {max_nodes} nodes and {max_edges} edges; "
               "people, devices, exhibits, families spanning most exhibits and the strongest "
               "fingerprints come first)")
    return {"nodes": shown_nodes, "edges": shown_edges, "total": total, "shown": shown,
            "limits": {"nodes": max_nodes, "edges": max_edges}, "cut": cut}


def _matched(store: Store, case_id: int) -> set[int]:
    """Ids of the case's items with a match that counts (store/items.py's filter)."""
    from cairn.store import items as store_items
    from cairn.store.items import ItemFilter

    out: set[int] = set()
    after = 0
    while True:
        rows = store_items.page(store, case_id, ItemFilter(matched=True), after, 5000)
        out.update(r["id"] for r in rows[:5000])
        if len(rows) <= 5000:
            return out
        after = rows[4999]["id"]
