"""Properties of the phone readers under generated damage (hypothesis; examples kept few so
the file runs in seconds, more with CAIRN_PROPERTY_EXAMPLES):

- carving finds every planted picture whatever surrounds it, at its offset, seekable or
  forward-only, and never carves a byte range twice;
- a thumbnail store or report.xml with any byte changed, cut or inserted raises nothing but
  the reader's documented error;
- an UFDR report with arbitrary attribute values yields origins that are JSON."""

from __future__ import annotations

import io
import json
import os
from xml.sax.saxutils import quoteattr

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cairn.demo import jpeg_bytes, picture, png_bytes
from cairn.demo_phone import _save, android_thumbdata, thumbcache_db
from cairn.media.archives import ArchiveError, iter_members
from cairn.media.carve import carve
from cairn.media.limits import Limits
from cairn.media.sniff import ANDROID_THUMBDATA, THUMBCACHE
from cairn.media.ufdr import ReportError, read_report
from streams import ForwardOnly

EXAMPLES = int(os.environ.get("CAIRN_PROPERTY_EXAMPLES", "30"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

PICTURES = [jpeg_bytes(picture(60, (24, 18))), png_bytes(picture(61, (20, 16))),
            _save(62, "GIF", (16, 12)), _save(63, "WEBP", (16, 12))]
# filler that never holds a signature: zeros, text, and random bytes with 0xFF, 'R', 'G',
# 'f' and 0x89 replaced (so no JPEG, RIFF, GIF, ftyp or PNG signature can form in it)
filler = st.one_of(
    st.binary(max_size=3000).map(lambda b: bytes(x if x not in b"\xff\x89RGf" else 0 for x in b)),
    st.integers(0, 4000).map(bytes),
    st.just(b"benign text user-0042 example.test\n" * 20))


@SETTINGS
@given(st.lists(st.tuples(filler, st.sampled_from(range(len(PICTURES)))), min_size=1,
                max_size=6), filler, st.booleans())
def test_carving_finds_every_planted_picture(layout, tail, forward) -> None:
    blob, planted = bytearray(), {}
    for fill, which in layout:
        blob += fill
        planted[len(blob)] = PICTURES[which]
        blob += PICTURES[which]
    blob += tail
    data = bytes(blob)
    stream = io.BufferedReader(ForwardOnly(data)) if forward else io.BytesIO(data)
    got = list(carve(stream))  # type: ignore[arg-type]
    assert {c.offset: c.data for c in got} == planted
    ends = [(c.offset, c.offset + c.length) for c in got]
    assert all(a[1] <= b[0] for a, b in zip(ends, ends[1:], strict=False))  # no overlap


def _mutate(data: bytes, edits: list[tuple[int, int, int]]) -> bytes:
    b = bytearray(data)
    for kind, at, value in edits:
        if not b:
            break
        i = at % len(b)
        if kind == 0:
            b[i] = value
        elif kind == 1:
            del b[i:]
        else:
            b[i:i] = bytes([value]) * 4
    return bytes(b)


edits = st.lists(st.tuples(st.integers(0, 2), st.integers(0, 1 << 20), st.integers(0, 255)),
                 max_size=6)
STORES = {"win10": (THUMBCACHE, thumbcache_db(32, PICTURES[:2], 4)),
          "win7": (THUMBCACHE, thumbcache_db(21, PICTURES[2:], 1)),
          "android": (ANDROID_THUMBDATA, android_thumbdata(PICTURES[:1], slot=1000))}


@SETTINGS
@given(st.sampled_from(sorted(STORES)), edits)
def test_damaged_thumbnail_stores_raise_only_archive_errors(store, changes) -> None:
    mt, data = STORES[store]
    bad = _mutate(data, changes)
    try:
        for m in iter_members(io.BytesIO(bad), mt, "t.db", Limits(), len(bad)):
            assert (m.data is None) == (m.error is not None)
            json.dumps(m.origin)
    except ArchiveError:
        pass


REPORT = ('<project xmlns="http://pa.cellebrite.com/report/2.0"><taggedFiles>'
          '<file path={path} size={size} deleted={deleted} id="1"><metadata section="File">'
          '<item name="Local Path"><![CDATA[files\\Image\\a.jpg]]></item></metadata>'
          '<accessInfo><timestamp name="CreationTime">{ts}</timestamp></accessInfo>'
          '</file></taggedFiles></project>')
attr = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=40).map(quoteattr)


@SETTINGS
@given(attr, attr, attr, st.text(alphabet="0123456789:-TZ+.", max_size=30), edits)
def test_any_report_values_give_json_origins_or_documented_errors(path, size, deleted, ts,
                                                                   changes) -> None:
    doc = REPORT.format(path=path, size=size, deleted=deleted, ts=ts).encode()
    for data in (doc, _mutate(doc, changes)):
        try:
            report = read_report(io.BytesIO(data))
        except ReportError:
            continue
        for files in report.by_local.values():
            for f in files:
                json.dumps(f.origin())
        if data == doc:
            assert report.error is None and report.files == 1
            (only,) = report.by_local["files/Image/a.jpg"]
            assert only.deleted in (True, False, None)
