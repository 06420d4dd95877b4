"""A zip of generated benign pictures scanned whole and in parts (scan/units.py): seconds
each (best of two runs, alternated: the first pays the fork server's start) and whether
the rows are the same.

    PYTHONPATH=src:tests python bench/bench_zip_parts.py [--pictures N] [--workers W]

The ceiling is the machine's cores: one worker reads a whole zip; its parts keep `W` busy.
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
import zipfile
from pathlib import Path

from PIL import Image

from cairn.scan.options import Split
from cairn.scan.pipeline import scan
from cairn.store import Store
from inprocess import run
from test_image_parts import _rows


def _zip(folder: Path, pictures: int) -> int:
    folder.mkdir()
    with zipfile.ZipFile(folder / "export.zip", "w") as z:
        for i in range(pictures):
            im = Image.linear_gradient("L").resize((1024 + i % 7, 768)).convert("RGB")
            im.paste((i * 37 % 256, 90, 255 - i % 200), (i % 500, 40, i % 500 + 200, 240))
            buf = io.BytesIO()
            im.save(buf, "JPEG", quality=92)
            z.writestr(f"DCIM/{i:05d}.jpg", buf.getvalue())
    return (folder / "export.zip").stat().st_size


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pictures", type=int, default=200)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="zipparts-") as tmp:
        root = Path(tmp)
        size = _zip(root / "ev", args.pictures)
        part = max(1 << 16, size // (2 * args.workers))
        out: dict[str, tuple[float, list]] = {}
        ways = (("whole", False), ("parts", Split(min_image=1, part=part)))
        for n, (name, split) in enumerate([*ways, *reversed(ways)]):  # best of 2, alternated
            home = root / f"{name}{n}"
            run(home, "cases", "create", "c")
            store = Store.open(home)
            t = time.perf_counter()
            try:
                s = scan(store, "c", root / "ev", workers=args.workers, split=split)
            finally:
                store.close()
            took = time.perf_counter() - t
            out[name] = (min(took, out.get(name, (took, []))[0]), _rows(home))
            print(f"{name}: {s.new_items} items in {took:.2f} s")
        same = out["whole"][1] == out["parts"][1]
        print(f"zip {size >> 20} MiB, {args.pictures} pictures, {args.workers} workers, "
              f"parts of {part >> 10} KiB: whole {out['whole'][0]:.2f} s, parts "
              f"{out['parts'][0]:.2f} s ({out['whole'][0] / out['parts'][0]:.2f}x), "
              f"rows the same: {same}")


if __name__ == "__main__":
    main()
