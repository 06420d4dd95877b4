"""Computations a page must not wait for (a 1M-item case's families, its trace inputs): each
is started on a thread at most once per key and case state, and started again only when
the state changed or the thread ended without leaving a result."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Any


class OncePerState:
    """Threads keyed by (what, which case): one running per key and state at a time."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix  # names the threads: cairn-<prefix>-<case id>
        self._lock = threading.Lock()
        self._started: dict[Hashable, tuple[Hashable, threading.Thread]] = {}

    def start(self, key: tuple[str, int], state: Hashable, target: Callable[..., Any],
              *args: Any) -> None:
        """Run `target(*args)` on a daemon thread unless one is running for this key and
        state already."""
        with self._lock:
            run = self._started.get(key)
            if run is None or run[0] != state or not run[1].is_alive():
                th = threading.Thread(target=target, args=args, daemon=True,
                                      name=f"cairn-{self.prefix}-{key[1]}")
                self._started[key] = (state, th)
                th.start()
