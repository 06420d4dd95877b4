"""A Ray cluster of several nodes on this one machine: for the tests, the benchmark, a demo.

Each node is a `ray start --block` process in a session of its own, so killing its process
group kills that node (its raylet and agents; its workers exit with the raylet), as a
machine lost from a real cluster would. Every process started carries `CAIRN_RAY_LOCAL` =
the cluster's folder in its environment: `stop` kills exactly those, never another user's
or another cluster's Ray.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import ray

from cairn.cluster import connect

MARKER = "CAIRN_RAY_LOCAL"
MiB = 1 << 20


@dataclass
class Node:
    proc: subprocess.Popen
    log: Path  # what its `ray start` said
    node_id: str = ""


@dataclass
class LocalCluster:
    """`LocalCluster(root, env).start(cpus=...)` then `.add(cpus=...)`; `.stop()` always."""

    root: Path  # short (Ray's socket paths must fit in 107 bytes): e.g. /tmp/ray-XXXX
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    address: str = ""
    client_address: str = ""  # ray://127.0.0.1:PORT: the head's Ray Client server
    nodes: list[Node] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.env = dict(self.env) | {MARKER: str(self.root), "RAY_USAGE_STATS_ENABLED": "0",
                                     # a killed node is noticed in ~2 s, not 30
                                     "RAY_health_check_period_ms": "500",
                                     "RAY_health_check_failure_threshold": "3",
                                     "RAY_health_check_initial_delay_ms": "0"}

    def start(self, cpus: int = 1, object_store: int = 150 * MiB) -> Node:
        """The head (no dashboard; its Ray Client server on a free port, never the default
        10001 another cluster may hold); the driver (this process) connects to it."""
        port = free_port()
        node = self._ray_start(["--head", "--port", "0", "--include-dashboard=false",
                                "--ray-client-server-port", str(port)], cpus, object_store)
        log = node.log
        deadline = time.monotonic() + 120
        while not (m := re.search(r"ray start --address='([^']+)'", log.read_text())):
            if time.monotonic() > deadline or node.proc.poll() is not None:  # it says why
                raise RuntimeError("the Ray head did not start:\n" + log.read_text()[-3000:])
            time.sleep(0.1)
        self.address = m.group(1)
        self.client_address = f"ray://127.0.0.1:{port}"
        connect(self.address)
        node.node_id = ray.get_runtime_context().get_node_id()
        self.nodes.append(node)
        return node

    def add(self, cpus: int = 1, object_store: int = 100 * MiB, timeout: float = 60) -> Node:
        """Another node, once it has joined."""
        known = {n["NodeID"] for n in ray.nodes()}
        node = self._ray_start(["--address", self.address], cpus, object_store)
        deadline = time.monotonic() + timeout
        while not (new := [n["NodeID"] for n in ray.nodes()
                           if n["Alive"] and n["NodeID"] not in known]):
            if time.monotonic() > deadline or node.proc.poll() is not None:
                raise RuntimeError("the Ray node did not join")
            time.sleep(0.2)
        node.node_id = new[0]
        self.nodes.append(node)
        return node

    def kill(self, node: Node) -> None:
        """As if the machine were lost: SIGKILL to the node's whole process group."""
        os.killpg(node.proc.pid, signal.SIGKILL)
        node.proc.wait()

    def stop(self) -> None:
        """Disconnect, kill every node, then any process of this cluster still alive."""
        ray.shutdown()
        for node in reversed(self.nodes):
            if node.proc.poll() is None:
                self.kill(node)
        self.nodes = []
        for pid in processes(str(self.root)):  # workers and actors: sessions of their own
            with contextlib.suppress(ProcessLookupError):  # gone with its raylet meanwhile
                os.kill(pid, signal.SIGKILL)

    def _ray_start(self, args: list[str], cpus: int, object_store: int) -> Node:
        ray_cli = str(Path(sys.executable).parent / "ray")
        self.root.mkdir(parents=True, exist_ok=True)
        log = self.root / f"node-{time.monotonic_ns()}.log"
        with log.open("w") as out:  # never a pipe nobody drains
            proc = subprocess.Popen(
            [ray_cli, "start", "--block", "--disable-usage-stats", "--num-cpus", str(cpus),
             "--object-store-memory", str(object_store), "--temp-dir", str(self.root / "ray"),
             *args], env=self.env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True)
        return Node(proc, log)


def free_port() -> int:
    """A TCP port nothing listens on now (the kernel's pick; free again once closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def processes(root: str) -> list[int]:
    """Pids of the processes started by the local cluster at `root` (by their environment)."""
    found = []
    mark = f"{MARKER}={root}".encode()
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        try:
            env = Path(f"/proc/{d}/environ").read_bytes()
        except OSError:
            continue
        if mark in env.split(b"\0"):
            found.append(int(d))
    return found
