"""Hash-list import benchmark: a generated 1M-Media Project VIC VICS file (MD5 + SHA1 each,
so 2M entries), imported by `cairn lists import` as a user runs it.

    make bench            # or: .venv/bin/python bench/bench_lists.py --media 1000000

Prints, side by side: streaming parse alone (ijson, entries/s, the reader's own peak
memory), the full import into a fresh store (parse, one transaction, the list index built),
and for comparison the same hashes as a python-threatexchange dataset CSV imported the same
way. Peak memory is the resident high-water mark of the process doing the work.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

from figures import Figure, emit

OUT = Path(__file__).resolve().parents[1] / "bench-out" / "lists"
CAIRN = str(Path(sys.executable).parent / "cairn")


def make_vics(n: int) -> Path:
    path = OUT / f"vics-{n}.json"
    if path.exists():
        return path
    OUT.mkdir(parents=True, exist_ok=True)
    with path.open("w") as f:
        f.write('\ufeff{"@odata.context": "http://github.com/VICSDATAMODEL/ProjectVic/'
                'DataModels/2.0.xml/US/$metadata#Media", "value": [\n')
        for i in range(n):
            seed = i.to_bytes(8, "little")
            m = {"MediaID": i + 1, "Category": i % 5, "MD5": hashlib.md5(seed).hexdigest().upper(),
                 "SHA1": hashlib.sha1(seed).hexdigest().upper(), "MediaSize": 1000 + i,
                 "IsPrecategorized": "true", "DateUpdated": "2024-01-01T00:00:00Z"}
            f.write(("," if i else "") + json.dumps(m) + "\n")
        f.write("]}\n")
    return path


def make_te_csv(vics: Path, n: int) -> Path:
    path = OUT / f"te-{n}.csv"
    if path.exists():
        return path
    with path.open("w") as f:
        f.write("signal_type,signal_str,collab,category,tags\n")
        for i in range(n):
            seed = i.to_bytes(8, "little")
            f.write(f"md5,{hashlib.md5(seed).hexdigest()},bench,{i % 5},\n")
            f.write(f"sha1,{hashlib.sha1(seed).hexdigest()},bench,{i % 5},\n")
    return path


def parse_only(path: Path) -> tuple[int, float, float]:
    """(entries, seconds, peak MB) of streaming the file through the reader, in a child."""
    code = ("import resource,sys,time;from cairn.lists.formats import open_list;"
            "t=time.perf_counter();_,s,r=open_list(sys.argv[1]);n=sum(1 for _ in s);"
            "print(n,time.perf_counter()-t,"
            "resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/1024)")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                         text=True, check=True).stdout.split()
    return int(out[0]), float(out[1]), float(out[2])


def import_cmd(path: Path, name: str) -> tuple[int, float, float]:
    home = OUT / f"home-{name}"
    shutil.rmtree(home, ignore_errors=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t = time.perf_counter()
    proc = subprocess.run([CAIRN, "lists", "import", str(path), "--name", name, "--json"],
                          capture_output=True, text=True, env=os.environ | {
                              "CAIRN_HOME": str(home)})
    secs = time.perf_counter() - t
    if proc.returncode not in (0, 3):
        raise SystemExit(proc.stderr)
    peak = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
    return json.loads(proc.stdout)["entries"], secs, peak


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--media", type=int, default=1_000_000)
    args = ap.parse_args()
    vics = make_vics(args.media)
    te = make_te_csv(vics, args.media)
    print(f"{args.media:,} VICS Media (MD5 + SHA1 each); {vics.stat().st_size / 1e6:.0f} MB "
          f"VICS, {te.stat().st_size / 1e6:.0f} MB TE CSV\n")
    print(f"{'step':<44}{'entries':>12}{'seconds':>10}{'entries/s':>12}{'peak MB':>10}")
    rows = [("VICS streaming parse (ijson)", *parse_only(vics)),
            ("cairn lists import (VICS)", *import_cmd(vics, "vics")),
            ("TE CSV parse", *parse_only(te)),
            ("cairn lists import (TE CSV)", *import_cmd(te, "te"))]
    for name, n, secs, peak in rows:
        print(f"{name:<44}{n:>12,}{secs:>10.1f}{n / secs:>12,.0f}{peak:>10.0f}")
    _, n, secs, peak = rows[1]
    emit("bench_lists", [Figure("lists.vics_import", n / secs, f"{n:,} entries in {secs:.1f} s, "
                                f"peak {peak:.0f} MB; TE CSV {rows[3][1] / rows[3][2]:,.0f}/s")])
    print("\nimport = parse + one SQLite transaction + the persisted list index; peak MB is "
          "the importing process's resident high-water mark.")


if __name__ == "__main__":
    main()
