"""How a scan worker hashes: a module of its own, light to import, so that a command that
only builds options (`cairn hash`, the scan's parent process) does not load the readers."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_INTERVAL = 1.0  # = signals.vpdq.DEFAULT_INTERVAL (tests/test_scan_perf.py), without PyAV


@dataclass(frozen=True, slots=True)
class HashOptions:
    """How to hash: PDQ mode for images, one video frame per `video_interval` seconds, and
    whether to read provenance (generator metadata, XMP, model files)."""

    mode: str = "fast"  # bench_robustness.py: fast loses no match against exact
    video_interval: float = DEFAULT_INTERVAL
    provenance: bool = True
    c2pa_trust: str | None = None  # PEM bundle of the C2PA trust anchors accepted
    novelai_keys: tuple[tuple[str, str], ...] = ()  # extra (name, base64 Ed25519 key)
    detector: str | None = None  # path of a detector config (provenance/detector.py)
    carve: bool = False  # carve pictures and clips from a disk image's free space
    # Query-side variants (trim, crops) of pictures: `fallbacks` False makes none (`cairn
    # hash` prints none); with `list_index` (the saved list index the scan matches with) the worker
    # looks up the plain hash there (thresholds per list id in `pdq_thresholds`) and makes them
    # only for a picture that matched nothing, as the scan's matcher will look them up.
    fallbacks: bool = True
    list_index: str | None = None
    pdq_thresholds: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True, slots=True)
class Split:
    """When a disk image or a zip is read as several work units rather than by one worker:
    from `min_image` bytes, in parts of about `part` bytes of file (member) data per volume
    (at most `most` per volume, or per zip), so that one large image keeps every worker
    busy."""

    min_image: int = 256 << 20
    part: int = 128 << 20
    most: int = 64
