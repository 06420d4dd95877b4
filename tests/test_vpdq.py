"""vPDQ against the reference C++ hasher's sample hashes, matching, and bad video."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cairn.signals.pdq import hamming
from cairn.signals.vpdq import (
    VideoError,
    match_percent,
    parse_signal,
    to_signal,
    vpdq_frames,
)

# Measured on the 7 reference videos: median 0 bits, frames of quality >= 50 at most 16 bits
# apart (decoders and RGB/luma paths differ slightly), quality within 1.
TOLERANCE_BITS = 16


def _reference(reference: Path, name: str) -> list[list[str]]:
    path = reference / "vpdq" / "sample-hashes" / f"{name}.txt"
    return [line.strip().split(",") for line in path.read_text().splitlines() if line.strip()]


def _videos(reference: Path) -> list[str]:
    return sorted(p.stem for p in (reference / "tmk" / "sample-videos").glob("*.mp4"))


def test_every_frame_agrees_with_reference_within_tolerance(reference: Path) -> None:
    names = _videos(reference)
    assert len(names) >= 2
    all_dist = []
    for name in names:
        ref = _reference(reference, name)
        ours = vpdq_frames(str(reference / "tmk" / "sample-videos" / f"{name}.mp4"), interval=0)
        assert len(ours) == len(ref), name
        for f, (idx, q, hx, ts) in zip(ours, ref, strict=True):
            assert f.index == int(idx)
            assert abs(f.timestamp - float(ts)) < 0.002, (name, idx)
            assert abs(f.quality - int(q)) <= 1, (name, idx)
            if int(q) >= 50:
                d = hamming(f.hash, hx)
                all_dist.append(d)
                assert d <= TOLERANCE_BITS, (name, idx, d)
    assert np.median(all_dist) <= 2


def test_one_frame_per_second_by_default(reference: Path) -> None:
    video = reference / "tmk" / "sample-videos" / "pattern-sd-grey-bar.mp4"  # 6.87 s at 30 fps
    frames = vpdq_frames(str(video))
    assert [round(f.timestamp) for f in frames] == [0, 1, 2, 3, 4, 5, 6]


def test_reencoded_versions_match_and_different_videos_do_not(reference: Path) -> None:
    v = reference / "tmk" / "sample-videos"
    grey = vpdq_frames(str(v / "chair-22-sd-grey-bar.mp4"))
    logo = vpdq_frames(str(v / "chair-22-with-small-logo-bar.mp4"))
    other = vpdq_frames(str(v / "doorknob-hd-no-bar.mp4"))
    q, t = match_percent(logo, grey)
    assert q >= 80 and t >= 80
    q, t = match_percent(other, grey)
    assert q < 20 and t < 20


def test_signal_format_round_trips() -> None:
    frames = vpdq_frames_from_synthetic()
    text = to_signal(frames)
    assert text.startswith('["') and "," in text
    back = parse_signal(text)
    assert [(f.hash, f.quality, f.timestamp) for f in back] == [
        (f.hash, f.quality, f.timestamp) for f in frames]
    with pytest.raises(ValueError, match="frame 0"):
        parse_signal('["zz,100,0.0"]')
    with pytest.raises(ValueError, match="not JSON"):
        parse_signal("nope")


def vpdq_frames_from_synthetic(tmp: Path | None = None):
    import tempfile

    from cairn.demo import tiny_video

    d = Path(tmp or tempfile.mkdtemp())
    tiny_video(d / "v.mp4", seconds=3)
    return vpdq_frames(str(d / "v.mp4"))


def test_corrupt_and_truncated_video(tmp_path: Path) -> None:
    from cairn.demo import tiny_video

    tiny_video(tmp_path / "ok.mp4", seconds=3)
    data = (tmp_path / "ok.mp4").read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 2])
    with pytest.raises(VideoError) as err:
        vpdq_frames(str(tmp_path / "cut.mp4"))
    assert "video" in str(err.value)
    (tmp_path / "junk.mp4").write_bytes(data[:64] + bytes(4096))
    with pytest.raises(VideoError):
        vpdq_frames(str(tmp_path / "junk.mp4"))


def test_match_percent_is_the_brute_force_comparison_in_bounded_memory() -> None:
    """Blockwise on packed bits equals every frame against every frame on unpacked bits,
    at distances around the threshold; and two signals of 6,000 distinct frames each (what a
    lookup token could send to /m/compare) compare within tens of MB, not the gigabytes an
    n x m x 256 comparison takes."""
    import tracemalloc

    import numpy as np

    from cairn.signals.vpdq import COMPARE_BLOCK, VpdqFrame

    rng = np.random.default_rng(11)

    def rand() -> int:
        return int.from_bytes(rng.integers(0, 256, 32, dtype=np.uint8).tobytes(), "big")

    base = [rand() for _ in range(COMPARE_BLOCK + 60)]
    query = [VpdqFrame(i, float(i), f"{h:064x}", 100) for i, h in enumerate(base)]
    target = []
    for i, h in enumerate(base[:150]):
        flips = 28 + i % 8  # 28..35 bits apart: both sides of 31
        for b in rng.choice(256, flips, replace=False):
            h ^= 1 << int(b)
        target.append(VpdqFrame(i, float(i), f"{h:064x}", 100 if i % 9 else 40))
    target += [VpdqFrame(200 + i, 0.0, f"{rand():064x}", 100) for i in range(40)]

    def brute(q: list[VpdqFrame], t: list[VpdqFrame]) -> tuple[float, float]:
        qs = sorted({f.hash for f in q if f.quality >= 50})
        ts = sorted({f.hash for f in t if f.quality >= 50})
        d = np.array([[bin(int(a, 16) ^ int(b, 16)).count("1") for b in ts] for a in qs])
        close = d <= 31
        return 100 * close.any(1).sum() / len(qs), 100 * close.any(0).sum() / len(ts)

    assert match_percent(query, target) == pytest.approx(brute(query, target))
    assert 0 < match_percent(query, target)[1] < 100
    big = [[VpdqFrame(i, 0.0, f"{rand():064x}", 100) for i in range(6000)] for _ in range(2)]
    tracemalloc.start()
    match_percent(big[0], big[1])
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 200 << 20, peak
