"""Beyond one machine: the scan pipeline and the PDQ index on a Ray cluster.

A thin layer over `scan/` and `index/` (DESIGN.md, Scale): Ray (an existing distributed engine,
the optional extra `cluster`) places the work, PostgreSQL is the one store. `scan.py` splits a
source into work units that Ray tasks read on any node, in #8's isolated workers, writing
their records straight to PostgreSQL; `progress.py` is what `cairn cluster status` reads;
`shards.py` fans PDQ queries out over index shards held by Ray actors.

Nothing below `service` and the CLI imports this package; it imports `ray` itself, so only
code that asks for the cluster needs the extra.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time

NAMESPACE = "cairn"  # the Ray namespace of Cairn's named actors
# Ray Client's proxy starts a server process per client; on a loaded head that start
# sometimes fails ("Starting Ray client server failed": the shim exits before it becomes
# the server; seen about 1 in 12 with both cores busy) while the next one succeeds.
CLIENT_ATTEMPTS = 3
_CLIENT_START_FAILED = "Starting Ray client server failed"


class ClusterError(Exception):
    """The cluster cannot do what was asked (Ray missing or unreachable, not PostgreSQL)."""


def connect(address: str | None = None) -> None:
    """Join the Ray cluster at `address` (`auto`: the one started on this machine with
    `ray start`; `HOST:PORT`: its head; `ray://HOST:PORT`: through Ray Client) as a driver.
    Connecting twice is a no-op."""
    try:
        import ray
    except ImportError:
        raise ClusterError("Ray is not installed: pip install 'cairn[cluster]'") from None
    if ray.is_initialized():
        return
    for attempt in range(1, CLIENT_ATTEMPTS + 1):
        try:
            ray.init(address=address or "auto", namespace=NAMESPACE, log_to_driver=False,
                     logging_level=logging.ERROR)
            return
        except (ConnectionError, RuntimeError, ValueError) as e:
            if _CLIENT_START_FAILED in str(e) and attempt < CLIENT_ATTEMPTS:
                print(f"cairn: the Ray Client server at {address} failed to start a session "
                      f"for this driver; trying again ({attempt + 1} of {CLIENT_ATTEMPTS})",
                      file=sys.stderr)
                with contextlib.suppress(Exception):  # what the failed init left behind
                    ray.shutdown()
                time.sleep(attempt)
                continue
            raise ClusterError(f"no Ray cluster at {address or 'auto'}: {e} (start one with "
                               "`ray start --head`)") from None

