"""SIGINT/SIGTERM in the `cairn` command (scan/interrupt.py, cli/main.py): a signal that lands
inside a store write is raised once the write is done; one that arrived before a write (the
scan's cleanup after Ctrl-C) does not stop it; a recorded one is raised again by `check`."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest

from cairn.cli.main import _interrupt
from cairn.scan import interrupt
from cairn.scan.interrupt import Interrupted, check, deferred


@pytest.fixture(autouse=True)
def handler() -> Iterator[None]:
    """cairn's handler for SIGINT, as `cairn` installs it; nothing recorded before or after."""
    before = signal.signal(signal.SIGINT, _interrupt)
    interrupt._arrived.clear()
    yield
    interrupt._arrived.clear()
    signal.signal(signal.SIGINT, before)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def test_a_signal_inside_a_deferred_write_is_raised_when_it_is_done() -> None:
    done = []
    with pytest.raises(Interrupted, match="SIGINT"), deferred():
        os.kill(os.getpid(), signal.SIGINT)  # the handler runs here: recorded, not raised
        done.append("the rest of the write")
    assert done == ["the rest of the write"]
    assert interrupt.pending() == "SIGINT"


def test_outside_a_write_the_signal_is_raised_at_once() -> None:
    with pytest.raises(Interrupted):
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(1000):  # the handler runs at the next bytecode that checks
            pass
        pytest.fail("not interrupted")


def test_cleanup_after_the_signal_runs_whole() -> None:
    """The scan's last flush after Ctrl-C is a deferred write: it must not raise again (it
    did, and the run was never closed: 16 of 60 left `running`)."""
    interrupt.arrived("SIGINT")
    with deferred():
        written = True
    assert written
    with pytest.raises(Interrupted):
        check()


def test_opening_the_run_leaves_the_signal_to_the_next_check() -> None:
    with deferred(then_raise=False):
        os.kill(os.getpid(), signal.SIGINT)
    with pytest.raises(Interrupted, match="SIGINT"):
        check()


def test_check_is_a_no_op_until_a_signal_came() -> None:
    check()
    with deferred():
        pass
    assert interrupt.pending() is None


def test_a_write_on_another_thread_defers_nothing() -> None:
    """Signals reach the main thread only; a server's scan threads must not hold it off."""
    import threading

    seen = []

    def write() -> None:
        with deferred():
            seen.append(interrupt.deferring())

    t = threading.Thread(target=write)
    t.start()
    t.join()
    assert seen == [False]
