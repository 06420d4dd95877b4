"""The chain of custody (issue 15 §1): every change logged in its own transaction, hash-chained
and signed; `custody verify` names the first entry a direct edit of the database broke
(changed, missing, reordered, inserted, bad signature); the export verifies with nothing of
Cairn's; `sources verify` re-hashes evidence against its acquisition."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, create_engine, text

from cairn.store.custody import UnsignedWrite
from cairn.store.custody_chain import GENESIS, canonical, entry_hash, verify_chain
from inprocess import DB_URLS, EXAMINER, database, pictures, run


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest) -> Iterator[str | None]:
    yield from database(request.param)


@pytest.fixture
def case(tmp_path: Path, db: str | None) -> Iterator[tuple[Path, Path]]:
    """A signed case: a key, a list imported, a scan that matches it."""
    home = tmp_path / "home"
    DB_URLS[home] = db
    ev = pictures(tmp_path / "exhibit-01")
    run(home, "keys", "create", "--examiner", EXAMINER)
    listed = tmp_path / "known.txt"
    run(home, "hash", ev / "photo-1.png", "--json")
    sha = json.loads(run(home, "hash", ev / "photo-1.png", "--json"))["sha256"]
    listed.write_text(f"sha256 {sha}\n")
    run(home, "lists", "import", listed, "--name", "known-demo", "--format", "te-local")
    run(home, "scan", ev, "--case", "op-demo", "--new-case", "--no-progress")
    yield home, ev
    DB_URLS.pop(home)


def entries(home: Path, case: str = "op-demo") -> list[dict]:
    return json.loads(run(home, "custody", "show", "--case", case, "--json"))


def test_every_change_is_logged_signed_and_verifies(case: tuple[Path, Path]) -> None:
    home, ev = case
    actions = [e["action"] for e in entries(home)]
    assert actions == ["key.registered", "case.created", "source.added", "scan.started",
                       "scan.ended"]
    log = entries(home)
    assert all(e["signature"] and e["examiner"] == EXAMINER for e in log)
    assert log[0]["prev"] == GENESIS and all(
        b["prev"] == a["hash"] for a, b in zip(log, log[1:], strict=False))
    ended = log[-1]["details"]
    assert ended["status"] == "complete" and ended["manifest"]["files"] == 3
    assert ended["summary"]["new_matches"] == 1
    out = json.loads(run(home, "custody", "verify", "--json"))
    assert out["ok"] and set(out["chains"]) == {"case:1", "store"}
    # removing a list retracts the case's matches: the case's chain says how many
    assert "Add --force" in run(home, "lists", "remove", "known-demo", ok=(2,))
    run(home, "lists", "remove", "known-demo", "--force")
    (removed,) = [e for e in entries(home) if e["action"] == "matches.list_removed"]
    assert removed["details"] == {"list": "known-demo", "matches": 1, "note": "list removed",
                                  "status": "list_removed"}
    store_log = json.loads(run(home, "custody", "verify", "--json"))["chains"]["store"]
    assert store_log["entries"] >= 3 and store_log["signed"]


def _edit(home: Path, change: Callable[[Connection], None]) -> None:
    """Edit the store's database directly, as someone with access to it could."""
    engine = create_engine(DB_URLS.get(home) or f"sqlite:///{home / 'cairn.db'}")
    with engine.begin() as c:
        change(c)
    engine.dispose()


def _one(c: Connection, sql: str, **kw: object) -> tuple:
    return tuple(c.execute(text(sql), kw).one())


COLS = ("chain", "seq", "time", "examiner", "host", "action", "subject", "case_id", "details",
        "prev", "hash", "key_id", "signature")
WHERE = "FROM custody WHERE chain='case:1' AND seq=:seq"


def _change_details(c: Connection) -> None:
    (details,) = _one(c, f"SELECT details {WHERE}", seq=3)
    c.execute(text("UPDATE custody SET details=:d WHERE chain='case:1' AND seq=3"),
              {"d": details.replace("exhibit-01", "exhibit-0X", 1)})


def _delete(c: Connection) -> None:
    c.execute(text(f"DELETE {WHERE}"), {"seq": 3})


def _swap(c: Connection) -> None:
    """Entries 3 and 4 written in each other's place (their rows' contents exchanged)."""
    a, b = (_one(c, f"SELECT id, {', '.join(COLS)} {WHERE}", seq=s) for s in (3, 4))
    c.execute(text("UPDATE custody SET seq=-1 WHERE id=:id"), {"id": a[0]})  # free (chain, seq)
    sets = ", ".join(f"{col}=:{col}" for col in COLS)
    for row_id, values in ((b[0], a[1:]), (a[0], b[1:])):
        c.execute(text(f"UPDATE custody SET {sets} WHERE id=:id"),
                  dict(zip(COLS, values, strict=True)) | {"id": row_id})


def _insert(c: Connection) -> None:
    """A forged entry 3, hashed correctly and chained to entry 2, written afterwards (its
    unique key dropped first, as whoever forges it can)."""
    row = dict(zip(COLS, _one(c, f"SELECT {', '.join(COLS)} {WHERE}", seq=2), strict=True))
    entry = {"chain": "case:1", "seq": 3, "time": row["time"], "examiner": row["examiner"],
             "host": row["host"], "action": "source.added", "subject": "source:9", "case": 1,
             "details": {"name": "planted"}, "prev": row["hash"]}
    if c.dialect.name == "postgresql":
        c.execute(text("ALTER TABLE custody DROP CONSTRAINT uq_custody_chain_seq"))
    else:  # SQLite cannot drop a constraint: the table is copied without it
        c.execute(text("CREATE TABLE c2 AS SELECT * FROM custody"))
        c.execute(text("DROP TABLE custody"))
        c.execute(text("ALTER TABLE c2 RENAME TO custody"))
    c.execute(text("INSERT INTO custody (id, chain, seq, time, examiner, host, action, "
                   "subject, case_id, details, prev, hash) VALUES (1000, 'case:1', 3, :time, "
                   ":examiner, :host, 'source.added', 'source:9', 1, :details, :prev, :hash)"),
              {"time": row["time"], "examiner": row["examiner"], "host": row["host"],
               "details": json.dumps(entry["details"]), "prev": row["hash"],
               "hash": entry_hash(entry)})


def _rehash(c: Connection) -> None:
    """Entry 5 changed and it and every later entry re-hashed: a whole chain again, which
    only the signatures can tell from the one written."""
    rows = c.execute(text("SELECT chain, seq, time, examiner, host, action, subject, case_id, "
                          "details, prev FROM custody WHERE chain='case:1' AND seq>=5 "
                          "ORDER BY seq")).all()
    prev = rows[0][9]
    for r in rows:
        d = json.loads(r[8])
        if r[1] == 5:
            d["summary"]["new_matches"] = 0
        entry = {"chain": r[0], "seq": r[1], "time": r[2], "examiner": r[3], "host": r[4],
                 "action": r[5], "subject": r[6], "case": r[7], "details": d, "prev": prev}
        h = entry_hash(entry)
        c.execute(text("UPDATE custody SET details=:d, hash=:h, prev=:p WHERE chain=:c AND "
                       "seq=:s"), {"d": json.dumps(d), "h": h, "p": prev, "c": r[0], "s": r[1]})
        prev = h


TAMPERING: dict[str, tuple[Callable[[Connection], None], str, int]] = {
    "changed": (_change_details, "changed", 3),
    "deleted": (_delete, "missing", 4),
    "swapped": (_swap, "reordered", 4),
    "inserted": (_insert, "inserted", 3),
    "re-hashed": (_rehash, "bad signature", 5),
}


@pytest.mark.parametrize("edit", TAMPERING)
def test_verify_names_the_first_broken_entry(case: tuple[Path, Path], edit: str) -> None:
    home, _ = case
    tamper, kind, seq = TAMPERING[edit]
    _edit(home, tamper)
    res = json.loads(run(home, "custody", "verify", "--case", "op-demo", "--json", ok=(1,)))
    assert not res["ok"] and (res["problem"]["kind"], res["problem"]["seq"]) == (kind, seq), res
    text = run(home, "custody", "verify", ok=(1,))
    assert f"BROKEN: case:1 entry {seq}: {kind}" in text


def test_export_verifies_without_cairn(case: tuple[Path, Path], tmp_path: Path) -> None:
    home, _ = case
    out = tmp_path / "export"
    res = json.loads(run(home, "custody", "export", "--case", "op-demo", "-o", out, "--json"))
    assert res["intact"] and res["entries"] == 6  # the export logged itself first
    alone = tmp_path / "alone"  # nothing of Cairn's beside it; -I: no PYTHONPATH, no cwd
    alone.mkdir()
    for f in ("custody.jsonl", "verify_custody.py"):
        shutil.copy(out / f, alone / f)
    proc = subprocess.run([sys.executable, "-I", "verify_custody.py", "custody.jsonl"],
                          cwd=alone, capture_output=True, text=True)
    assert proc.returncode == 0 and "intact" in proc.stdout, proc.stdout + proc.stderr
    assert "import cairn" not in (alone / "verify_custody.py").read_text()
    key = next(json.loads(x) for x in (alone / "custody.jsonl").read_text().splitlines()
               if json.loads(x)["action"] == "key.registered")["details"]
    assert key["key_id"] in (out / "README.txt").read_text()
    lines = (alone / "custody.jsonl").read_text().splitlines()
    e = json.loads(lines[2])
    e["details"]["location"] = "/elsewhere"
    lines[2] = json.dumps(e)
    (alone / "custody.jsonl").write_text("\n".join(lines) + "\n")
    proc = subprocess.run([sys.executable, "-I", "verify_custody.py", "custody.jsonl"],
                          cwd=alone, capture_output=True, text=True)
    assert proc.returncode == 1 and "entry 3: changed" in proc.stdout


def test_a_signed_chain_refuses_an_examiner_without_a_key(case: tuple[Path, Path]) -> None:
    home, ev = case
    with pytest.raises(UnsignedWrite, match="no key"):
        run(home, "sources", "verify", "--case", "op-demo", examiner="examiner-02")
    assert json.loads(run(home, "custody", "verify", "--json"))["ok"]


def test_verify_without_signatures_and_pinned_keys() -> None:
    """The chain's own checks, on entries made here: an unsigned chain is whole; an entry
    signed by a key nobody registered is refused."""
    e1 = {"chain": "case:7", "seq": 1, "time": "t", "examiner": "x", "host": "h",
          "action": "case.created", "subject": "case:c", "case": 7, "details": {},
          "prev": GENESIS}
    e1["hash"] = entry_hash(e1)
    assert verify_chain([e1])["ok"]
    forged = dict(e1, key_id="ab" * 16, signature="AAAA")
    res = verify_chain([forged])
    assert res["problem"]["kind"] == "bad signature" and "no earlier entry" in \
        res["problem"]["why"]
    assert canonical(e1).startswith(b'{"action":"case.created","case":7,')


def test_sources_verify_names_changed_missing_and_added(case: tuple[Path, Path]) -> None:
    home, ev = case
    ok = json.loads(run(home, "sources", "verify", "--case", "op-demo", "--json"))
    assert ok[0]["ok"] and ok[0]["files"] == 3 and ok[0]["manifest"]["matches"]
    with (ev / "photo-0.png").open("ab") as f:
        f.write(b"\0")
    (ev / "photo-2.png").unlink()
    (ev / "later.txt").write_text("added after acquisition")
    res = json.loads(run(home, "sources", "verify", "--case", "op-demo", "--json", ok=(1,)))
    (r,) = res
    assert [c["path"] for c in r["changed"]] == ["photo-0.png"]
    assert r["missing"] == ["photo-2.png"] and r["added"] == ["later.txt"]
    assert entries(home)[-1]["action"] == "sources.verified"
    _edit(home, lambda c: c.execute(text(  # the record edited: not what was acquired
        "UPDATE items SET sha256='00' WHERE path='photo-1.png'")))
    (r,) = json.loads(run(home, "sources", "verify", "--case", "op-demo", "--json", ok=(1,)))
    assert not r["manifest"]["matches"]


def test_unknown_case_is_refused_with_the_nearest_name(case: tuple[Path, Path]) -> None:
    home, _ = case
    assert "did you mean 'op-demo'" in run(home, "custody", "show", "--case", "op-dem",
                                           ok=(2,))


def test_exports_are_logged_in_the_store_chain(case: tuple[Path, Path], tmp_path: Path) -> None:
    from cairn.store.store import Store

    home, _ = case
    run(home, "lists", "export", "known-demo", "--format", "sha256sum", "-o",
        tmp_path / "out.txt")
    store = Store(DB_URLS.get(home) or f"sqlite:///{home / 'cairn.db'}", home)
    last = store.custody_entries(chain="store")[-1]
    store.close()
    assert last["action"] == "list.exported" and last["signature"]
    assert (last["details"]["written"], last["details"]["format"]) == (1, "sha256sum")
    assert json.loads(run(home, "custody", "verify", "--json"))["ok"]


def test_a_server_without_a_key_refuses_to_start_on_a_signed_log(
        case: tuple[Path, Path]) -> None:
    """TAXII writes (partners' opinions, pushed entries) go into the store's signed chain:
    a server whose examiner has no key is refused at start, not on each POST."""
    home, _ = case
    out = run(home, "serve", "--port", "1", examiner="service-account", ok=(2,))
    assert "custody log is signed" in out and "keys create --examiner service-account" in out
