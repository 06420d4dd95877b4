"""vPDQ throughput: seconds of video hashed per second of wall time, one core, SD and 1080p.

    .venv/bin/python bench/bench_video.py          # part of `make bench`

Generates benign H.264 clips (moving procedural scenes, 30 fps) under bench-out/, then hashes
them with cairn's vPDQ at one frame per second (the default) and at every frame, and times
decoding alone as the floor: every frame must be decoded whatever is hashed.
"""

from __future__ import annotations

import time
from pathlib import Path

import av
import numpy as np
from threadpoolctl import threadpool_limits

from cairn.demo import picture
from cairn.signals.vpdq import vpdq_frames

OUT = Path(__file__).resolve().parents[1] / "bench-out"
SECONDS = 20
FPS = 30


def clip(size: tuple[int, int]) -> Path:
    path = OUT / f"clip-{size[0]}x{size[1]}.mp4"
    if path.exists():
        return path
    OUT.mkdir(exist_ok=True)
    scenes = [np.asarray(picture(80_000 + k, (size[0] + 64, size[1] + 64))) for k in range(4)]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "23"}
        for i in range(SECONDS * FPS):
            scene = scenes[(i // (FPS * 5)) % len(scenes)]
            dx = (i * 2) % 64  # a slow pan, so every frame differs
            frame = av.VideoFrame.from_ndarray(
                np.ascontiguousarray(scene[dx // 2:dx // 2 + size[1], dx:dx + size[0]]),
                format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def decode_only(path: Path) -> None:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        s.thread_count = 1
        for _ in c.decode(s):
            pass


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return SECONDS / (time.perf_counter() - t0)


def main() -> None:
    threadpool_limits(1)  # one core means one BLAS thread too
    print(f"vPDQ throughput: seconds of video per second of wall time, one core ({SECONDS} s "
          f"H.264 clips, {FPS} fps, one decoder thread)\n")
    print(f"{'clip':<12}{'decode only':>14}{'vPDQ 1 fps':>14}{'vPDQ every frame':>20}")
    for size in ((640, 480), (1920, 1080)):
        p = clip(size)
        dec = timed(lambda p=p: decode_only(p))
        one = timed(lambda p=p: vpdq_frames(str(p), 1.0))
        every = timed(lambda p=p: vpdq_frames(str(p), 0))
        print(f"{size[0]}x{size[1]:<7}{dec:>13.1f}x{one:>13.1f}x{every:>19.1f}x")
    print("\n(Nx = N seconds of video per second; frames come from the decoder's luma plane.)")


if __name__ == "__main__":
    main()
