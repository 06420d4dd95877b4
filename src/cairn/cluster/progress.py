"""What `cairn cluster status` shows: one detached Ray actor, `cairn-progress`, to which each
driver reports its scan's units as they finish. It holds counters only, never records: the
records are in PostgreSQL, and a driver killed mid-scan leaves its run here as `running`
until the rerun replaces it.
"""

from __future__ import annotations

import time

import ray

from cairn.cluster import NAMESPACE

NAME = "cairn-progress"
KEEP_RUNS = 20  # finished runs kept for `status`; older ones are dropped


@ray.remote(num_cpus=0)
class Progress:
    def __init__(self) -> None:
        self.runs: dict[int, dict] = {}

    def started(self, run_id: int, case: str, source: str, units: int, files: int) -> None:
        self.runs[run_id] = {"run_id": run_id, "case": case, "source": source,
                             "status": "running", "units": units, "units_done": 0,
                             "in_flight": 0, "files": files, "files_done": 0,
                             "worker_failures": 0, "units_given_up": 0,
                             "started": time.time(), "updated": time.time(), "nodes": {}}
        done = sorted((r for r in self.runs.values() if r["status"] != "running"),
                      key=lambda r: r["updated"])
        for old in done[:max(0, len(done) - KEEP_RUNS)]:
            del self.runs[old["run_id"]]

    def unit_done(self, run_id: int, node: str, files: int, failures: int, in_flight: int,
                  given_up: bool = False) -> None:
        r = self.runs.get(run_id)
        if r is None:
            return
        r["units_done"] += 1
        r["files_done"] += files
        r["worker_failures"] += failures
        r["units_given_up"] += int(given_up)
        r["in_flight"] = in_flight
        r["nodes"][node] = r["nodes"].get(node, 0) + files
        r["updated"] = time.time()

    def split(self, run_id: int, more_units: int) -> None:
        if run_id in self.runs:
            self.runs[run_id]["units"] += more_units

    def ended(self, run_id: int, status: str) -> None:
        if run_id in self.runs:
            self.runs[run_id].update(status=status, in_flight=0, updated=time.time())

    def snapshot(self) -> list[dict]:
        return sorted(self.runs.values(), key=lambda r: r["started"])


def actor() -> ray.actor.ActorHandle:
    """The cluster's progress actor, started on first use (it outlives the drivers), on the
    head node: a worker node may go at any time; restarted (empty) if it dies."""
    return Progress.options(  # type: ignore[attr-defined]
        name=NAME, namespace=NAMESPACE, lifetime="detached", get_if_exists=True,
        max_restarts=-1, resources={"node:__internal_head__": 0.001}).remote()


def snapshot() -> list[dict]:
    """Every run the progress actor knows ([] before the first Ray scan on this cluster)."""
    try:
        handle = ray.get_actor(NAME, namespace=NAMESPACE)
    except ValueError:  # no Ray scan has run on this cluster yet
        return []
    return ray.get(handle.snapshot.remote(), timeout=30)


def nodes() -> list[dict]:
    """The cluster's nodes: address, alive, CPUs, memory."""
    return [{"node_id": n["NodeID"], "address": n["NodeManagerAddress"],
             "alive": bool(n["Alive"]), "cpus": n.get("Resources", {}).get("CPU", 0),
             "memory": int(n.get("Resources", {}).get("memory", 0))}
            for n in ray.nodes()]
