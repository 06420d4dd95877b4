"""freedesktop.org thumbnails say which picture they show: a fake Linux home whose
`.cache/thumbnails/{normal,large}/<md5 of the URI>.png` were made by a real thumbnailer
(ffmpegthumbnailer, given a path or a file:// URI) from benign generated pictures, one
original then deleted, scanned as a folder with `cairn scan` and as an ext4 partition
image: each thumbnail item carries the original's path, URI, mtime and size, the deleted
original's included, and the JSON, CSV and HTML reports say so too.
Hostile PNGs (a text chunk declaring 2 GiB, a chunk cut short, a zTXt bomb) give notes and
no metadata, never an exception."""

from __future__ import annotations

import hashlib
import io
import json
import os
import struct
import zlib
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, PngImagePlugin

from cairn.media.limits import Limits
from cairn.media.thumbtext import MAX_CHUNK, freedesktop_details, name_candidates, thumb_text
from cairn.media.walk import walk
from cairn.scan.worker import process_entry
from inprocess import report_json, run, scan_case
from test_disk_images import need, sh

USER = "home/user-0042"
MTIME = 1704877200  # 2024-01-10T09:00:00Z, set on each original before it is thumbnailed
PICTURES = {"Pictures/beach.jpg": 1, "Pictures/Ferien ü 2019.jpg": 2,
            "Pictures/gone/party.png": 3}
DELETED = "Pictures/gone/party.png"


def picture(seed: int, fmt: str) -> bytes:
    im = Image.linear_gradient("L").resize((160, 120)).convert("RGB")
    im.paste((seed * 70 % 256, 120, 255 - seed * 40 % 256), (0, 0, 80, 60))
    b = io.BytesIO()
    im.save(b, fmt)
    return b.getvalue()


def file_uri(path: Path) -> str:
    """The standard's canonical URI of a local file (GLib's escaping)."""
    return "file://" + quote(str(path), safe="/!$&'()*+,:=@")


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The home folder and, for each picture, its thumbnails' paths below the scan root."""
    need("ffmpegthumbnailer")
    root = tmp_path_factory.mktemp("linux-laptop")
    user = root / USER
    thumbs: dict[str, list[str]] = {}
    for i, (rel, seed) in enumerate(PICTURES.items()):
        pic = user / rel
        pic.parent.mkdir(parents=True, exist_ok=True)
        pic.write_bytes(picture(seed, "PNG" if rel.endswith(".png") else "JPEG"))
        os.utime(pic, (MTIME + seed, MTIME + seed))
        uri = file_uri(pic)
        given = uri if i % 2 else str(pic)  # both forms ffmpegthumbnailer is called with
        for size, px in (("normal", 128), ("large", 256)):
            out = user / ".cache/thumbnails" / size / (hashlib.md5(uri.encode()).hexdigest()
                                                       + ".png")
            out.parent.mkdir(parents=True, exist_ok=True)
            sh("ffmpegthumbnailer", "-i", given, "-o", out, "-s", str(px), "-c", "png")
            thumbs.setdefault(rel, []).append(str(out.relative_to(root)))
    (user / DELETED).unlink()  # the picture is gone; its thumbnails stay in the cache
    return {"root": root, "user": user, "thumbs": thumbs}


def test_real_thumbnailer_output_names_each_original(home: dict) -> None:
    recs = {r["path"]: r for e in walk(home["root"]) for r in process_entry(e, Limits())}
    for rel, paths in home["thumbs"].items():
        original = home["user"] / rel
        for path in paths:
            r = recs[path]
            assert r["kind"] == "image" and r["pdq"] and r["errors"] == []
            o = r["origin"]
            assert o["thumbnail"] is True and o["cache"].startswith("freedesktop.org")
            assert o["thumbnail_of"] == str(original)  # ffmpegthumbnailer writes the path
            assert o["thumbnail_of_uri"] == str(original)
            assert o["thumbnail_of_mtime"] == \
                f"2024-01-10T09:00:0{PICTURES[rel]}Z"
            assert o["thumbnail_of_size"] == len(picture(
                PICTURES[rel], "PNG" if rel.endswith(".png") else "JPEG"))
            assert o["uri_md5_matches"] is True and "thumbnail_note" not in o
    assert not (home["user"] / DELETED).exists()
    assert not any(p.endswith("party.png") for p in recs)  # only its thumbnails say it was


def test_linux_partition_image_thumbnails_name_their_originals(home: dict,
                                                               tmp_path: Path) -> None:
    """The same home inside an ext4 image (a seized laptop's partition): the thumbnails are
    disk image members, read from the bytes the image reader hands over."""
    need("mkfs.ext4")
    img = tmp_path / "laptop-p2.img"
    sh("truncate", "-s", "16M", img)
    sh("mkfs.ext4", "-q", "-d", home["root"], img)
    recs = {r["path"]: r for e in walk(img) for r in process_entry(e, Limits())}
    for rel, paths in home["thumbs"].items():
        for path in paths:
            o = recs[f"laptop-p2.img!/{path}"]["origin"]
            assert o["container"] == "disk image" and o["thumbnail"] is True
            assert o["thumbnail_of"] == str(home["user"] / rel)
            assert o["uri_md5_matches"] is True and o["thumbnail_of_size"] > 0


def test_scan_and_report_show_where_the_deleted_original_was(home: dict,
                                                             tmp_path: Path) -> None:
    store = tmp_path / "store"
    summary = scan_case(store, home["root"], "laptop", "--workers", "1")
    assert summary["status"] == "complete", summary
    report = report_json(store, "laptop")
    items = {it["path"]: it for it in report["items"]}
    gone = str(home["user"] / DELETED)
    for path in home["thumbs"][DELETED]:
        o = next(it for p, it in items.items() if p.endswith(path))["origin"]
        assert o["thumbnail_of"] == gone and o["thumbnail_of_mtime"] == "2024-01-10T09:00:03Z"
        assert o["thumbnail_of_size"] > 0 and o["uri_md5_matches"] is True
    with_origin = [it for it in items.values() if (it.get("origin") or {}).get("thumbnail")]
    assert len(with_origin) == 2 * len(PICTURES)
    csv = run(store, "report", "--case", "laptop", "--format", "csv")
    assert sum(gone in line for line in csv.splitlines()) == 2  # the origin column
    html = run(store, "report", "--case", "laptop", "--format", "html")
    assert html.count(f"thumbnail_of: {gone}") == 2  # beside each thumbnail's path


def png_with(chunks: list[tuple[bytes, bytes]], after_idat: list[tuple[bytes, bytes]] = (),
             ) -> bytes:
    """A 4x4 PNG whose text chunks come before (or after) its IDAT, CRCs right."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + \
            struct.pack(">I", zlib.crc32(kind + body))

    base = io.BytesIO()
    Image.new("RGB", (4, 4), (9, 99, 199)).save(base, "PNG")
    data = base.getvalue()
    ihdr_end = 8 + 25
    idat = data.index(b"IDAT") - 4
    return (data[:ihdr_end] + b"".join(chunk(k, b) for k, b in chunks) + data[ihdr_end:idat]
            + data[idat:-12] + b"".join(chunk(k, b) for k, b in after_idat) + data[-12:])


URI = "file:///home/user-0042/Pictures/a%20b.jpg"


def test_compressed_and_international_text_forms_and_the_name_check() -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("Thumb::URI", URI, zip=True)  # zTXt
    info.add_itxt("Thumb::Mimetype", "image/jpeg", zip=True)  # compressed iTXt
    info.add_itxt("Thumb::MTime", "1704877200")
    info.add_text("Thumb::Image::Width", "4000")
    info.add_text("Thumb::Image::Height", "3000")
    b = io.BytesIO()
    Image.new("RGB", (8, 8)).save(b, "PNG", pnginfo=info)
    md5 = hashlib.md5(URI.encode()).hexdigest()
    o, notes = freedesktop_details({"uri_md5": md5}, b.getvalue())
    assert notes == []
    assert o["thumbnail_of"] == "/home/user-0042/Pictures/a b.jpg"
    assert o["thumbnail_of_uri"] == URI and o["thumbnail_of_mime"] == "image/jpeg"
    assert o["thumbnail_of_mtime"] == "2024-01-10T09:00:00Z"
    assert (o["thumbnail_of_width"], o["thumbnail_of_height"]) == (4000, 3000)
    assert o["uri_md5_matches"] is True
    o, _ = freedesktop_details({"uri_md5": "0" * 32}, b.getvalue())
    assert o["uri_md5_matches"] is False and md5 in str(o["thumbnail_note"])
    # a bare path (ffmpegthumbnailer's form) is checked as its file:// URI too
    assert name_candidates("/home/user-0042/Pictures/a b.jpg")[-1] == URI


def test_text_after_the_image_data_is_not_read() -> None:
    data = png_with([], after_idat=[(b"tEXt", b"Thumb::URI\0/home/u/late.jpg")])
    assert thumb_text(data) == ({}, [])
    o, _ = freedesktop_details({"uri_md5": "0" * 32}, data)
    assert "not in the file" in str(o["thumbnail_of"]) and "thumbnail_of_uri" not in o


@pytest.mark.parametrize("data,why", [
    (png_with([(b"tEXt", b"Thumb::URI\0/home/u/a.jpg")])[:50], "cut short"),
    (png_with([])[:33] + struct.pack(">I4s", 0x7FFFFFFF, b"tEXt") + b"Thumb::URI\0/x",
     "declares 2147483647 bytes"),
    (png_with([(b"zTXt", b"Thumb::URI\0\0" + zlib.compress(b"/" * (MAX_CHUNK * 64)))]),
     "inflates beyond"),
    (png_with([(b"zTXt", b"Thumb::URI\0\0not zlib")]), "bad compressed text"),
    (png_with([(b"iTXt", b"Thumb::URI\0\1")]), "truncated iTXt"),
    (b"\x89PNG\r\n\x1a\n", "before its image data"),
    (b"\xff\xd8\xff\xe0 a JPEG named .png", "not a PNG"),
], ids=["cut", "2GiB", "bomb", "zlib", "itxt", "magic-only", "jpeg"])
def test_hostile_text_gives_a_note_and_no_metadata(data: bytes, why: str) -> None:
    o, notes = freedesktop_details({"uri_md5": "0" * 32}, data)
    assert any(why in n for n in notes), notes
    assert "thumbnail_of_uri" not in o and "not in the file" in str(o["thumbnail_of"])


def test_hostile_thumbnail_in_a_cache_folder_is_an_item_with_a_note(tmp_path: Path) -> None:
    cache = tmp_path / "home/u/.cache/thumbnails/normal"
    cache.mkdir(parents=True)
    bad = png_with([])[:33] + struct.pack(">I4s", 0x7FFFFFFF, b"tEXt") + b"Thumb::URI\0/x"
    (cache / ("ab" * 16 + ".png")).write_bytes(bad)
    (rec,) = [r for e in walk(tmp_path) for r in process_entry(e, Limits())]
    assert rec["origin"]["thumbnail"] is True and "thumbnail_of_uri" not in rec["origin"]
    assert any(e["stage"] == "thumbnail" and "declares 2147483647 bytes" in e["message"]
               for e in rec["errors"]), rec["errors"]


THUMB = png_with([(b"tEXt", b"Thumb::URI\0" + URI.encode()),
                  (b"zTXt", b"Thumb::MTime\0\0" + zlib.compress(b"1704877200")),
                  (b"iTXt", b"Thumb::Size\0\0\0\0\0" + b"48213")])


@settings(max_examples=int(os.environ.get("CAIRN_PROPERTY_EXAMPLES", "60")), deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(THUMB)), st.binary(max_size=8),
                          st.integers(0, 8)), max_size=4), st.integers(0, len(THUMB)))
def test_damaged_thumbnail_text_never_raises(edits, cut) -> None:
    """Any bytes replaced, inserted or cut: a new origin that is JSON, and notes, never an
    exception."""
    data = bytearray(THUMB)
    for at, new, drop in edits:
        data[at:at + drop] = new
    o, notes = freedesktop_details({"uri_md5": "0" * 32}, bytes(data[:cut]))
    json.dumps(o)
    assert all(isinstance(n, str) for n in notes)
    assert isinstance(o["thumbnail_of"], str)


def test_undamaged_property_input_reads_whole() -> None:
    o, notes = freedesktop_details({"uri_md5": hashlib.md5(URI.encode()).hexdigest()}, THUMB)
    assert notes == [] and o["thumbnail_of_mtime"] == "2024-01-10T09:00:00Z"
    assert o["thumbnail_of_size"] == 48213 and o["uri_md5_matches"] is True


def test_a_bad_crc_is_said_and_the_text_still_read() -> None:
    good = png_with([(b"tEXt", b"Thumb::URI\0" + URI.encode())])
    at = good.index(b"Thumb::URI")
    bad = good[:at + 12] + b"X" + good[at + 13:]  # a byte of the URI changed, CRC kept
    o, notes = freedesktop_details({"uri_md5": "0" * 32}, bad)
    assert notes == ["PNG chunk 'tEXt' at byte 33: bad CRC; its text may be damaged"]
    assert o["thumbnail_of_uri"] == URI[:1] + "X" + URI[2:]


@pytest.mark.parametrize("uri,path", [
    ("file:///home/u/a%20b.jpg", "/home/u/a b.jpg"),
    ("file://localhost/home/u/a.jpg", "/home/u/a.jpg"),
    ("file:/home/u/a.jpg", "/home/u/a.jpg"),
    ("file:///home/u/%FF.jpg", "/home/u/\\xff.jpg"),  # not UTF-8: shown as walk shows it
    ("/home/u/a b.jpg", "/home/u/a b.jpg"),
    ("smb://nas/share/a.jpg", "smb://nas/share/a.jpg"),
])
def test_uri_forms_give_the_original_path(uri: str, path: str) -> None:
    data = png_with([(b"tEXt", b"Thumb::URI\0" + uri.encode())])
    o, notes = freedesktop_details({"uri_md5": "0" * 32}, data)
    assert notes == [] and o["thumbnail_of"] == path and o["thumbnail_of_uri"] == uri
