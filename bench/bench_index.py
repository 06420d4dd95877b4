"""PDQ index benchmark: cairn HammingIndex vs faiss IndexBinaryFlat vs python-threatexchange.

    make bench-index                      # or: .venv/bin/python bench/bench_index.py --sizes 1M,10M

For N hashes (uniform random, and clustered like real lists: near-duplicates and low-entropy
pictures) and 1,000 queries at radius 31 (half edited copies of listed hashes, half unrelated),
each contender is built and queried in a fresh process, and the table gives: build seconds,
memory (resident growth), single-query latency (median ms), batched queries/s on 1 and 2
cores (best of up to 3 passes), open time, and agreement with a brute-force scan (faiss
IndexBinaryFlat's exhaustive range search). Timings go here, never into tests.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "bench-out" / "index"
RADIUS = 31
QUERIES = 1000


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def dataset(kind: str, n: int) -> tuple[Path, Path]:
    OUT.mkdir(parents=True, exist_ok=True)
    data, queries = OUT / f"{kind}-{n}.npy", OUT / f"{kind}-{n}-queries.npy"
    if data.exists() and queries.exists():
        return data, queries
    rng = np.random.default_rng(n + len(kind))
    if kind == "uniform":
        codes = rng.integers(0, 256, (n, 32), dtype=np.uint8)
    else:
        centres = rng.integers(0, 256, (max(1, n // 50), 32), dtype=np.uint8)
        centres[: len(centres) // 4, :12] = 0  # low-entropy pictures
        codes = centres[rng.integers(0, len(centres), n)]
        for lo in range(0, n, 500_000):  # in chunks: 10M x 256 flips would need 20 GB
            bits = np.unpackbits(codes[lo:lo + 500_000], axis=1)
            flips = rng.random(bits.shape, dtype=np.float32) < rng.uniform(
                0, 0.12, (len(bits), 1)).astype(np.float32)
            codes[lo:lo + 500_000] = np.packbits(bits ^ flips, axis=1)
    q = codes[rng.integers(0, n, QUERIES // 2)]
    qbits = np.unpackbits(q, axis=1)
    qbits ^= rng.random(qbits.shape) < rng.uniform(0, 0.12, (len(q), 1))
    q = np.concatenate([np.packbits(qbits, axis=1),
                        rng.integers(0, 256, (QUERIES - len(q), 32), dtype=np.uint8)])
    np.save(data, codes)
    np.save(queries, q)
    return data, queries


# -- contenders: build(codes) -> object; query(obj, qs) -> list of sorted id arrays ----------
def build_cairn(codes):
    from cairn.index import HammingIndex

    idx = HammingIndex()
    idx.add(codes)
    idx.build()
    return idx


def query_cairn(idx, qs):
    return [np.sort(ids) for ids, _ in idx.search(qs, RADIUS)]


def build_faiss(codes):
    import faiss

    idx = faiss.IndexBinaryFlat(256)
    idx.add(codes)
    return idx


def query_faiss(idx, qs):
    lims, _, ids = idx.range_search(qs, RADIUS + 1)  # faiss: distance < radius
    return [np.sort(ids[lims[i]:lims[i + 1]]) for i in range(len(qs))]


def build_pytx(codes):
    from threatexchange.signal_type.pdq.pdq_index import PDQIndex

    return PDQIndex([(row.tobytes().hex(), i) for i, row in enumerate(codes)])


def query_pytx(idx, qs):
    return [np.sort(np.asarray([m.metadata for m in idx.query(q.tobytes().hex())],
                               dtype=np.int64)) for q in qs]


CONTENDERS = {"cairn HammingIndex": (build_cairn, query_cairn),
              "faiss IndexBinaryFlat": (build_faiss, query_faiss),
              "python-threatexchange PDQIndex": (build_pytx, query_pytx)}


def _half(args):
    name, idx, qs = args
    return CONTENDERS[name][1](idx, qs)


def run_one(name: str, data: Path, queries: Path, conn) -> None:
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    try:
        import faiss

        faiss.omp_set_num_threads(1)
    except ImportError:
        pass
    build, query = CONTENDERS[name]
    codes = np.load(data)
    qs = np.load(queries)
    before = rss_mb()
    t0 = time.perf_counter()
    idx = build(codes)
    build_s = time.perf_counter() - t0
    mem = rss_mb() - before
    lat = []
    for q in qs[:100]:
        t = time.perf_counter()
        query(idx, q[None, :])
        lat.append(time.perf_counter() - t)
    qps1 = 0.0
    for _ in range(3):  # best of 3 passes (machines are noisy), unless a pass is long
        t = time.perf_counter()
        results = query(idx, qs)
        secs = time.perf_counter() - t
        qps1 = max(qps1, len(qs) / secs)
        if secs > 10:
            break
    extra = {}
    if name.startswith("cairn"):  # persistence: save, then open memory-mapped
        import shutil

        from cairn.index import HammingIndex

        folder = OUT / f"saved-{data.stem}"
        shutil.rmtree(folder, ignore_errors=True)
        t = time.perf_counter()
        idx.save(folder)
        extra["save_s"] = time.perf_counter() - t
        t = time.perf_counter()
        loaded = HammingIndex.load(folder)
        loaded.search(qs[:1], RADIUS)
        extra["load_s"] = time.perf_counter() - t
        extra["cold_s"] = cold_open(folder, queries)
        extra["folder"] = str(folder)
    global _SHARED  # forked children share the built index copy-on-write
    _SHARED = idx
    halves = [(name, qs[: len(qs) // 2]), (name, qs[len(qs) // 2:])]
    qps2 = 0.0
    with mp.get_context("fork").Pool(2) as pool:
        pool.map(_half_shared, [(name, qs[:2]), (name, qs[2:4])])  # workers up and warm
        for _ in range(3):
            t = time.perf_counter()
            pool.map(_half_shared, halves)
            secs = time.perf_counter() - t
            qps2 = max(qps2, len(qs) / secs)
            if secs > 10:
                break
    conn.send({"build_s": build_s, "mem_mb": mem, "lat_ms": 1000 * float(np.median(lat)),
               "qps1": qps1, "qps2": qps2, "results": results, **extra})
    conn.close()


_SHARED = None


def cold_open(folder: Path, queries: Path) -> float:
    """Seconds a fresh process takes to import cairn.index, open the saved index and answer
    one query: what a `cairn match` pays (page cache warm; compiled kernels cached)."""
    code = ("import sys, time; t = time.perf_counter(); import numpy as np; "
            "from cairn.index import HammingIndex; "
            "idx = HammingIndex.load(sys.argv[1]); "
            f"idx.search(np.load(sys.argv[2])[:1], {RADIUS}); print(time.perf_counter() - t)")
    out = subprocess.run([sys.executable, "-c", code, str(folder), str(queries)],
                         capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def _half_shared(args):
    name, qs = args
    return CONTENDERS[name][1](_SHARED, qs)


def measure(name: str, data: Path, queries: Path) -> dict:
    parent, child = mp.get_context("fork").Pipe()
    proc = mp.get_context("fork").Process(target=run_one, args=(name, data, queries, child))
    proc.start()
    out = parent.recv()
    proc.join()
    return out


def join_queries(n_list: int, data: Path, m: int) -> np.ndarray:
    """An exhibit of m pictures against the list: 5% edited copies of listed hashes, the
    rest unrelated pictures."""
    rng = np.random.default_rng(m)
    codes = np.load(data, mmap_mode="r")
    k = m // 20
    copies = np.unpackbits(codes[np.sort(rng.integers(0, n_list, k))], axis=1)
    copies ^= (rng.random(copies.shape, dtype=np.float32)
               < rng.uniform(0, 0.12, (k, 1)).astype(np.float32))
    q = np.concatenate([np.packbits(copies, axis=1),
                        rng.integers(0, 256, (m - k, 32), dtype=np.uint8)])
    return q[rng.permutation(m)]


def _join_part(args):
    folder, lo, hi, qfile = args
    from threadpoolctl import threadpool_limits

    from cairn.index import HammingIndex

    threadpool_limits(1)
    idx = HammingIndex.load(folder)
    q = np.load(qfile, mmap_mode="r")[lo:hi]
    pairs = 0
    for start in range(0, len(q), 10_000):
        pairs += len(idx.join(np.asarray(q[start:start + 10_000]), RADIUS)[0])
    return pairs


def join_bench(folder: str, data: Path, n_list: int, m: int, workers: int = 2) -> dict:
    """The exhibit join: m queries against the saved (memory-mapped) index on `workers`
    processes, as a scan runs it."""
    qfile = OUT / f"join-{m}.npy"
    np.save(qfile, join_queries(n_list, data, m))
    cuts = np.linspace(0, m, workers + 1).astype(int)
    t = time.perf_counter()
    with mp.get_context("fork").Pool(workers) as pool:
        pairs = sum(pool.map(_join_part, [(folder, int(cuts[i]), int(cuts[i + 1]), qfile)
                                          for i in range(workers)]))
    secs = time.perf_counter() - t
    return {"seconds": secs, "pairs": pairs, "qps": m / secs}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1M,10M")
    ap.add_argument("--kinds", default="uniform,clustered")
    ap.add_argument("--skip", default="", help="contenders to skip, comma-separated prefixes")
    ap.add_argument("--join", default="1M", help="exhibit size for the 2-core join "
                    "against the largest uniform list (0: skip)")
    args = ap.parse_args()
    sizes = [int(float(s[:-1]) * 1_000_000) if s.endswith("M") else int(s)
             for s in args.sizes.split(",")]
    print(f"radius {RADIUS}, {QUERIES} queries (half edited copies of listed hashes, half "
          "unrelated); each contender in its own process\n")
    print(f"{'N':>10} {'data':<10} {'contender':<32}{'build s':>9}{'mem MB':>9}"
          f"{'1 q ms':>9}{'q/s 1c':>9}{'q/s 2c':>9}{'agree':>8}")
    table: dict[str, dict[str, dict]] = {}  # dataset -> contender -> figures, for the chart
    for n in sizes:
        for kind in args.kinds.split(","):
            data, queries = dataset(kind, n)
            truth = None
            rows = []
            for name in ("faiss IndexBinaryFlat", "cairn HammingIndex",
                         "python-threatexchange PDQIndex"):
                if any(name.startswith(s) for s in args.skip.split(",") if s):
                    continue
                r = measure(name, data, queries)
                if name.startswith("faiss"):
                    truth = r["results"]
                agree = (sum(np.array_equal(a, b) for a, b in zip(r["results"], truth,
                                                                   strict=True)) / len(truth)
                         if truth is not None else float("nan"))
                rows.append((name, r, agree))
                table.setdefault(f"{n // 1_000_000}M {kind}" if n >= 1_000_000 else
                                 f"{n:,} {kind}", {})[name] = r
                print(f"{n:>10} {kind:<10} {name:<32}{r['build_s']:>9.1f}{r['mem_mb']:>9.0f}"
                      f"{r['lat_ms']:>9.2f}{r['qps1']:>9.0f}{r['qps2']:>9.0f}{agree:>8.1%}",
                      flush=True)
            base = {name: r for name, r, _ in rows}
            c = base.get("cairn HammingIndex")
            if c:
                print(f"{'':>22}cairn save {c['save_s']:.1f} s; load (memory-mapped, page "
                      f"cache warm) + first query {1000 * c['load_s']:.0f} ms; in a fresh "
                      f"process, imports included: {1000 * c['cold_s']:.0f} ms")
                if kind == "uniform" and n == max(sizes):
                    join_at = (c["folder"], data, n)
            for other in ("faiss IndexBinaryFlat", "python-threatexchange PDQIndex"):
                if c and other in base:
                    print(f"{'':>22}cairn / {other}: {c['qps1'] / base[other]['qps1']:.1f}x "
                          "queries/s on one core")
    m = int(float(args.join[:-1]) * 1_000_000) if args.join.endswith("M") else int(args.join)
    if m and "join_at" in locals():
        folder, data, n = join_at
        j = join_bench(folder, data, n, m)
        print(f"\njoin: {m:,} exhibit pictures (5% edited copies) x {n:,} listed hashes, "
              f"radius {RADIUS}, 2 processes on the saved index: {j['seconds']:.1f} s, "
              f"{j['qps']:.0f} q/s, {j['pairs']:,} pairs -> 1M pictures in "
              f"{1_000_000 / j['qps'] / 60:.1f} min")
    print("\nagree: share of queries whose result set equals the exhaustive scan's.")
    if table:
        chart(table)


def chart(table: dict[str, dict[str, dict]]) -> None:
    """queries/s on one core and memory per contender and dataset, log scale: bench-out/."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n in CONTENDERS if any(n in row for row in table.values())]
    x = np.arange(len(table))
    width = 0.8 / len(names)
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8))
    for ax, key, label in ((axes[0], "qps1", "queries/s, one core (radius 31, exact)"),
                           (axes[1], "mem_mb", "memory (MB)")):
        for k, name in enumerate(names):
            vals = [row[name][key] if name in row else 0 for row in table.values()]
            bars = ax.bar(x + k * width - 0.4 + width / 2, vals, width, label=name)
            ax.bar_label(bars, fmt="{:,.0f}", fontsize=7)
        ax.set_yscale("log")
        ax.set_title(label)
        ax.set_xticks(x, list(table), rotation=15)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    OUT.mkdir(parents=True, exist_ok=True)
    fig.savefig(OUT / "index.png", dpi=110)
    print(f"chart: {OUT / 'index.png'}")


if __name__ == "__main__":
    main()
