"""Tracing benchmark: content families for a generated case of N items (default 200k; the
issue's scale is 1M: --items 1000000), built from what a scan records (PDQ with its 8
dihedral hashes per picture), without scanning.

    make bench            # or: .venv/bin/python bench/bench_trace.py --items 1000000

A tenth of the items are edited copies of others (up to 24 bits flipped), spread over 20
exhibits; the rest are unrelated. Prints the time to build the dihedral index, join, and
union-find, items/s, and the families found against the planted ones.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from threadpoolctl import threadpool_limits

from figures import Figure, emit


def make_items(n: int, seed: int = 5) -> tuple[list[dict], int]:
    """(items, how many planted copies lie within 31 bits of their original)."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 256, (n, 32), dtype=np.uint8)
    n_copies = n // 10
    src = rng.integers(0, n - n_copies, n_copies)
    bits = np.unpackbits(codes[src], axis=1)
    flips = rng.random(bits.shape, dtype=np.float32) < (rng.integers(0, 25, (n_copies, 1))
                                                       / 256).astype(np.float32)
    codes[n - n_copies:] = np.packbits(bits ^ flips, axis=1)
    within = int(np.sum(flips.sum(axis=1) <= 31))  # the copies PDQ's threshold can link
    # the 7 other dihedral hashes of a picture: unrelated to its plain hash, as in real data
    others = rng.integers(0, 256, (n, 7, 32), dtype=np.uint8)
    items = []
    for i in range(n):
        h = codes[i].tobytes().hex()
        items.append({"source": f"exhibit-{i % 20:02d}", "path": f"{i:08d}.jpg",
                      "sha256": f"{i:064x}", "pdq": h, "quality": 100,
                      "dihedral": [h] + [o.tobytes().hex() for o in others[i]],
                      "width": 640, "height": 480, "kind": "image"})
    return items, within


def main() -> None:
    from cairn.trace.families import families

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=200_000)
    ap.add_argument("--workers", default="1,2", help="process counts to time, e.g. 2")
    args = ap.parse_args()
    threadpool_limits(1)
    t = time.perf_counter()
    items, planted = make_items(args.items)
    print(f"generated {len(items):,} items ({planted:,} edited copies within 31 bits) in "
          f"{time.perf_counter() - t:.1f} s")
    figs = []
    for workers in (int(w) for w in args.workers.split(",")):
        t = time.perf_counter()
        fams = families(items, workers=workers)
        secs = time.perf_counter() - t
        copies_found = sum(len(f.members) - 1 for f in fams)
        print(f"{workers} process(es): {len(fams):,} families holding {copies_found:,} copies "
              f"(planted {planted:,}) in {secs:.1f} s, {len(items) / secs:,.0f} items/s -> "
              f"1M items in {1_000_000 / (len(items) / secs) / 60:.1f} min")
        if workers == 2:
            figs.append(Figure("trace.items_per_s", len(items) / secs,
                               f"{len(items):,} items, {len(fams):,} families; 1M items in "
                               f"{1_000_000 / (len(items) / secs) / 60:.1f} min"))
    emit("bench_trace", figs)


if __name__ == "__main__":
    main()
