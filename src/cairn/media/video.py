"""Video frames as luma planes, decoded with PyAV, one per interval, under the limits.

The same `max_pixels` as pictures bounds one frame: the stream header's size is checked
before the decoder opens, FFmpeg's own `max_pixels` makes it refuse a larger frame a lying
header did not announce (before allocating it), and each frame is checked again before it is
converted. `max_frames` bounds the decoding work (every frame is decoded, even between the
ones hashed), `max_seconds` the span hashed. An MKV of three 12000x12000 MJPEG frames (6.8 MB)
was decoded at 1.7 GB RSS before these limits.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import BinaryIO

import av
import numpy as np

from cairn.media.decode import DecodeError, check_pixels


class VideoDecodeError(Exception):
    """The video cannot be opened, or stops decoding part-way."""


class VideoLimitError(VideoDecodeError):
    """The video goes past a limit: frames too large, too many, too long."""


def luma_frames(source: str | bytes | BinaryIO, interval: float = 1.0,
                max_seconds: float | None = None, threads: int = 1,
                max_pixels: int | None = None, max_frames: int | None = None
                ) -> Iterator[tuple[int, float, np.ndarray]]:
    """(frame index, seconds, luma plane) for the first frame at or after each multiple of
    `interval` seconds (every frame when 0). Every frame is decoded; only those are returned.

    `threads`: decoder threads; 1 by default because a scan already runs a worker per core.
    `max_pixels`: refuse frames larger than this (VideoLimitError, before decoding any);
    `max_frames`: stop with VideoLimitError after decoding this many; `max_seconds`: stop
    quietly at frames later than this.
    """
    try:
        with av.open(source, mode="r") as container:
            if not container.streams.video:
                raise VideoDecodeError("no video stream")
            stream = container.streams.video[0]
            ctx = stream.codec_context
            if ctx is None:  # a stream whose codec FFmpeg has no decoder for (fuzz/video)
                raise VideoDecodeError("video stream of a codec FFmpeg cannot decode; "
                                       "not decoded")
            if max_pixels is not None:
                check_pixels(ctx.width, ctx.height, max_pixels, "video frame")
                ctx.options = {"max_pixels": str(max_pixels)}  # FFmpeg refuses larger ones
            stream.thread_count = threads
            if threads != 1:
                stream.thread_type = "AUTO"
            next_t = 0.0
            for index, frame in enumerate(container.decode(stream)):
                if max_frames is not None and index >= max_frames:
                    raise VideoLimitError(f"more than {max_frames} frames (max_video_frames); "
                                          "the rest not decoded")
                if max_pixels is not None:
                    check_pixels(frame.width, frame.height, max_pixels, f"video frame {index}")
                t = float(frame.time) if frame.time is not None else index / 30.0
                if max_seconds is not None and t > max_seconds:
                    return
                if interval > 0 and t + 1e-6 < next_t:
                    continue
                yield index, round(t, 3), frame.to_ndarray(format="gray")
                if interval > 0:
                    next_t = (math.floor(t / interval + 1e-9) + 1) * interval
    except DecodeError as e:
        raise VideoLimitError(str(e)) from None
    except (av.error.FFmpegError, OSError, ValueError, EOFError) as e:
        raise VideoDecodeError(str(e)) from None
