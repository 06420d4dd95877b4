"""The exception SIGINT and SIGTERM raise in the `cairn` command, and the record that one
arrived (kept light: standard library only).

Python runs a signal handler between any two bytecodes of the main thread, including inside
a finaliser or a weakref callback (SQLAlchemy's run during garbage collection); an exception
raised there is printed as "Exception ignored" and dropped, and the command would go on as if
Ctrl-C never came (seen: 4 of 30 scans interrupted 0-0.2 s after their run began). So the
handler also records the signal, and the loops that wait on work (`check`) and the command's
end raise or report it again.

Nor may it land inside a store transaction: raised there, SQLAlchemy can lose the connection
with SQLite's write lock still held, and the scan's closing writes then wait on it (seen: a
scan stuck in `Runs.end` after Ctrl-C, 3 of 60). Writes that matter run `deferred()`: a
signal arriving inside one is recorded and raised when the write is done.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class Interrupted(BaseException):  # noqa: N818 - named for what happened, like KeyboardInterrupt
    """SIGINT or SIGTERM: unwinds like KeyboardInterrupt (runs every `finally`, is not caught
    by `except Exception`), but click does not turn it into "Aborted!" and exit 1."""


_arrived: list[str] = []  # the first signal's name, for the rest of the process
_depth = [0]  # deferred() blocks the main thread is in (signal handlers run on it alone)


def arrived(name: str) -> Interrupted:
    """Record that the signal `name` arrived; the exception for the handler to raise."""
    if not _arrived:
        _arrived.append(name)
    return Interrupted(name)


def deferring() -> bool:
    """Whether the handler must only record the signal (a deferred write is under way)."""
    return _depth[0] > 0


@contextmanager
def deferred(then_raise: bool = True) -> Iterator[None]:
    """Run the block whole: a signal arriving inside it is raised once it has ended (if it
    ended by an exception of its own, that one leaves and the signal is raised later), or
    with `then_raise` False at the caller's next `check`. One that came before the block is
    not raised by it: cleanup after Ctrl-C (the scan's last flush) runs deferred too."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signals are handled on the main thread only (a server's scans run on others)
        return
    before = bool(_arrived)
    _depth[0] += 1
    try:
        yield
    finally:
        _depth[0] -= 1
    if then_raise and not _depth[0] and not before:
        check()


def pending() -> str | None:
    """The signal that arrived, if one did."""
    return _arrived[0] if _arrived else None


def check() -> None:
    """Raise Interrupted again if a signal arrived: a no-op unless its first exception was
    dropped (above) or held off by `deferred(then_raise=False)`, since a raised one ends the
    command. Called where work is waited on, never in cleanup (`finally`), which must run to
    its end."""
    if _arrived:
        raise Interrupted(_arrived[0])
