"""A scan on Ray against a local scan, both into PostgreSQL, on this machine.

    CAIRN_TEST_POSTGRES_URL=... .venv/bin/python bench/bench_cluster.py --files 300 --size 320x240

Generates benign JPEGs (bench/corpus.py, cached under bench-out/) and two lists that know
some of them (PDQ of every other picture, near-duplicates of their JPEGs; MD5 of every fourth
file), then scans them (mode `fast`) into a fresh PostgreSQL database per line, the lists
imported first. Each line prints files/s and the rows per second the scan wrote to
PostgreSQL: items, matches, and all rows (items, signals, matches, findings, errors):

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
import json
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
from cairn.demo import picture
from cairn.lists.formats.readers import read_list
from cairn.media.limits import Limits
from cairn.media.walk import walk
from cairn.scan.caps import default_caps
from cairn.scan.isolation import WorkerPool
from cairn.scan.listindex import open_matcher
from cairn.scan.pipeline import BATCH_RECORDS, open_run, record_batch
from cairn.scan.pipeline import scan as local_scan
from cairn.scan.worker import HashOptions
from cairn.signals.crypto import hash_bytes
from cairn.signals.pdq import pdq_from_image
from cairn.store import Store
from corpus import jpeg_corpus
from figures import Figure, emit

OPTIONS = HashOptions("fast")
TABLES = ("items", "signals", "matches", "findings", "errors")
SEED = 20_000  # corpus.jpeg_corpus's picture i is picture(SEED + i)


def write_lists(paths: list[Path], size: tuple[int, int], out: Path) -> list[Path]:
    """A PDQ list (python-threatexchange CSV) of every other picture, an MD5 list of every
    fourth file: what makes the scans write match rows."""
    out.mkdir(parents=True, exist_ok=True)
    pdqs, md5s = out / "known.csv", out / "known.md5"
    with pdqs.open("w") as f:
        f.write("signal_type,signal_str,collab,category,tags\n")
        for p in paths[::2]:
            f.write(f"pdq,{pdq_from_image(picture(SEED + int(p.stem), size)).hash},bench,1,"
                    f"{p.stem}\n")
    md5s.write_text("".join(f"{hash_bytes(p.read_bytes()).md5}  {p.name}\n"
                            for p in paths[::4]))
    return [pdqs, md5s]


def import_lists(store: Store, lists: list[Path]) -> None:
    for path in lists:
        fmt, entries, _ = read_list(path)
        store.lists.add(path.name, str(path), fmt, 31, (e.to_dict() for e in entries), 0)


def written(store: Store) -> dict[str, int]:
    with store.engine.connect() as c:
        return {t: c.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in TABLES}


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


def timed(pg: str, tmp: Path, folder: Path, run: Callable[[Store, Path], object],
          lists: list[Path]) -> dict[str, float]:
    """One scan of `folder` into a fresh database, the lists imported first: its seconds,
    files/s and per table the rows/s it wrote."""
    n = sum(1 for _ in folder.iterdir())
    with fresh_store(pg, tmp) as store:
        import_lists(store, lists)
        t0 = time.perf_counter()
        run(store, folder)
        seconds = time.perf_counter() - t0
        rows = written(store)
    return {"seconds": seconds, "files": n / seconds,
            "rows": sum(rows.values()) / seconds} | {t: rows[t] / seconds for t in TABLES}


def write_ceiling(pg: str, tmp: Path, folder: Path, lists: list[Path], copies: int
                  ) -> dict[str, float]:
    """What one writer (a unit's Ray worker, a local scan's driver) gets into PostgreSQL
    with nothing else to do: the folder's records read and matched once, then written
    `copies` times (under other paths) as the scans write them, in batches of
    BATCH_RECORDS with their matches (`record_batch`). Rows/s per table (a copy's signals
    and findings are its content's, already written: items and matches are what count)."""
    entries = list(walk(str(folder)))
    with WorkerPool(1, Limits(), OPTIONS, default_caps(1)) as pool:
        records = [r for recs, _ in pool.run(entries) for r in recs]
    with fresh_store(pg, tmp) as store:
        import_lists(store, lists)
        found = [[m.to_dict() for m in ms] for ms in open_matcher(store).match_many(records)]
        source_id, run_id = open_run(store, "bench", "ceiling", str(folder), {})
        t0 = time.perf_counter()
        for k in range(copies):
            batch = [r | {"path": f"copy-{k}/{r['path']}",  # a location of its own
                          "raw_path": f"copy-{k}/".encode() + bytes(r["raw_path"])}
                     for r in records]
            for i in range(0, len(batch), BATCH_RECORDS):
                record_batch(store, source_id, run_id, batch[i:i + BATCH_RECORDS],
                             found[i:i + BATCH_RECORDS])
        seconds = time.perf_counter() - t0
        rows = written(store)
    return {"seconds": seconds, "files": copies * len(records) / seconds,
            "rows": sum(rows.values()) / seconds} | {t: rows[t] / seconds for t in TABLES}


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load {one:.1f} {five:.1f} {fifteen:.1f}"


def on_ray(pg: str, tmp: Path, scans: list[tuple[Path, int]], nodes: list[int],
           lists: list[Path]) -> list[dict[str, float]]:
    """(folder, files per unit) scans in turn on a fresh local cluster of `nodes` (CPUs per
    node): the first is its cold one."""
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

        def run(unit: int) -> Callable[[Store, Path], object]:
            return lambda store, f: ray_scan(store, "bench", f, address=cluster.address,
                                             options=OPTIONS, unit_files=unit)

        return [timed(pg, tmp, folder, run(unit), lists) for folder, unit in scans]
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


def local_in_own_session(pg: str, folders: list[Path], workers: int, lists: list[Path]
                         ) -> list[dict[str, float]]:
    """Local scans of `folders` in turn, in a process and session of their own, as each Ray
    node is: with the kernel's autogroup scheduling, a loaded machine shares its CPUs
    between sessions, so a scan in the benchmark's session would get less than a node in
    its own. The first is the process's cold scan (its fork server starts: imports)."""
    out = subprocess.run([sys.executable, __file__, "--pg", pg, "--local", str(workers),
                          *map(str, folders), "--lists", *map(str, lists)],
                         capture_output=True, text=True, check=True, start_new_session=True)
    return [json.loads(x) for x in out.stdout.splitlines()[-len(folders):]]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--local", nargs="+", metavar="WORKERS FOLDER", help=argparse.SUPPRESS)
    ap.add_argument("--lists", nargs="*", default=[], help=argparse.SUPPRESS)
    ap.add_argument("--files", type=int, default=300)
    ap.add_argument("--writes-only", action="store_true",
                    help="only the PostgreSQL line (one writer, nothing read)")
    ap.add_argument("--size", default="320x240", help="picture size, WxH")
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
                print(json.dumps(timed(a.pg, tmp, Path(f), lambda s, f: local_scan(
                    s, "bench", f, workers=int(a.local[0]), options=OPTIONS),
                    [Path(x) for x in a.lists])), flush=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return
    w, h = map(int, a.size.split("x"))
    paths = jpeg_corpus((w, h), a.files + 2 * a.unit_files)
    folder = exhibit(paths[:a.files], f"cluster-{w}x{h}-{a.files}")
    warm = exhibit(paths[a.files:], f"cluster-{w}x{h}-warmup-{2 * a.unit_files}")
    one = exhibit(paths[a.files:a.files + 1], f"cluster-{w}x{h}-one")
    tmp = Path(tempfile.mkdtemp(prefix="cairn-bench-cluster-"))
    lists = write_lists(paths, (w, h), tmp / "lists")
    units = -(-a.files // a.unit_files)

    def line(label: str, r: dict[str, float], note: str = "") -> None:
        print(f"{label:<22} {r['files']:6.1f} files/s  {r['items']:6.1f} items/s "
              f"{r['matches']:6.1f} matches/s {r['rows']:7.1f} rows/s  {note}  ({load()})",
              flush=True)

    if a.writes_only:
        try:
            line("PostgreSQL, 1 writer", write_ceiling(a.pg, tmp, folder, lists, 3))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return
    try:
        print(f"{a.files} JPEGs {w}x{h}, mode fast, units of {a.unit_files} files; lists: "
              f"{len(paths[::2])} PDQ, {len(paths[::4])} MD5; {os.cpu_count()} cores; {load()}")
        local, start = {}, {}
        for workers in (1, 2):
            cold, fixed, local[workers] = local_in_own_session(a.pg, [warm, one, folder],
                                                               workers, lists)
            start[workers] = fixed["seconds"]
            line(f"local, {workers} worker(s)", local[workers],
                 f"a 1-file scan {fixed['seconds']:.2f} s (the per-scan start); cold "
                 f"{cold['files']:.1f} files/s")
        figures = []
        for label, nodes, versus in (("ray, 1 node x 1 CPU", [1], 1),
                                     ("ray, 1 node x 2 CPUs", [2], 2),
                                     ("ray, 2 nodes x 1 CPU", [1, 1], 2)):
            scans = [(warm, a.unit_files), (one, a.unit_files), (folder, a.unit_files)]
            if nodes == [1]:  # the same files in one unit: what the units themselves cost
                scans.append((folder, a.files))
            cold, fixed, r, *whole = on_ray(a.pg, tmp, scans, nodes, lists)
            steady = ((local[versus]["seconds"] - start[versus])
                      / (r["seconds"] - fixed["seconds"]))
            line(label, r, f"{r['files'] / local[versus]['files']:.2f}x local {versus}w "
                           f"({steady:.2f}x without either's per-scan start); a 1-file scan "
                           f"{fixed['seconds']:.2f} s; cold {cold['files']:.1f} files/s")
            if nodes != [1]:
                key = "1x2" if nodes == [2] else "2x1"
                figures.append(Figure(
                    f"cluster.ray_vs_local.{key}", r["files"] / local[versus]["files"],
                    f"local {versus} workers {local[versus]['files']:.1f} files/s",
                    f"{a.files} files"))
            if whole:
                per_unit = (r["seconds"] - whole[0]["seconds"]) / (units - 1)
                print(f"  per unit on Ray: {per_unit * 1000:+.1f} ms ({units} units of "
                      f"{a.unit_files} files {r['seconds']:.2f} s, one unit of {a.files} "
                      f"{whole[0]['seconds']:.2f} s)", flush=True)
        line("PostgreSQL, 1 writer", write_ceiling(a.pg, tmp, folder, lists, 3),
             "records written alone (3 copies of the folder's), no reading: the store's rate")
        emit("bench_cluster", figures)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
