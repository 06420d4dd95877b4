"""The `cairn` console entry, free of imports: it catches SIGINT and SIGTERM before the command
loads (click, rich, numpy, SQLAlchemy: a fraction of a second to seconds on a busy machine),
so a Ctrl-C at any moment ends `cairn` with one line and exit 130, never a traceback.

Nothing is recorded before `cairn.cli.main` runs, which installs the handlers that close runs
and stop workers; until then leaving at once is all there is to do.
"""

from __future__ import annotations

import os
import signal
import sys

EXIT_INTERRUPTED = 130
# commands that read files in isolated workers (scan/isolation.py)
WORKER_VERBS = frozenset({"hash", "match", "provenance", "scan", "rehash"})


def _while_starting(signum: int, _frame: object) -> None:
    sys.stderr.write(f"interrupted ({signal.Signals(signum).name}) while starting: "
                     "nothing was recorded\n")
    sys.stderr.flush()
    os._exit(EXIT_INTERRUPTED)  # mid-import: no half-imported module may print a traceback


def main() -> None:
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, _while_starting)
    if WORKER_VERBS.intersection(sys.argv[1:4]):  # the isolated workers' imports start now,
        from cairn.scan.isolation import warm_up  # beside the command line's own

        warm_up()
    from cairn.cli import main as run

    run()
