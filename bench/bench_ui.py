"""The review queue's paging, server-side: a case of N items (default 10,000), timed per page.

The case is written straight into a fresh SQLite store (no pictures: paging reads rows, never
pixels): N items, 2% matched by a list entry, 5% with a finding that declares them generated,
10% already reviewed. Timed: `web.queue.page` plus rendering queue.html, for the first page,
pages deep in each tier, and a walk of the whole queue with the `unreviewed` filter, as the
median and worst per page. Issue 18's budget: 300 ms per page. Nothing here is asserted.

    python bench/bench_ui.py [--items 10000] [--page 48]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import insert

from cairn.store import Store, reviews
from cairn.store import schema as t
from cairn.web import queue
from cairn.web.routes import _env
from cairn.web.schemes import default_scheme


def build(store: Store, n: int) -> int:
    now = "2026-01-01T00:00:00+00:00"
    with store.engine.begin() as c:
        case_id = c.execute(insert(t.cases).values(name="bench", created_at=now)
                            ).inserted_primary_key[0]
        src = c.execute(insert(t.sources).values(case_id=case_id, name="exhibit-01",
                                                 location="/nonexistent", added_at=now)
                        ).inserted_primary_key[0]
        run = c.execute(insert(t.scan_runs).values(
            case_id=case_id, source_id=src, tool_version="bench", examiner="bench",
            host="bench", started_at=now, status="complete", arguments="{}")
        ).inserted_primary_key[0]
        c.execute(insert(t.items), [
            {"source_id": src, "scan_run_id": run, "path": f"DCIM/{i:07d}.jpg",
             "raw_path": f"DCIM/{i:07d}.jpg".encode(),
             "location_key": i.to_bytes(32, "big"), "kind": "image",
             "media_type": "image/jpeg", "size": 1000 + i, "sha256": f"{i:064x}"}
            for i in range(n)])
        lst = c.execute(insert(t.lists).values(
            name="bench-list", source_file="-", format="plain", imported_at=now,
            entry_count=1, rejected_count=0, pdq_threshold=31)).inserted_primary_key[0]
        entry = c.execute(insert(t.list_entries).values(
            list_id=lst, signal_type="md5", value="0" * 32, labels="[]", line_no=1)
        ).inserted_primary_key[0]
        c.execute(insert(t.matches), [
            {"item_id": i + 1, "entry_id": entry, "list_id": lst, "signal_type": "md5",
             "distance": 0, "transform": "none"} for i in range(0, n, 50)])
        c.execute(insert(t.findings), [
            {"sha256": f"{i:064x}", "kind": "generator", "strength": "declared",
             "source": "png:parameters",
             "data": json.dumps({"kind": "generator", "generator": "automatic1111",
                                 "strength": "declared"})}
            for i in range(7, n, 20)])
    reviews.record(store, case_id, range(3, n + 1, 10), "bench", "vic-us", "0")
    return case_id


def timed(store: Store, case_id: int, q: queue.QueueQuery) -> tuple[float, queue.QueuePage]:
    t0 = time.perf_counter()
    pg = queue.page(store, case_id, q)
    _env.get_template("queue.html").render(
        who=None, csrf="", schemes={}, case="bench", page=pg, next_url=None,
        scheme=default_scheme(), source="", matched="", state=q.state, tiers=queue.TIERS,
        reveal_seconds=5, break_minutes=30, first=True)
    return (time.perf_counter() - t0) * 1000, pg


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=10_000)
    ap.add_argument("--page", type=int, default=48)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("CAIRN_EXAMINER", "bench")
        store = Store.open(Path(tmp))
        t0 = time.perf_counter()
        case_id = build(store, a.items)
        print(f"case of {a.items:,} items written in {time.perf_counter() - t0:.1f} s "
              f"(SQLite, page of {a.page})")
        for label, cursor in (("first page", None), ("deep in matched", f"0.{a.items // 2}"),
                              ("deep in synthetic", f"1.{a.items // 2}"),
                              ("deep in the rest", f"2.{a.items - 5 * a.page}")):
            ms = sorted(timed(store, case_id, queue.QueueQuery(cursor=cursor, limit=a.page))[0]
                        for _ in range(5))
            print(f"  {label:<22} median {statistics.median(ms):7.1f} ms   worst {ms[-1]:7.1f} ms")
        for state in ("all", "unreviewed"):
            times, cursor, pages = [], None, 0
            while True:
                ms, pg = timed(store, case_id, queue.QueueQuery(state=state, cursor=cursor,
                                                                limit=a.page))
                times.append(ms)
                pages += 1
                cursor = pg.next_cursor
                if cursor is None:
                    break
            print(f"  walk, state={state:<11} {pages:4d} pages: median "
                  f"{statistics.median(times):7.1f} ms   worst {max(times):7.1f} ms per page")
        store.close()


if __name__ == "__main__":
    main()
