"""Disk image ingest throughput: `cairn scan` of an ext4 image (raw dd and E01) against the
same files as a folder, 1 and 2 workers.

    .venv/bin/python bench/bench_ingest.py --size 4G        # the issue's figure
    nice .venv/bin/python bench/bench_ingest.py --size 512M # a quicker run

Builds once under bench-out/ingest-<size>/ (needs mkfs.ext4 and ewfacquire): a folder of
benign generated 1280x960 JPEGs (`--jpeg-share` of the bytes, default a quarter) and 8 MiB
random filler files (the rest), an ext4 image of it made by `mkfs.ext4 -d`, and an E01 of
that image (`ewfacquire`, deflate "fast", 1.4 GiB segments: a 4 GiB image has three).
Each scan goes into a fresh SQLite store. Prints seconds, MB/s of file data, files/s and
the ratio to the folder at the same worker count. The E01 scan includes verifying its
stored MD5/SHA-1 (a second pass over the decompressed media). Timings go here, never into
tests.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cairn.scan.isolation import parse_size
from cairn.scan.pipeline import scan
from cairn.store import Store
from corpus import OUT, jpeg_corpus

MiB = 1 << 20
FILLER = 8 * MiB
JPEG_SIZE = (1280, 960)


def build(size: int, jpeg_share: float) -> tuple[Path, Path, Path, int, int]:
    """(folder, raw image, E01 folder, bytes of file data, files): made once, reused."""
    for tool in ("mkfs.ext4", "ewfacquire"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is needed to build the images (apt-get install e2fsprogs ewf-tools)")
    root = OUT / f"ingest-{size // MiB}M-{int(jpeg_share * 100)}"
    files = root / "files"
    raw = root / "image" / "exhibit.dd"
    e01dir = root / "e01"
    if not (e01dir / "exhibit.E01").exists():
        shutil.rmtree(root, ignore_errors=True)
        (files / "DCIM").mkdir(parents=True)
        (files / "data").mkdir()
        jpeg_budget = int(size * jpeg_share)
        sample = jpeg_corpus(JPEG_SIZE, 1)[0].stat().st_size
        n = max(1, jpeg_budget // sample)
        print(f"generating {n} JPEGs and {size - jpeg_budget} bytes of filler ...", flush=True)
        for i, p in enumerate(jpeg_corpus(JPEG_SIZE, n)):
            shutil.copyfile(p, files / "DCIM" / f"IMG_{i:05d}.jpg")
        left, i = size - n * sample, 0
        while left > 0:
            (files / "data" / f"blob-{i:05d}.bin").write_bytes(os.urandom(min(FILLER, left)))
            left -= FILLER
            i += 1
        data = sum(p.stat().st_size for p in files.rglob("*") if p.is_file())
        raw.parent.mkdir()
        image_size = int(data * 1.1) + 64 * MiB
        print(f"mkfs.ext4 -d ({image_size} bytes) ...", flush=True)
        subprocess.run(["truncate", "-s", str(image_size), raw], check=True)
        subprocess.run(["mkfs.ext4", "-q", "-d", files, raw], check=True)
        print("ewfacquire ...", flush=True)
        e01dir.mkdir()
        subprocess.run(["ewfacquire", "-u", "-q", "-t", e01dir / "exhibit", "-c", "deflate:fast",
                        "-f", "encase6", "-d", "sha1", raw], check=True, capture_output=True)
    paths = [p for p in files.rglob("*") if p.is_file()]
    return files, raw, e01dir, sum(p.stat().st_size for p in paths), len(paths)


def run(location: Path, workers: int) -> tuple[float, dict]:
    with tempfile.TemporaryDirectory(prefix="cairn-bench-ingest-") as home:
        store = Store.open(Path(home))
        t0 = time.perf_counter()
        summary = scan(store, "bench", location, workers=workers)
        took = time.perf_counter() - t0
        return took, summary.totals


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", default="4G", help="bytes of file data (4G, 512M ...)")
    ap.add_argument("--jpeg-share", type=float, default=0.25,
                    help="share of those bytes in JPEGs (the rest: random filler)")
    ap.add_argument("--workers", default="1,2", help="worker counts to measure")
    args = ap.parse_args()
    size = parse_size(args.size)
    folder, raw, e01dir, data, nfiles = build(size, args.jpeg_share)
    segs = sorted(p.name for p in e01dir.iterdir())
    print(f"file data: {data / MiB:.0f} MiB in {nfiles} files; raw image "
          f"{raw.stat().st_size / MiB:.0f} MiB; E01 {len(segs)} segment(s), "
          f"{sum(p.stat().st_size for p in e01dir.iterdir()) / MiB:.0f} MiB")
    print(f"{'source':<8} {'workers':>7} {'seconds':>8} {'MB/s':>7} {'files/s':>8} "
          f"{'vs folder':>9} {'images':>6} {'errors':>6}")
    for w in (int(x) for x in args.workers.split(",")):
        base = None
        for name, loc in (("folder", folder), ("raw dd", raw), ("E01", e01dir)):
            took, totals = run(loc, w)
            mbs = data / MiB / took
            base = base or mbs
            print(f"{name:<8} {w:>7} {took:>8.1f} {mbs:>7.1f} {nfiles / took:>8.1f} "
                  f"{mbs / base:>8.2f}x {totals['images']:>6} {totals['items_with_errors']:>6}",
                  flush=True)


if __name__ == "__main__":
    main()
