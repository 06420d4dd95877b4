"""The browser libraries the workbench serves, from the npm registry, never committed.

`package.json` and `package-lock.json` (the repository's root) pin them; `make web-vendor`
runs `npm ci --ignore-scripts` and then this module (`python3 src/cairn/web/vendor.py
node_modules`, stdlib only) copies the one built file each page needs, with its licence,
into `static/vendor/` (git ignores it; the package data ships it). The pages load them from
`/ui/static/vendor/NAME` only (the CSP allows our own origin, no CDN): htmx for requests
from markup, Alpine's CSP build (no `eval`: components are registered in views.js) and
cytoscape for the link graph.

Missing files are never a silently broken page: every page shows which are missing and the
command that brings them (`missing()`, read by routes.py), and the graph page says it
cannot draw.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

VENDOR = Path(__file__).parent / "static" / "vendor"

# served name -> (npm package, its file) ; licences copied beside them
FILES = {
    "htmx.min.js": ("htmx.org", "dist/htmx.min.js"),
    "alpine-csp.min.js": ("@alpinejs/csp", "dist/cdn.min.js"),
    "cytoscape.min.js": ("cytoscape", "dist/cytoscape.min.js"),
}
LICENCES = {"htmx.org": "LICENSE", "cytoscape": "LICENSE"}
HINT = "make web-vendor (npm ci --ignore-scripts, then copies them)"


def path(name: str) -> Path | None:
    """The file of a served library, or None when `name` is not one of ours."""
    return VENDOR / name if name in FILES else None


def missing() -> list[str]:
    """The served names whose file is not there."""
    return [n for n in FILES if not (VENDOR / n).is_file()]


def copy(node_modules: Path, dest: Path = VENDOR) -> list[Path]:
    """Copy each library's built file (and licence) from an `npm ci` tree into `dest`."""
    dest.mkdir(parents=True, exist_ok=True)
    done = []
    for name, (package, rel) in FILES.items():
        src = node_modules / package / rel
        if not src.is_file():
            raise SystemExit(f"{src} is missing: run `npm ci --ignore-scripts` first")
        tmp = dest / (name + ".tmp")
        shutil.copyfile(src, tmp)
        tmp.replace(dest / name)  # never a half-copied library under the real name
        done.append(dest / name)
    for package, lic in LICENCES.items():
        src = node_modules / package / lic
        if src.is_file():
            shutil.copyfile(src, dest / f"{package.replace('/', '-')}.LICENSE.txt")
    return done


if __name__ == "__main__":
    for p in copy(Path(sys.argv[1] if len(sys.argv) > 1 else "node_modules")):
        print(f"vendored {p}")
