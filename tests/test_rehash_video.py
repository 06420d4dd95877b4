"""`cairn rehash` on videos: a vPDQ hashed `fast` by the scan is made exact from the evidence
(bit-identical to `vpdq_frames(mode="exact")`), the fast one kept; one cut short is not."""

from __future__ import annotations

import hashlib
from pathlib import Path

from cairn.cases.report import FAST_VPDQ_NOTE
from cairn.demo import tiny_video
from cairn.media.limits import Limits
from cairn.scan.rehash import ensure_exact
from cairn.signals.vpdq import to_signal, vpdq_frames
from cairn.store.store import Store
from inprocess import report_json, scan_case


def _video_case(cairn, tmp_path: Path, interval: str = "1") -> Path:
    ev = tmp_path / "exhibit"
    ev.mkdir()
    tiny_video(ev / "clip.mp4", seconds=3)  # benign moving shapes, 30 frames at 10 fps
    scan_case(cairn.home, ev, "v", "--mode", "fast", "--video-interval", interval)
    return ev / "clip.mp4"


def _report_vpdq(cairn) -> dict:
    report = report_json(cairn.home, "v")
    (item,) = [it for it in report["items"] if it["path"] == "clip.mp4"]
    return item["vpdq"]


def test_rehash_all_makes_an_unmatched_fast_video_exact(cairn, tmp_path: Path) -> None:
    clip = _video_case(cairn, tmp_path, "0.5")
    digest = hashlib.sha256(clip.read_bytes()).hexdigest()
    fast = _report_vpdq(cairn)
    assert fast["mode"] == "fast" and fast["note"] == FAST_VPDQ_NOTE  # flagged, with why
    assert cairn.json("rehash", "--case", "v")["items_needing_exact"] == 0  # not matched
    res = cairn.json("rehash", "--case", "v", "--all", "--video-interval", "0.5")
    assert res["items_needing_exact"] == 1 and res["files_read"] == 1
    assert res["exact_signals_added"] == 1 and res["failed"] == [] and res["missing"] == []
    exact = vpdq_frames(str(clip), interval=0.5, mode="exact")
    assert len(exact) == 6
    got = _report_vpdq(cairn)
    assert got == {"signal": to_signal(exact), "frames": 6, "mode": "exact"}  # no note
    assert hashlib.sha256(clip.read_bytes()).hexdigest() == digest  # evidence untouched
    assert cairn.json("rehash", "--case", "v", "--all")["items_needing_exact"] == 0


def test_a_video_cut_short_by_a_limit_keeps_its_fast_vpdq_and_says_why(
        cairn, tmp_path: Path) -> None:
    _video_case(cairn, tmp_path)
    store = Store(f"sqlite:///{cairn.home / 'cairn.db'}", cairn.home)  # the CLI's store
    try:
        s = ensure_exact(store, "v", only_matched=False, limits=Limits(max_video_frames=15))
        assert s.items_needing_exact == 1 and s.exact_signals_added == 0
        (why,) = s.failed
        assert "clip.mp4: exact vpdq not recorded" in why and "max_video_frames" in why
        again = ensure_exact(store, "v", only_matched=False)  # under the default limits
    finally:
        store.close()
    assert again.items_needing_exact == 1 and again.exact_signals_added == 1
    assert again.failed == []
    assert _report_vpdq(cairn)["mode"] == "exact"
