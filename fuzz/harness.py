"""One fuzz target in its own process: memory cap, atheris (libFuzzer) with coverage of the
reader's Python code, and findings kept instead of stopping at the first.

    python fuzz/harness.py TARGET --out fuzz-out [--mem-mib 3072] -- [libFuzzer flags] DIRS

A finding is an exception the target's adapter does not expect (fuzz/targets.py), a timeout
(libFuzzer `-timeout`, per input), or memory: an input that makes the process resident past
`--rss-mib` (half the cap by default: a scan with 2 workers must stay under 3 GiB), or one
that hits the RLIMIT_AS cap (`--mem-mib`: a MemoryError that escapes, or a native
allocation failure). Exceptions are caught and recorded so one run finds many (the smallest
input per signature is kept, with its traceback); a timeout, a memory finding or a native
crash ends the process (libFuzzer writes the input; fuzz/run.py starts the target again for
the rest of its time).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import resource
import sys
import time
import traceback
from pathlib import Path
from types import TracebackType

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # `fuzz` as a package, however this file was started

from fuzz.targets import TARGETS, Adapter  # noqa: E402 - after the path above

REGRESSIONS = ROOT / "tests" / "fuzz"
STATS_EVERY = 1.0  # seconds between stats writes (a crash loses at most this much count)
MEMORY_EXIT = 86  # exit status after a memory finding: peak RSS only resets in a new process


def signature(exc: BaseException) -> str:
    """What makes two findings the same bug: the exception type and the innermost frame of
    Cairn's code it passed through (the reader that let it out), else the innermost frame."""
    tb: TracebackType | None = exc.__traceback__
    frames = []
    while tb is not None:
        frames.append(tb.tb_frame.f_code)
        tb = tb.tb_next
    ours = [c for c in frames if "/cairn/" in c.co_filename]
    code = (ours or frames or [None])[-1]
    where = "?" if code is None else f"{_short_path(code.co_filename)}:{code.co_name}"
    return f"{type(exc).__name__}@{where}"


def _short_path(filename: str) -> str:
    m = re.search(r"(cairn/.*|[^/]+/[^/]+)$", filename)
    return m.group(1) if m else filename


def slug(sig: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", sig)[:120]


def check(adapter: Adapter, data: bytes) -> BaseException | None:
    """Run one input; return the unexpected exception, or None when the reader behaved."""
    try:
        adapter.run(data)
    except adapter.expected:
        return None
    except KeyboardInterrupt:
        raise
    except BaseException as e:  # noqa: BLE001 - SystemExit from a reader is a finding too
        return e
    return None


def cap_memory(mib: int) -> None:
    limit = mib * 1024 * 1024
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


class Recorder:
    """Counts executions and keeps the smallest input (and traceback) per finding."""

    def __init__(self, target: str, out: Path, known: set[str]) -> None:
        self.dir = out / "findings" / target
        self.stats_path = out / "stats" / f"{target}.{os.getpid()}.json"
        self.stats_path.parent.mkdir(parents=True, exist_ok=True)
        self.known = known
        self.execs = 0
        self.started = time.monotonic()
        self.last_write = 0.0
        self.findings: dict[str, dict] = {}

    def tick(self) -> None:
        self.execs += 1
        now = time.monotonic()
        if now - self.last_write >= STATS_EVERY:
            self.write(now)

    def record(self, exc: BaseException, data: bytes, sig: str | None = None) -> str:
        sig = sig or signature(exc)
        entry = self.findings.setdefault(sig, {"count": 0, "known": sig in self.known})
        entry["count"] += 1
        stem = self.dir / slug(sig)
        best = stem.parent / (stem.name + ".bin")
        if not best.exists() or len(data) < best.stat().st_size:
            self.dir.mkdir(parents=True, exist_ok=True)
            best.write_bytes(data)
            text = "".join(traceback.format_exception(exc))
            (stem.parent / (stem.name + ".txt")).write_text(
                f"{sig}\ninput: {best.name} ({len(data)} bytes, sha1 "
                f"{hashlib.sha1(data).hexdigest()})\n\n{text}")
        entry["file"] = str(best)
        self.write(time.monotonic())
        return sig

    def write(self, now: float) -> None:
        self.last_write = now
        tmp = self.stats_path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"execs": self.execs, "seconds": now - self.started,
                                   "findings": self.findings}))
        tmp.replace(self.stats_path)  # never a half-written stats file under the real name


def known_signatures(target: str, adapter: Adapter) -> set[str]:
    """Signatures of the committed regression inputs: findings already filed."""
    known = set()
    for path in sorted((REGRESSIONS / target).glob("*")):
        if path.name.startswith(("timeout", "oom", "crash", "memory")):
            known.add(path.name.split("-")[0])
        elif path.is_file() and not path.name.startswith("."):
            exc = check(adapter, path.read_bytes())
            if exc is not None:
                known.add(signature(exc))
    return known


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("target", choices=sorted(TARGETS))
    parser.add_argument("--out", type=Path, default=ROOT / "fuzz-out")
    parser.add_argument("--mem-mib", type=int, default=3072)
    parser.add_argument("--rss-mib", type=int, default=0, help="default: half of --mem-mib")
    args, libfuzzer = parser.parse_known_args(argv)
    libfuzzer = [a for a in libfuzzer if a != "--"]
    cap_memory(args.mem_mib)

    import atheris

    target = TARGETS[args.target]
    with atheris.instrument_imports(include=list(target.instrument)):
        adapter = target.load()
    recorder = Recorder(target.name, args.out, known_signatures(target.name, adapter))
    rss_kib = (args.rss_mib or args.mem_mib // 2) * 1024
    if resource.getrusage(resource.RUSAGE_SELF).ru_maxrss > rss_kib:
        sys.exit(f"{target.name}: resident past {rss_kib // 1024} MiB before fuzzing began")

    def one_input(data: bytes) -> None:
        recorder.tick()
        exc = check(adapter, data)
        if exc is not None:
            recorder.record(exc, data)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        if peak > rss_kib:
            recorder.record(MemoryError(f"peak RSS {peak // 1024} MiB on one input, over "
                                        f"{rss_kib // 1024} MiB"), data, "memory")
            os._exit(MEMORY_EXIT)  # a fresh process for the rest: peak RSS never goes down

    atheris.Setup([sys.argv[0], *libfuzzer], one_input)
    try:
        atheris.Fuzz()
    finally:
        recorder.write(time.monotonic())


if __name__ == "__main__":
    main(sys.argv[1:])
