"""The persisted list index: indexed at import, kept current on append / withdraw / false
positive / removal, refused and rebuilt when damaged or foreign, and used by `cairn match`."""

from __future__ import annotations

import hashlib
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from cairn.demo import jpeg_bytes, picture
from cairn.index import IndexFileError
from cairn.index.mih import VERSION
from cairn.lists.matcher import Matcher
from cairn.scan.listindex import open_matcher
from cairn.signals import pdq
from cairn.store import Store
from conftest import Cairn
from inprocess import scan_report

RNG = np.random.default_rng(4)


def _random_pdq(n: int) -> list[str]:
    """Random 256-bit hashes with about half their bits set (never degenerate)."""
    return [bytes(row).hex() for row in RNG.integers(0, 256, size=(n, 32), dtype=np.uint8)]


def _entries(values: list[str], signal_type: str = "pdq") -> list[dict]:
    return [{"signal_type": signal_type, "value": v, "line": i + 1} for i, v in enumerate(values)]


def _pdq_rec(hx: str) -> dict:
    return {"pdq": {"hash": hx, "quality": 100}}


def _folder(store: Store) -> Path:
    root = Path(store.home) / "index"
    return root / (root / "CURRENT").read_text().strip()


def test_matcher_save_load_extend_and_deactivate(tmp_path: Path) -> None:
    values = _random_pdq(300)
    md5 = hashlib.md5(b"x").hexdigest()
    rows = [(i + 1, 1 + i % 2, "pdq", v, True) for i, v in enumerate(values)]
    rows.append((400, 3, "md5", md5, True))
    m = Matcher.build(rows, {1: 31, 2: 31, 3: 31})
    m.save(tmp_path / "a", {"generation": 1})
    loaded, header = Matcher.load(tmp_path / "a", {1: 31, 2: 31, 3: 31})
    assert header["generation"] == 1 and len(loaded) == 301
    for i in (0, 7, 299):
        (hit,) = loaded.match(_pdq_rec(values[i]))
        assert (hit.entry_id, hit.list_id, hit.distance) == (i + 1, 1 + i % 2, 0)
    assert [h.entry_id for h in loaded.match({"md5": md5})] == [400]

    extra = _random_pdq(5)
    loaded.extend((500 + i, 2, "pdq", v, True) for i, v in enumerate(extra))
    loaded.set_active([(8, False), (400, False), (9999, False)])  # 9999: not indexed, ignored
    assert loaded.dirty == {"entries", "pdq", "active"}
    loaded.save(tmp_path / "b", {"generation": 2}, previous=tmp_path / "a")
    again, _ = Matcher.load(tmp_path / "b", {1: 31, 2: 31, 3: 31})
    assert [h.entry_id for h in again.match(_pdq_rec(extra[3]))] == [503]
    assert again.match(_pdq_rec(values[7])) == []  # entry 8 deactivated
    assert again.match({"md5": md5}) == []
    # unchanged parts are hard links to the previous folder, not copies
    assert (tmp_path / "b/md5/values.npy").stat().st_ino == \
        (tmp_path / "a/md5/values.npy").stat().st_ino
    assert (tmp_path / "b/active.npy").stat().st_ino != (tmp_path / "a/active.npy").stat().st_ino
    with pytest.raises(ValueError, match="increasing"):
        again.extend([(3, 1, "pdq", values[0], True)])


def test_damaged_index_is_refused(tmp_path: Path) -> None:
    m = Matcher.build([(1, 1, "pdq", v) for v in _random_pdq(1)], {1: 31})
    m.save(tmp_path / "a", {})
    data = (tmp_path / "a/entry_ids.npy").read_bytes()
    (tmp_path / "a/entry_ids.npy").write_bytes(data[:-4])
    with pytest.raises(IndexFileError):
        Matcher.load(tmp_path / "a", {1: 31})
    with pytest.raises(IndexFileError, match="not a cairn list index"):
        Matcher.load(tmp_path / "nothing-here", {1: 31})


def test_store_index_kept_current(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "home")
    first = _random_pdq(200)
    store.lists.add("a", "a.txt", "plain", 31, _entries(first), 0)
    open_matcher(store)
    folder = _folder(store)
    assert open_matcher(store).indexed == 200 and _folder(store) == folder  # current: reused

    # appended entries are indexed without a rebuild; the untouched digests are linked
    more = _random_pdq(20)
    res = store.lists.add("a", "b.txt", "plain", 31, _entries(first[:5] + more), 0, append=True)
    assert (res["entries"], res["added"]) == (220, 20)
    m = open_matcher(store)
    assert m.indexed == 220 and _folder(store) != folder
    assert (_folder(store) / "md5/values.npy").stat().st_ino == \
        (folder / "md5/values.npy").stat().st_ino
    (hit,) = m.match(_pdq_rec(more[-1]))
    assert hit.distance == 0

    # withdrawn and false-positive entries stop matching; reinstated ones match again
    res = store.lists.set_status("a", [first[0], "ff" * 32], "withdrawn", note="publisher")
    assert res == {"changed": [first[0]], "unchanged": [], "unknown": ["ff" * 32]}
    store.lists.set_status("a", [first[1]], "false_positive")
    m = open_matcher(store)
    assert m.match(_pdq_rec(first[0])) == [] and m.match(_pdq_rec(first[1])) == []
    assert len(m) == 218 and m.indexed == 220
    store.lists.set_status("a", [first[0]], "active")
    assert len(open_matcher(store).match(_pdq_rec(first[0]))) == 1

    # a fresh process (a new Store object) sees the same state from disk
    store2 = Store.open(tmp_path / "home")
    assert len(open_matcher(store2)) == 219

    # removing a list takes its entries out of use (kept on record, as its matches are):
    # nothing of it matches, the other list still does, without a rebuild
    other = _random_pdq(3)
    store.lists.add("b", "c.txt", "plain", 31, _entries(other), 0)
    store.lists.remove("a")
    m = open_matcher(store)
    assert len(m) == 3 and m.indexed == 223 and m.match(_pdq_rec(more[-1])) == []
    assert len(m.match(_pdq_rec(other[0]))) == 1


def _mapped_from(m: Matcher, folder: Path) -> bool:
    """Whether the matcher's PDQ rows and tables are the memory-mapped files of `folder`."""
    pdq = m.pdq
    arrays = (pdq._codes, pdq._order, pdq._offsets)
    return all(isinstance(a, np.memmap) and Path(a.filename).parent == folder / "pdq"
               for a in arrays)


def test_the_builder_serves_from_the_index_it_saved(tmp_path: Path) -> None:
    """The process that builds or catches up the index reads the files it wrote, as every
    other reader does (its built arrays freed: at 100M the mapped tables answered 1.8x the
    queries a CPU second the anonymous copy did), and gets the same answers."""
    store = Store.open(tmp_path / "home")
    first = _random_pdq(300)
    store.lists.add("a", "a.txt", "plain", 31, _entries(first), 0)
    built = open_matcher(store)
    assert _mapped_from(built, _folder(store))
    in_memory = open_matcher(store, persist=False)
    near = [_edited(v, 9) for v in first[:20]] + _random_pdq(5)
    assert [[(h.entry_id, h.distance) for h in built.match(_pdq_rec(x))] for x in near] == \
        [[(h.entry_id, h.distance) for h in in_memory.match(_pdq_rec(x))] for x in near]
    assert sum(bool(built.match(_pdq_rec(x))) for x in near) == 20

    more = _random_pdq(10)
    store.lists.add("a", "b.txt", "plain", 31, _entries(more), 0, append=True)
    caught_up = open_matcher(store)
    assert _mapped_from(caught_up, _folder(store)) and caught_up.indexed == 310
    (hit,) = caught_up.match(_pdq_rec(more[3]))
    assert hit.distance == 0


def test_an_index_that_cannot_be_saved_is_served_from_memory(tmp_path: Path) -> None:
    """A home whose index folder cannot be written (read-only media) still matches."""
    store = Store.open(tmp_path / "home")
    values = _random_pdq(50)
    store.lists.add("a", "a.txt", "plain", 31, _entries(values), 0)
    (Path(store.home) / "index").write_text("not a folder")  # mkdir under it fails
    m = open_matcher(store)
    assert not isinstance(m.pdq._codes, np.memmap)
    (hit,) = m.match(_pdq_rec(values[7]))
    assert hit.distance == 0


def _edited(hx: str, bits: int) -> str:
    """The hash with its first `bits` bits flipped: a near copy at that distance."""
    value = int(hx, 16) ^ (((1 << bits) - 1) << (256 - bits))
    return f"{value:064x}"


def test_imports_append_and_withdraw_extend_the_index_in_place(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Two imports, an append and a withdrawal: the index is built once, then only extended
    (the PDQ tables are the same files throughout) and never set aside as damaged; it answers
    exactly as an index built afresh from the store does, in this process and the next."""
    caplog.set_level(logging.INFO, logger="cairn.scan.listindex")
    home = tmp_path / "home"
    store = Store.open(home)
    first, second, more = _random_pdq(300), _random_pdq(200), _random_pdq(40)
    md5s = [hashlib.md5(bytes([i])).hexdigest() for i in range(30)]
    store.lists.add("a", "a.txt", "plain", 31, _entries(first) + _entries(md5s[:20], "md5"), 0)
    open_matcher(store)
    tables = {n: (_folder(store) / "pdq" / n).stat().st_ino for n in ("order.npy",
                                                                      "offsets.npy")}
    store.lists.add("b", "b.txt", "plain", 20, _entries(second), 0)
    open_matcher(store)
    store.lists.add("a", "c.txt", "plain", 31, _entries(more) + _entries(md5s[10:], "md5"), 0,
                    append=True)
    open_matcher(store)
    store.lists.set_status("a", [first[0], more[0], md5s[1]], "withdrawn")
    open_matcher(store)
    m = open_matcher(Store.open(home))  # a new process: the index as saved on disk

    messages = [r.getMessage() for r in caplog.records]
    assert [x for x in messages if "built from the store" in x] == [messages[0]]
    assert sum("extended in place" in x for x in messages) == 3
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], messages
    assert {n: (_folder(store) / "pdq" / n).stat().st_ino for n in tables} == tables

    lists = store.lists.all()
    fresh = Matcher.build(store.lists.entries(), {x["id"]: x["pdq_threshold"] for x in lists},
                          {x["id"]: x["vpdq_percent"] for x in lists})
    assert (m.indexed, len(m)) == (fresh.indexed, len(fresh)) == (570, 567)
    queries = [_pdq_rec(hx) for hx in first + second + more + _random_pdq(20)]
    queries += [_pdq_rec(_edited(hx, bits)) for hx in first[:10] + second[:10] + more[:10]
                for bits in (5, 25, 31)]
    queries += [{"md5": v} for v in md5s]
    found = 0
    for rec in queries:
        got = m.match(rec)
        assert got == fresh.match(rec), rec
        found += bool(got)
    assert m.match(_pdq_rec(first[0])) == [] and m.match({"md5": md5s[1]}) == []
    assert len(m.match(_pdq_rec(_edited(more[-1], 25)))) == 1
    assert found > 500


def test_damaged_or_foreign_index_is_rebuilt(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "one")
    values = _random_pdq(50)
    store.lists.add("a", "a.txt", "plain", 31, _entries(values), 0)
    open_matcher(store)
    folder = _folder(store)
    (folder / "pdq" / "codes.npy").write_bytes(b"\x93NUMPY garbage")
    m = open_matcher(store)
    assert _folder(store) != folder and len(m.match(_pdq_rec(values[9]))) == 1

    # an index saved by an earlier cairn (format 5 cut its keys differently) is rebuilt
    folder = _folder(store)
    header = folder / "pdq" / "header.json"
    header.write_text(header.read_text().replace(f'"version": {VERSION}', '"version": 5'))
    m = open_matcher(store)
    assert _folder(store) != folder and len(m.match(_pdq_rec(values[9]))) == 1

    # another store's index copied in (same generation numbers) is not trusted
    other = Store.open(tmp_path / "two")
    other.lists.add("a", "a.txt", "plain", 31, _entries(_random_pdq(50)), 0)
    shutil.rmtree(tmp_path / "two/index", ignore_errors=True)
    shutil.copytree(tmp_path / "one/index", tmp_path / "two/index")
    assert open_matcher(other).match(_pdq_rec(values[9])) == []


def test_cli_false_positive_and_withdraw(cairn: Cairn, tmp_path: Path) -> None:
    img = picture(91, (400, 300))
    f = tmp_path / "benign.jpg"
    f.write_bytes(jpeg_bytes(img))
    hx = pdq.pdq_from_image(img, dihedral=False).hash
    sha = hashlib.sha256(f.read_bytes()).hexdigest()
    lst = tmp_path / "known.txt"
    lst.write_text(f"{hx}\n")
    res = cairn.json("lists", "import", lst, "--name", "k", "--type", "pdq")
    assert res["indexed_entries"] == 1
    shas = tmp_path / "known.sha256"
    shas.write_text(f"{sha}  benign.jpg\n")
    cairn.run("lists", "import", shas, "--name", "k", "--append")

    assert {m["signal"] for m in cairn.json("match", f)["matches"]} == {"pdq", "sha256"}
    res = cairn.json("lists", "false-positive", "k", hx, "--note", "benign test picture")
    assert res["changed"] == [hx]
    assert {m["signal"] for m in cairn.json("match", f)["matches"]} == {"sha256"}
    cairn.run("lists", "withdraw", "k", "--from", shas)
    cairn.run("match", f, ok=(1,))  # nothing active matches: exit 1
    cairn.run("lists", "reinstate", "k", hx, sha)
    cairn.run("match", f)
    res = cairn.json("lists", "withdraw", "k", "00" * 32, ok=(3,))
    assert res["unknown"] == ["00" * 32]
    info = cairn.json("lists", "index")
    assert info["indexed_entries"] == 2 and info["active_entries"] == 2
    assert info["open_seconds"] < 60 and info["bytes_on_disk"] > 0


def test_extend_in_small_chunks_equals_one_chunk() -> None:
    """`extend` joins its per-entry arrays once, whatever the chunking: the same owners, lists
    and statuses as one chunk; ids out of order are refused, keeping what came before."""
    values = _random_pdq(50)
    md5 = hashlib.md5(b"y").hexdigest()
    rows = [(2 * (i + 1), 1 + i % 3, "pdq", v, i % 7 != 0) for i, v in enumerate(values)]
    rows.insert(20, (41, 2, "md5", md5, True))  # ids 2, 4, ... 40, 41 (the md5), 42, ... 100
    thresholds = {1: 31, 2: 31, 3: 31}
    whole, small = Matcher(thresholds), Matcher(thresholds)
    assert whole.extend(rows) == small.extend(rows, chunk=3) == 51
    whole.pdq.build()
    small.pdq.build()
    for i in (0, 6, 7, 49):
        want = [(h.entry_id, h.list_id) for h in whole.match(_pdq_rec(values[i]))]
        assert [(h.entry_id, h.list_id) for h in small.match(_pdq_rec(values[i]))] == want
        assert want == ([] if i % 7 == 0 else [(2 * (i + 1), 1 + i % 3)])
    assert [h.entry_id for h in small.match({"md5": md5})] == [41]
    assert small.indexed == 51 and small.max_entry_id == 100
    with pytest.raises(ValueError, match="increasing id"):
        small.extend([(200, 1, "md5", md5, True), (300, 1, "md5", md5, True),
                      (250, 1, "md5", md5, True)], chunk=2)
    assert small.indexed == 53 and small.max_entry_id == 300  # the first chunk was kept


def test_status_change_on_an_empty_index_is_harmless() -> None:
    m = Matcher({})
    assert m.set_active([(5, False)]) == 0 and len(m) == 0


def test_index_damaged_inside_is_rebuilt_when_a_query_meets_it(cairn: Cairn,
                                                                 tmp_path: Path) -> None:
    """Files of the right size with impossible contents pass every check at open; the query
    that meets them fails, the index is set aside and rebuilt, and `cairn match` and a scan
    still answer correctly."""
    data = jpeg_bytes(picture(3, (320, 240)))
    photo = tmp_path / "known.jpg"
    photo.write_bytes(data)
    listed = tmp_path / "list.txt"
    rec = cairn.json("hash", photo)
    hx = rec["pdq"]["hash"]
    listed.write_text("".join(f"pdq {v}\n" for v in [hx, *_random_pdq(5000)]))  # probed
    cairn.run("lists", "import", listed, "--name", "known", "--format", "te-local")
    store = Store.open(cairn.home)
    folder = _folder(store)
    order = np.load(folder / "pdq" / "order.npy", mmap_mode="r+")
    order.fill(10**9)  # row numbers past the end, file size unchanged
    order.flush()
    del order
    (m,) = cairn.json("match", photo)["matches"]
    assert (m["list"], m["signal"], m["distance"]) == ("known", "pdq", 0)
    assert _folder(store) != folder  # rebuilt from the store
    order = np.load(_folder(store) / "pdq" / "order.npy", mmap_mode="r+")
    order.fill(10**9)
    order.flush()
    del order
    ev = tmp_path / "ev"
    ev.mkdir()
    (ev / "copy.jpg").write_bytes(data)
    (item,) = scan_report(cairn.home, ev, "c")["items"]
    assert [x["list"] for x in item["matches"]] == ["known"]


def test_digests_added_in_batches_are_merged_in_order(tmp_path: Path) -> None:
    """Digests appended to a saved (memory-mapped) digest index are merged into its sorted
    arrays: every value finds all its ids, older first, as one build of them all would."""
    from cairn.index import DigestIndex

    values = [hashlib.md5(bytes([i % 50])).hexdigest() for i in range(200)]  # duplicates
    idx = DigestIndex(16)
    for i, v in enumerate(values[:120]):
        idx.add(v, i)
    idx.save(tmp_path / "d")
    idx = DigestIndex.load(tmp_path / "d")
    for batch in (range(120, 121), range(121, 170), range(170, 200)):
        for i in batch:
            idx.add(values[i], i)
        idx.get(values[0])  # each batch merged in its turn
    want: dict[str, list[int]] = {}
    for i, v in enumerate(values):
        want.setdefault(v, []).append(i)
    assert {v: idx.get(v) for v in want} == want and len(idx) == 200
    assert idx.get("00" * 16) == []


def test_rows_added_to_built_tables_are_merged_in(tmp_path: Path) -> None:
    """Rows added to a saved index are folded into its tables by a merge (the old tables are
    kept, in order, inside the new ones), automatically once they pass 5%, and every search
    finds exactly what a scan finds."""
    from cairn.index import HammingIndex
    from cairn.index.mih import _substrings

    codes = RNG.integers(0, 256, (72_000, 32), dtype=np.uint8)
    codes[1500:1600] = codes[7]  # a crowded bucket
    idx = HammingIndex()
    idx.add(codes[:1000])
    assert idx._built == 0  # no tables before the first build: a bulk load sorts once
    idx.build()
    idx.save(tmp_path / "a")
    idx = HammingIndex.load(tmp_path / "a")
    old_order, lengths = np.array(idx._order), idx._lengths
    idx.add(codes[1000:2000])
    assert idx._built == 1000  # the tail is scanned until it passes 5% (or 65,536 rows)
    idx.build()
    idx.add(codes[2000:])  # 70,000 more: folded in by themselves
    assert idx._built == len(codes) and idx._lengths == lengths
    n = len(codes)
    keys = _substrings(codes, lengths)
    for k in range(len(lengths)):
        table = np.asarray(idx._order[k * n:(k + 1) * n]).astype(np.int64)
        assert np.array_equal(np.sort(table), np.arange(n))
        assert np.all(np.diff(keys[table, k]) >= 0)  # sorted by key: a valid table
        kept = table[table < 1000]  # the first tables, untouched inside the merged ones
        assert np.array_equal(kept, old_order[k * 1000:(k + 1) * 1000])
    idx.save(tmp_path / "b")
    idx = HammingIndex.load(tmp_path / "b")
    queries = codes[RNG.integers(0, n, 300)].copy()
    queries[::2, :3] ^= 0xFF  # 24 bits off
    queries[1] = codes[7]  # 101 copies
    probed = idx.search(queries, 31, strategy="probe")
    scanned = idx.search(queries, 31, strategy="scan")
    for (a, da), (b, db) in zip(probed, scanned, strict=True):
        assert np.array_equal(a, b) and np.array_equal(da, db)
    assert sum(len(a) for a, _ in probed) >= 400 and len(probed[1][0]) == 101


def test_pdq_index_built_by_streaming_from_the_store(tmp_path: Path) -> None:
    """The Hamming index streamed from a real store's list entries, chunk by chunk in entry
    order: row i is the i-th PDQ entry, other signal types are skipped, and lookups equal a
    brute-force scan of what the store holds."""
    from cairn.scan.listindex import build_pdq_index, pdq_chunks

    store = Store.open(tmp_path / "home")
    first, second = _random_pdq(300), _random_pdq(150)
    store.lists.add("a", "a.txt", "plain", 31, _entries(first), 0)
    store.lists.add("m", "m.txt", "plain", 0, _entries(
        [hashlib.md5(str(i).encode()).hexdigest() for i in range(40)], "md5"), 0)
    store.lists.add("a", "b.txt", "plain", 31, _entries(second), 0, append=True)
    assert [len(c) for c in pdq_chunks(store, chunk=100)] == [100, 100, 100, 100, 50]
    idx = build_pdq_index(store, chunk=64)
    values = [v for _, _, kind, v, _ in store.lists.entries() if kind == "pdq"]  # id order
    assert sorted(values) == sorted(first + second)
    codes = np.frombuffer(bytes.fromhex("".join(values)), np.uint8).reshape(-1, 32)
    assert len(idx) == 450 and np.array_equal(idx._codes, codes)
    queries = codes[::37] ^ np.uint8(1)  # 8 bits flipped in each
    for q, (ids, d) in zip(queries, idx.search(queries, 31), strict=True):
        dist = np.unpackbits(codes ^ q, axis=1).sum(axis=1)
        assert np.array_equal(np.sort(ids), np.flatnonzero(dist <= 31))
        assert np.all(d == dist[ids])


def test_a_malformed_pdq_value_is_refused_not_shifted() -> None:
    """PDQ values are decoded a chunk at a time as one string: a value of the wrong length
    would shift every row after it, so it is refused by name instead; mixed chunks keep
    each kind's entries apart."""
    good = _random_pdq(3)
    md5 = "ab" * 16
    m = Matcher.build([(1, 1, "pdq", good[0]), (2, 1, "md5", md5), (3, 1, "pdq", good[1]),
                       (4, 1, "pdq", good[2])], {1: 31})
    assert [h.entry_id for x in good for h in m.match(_pdq_rec(x))] == [1, 3, 4]
    assert m.pdq_rows == 3 and m.indexed == 4
    with pytest.raises(ValueError, match="not 64 hex digits: 'abcd'"):
        Matcher.build([(1, 1, "pdq", good[0]), (2, 1, "pdq", "abcd")], {1: 31})
