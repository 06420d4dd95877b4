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

import logging

NAMESPACE = "cairn"  # the Ray namespace of Cairn's named actors


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
    try:
        ray.init(address=address or "auto", namespace=NAMESPACE, log_to_driver=False,
                 logging_level=logging.ERROR)
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise ClusterError(f"no Ray cluster at {address or 'auto'}: {e} (start one with "
                           "`ray start --head`)") from None
