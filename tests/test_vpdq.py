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

# fast against the reference, every frame of the 7 reference videos: median 0 bits, frames of
# quality >= 50 at most 16 bits apart (the decoder's luma plane vs the reference's RGB), quality
# within 1.
TOLERANCE_BITS = 16
# The reference's own regression test (vpdq/python/tests) allows < 10 bits between builds.
BUILD_TOLERANCE_BITS = 10
SIMD_MADE = {"test-padded-dimensions"}  # sample hashes made with FFmpeg's SIMD yuv2rgb
EVERY_TENTH = 0.34  # int(0.34 s x 30 fps) = 10: the reference's frame numbers 0, 10, 20...


def _reference(reference: Path, name: str) -> list[list[str]]:
    path = reference / "vpdq" / "sample-hashes" / f"{name}.txt"
    return [line.strip().split(",") for line in path.read_text().splitlines() if line.strip()]


def _videos(reference: Path) -> list[str]:
    return sorted(p.stem for p in (reference / "tmk" / "sample-videos").glob("*.mp4"))


def _video(reference: Path, name: str) -> str:
    return str(reference / "tmk" / "sample-videos" / f"{name}.mp4")


def test_exact_is_bit_identical_to_the_reference_sample_hashes(reference: Path) -> None:
    """Hash, quality, frame number and timestamp text, as the reference C++ hasher wrote them
    (every tenth frame, to keep the test short: the full run is bench_video.py's)."""
    names = _videos(reference)
    assert len(names) == 7
    for name in names:
        ref = [r for r in _reference(reference, name) if int(r[0]) % 10 == 0]
        ours = vpdq_frames(_video(reference, name), interval=EVERY_TENTH, mode="exact")
        assert [f.index for f in ours] == [int(r[0]) for r in ref], name
        assert [f"{f.timestamp:.3f}" for f in ours] == [r[3] for r in ref], name
        if name in SIMD_MADE:
            for f, (idx, q, hx, _) in zip(ours, ref, strict=True):
                assert abs(f.quality - int(q)) <= 1, (name, idx)
                assert int(q) < 50 or hamming(f.hash, hx) < BUILD_TOLERANCE_BITS, (name, idx)
            assert sum(f.hash == r[2] for f, r in zip(ours, ref, strict=True)) >= len(ref) // 3
        else:
            assert [(f.hash, f.quality) for f in ours] == [(r[2], int(r[1])) for r in ref], name


def test_reference_rgb_is_swscales_c_arithmetic() -> None:
    """Spot values of swscale's C yuv2rgb (BT.601, limited range), as FFmpeg 8.1's swscale
    gives them with SIMD off (av_force_cpu_flags(0)): its table maps Y 235 to 253, not 255;
    saturated chroma clips; each chroma sample colours its 2x2 block. (Checked against
    swscale itself on random planes of many sizes, both ranges: identical.)"""
    from cairn.media.video import reference_rgb

    y = np.array([[16, 235], [126, 126]], dtype=np.uint8)
    rgb = reference_rgb(y, np.array([[128]], np.uint8), np.array([[128]], np.uint8))
    assert rgb[0, 0].tolist() == [0, 0, 0] and rgb[0, 1].tolist() == [253, 253, 253]
    assert rgb[1, 0].tolist() == rgb[1, 1].tolist() == [126, 126, 126]
    red = reference_rgb(np.full((2, 2), 81, np.uint8), np.array([[90]], np.uint8),
                        np.array([[240]], np.uint8))
    assert red[0, 0].tolist() == [252, 0, 0]
    full = reference_rgb(np.array([[0, 255], [128, 128]], np.uint8), np.array([[128]], np.uint8),
                         np.array([[128]], np.uint8), full_range=True)  # yuvj420p
    assert full.reshape(-1, 3).tolist() == [[0, 0, 0], [255, 255, 255]] + [[128] * 3] * 2
    assert (red == red[0, 0]).all()


def test_fast_agrees_with_reference_within_tolerance(reference: Path) -> None:
    all_dist = []
    for name in _videos(reference):
        ref = _reference(reference, name)
        ours = vpdq_frames(_video(reference, name), interval=0, mode="fast")
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


def test_fast_at_one_per_second_drifts_little_from_exact(reference: Path) -> None:
    """The drift table's figures, bounded: per hashed frame, fast vs exact (quality >= 50)."""
    dist = []
    for name in _videos(reference):
        exact = {f.index: f for f in vpdq_frames(_video(reference, name), mode="exact")}
        fast = vpdq_frames(_video(reference, name), mode="fast")
        assert [f.index for f in fast] == sorted(exact), name
        dist += [hamming(f.hash, exact[f.index].hash) for f in fast
                 if exact[f.index].quality >= 50]
    assert np.median(dist) <= 4 and max(dist) <= TOLERANCE_BITS, sorted(dist)


def test_fast_skips_decoding_but_not_frames(tmp_path: Path) -> None:
    """Groups of pictures decoded only as far as their last wanted frame: the same frames,
    hashes and timestamps as a full decode (media.video.luma_frames) of a clip with a
    keyframe every half second, every second and every 4 s, and of an open-GOP clip (B-frames
    shown before each keyframe refer to the previous group, which is then decoded whole)."""
    import av

    from cairn.demo import picture
    from cairn.media.video import frames, luma_frames
    from cairn.signals.pdq_fast import pdq_from_luma

    scene = np.asarray(picture(4242, (224, 160)))
    for keyint, open_gop in ((15, False), (30, False), (120, False), (30, True)):
        path = tmp_path / f"k{keyint}{'-open' if open_gop else ''}.mp4"
        with av.open(str(path), "w") as c:
            s = c.add_stream("libx264", rate=30)
            s.width, s.height, s.pix_fmt = 192, 128, "yuv420p"
            s.options = {"preset": "ultrafast", "g": str(keyint), "keyint_min": str(keyint),
                         "sc_threshold": "0", "bf": "3" if open_gop else "2",
                         **({"x264-params": "open-gop=1:b-adapt=0"} if open_gop else {})}
            for i in range(30 * 9):
                f = av.VideoFrame.from_ndarray(
                    np.ascontiguousarray(scene[i % 32:i % 32 + 128, i % 32:i % 32 + 192]),
                    format="rgb24")
                for pkt in s.encode(f):
                    c.mux(pkt)
            for pkt in s.encode():
                c.mux(pkt)
        for interval in (1.0, 2.5):
            fast = vpdq_frames(str(path), interval, mode="fast")
            full = [(i, t, pdq_from_luma(luma, dihedral=False).hash)
                    for i, t, luma in luma_frames(str(path), interval)]
            assert [(f.index, f.timestamp, f.hash) for f in fast] == full, (keyint, interval)
            assert len(full) == len(range(0, 9 * 10, int(interval * 10)))
            counts: dict[str, int] = {}
            assert [f.time for f in frames(str(path), interval, "fast", counts=counts)] == [
                t for _, t, _ in full]
            assert counts["read"] == 270
            if keyint <= 30 and not open_gop:  # wanted frames at the start of each group
                assert counts["decoded"] < 270 / 2, (keyint, interval, counts)
            if open_gop:  # every group whole but the last (no open group follows it)
                assert counts["decoded"] > 270 - 2 * keyint


def test_modes_are_named_and_checked(reference: Path) -> None:
    with pytest.raises(ValueError, match="mode"):
        vpdq_frames(_video(reference, "pattern-sd-grey-bar"), mode="quick")


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


@pytest.mark.parametrize("mode", ["exact", "fast"])
def test_corrupt_and_truncated_video(tmp_path: Path, mode: str) -> None:
    from cairn.demo import tiny_video

    tiny_video(tmp_path / "ok.mp4", seconds=3)
    data = (tmp_path / "ok.mp4").read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 2])
    with pytest.raises(VideoError) as err:
        vpdq_frames(str(tmp_path / "cut.mp4"), mode=mode)
    assert "video" in str(err.value)
    (tmp_path / "junk.mp4").write_bytes(data[:64] + bytes(4096))
    with pytest.raises(VideoError):
        vpdq_frames(str(tmp_path / "junk.mp4"), mode=mode)
    flipped = bytearray(data)
    for k in range(len(data) // 3, len(data), 97):  # damaged packets, container intact
        flipped[k] ^= 0x5A
    (tmp_path / "flipped.mp4").write_bytes(bytes(flipped))
    try:
        got = vpdq_frames(str(tmp_path / "flipped.mp4"), mode=mode)
    except VideoError as e:
        got = e.frames
    assert len(got) <= 4


@pytest.mark.parametrize("mode", ["exact", "fast"])
def test_frame_limit_keeps_the_frames_before_it(tmp_path: Path, mode: str) -> None:
    """max_video_frames counts every frame read, decoded or skipped (fast skips most of
    this clip's): the work stays bounded and the frames hashed before the limit are kept."""
    from cairn.demo import tiny_video
    from cairn.media.limits import Limits

    tiny_video(tmp_path / "v.mp4", seconds=3)
    with pytest.raises(VideoError, match="max_video_frames") as err:
        vpdq_frames(str(tmp_path / "v.mp4"), limits=Limits(max_video_frames=15), mode=mode)
    assert [round(f.timestamp) for f in err.value.frames] == [0, 1]
    assert len(vpdq_frames(str(tmp_path / "v.mp4"), mode=mode)) == 3


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


def test_fast_read_ahead_cap_decodes_everything(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A group longer than the read-ahead (GOP_PACKETS) is decoded whole, the rest of it
    too; frame numbers stay those of a full decode while old ones are forgotten."""
    from cairn.demo import tiny_video
    from cairn.media import video
    from cairn.signals.pdq_fast import pdq_from_luma

    tiny_video(tmp_path / "v.mp4", seconds=6)  # MPEG-4, a keyframe every 12 frames
    full = [(i, t, pdq_from_luma(luma, dihedral=False).hash)
            for i, t, luma in video.luma_frames(str(tmp_path / "v.mp4"), 1.0)]
    monkeypatch.setattr(video, "GOP_PACKETS", 5)
    counts: dict[str, int] = {}
    fast = [(f.index, f.time, pdq_from_luma(f.pixels, dihedral=False).hash)
            for f in video.frames(str(tmp_path / "v.mp4"), 1.0, "fast", counts=counts)]
    assert fast == full and len(full) == 6
    assert counts == {"read": 60, "decoded": 60}
