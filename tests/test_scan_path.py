"""The scan's hot path: 8 dihedral hashes from one DCT (exact bit-identical to the reference's
own dihedral output), one decode per picture, query variants only for pictures that matched
nothing, and a `cairn hash` that starts without the store or the readers."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pdqhash
import pytest
from PIL import Image

from cairn.demo import jpeg_bytes, picture
from cairn.lists.matcher import Matcher
from cairn.media import decode
from cairn.media.limits import Limits
from cairn.media.walk import walk
from cairn.scan import options
from cairn.scan.worker import HashOptions, process_blob, process_entry
from cairn.signals import vpdq
from cairn.signals.image import image_signals
from cairn.signals.pdq import DIHEDRAL, hamming

SRC = Path(__file__).resolve().parents[1] / "src"


def _encode(img: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def _corpus() -> list[tuple[str, bytes]]:
    """Benign generated pictures in the sizes, modes and formats a scan meets."""
    out = []
    sizes = [(33, 33), (64, 48), (127, 255), (300, 200), (640, 480), (1000, 563), (1280, 720),
             (720, 1280), (1500, 999), (511, 1025)]
    for i, size in enumerate(sizes):
        img = picture(400 + i, size)
        out += [(f"{size} jpeg 4:2:0", jpeg_bytes(img, 85)),
                (f"{size} jpeg 4:4:4", _encode(img.convert("RGB"), "JPEG", quality=92,
                                               subsampling=0)),
                (f"{size} grey jpeg", _encode(img.convert("L"), "JPEG", quality=90)),
                (f"{size} png", _encode(img, "PNG"))]
        if i % 2 == 0:
            out += [(f"{size} palette png", _encode(img.convert("P"), "PNG")),
                    (f"{size} rgba png", _encode(img.convert("RGBA"), "PNG")),
                    (f"{size} webp", _encode(img, "WEBP", quality=80)),
                    (f"{size} LA png", _encode(img.convert("LA"), "PNG"))]
    return out


def _reference_pixels(data: bytes) -> np.ndarray:
    """What python-threatexchange feeds pdqhash: Pillow's array as decoded, grey repeated to
    three channels, extra channels dropped; LA converted to RGB (its own quirk)."""
    img = Image.open(io.BytesIO(data))
    if img.mode in ("LA", "I;16"):
        img = img.convert("RGB")
    arr = np.asarray(img)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    return np.ascontiguousarray(arr[:, :, :3].astype(np.uint8))


def _hex(bits: np.ndarray) -> str:
    return np.packbits(bits.astype(np.uint8)).tobytes().hex()


def test_exact_dihedral_bit_identical_to_the_references_own_on_many_pictures() -> None:
    corpus = _corpus()
    assert len(corpus) >= 60
    wrong = []
    for name, data in corpus:
        vectors, quality = pdqhash.compute_dihedral(_reference_pixels(data))
        expected = [_hex(v) for v in vectors]
        got = image_signals(data, 10**9, "exact")
        if list(got.pdq.dihedral) != expected or got.pdq.quality != quality:
            wrong.append(f"{name}: " + ", ".join(
                t for t, a, b in zip(DIHEDRAL, got.pdq.dihedral, expected, strict=True)
                if a != b))
        assert got.pdq.hash == expected[0] and got.pdq.mode == "exact"
    assert not wrong, "\n".join(wrong)


def test_fast_dihedral_from_one_dct_tracks_each_exact_turn() -> None:
    """A wrong sign or transpose for one turn puts it ~128 bits away: every fast turn stays
    as close to the exact turn as the plain fast hash does to the exact one."""
    worst = {t: 0 for t in DIHEDRAL}
    n = 0
    for name, data in _corpus():
        if "jpeg" not in name or min(Image.open(io.BytesIO(data)).size) < 64:
            continue
        fast = image_signals(data, 10**9, "fast")
        exact = image_signals(data, 10**9, "exact")
        if fast.pdq.mode != "fast" or exact.pdq.quality < 50:
            continue
        n += 1
        for t, a, b in zip(DIHEDRAL, fast.pdq.dihedral, exact.pdq.dihedral, strict=True):
            worst[t] = max(worst[t], hamming(a, b))
    assert n >= 15
    assert max(worst.values()) <= 24, worst


def _count_decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every pixel decode media/decode makes, by format (the real decode, counted)."""
    seen: list[str] = []
    load = decode._load

    def counted(image: Image.Image) -> None:
        seen.append(str(image.format))
        load(image)

    monkeypatch.setattr(decode, "_load", counted)
    return seen


@pytest.mark.parametrize("mode", ["fast", "exact"])
def test_one_decode_per_picture_shared_by_pdq_and_every_pixel_reader(
        monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    seen = _count_decodes(monkeypatch)
    img = picture(7, (640, 480))
    for name, data in [("jpeg 4:2:0", jpeg_bytes(img, 90)),
                       ("jpeg 4:4:4", _encode(img, "JPEG", quality=95, subsampling=0)),
                       ("png", _encode(img, "PNG")), ("rgba png", _encode(img.convert("RGBA"),
                                                                          "PNG")),
                       ("palette png", _encode(img.convert("P"), "PNG")),
                       ("webp", _encode(img, "WEBP", lossless=True))]:
        seen.clear()
        out: list[dict] = []
        process_blob(f"x/{name}", None, data, None, 0, Limits(), out,
                     HashOptions(mode, provenance=True))
        (rec,) = out
        assert rec["pdq"]["hash"] and not rec["errors"], (name, rec["errors"])
        assert len(seen) == 1, (name, seen)
        if name == "jpeg 4:4:4":  # the watermark reader needs the full frame: PDQ hashes it
            assert rec["pdq"]["mode"] == "exact"
            assert rec["pdq"]["hash"] == image_signals(data, 10**9, "exact").pdq.hash
        elif name == "jpeg 4:2:0":
            assert rec["pdq"]["mode"] == mode


def _index(folder: Path, entries: list[tuple]) -> Path:
    """A saved list index, as the scan's matcher leaves it."""
    Matcher.build(entries, {1: 31}).save(folder, {"store_id": "test", "generation": 1})
    return folder


def test_query_variants_only_for_pictures_whose_plain_hash_matched_nothing(
        tmp_path: Path) -> None:
    listed = picture(11, (640, 480))
    other = picture(12, (640, 480))
    files = {}
    for name, img in (("listed.jpg", listed), ("other.jpg", other)):
        files[name] = tmp_path / name
        files[name].write_bytes(jpeg_bytes(img, 90))
    plain = image_signals(files["listed.jpg"].read_bytes(), 10**9, "fast").pdq.hash
    with_pdq = _index(tmp_path / "idx", [(1, 1, "pdq", plain)])
    md5_only = _index(tmp_path / "md5", [(1, 1, "md5", "0" * 32)])
    broken = tmp_path / "gone"

    def fallbacks(name: str, index: Path | None, fallbacks: bool = True) -> list[str]:
        opts = HashOptions("fast", list_index=str(index) if index else None,
                           pdq_thresholds=((1, 31),), fallbacks=fallbacks)
        (entry,) = walk(str(files[name]))
        (rec,) = process_entry(entry, Limits(), opts)
        return [f["name"] for f in rec["pdq"]["fallbacks"]]

    assert fallbacks("listed.jpg", with_pdq) == []  # matched: no variant is looked up
    assert "crop10" in fallbacks("other.jpg", with_pdq)  # matched nothing: variants made
    assert fallbacks("other.jpg", md5_only) == []  # no list holds PDQ: none could match
    assert "crop10" in fallbacks("other.jpg", None)  # no index to ask: as before
    assert "crop10" in fallbacks("other.jpg", broken)  # unreadable index: never fewer
    assert fallbacks("other.jpg", None, fallbacks=False) == []  # `cairn hash`


def test_options_default_interval_is_the_video_hashers() -> None:
    assert options.DEFAULT_INTERVAL == vpdq.DEFAULT_INTERVAL


def test_cairn_hash_starts_without_the_store_or_the_readers(tmp_path: Path) -> None:
    """Start-up is most of a short `cairn hash`: its process loads neither SQLAlchemy/Alembic
    nor the readers (they live in the isolated worker), and still prints the hashes."""
    f = tmp_path / "a.jpg"
    f.write_bytes(jpeg_bytes(picture(3, (320, 240)), 90))
    code = ("import sys\nfrom cairn.entry import main\nsys.argv = ['cairn', 'hash', '--json', "
            f"'--mode', 'fast', {str(f)!r}]\ntry:\n    main()\nexcept SystemExit:\n    pass\n"
            "heavy = sorted({m.split('.')[0] if not m.startswith('cairn') else m for m in "
            "sys.modules if m.startswith(('sqlalchemy', 'alembic', 'av', 'PIL', "
            "'cairn.store', 'cairn.provenance', 'cairn.scan.worker', 'cairn.media.decode'))})\n"
            "print('HEAVY', heavy, file=sys.stderr)\n")
    env = os.environ | {"PYTHONPATH": str(SRC), "CAIRN_HOME": str(tmp_path / "home")}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=120, check=True)
    assert json.loads(run.stdout)["pdq"]["mode"] == "fast"
    assert "HEAVY []" in run.stderr, run.stderr


def test_scan_workers_get_the_list_index_the_matcher_was_opened_from(tmp_path: Path) -> None:
    from cairn.scan.listindex import open_matcher
    from cairn.scan.pipeline import with_list_index
    from cairn.store import Store

    store = Store.open(tmp_path / "home")
    try:
        assert with_list_index(store, HashOptions()).list_index is None  # no index saved yet
        store.lists.add("l", "generated", "te-local", 20,
                        [{"signal_type": "pdq", "value": "ab" * 32, "line": 1}], 0)
        matcher = open_matcher(store)
        opts = with_list_index(store, HashOptions())
        assert opts.list_index is not None and len(matcher.pdq) == 1
        assert Path(opts.list_index).parent == tmp_path / "home" / "index"
        assert dict(opts.pdq_thresholds) == {x["id"]: 20 for x in store.lists.all()}
        assert with_list_index(store, HashOptions(fallbacks=False)).list_index is None
        store.lists.add("m", "generated", "te-local", 31,
                        [{"signal_type": "pdq", "value": "cd" * 32, "line": 1}], 0)
        # the saved index is now behind the store: workers make every picture's variants
        assert with_list_index(store, HashOptions()).list_index is None
    finally:
        store.close()
