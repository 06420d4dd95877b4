"""A scan on a real Ray cluster over PostgreSQL: a head and a second node on this machine (one
CPU each, a small object store, no dashboard), the CI's PostgreSQL. The same rows as a local
scan; the second node killed mid-scan; the driver killed and the command rerun; a file that
kills its Ray worker every time; the PDQ index in 4 shards.

Skips, saying why, without Ray (the `cluster` extra) or PostgreSQL."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import create_engine, text

from conftest import CAIRN, REPO
from exhibit import build
from inprocess import DB_URLS, EXAMINER, database, pictures, run
from test_disk_images import ext_image, tree  # noqa: F401 - a fixture

ray = pytest.importorskip("ray", reason="Ray is not installed: pip install -e '.[cluster]'")

from cairn.cluster import connect  # noqa: E402 - only with Ray
from cairn.cluster import progress as cluster_progress  # noqa: E402
from cairn.cluster.local import LocalCluster, Node  # noqa: E402
from cairn.cluster.scan import scan as ray_scan  # noqa: E402
from cairn.cluster.shards import ShardedIndex  # noqa: E402
from cairn.index import HammingIndex  # noqa: E402
from cairn.scan.options import HashOptions, Split  # noqa: E402
from cairn.scan.pipeline import scan as local_scan  # noqa: E402
from cairn.store import Store  # noqa: E402

PG = os.environ.get("CAIRN_TEST_POSTGRES_URL")
KILLER = "worker-killer.bin"  # the file whose unit kills its Ray worker (test fault below)


class Cluster(LocalCluster):
    """A head and a second node (one CPU each); the second can be killed and restarted."""

    second: Node | None = None

    def start_second(self) -> None:
        if self.second is None or self.second.proc.poll() is not None:
            self.second = self.add(cpus=1)

    def kill_second(self) -> None:
        assert self.second is not None
        self.kill(self.second)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    if not PG:
        pytest.skip("no PostgreSQL: set CAIRN_TEST_POSTGRES_URL (.ci/run starts one)")
    root = Path(tempfile.mkdtemp(prefix="ray-t", dir="/tmp"))  # short: Ray's socket paths
    c = Cluster(root, os.environ | {
        "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")]),
        "CAIRN_HOME": str(root / "node-home"), "CAIRN_EXAMINER": EXAMINER,
        "CAIRN_TEST_WORKER_FAULT": f"{KILLER}:ray"})
    c.env.pop("CAIRN_DATABASE_URL", None)
    try:
        c.start(cpus=1)
        c.start_second()
        yield c
    finally:
        c.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg() -> Iterator[str]:
    for url in database("postgresql"):
        assert url is not None
        yield url


def _home(path: Path, url: str) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    DB_URLS[path] = url
    return path


def _rows(url: str) -> dict[str, list[tuple]]:
    """Items, signals, findings, errors and matches as comparable rows: surrogate ids, runs
    and sources left out, items named by their location."""
    eng = create_engine(url)
    loc = "i.path, i.ordinal, i.version"
    with eng.connect() as c:
        out = {
            "items": c.execute(text(
                "SELECT path, parent_path, raw_path, location_key, ordinal, version, note, "
                "atime_note, kind, media_type, size, mtime, md5, sha1, sha256, width, height, "
                "origin FROM items ORDER BY path, ordinal, version")).all(),
            "signals": c.execute(text("SELECT sha256, signal_type, mode, value, quality FROM "
                                      "signals ORDER BY 1, 2, 3")).all(),
            "findings": c.execute(text("SELECT sha256, kind, strength, source, data, error "
                                       "FROM findings ORDER BY 1, 2, 4")).all(),
            "errors": c.execute(text(f"SELECT {loc}, e.stage, e.message FROM errors e JOIN "
                                     "items i ON i.id = e.item_id ORDER BY 1, 2, 3, 4, 5")).all(),
            "matches": c.execute(text(
                f"SELECT {loc}, m.entry_id, m.list_id, m.signal_type, m.distance, m.transform, "
                "m.timestamp, m.detail, m.status FROM matches m JOIN items i ON "
                "i.id = m.item_id ORDER BY 1, 2, 3, 4, 6")).all()}
    eng.dispose()
    return out


def _locations(url: str) -> tuple[int, int]:
    """(items, distinct locations): equal when nothing is doubled."""
    eng = create_engine(url)
    with eng.connect() as c:
        n, distinct = c.execute(text("SELECT count(*), count(DISTINCT (path, ordinal)) "
                                     "FROM items")).one()
    eng.dispose()
    return n, distinct


def test_a_ray_scan_needs_postgresql(tmp_path: Path) -> None:
    out = run(tmp_path / "home", "scan", pictures(tmp_path / "ev", n=1), "--case", "c",
              "--new-case", "--engine", "ray", "--address", "127.0.0.1:1", ok=(2,))
    assert "records to PostgreSQL" in out and "CAIRN_DATABASE_URL" in out


@pytest.fixture(scope="module")
def exhibit(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build(tmp_path_factory.mktemp("exhibit") / "ex")


@pytest.fixture(scope="module")
def local_rows(exhibit: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
               ) -> dict[str, list[tuple]]:
    """The rows of a local scan of the exhibit, its lists imported (PostgreSQL)."""
    for url in database("postgresql"):
        assert url is not None
        home = _lists(exhibit, _home(tmp_path_factory.mktemp("local"), url))
        run(home, "scan", exhibit["exhibit"], "--case", "c", "--new-case", "--no-progress")
        rows = _rows(url)
        DB_URLS.pop(home)
    assert rows["items"] and rows["signals"] and rows["errors"]
    assert {m[5] for m in rows["matches"]} >= {"pdq", "md5"}  # signal types matched
    return rows


def _lists(ex: dict[str, Path], home: Path) -> Path:
    for name, file in (("pdqs", "known.csv"), ("md5s", "known.md5"), ("videos", "videos.csv")):
        run(home, "lists", "import", ex["lists"] / file, "--name", name, ok=(0, 3))
    return home


@pytest.mark.parametrize("how", ["head", "ray-client", "4-index-shards"])
def test_ray_scan_gives_the_local_scan_rows(cluster: Cluster, exhibit: dict[str, Path],
                                            local_rows: dict[str, list[tuple]], how: str,
                                            pg: str, tmp_path: Path) -> None:
    """The same rows through the head's address (this process a driver), through Ray Client
    (`ray://`, from a `cairn` process of its own: what a laptop outside the cluster does),
    and with the lists' PDQ hashes in 4 shard actors (the nodes' matchers holding none)."""
    home = _lists(exhibit, _home(tmp_path / "home", pg))
    argv = ["scan", str(exhibit["exhibit"]), "--case", "c", "--new-case", "--no-progress",
            "--json", "--engine", "ray"]
    if how == "ray-client":
        assert cluster.client_address.startswith("ray://")
        env = cluster.env | {"CAIRN_DATABASE_URL": pg, "CAIRN_HOME": str(home)}
        done = subprocess.run([CAIRN, *argv, "--address", cluster.client_address], env=env,
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        out = done.stdout
    else:
        shards = ("--index-shards", "4") if how == "4-index-shards" else ()
        out = run(home, *argv, "--address", cluster.address, *shards)
    summary = json.loads(out)
    on_ray = _rows(pg)
    for table in local_rows:
        assert on_ray[table] == local_rows[table], table
    if how == "ray-client":  # the status through Ray Client too
        done = subprocess.run([CAIRN, "cluster", "status", "--address", cluster.client_address,
                               "--json"], env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        status = json.loads(done.stdout)
    else:
        status = json.loads(run(home, "cluster", "status", "--address", cluster.address,
                                "--json"))
    DB_URLS.pop(home)
    assert sum(n["alive"] for n in status["nodes"]) == 2
    last = status["scans"][-1]
    assert (last["run_id"], last["status"], last["files_done"], last["units_done"]) == (
        summary["run_id"], "complete", summary["entries_found"], last["units"])


def test_index_shards_need_the_ray_engine_and_a_power_of_two(tmp_path: Path) -> None:
    ev = pictures(tmp_path / "ev", n=1)
    for extra in (("--index-shards", "4"), ("--engine", "ray", "--index-shards", "3")):
        out = run(tmp_path / "home", "scan", ev, "--case", "c", "--new-case", *extra, ok=(2,))
        assert "--index-shards N is for --engine ray, N a power of two" in out


def _store(url: str, home: Path) -> Store:
    home.mkdir(parents=True, exist_ok=True)
    return Store(url, home)


def test_several_devices_in_one_command(cluster: Cluster, pg: str, tmp_path: Path) -> None:
    devices = [pictures(tmp_path / f"phone-{i}", n=5 + i, seed=900 + 10 * i) for i in range(3)]
    for engine, url in (("local", None), ("ray", pg)):
        home = tmp_path / f"home-{engine}"
        if url:
            _home(home, url)
        out = json.loads(run(home, "scan", *devices, "--case", "m", "--new-case", "--json",
                             "--no-progress", "--engine", engine, "--address", cluster.address))
        assert [(s["source"], s["status"], s["new_items"]) for s in out] == [
            ("phone-0", "complete", 5), ("phone-1", "complete", 6), ("phone-2", "complete", 7)]
        DB_URLS.pop(home, None)
    refused = run(home, "scan", *devices, "--case", "m", "--source-name", "x", ok=(2,))
    assert "give one LOCATION" in refused


def test_a_node_killed_mid_scan_loses_and_doubles_nothing(cluster: Cluster, pg: str,
                                                          tmp_path: Path) -> None:
    cluster.start_second()
    assert cluster.second is not None
    killed = cluster.second.node_id
    folder = pictures(tmp_path / "ev", n=120)
    store = _store(pg, tmp_path / "home")
    done = {"files": 0, "killed_at": None}

    def on_progress(n: int) -> None:
        done["files"] += n
        if done["killed_at"] is None and cluster_progress.snapshot()[-1]["nodes"].get(killed):
            cluster.kill_second()  # mid-scan, once it is warm and busy: a unit of it in flight
            done["killed_at"] = done["files"]

    s = ray_scan(store, "k", folder, address=cluster.address, unit_files=4,
                 on_progress=on_progress)
    assert done["killed_at"] is not None and done["killed_at"] < 120
    assert s.status == "complete" and s.totals["files"] == 120
    assert _locations(pg) == (120, 120)
    worked = cluster_progress.snapshot()[-1]["nodes"]
    assert 0 < worked[killed] < 120 and sum(worked.values()) == 120
    store.close()
    cluster.start_second()


def test_the_driver_killed_then_rerun_resumes(cluster: Cluster, pg: str, tmp_path: Path) -> None:
    folder = pictures(tmp_path / "ev", n=160)
    env = cluster.env | {"CAIRN_DATABASE_URL": pg, "CAIRN_HOME": str(tmp_path / "home")}
    env.pop("CAIRN_TEST_WORKER_FAULT")
    cmd = [CAIRN, "scan", str(folder), "--case", "d", "--new-case", "--no-progress",
           "--engine", "ray", "--address", cluster.address]
    driver = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while True:  # kill it once it has recorded some of the files, not all
        try:
            n = _locations(pg)[0]
        except Exception:  # noqa: BLE001 - the tables are not created yet
            n = 0
        if n >= 8 or driver.poll() is not None or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert driver.poll() is None, "the driver ended before it could be killed"
    driver.kill()
    driver.wait()
    recorded = _locations(pg)[0]
    assert 0 < recorded < 160
    home = _home(tmp_path / "home", pg)
    out = run(home, "scan", folder, "--case", "d", "--no-progress", "--json",
              "--engine", "ray", "--address", cluster.address)
    assert '"status": "complete"' in out
    assert '"skipped_already_recorded": 0' not in out
    assert _locations(pg) == (160, 160)
    eng = create_engine(pg)
    with eng.connect() as c:
        runs = [r[0] for r in c.execute(text("SELECT status FROM scan_runs ORDER BY id"))]
    eng.dispose()
    assert runs == ["superseded", "complete"]
    DB_URLS.pop(home)


def test_a_file_that_kills_its_ray_worker_becomes_an_error_item(cluster: Cluster, pg: str,
                                                                 tmp_path: Path) -> None:
    folder = pictures(tmp_path / "ev", n=6)
    (folder / KILLER).write_bytes(b"benign bytes whose name the test fault names\n")
    store = _store(pg, tmp_path / "home")
    s = ray_scan(store, "x", folder, address=cluster.address, unit_files=4, attempts=2)
    assert s.status == "complete" and s.totals["files"] == 7 and s.worker_failures == 1
    eng = create_engine(pg)
    with eng.connect() as c:
        rows = c.execute(text("SELECT i.path, i.sha256, e.message FROM items i LEFT JOIN "
                              "errors e ON e.item_id = i.id ORDER BY i.path")).all()
    eng.dispose()
    errors = {p: m for p, _, m in rows if m}
    assert list(errors) == [KILLER]
    assert "Ray worker reading it died 2 times" in errors[KILLER]
    assert all(sha for _, sha, _ in rows)  # hashed, even the one never read by a worker
    assert cluster_progress.snapshot()[-1]["units_given_up"] == 1
    store.close()


def _whole_and_in_parts(cluster: Cluster, tmp_path: Path, folder: Path,
                        opts: HashOptions) -> dict[str, dict]:
    """The rows of `folder` scanned locally, every file whole, and on Ray with every
    container split into parts of 1 KiB (the nodes plan, the driver hands out)."""
    rows = {}
    for engine in ("local", "ray"):
        for url in database("postgresql"):
            assert url is not None
            store = _store(url, tmp_path / engine)
            if engine == "local":
                s = local_scan(store, "p", folder, workers=1, options=opts, split=False)
            else:
                s = ray_scan(store, "p", folder, address=cluster.address, options=opts,
                             split=Split(min_image=1, part=1 << 10))
            assert s.status == "complete" and s.worker_failures == 0
            store.close()
            rows[engine] = _rows(url)
    return rows


def test_a_disk_image_in_parts_on_ray_gives_the_local_scan_rows(
        cluster: Cluster, tmp_path: Path, tree: Path) -> None:  # noqa: F811
    """An ext4 image (carving on) read on Ray in parts, which the nodes plan and the driver
    hands out: the rows of a local scan that reads it whole."""
    folder = tmp_path / "ev"
    folder.mkdir()
    ext_image(folder / "disk.img", tree, "ext4", "8M")
    rows = _whole_and_in_parts(cluster, tmp_path, folder, HashOptions(carve=True))
    assert len(rows["local"]["items"]) >= 9
    for table in rows["local"]:
        assert rows["ray"][table] == rows["local"][table], table
    last = cluster_progress.snapshot()[-1]
    assert last["units"] >= 5 and last["units_done"] == last["units"]  # the parts, the tail


def test_a_zip_in_parts_on_ray_gives_the_local_scan_rows(cluster: Cluster,
                                                         tmp_path: Path) -> None:
    """A zip (a nested zip, a repeated name) read on Ray in parts by member ranges, which
    the nodes plan and the driver hands out: the rows of a local scan that reads it whole."""
    from test_archive_parts import build_zip

    folder = build_zip(tmp_path / "zip") / "ex"
    rows = _whole_and_in_parts(cluster, tmp_path, folder, HashOptions())
    assert len(rows["local"]["items"]) == 10
    for table in rows["local"]:
        assert rows["ray"][table] == rows["local"][table], table
    last = cluster_progress.snapshot()[-1]
    assert last["units"] >= 4 and last["units_done"] == last["units"]  # the parts, the tail


def test_four_shards_answer_as_one_index(cluster: Cluster) -> None:
    connect(cluster.address)
    rng = np.random.default_rng(21)
    codes = rng.integers(0, 256, (3000, 32), dtype=np.uint8)
    queries = codes[rng.choice(len(codes), 40, replace=False)].copy()
    flips = rng.integers(0, 256, (40, 12))  # near copies: 0-12 bits flipped
    for q, bits in zip(queries, flips, strict=True):
        for b in bits[: rng.integers(0, 13)]:
            q[b // 8] ^= 1 << (b % 8)
    queries = np.concatenate([queries, rng.integers(0, 256, (10, 32), dtype=np.uint8)])
    one = HammingIndex()
    one.add(codes)
    one.build()
    sharded = ShardedIndex(codes, shards=4)
    entry_ids = np.arange(len(codes), dtype=np.int64) * 3 + 5  # as a store's entries: sparse
    chunked = ShardedIndex.from_chunks(((codes[i:i + 700], entry_ids[i:i + 700])
                                        for i in range(0, len(codes), 700)), shards=4)
    try:
        sizes = sharded.sizes()
        assert sum(sizes) == len(codes) == len(chunked) and min(sizes) > 0
        assert chunked.sizes() == sizes
        for radius in (0, 31, 90):
            want = one.search(queries, radius)
            got = sharded.search(queries, radius)
            assert any(len(ids) for ids, _ in want)
            for (wi, wd), (gi, gd) in zip(want, got, strict=True):
                assert gi.tolist() == wi.tolist() and gd.tolist() == wd.tolist()
            qi, rows, d = one.join(queries, radius)  # by entry id, flat, as the matcher asks
            cq, cids, cd = chunked.join(queries, radius)
            assert (cq.tolist(), cids.tolist(), cd.tolist()) == (
                qi.tolist(), entry_ids[rows].tolist(), d.tolist())
    finally:
        sharded.close()
        chunked.close()
