"""`cairn lists import --append` end to end on a large list (issue 20: a 100M-hash list
"extended by `lists import --append` of 1M hashes in <= 30 s without a rebuild").

    nice .venv/bin/python bench/bench_append.py --size 100M --append 1M --home /tmp/b100m

`bench_index.py` measures the index alone (fed by a generator) and `bench_listindex.py` the
index's own append; this one goes through the store and the CLI as a user does:

1. The store at `--home` gets a list of SIZE uniform random PDQ hashes through the store's
   import path (`Lists.add`, what `cairn lists import` calls; one transaction). It is kept
   and reused by the next run with the same `--home` (100M: ~10 GB of SQLite).
2. Its list index is built in a child process, streamed from the store in entry order
   (`open_matcher`, as the first scan after an import does): wall time and the child's peak
   resident memory (the store is not held in memory twice).
3. APPEND new hashes, one a line in a plain file, go in with
   `cairn lists import FILE --name BENCH_LIST --type pdq --append --no-rematch --json`, run
   as a separate process and timed whole: start-up, parsing, the transaction, the index
   opened, extended and saved (no rebuild: the output says which index files were rewritten).
4. A fresh process opens the appended index and looks up appended and old hashes (each must
   be found at distance 0): the timing counts only if the result is right.

`--fast-build` (needed at 100M): a new store's list is built by bench/bulkstore.py, 1M
entries through `Lists.add`, the other 99M by plain SQL with the Indicator-id and generation
indexes created after; the same rows and indexes an import makes (checked by
tests/test_bench_bulkstore.py), not the hours `Lists.add` takes at 100M (its random
Indicator-id index thrashes the page cache). One difference: CREATE INDEX packs the
Indicator-id index's leaves full, where random inserts leave them ~2/3 full, so the first
append after such a build splits more pages than later ones (figures below).

Measured at 100M (2026-12-07, 2 cores, 24 GiB, 4 KiB pages; bench/append_phases.py splits an
append into phases): store built in 1,122 s (788 s for the 99M rows, 322 s for the two
indexes; 34 GB), the list index in 683 s at 12.5 GiB peak RSS. An append of 1M takes 274 s
through the CLI (101M -> 102M; target 30 s). Phases at 102M -> 103M (245 s): parse and rows
6 s (STIX ids 2 s), staging 3 s, the sorted INSERT 187 s (115 s CPU), COMMIT 13 s, WAL
checkpoint 15 s, the list index extended 14 s and saved 5 s (5.6 GiB rewritten); the first
append after the build (100M -> 101M) 438 s, its INSERT 323 s. The bound: the INSERT puts 1M
random keys into two 100M-entry b-trees (the UNIQUE value index and the Indicator-id index,
2.14M and 1.70M leaves at 103M), about one leaf rewritten per key in each: 1.8M-2.4M pages
(7-9.3 GiB, ~45% of those leaves) go to the WAL, 22-32 GiB written in all with the cache's
spills, and again into the database by the checkpoint. Writing 7 GiB twice takes more than
30 s on this disk alone, so the target needs an append that leaves the old b-trees alone
(new entries in a segment of their own, merged later; duplicates checked against the list
index), and an index save that appends rather than rewriting 5.6 GiB.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bulkstore  # noqa: E402
from bulkstore import codes  # noqa: E402
from figures import Figure, emit  # noqa: E402

CAIRN = str(Path(sys.executable).parent / "cairn")
LIST = "BENCH_LIST"
CHUNK = 1_000_000


def count(text: str) -> int:
    """1M, 100k, 5000 -> an int."""
    mult = {"k": 1_000, "M": 1_000_000}.get(text[-1], 1)
    return int(float(text[:-1] if mult > 1 else text) * mult)


def build_store(home: Path, n: int, fast: bool) -> None:
    from cairn.store.store import Store

    store = Store.open(home)
    have = {x["name"]: x for x in store.lists.all(counts=False)}
    store.close()
    if LIST in have:
        if have[LIST]["entry_count"] < n:
            sys.exit(f"{home} holds {have[LIST]['entry_count']:,} entries, not {n:,}: "
                     "use another --home")
        print(f"store: {have[LIST]['entry_count']:,} entries already there (reused)")
        return
    t0 = time.perf_counter()
    bulkstore.build(home, n, LIST, seed=1, first=CHUNK if fast else n)
    how = ("the first 1M through Lists.add, the rest by plain SQL with the Indicator-id and "
           "generation indexes built after (bench/bulkstore.py: the same rows and indexes "
           "an import makes; Lists.add at 100M thrashes the page cache for hours)" if fast
           else "through Lists.add")
    print(f"store: {n:,} PDQ entries in {time.perf_counter() - t0:,.0f} s, {how}",
          flush=True)


def child(code: str, *args: str) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (GiB) and stdout of a Python child running `code`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if out.returncode:
        sys.exit(f"child failed:\n{out.stderr[-3000:]}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, max(peak, before) / 2**20, out.stdout


BUILD = """
import sys
from cairn.scan.listindex import open_matcher
from cairn.store.store import Store
m = open_matcher(Store.open(sys.argv[1]))
print(len(m))
"""

CHECK = """
import json, sys, time
t0 = time.perf_counter()
from cairn.scan.listindex import open_matcher
from cairn.store.store import Store
m = open_matcher(Store.open(sys.argv[1]))
opened = time.perf_counter() - t0
hexes = json.loads(sys.argv[2])
found = [any(h.distance == 0 for h in m.match({"pdq": {"hash": x, "quality": 100}}))
         for x in hexes]
print(json.dumps({"open_s": opened, "found": sum(found), "asked": len(found)}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="1M", help="entries in the list before the append")
    ap.add_argument("--append", default="100k", help="entries appended by the CLI")
    ap.add_argument("--home", required=True, type=Path, help="the store (kept, reused)")
    ap.add_argument("--fast-build", action="store_true",
                    help="build a new store's list fast (bench/bulkstore.py): 1M through "
                         "Lists.add, the rest by plain SQL; the same rows and indexes")
    args = ap.parse_args()
    n, k = count(args.size), count(args.append)
    build_store(args.home, n, args.fast_build)

    index = args.home / "index"
    fresh = not index.exists()
    build_s, build_gib, rows = child(BUILD, str(args.home))
    print(f"index: {int(rows):,} rows, {'built' if fresh else 'opened (already built)'} "
          f"in a child process in {build_s:,.1f} s, peak RSS {build_gib:.2f} GiB", flush=True)

    more = args.home.parent / f"{args.home.name}-append-{k}.txt"
    new = np.concatenate(list(codes(k, 1000 + int(time.time()))))
    with more.open("w") as f:
        for row in new:
            f.write(row.tobytes().hex() + "\n")
    before = {p.relative_to(index): p.stat().st_ino for p in index.rglob("*") if p.is_file()}
    t0 = time.perf_counter()
    out = subprocess.run([CAIRN, "--home", str(args.home), "lists", "import", str(more),
                          "--name", LIST, "--format", "plain", "--type", "pdq", "--append",
                          "--no-rematch", "--json"], capture_output=True, text=True)
    append_s = time.perf_counter() - t0
    if out.returncode:
        sys.exit(f"cairn lists import --append failed ({out.returncode}):\n{out.stderr[-3000:]}")
    res = json.loads(out.stdout)
    current = (index / "CURRENT").read_text().strip()
    after = {p.relative_to(index / current): p.stat().st_ino
             for p in (index / current).rglob("*") if p.is_file()}
    old_inodes = set(before.values())
    kept = sorted(str(p) for p in after if after[p] in old_inodes)  # hard-linked, not copied
    rewritten = sorted(str(p) for p in after if after[p] not in old_inodes)
    print(f"cairn lists import --append {k:,} hashes (end to end, one process): "
          f"{append_s:.1f} s; {res.get('added', '?'):,} added, {res['entries']:,} entries, "
          f"{res['indexed_entries']:,} indexed", flush=True)
    print(f"  index generation {current}: written {', '.join(rewritten) or 'none'}; "
          f"kept from the last (hard-linked) {', '.join(kept) or 'none'}")
    more.unlink()

    old = next(codes(CHUNK, 1))[:50]  # the first hashes the list was made of
    ask = [r.tobytes().hex() for r in new[:50]] + [r.tobytes().hex() for r in old]
    _, _, checked = child(CHECK, str(args.home), json.dumps(ask))
    chk = json.loads(checked)
    ok = chk["found"] == chk["asked"]
    print(f"  a fresh process opens it in {chk['open_s']:.2f} s (imports included) and finds "
          f"{chk['found']} of {chk['asked']} hashes (50 appended, 50 old) at distance 0"
          f"{'' if ok else ': WRONG'}", flush=True)
    size = args.size
    emit(f"bench_append-{size}", [
        Figure("lists.append_e2e_s", append_s if ok else None,
               f"{res['added']:,} hashes appended to {res['entries'] - res['added']:,} via "
               "`cairn lists import --append`", size),
        Figure("index.store_build_s", build_s if fresh else None,
               f"streamed from the store, peak RSS {build_gib:.2f} GiB" if fresh
               else "index was already built (not measured this run)", size),
    ])
    print(f"load average {os.getloadavg()[0]:.2f}")
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
