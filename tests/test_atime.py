"""Evidence atimes: folders are listed and files read with O_NOATIME, links only lstat-ed and
read (readlink cannot keep a link's atime: that is recorded); where the kernel refuses
O_NOATIME (not the owner) the item says so and the scan summary counts it."""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import pytest

from cairn.demo import jpeg_bytes, picture
from inprocess import report_json, scan_case

OLD = time.time() - 3 * 86400  # relatime updates an atime older than a day on any read

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="O_NOATIME on any file needs root")


def _evidence(root: Path) -> list[Path]:
    (root / "d" / "e").mkdir(parents=True)
    (root / "d" / "p.jpg").write_bytes(jpeg_bytes(picture(1, (48, 32))))
    (root / "d" / "e" / "q.txt").write_bytes(b"notes")
    (root / "d" / "link.jpg").symlink_to("p.jpg")
    paths = [root, root / "d", root / "d" / "e", root / "d" / "p.jpg", root / "d" / "e" / "q.txt"]
    for p in [*paths, root / "d" / "link.jpg"]:
        os.utime(p, (OLD, OLD), follow_symlinks=False)
    return paths


@root_only
def test_scan_keeps_folder_and_file_atimes_and_records_link_atimes(tmp_path: Path) -> None:
    ev = tmp_path / "ev"
    paths = _evidence(ev)
    before = {p: os.lstat(p).st_atime_ns for p in paths}
    home = tmp_path / "home"
    summary = scan_case(home, ev, "a", "--workers", "1")
    assert {p: os.lstat(p).st_atime_ns for p in paths} == before
    assert summary["totals"]["items_atime_not_kept"] == 1  # the link, and only it
    report = report_json(home, "a")
    notes = {it["path"]: it.get("atime_note") for it in report["items"]}
    assert "readlink" in notes.pop("d/link.jpg")
    assert set(notes.values()) == {None}


def _as_user(uid: int, root: Path) -> list:
    """Walk and read `root` in a forked child that has become `uid` (the modules it needs are
    imported already: the interpreter's own files may be unreadable to that user)."""
    from cairn.media.limits import Limits
    from cairn.media.walk import walk
    from cairn.scan.worker import process_entry

    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            os.close(r)
            os.setgid(uid)
            os.setuid(uid)
            recs = [x for e in walk(root) for x in process_entry(e, Limits())]
            os.write(w, json.dumps([(x["path"], x.get("sha256"), x.get("atime_note"))
                                    for x in recs]).encode())
        except BaseException as e:  # noqa: BLE001 - reported to the parent
            os.write(w, json.dumps({"error": repr(e)}).encode())
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        out = json.loads(f.read())
    os.waitpid(pid, 0)
    assert not isinstance(out, dict), out
    return out


@root_only
def test_not_the_owner_falls_back_and_says_so() -> None:
    """As another user O_NOATIME fails with EPERM: the file is still read, and noted."""
    with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
        root = Path(tmp)
        os.chmod(root, 0o755)
        (root / "d").mkdir(mode=0o755)
        (root / "d" / "p.bin").write_bytes(b"evidence")
        os.chmod(root / "d" / "p.bin", 0o644)
        ((path, sha, note),) = _as_user(65534, root)
    assert path == "d/p.bin" and sha
    assert "without O_NOATIME" in note and "EPERM" in note
    assert note.count("listed without O_NOATIME") == 2  # its folder and the root's
