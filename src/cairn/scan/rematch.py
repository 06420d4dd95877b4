"""Re-matching: a case's stored signals against the lists as they are now, without reading
the evidence again. A list imported after a scan is applied to the case; after an import or
an append only the new entries are looked up (a small index built of them alone)."""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.pool import Pool

from cairn.index import IndexFileError
from cairn.lists.matcher import Matcher
from cairn.scan.listindex import match_records, open_matcher
from cairn.scan.pipeline import default_workers
from cairn.store.store import Store

BATCH = 20_000  # items read and matched at a time
PART = 2_000  # items one worker matches per task

_SHARED: Matcher | None = None  # the matcher forked workers share copy-on-write


def _match_part(records: list[dict]) -> list[list[dict]]:
    assert _SHARED is not None
    return [[m.to_dict() for m in ms] for ms in _SHARED.match_many(records)]


def _match_batch(store: Store, matcher: Matcher, batch: list[dict], pool: Pool | None
                 ) -> tuple[Matcher, list[list[dict]]]:
    """Each record's matches: on the forked workers when there are some, else here; an
    index found damaged is rebuilt here (match_records) and the batch matched again."""
    if pool is not None:
        parts = [batch[i:i + PART] for i in range(0, len(batch), PART)]
        try:
            return matcher, [ms for part in pool.map(_match_part, parts) for ms in part]
        except IndexFileError:
            pass  # rebuilt and matched again below, in this process
    matcher, found = match_records(store, matcher, batch)
    return matcher, [[m.to_dict() for m in ms] for ms in found]


@dataclass
class Rematch:
    case: str
    items: int = 0
    new_matches: int = 0
    entries: int | None = None  # entries looked up: all active (None) or the new ones
    by_list: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"case": self.case, "items": self.items, "new_matches": self.new_matches,
                "entries": "all" if self.entries is None else self.entries,
                "by_list": self.by_list}


def rematch(store: Store, case: str, after_entry: int | None = None, why: str = "rematch",
            progress: Callable[[int], None] | None = None, workers: int | None = None
            ) -> Rematch:
    """Match every item of `case` against the active list entries (all of them, or only those
    with id > `after_entry`: what an import just added). New matches are recorded (with a
    custody entry); those on record stay as they are, whatever their status. The lookups run
    on `workers` forked processes sharing the index (default: the cores) once a batch is big
    enough to be worth them; the store is read and written here, by one process."""
    global _SHARED
    case_id = store.case_id(case)
    if case_id is None:
        raise ValueError(f"no case named {case!r}")
    out = Rematch(case)
    if after_entry is None:
        matcher = open_matcher(store)
    else:
        lists = store.lists()
        entries = list(store.iter_entries(after_id=after_entry))
        out.entries = len(entries)
        if not entries:
            return out
        matcher = Matcher.build(entries, {x["id"]: x["pdq_threshold"] for x in lists},
                                {x["id"]: x["vpdq_percent"] for x in lists})
    workers = default_workers() if workers is None else workers
    parallel = workers > 1 and "fork" in mp.get_all_start_methods()
    _SHARED = matcher
    pool: Pool | None = None
    try:
        last = 0
        while batch := store.match_inputs(case_id, after_item=last, limit=BATCH):
            last = batch[-1]["item_id"]
            big = len(batch) >= PART * 2
            if pool is None and parallel and big:  # worth the forks
                pool = mp.get_context("fork").Pool(workers)
            before = matcher
            matcher, found = _match_batch(store, matcher, batch, pool if big else None)
            if matcher is not before and pool is not None:  # rebuilt: the workers' is stale
                pool.terminate()
                pool.join()
                pool, _SHARED = None, matcher
            pairs = [(rec["item_id"], ms) for rec, ms in zip(batch, found, strict=True) if ms]
            new = store.add_matches(case_id, pairs, why) if pairs else {}
            out.items += len(batch)
            for name, n in new.items():
                out.by_list[name] = out.by_list.get(name, 0) + n
                out.new_matches += n
            if progress:
                progress(len(batch))
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
        _SHARED = None
    return out
