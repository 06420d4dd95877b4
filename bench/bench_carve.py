"""Carving throughput: MB/s of media/carve.carve over a generated stream shaped like
unallocated space (zeros, noise, old text, and benign pictures and one clip planted at known
offsets), and whether every planted file came back whole.

    python bench/bench_carve.py                 # 256 MiB, from a temporary file
    python bench/bench_carve.py --mib 1024 --forward-only
    python bench/bench_carve.py --dense          # pictures back to back (a photo partition)

Prints MB/s, files found / planted, and the rejection counts. Nothing is written but a
temporary file, removed at the end.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from cairn.demo import jpeg_bytes, picture, png_bytes, tiny_video  # noqa: E402
from cairn.media.carve import CarveStats, carve  # noqa: E402

MiB = 1 << 20


class ForwardOnly(io.RawIOBase):
    """A stream that cannot seek: what a pipe or a decompressor gives."""

    def __init__(self, f: io.BufferedReader) -> None:
        self.f = f

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray) -> int:  # type: ignore[override]
        data = self.f.read(len(b))
        b[:len(data)] = data
        return len(data)


def planted_files(tmp: Path) -> list[bytes]:
    out: list[bytes] = []
    for i in range(40):
        img = picture(100 + i, (320, 240))
        out.append(jpeg_bytes(img) if i % 2 else png_bytes(img))
    clip = tmp / "clip.mp4"
    tiny_video(clip, seconds=1)
    out.append(clip.read_bytes())
    return out


def build(path: Path, mib: int, files: list[bytes], seed: int = 1) -> list[int]:
    rnd = random.Random(seed)
    total, offsets = mib * MiB, []
    step = total // (len(files) + 1)
    with path.open("wb") as f:
        for data in files:
            region = step - len(data)
            kind = rnd.choice(("zeros", "noise", "text"))
            if kind == "zeros":
                f.write(bytes(region))
            elif kind == "noise":
                f.write(rnd.randbytes(region))
            else:
                line = b"benign log line user-0042 example.test 2024-01-01\n"
                f.write((line * (region // len(line) + 1))[:region])
            offsets.append(f.tell())
            f.write(data)
        f.write(bytes(total - f.tell()) if total > f.tell() else b"")
    return offsets


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mib", type=int, default=256)
    ap.add_argument("--forward-only", action="store_true",
                    help="read through a stream that cannot seek")
    ap.add_argument("--dense", action="store_true",
                    help="pictures back to back, no gaps: every byte is inside a file")
    args = ap.parse_args()
    if args.dense:
        return dense(args.mib)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        files = planted_files(tmp)
        blob = tmp / "unallocated.bin"
        offsets = build(blob, args.mib, files)
        with blob.open("rb") as raw:
            f = io.BufferedReader(ForwardOnly(raw)) if args.forward_only else raw
            stats = CarveStats()
            t0 = time.perf_counter()
            got = {c.offset: c.data for c in carve(f, stats=stats)}  # type: ignore[arg-type]
            wall = time.perf_counter() - t0
        whole = sum(1 for o, data in zip(offsets, files, strict=True) if got.get(o) == data)
        size = os.path.getsize(blob)
    print(f"scanned {size / MiB:.0f} MiB in {wall:.2f} s: {size / MiB / wall:.0f} MB/s "
          f"({'forward-only' if args.forward_only else 'seekable'})")
    print(f"planted {len(files)}, carved whole {whole}, carved in all {len(got)}")
    print(stats.summary())


def dense(mib: int) -> None:
    files = [jpeg_bytes(picture(i, (640, 480))) if i % 4 else png_bytes(picture(i, (320, 240)))
             for i in range(40)]
    one = b"".join(files)
    reps = max(1, mib * MiB // len(one))
    blob = one * reps
    stats = CarveStats()
    t0 = time.perf_counter()
    n = sum(1 for _ in carve(io.BytesIO(blob), stats=stats))
    wall = time.perf_counter() - t0
    print(f"dense: {len(blob) / MiB:.0f} MiB, {n} of {len(files) * reps} files carved, "
          f"{len(blob) / MiB / wall:.0f} MB/s, {n / wall:.0f} files/s")


if __name__ == "__main__":
    main()
