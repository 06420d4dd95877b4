"""bench/summary.py's one table (issue 20: `make bench` prints every figure beside its
reference): met and missed judged against each declared target, a figure no run produced
shown as "not run" rather than dropped, earlier runs marked with their date, figures at a
size other than the target's not judged by it. Hand-made figure records; no timing."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import figures  # noqa: E402
import summary  # noqa: E402
from figures import CATALOGUE, Figure, judge  # noqa: E402


def run(figs: list[Figure], when: str = "2026-12-06T20:10:00Z", scale: str = "full",
        command: str = "bench/bench_x.py") -> dict:
    return {"script": "bench_x.py", "command": command, "scale": scale, "measured_at": when,
            "figures": [figures.record(f) for f in figs]}


def by_label(rows: list[summary.Row]) -> dict[str, summary.Row]:
    return {r.figure: r for r in rows}


@pytest.mark.parametrize(("value", "target", "met"), [
    (0.8, ">= 0.8", True), (0.79, ">= 0.8", False), (25.0, "<= 25", True),
    (25.1, "<= 25", False), (0, "== 0", True), (1, "== 0", False),
    (1000, ">= 1,000", True), (None, ">= 1", None), (3.0, "", None)])
def test_judge(value: float | None, target: str, met: bool | None) -> None:
    assert judge(value, target) is met


def test_every_declared_figure_has_a_row_and_missing_ones_say_not_run() -> None:
    rows = summary.build_rows([])
    assert len(rows) == len(CATALOGUE)
    assert {r.verdict for r in rows} == {summary.NOT_RUN}
    scan = by_label(rows)["scan: 2 workers / 1 worker, 1080p"]
    assert scan.command == "bench/bench_scan.py" and scan.ours == ""
    assert "target >= 1.8x" in scan.reference


def test_met_and_missed_against_the_declared_target() -> None:
    rows = by_label(summary.build_rows([run([
        Figure("scan.workers", 1.97, "1 worker 76.4 files/s -> 2 workers 150.8"),
        Figure("scan.hash_vs_pytx", 2.9, "threatexchange 5.78 s"),
        Figure("pdq.drift.p95", 8),
        Figure("robust.fast_losses", 0),
        Figure("scan.with_list", 0.5),
    ])], since="2026-12-06T20:00:00Z"))
    workers = rows["scan: 2 workers / 1 worker, 1080p"]
    assert (workers.ours, workers.verdict, workers.when) == ("1.97x", "met", "this run")
    assert workers.reference == "1 worker 76.4 files/s -> 2 workers 150.8; target >= 1.8x"
    assert workers.command == "bench/bench_x.py"
    assert rows["cairn hash --mode fast / threatexchange hash photo, whole process"
                ].verdict == "MISSED"
    assert rows["PDQ fast vs exact drift, p95"].verdict == "met"  # <= is inclusive
    assert rows["edits where fast recalls less than exact"].verdict == "met"
    assert rows["scan with a 100k PDQ list / without"].verdict == "no target"
    assert rows["scan / luma decode floor, 1080p, 1 worker"].verdict == summary.NOT_RUN


def test_quick_scale_is_said_and_an_unmeasured_value_is_not_judged() -> None:
    rows = by_label(summary.build_rows([run([
        Figure("scan.workers", 1.2), Figure("scan.hash_vs_pytx", None, "pytx not installed"),
    ], scale="quick")]))
    assert rows["scan: 2 workers / 1 worker, 1080p"].verdict == "MISSED (quick)"
    unmeasured = rows["cairn hash --mode fast / threatexchange hash photo, whole process"]
    assert unmeasured.verdict == "not measured" and "pytx not installed" in unmeasured.reference


def test_sizes_each_get_a_row_and_only_the_targets_size_is_judged() -> None:
    """The 100M index from an earlier guarded run beside this run's 100k: both shown, the
    older with its date, the 100k one not judged against the 100M target."""
    old = run([Figure("index.uniform.qps_cpu", 1750, "faiss 3", size="100M"),
               Figure("index.clustered.qps_cpu", 184, "faiss 3", size="100M")],
              when="2026-11-30T02:00:00Z", command="bench/bench_index.py --sizes 100M")
    new = run([Figure("index.uniform.qps_cpu", 9000, size="100k")])
    rows = summary.build_rows([new, old], since="2026-12-06T20:00:00Z")
    uniform = [r for r in rows if r.figure.startswith("index queries/s per CPU second, uniform")]
    assert [r.figure[-6:] for r in uniform] == ["[100M]", "[100k]"]  # largest first
    big, small = uniform
    assert (big.ours, big.verdict, big.when) == ("1,750 q/s", "met", "2026-11-30")
    assert big.command == "bench/bench_index.py --sizes 100M"
    assert (small.verdict, small.when) == ("n/a (target at 100M)", "this run")
    clustered = by_label(rows)["index queries/s per CPU second, clustered [100M]"]
    assert clustered.verdict == "MISSED"
    assert by_label(rows)["index build, streamed [100M]"].verdict == summary.NOT_RUN


def test_the_newest_record_of_a_figure_wins_and_undeclared_keys_are_kept() -> None:
    first = run([Figure("scan.workers", 1.0)], when="2026-12-01T00:00:00Z")
    second = run([Figure("scan.workers", 1.9)], when="2026-12-06T21:00:00Z")
    stray = {"command": "bench/old.py", "scale": "full", "measured_at": "2026-10-01T00:00:00Z",
             "figures": [{"key": "gone.figure", "issue": 9, "figure": "a retired figure",
                          "value": 3.0, "unit": "x", "reference": "", "target": ">= 2"}]}
    rows = summary.build_rows([second, first, stray])
    workers = [r for r in rows if r.figure == "scan: 2 workers / 1 worker, 1080p"]
    assert [r.ours for r in workers] == ["1.90x"]
    assert rows[-1].figure == "a retired figure" and rows[-1].verdict == "met"
    assert len(rows) == len(CATALOGUE) + 1


def test_an_undeclared_key_is_refused_when_emitted() -> None:
    with pytest.raises(KeyError):
        figures.record(Figure("scan.typo", 1.0))


def test_emit_then_load_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(figures.ENV_DIR, str(tmp_path))
    monkeypatch.setenv(figures.ENV_SCALE, "quick")
    path = figures.emit("bench_index-100k", [Figure("index.uniform.agree", 100.0, size="100k")],
                        argv=["bench_index.py", "--sizes", "100k"])
    (tmp_path / "broken.json").write_text("{not json")
    runs, problems = summary.load_runs(tmp_path)
    assert path.name == "bench_index-100k.json" and len(runs) == 1
    assert problems == ["broken.json: not read (Expecting property name enclosed in double "
                        "quotes: line 1 column 2 (char 1))"]
    doc = json.loads(path.read_text())
    assert doc["command"] == "bench/bench_index.py --sizes 100k" and doc["scale"] == "quick"
    assert doc["figures"][0]["met"] is None  # at 100k, the 100M target does not judge it
    text = summary.render(summary.build_rows(runs))
    assert "index agreement with brute force, uniform [100k]" in text
    assert "not run" in text
    assert text.count("bench/bench_index.py --sizes 100k") == 1  # each command once, numbered
    assert "\n[1] bench/bench_scan.py\n" in text  # the first row's, the scan not run
    md = summary.render(summary.build_rows(runs), markdown=True).splitlines()
    assert md[0].startswith("| # | figure | ours |") and len(md) == len(CATALOGUE) + 2


def test_size_labels() -> None:
    assert [figures.size_label(n) for n in (100_000_000, 10_000_000, 100_000, 1_500_000,
                                            20_000, 999)] == ["100M", "10M", "100k", "1.5M",
                                                              "20k", "999"]
