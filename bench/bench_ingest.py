"""Disk image ingest throughput: `cairn scan` of an ext4 image and an NTFS image, each in E01
form, against the same files scanned from a folder, side by side in one run.

    nice .venv/bin/python bench/bench_ingest.py --size 4G        # the issue's figure
    nice .venv/bin/python bench/bench_ingest.py --size 256M      # a quicker run
    nice .venv/bin/python bench/bench_ingest.py --size 1G --workers 2 \
        --sources folder,raw,ext4 --modes split,whole            # parts against whole images

Builds under `--workdir` (default /tmp/ingest-bench-<size>; needs mkfs.ext4, mkntfs, ntfscp
and ewfacquire): a folder of benign generated 4000x3000 JPEGs (`--jpeg-share` of the bytes,
default a quarter; 24 procedural pictures, each file made unique by a JPEG comment segment
after SOI, so every file is hashed and decoded) and 8 MiB random filler files (the rest);
an ext4 image of it (`mkfs.ext4 -d`), an NTFS image of it (`mkntfs`, then `ntfscp` file by
file) and an E01 of each (`ewfacquire`, deflate "fast", 1.4 GiB segments: a 4 GiB image
has three or four). Each scan goes into a fresh SQLite store. Prints seconds, MB/s of file
data, files/s and the ratio to the folder at the same worker count; the E01 scans include
verifying the image's stored MD5/SHA-1 (a second pass over the decompressed media). `load`:
the 1-minute load average when the scan started and ended; the two E01s swap places every
row, so that a load drifting under the run does not always favour the same one.
`--count-chunks` reads each E01's files as a scan does instead and counts the EWF chunks
inflated (each should be once). `--keep` keeps the generated files (deleted at the end
otherwise). Timings go here, never into tests.

`--sources`: which of folder, raw (the ext4 image before ewfacquire, kept), ext4 and ntfs
(their E01s) to scan. `--modes`: how images are read: `auto` (the default and the issue's
figure: as `cairn scan --workers N` reads them, in parts with more than one worker and whole
with one), `split` (always in parts that every worker takes: scan/units.py) and/or `whole`
(one worker per image); `--whole` is `--modes whole`. Each image is scanned once per mode,
the modes swapping places every row as the E01s do.
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

from cairn.demo import jpeg_bytes, picture
from cairn.scan.caps import parse_size
from cairn.scan.pipeline import scan
from cairn.store import Store
from figures import Figure, emit

MiB = 1 << 20
FILLER = 8 * MiB
JPEG_SIZE = (4000, 3000)  # a phone camera's 12 MP
BASES = 24


def _need(*tools: str) -> None:
    for tool in tools:
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is needed to build the images "
                     "(apt-get install e2fsprogs ntfs-3g ewf-tools)")


def _unique(jpeg: bytes, i: int) -> bytes:
    """The same picture, other bytes: a COM segment after SOI naming the copy."""
    text = f"cairn bench copy {i:06d}".encode()
    return jpeg[:2] + b"\xff\xfe" + (len(text) + 2).to_bytes(2, "big") + text + jpeg[2:]


def _e01(raw: Path, target: Path, keep: Path | None = None) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["ewfacquire", "-u", "-q", "-t", target, "-c", "deflate:fast",
                    "-f", "encase6", "-d", "sha1", raw], check=True, capture_output=True)
    if keep is None:
        raw.unlink()  # only the E01 is scanned: half the disk space
    else:
        keep.parent.mkdir(parents=True, exist_ok=True)
        raw.rename(keep)


def build(root: Path, size: int, jpeg_share: float, ntfs: bool = True
          ) -> tuple[Path, Path, Path, Path, int, int]:
    """(folder, raw ext4, ext4 E01, NTFS E01, bytes of file data, files): made once under
    `root` (the NTFS image only when `ntfs`)."""
    _need("mkfs.ext4", "ewfacquire", *(("mkntfs", "ntfscp") if ntfs else ()))
    files = root / "files"
    ext_raw = root / "raw" / "ext4.dd"
    ext_e01, ntfs_e01 = root / "ext4" / "ext4.E01", root / "ntfs" / "ntfs.E01"
    if not (ext_e01.exists() and ext_raw.exists() and (ntfs_e01.exists() or not ntfs)):
        shutil.rmtree(root, ignore_errors=True)
        (files / "DCIM").mkdir(parents=True)
        (files / "data").mkdir()
        bases = [jpeg_bytes(picture(30_000 + i, JPEG_SIZE), 90) for i in range(BASES)]
        jpeg_budget, n, made = int(size * jpeg_share), 0, 0
        print(f"generating {jpeg_budget} bytes of JPEGs and {size - jpeg_budget} of filler ...",
              flush=True)
        while made < jpeg_budget:
            data = _unique(bases[n % BASES], n)
            (files / "DCIM" / f"IMG_{n:05d}.jpg").write_bytes(data)
            made += len(data)
            n += 1
        left, i = size - made, 0
        while left > 0:
            (files / "data" / f"blob-{i:05d}.bin").write_bytes(os.urandom(min(FILLER, left)))
            left -= FILLER
            i += 1
        paths = sorted(p for p in files.rglob("*") if p.is_file())
        data = sum(p.stat().st_size for p in paths)
        image_size = int(data * 1.1) + 64 * MiB
        raw = root / "ext4.dd"
        print(f"mkfs.ext4 -d ({image_size} bytes), ewfacquire ...", flush=True)
        subprocess.run(["truncate", "-s", str(image_size), raw], check=True)
        subprocess.run(["mkfs.ext4", "-q", "-d", files, raw], check=True)
        _e01(raw, ext_e01.with_suffix(""), ext_raw)
        raw = root / "ntfs.dd"
        if ntfs:
            print(f"mkntfs + ntfscp of {len(paths)} files, ewfacquire ...", flush=True)
            subprocess.run(["truncate", "-s", str(image_size), raw], check=True)
            subprocess.run(["mkntfs", "-q", "-F", "-f", raw], check=True, capture_output=True)
            for p in paths:  # ntfscp makes no folders: the files lie in the root, same names
                subprocess.run(["ntfscp", "-q", raw, p, "/" + p.name], check=True)
            _e01(raw, ntfs_e01.with_suffix(""))
    paths = [p for p in files.rglob("*") if p.is_file()]
    return (files, ext_raw.parent, ext_e01, ntfs_e01, sum(p.stat().st_size for p in paths),
            len(paths))


def run(location: Path, workers: int, split: bool | None = None) -> tuple[float, dict]:
    """Seconds and totals of one scan; `split` None: as `cairn scan` decides (in parts only
    with more than one worker)."""
    with tempfile.TemporaryDirectory(prefix="cairn-bench-ingest-") as home:
        store = Store.open(Path(home))
        t0 = time.perf_counter()
        summary = scan(store, "bench", location, workers=workers, split=split)
        took = time.perf_counter() - t0
        return took, summary.totals


def count_chunks(e01: Path) -> str:
    """Read every file of the E01 as a scan does (read_ahead) and count the EWF chunks
    inflated: how many reads, how many distinct chunks, the most reads of one chunk."""
    from cairn.media.disk import detect, ewf_chunks
    from cairn.media.disk.images import open_image, open_readonly
    from cairn.media.disk.members import iter_disk_members, read_ahead

    reads: dict[int, int] = {}
    load = ewf_chunks.ChunkStream._load

    def counting(self: ewf_chunks.ChunkStream, k: int, last: int) -> list:
        out = load(self, k, last)
        for j in range(k, k + len(out)):
            reads[j] = reads.get(j, 0) + 1
        return out

    ewf_chunks.ChunkStream._load = counting  # type: ignore[method-assign]
    try:
        t0, content = time.perf_counter(), 0
        with open_readonly(bytes(e01)) as f, open_image(f, detect.EWF, bytes(e01)) as img:
            for _m, data in read_ahead(iter_disk_members(img, e01.name), 1 << 30):
                content += len(data) if isinstance(data, bytes) else 0
        took = time.perf_counter() - t0
    finally:
        ewf_chunks.ChunkStream._load = load  # type: ignore[method-assign]
    total = sum(reads.values())
    return (f"{e01.name}: {content / MiB:.0f} MiB of files read in {took:.1f} s; "
            f"{total} chunk reads, {len(reads)} distinct chunks "
            f"({(total - len(reads)) * 100 / max(total, 1):.2f}% read again), at most "
            f"{max(reads.values(), default=0)} reads of one chunk")


_SPLIT = {"auto": None, "split": True, "whole": False}

# a row's name -> the E01 it scans ("ext4 E01", or "E01/split" when modes are named); the raw
# image and the folder are not the figure
_E01_KIND = {"ext4": "ext4", "e01": "ext4", "ntfs": "ntfs"}


def _todo(row: int, folder: Path, raw: Path, e01s: list[tuple[str, Path]], sources: list[str],
          modes: list[str]) -> list[tuple[str, Path, bool | None]]:
    """(name, location, split) of what one row scans: the folder first, then each image once
    per mode (named `raw/split`, `E01/whole` ... when modes are asked for), in an order that
    swaps every row."""
    images = [("raw", raw)] if "raw" in sources else []
    images += [(n, loc) for n, loc in e01s if n.split()[0].lower() in sources]
    named = modes != ["auto"]
    todo = [((f"{'E01' if n == 'ext4 E01' else n.split()[0]}/{m}" if named else n), loc,
             _SPLIT[m]) for n, loc in images for m in modes]
    return ([("folder", folder, None)] if "folder" in sources else []) + (
        todo[::-1] if row % 2 else todo)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", default="4G", help="bytes of file data (4G, 512M ...)")
    ap.add_argument("--jpeg-share", type=float, default=0.25,
                    help="share of those bytes in JPEGs (the rest: random filler)")
    ap.add_argument("--workers", default="1,2", help="worker counts to measure")
    ap.add_argument("--workdir", type=Path, help="where to build (default /tmp/ingest-bench-SIZE)")
    ap.add_argument("--keep", action="store_true", help="keep the generated files")
    ap.add_argument("--sources", default="folder,ext4,ntfs",
                    help="what to scan: folder, raw (the ext4 image), ext4, ntfs (E01s)")
    ap.add_argument("--modes", default="auto",
                    help="how images are read: auto (as `cairn scan` does: in parts with more "
                         "than one worker, whole with one), split (always in parts), whole, "
                         "or several: split,whole")
    ap.add_argument("--whole", action="store_true", help="read images whole (--modes whole)")
    ap.add_argument("--count-chunks", action="store_true",
                    help="instead of scanning: read each E01's files as a scan does and count "
                         "the chunks inflated (a chunk read twice is work done twice)")
    args = ap.parse_args()
    size = parse_size(args.size)
    root = args.workdir or Path(f"/tmp/ingest-bench-{size // MiB}M-{int(args.jpeg_share * 100)}")
    sources = args.sources.split(",")
    modes = ["whole"] if args.whole else args.modes.split(",")
    if set(modes) - set(_SPLIT):
        sys.exit(f"--modes: {args.modes!r}: each of auto, split, whole")
    try:
        folder, raw, ext_e01, ntfs_e01, data, nfiles = build(
            root, size, args.jpeg_share, ntfs="ntfs" in sources or args.count_chunks)
        for e01 in (ext_e01, ntfs_e01) if "ntfs" in sources else (ext_e01,):
            segs = sorted(e01.parent.iterdir())
            print(f"{e01.name}: {len(segs)} segment(s), "
                  f"{sum(p.stat().st_size for p in segs) / MiB:.0f} MiB")
        print(f"file data: {data / MiB:.0f} MiB in {nfiles} files; load average "
              f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        if args.count_chunks:
            for e01 in (ext_e01, ntfs_e01):
                print(count_chunks(e01), flush=True)
            return
        print(f"{'source':<9} {'workers':>7} {'seconds':>8} {'MB/s':>7} {'files/s':>8} "
              f"{'vs folder':>9} {'images':>6} {'errors':>6} {'load':>10}")
        e01s = [("ext4 E01", ext_e01), ("NTFS E01", ntfs_e01)]
        figs = []
        for row, w in enumerate(int(x) for x in args.workers.split(",")):
            base = None
            # the two E01s swap places every row: on a shared machine whose load drifts,
            # a fixed order would favour whichever runs later (both orders are shown)
            for name, loc, split in _todo(row, folder, raw, e01s, sources, modes):
                load0 = os.getloadavg()[0]
                took, totals = run(loc, w, split)
                mbs = data / MiB / took
                base = base or mbs
                print(f"{name:<9} {w:>7} {took:>8.1f} {mbs:>7.1f} {nfiles / took:>8.1f} "
                      f"{mbs / base:>8.2f}x {totals['images']:>6} "
                      f"{totals['items_with_errors']:>6} {load0:>4.1f}-{os.getloadavg()[0]:<4.1f}",
                      flush=True)
                kind = _E01_KIND.get(name.replace("/", " ").split()[0].lower())
                if kind and split is None and w <= 2:  # the figure: an E01 scanned
                    # as `cairn scan --workers N` scans it
                    figs.append(Figure(f"ingest.{kind}.{w}w", mbs / base,
                                       f"{mbs:.1f} vs {base:.1f} MB/s from a folder, "
                                       f"{nfiles} files", args.size))
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        emit("bench_ingest", figs)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
