"""`cairn cluster status`: the Ray cluster's nodes and the scans running on it."""

from __future__ import annotations

import time

import click
from rich.table import Table

from cairn.cli.common import _emit_json, _fail, out


@click.group("cluster")
def cluster_group() -> None:
    """The Ray cluster that `cairn scan --engine ray` runs on."""


@cluster_group.command("status")
@click.option("--address", default="auto", show_default=True,
              help="The cluster (auto, HOST:PORT of its head, ray://HOST:PORT).")
@click.option("--json", "as_json", is_flag=True, help="Print it as JSON.")
def status_cmd(address: str, as_json: bool) -> None:
    """Nodes (alive, CPUs, memory) and each Ray scan: units done and in flight, throughput,
    worker failures and files given up."""
    try:
        from cairn.cluster import ClusterError, connect
        from cairn.cluster import progress as p
    except ImportError:
        _fail("the cluster needs Ray: pip install 'cairn[cluster]'")
    try:
        connect(address)
    except ClusterError as e:
        _fail(str(e))
    now = time.time()
    runs = p.snapshot()
    for r in runs:
        r["files_per_second"] = round(r["files_done"] / max(1e-9, r["updated"] - r["started"]),
                                      1)
        r["age_seconds"] = round(now - r["updated"], 1)
    data = {"nodes": p.nodes(), "scans": runs}
    if as_json:
        _emit_json(data)
        return
    nodes = Table(title="nodes")
    for col in ("node", "address", "alive", "CPUs", "memory", "files read (these scans)"):
        nodes.add_column(col)
    for n in data["nodes"]:
        read = sum(r["nodes"].get(n["node_id"], 0) for r in runs)
        nodes.add_row(n["node_id"][:12], n["address"], "yes" if n["alive"] else "dead",
                      f"{n['cpus']:g}", f"{n['memory'] / (1 << 30):.1f} GiB", str(read))
    out.print(nodes)
    if not runs:
        out.print("no Ray scan has run on this cluster yet")
        return
    scans = Table(title="scans")
    for col in ("run", "case", "source", "status", "units done", "in flight", "files",
                "files/s", "worker failures", "given up"):
        scans.add_column(col)
    for r in runs:
        scans.add_row(str(r["run_id"]), r["case"], r["source"], r["status"],
                      f"{r['units_done']}/{r['units']}", str(r["in_flight"]),
                      f"{r['files_done']}/{r['files']}", f"{r['files_per_second']:g}",
                      str(r["worker_failures"]), str(r["units_given_up"]))
    out.print(scans)
