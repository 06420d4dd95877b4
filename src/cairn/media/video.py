"""Video frames as luma planes, decoded with PyAV, one per interval."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import BinaryIO

import av
import numpy as np


class VideoDecodeError(Exception):
    """The video cannot be opened, or stops decoding part-way."""


def luma_frames(source: str | bytes | BinaryIO, interval: float = 1.0,
                max_seconds: float | None = None, threads: int = 1
                ) -> Iterator[tuple[int, float, np.ndarray]]:
    """(frame index, seconds, luma plane) for the first frame at or after each multiple of
    `interval` seconds (every frame when 0). Every frame is decoded; only those are returned.

    `threads`: decoder threads; 1 by default because a scan already runs a worker per core.
    """
    try:
        with av.open(source, mode="r") as container:
            if not container.streams.video:
                raise VideoDecodeError("no video stream")
            stream = container.streams.video[0]
            stream.thread_count = threads
            if threads != 1:
                stream.thread_type = "AUTO"
            next_t = 0.0
            for index, frame in enumerate(container.decode(stream)):
                t = float(frame.time) if frame.time is not None else index / 30.0
                if max_seconds is not None and t > max_seconds:
                    return
                if interval > 0 and t + 1e-6 < next_t:
                    continue
                yield index, round(t, 3), frame.to_ndarray(format="gray")
                if interval > 0:
                    next_t = (math.floor(t / interval + 1e-9) + 1) * interval
    except (av.error.FFmpegError, OSError, ValueError, EOFError) as e:
        raise VideoDecodeError(str(e)) from None
