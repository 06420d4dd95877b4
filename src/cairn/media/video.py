"""Video frames, decoded with PyAV, one per interval, under the limits: the one place video
bytes become pixels.

The same `max_pixels` as pictures bounds one frame: the stream header's size is checked
before the decoder opens, FFmpeg's own `max_pixels` makes it refuse a larger frame a lying
header did not announce (before allocating it), and each frame is checked again before it is
converted. `max_frames` bounds the work (every frame counts, decoded or skipped),
`max_seconds` the span returned. An MKV of three 12000x12000 MJPEG frames (6.8 MB) was
decoded at 1.7 GB RSS before these limits.

Two ways to read a video (`frames`):

- `exact` reproduces the reference vPDQ (facebook/ThreatExchange vpdq): every frame decoded,
  frame number n kept when n % int(interval x fps) == 0, timestamp n / fps (float32, as the
  reference computes it), pixels as the reference's swscale call makes them (YUV 4:2:0 to
  RGB24, same size, BT.601 limited range, chroma shared by each 2x2 block, swscale's C table
  arithmetic). That arithmetic is redone here in numpy (`reference_rgb`) because FFmpeg's x86
  SIMD converter rounds differently: with it 6-86% of the frames of 6 of the 7 reference
  videos came out bit-identical, with this all of them (tests/test_vpdq.py). The 7th's
  sample hashes (test-padded-dimensions) were evidently made with the SIMD converter of
  some FFmpeg build (149 of 150 identical with it, about half with the C arithmetic).
- `fast`: the first frame at or after each multiple of `interval` seconds; a group of
  pictures (a keyframe and the packets up to the next one, read ahead from the demuxer) is
  decoded only as far as its last wanted frame and not at all when it holds none (the rest
  is never sent to the decoder: what `skip_frame` NONKEY does, decided per group); the
  decoder's luma plane as it is. With `reduce_to`: the decoder's `lowres` where the codec
  has one (MJPEG, MPEG-1/2/4, H.263; not H.264/HEVC/VP9/AV1) and swscale (PyAV's reformat)
  scaling to grey, at most `reduce_to` px a side. Off by default: on the reference videos it
  moved hashes by a median of 6-24 bits at 512 px (0-4 at full size; bench_video.py prints
  both) and saves under 1 ms per hashed frame, next to ~80 ms of decoding per second of
  1080p video; the time is in decoding, which the skipping saves.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, BinaryIO

import av
import numpy as np

from cairn.media.decode import DecodeError, check_pixels

VIDEO_MODES = ("exact", "fast")
GOP_PACKETS = 1024  # packets read ahead for one group of pictures; past that, all decoded
GOP_BYTES = 64 << 20  # bytes of packets read ahead, likewise
MIN_HASHABLE_SIDE = 5  # the reference refuses (hashes as quality 0) smaller frames


class VideoDecodeError(Exception):
    """The video cannot be opened, or stops decoding part-way."""


class VideoLimitError(VideoDecodeError):
    """The video goes past a limit: frames too large, too many, too long."""


@dataclass(frozen=True, slots=True)
class Frame:
    index: int  # frame number in display order (the reference's: in decode output order)
    time: float  # seconds, rounded to the millisecond
    pixels: np.ndarray  # exact: HxWx3 uint8 RGB; fast: 2-D uint8 luma (reduced)


# ---- the reference's YUV 4:2:0 -> RGB24 (swscale's C table converter), in numpy ----------

_BT601 = (104597, 132201, 25675, 53279)  # swscale's default inverse table (crv, cbu, cgu, cgv)


def _cdiv(n: int, d: int) -> int:
    """C's integer division (towards zero) of n by a positive d."""
    return n // d if n >= 0 else -((-n) // d)


@dataclass(frozen=True, slots=True)
class _Yuv2Rgb:
    """swscale's yuv2rgb tables for 24-bit RGB with its defaults (BT.601, brightness 0,
    contrast and saturation 1). swscale looks up ramp[Y + offset(U, V)] in a table
    ramp[i] = clip((base + i * cy) >> 16, 0, 255); the same value is computed here."""

    cy: int
    base: int
    r_v: np.ndarray  # offset into the ramp for R, by V (int32)
    g_u: np.ndarray  # for G, by U (plus g_v by V)
    g_v: np.ndarray
    b_u: np.ndarray  # for B, by U

    @classmethod
    def of(cls, full_range: bool) -> _Yuv2Rgb:
        crv, cbu, cgu, cgv = _BT601[0], _BT601[1], -_BT601[2], -_BT601[3]
        cy, oy = 1 << 16, 0
        if full_range:
            crv, cbu, cgu, cgv = (_cdiv(v * 224, 255) for v in (crv, cbu, cgu, cgv))
        else:
            cy, oy = (cy * 255) // 219, 16 << 16
        yoffs = 384 if full_range else 326
        # scaled by cy, as C divides: towards zero
        crv, cbu, cgu, cgv = (_cdiv((v << 16) + 0x8000, cy) for v in (crv, cbu, cgu, cgv))
        c = np.arange(256, dtype=np.int64)

        def table(off: int, inc: int) -> np.ndarray:
            return (off - (inc >> 9) + ((c * inc) >> 16)).astype(np.int32)

        return cls(cy, -(384 << 16) - oy + 0x8000, table(yoffs, crv), table(yoffs, cgu),
                   table(0, cgv), table(yoffs, cbu))


_YUV2RGB = {full: _Yuv2Rgb.of(full) for full in (False, True)}


def reference_rgb(y: np.ndarray, u: np.ndarray, v: np.ndarray,
                  full_range: bool = False) -> np.ndarray:
    """RGB24 exactly as swscale's C converter makes it from 4:2:0 planes of even size (what
    the reference vPDQ hashes): R = ramp[Y + r(V)], G = ramp[Y + gu(U) + gv(V)],
    B = ramp[Y + b(U)], each chroma sample serving its 2x2 block."""
    k = _YUV2RGB[full_range]
    h, w = y.shape
    u2 = u[: h // 2, : w // 2]
    v2 = v[: h // 2, : w // 2]
    yc = (y.astype(np.int32) * k.cy + k.base).reshape(h // 2, 2, w // 2, 2)
    out = np.empty((h // 2, 2, w // 2, 2, 3), dtype=np.uint8)
    t = np.empty_like(yc)
    for ch, off in enumerate((k.r_v[v2], k.g_u[u2] + k.g_v[v2], k.b_u[u2])):
        np.add(yc, (off * k.cy)[:, None, :, None], out=t)
        np.right_shift(t, 16, out=t)
        np.clip(t, 0, 255, out=t)
        out[..., ch] = t
    return out.reshape(h, w, 3)


def _plane(frame: av.VideoFrame, k: int, h: int, w: int) -> np.ndarray:
    p = frame.planes[k]
    return np.frombuffer(memoryview(p), dtype=np.uint8).reshape(-1, p.line_size)[:h, :w]


def _exact_pixels(frame: av.VideoFrame) -> np.ndarray:
    """The RGB the reference hashes. 4:2:0 8-bit of even size: reference_rgb (bit-identical
    to the reference's sample hashes); any other layout: swscale's own RGB24 conversion, the
    call the reference makes (its rounding may then differ by FFmpeg build)."""
    w, h = frame.width, frame.height
    name = frame.format.name
    if name in ("yuv420p", "yuvj420p") and w % 2 == 0 and h % 2 == 0:
        # full range only as swscale sees it from the pixel format the reference passes
        return reference_rgb(_plane(frame, 0, h, w), _plane(frame, 1, h // 2, w // 2),
                             _plane(frame, 2, h // 2, w // 2), name == "yuvj420p")
    return frame.to_ndarray(format="rgb24", interpolation="AREA")


def _fast_pixels(frame: av.VideoFrame, reduce_to: int | None) -> np.ndarray:
    """Grey; scaled by swscale so that the longer side is at most `reduce_to` (never up)."""
    w, h = frame.width, frame.height
    scale = min(1.0, reduce_to / max(w, h)) if reduce_to else 1.0
    if scale < 1.0:
        w, h = max(1, round(w * scale)), max(1, round(h * scale))
        return frame.reformat(width=w, height=h, format="gray",
                              interpolation="AREA").to_ndarray()
    return frame.to_ndarray(format="gray")


# ---- decoding -----------------------------------------------------------------------------

def _frame_rate(stream: av.video.stream.VideoStream) -> float | None:
    """The reference's frame rate: the average, else the base (r_frame_rate) rate."""
    for rate in (stream.average_rate, stream.base_rate, stream.guessed_rate):
        if rate and rate.numerator and rate.denominator:
            return float(rate)
    return None


def _lowres(width: int, height: int, reduce_to: int) -> int:
    """How many halvings leave both sides >= reduce_to (0..3); the codec clamps it to what
    it supports (H.264, HEVC, VP9, AV1: none)."""
    n = 0
    while n < 3 and min(width, height) >> (n + 1) >= reduce_to:
        n += 1
    return n


class _Sampler:
    """The first frame at or after each multiple of `interval` seconds (every frame at 0)."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.next_t = 0.0

    def wants(self, t: float) -> bool:
        return self.interval <= 0 or t + 1e-6 >= self.next_t

    def take(self, t: float) -> None:
        if self.interval > 0:
            self.next_t = (math.floor(t / self.interval + 1e-9) + 1) * self.interval


def _last_wanted(times: list[float | None], sampler: _Sampler) -> int:
    """Decode position of the last packet of a group whose frame the sampler will take
    (-1: none), simulating the sampler over the group's frames in display order."""
    if any(t is None for t in times):
        return len(times) - 1
    probe = _Sampler(sampler.interval)
    probe.next_t = sampler.next_t
    last = -1
    for pos in sorted(range(len(times)), key=lambda p: (times[p], p)):
        t = times[pos]
        assert t is not None
        if probe.wants(t):
            probe.take(t)
            last = max(last, pos)
    return last


def frames(source: str | bytes | BinaryIO, interval: float = 1.0, mode: str = "fast",
           max_seconds: float | None = None, threads: int = 1,
           max_pixels: int | None = None, max_frames: int | None = None,
           reduce_to: int | None = None, counts: dict[str, int] | None = None
           ) -> Iterator[Frame]:
    """The frames vPDQ hashes, in `mode` (see the module doc). `counts`, when given, gets
    the frames read ("read") and decoded ("decoded") in fast mode. `threads`: decoder threads
    (1 by default: a scan already runs a worker per core; more: FFmpeg's frame/slice threads).
    `max_pixels`: refuse frames larger than this (VideoLimitError, before decoding any);
    `max_frames`: stop with VideoLimitError past this many frames (decoded or skipped);
    `max_seconds`: stop quietly at frames later than this."""
    if mode not in VIDEO_MODES:
        raise ValueError(f"video mode must be one of {VIDEO_MODES}, not {mode!r}")
    try:
        with av.open(source, mode="r") as container:
            stream, ctx = _video_stream(container)
            options = {}
            if max_pixels is not None:
                check_pixels(ctx.width, ctx.height, max_pixels, "video frame")
                options["max_pixels"] = str(max_pixels)  # FFmpeg refuses larger ones
            if mode == "fast" and reduce_to and ctx.width and ctx.height:
                level = _lowres(ctx.width, ctx.height, reduce_to)
                if level:
                    options["lowres"] = str(level)
            ctx.options = options
            stream.thread_count = threads
            if threads != 1:
                stream.thread_type = "AUTO"
            if mode == "exact":
                yield from _exact(container, stream, interval, max_seconds, max_pixels,
                                  max_frames)
            else:
                yield from _fast(container, stream, interval, max_seconds, max_pixels,
                                 max_frames, reduce_to, counts if counts is not None else {})
    except DecodeError as e:
        raise VideoLimitError(str(e)) from None
    except (av.error.FFmpegError, OSError, ValueError, EOFError) as e:
        raise VideoDecodeError(str(e)) from None


def _check(frame: av.VideoFrame, index: int, max_pixels: int | None,
           max_frames: int | None) -> None:
    if max_frames is not None and index >= max_frames:
        raise VideoLimitError(f"more than {max_frames} frames (max_video_frames); "
                              "the rest not decoded")
    if max_pixels is not None:
        check_pixels(frame.width, frame.height, max_pixels, f"video frame {index}")


def _exact(container: av.container.InputContainer, stream: av.video.stream.VideoStream,
           interval: float, max_seconds: float | None, max_pixels: int | None,
           max_frames: int | None) -> Iterator[Frame]:
    fps = _frame_rate(stream)
    every = max(1, int(interval * fps)) if fps else 1
    sampler = _Sampler(interval)  # only without a frame rate (the reference refuses those)
    for index, frame in enumerate(container.decode(stream)):
        _check(frame, index, max_pixels, max_frames)
        if fps:
            t = float(np.float32(index) / np.float32(fps))
        else:
            t = float(frame.time) if frame.time is not None else index / 30.0
        if max_seconds is not None and t > max_seconds:
            return
        if fps and index % every:
            continue
        if not fps:
            if not sampler.wants(t):
                continue
            sampler.take(t)
        if frame.width < MIN_HASHABLE_SIDE or frame.height < MIN_HASHABLE_SIDE:
            continue
        yield Frame(index, round(t, 3), _exact_pixels(frame))


def _leading(group: list[av.Packet]) -> bool:
    """Whether a group opens with pictures shown before its keyframe (an open GOP: they may
    refer to the previous group, which must then be decoded to its end)."""
    first = group[0].pts
    return first is not None and any(p.pts is not None and p.pts < first for p in group[1:])


def _groups(container: av.container.InputContainer, stream: av.video.stream.VideoStream
            ) -> Iterator[tuple[list[av.Packet], bool, bool]]:
    """(packets, whole, then_leading): a keyframe and the packets up to the next one;
    `whole` False when the read-ahead stopped at GOP_PACKETS / GOP_BYTES (then every packet
    is decoded); `then_leading` when the next group is an open one (so is this one decoded
    whole). Two groups are held at a time."""
    held: tuple[list[av.Packet], bool] | None = None
    group: list[av.Packet] = []
    size = 0

    def done(g: list[av.Packet], whole: bool) -> Iterator[tuple[list[av.Packet], bool, bool]]:
        nonlocal held
        if held is not None:
            yield held[0], held[1], g[0].is_keyframe and _leading(g)
        held = (g, whole)

    for packet in container.demux(stream):
        if packet.size == 0:  # the demuxer's end-of-stream marker
            continue
        if packet.is_keyframe and group:
            yield from done(group, True)
            group, size = [], 0
        group.append(packet)
        size += packet.size
        if len(group) >= GOP_PACKETS or size >= GOP_BYTES:
            yield from done(group, False)
            group, size = [], 0
    if group:
        yield from done(group, True)
    if held is not None:
        yield held[0], held[1], False


def _fast(container: av.container.InputContainer, stream: av.video.stream.VideoStream,
          interval: float, max_seconds: float | None, max_pixels: int | None,
          max_frames: int | None, reduce_to: int | None, counts: dict[str, int]
          ) -> Iterator[Frame]:
    ctx = stream.codec_context
    tb = stream.time_base or Fraction(1, 90000)
    sampler = _Sampler(interval)
    seen = 0  # packets read (frames, decoded or skipped)
    decoded = 0
    index_of: dict[int, int] = {}  # pts -> display index, for the last groups read
    prev_start = 0  # display index of the previous group's first frame
    whole_run = False  # inside a group that did not fit the read-ahead: decode it all

    def out(frame: av.VideoFrame) -> Iterator[Frame]:
        nonlocal decoded
        index = index_of.get(frame.pts, decoded) if frame.pts is not None else decoded
        decoded += 1
        counts["decoded"] = decoded
        _check(frame, index, max_pixels, None)
        # from the stream's time base: a frame the flush returns carries none of its own
        t = float(frame.pts * tb) if frame.pts is not None else index / 30.0
        if max_seconds is not None and t > max_seconds:
            raise _Stop
        if not sampler.wants(t):
            return
        sampler.take(t)
        yield Frame(index, round(t, 3), _fast_pixels(frame, reduce_to))

    try:
        for group, whole, then_leading in _groups(container, stream):
            over = max_frames is not None and seen + len(group) > max_frames
            if over:
                assert max_frames is not None
                group, whole = group[: max_frames - seen], False
            if group and group[0].is_keyframe:
                whole_run = False  # a new group of pictures
            times = [float(p.pts * tb) if p.pts is not None else None for p in group]
            if len(index_of) > 4 * GOP_PACKETS:  # keep the previous group's (frames held back)
                index_of = {k: v for k, v in index_of.items() if v >= prev_start}
            prev_start = seen
            with_pts = [p for p in range(len(group)) if group[p].pts is not None]
            pts = [p.pts or 0 for p in group]
            for rank, pos in enumerate(sorted(with_pts, key=lambda p: (pts[p], p))):
                index_of[pts[pos]] = seen + rank
            seen += len(group)
            counts["read"] = seen
            if not whole or whole_run or then_leading or interval <= 0:
                last = len(group) - 1
            else:
                last = _last_wanted(times, sampler)
            whole_run = whole_run or not whole
            for packet in group[: last + 1]:
                for frame in ctx.decode(packet):
                    yield from out(frame)
            if last < len(group) - 1 and not over:
                # the rest is skipped: drain the frames the decoder holds back for reordering,
                # then start it afresh for the next keyframe
                for frame in ctx.decode(None):
                    yield from out(frame)
                ctx.flush_buffers()
            if over:
                raise VideoLimitError(f"more than {max_frames} frames (max_video_frames); "
                                      "the rest not decoded")
        for frame in ctx.decode(None):
            yield from out(frame)
    except _Stop:
        return


class _Stop(Exception):
    """max_seconds reached: the frames after it are not wanted."""



def _video_stream(container: Any) -> tuple[Any, Any]:
    """The container's first video stream and its decoder context; VideoDecodeError where
    there is none, or where FFmpeg has no decoder for its codec (fuzz/video)."""
    if not container.streams.video:
        raise VideoDecodeError("no video stream")
    stream = container.streams.video[0]
    ctx = stream.codec_context
    if ctx is None:
        raise VideoDecodeError("video stream of a codec FFmpeg cannot decode; not decoded")
    return stream, ctx

def luma_frames(source: str | bytes | BinaryIO, interval: float = 1.0,
                max_seconds: float | None = None, threads: int = 1,
                max_pixels: int | None = None, max_frames: int | None = None
                ) -> Iterator[tuple[int, float, np.ndarray]]:
    """(frame index, seconds, full-size luma plane) for the first frame at or after each
    multiple of `interval` seconds (every frame when 0): the thumbnails' frames."""
    try:
        with av.open(source, mode="r") as container:
            stream, ctx = _video_stream(container)
            if max_pixels is not None:
                check_pixels(ctx.width, ctx.height, max_pixels, "video frame")
                ctx.options = {"max_pixels": str(max_pixels)}
            stream.thread_count = threads
            if threads != 1:
                stream.thread_type = "AUTO"
            sampler = _Sampler(interval)
            for index, frame in enumerate(container.decode(stream)):
                _check(frame, index, max_pixels, max_frames)
                t = float(frame.time) if frame.time is not None else index / 30.0
                if max_seconds is not None and t > max_seconds:
                    return
                if not sampler.wants(t):
                    continue
                sampler.take(t)
                yield index, round(t, 3), frame.to_ndarray(format="gray")
    except DecodeError as e:
        raise VideoLimitError(str(e)) from None
    except (av.error.FFmpegError, OSError, ValueError, EOFError) as e:
        raise VideoDecodeError(str(e)) from None
