"""The hostile exhibit end to end: `cairn scan` as a user runs it, with 2 workers.

The scan must finish; every hostile file must become an item (with an error, or with its hashes
where it is a valid picture); the whole process tree must stay under 3 GiB; nothing may be
written outside the store (evidence unchanged, no temporary files left, no unpickled
checkpoint creating its file). Time and peak memory are printed, never asserted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import pytest

from conftest import CAIRN
from hostile_exhibit import PWNED_NAME, build
from test_scan_cli import tree_state

PEAK_LIMIT = 3 << 30


def _tree_rss(root_pid: int) -> int:
    """Resident bytes of a process and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
            ppid, pages = int(fields[1]), int(fields[21])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(d))
        rss[int(d)] = pages * os.sysconf("SC_PAGE_SIZE")
    total, stack = 0, [root_pid]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total


class _PeakSampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self.stopped = pid, 0, threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            self.peak = max(self.peak, _tree_rss(self.pid))
            self.stopped.wait(0.02)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    pwned = root / "pwned"
    pwned.mkdir()
    ev, expect = build(root / "data", pwned)
    before = tree_state(ev)
    home, tmp = root / "home", root / "tmp"
    tmp.mkdir()
    env = os.environ | {"CAIRN_HOME": str(home), "TMPDIR": str(tmp), "COLUMNS": "200"}
    env.pop("CAIRN_DATABASE_URL", None)
    started = time.monotonic()
    proc = subprocess.Popen([CAIRN, "scan", str(ev), "--case", "hostile", "--new-case",
                             "--workers", "2",
                             "--json", "--no-progress"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=root)
    sampler = _PeakSampler(proc.pid)
    sampler.start()
    try:
        stdout, stderr = proc.communicate(timeout=900)
    finally:
        sampler.stopped.set()
        proc.kill()
    seconds = time.monotonic() - started
    assert proc.returncode == 0, f"scan exited {proc.returncode}\n{stdout}\n{stderr}"
    report = subprocess.run([CAIRN, "report", "--case", "hostile", "--format", "json"],
                            capture_output=True, text=True, env=env, check=True).stdout
    items = json.loads(report)["items"]
    print(f"\nhostile exhibit: {len(expect)} hostile files, {len(items)} items "
          f"({sum(1 for it in items if it['errors'])} with errors) scanned in {seconds:.1f} s "
          f"with 2 workers, peak RSS of the process tree {sampler.peak / (1 << 20):.0f} MiB",
          file=sys.stderr)
    return {"ev": ev, "expect": expect, "before": before, "summary": json.loads(stdout),
            "stderr": stderr, "report": json.loads(report), "peak": sampler.peak,
            "home": home, "tmp": tmp, "pwned": pwned, "root": root}


def _items(hostile) -> dict[str, dict]:
    return {it["path"]: it for it in hostile["report"]["items"]}


def test_scan_completes(hostile) -> None:
    s = hostile["summary"]
    assert s["status"] == "complete"
    assert "Traceback" not in hostile["stderr"]


def test_peak_memory_of_the_process_tree_stays_under_3_gib(hostile) -> None:
    assert 0 < hostile["peak"] < PEAK_LIMIT, f"peak {hostile['peak'] / (1 << 30):.2f} GiB"


def test_every_hostile_file_is_an_item_with_what_it_deserves(hostile) -> None:
    items = _items(hostile)
    wrong = []
    for path, want in sorted(hostile["expect"].items()):
        it = items.get(path)
        if it is None:
            wrong.append(f"{path}: no item")
        elif not it.get("sha256") and ("!/" not in path or want != "error"):
            wrong.append(f"{path}: not hashed")  # only a member may be too damaged to hash
        elif want == "error" and not it["errors"]:
            wrong.append(f"{path}: no error")
        elif want == "pdq" and not (it.get("pdq") or {}).get("hash"):
            wrong.append(f"{path}: no PDQ ({it['errors']})")
    assert not wrong, "\n".join(wrong)


def test_no_file_on_disk_is_missed(hostile) -> None:
    """Every regular file under the exhibit is an item, colliding display names included."""
    files = sum(len(fs) for _, _, fs in os.walk(os.fsencode(hostile["ev"])))
    top_level = [it for it in hostile["report"]["items"] if "!/" not in it["path"]
                 or it["path"].startswith("names/x.zip\\!")]
    assert len(top_level) == files


def test_members_are_recorded_even_when_names_collide(hostile) -> None:
    paths = [it["path"] for it in hostile["report"]["items"]]
    assert sum(1 for p in paths if p.startswith("archives/same-names.zip!/")) == 3
    assert sum(1 for p in paths if p.startswith("archives/ff-pair.tar!/")) == 2
    assert sum(1 for p in paths if p.startswith("archives/20k-members.zip!/")) == 20_000


def test_nothing_written_outside_the_store(hostile) -> None:
    assert tree_state(hostile["ev"]) == hostile["before"]
    assert not (hostile["pwned"] / PWNED_NAME).exists()
    assert list(hostile["tmp"].iterdir()) == []
    assert sorted(p.name for p in hostile["root"].iterdir()) == [
        "data", "home", "pwned", "tmp"]


def test_nothing_is_read_as_terminal_control(hostile) -> None:
    assert not any(c in hostile["stderr"] for c in "\x1b\x07\u202e")
