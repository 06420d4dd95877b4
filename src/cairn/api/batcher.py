"""Micro-batching: concurrent requests of one process share one index call.

Why: on the 10M-entry list index one PDQ query alone costs ~0.5-0.9 ms (the numba kernels'
and numpy's fixed cost per call), while queries joined in one `HammingIndex.join` cost
~0.17 ms each (~6,000/s per core); the kernels are `nogil`, so a call in a thread runs beside
the event loop instead of stopping it. Sixty-four clients each waiting on their own 0.7 ms
call on the event loop is what held `GET /m/raw_lookup` at ~650 lookups/s with a p99 of
~170 ms (1M entries, loaded 2-core machine). The batch thread still takes the GIL between
kernel calls, so beside a busy event loop it waits for it (a batch of 40 costs ~0.25 ms a
query of wall time beside an idle thread, ~0.7-0.87 ms beside one spinning in Python);
a shorter `sys.setswitchinterval` (0.5 ms) made no difference above this machine's noise.

The contract:
- `await batcher.submit(item)` answers what `run([item])[0]` would: `run` must treat each
  item on its own (a batch's answer for an item never depends on the other items), which
  `Matcher.match_many` guarantees for its records (tests/test_rematch.py) and
  tests/test_batcher.py checks for the lookups served through here.
- An item's error is that item's alone: `run` may put an exception instance in an item's
  place (raised to that caller only); if `run` raises for the whole batch, each item is run
  again on its own, so one bad item never fails the others.
- Gathering: the first item of a batch waits at most `linger` seconds for others to join
  it (or less, once `max_batch` are queued); by default it does not wait at all: the batch
  is what arrived in the same turn of the event loop, and under load what queued while the
  previous batch ran (the queue fills by itself exactly when batching pays). One batch runs
  at a time per batcher, in its own thread, never on the event loop; its results are
  handed back on the loop in one step per batch.
- State is kept per event loop (a TestClient runs a loop per request); a caller that
  went away (a cancelled request) is skipped when the results come back.

Constants, measured on the shared 2-core machine (load average 4-5 from other work), 1M-entry
list, `cairn serve --workers 2`, 64 clients (bench/bench_api.py --client raw), two runs each,
interleaved: LINGER 0 gave 1,061 and 1,065 lookups/s (p99 187 and 204 ms), 1 ms 910 and 745
(p99 294, 332 ms), 3 ms 848 and 796 (p99 280, 317 ms): waiting only idles the batch thread.
One PDQ query costs, in `match_many` batches of 1 / 8 / 32 / 64 / 256 / 10,000 queries,
511 / 136 / 90 / 82 / 77 / 81 us each (1M entries, one thread): the gain is made by 32.
MAX_BATCH 256 bounds one batch to ~20 ms at 1M (~45 ms at 10M, 0.17 ms a query); 64 clients
over two workers never queue that many.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

LINGER = 0.0  # seconds the first item of a batch waits for company (see above: none)
MAX_BATCH = 256  # items in one call at most


@dataclass
class _Queue(Generic[T, R]):
    """What waits on one event loop: items, their futures, and the task draining them."""

    items: list[tuple[T, asyncio.Future[R], float]] = field(default_factory=list)
    task: asyncio.Task[None] | None = None


class Batcher(Generic[T, R]):
    """Gathers `submit`ted items into calls of `run(items) -> results` (see the module)."""

    def __init__(self, run: Callable[[list[T]], Sequence[R | BaseException]], *,
                 linger: float = LINGER, max_batch: int = MAX_BATCH,
                 name: str = "batch") -> None:
        if max_batch < 1 or linger < 0:
            raise ValueError("max_batch must be >= 1 and linger >= 0")
        self.run = run
        self.linger = linger
        self.max_batch = max_batch
        self.name = name
        self.batches = 0  # calls of `run` made: how well the gathering works (tests, bench)
        self.items = 0
        self._executor: ThreadPoolExecutor | None = None
        self._queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Queue[T, R]] = \
            weakref.WeakKeyDictionary()

    async def submit(self, item: T) -> R:
        """The answer for `item`, looked up together with whatever else is queued."""
        loop = asyncio.get_running_loop()
        queue = self._queues.get(loop)
        if queue is None:
            queue = self._queues[loop] = _Queue()
        future: asyncio.Future[R] = loop.create_future()
        queue.items.append((item, future, time.monotonic()))
        if queue.task is None:
            queue.task = loop.create_task(self._drain(loop, queue))
        return await future

    def close(self) -> None:
        """Stop the batch thread (a later `submit` starts another)."""
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None

    async def _drain(self, loop: asyncio.AbstractEventLoop, queue: _Queue[T, R]) -> None:
        live: list[tuple[T, asyncio.Future[R]]] = []
        try:
            while queue.items:
                wait = queue.items[0][2] + self.linger - time.monotonic()
                if wait > 0 and len(queue.items) < self.max_batch:
                    await asyncio.sleep(wait)  # the oldest item waits `linger` at most
                batch = queue.items[:self.max_batch]
                del queue.items[:self.max_batch]
                live = [(item, fut) for item, fut, _ in batch if not fut.done()]
                if not live:
                    continue
                if self._executor is None:
                    self._executor = ThreadPoolExecutor(1, thread_name_prefix=self.name)
                results = await loop.run_in_executor(
                    self._executor, self._run_isolated, [item for item, _ in live])
                for (_, fut), res in zip(live, results, strict=True):
                    if fut.done():  # the caller went away while its batch ran
                        continue
                    if isinstance(res, BaseException):
                        fut.set_exception(res)
                    else:
                        fut.set_result(res)
        except BaseException as e:  # cancelled (loop closing) or a bug: nobody waits forever
            for fut in [f for _, f in live] + [f for _, f, _ in queue.items]:
                if not fut.done():
                    fut.set_exception(e if isinstance(e, Exception) else
                                      RuntimeError(f"{self.name} batcher stopped"))
            queue.items.clear()
            raise
        finally:
            queue.task = None

    def _run_isolated(self, items: list[T]) -> list[R | BaseException]:
        """`run(items)`; when it raises, each item alone, so an error stays its own."""
        self.batches += 1
        self.items += len(items)
        try:
            out = list(self.run(items))
            if len(out) != len(items):
                raise RuntimeError(f"{self.name}: {len(out)} results for {len(items)} items")
            return out
        except Exception as e:  # noqa: BLE001 - isolated below, or handed to the one caller
            if len(items) == 1:
                return [e]
        alone: list[R | BaseException] = []
        for item in items:
            try:
                alone.extend(self.run([item])[:1] or [RuntimeError(f"{self.name}: no result")])
            except Exception as e:  # noqa: BLE001 - this item's error, raised to its caller
                alone.append(e)
        return alone
