"""What the two browser suites (test_web_browser.py, test_web_views_browser.py) share:
Playwright pointed at Debian's `chromium`, where their screenshots go, and the measure
that tells a blurred grey thumbnail from a clear one on the screenshot's pixels.

Importing this skips the importing module when Playwright is missing; `pytestmark` skips
it when chromium is."""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed "
                               "(pip install -e '.[test]')")
CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed "
                                "(apt-get install chromium; .ci/run does it)")
DOCS_SHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
# the README's screenshots with CAIRN_SCREENSHOTS=1, else a temporary folder: a test run
# leaves the repository as it was
SHOTS = DOCS_SHOTS if os.environ.get("CAIRN_SCREENSHOTS") == "1" else Path(
    tempfile.mkdtemp(prefix="cairn-screenshots-"))


@contextmanager
def chromium() -> Iterator[Any]:
    """Debian's chromium under Playwright, closed afterwards."""
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            yield b
        finally:
            b.close()


def stats(png: bytes) -> tuple[float, float]:
    """(mean saturation, mean |Laplacian|) of a screenshot."""
    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.float64)
    hi, lo = rgb.max(axis=2), rgb.min(axis=2)
    sat = float(np.mean(np.where(hi > 0, (hi - lo) / np.maximum(hi, 1), 0)))
    g = rgb.mean(axis=2)
    lap = -4 * g[1:-1, 1:-1] + g[:-2, 1:-1] + g[2:, 1:-1] + g[1:-1, :-2] + g[1:-1, 2:]
    return sat, float(np.mean(np.abs(lap)))
