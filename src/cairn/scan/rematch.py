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
from cairn.records import NewMatch
from cairn.scan.listindex import match_records, open_matcher
from cairn.scan.pipeline import default_workers
from cairn.store.store import Store

BATCH = 20_000  # items read and matched at a time
PART = 2_000  # items one worker matches per task

_SHARED: Matcher | None = None  # the matcher forked workers share copy-on-write


def _match_part(records: list[dict]) -> list[list[NewMatch]]:
    assert _SHARED is not None
    return [[m.to_dict() for m in ms] for ms in _SHARED.match_many(records)]


class _Pending:
    """A batch handed to the workers (or already matched here), to be collected later."""

    def __init__(self, batch: list[dict], pool: Pool | None, matcher: Matcher) -> None:
        self.batch = batch
        self.matcher = matcher
        self.async_result = None
        self.found: list[list[NewMatch]] | None = None
        if pool is not None:
            parts = [batch[i:i + PART] for i in range(0, len(batch), PART)]
            self.async_result = pool.map_async(_match_part, parts)

    def collect(self, store: Store) -> tuple[Matcher, list[list[NewMatch]]]:
        """Each record's matches: the workers' answer, or matched here where there were no
        workers or their index turned out damaged (rebuilt by match_records, matched again)."""
        if self.async_result is not None:
            try:
                return self.matcher, [ms for part in self.async_result.get() for ms in part]
            except IndexFileError:
                pass  # rebuilt and matched again below, in this process
        matcher, found = match_records(store, self.matcher, self.batch)
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
    case_id = store.cases.id(case)
    if case_id is None:
        raise ValueError(f"no case named {case!r}")
    out = Rematch(case)
    if after_entry is None:
        matcher = open_matcher(store)
    else:
        lists = store.lists.all()
        entries = list(store.lists.entries(after_id=after_entry))
        out.entries = len(entries)
        if not entries:
            return out
        matcher = Matcher.build(entries, {x["id"]: x["pdq_threshold"] for x in lists},
                                {x["id"]: x["vpdq_percent"] for x in lists})
    workers = default_workers() if workers is None else workers
    parallel = workers > 1 and "fork" in mp.get_all_start_methods()
    _SHARED = matcher
    pool: Pool | None = None
    pending: _Pending | None = None
    try:
        last = 0
        batch = store.records.match_inputs(case_id, after_item=last, limit=BATCH)
        while batch or pending is not None:
            # hand this batch to the workers, then, while they match it, record the one
            # before and read the next: the store's reads and writes overlap the lookups
            current = None
            if batch:
                last = batch[-1]["item_id"]
                big = len(batch) >= PART * 2
                if pool is None and parallel and big:  # worth the forks
                    pool = mp.get_context("fork").Pool(workers)
                current = _Pending(batch, pool if big else None, matcher)
            if pending is not None:
                matcher = _record(store, case_id, why, pending, out, progress)
                if current is not None and current.matcher is not matcher:
                    # the index was rebuilt: the workers' copy is stale, and so is the batch
                    # handed to them; fork anew and match it again
                    if pool is not None:
                        pool.terminate()
                        pool.join()
                        pool = None
                    _SHARED = matcher
                    current = _Pending(current.batch, None, matcher)
            pending = current
            batch = (store.records.match_inputs(case_id, after_item=last, limit=BATCH)
                     if current is not None else [])
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
        _SHARED = None
    return out


def _record(store: Store, case_id: int, why: str, pending: _Pending, out: Rematch,
            progress: Callable[[int], None] | None) -> Matcher:
    """Collect a batch's matches and record the new ones; returns the matcher to go on with
    (a new one where the index had to be rebuilt)."""
    matcher, found = pending.collect(store)
    pairs = [(rec["item_id"], ms) for rec, ms in zip(pending.batch, found, strict=True) if ms]
    new = store.matches.add(case_id, pairs, why) if pairs else {}
    out.items += len(pending.batch)
    for name, n in new.items():
        out.by_list[name] = out.by_list.get(name, 0) + n
        out.new_matches += n
    if progress:
        progress(len(pending.batch))
    return matcher
