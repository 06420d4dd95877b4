"""PDQ throughput and fast-vs-exact drift, side by side with python-threatexchange in one run.

    .venv/bin/python bench/bench_pdq.py            # part of `make bench`

Throughput (files/s, one core) for 640x480, 1920x1080 and 4000x3000 JPEGs:
  decode only (full)     Pillow open + load at full resolution: the floor of any exact hasher
  decode only (reduced)  Pillow draft to >= 512 px a side, luma alone: the floor of the fast path
  python-threatexchange  PdqSignal.hash_from_file
  cairn exact / fast     decode + PDQ (one hash), as `cairn hash --mode exact|fast`
  fast as scan           + the 8 dihedral hashes (one DCT) and the query variants a scan
                         computes for a picture that matched nothing while a list holds PDQ
Drift: Hamming distance between fast and exact hashes over >= 200 varied generated pictures
(plus the reference's real 4032x3024 photos when ../shared is present).
"""

from __future__ import annotations

import argparse
import io
import os
import time
from pathlib import Path

import numpy as np
from PIL import Image
from threadpoolctl import threadpool_limits

from cairn.demo import jpeg_bytes, picture
from cairn.media.decode import FAST_MIN_SIDE
from cairn.signals.image import image_signals
from cairn.signals.pdq import hamming
from corpus import jpeg_corpus
from figures import Figure, emit

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench-out"
SHARED = (Path(os.environ.get("CAIRN_SHARED") or ROOT.parent / "shared")  # as bench_video
          / "reference" / "threatexchange" / "pdq" / "data")
SIZES = {(640, 480): 60, (1920, 1080): 30, (4000, 3000): 10}


def rate(fn, blobs: list[bytes], repeat: int = 1) -> float:
    best = 0.0
    for _ in range(repeat):
        t0 = time.perf_counter()
        for b in blobs:
            fn(b)
        best = max(best, len(blobs) / (time.perf_counter() - t0))
    return best


def decode_full(b: bytes) -> None:
    with Image.open(io.BytesIO(b)) as im:
        im.load()


def decode_reduced(b: bytes) -> None:
    with Image.open(io.BytesIO(b)) as im:
        target = (FAST_MIN_SIDE,) * 2 if min(im.size) >= 2 * FAST_MIN_SIDE else im.size
        im.draft("L", target)  # luma alone, as the fast path decodes
        im.load()


def reference(b: bytes) -> None:
    from threatexchange.signal_type.pdq.signal import PdqSignal

    PdqSignal.hash_from_bytes(b)


def cairn_exact(b: bytes) -> str:
    return image_signals(b, 10**9, "exact", dihedral=False, variants=False).pdq.hash


def cairn_fast(b: bytes) -> str:
    return image_signals(b, 10**9, "fast", dihedral=False, variants=False).pdq.hash


def cairn_fast_scan(b: bytes) -> str:
    """What a scan computes: + the 8 dihedral hashes and the trim/crop query variants."""
    return image_signals(b, 10**9, "fast").pdq.hash


def throughput(sizes: dict[tuple[int, int], int]) -> list[Figure]:
    print("PDQ throughput, files/s on one core (higher is better)\n")
    figs = []
    cols = ["decode full", "decode reduced", "pytx", "cairn exact", "cairn fast",
            "fast as scan", "fast/pytx", "fast/decode"]
    print(f"{'size':<11}" + "".join(f"{c:>15}" for c in cols))
    for size, n in sizes.items():
        blobs = [p.read_bytes() for p in jpeg_corpus(size, n)]
        r = {
            "decode full": rate(decode_full, blobs, 2),
            "decode reduced": rate(decode_reduced, blobs, 2),
            "pytx": rate(reference, blobs, 2),
            "cairn exact": rate(cairn_exact, blobs, 2),
            "cairn fast": rate(cairn_fast, blobs, 2),
            "fast as scan": rate(cairn_fast_scan, blobs, 2),
        }
        r["fast/pytx"] = r["cairn fast"] / r["pytx"]
        r["fast/decode"] = r["decode reduced"] / r["cairn fast"]
        print(f"{size[0]}x{size[1]:<6}" + "".join(
            f"{r[c]:>14.2f}x" if "/" in c else f"{r[c]:>15.1f}" for c in cols))
        if size != (640, 480):
            name = "1080p" if size == (1920, 1080) else f"{size[0]}x{size[1]}"
            figs.append(Figure(f"pdq.fast_vs_pytx.{name}", r["fast/pytx"],
                               f"fast {r['cairn fast']:.1f} vs pytx {r['pytx']:.1f} files/s, "
                               f"{n} files"))
    print("\ncairn exact / fast: one hash, as the reference computes; fast as scan: + the 8 "
          "dihedral hashes and the trim/crop query variants.\nfast/decode = time of cairn fast "
          "over time of the reduced decode alone (target <= 1.5)\n")
    return figs


def drift(n: int) -> list[Figure]:
    rng = np.random.default_rng(5)
    blobs = []
    d = OUT / "drift"
    d.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        w = int(rng.integers(1024, 4200))
        h = int(w * rng.choice([0.5625, 0.66, 0.75, 1.0, 1.33, 1.78]))
        h = max(h, 1024)
        p = d / f"{i:04d}-{w}x{h}.jpg"
        if not p.exists():
            p.write_bytes(jpeg_bytes(picture(40_000 + i, (w, h)), int(rng.integers(60, 96))))
        blobs.append(("generated", p.read_bytes()))
    real = sorted(SHARED.glob("reg-test-input/exif-rotn/*.jpg")) if SHARED.exists() else []
    blobs += [("real photo", p.read_bytes()) for p in real]
    dist = {"generated": [], "real photo": []}
    for kind, b in blobs:
        dist[kind].append(hamming(cairn_fast(b), cairn_exact(b)))
    print("Drift of fast vs exact, Hamming bits (target: p95 <= 8, max <= 24)\n")
    print(f"{'set':<12}{'n':>6}{'min':>6}{'median':>8}{'p95':>6}{'max':>6}")
    for kind, v in dist.items():
        if v:
            a = np.array(v)
            print(f"{kind:<12}{len(a):>6}{a.min():>6}{int(np.median(a)):>8}"
                  f"{int(np.percentile(a, 95)):>6}{a.max():>6}")
    allv = np.array(dist["generated"] + dist["real photo"])
    print(f"{'all':<12}{len(allv):>6}{allv.min():>6}{int(np.median(allv)):>8}"
          f"{int(np.percentile(allv, 95)):>6}{allv.max():>6}\n")
    what = f"{len(allv)} pictures, median {int(np.median(allv))}"
    return [Figure("pdq.drift.p95", float(np.percentile(allv, 95)), what),
            Figure("pdq.drift.max", float(allv.max()), what)]


def main() -> None:
    threadpool_limits(1)  # one core means one BLAS thread too
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--drift", type=int, default=200, help="generated pictures for drift")
    ap.add_argument("--files", default=",".join(map(str, SIZES.values())),
                    help="JPEGs timed at 640x480, 1920x1080 and 4000x3000")
    args = ap.parse_args()
    counts = [int(x) for x in args.files.split(",")]
    figs = throughput(dict(zip(SIZES, counts, strict=True)))
    figs += drift(args.drift)
    emit("bench_pdq", figs)


if __name__ == "__main__":
    main()
