"""Every input the fuzzers ever found (tests/fuzz/<target>/) replayed through the same adapter
(fuzz/targets.py): the reader must raise nothing but its documented error types, under a
memory ceiling like a scan worker's."""

from __future__ import annotations

import importlib
import resource
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CASES = REPO / "tests" / "fuzz"
HEADROOM = 2 << 30  # bytes of address space a replayed input may add to this process

sys.path.insert(0, str(REPO))
harness = importlib.import_module("fuzz.harness")
targets = importlib.import_module("fuzz.targets")

# found in files another engineer is changing now (issue 12): remove a mark once merged
OWNER_FIXING = {
    "zip/empty-member-name.zip": "archives owner fixing (IndexError in zipfile is_dir)",
    "zip/corrupt-lzma-member.zip": "archives owner fixing (LZMAError escapes)",
    "zip/invalid-deflate-member.zip": "archives owner fixing (zlib.error escapes)",
    "zip/unknown-version-or-method.zip": "archives owner fixing (NotImplementedError)",
    "zip/lzma-huge-dictionary.zip": "archives owner fixing (MemoryError under a memory cap)",
    "tar/lzma-huge-dictionary.tar": "archives owner fixing (MemoryError under a memory cap)",
    "compressed/invalid-deflate.gz": "archives owner fixing (zlib.error escapes)",
}


def _cases() -> Iterator[object]:
    for path in sorted(CASES.glob("*/*")):
        key = f"{path.parent.name}/{path.name}"
        marks = [pytest.mark.xfail(strict=False, reason=OWNER_FIXING[key])] \
            if key in OWNER_FIXING else []
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


def test_every_target_has_its_folder_name() -> None:
    assert {p.name for p in CASES.iterdir() if p.is_dir()} <= set(targets.TARGETS)


@pytest.mark.parametrize("path", list(_cases()))
def test_fuzz_regression(path: Path, memory_ceiling: None) -> None:
    name = path.parent.name
    adapter = _adapters.get(name) or _adapters.setdefault(name, targets.TARGETS[name].load())
    exc = harness.check(adapter, path.read_bytes())
    if exc is not None:
        pytest.fail(f"{name} reader let {harness.signature(exc)} out on {path.name}:\n"
                    + "".join(traceback.format_exception(exc)), pytrace=False)
