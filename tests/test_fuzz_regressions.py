"""Every input the fuzzers ever found (tests/fuzz/<target>/) replayed through the same adapter
(fuzz/targets.py): the reader must raise nothing but its documented error types, under a
memory ceiling like a scan worker's.

Inputs named `timeout-*` or `memory-*` (a hang, or a peak RSS past half the fuzzing cap) are
replayed in a child process, which must finish (HANG_S is many times the fuzzing per-input
limit, so only a hang trips it) and stay under the same resident-memory line as fuzzing."""

from __future__ import annotations

import importlib
import json
import resource
import subprocess
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CASES = REPO / "tests" / "fuzz"
HEADROOM = 2 << 30  # bytes of address space a replayed input may add to this process
MEM_MIB = 3072  # the fuzzing cap (fuzz/run.py --mem-mib); resident past half is a finding
HANG_S = 120  # a replay still running after this is a hang (fuzzing flags 3-10 s per input)
CHILD = """
import json, resource, sys
sys.path[:0] = [sys.argv[1] + "/src", sys.argv[1]]
from fuzz.harness import cap_memory, check, signature
from fuzz.targets import TARGETS
cap_memory(int(sys.argv[4]))
exc = check(TARGETS[sys.argv[2]].load(), open(sys.argv[3], "rb").read())
print(json.dumps({"exc": exc and signature(exc), "detail": repr(exc)[:500],
                  "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}))
"""

sys.path.insert(0, str(REPO))
harness = importlib.import_module("fuzz.harness")
targets = importlib.import_module("fuzz.targets")

# found in files another engineer is changing now (issue 12): remove a mark once merged
# A regression whose fix has not landed yet is marked here with who fixes what; every file
# under tests/fuzz/ is fixed now, so none is.
OWNER_FIXING: dict[str, str] = {}
NOT_RUN: set[str] = set()  # unfixed hangs: would spend HANG_S on every run until fixed


def _cases() -> Iterator[object]:
    for path in sorted(CASES.glob("*/*")):
        key = f"{path.parent.name}/{path.name}"
        marks = [pytest.mark.xfail(strict=False, reason=OWNER_FIXING[key],
                                   run=key not in NOT_RUN)] if key in OWNER_FIXING else []
        yield pytest.param(path, id=key, marks=marks)


def _address_space() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    return 0


@pytest.fixture
def memory_ceiling() -> Iterator[None]:
    """RLIMIT_AS at what this process uses now plus HEADROOM, for the one replay: a reader
    that tries to allocate gigabytes fails here as it would in a capped worker."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = _address_space() + HEADROOM
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


_adapters: dict[str, object] = {}


def test_every_target_has_seeds() -> None:
    """A target without seeds is never fuzzed: libFuzzer exits at once (fuzz/run.py now
    reports it as an error; media_tags and swarmui had none)."""
    seeds = importlib.import_module("fuzz.seeds")
    have = {name for name, files in seeds.corpora().items() if files}
    assert set(targets.TARGETS) <= have, sorted(set(targets.TARGETS) - have)


def test_every_target_has_its_folder_name() -> None:
    assert {p.name for p in CASES.iterdir() if p.is_dir()} <= set(targets.TARGETS)


def _replay_in_child(name: str, path: Path) -> None:
    try:
        proc = subprocess.run([sys.executable, "-c", CHILD, str(REPO), name, str(path),
                               str(MEM_MIB)], capture_output=True, text=True, timeout=HANG_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{name} reader still busy with {path.name} after {HANG_S} s", pytrace=False)
    assert proc.returncode == 0, f"replay of {path.name} died: {proc.stderr[-2000:]}"
    result = json.loads(proc.stdout.splitlines()[-1])
    assert result["exc"] is None, f"{name} reader let {result['exc']} out: {result['detail']}"
    assert result["rss_mib"] <= MEM_MIB // 2, \
        f"{name} reader was resident at {result['rss_mib']} MiB on {path.name}"


@pytest.mark.parametrize("path", list(_cases()))
def test_fuzz_regression(path: Path, memory_ceiling: None) -> None:
    name = path.parent.name
    if path.name.startswith(("timeout-", "memory-")):
        _replay_in_child(name, path)
        return
    adapter = _adapters.get(name) or _adapters.setdefault(name, targets.TARGETS[name].load())
    exc = harness.check(adapter, path.read_bytes())
    if exc is not None:
        pytest.fail(f"{name} reader let {harness.signature(exc)} out on {path.name}:\n"
                    + "".join(traceback.format_exception(exc)), pytrace=False)
