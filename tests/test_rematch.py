"""Batched matching (what scans and re-matching use) gives, record by record, exactly what
matching one record at a time gives: the same entries, distances, transforms and order."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from cairn.lists.matcher import Matcher


def _hex(rng: np.random.Generator) -> str:
    return rng.integers(0, 256, 32, dtype=np.uint8).tobytes().hex()


def _near(hx: str, bits: int, rng: np.random.Generator) -> str:
    v = bytearray(bytes.fromhex(hx))
    for b in rng.choice(256, size=bits, replace=False):
        v[b // 8] ^= 1 << (b % 8)
    return v.hex()


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_records=st.integers(0, 60))
def test_match_many_is_match_record_by_record(seed: int, n_records: int) -> None:
    rng = np.random.default_rng(seed)
    listed = [_hex(rng) for _ in range(40)]
    entries = [(i + 1, 1 + i % 3, "pdq", hx, i % 7 != 0) for i, hx in enumerate(listed)]
    md5s = [rng.bytes(16).hex() for _ in range(5)]
    entries += [(100 + i, 2, "md5", v, True) for i, v in enumerate(md5s)]
    m = Matcher.build(entries, {1: 31, 2: 20, 3: 10})
    records = []
    for _ in range(n_records):
        base = listed[int(rng.integers(len(listed)))] if rng.random() < 0.6 else _hex(rng)
        far = rng.random() < 0.4  # the plain hash and its turns miss: fallbacks decide
        turns = [_near(base, int(rng.integers(45, 90) if far else rng.integers(0, 40)), rng)
                 for _ in range(8)]
        rec: dict = {"pdq": {"hash": turns[0], "quality": int(rng.choice([30, 80, 100])),
                             "dihedral": turns}}
        if rng.random() < 0.5:
            rec["pdq"]["fallbacks"] = [{"name": "trim", "quality": 90,
                                        "dihedral": [_near(base, int(rng.integers(0, 20)), rng)
                                                     for _ in range(8)]}]
        if rng.random() < 0.3:
            rec["md5"] = md5s[int(rng.integers(len(md5s)))]
        records.append(rec)
    assert m.match_many(records) == [m.match(r) for r in records]


def test_rematch_on_forked_workers_records_what_one_process_does(
        tmp_path, monkeypatch) -> None:  # noqa: ANN001
    """The same case re-matched on 2 forked workers (small tasks, so they are used) and in
    one process gives the same new matches; a second run adds none. Batches of 5 of the 12
    items: the reads, the workers' matching and the recording overlap (the last batch, too
    small for the workers, is matched in the parent), and every item is counted once."""
    import json

    from cairn.scan import rematch as rm
    from inprocess import pictures, run

    homes = [tmp_path / "one", tmp_path / "two"]
    ev = pictures(tmp_path / "ev", n=12, seed=950)
    shas = [json.loads(run(homes[0], "hash", ev / f"photo-{i}.png", "--json"))
            for i in range(12)]
    listed = tmp_path / "known.csv"
    listed.write_text("signal_type,signal_str,collab,category,tags\n" + "".join(
        f"pdq,{h['pdq']['hash']},demo,benign,\n" for h in shas[::3]))
    monkeypatch.setattr(rm, "PART", 2)
    monkeypatch.setattr(rm, "BATCH", 5)
    results = []
    for home, workers in zip(homes, (1, 2), strict=True):
        run(home, "scan", ev, "--case", "c", "--new-case", "--no-progress")
        run(home, "lists", "import", listed, "--name", "known", "--no-rematch")
        from cairn.store import Store

        store = Store.open(home)
        seen: list[int] = []
        results.append(rm.rematch(store, "c", workers=workers, progress=seen.append).to_dict())
        assert seen == [5, 5, 2]
        assert rm.rematch(store, "c", workers=workers).new_matches == 0
        store.close()
    assert results[0] == results[1] and results[0]["new_matches"] == 4
    assert results[0]["items"] == 12
