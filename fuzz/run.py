"""Run every fuzz target (or some) for N seconds each, one after the other, each in its own
process (fuzz/harness.py) under a memory cap and a per-input time limit; write per-target
figures to <out>/stats.json and print them as a table.

    python fuzz/run.py --seconds 600                 # make fuzz
    python fuzz/run.py --seconds 20                  # make fuzz-smoke (CI)
    python fuzz/run.py --seconds 60 --targets zip,tar

Layout of <out> (default fuzz-out/, git-ignored): seeds/<target>/ (generated each run from
the demo fixtures, fuzz/seeds.py), corpus/<target>/ (what libFuzzer learned; kept between
runs), findings/<target>/<signature>.bin + .txt (smallest input and traceback per finding),
artifacts/<target>/ (timeouts, out-of-memory and native crashes, as libFuzzer writes them),
logs/<target>.log.

A target that stops on a timeout, out-of-memory or a native crash is started again for the
rest of its time. Exit status 1 when a target could not run, or found an exception or a
native crash that is new (no regression file under tests/fuzz/ reproduces it); 0 otherwise.
New timeouts and memory findings are listed but do not fail the run: how long an input
takes depends on the machine's load, and CI runs this on shared machines.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from fuzz.targets import TARGETS  # noqa: E402 - after the path above

MIN_RUN = 3.0  # seconds: less left than this is not worth starting a process for
MAX_RESTARTS = 25  # per target: a target that dies at once every time is reported, not looped
ARTIFACT_KINDS = ("timeout", "oom", "crash", "leak", "memory")


@dataclass
class TargetStats:
    target: str
    seconds: float = 0.0
    execs: int = 0
    execs_per_s: float = 0.0
    corpus: int = 0  # inputs in libFuzzer's corpus at the end (seeds included)
    findings: int = 0  # distinct signatures
    new: int = 0  # of which no regression file reproduces
    restarts: int = 0
    timeout_s: int = 0  # per input
    signatures: dict[str, dict] = field(default_factory=dict)
    error: str | None = None


def _parse_log(text: str) -> tuple[int, int]:
    """(executions, corpus size) from libFuzzer's output of one process."""
    execs, corpus = 0, 0
    m = re.findall(r"stat::number_of_executed_units:\s*(\d+)", text)
    if m:
        execs = int(m[-1])
    else:
        for n in re.findall(r"^#(\d+)\s", text, re.M):
            execs = max(execs, int(n))
        done = re.findall(r"^Done (\d+) runs", text, re.M)
        if done:
            execs = max(execs, int(done[-1]))
    c = re.findall(r"\bcorp: (\d+)/", text)
    if c:
        corpus = int(c[-1])
    return execs, corpus


def _artifact_kind(path: Path) -> str:
    return path.name.split("-")[0]


def _known_artifacts(target: str) -> set[str]:
    folder = ROOT / "tests" / "fuzz" / target
    return {_artifact_kind(p) for p in folder.glob("*")
            if _artifact_kind(p) in ARTIFACT_KINDS} if folder.is_dir() else set()


def _dictionary(tokens: tuple[str, ...], path: Path) -> Path:
    """A libFuzzer dictionary file: one quoted token a line, bytes escaped as \\xNN."""
    def quote(token: str) -> str:
        return "".join(chr(b) if 0x20 <= b < 0x7F and b not in b'"\\' else f"\\x{b:02X}"
                       for b in token.encode())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f'"{quote(t)}"\n' for t in tokens))
    return path


def run_target(name: str, seconds: float, out: Path, mem_mib: int, timeout: int | None,
               python: str) -> TargetStats:
    target = TARGETS[name]
    timeout = timeout or target.timeout
    stats = TargetStats(name, timeout_s=timeout)
    corpus, seeds = out / "corpus" / name, out / "seeds" / name
    artifacts = out / "artifacts" / name
    for d in (corpus, artifacts, out / "logs"):
        d.mkdir(parents=True, exist_ok=True)
    log_path = out / "logs" / f"{name}.log"
    log_path.write_text("")
    known_artifacts = _known_artifacts(name)
    seen_artifacts = {p.name for p in artifacts.iterdir()}
    stats_dir = out / "stats"
    for old in stats_dir.glob(f"{name}.*.json"):
        old.unlink()
    start = time.monotonic()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT / "src"), str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    child_execs = 0
    unseeded = not seeds.is_dir() or not any(seeds.iterdir())
    if unseeded:  # libFuzzer would exit at once, and be restarted until the time is up
        stats.error = f"no seeds in {seeds} (fuzz/seeds.py corpora() has none): not fuzzed"
    while not unseeded:
        left = seconds - (time.monotonic() - start)
        if left < MIN_RUN or stats.restarts > MAX_RESTARTS:
            break
        cmd = [python, str(ROOT / "fuzz" / "harness.py"), name, "--out", str(out),
               "--mem-mib", str(mem_mib), "--",
               f"-max_total_time={int(left)}", f"-timeout={timeout}",
               f"-rss_limit_mb={mem_mib}", f"-max_len={target.max_len}",
               "-print_final_stats=1", f"-artifact_prefix={artifacts}/",
               str(corpus), str(seeds)]
        if target.tokens:
            cmd.insert(-2, f"-dict={_dictionary(target.tokens, out / 'dicts' / name)}")
        try:
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True,
                                  errors="replace", timeout=left + timeout + 60)
            text, rc = proc.stdout + proc.stderr, proc.returncode
        except subprocess.TimeoutExpired as e:  # libFuzzer's own timeout did not fire
            text = (e.stdout or "") + (e.stderr or "") if isinstance(e.stdout, str) else ""
            rc = -9
        with log_path.open("a") as log:
            log.write(f"$ {' '.join(cmd)}\n{text}\n[exit {rc}]\n")
        execs, corp = _parse_log(text)
        child_execs += execs
        stats.corpus = corp or stats.corpus
        if "ModuleNotFoundError" in text and execs == 0 or "Traceback" in text and execs == 0:
            stats.error = "target did not start: " + text.strip().splitlines()[-1][:300]
            break
        if rc == 0:
            break
        stats.restarts += 1
        for p in sorted(artifacts.iterdir()):
            if p.name in seen_artifacts:
                continue
            seen_artifacts.add(p.name)
            kind = _artifact_kind(p)
            if kind == "slow":
                continue
            sig = f"{kind} (libFuzzer)"
            entry = stats.signatures.setdefault(sig, {"count": 0, "file": str(p),
                                                      "known": kind in known_artifacts})
            entry["count"] += 1
    stats.seconds = round(time.monotonic() - start, 1)
    # exceptions: from the harnesses' own records (several processes after restarts)
    py_execs = 0
    for f in stats_dir.glob(f"{name}.*.json"):
        rec = json.loads(f.read_text())
        py_execs += rec["execs"]
        for sig, entry in rec["findings"].items():
            mine = stats.signatures.setdefault(sig, {"count": 0, "file": entry["file"],
                                                     "known": entry["known"]})
            mine["count"] += entry["count"]
    stats.execs = max(child_execs, py_execs)
    if stats.execs == 0 and stats.error is None:  # restarted without ever running an input
        stats.error = f"ran no input in {stats.restarts} starts: see {log_path}"
    stats.execs_per_s = round(stats.execs / stats.seconds, 1) if stats.seconds else 0.0
    stats.findings = len(stats.signatures)
    stats.new = sum(not e["known"] for e in stats.signatures.values())
    return stats


def load_dependent(sig: str) -> bool:
    return sig.startswith(("timeout", "oom", "memory", "slow"))


def table(rows: list[TargetStats]) -> str:
    head = f"{'target':<14}{'seconds':>8}{'execs':>10}{'execs/s':>9}{'corpus':>8}" \
           f"{'findings':>9}{'new':>5}{'restarts':>9}"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r.target:<14}{r.seconds:>8.0f}{r.execs:>10}{r.execs_per_s:>9.0f}"
                     f"{r.corpus:>8}{r.findings:>9}{r.new:>5}{r.restarts:>9}"
                     + (f"  ERROR {r.error}" if r.error else ""))
    for r in rows:
        for sig, e in sorted(r.signatures.items()):
            mark = "known" if e["known"] else "NEW"
            lines.append(f"  {r.target}: {mark:<5} {sig} x{e['count']}  {e['file']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--targets", default="", help="comma-separated; default: all")
    parser.add_argument("--out", type=Path, default=ROOT / "fuzz-out")
    parser.add_argument("--mem-mib", type=int, default=3072,
                        help="RLIMIT_AS and libFuzzer -rss_limit_mb of each target process")
    parser.add_argument("--timeout", type=int, default=None,
                        help="seconds per input (default: the target's, 3 for text readers, "
                             "10 for the rest)")
    args = parser.parse_args(argv)
    names = [n for n in args.targets.split(",") if n] or list(TARGETS)
    unknown = sorted(set(names) - set(TARGETS))
    if unknown:
        parser.error(f"unknown target(s) {', '.join(unknown)}; known: {', '.join(TARGETS)}")
    out = args.out.resolve()
    from fuzz.seeds import write

    counts = write(out / "seeds", lambda t: t in names)
    print(f"seeds: {sum(counts.values())} files for {len(counts)} targets in {out / 'seeds'}",
          flush=True)
    rows = []
    for name in names:
        print(f"fuzzing {name} for {args.seconds:.0f} s ...", flush=True)
        rows.append(run_target(name, args.seconds, out, args.mem_mib, args.timeout,
                               sys.executable))
        r = rows[-1]
        print(f"  {r.execs} execs, corpus {r.corpus}, {r.findings} finding(s), {r.new} new"
              + (f", ERROR {r.error}" if r.error else ""), flush=True)
    (out / "stats.json").write_text(json.dumps(
        {"seconds_per_target": args.seconds, "mem_mib": args.mem_mib,
         "targets": {r.target: asdict(r) for r in rows}},
        indent=2))
    print(table(rows))
    print(f"stats: {out / 'stats.json'}")
    failing = [r.target for r in rows if r.error or any(
        not e["known"] and not load_dependent(sig) for sig, e in r.signatures.items())]
    if failing:
        print(f"new findings or errors in: {', '.join(failing)} (regression files go under "
              "tests/fuzz/<target>/)")
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main())
