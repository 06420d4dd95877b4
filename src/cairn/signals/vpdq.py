"""vPDQ: PDQ of video frames, one per interval (default 1 s, as python-threatexchange).

Frames are decoded with PyAV (media.video, under the limits), in one of two modes:

- `exact`: the reference vPDQ's frames, timestamps and RGB pixels (media.video.frames), hashed
  with pdqhash's C++ core (the reference's PDQ): bit-identical (hash, quality, frame number,
  timestamp) to the reference C++ hasher's sample hashes on every frame of 6 of the 7
  reference videos; the 7th's were made with FFmpeg's SIMD converter (tests/test_vpdq.py).
- `fast`: groups of pictures decoded only as far as their last wanted frame, the decoder's
  luma plane, the fast PDQ core. Drift against exact, per frame, on the reference videos:
  bench/bench_video.py prints it, tests/test_vpdq.py bounds it.

Every stored vPDQ records its mode (the scan's record, the store's signal row), as for pictures.

The signal format is python-threatexchange's: a JSON list of "hex,quality,timestamp" strings.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

from cairn.media.limits import Limits
from cairn.media.video import VIDEO_MODES, VideoDecodeError, VideoLimitError, frames
from cairn.signals.pdq import MATCH_DISTANCE, MIN_QUALITY, hex_to_bytes, pdq_from_pixels
from cairn.signals.pdq_fast import pdq_from_luma

DEFAULT_INTERVAL = 1.0
VIDEO_MATCH_PERCENT = 80.0


@dataclass(frozen=True, slots=True)
class VpdqFrame:
    index: int  # frame number in decode order
    timestamp: float  # seconds
    hash: str
    quality: int

    def to_str(self) -> str:
        return f"{self.hash},{self.quality},{self.timestamp:.3f}"


class VideoError(Exception):
    """A video that cannot be (fully) decoded; `frames` holds what was hashed before."""

    def __init__(self, message: str, frames: list[VpdqFrame]) -> None:
        super().__init__(message)
        self.frames = frames


def vpdq_frames(source: str | bytes | BinaryIO, interval: float = DEFAULT_INTERVAL,
                max_seconds: float | None = None, threads: int = 1,
                limits: Limits | None = None, mode: str = "exact") -> list[VpdqFrame]:
    """Hash one frame per `interval` seconds (every frame when 0) of the first video stream,
    as media/video decodes it in `mode` (exact or fast) under `limits` (frame size, frame
    count, seconds; defaults when None). A limit reached keeps the frames hashed before it,
    in VideoError."""
    if mode not in VIDEO_MODES:
        raise ValueError(f"vPDQ mode must be one of {VIDEO_MODES}, not {mode!r}")
    limits = limits or Limits()
    out: list[VpdqFrame] = []
    try:
        for f in frames(source, interval, mode, max_seconds, threads, limits.max_pixels,
                        limits.max_video_frames):
            if f.time > limits.max_video_seconds:
                raise VideoLimitError(f"video runs past {limits.max_video_seconds:g} s "
                                      "(max_video_seconds); later frames not hashed")
            if mode == "exact":
                result = pdq_from_pixels(f.pixels, dihedral=False)
            else:
                result = pdq_from_luma(f.pixels, dihedral=False)
            out.append(VpdqFrame(f.index, f.time, result.hash, result.quality))
    except VideoLimitError as e:
        raise VideoError(f"{e} ({len(out)} frames hashed)", out) from None
    except VideoDecodeError as e:
        raise VideoError(f"corrupt or truncated video after {len(out)} hashed frames: "
                         f"{e}", out) from None
    if not out:
        raise VideoError("no decodable frame", out)
    return out


def to_signal(frames: Iterable[VpdqFrame]) -> str:
    """python-threatexchange's vPDQ signal string."""
    return json.dumps([f.to_str() for f in frames], separators=(",", ":"))


def parse_signal(value: str) -> list[VpdqFrame]:
    """Parse (and validate) a vPDQ signal string; raise ValueError naming the problem."""
    try:
        items = json.loads(value)
    except json.JSONDecodeError as e:
        raise ValueError(f"vPDQ signal is not JSON: {e.msg}") from None
    if not isinstance(items, list) or not items:
        raise ValueError("vPDQ signal must be a non-empty JSON list of 'hex,quality,seconds'")
    frames = []
    for i, item in enumerate(items):
        parts = str(item).split(",")
        if len(parts) != 3:
            raise ValueError(f"vPDQ frame {i}: expected 'hex,quality,seconds', got {item!r}")
        try:
            hx = hex_to_bytes(parts[0]).hex()
            frames.append(VpdqFrame(i, float(parts[2]), hx, int(parts[1])))
        except ValueError as e:
            raise ValueError(f"vPDQ frame {i}: {e}") from None
    return frames


COMPARE_BLOCK = 128  # query frames compared at a time: 128 x 10,000 target frames is 41 MB


def _unique_good(frames: Iterable[VpdqFrame]) -> np.ndarray:
    """The distinct hashes of quality >= 50, as uint64[n, 4] (popcount of XOR is their
    Hamming distance whatever the byte order)."""
    hashes = sorted({f.hash for f in frames if f.quality >= MIN_QUALITY})
    if not hashes:
        return np.zeros((0, 4), dtype=np.uint64)
    raw = b"".join(bytes.fromhex(h) for h in hashes)
    return np.frombuffer(raw, dtype=np.uint64).reshape(len(hashes), 4)


def match_percent(query: Iterable[VpdqFrame], target: Iterable[VpdqFrame],
                  distance: int = MATCH_DISTANCE) -> tuple[float, float]:
    """The vPDQ comparison: unique frames of quality >= 50 on each side; the percentage of
    each side's frames with a partner within `distance` on the other. (query %, target %).
    Compared COMPARE_BLOCK query frames at a time on packed bits, so two long videos (or a
    hostile pair of signals) cost memory in proportion to one side, not to their product."""
    q, t = _unique_good(query), _unique_good(target)
    if not len(q) or not len(t):
        return 0.0, 0.0
    q_hit = np.zeros(len(q), dtype=bool)
    t_hit = np.zeros(len(t), dtype=bool)
    for lo in range(0, len(q), COMPARE_BLOCK):
        d = np.bitwise_count(q[lo:lo + COMPARE_BLOCK, None, :] ^ t[None, :, :]).sum(
            axis=2, dtype=np.int32)
        close = d <= distance
        q_hit[lo:lo + COMPARE_BLOCK] = close.any(axis=1)
        t_hit |= close.any(axis=0)
    return (100.0 * q_hit.sum() / len(q), 100.0 * t_hit.sum() / len(t))
