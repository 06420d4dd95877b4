"""A scan on Ray against a local scan, both into PostgreSQL, on this machine.

    CAIRN_TEST_POSTGRES_URL=... .venv/bin/python bench/bench_cluster.py --files 200

Generates benign JPEGs (bench/corpus.py, cached under bench-out/), then scans them (mode
`fast`, no lists) into a fresh PostgreSQL database per line:

  local, 1 worker / 2 workers      `scan.pipeline.scan`, as `cairn scan` runs (its fork
                                    server's start included)
  ray, 1 node x 1 CPU              a head alone; vs local 1 worker: the cost of Ray per unit
  ray, 1 node x 2 CPUs             vs local 2 workers: the >= 0.85x target
  ray, 2 nodes x 1 CPU             two node processes on this machine

Every line is warm: Ray's after the cluster's workers have scanned a few files (as on a
cluster that stays up), local ones after a first scan in the same process (its fork server
started); the first, cold scan is printed beside each. Each local scan runs in a session of
its own, as each Ray node does (the kernel's autogroup scheduler shares a loaded machine
between sessions). This machine has 2 cores shared with
other work: 2 CPUs is the ceiling for every line, and "2 nodes" here measures the cost of a
second raylet, not more hardware. The load average is printed with each line.
Timings go here, never into tests.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text

import cairn
from cairn.cluster.local import LocalCluster
from cairn.cluster.scan import UNIT_FILES
from cairn.cluster.scan import scan as ray_scan
from cairn.scan.pipeline import scan as local_scan
from cairn.scan.worker import HashOptions
from cairn.store import Store
from corpus import jpeg_corpus

OPTIONS = HashOptions("fast")


@contextmanager
def fresh_store(pg: str, tmp: Path) -> Iterator[Store]:
    name = f"cairn_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(pg, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    base, _, query = pg.partition("?")
    home = tmp / name
    home.mkdir()
    store = Store(f"{base.rsplit('/', 1)[0]}/{name}?{query}", home)
    try:
        yield store
    finally:
        store.close()
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


def timed(pg: str, tmp: Path, folder: Path, run: Callable[[Store, Path], object]) -> float:
    """Files/s of one scan of `folder` into a fresh database."""
    n = sum(1 for _ in folder.iterdir())
    with fresh_store(pg, tmp) as store:
        t0 = time.perf_counter()
        run(store, folder)
        return n / (time.perf_counter() - t0)


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load {one:.1f} {five:.1f} {fifteen:.1f}"


def on_ray(pg: str, tmp: Path, folder: Path, warm: Path, nodes: list[int], unit: int
           ) -> tuple[float, float]:
    """(cold, warm) files/s on a fresh local cluster of `nodes` (CPUs per node)."""
    root = Path(tempfile.mkdtemp(prefix="ray-b", dir="/tmp"))
    env = dict(os.environ) | {
        "PYTHONPATH": os.pathsep.join([str(Path(cairn.__file__).parents[1]),
                                       os.environ.get("PYTHONPATH", "")]),
        "CAIRN_HOME": str(root / "node-home")}
    env.pop("CAIRN_DATABASE_URL", None)
    cluster = LocalCluster(root, env)
    try:
        cluster.start(cpus=nodes[0])
        for cpus in nodes[1:]:
            cluster.add(cpus=cpus)

        def run(store: Store, f: Path) -> object:
            return ray_scan(store, "bench", f, address=cluster.address, options=OPTIONS,
                            unit_files=unit)

        cold = timed(pg, tmp, warm, run)
        return cold, timed(pg, tmp, folder, run)
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


def exhibit(paths: list[Path], name: str) -> Path:
    d = paths[0].parent.parent / name
    d.mkdir(exist_ok=True)
    for p in paths:
        if not (d / p.name).exists():
            os.link(p, d / p.name)
    return d


def local_in_own_session(pg: str, folder: Path, warm: Path, workers: int
                         ) -> tuple[float, float]:
    """(cold, warm) files/s of local scans run in a session of their own, as each Ray node
    is: with the kernel's autogroup scheduling, a loaded machine shares its CPUs between
    sessions, so a scan in the benchmark's session would get less than a node in its own.
    Cold: the first scan of a process (its fork server starts: imports); warm: the next."""
    out = subprocess.run([sys.executable, __file__, "--pg", pg, "--local", str(workers),
                          str(warm), str(folder)], capture_output=True, text=True, check=True,
                         start_new_session=True)
    cold, warmed = out.stdout.split()[-2:]
    return float(cold), float(warmed)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--local", nargs=3, metavar=("WORKERS", "WARMUP", "FOLDER"),
                    help=argparse.SUPPRESS)
    ap.add_argument("--files", type=int, default=200)
    ap.add_argument("--size", default="1280x720", help="picture size, WxH")
    ap.add_argument("--unit-files", type=int, default=UNIT_FILES)
    ap.add_argument("--pg", default=os.environ.get("CAIRN_TEST_POSTGRES_URL"),
                    help="PostgreSQL (a fresh database is made per line) [default: "
                         "$CAIRN_TEST_POSTGRES_URL]")
    a = ap.parse_args()
    if not a.pg:
        ap.error("needs PostgreSQL: --pg URL or CAIRN_TEST_POSTGRES_URL")
    if a.local:  # one local scan, for local_in_own_session
        tmp = Path(tempfile.mkdtemp(prefix="cairn-bench-local-"))
        try:
            for f in a.local[1:]:
                print(timed(a.pg, tmp, Path(f), lambda s, f: local_scan(
                    s, "bench", f, workers=int(a.local[0]), options=OPTIONS)))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return
    w, h = map(int, a.size.split("x"))
    paths = jpeg_corpus((w, h), a.files + 2 * a.unit_files)
    folder = exhibit(paths[:a.files], f"cluster-{w}x{h}-{a.files}")
    warm = exhibit(paths[a.files:], f"cluster-{w}x{h}-warmup-{2 * a.unit_files}")
    tmp = Path(tempfile.mkdtemp(prefix="cairn-bench-cluster-"))
    rows: list[tuple[str, float, str]] = []

    def line(label: str, fps: float, note: str = "") -> None:
        rows.append((label, fps, note))
        print(f"{label:<34} {fps:7.1f} files/s   {note}  ({load()})", flush=True)

    try:
        print(f"{a.files} JPEGs {w}x{h}, mode fast, units of {a.unit_files} files; "
              f"{os.cpu_count()} cores; {load()}")
        local = {}
        for workers in (1, 2):
            cold, local[workers] = local_in_own_session(a.pg, folder, warm, workers)
            line(f"local, {workers} worker(s)", local[workers], f"cold {cold:.1f} files/s")
        for label, nodes, versus in (("ray, 1 node x 1 CPU", [1], 1),
                                     ("ray, 1 node x 2 CPUs", [2], 2),
                                     ("ray, 2 nodes x 1 CPU", [1, 1], 2)):
            cold, fps = on_ray(a.pg, tmp, folder, warm, nodes, a.unit_files)
            units = -(-a.files // a.unit_files)
            per_unit = (a.files / fps - a.files / local[versus]) / units
            line(label, fps, f"{fps / local[versus]:.2f}x local {versus}w; "
                             f"{per_unit * 1000:+.0f} ms/unit; cold {cold:.1f} files/s")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
