"""List index benchmark: extending a persisted list index in place, as an import does.

    nice .venv/bin/python bench/bench_listindex.py --size 10M --append 100k

A list index of N PDQ entries (uniform random hashes, one list; `--md5` adds that share of MD5
entries) is built and saved once, as the first import would. Then, as `open_matcher` does
after `cairn lists import --append`, the saved index is opened (memory-mapped), the new
entries are added, a withdrawal is applied, and the index is saved to a new folder beside the
old one (unchanged parts hard-linked). Printed: build seconds, append seconds (open + extend +
save), withdraw seconds, the time to merge the appended rows into the tables (what an
append that passes 5% of them does), the open time of the appended index (in this process,
page cache warm, and in a fresh process), which files were rewritten, and whether queries
find what a brute-force scan finds. Targets: append 100k to 10M <= 10 s, open after append
<= 50 ms. Timings go here, never into tests.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "bench-out" / "listindex"
RADIUS = 31


def count(text: str) -> int:
    """1M, 100k, 5000 -> an int."""
    mult = {"k": 1_000, "M": 1_000_000}.get(text[-1], 1)
    return int(float(text[:-1] if mult > 1 else text) * mult)


def entries(lo: int, n: int, md5_share: float, seed: int):
    """(id, list id, signal type, value, active) for ids lo..lo+n-1, in chunks (10M hex
    strings at once would take gigabytes)."""
    rng = np.random.default_rng(seed)
    for start in range(0, n, 500_000):
        k = min(500_000, n - start)
        codes = rng.integers(0, 256, (k, 32), dtype=np.uint8)
        is_md5 = rng.random(k) < md5_share
        for j in range(k):
            if is_md5[j]:
                yield lo + start + j, 1, "md5", codes[j, :16].tobytes().hex(), True
            else:
                yield lo + start + j, 1, "pdq", codes[j].tobytes().hex(), True


def inodes(folder: Path) -> dict[str, int]:
    return {str(f.relative_to(folder)): f.stat().st_ino for f in folder.rglob("*.npy")}


def fresh_open(folder: Path) -> float:
    """Seconds a fresh process takes to import the matcher and open the index (what every
    `cairn match` or scan pays), imports included and excluded."""
    code = ("import sys, time; t0 = time.perf_counter(); "
            "from cairn.lists.matcher import Matcher; t1 = time.perf_counter(); "
            "Matcher.load(sys.argv[1], {1: 31}); t2 = time.perf_counter(); "
            "print(t2 - t1, t2 - t0)")
    out = subprocess.run([sys.executable, "-c", code, str(folder)], capture_output=True,
                         text=True, check=True)
    return float(out.stdout.split()[0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="1M", help="entries in the index before the append")
    ap.add_argument("--append", default="100k", help="entries appended")
    ap.add_argument("--md5", type=float, default=0.0, help="share of MD5 entries (0..1)")
    args = ap.parse_args()
    from cairn.lists.matcher import Matcher

    n, k = count(args.size), count(args.append)
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    first, second, third = OUT / "g1", OUT / "g2", OUT / "g3"
    t = time.perf_counter()
    m = Matcher.build(entries(1, n, args.md5, seed=1), {1: RADIUS})
    m.save(first, {"generation": 1})
    build_s = time.perf_counter() - t
    del m

    t = time.perf_counter()
    m, _ = Matcher.load(first, {1: RADIUS})
    m.set_active([])
    m.extend(entries(n + 1, k, args.md5, seed=2))
    m.save(second, {"generation": 2}, previous=first)
    append_s = time.perf_counter() - t
    del m

    t = time.perf_counter()
    m, _ = Matcher.load(second, {1: RADIUS})
    open_ms = 1000 * (time.perf_counter() - t)
    withdrawn = np.random.default_rng(3).choice(np.arange(1, n + k + 1), 1000, replace=False)
    t = time.perf_counter()
    m.set_active((int(i), False) for i in withdrawn)
    m.save(third, {"generation": 3}, previous=second)
    withdraw_s = time.perf_counter() - t
    del m

    m, _ = Matcher.load(third, {1: RADIUS})
    t = time.perf_counter()
    tail = m.pdq_rows - m.pdq._built
    m.pdq.build()  # what the append passing 5% of the tables does: merge, not rebuild
    fold_s = time.perf_counter() - t
    cold_ms = 1000 * fresh_open(third)
    before, after = inodes(first), inodes(third)
    kept = sorted(name for name in before if after.get(name) == before[name])
    rewritten = sorted(name for name in after if before.get(name) != after[name])
    # queries: edited copies of old and appended rows, and unrelated hashes; the loaded
    # index (tables over the old rows, the appended rows as a scanned tail) against a scan
    rng = np.random.default_rng(4)
    codes = np.asarray(m.pdq._codes)
    q = codes[rng.integers(0, len(codes), 200)].copy()
    q[100:150] = codes[rng.integers(len(codes) - max(1, k // 2), len(codes), 50)]
    bits = np.unpackbits(q, axis=1)
    bits ^= rng.random(bits.shape) < 0.08
    q = np.concatenate([np.packbits(bits, axis=1),
                        rng.integers(0, 256, (100, 32), dtype=np.uint8)])
    auto = m.pdq.search(q, RADIUS)
    scan = m.pdq.search(q, RADIUS, strategy="scan")
    agree = sum(np.array_equal(a[0], b[0]) for a, b in zip(auto, scan, strict=True)) / len(q)
    hits = sum(len(a[0]) for a in auto)
    sizes = {(f.stat().st_dev, f.stat().st_ino): f.stat().st_size for f in OUT.rglob("*")
             if f.is_file()}  # a hard-linked file once
    on_disk = sum(sizes.values())

    print(f"list index: {n:,} entries ({args.md5:.0%} MD5, the rest PDQ), append {k:,}")
    print(f"  build + save (first import)            {build_s:8.1f} s")
    print(f"  append {k:>9,} (open, extend, save)   {append_s:8.2f} s")
    print(f"  withdraw 1,000 (flip, save)            {withdraw_s:8.2f} s")
    print(f"  fold {tail:>9,} tail rows into the tables {fold_s:8.2f} s (merge, in memory)")
    print(f"  open after append (this process)       {open_ms:8.1f} ms")
    print(f"  open after append (fresh process)      {cold_ms:8.1f} ms (imports excluded)")
    print(f"  PDQ rows {len(codes):,}; saved with {tail:,} rows as a scanned tail (folded in "
          "once past 5% of the tables)")
    print(f"  files kept (hard-linked) across append + withdraw: {', '.join(kept) or 'none'}")
    print(f"  files rewritten: {', '.join(rewritten)}")
    print(f"  search agrees with a brute-force scan: {agree:.1%} of {len(q)} queries "
          f"({hits} hits)")
    print(f"  on disk, the three folders (a linked file once): {on_disk / 1e9:.2f} GB; "
          f"one folder {sum(f.stat().st_size for f in third.rglob('*') if f.is_file()) / 1e9:.2f}"
          " GB")


if __name__ == "__main__":
    main()
