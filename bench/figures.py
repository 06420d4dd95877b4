"""The benchmarks' headline figures, written machine-readably so that one summary
(bench/summary.py, the last step of `make bench`) sets each beside its reference and target.

A bench script builds `Figure`s as it measures and calls `emit(name, figures)` once at its
end; they go to $CAIRN_BENCH_FIGURES (default bench-out/figures/) as NAME.json, with the
command that measured them, when, and the scale (BENCH_SCALE=quick: small sizes, so the
issues' targets are only indicative). Every key is declared in CATALOGUE with its issue,
label, unit, target and the command that measures it at full scale: the summary lists every
declared figure, "not run" where no file holds it, so none is ever silently dropped.

A target is `">= 0.8"`, `"<= 25"` or `"== 0"` in the figure's unit; `at` names the size the
issue states it for (an index of 100M hashes): a figure measured at another size is shown
beside the target but not judged by it.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DIR = ROOT / "bench-out" / "figures"
ENV_DIR = "CAIRN_BENCH_FIGURES"
ENV_SCALE = "BENCH_SCALE"


@dataclass(frozen=True)
class Spec:
    """A declared figure: what it is, where its target comes from, how to measure it."""

    key: str
    issue: int | None
    label: str
    unit: str
    target: str  # ">= 0.8", "<= 25", "== 0"; "" where the issue sets none
    command: str  # the full-scale command that prints it
    at: str | None = None  # the size the target is stated for, if the issue names one


@dataclass(frozen=True)
class Figure:
    """One measured figure. `reference`: what it was measured against, with its value
    ("luma floor 371.6 files/s"). `size`: the scale of the data where figures of one key
    are measured at several (an index of 10M or 100M hashes)."""

    key: str
    value: float | None  # None: not measured in this run (say why in `reference`)
    reference: str = ""
    size: str | None = None


_SCAN = "bench/bench_scan.py"
_INDEX = "make bench-index-100m"
CATALOGUE: tuple[Spec, ...] = (
    # issue 20, section 1: the scan path
    *(Spec(f"scan.floor.{s}.{w}w", 20, f"scan / luma decode floor, {s}, {w} worker"
           + "s" * (w > 1), "x", ">= 0.8", _SCAN) for s in ("1080p", "4000x3000") for w in (1, 2)),
    Spec("scan.cpu.worker_vs_floor", 20, "worker path / luma floor in CPU time, 1080p", "x",
         ">= 0.8", _SCAN),
    Spec("scan.workers", 20, "scan: 2 workers / 1 worker, 1080p", "x", ">= 1.8", _SCAN),
    Spec("scan.hash_vs_pytx", 20, "cairn hash --mode fast / threatexchange hash photo, "
         "whole process", "x", ">= 4", _SCAN),
    Spec("scan.with_list", 20, "scan with a 100k PDQ list / without", "x", "", _SCAN),
    Spec("pdq.fast_vs_pytx.1080p", 20, "PDQ fast / python-threatexchange, 1080p, one core",
         "x", "", "bench/bench_pdq.py"),
    Spec("pdq.fast_vs_pytx.4000x3000", 20, "PDQ fast / python-threatexchange, 4000x3000",
         "x", "", "bench/bench_pdq.py"),
    Spec("pdq.drift.p95", None, "PDQ fast vs exact drift, p95", "bits", "<= 8",
         "bench/bench_pdq.py"),
    Spec("pdq.drift.max", None, "PDQ fast vs exact drift, max", "bits", "<= 24",
         "bench/bench_pdq.py"),
    Spec("robust.fast_losses", None, "edits where fast recalls less than exact", "edits",
         "== 0", "bench/bench_robustness.py"),
    # issue 20, section 3: video
    Spec("video.fast_vs_floor.1080p", 20, "vPDQ fast / decode-only floor, 1080p x264", "x",
         ">= 0.9", "bench/bench_video.py"),
    Spec("video.fast_vs_floor.1080p_key1s", 20, "vPDQ fast / decode-only floor, 1080p key 1 s",
         "x", ">= 0.9", "bench/bench_video.py"),
    Spec("video.fast_vs_floor.sd", 20, "vPDQ fast / decode-only floor, 640x480", "x", "",
         "bench/bench_video.py"),
    Spec("video.drift.p95", 20, "vPDQ fast vs exact drift per frame, p95", "bits", "",
         "bench/bench_video.py"),
    Spec("video.drift.max", 20, "vPDQ fast vs exact drift per frame, max", "bits", "",
         "bench/bench_video.py"),
    Spec("video.exact_identical", 20, "vPDQ exact = reference C++ hasher, frames of the "
         "videos its C converter made", "%", "== 100", "bench/bench_video.py"),
    # issue 20, section 2: the index (targets stated at 100M)
    Spec("index.uniform.agree", 20, "index agreement with brute force, uniform", "%", "== 100",
         _INDEX, "100M"),
    Spec("index.uniform.qps_cpu", 20, "index queries/s per CPU second, uniform", "q/s",
         ">= 1000", _INDEX, "100M"),
    Spec("index.clustered.agree", 20, "index agreement with brute force, clustered", "%",
         "== 100", _INDEX, "100M"),
    Spec("index.clustered.qps_cpu", 20, "index queries/s per CPU second, clustered", "q/s",
         ">= 500", _INDEX, "100M"),
    Spec("index.uniform.mem_gib", 20, "index memory, built (anonymous)", "GiB", "<= 14",
         _INDEX, "100M"),
    Spec("index.uniform.build_s", 20, "index build, streamed", "s", "<= 480", _INDEX, "100M"),
    Spec("index.uniform.open_s", 20, "index open, memory-mapped", "s", "<= 1", _INDEX, "100M"),
    Spec("index.uniform.append_s", 20, "index append (1M hashes at 100M) + save", "s",
         "<= 30", _INDEX, "100M"),
    Spec("lists.append_e2e_s", 20, "cairn lists import --append 1M at 100M, end to end", "s",
         "<= 30", "bench/bench_append.py --size 100M --append 1M --home DIR", "100M"),
    Spec("index.store_build_s", 20, "index build streamed from the store (child process)", "s",
         "<= 480", "bench/bench_append.py --size 100M --append 1M --home DIR", "100M"),
    Spec("index.join_min", 20, "1M-picture exhibit x list join, 2 processes", "min", "<= 30",
         _INDEX, "100M"),
    # issue 17: the HMA-compatible lookup (targets stated at 10M)
    *(Spec(k, 17, label, unit, target, "bench/bench_api.py --entries 10M --client raw", "10M")
      for k, label, unit, target in (
          ("api.lookups_per_s", "GET /m/raw_lookup, 64 clients, 2 workers", "lookups/s",
           ">= 2000"),
          ("api.p99_ms", "raw_lookup p99 latency", "ms", "<= 25"),
          ("api.errors", "raw_lookup errors", "errors", "== 0"),
          ("api.batch_per_s", "batch lookup (the matcher)", "hashes/s", ">= 50000"))),
    # issue 19: disk images (target stated at 4 GiB of file data)
    *(Spec(f"ingest.{img}.{w}w", 19, f"scan of an {img} E01 / of its files in a folder, "
           f"{w} worker" + "s" * (w > 1), "x", ">= 0.7", "bench/bench_ingest.py --size 4G", "4G")
      for img in ("ext4", "ntfs") for w in (1, 2)),
    # issue 21: Ray
    Spec("cluster.ray_vs_local.1x2", 21, "Ray 1 node x 2 CPUs / local 2 workers", "x",
         ">= 0.85", "bench/bench_cluster.py --files 200"),
    Spec("cluster.ray_vs_local.2x1", 21, "Ray 2 nodes x 1 CPU / local 2 workers", "x", "",
         "bench/bench_cluster.py --files 200"),
    # without a target: throughput of the rest of `make bench`
    Spec("lists.vics_import", None, "cairn lists import, VICS", "entries/s", "",
         "bench/bench_lists.py"),
    Spec("trace.items_per_s", None, "tracing: families of a case, 2 processes", "items/s", "",
         "bench/bench_trace.py --items 1000000"),
)
SPECS = {s.key: s for s in CATALOGUE}

_TARGET = re.compile(r"^\s*(>=|<=|==)\s*(-?[0-9][0-9,_]*\.?[0-9]*)\s*$")


def judge(value: float | None, target: str) -> bool | None:
    """Whether `value` meets `target` (">= 0.8" ...); None where either is missing."""
    m = _TARGET.match(target or "")
    if value is None or m is None:
        return None
    bound = float(m.group(2).replace(",", "").replace("_", ""))
    op = m.group(1)
    return value >= bound if op == ">=" else value <= bound if op == "<=" else value == bound


def size_label(n: int) -> str:
    """100_000_000 -> "100M", 100_000 -> "100k" (the way the bench's options are written)."""
    for unit, mult in (("M", 1_000_000), ("k", 1_000)):
        if n >= mult and n % (mult // 10 or 1) == 0:
            text = f"{n / mult:.1f}".removesuffix(".0")
            return f"{text}{unit}"
    return str(n)


def scale() -> str:
    """"quick" under BENCH_SCALE=quick (small sizes, targets indicative), else "full"."""
    return "quick" if os.environ.get(ENV_SCALE, "").strip().lower() == "quick" else "full"


def figures_dir() -> Path:
    return Path(os.environ.get(ENV_DIR) or DEFAULT_DIR)


def record(f: Figure) -> dict:
    """The JSON record of one figure: its own fields, its declared label, unit and target,
    and whether it met that target (None where not judged)."""
    spec = SPECS[f.key]  # an undeclared key is a bench's typo: fail loudly, not in silence
    judged = f.size is None or spec.at is None or f.size == spec.at
    value = None if f.value is None or math.isnan(f.value) else float(f.value)  # NaN: none
    return {"key": f.key, "issue": spec.issue, "figure": spec.label, "value": value,
            "unit": spec.unit, "reference": f.reference, "target": spec.target,
            "size": f.size, "at": spec.at,
            "met": judge(value, spec.target) if judged else None}


def emit(name: str, figures: list[Figure], argv: list[str] | None = None) -> Path:
    """Write a run's figures to the figures folder as NAME.json (replacing that name's last
    run); returns the path. `name` is the script's, or the script's and its sizes where
    runs at different sizes should both be kept (the 100M index beside the 10M one)."""
    records = [record(f) for f in figures]
    script = Path(sys.argv[0]).name if argv is None else argv[0]
    args = sys.argv[1:] if argv is None else argv[1:]
    doc = {"script": script, "command": " ".join([f"bench/{Path(script).name}", *args]),
           "scale": scale(), "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "load": [round(x, 2) for x in os.getloadavg()], "figures": records}
    folder = figures_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=1))
    tmp.replace(path)  # never a half-written file under the real name
    return path
