"""Benign generated JPEG corpora, cached under bench-out/, shared by the benchmarks."""

from __future__ import annotations

from pathlib import Path

from cairn.demo import jpeg_bytes, picture

OUT = Path(__file__).resolve().parents[1] / "bench-out"


def jpeg_corpus(size: tuple[int, int], n: int, quality: int = 90) -> list[Path]:
    """n procedural pictures of `size` as JPEGs (made once), read once to warm the cache."""
    d = OUT / f"jpeg-{size[0]}x{size[1]}"
    d.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        p = d / f"{i:04d}.jpg"
        if not p.exists():
            p.write_bytes(jpeg_bytes(picture(20_000 + i, size), quality))
        paths.append(p)
    for p in paths:
        p.read_bytes()
    return paths
